//! Text in and out: the tokenizer (`tokenizer.json`) and the prompt the LLM reads after the
//! image tokens.

pub mod tokenizer;
pub mod prompt;
