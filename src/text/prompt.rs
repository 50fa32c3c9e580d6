//! The text the LLM reads after the image tokens:
//!
//!     [img_1 .. img_196] <|bos|> <|caption|> describe the image <|answer|>  -> answer <|eos|>
//!     [img_1 .. img_196] <|bos|> <|question|> what colour is the circle? <|answer|>  -> answer <|eos|>
//!
//! The task token says what to do; the prompt's own words say in which language to answer.

use candle_core::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::text::tokenizer::TextTokenizer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Describe the whole image.
    Caption,
    /// Answer a question about it (and any free text).
    Question,
}

impl Task {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "caption" => Ok(Self::Caption),
            "question" => Ok(Self::Question),
            _ => bail!("unknown task `{name}`: expected `caption` or `question`"),
        }
    }
}

/// `<|bos|> <task> text <|answer|>` as ids.
pub fn prompt_ids(tokenizer: &TextTokenizer, task: Task, text: &str) -> Result<Vec<u32>> {
    let s = tokenizer.special;
    let task_id = match task {
        Task::Caption => s.caption,
        Task::Question => s.question,
    };
    let mut ids = vec![s.bos, task_id];
    ids.extend(tokenizer.encode(text)?);
    ids.push(s.answer);
    Ok(ids)
}
