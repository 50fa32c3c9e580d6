//! Keeps a generated answer text. A byte-level tokenizer has a token for every byte, so a model
//! can put out bytes that are no UTF-8 at all (one byte of a Chinese character, then another
//! character's byte): on an image unlike any it learned from, the shipped model once wrote 46
//! `\x89` bytes in a row. The guard lets a token be chosen only where its bytes continue valid
//! UTF-8, ends the answer only after a whole character, and never picks a special token other
//! than `<|eos|>` (`<|image|>` or `<|answer|>` in an answer mean nothing).
//!
//! For the shipped family it also keeps the answer in the prompt's language, as the model learned it (the prompt's own
//! words say which): after an English prompt only ASCII, after a Chinese one (any CJK character
//! in it) no Latin letters. On ShapesWorld scenes the model never needs the guard; on other
//! pictures it otherwise drifts into the other language and back. Each generated token reports
//! how much probability the guard set aside, so the page can show where it stepped in.

use std::sync::Arc;

use crate::infer::sampling::probabilities;
use crate::text::tokenizer::TextTokenizer;

#[derive(Debug, Clone)]
pub struct TextGuard {
    /// The bytes of each token id; `None` for special tokens (and ids without a token).
    bytes: Arc<Vec<Option<Vec<u8>>>>,
    eos: u32,
    script: Script,
    /// The bytes of a character begun but not finished (at most 3).
    partial: Vec<u8>,
}

/// Which characters an answer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// ASCII only: English.
    Ascii,
    /// No Latin letter: Chinese (digits and punctuation of either kind are allowed).
    NoLatin,
    /// Any character: a model that learned more than ShapesWorld's two languages.
    Any,
}

impl Script {
    /// The script of the answer to `prompt`: Chinese if it holds a CJK character.
    pub fn of_prompt(prompt: &str) -> Self {
        let cjk = |c: char| matches!(c as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF);
        if prompt.chars().any(cjk) {
            Self::NoLatin
        } else {
            Self::Ascii
        }
    }

    fn allows(self, bytes: &[u8]) -> bool {
        match self {
            Self::Ascii => bytes.is_ascii(),
            Self::NoLatin => !bytes.iter().any(u8::is_ascii_alphabetic),
            Self::Any => true,
        }
    }
}

/// Whether `bytes` are valid UTF-8 or valid UTF-8 cut short in the middle of its last character.
fn valid_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

impl TextGuard {
    /// A guard for an answer in `script` that ends with `eos`.
    pub fn new(tokenizer: &TextTokenizer, eos: u32, script: Script) -> Self {
        Self { bytes: tokenizer.token_bytes(), eos, script, partial: Vec::new() }
    }

    /// Whether `id` may come next.
    pub fn allows(&self, id: u32) -> bool {
        if id == self.eos {
            return self.partial.is_empty();
        }
        let Some(Some(bytes)) = self.bytes.get(id as usize) else { return false };
        if !self.script.allows(bytes) {
            return false;
        }
        if self.partial.is_empty() {
            return valid_prefix(bytes);
        }
        let mut joined = self.partial.clone();
        joined.extend_from_slice(bytes);
        valid_prefix(&joined)
    }

    /// Sets the logits of every token that may not come next to -inf and returns the
    /// probability the model gave those tokens. If none may come (logits of a model with fewer
    /// ids than the tokenizer), the logits stay as they were.
    pub fn mask(&self, logits: &mut [f32]) -> f32 {
        let allowed: Vec<bool> = (0..logits.len() as u32).map(|id| self.allows(id)).collect();
        if !allowed.contains(&true) {
            return 0.0;
        }
        let probs = probabilities(logits);
        let mut set_aside = 0.0;
        for ((l, p), ok) in logits.iter_mut().zip(probs).zip(allowed) {
            if !ok {
                *l = f32::NEG_INFINITY;
                set_aside += p;
            }
        }
        set_aside
    }

    /// Records the chosen token.
    pub fn push(&mut self, id: u32) {
        let Some(Some(bytes)) = self.bytes.get(id as usize) else { return };
        self.partial.extend_from_slice(bytes);
        // Keep only the unfinished character at the end.
        let done = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.partial.len(), // not reachable through `mask`; start afresh
        };
        self.partial.drain(..done);
    }
}
