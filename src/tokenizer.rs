//! Text <-> token ids, through a `tokenizer.json` (byte-level BPE, the `tokenizers` crate).
//!
//! Special tokens: `<|bos|>` starts the text, `<|eos|>` ends the answer, `<|pad|>` fills batches,
//! `<|image|>` names the image's place (the 196 image tokens stand there), and the task tokens
//! `<|caption|>`, `<|question|>` and `<|answer|>` frame the prompt.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use candle_core::{bail, Result};
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

pub const SPECIAL_TOKENS: [&str; 7] =
    ["<|bos|>", "<|eos|>", "<|pad|>", "<|image|>", "<|caption|>", "<|question|>", "<|answer|>"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub image: u32,
    pub caption: u32,
    pub question: u32,
    pub answer: u32,
}

pub struct TextTokenizer {
    inner: Tokenizer,
    pub special: SpecialIds,
    /// `token_bytes`, made at its first use.
    token_bytes: OnceLock<Arc<Vec<Option<Vec<u8>>>>>,
}

fn err(context: &str, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{context}: {e}"))
}

/// GPT-2's byte-level alphabet: byte b is written as this char inside a token's string.
fn byte_to_char(b: u8) -> char {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    if printable(b) {
        return b as char;
    }
    let offset = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + offset).expect("256 + n < 0x200 is a valid char")
}

impl TextTokenizer {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        // The JSON is checked first: the `tokenizers` crate panics on some syntax errors (inside
        // its `decoder` section), and a panic in the browser stops the model.
        // Parsed in full (a lone `\uD800` escape passes a parse that skips over strings).
        serde_json::from_slice::<serde_json::Value>(bytes).map_err(|e| err("tokenizer.json is not valid JSON", e))?;
        let inner = Tokenizer::from_bytes(bytes).map_err(|e| err("tokenizer.json", e))?;
        Self::wrap(inner)
    }

    pub(crate) fn wrap(mut inner: Tokenizer) -> Result<Self> {
        // Text that spells a special token ("<|eos|>") is encoded as the characters it is made
        // of; only the prompt builder puts special ids in a sequence.
        inner.set_encode_special_tokens(true);
        let added = inner.get_added_tokens_decoder();
        let id = |name: &str| {
            let id = inner
                .token_to_id(name)
                .ok_or_else(|| err("tokenizer.json", format!("special token `{name}` is missing")))?;
            if !added.get(&id).is_some_and(|t| t.special) {
                bail!("tokenizer.json: `{name}` must be an added token with \"special\": true");
            }
            Ok(id)
        };
        let special = SpecialIds {
            bos: id(SPECIAL_TOKENS[0])?,
            eos: id(SPECIAL_TOKENS[1])?,
            pad: id(SPECIAL_TOKENS[2])?,
            image: id(SPECIAL_TOKENS[3])?,
            caption: id(SPECIAL_TOKENS[4])?,
            question: id(SPECIAL_TOKENS[5])?,
            answer: id(SPECIAL_TOKENS[6])?,
        };
        Ok(Self { inner, special, token_bytes: OnceLock::new() })
    }

    /// An untrained byte-level tokenizer: the 256 byte tokens and the special tokens, no merges.
    /// It encodes any text; a BPE trained on the model's texts replaces it.
    pub fn byte_level() -> Result<Self> {
        let vocab: Vocab =
            (0..=255u8).map(|b| (byte_to_char(b).to_string(), b as u32)).collect();
        let bpe = BPE::builder().vocab_and_merges(vocab, vec![]).build().map_err(|e| err("byte-level BPE", e))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, false, true)));
        inner.with_decoder(Some(ByteLevel::new(false, false, true)));
        let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)).collect();
        inner.add_special_tokens(specials).map_err(|e| err("special tokens", e))?;
        Self::wrap(inner)
    }

    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(|e| err("tokenizer.json", e))
    }

    /// Token ids of `text` alone (no BOS or EOS added). A special token's spelling in the text
    /// ("<|eos|>") stays text: it becomes the ids of its characters, never the special id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, false).map_err(|e| err("tokenize", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, without special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| err("detokenize", e))
    }

    /// Vocabulary size, special tokens included: the LLM's `vocab_size` must be at least this.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The text piece one token stands for, for display: the special token's name, its text, or
    /// its bytes as `\xE7` where they are only part of a character (CJK takes 3 bytes).
    pub fn piece(&self, id: u32) -> String {
        let Some(token) = self.inner.id_to_token(id) else { return format!("<{id}?>") };
        if SPECIAL_TOKENS.contains(&token.as_str()) {
            return token;
        }
        match self.token_bytes().get(id as usize) {
            Some(Some(bytes)) => match std::str::from_utf8(bytes) {
                Ok(text) => text.to_string(),
                Err(_) => bytes.iter().map(|b| format!("\\x{b:02X}")).collect(),
            },
            _ => token,
        }
    }

    /// The bytes each token id stands for, by id; `None` for a special token.
    pub fn token_bytes(&self) -> Arc<Vec<Option<Vec<u8>>>> {
        self.token_bytes
            .get_or_init(|| {
                let byte_of: HashMap<char, u8> = (0..=255u8).map(|b| (byte_to_char(b), b)).collect();
                let added = self.inner.get_added_tokens_decoder();
                let table = (0..self.vocab_size() as u32)
                    .map(|id| {
                        if added.get(&id).is_some_and(|t| t.special) {
                            return None;
                        }
                        self.inner.id_to_token(id)?.chars().map(|c| byte_of.get(&c).copied()).collect()
                    })
                    .collect();
                Arc::new(table)
            })
            .clone()
    }

    /// Checks that every id this tokenizer can produce has a row in the LLM's embedding.
    pub fn check_fits(&self, vocab_size: usize) -> Result<()> {
        let vocab = self.inner.get_vocab(true);
        let Some((token, &largest)) = vocab.iter().max_by_key(|(_, &id)| id) else {
            bail!("tokenizer.json has no tokens");
        };
        if largest as usize >= vocab_size {
            bail!(
                "tokenizer.json has token ids up to {largest} (`{token}`) but config.json `llm.vocab_size` is {vocab_size}: they come from different models",
            );
        }
        Ok(())
    }
}
