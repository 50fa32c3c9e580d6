//! The text the LLM reads after the image tokens:
//!
//!     [img_1 .. img_196] <|bos|> <|caption|> describe the image <|answer|>  -> answer <|eos|>
//!     [img_1 .. img_196] <|bos|> <|question|> what colour is the circle? <|answer|>  -> answer <|eos|>
//!
//! The task token says what to do; the prompt's own words say in which language to answer.
//!
//! nanoVLM's format has no special token: `[img_1 .. img_49] Question: what is this? Answer:`,
//! and the answer ends with `<|endoftext|>` (`config.llm.eos_token_id`).

use candle_core::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::model::config::{Config, PromptFormat};
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
    let s = tokenizer.special()?;
    let task_id = match task {
        Task::Caption => s.caption,
        Task::Question => s.question,
    };
    let mut ids = vec![s.bos, task_id];
    ids.extend(tokenizer.encode(text)?);
    ids.push(s.answer);
    Ok(ids)
}

/// A prompt's ids, and the token that ends its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub ids: Vec<u32>,
    pub eos: u32,
    /// Tokens the format puts around the text (3 for the explainer's, 0 for nanoVLM's words).
    pub framing: usize,
}

/// `text` as `config.prompt` frames it.
pub fn prompt(config: &Config, tokenizer: &TextTokenizer, task: Task, text: &str) -> Result<Prompt> {
    match config.prompt {
        PromptFormat::Explainer => Ok(Prompt { ids: prompt_ids(tokenizer, task, text)?, eos: tokenizer.special()?.eos, framing: 3 }),
        PromptFormat::QuestionAnswer => {
            let Some(eos) = config.llm.eos_token_id else { bail!("config.json: the question-answer prompt format needs `llm.eos_token_id`") };
            // nanoVLM's generate.py: f"Question: {prompt} Answer:", the same words for either task.
            let ids = tokenizer.encode(&format!("Question: {text} Answer:"))?;
            let framing = ids.len() - tokenizer.encode(text)?.len().min(ids.len());
            Ok(Prompt { ids, eos, framing })
        }
    }
}
