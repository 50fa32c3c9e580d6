//! Text <-> token ids, through a `tokenizer.json`: a byte-level BPE (GPT-2's scheme), read and
//! run by this module (`tokenizer_train` writes the file with the `tokenizers` crate, natively).
//!
//!     text --pre-tokenize--> words --UTF-8 bytes--> byte tokens --merges, by rank--> ids
//!
//! The pre-tokenizer splits as GPT-2's pattern does (`pretokenize`); inside a word the pair of
//! neighbouring tokens whose merge was learned first is merged, again and again, until no learned
//! pair is left. Decoding concatenates the tokens' bytes. `tests/tokenizer.rs` checks every id
//! against the `tokenizers` crate's on the training texts and on text in other scripts.
//!
//! Two pre-tokenizers are read: GPT-2's `ByteLevel` alone (the shipped model's), and SmolLM2's
//! (nanoVLM's tokenizer), a `Sequence` of `Digits` (each digit a word of its own) then the same
//! `ByteLevel`. A byte the vocabulary has no token for is dropped, as the `tokenizers` crate
//! drops it (SmolLM2's vocabulary lacks 21 control bytes).
//!
//! Special tokens: `<|bos|>` starts the text, `<|eos|>` ends the answer, `<|pad|>` fills batches,
//! `<|image|>` names the image's place (the 196 image tokens stand there), and the task tokens
//! `<|caption|>`, `<|question|>` and `<|answer|>` frame the prompt. Text that spells one
//! ("<|eos|>") is encoded as the characters it is made of: only the prompt builder puts special
//! ids in a sequence.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use candle_core::{bail, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use unicode_general_category::{get_general_category, GeneralCategory};

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
    /// Each id's token as the file spells it (`None`: no token has this id).
    names: Vec<Option<String>>,
    /// The bytes each id stands for; `None` for a special token (or an unused id).
    bytes: Arc<Vec<Option<Vec<u8>>>>,
    /// The id of each single byte (`None`: no token; the byte is dropped).
    byte_ids: [Option<u32>; 256],
    /// (left, right) -> (rank, merged): the merges in the order they were learned.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Distinct tokens, special ones included.
    count: usize,
    json: String,
    /// The explainer's special tokens, or why this tokenizer has none (`special`).
    special: std::result::Result<SpecialIds, String>,
    /// Added tokens by their text (`<|endoftext|>`, ...).
    added: HashMap<String, u32>,
    /// Whether each digit is a word of its own before GPT-2's pattern runs (SmolLM2).
    digits: bool,
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

/// A token's string in the byte-level alphabet as its bytes; `None` if a char is not in it.
fn text_bytes(text: &str, byte_of: &HashMap<char, u8>) -> Option<Vec<u8>> {
    text.chars().map(|c| byte_of.get(&c).copied()).collect()
}

/// The parts of `tokenizer.json` this module reads; the rest (offsets, truncation, padding)
/// does not change the ids.
#[derive(Deserialize)]
struct File {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    normalizer: Option<Value>,
    pre_tokenizer: Option<Value>,
    #[serde(default)]
    post_processor: Option<Value>,
    decoder: Option<Value>,
    model: Model,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
    #[serde(default)]
    special: bool,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: Option<String>,
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
    dropout: Option<f64>,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
    #[serde(default)]
    byte_fallback: bool,
    #[serde(default)]
    ignore_merges: bool,
}

/// A merge as `["a", "b"]` (the `tokenizers` crate since 0.20) or `"a b"` (before).
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Pair([String; 2]),
    Joined(String),
}

/// `ByteLevel` with GPT-2's pattern and no prefix space.
fn is_gpt2_byte_level(v: &Value) -> bool {
    v["type"] == "ByteLevel" && v["add_prefix_space"] == false && v.get("use_regex").is_none_or(|r| r == true)
}

/// Whether the pre-tokenizer splits off every digit first (SmolLM2's `Digits` with
/// `individual_digits`) before GPT-2's `ByteLevel`; `None`: a pre-tokenizer this module does not run.
fn splits_digits(v: &Option<Value>) -> Option<bool> {
    let v = v.as_ref()?;
    if is_gpt2_byte_level(v) {
        return Some(false);
    }
    let steps = v.get("pretokenizers")?.as_array()?;
    let digits = |d: &Value| d["type"] == "Digits" && d["individual_digits"] == true;
    (v["type"] == "Sequence" && steps.len() == 2 && digits(&steps[0]) && is_gpt2_byte_level(&steps[1])).then_some(true)
}

impl TextTokenizer {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        // Parsed in full first (a lone `\uD800` escape passes a parse that skips over strings),
        // then read from that parse.
        let value: Value = serde_json::from_slice(bytes).map_err(|e| err("tokenizer.json is not valid JSON", e))?;
        let file = File::deserialize(&value).map_err(|e| err("tokenizer.json is not a tokenizer", e))?;
        let unsupported = |what: &str| -> Result<Self> {
            bail!("tokenizer.json: {what}; this model reads the byte-level BPE that `train tokenizer` writes")
        };
        let model = &file.model;
        if model.kind.as_deref().is_some_and(|k| k != "BPE") {
            return unsupported(&format!("its model is {}, not BPE", model.kind.as_deref().unwrap_or_default()));
        }
        if file.normalizer.is_some() {
            return unsupported("it has a normalizer");
        }
        let Some(digits) = splits_digits(&file.pre_tokenizer) else {
            return unsupported("its pre-tokenizer is not ByteLevel with GPT-2's pattern and no prefix space (alone, or after Digits)");
        };
        // The ByteLevel decoder turns each token's characters back into its bytes whatever its
        // prefix-space setting (that only trims offsets).
        if file.decoder.as_ref().is_none_or(|d| d["type"] != "ByteLevel") {
            return unsupported("its decoder is not ByteLevel");
        }
        // A ByteLevel post-processor adds no token; a template (a BOS in front) would, and the
        // prompt formats here put in every token themselves.
        if file.post_processor.as_ref().is_some_and(|p| p["type"] != "ByteLevel") {
            return unsupported("its post-processor adds tokens (it is not ByteLevel)");
        }
        if model.dropout.is_some_and(|d| d > 0.0)
            || model.continuing_subword_prefix.is_some()
            || model.end_of_word_suffix.is_some()
            || model.byte_fallback
            || model.ignore_merges
        {
            return unsupported("its BPE uses dropout, a subword prefix or suffix, byte fallback or ignore_merges");
        }

        let largest = model.vocab.values().chain(file.added_tokens.iter().map(|t| &t.id)).copied().max();
        let Some(largest) = largest else { bail!("tokenizer.json has no tokens") };
        if largest > 1 << 24 {
            bail!("tokenizer.json: token id {largest} is far beyond any vocabulary this model has");
        }
        let mut names: Vec<Option<String>> = vec![None; largest as usize + 1];
        let mut special = vec![false; largest as usize + 1];
        for (text, &id) in &model.vocab {
            names[id as usize] = Some(text.clone());
        }
        for t in &file.added_tokens {
            names[t.id as usize] = Some(t.content.clone());
            special[t.id as usize] = t.special;
        }
        let count = {
            let mut all: Vec<&str> = model.vocab.keys().map(String::as_str).collect();
            all.extend(file.added_tokens.iter().map(|t| t.content.as_str()));
            all.sort_unstable();
            all.dedup();
            all.len()
        };

        let byte_of: HashMap<char, u8> = (0..=255u8).map(|b| (byte_to_char(b), b)).collect();
        let token_bytes: Vec<Option<Vec<u8>>> = names
            .iter()
            .zip(&special)
            .map(|(name, &special)| if special { None } else { name.as_deref().and_then(|n| text_bytes(n, &byte_of)) })
            .collect();
        let mut byte_ids = [None; 256];
        for b in 0..=255u8 {
            byte_ids[b as usize] = model.vocab.get(&byte_to_char(b).to_string()).copied();
        }
        if byte_ids.iter().all(Option::is_none) {
            bail!("tokenizer.json: the vocabulary has no token for any single byte: it is not a byte-level BPE");
        }
        let id_of = |text: &str| model.vocab.get(text).copied();
        let mut merges = HashMap::with_capacity(model.merges.len());
        for (rank, merge) in model.merges.iter().enumerate() {
            let (left, right) = match merge {
                Merge::Pair([a, b]) => (a.as_str(), b.as_str()),
                Merge::Joined(s) => match s.split_once(' ') {
                    Some(pair) => pair,
                    None => bail!("tokenizer.json: merge {rank} (`{s}`) is not two tokens"),
                },
            };
            let ids = (id_of(left), id_of(right), id_of(&format!("{left}{right}")));
            let (Some(l), Some(r), Some(merged)) = ids else {
                bail!("tokenizer.json: merge {rank} (`{left}` + `{right}`) names a token the vocabulary lacks");
            };
            // The first rank of a pair learned twice is the one that applies.
            merges.entry((l, r)).or_insert((rank as u32, merged));
        }

        let lookup = |name: &str| -> Result<u32> {
            let Some(t) = file.added_tokens.iter().find(|t| t.content == name) else {
                let what = if id_of(name).is_some() { "is not an added token" } else { "is missing" };
                bail!("tokenizer.json: special token `{name}` {what}");
            };
            if !t.special {
                bail!("tokenizer.json: `{name}` must be an added token with \"special\": true");
            }
            Ok(t.id)
        };
        // The explainer's prompt tokens, if this tokenizer has them (another family's has its own).
        let special = (|| -> Result<SpecialIds> {
            Ok(SpecialIds {
                bos: lookup(SPECIAL_TOKENS[0])?,
                eos: lookup(SPECIAL_TOKENS[1])?,
                pad: lookup(SPECIAL_TOKENS[2])?,
                image: lookup(SPECIAL_TOKENS[3])?,
                caption: lookup(SPECIAL_TOKENS[4])?,
                question: lookup(SPECIAL_TOKENS[5])?,
                answer: lookup(SPECIAL_TOKENS[6])?,
            })
        })();
        let special = match special {
            Ok(ids) => Ok(ids),
            Err(e) => Err(e.to_string()),
        };
        let added = file.added_tokens.iter().map(|t| (t.content.clone(), t.id)).collect();
        let json = String::from_utf8(bytes.to_vec()).map_err(|e| err("tokenizer.json", e))?;
        Ok(Self { names, bytes: Arc::new(token_bytes), byte_ids, merges, count, json, special, added, digits })
    }

    /// An untrained byte-level tokenizer: the 256 byte tokens (ids 0-255) and the special tokens
    /// after them, no merges. It encodes any text; a BPE trained on the model's texts replaces it.
    pub fn byte_level() -> Result<Self> {
        let vocab: serde_json::Map<String, Value> =
            (0..=255u8).map(|b| (byte_to_char(b).to_string(), json!(b))).collect();
        let added: Vec<Value> = SPECIAL_TOKENS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({ "id": 256 + i, "content": name, "single_word": false, "lstrip": false, "rstrip": false,
                        "normalized": false, "special": true })
            })
            .collect();
        let byte_level = json!({ "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true });
        let file = json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
            "pre_tokenizer": byte_level, "post_processor": null, "decoder": byte_level,
            "model": { "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                       "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                       "vocab": vocab, "merges": [] },
        });
        let text = serde_json::to_string_pretty(&file).map_err(|e| err("tokenizer.json", e))?;
        Self::from_json(text.as_bytes())
    }

    /// The `tokenizer.json` this tokenizer was read from.
    pub fn to_json(&self) -> Result<String> {
        Ok(self.json.clone())
    }

    /// Token ids of `text` alone (no BOS or EOS added). A special token's spelling in the text
    /// ("<|eos|>") stays text: it becomes the ids of its characters, never the special id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 2);
        for piece in split_digits(text, self.digits) {
            for word in pretokenize(piece) {
                self.merge_word(word.as_bytes(), &mut ids);
            }
        }
        Ok(ids)
    }

    /// The explainer's special tokens (`<|bos|>`, `<|eos|>`, ...), which its prompt format and
    /// training need; a tokenizer of another family has none.
    pub fn special(&self) -> Result<SpecialIds> {
        self.special.clone().map_err(|why| candle_core::Error::Msg(format!("{why} (the explainer's prompt format needs it)")))
    }

    /// Whether some token has id `id`.
    pub fn has_token(&self, id: u32) -> bool {
        matches!(self.names.get(id as usize), Some(Some(_)))
    }

    /// The id of an added token by its text (`<|endoftext|>`).
    pub fn added_token(&self, text: &str) -> Option<u32> {
        self.added.get(text).copied()
    }

    /// One word's bytes as tokens, appended to `out`: the neighbouring pair with the lowest rank
    /// (the leftmost of equals) is merged until no pair has a merge. The candidate pairs wait in
    /// a heap; a pair whose tokens changed since it was pushed is skipped when it comes up.
    fn merge_word(&self, bytes: &[u8], out: &mut Vec<u32>) {
        // A doubly linked list of the word's tokens: (id, previous, next), usize::MAX for none.
        const NONE: usize = usize::MAX;
        let ids: Vec<u32> = bytes.iter().filter_map(|&b| self.byte_ids[b as usize]).collect();
        let mut tokens: Vec<(u32, usize, usize)> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, if i == 0 { NONE } else { i - 1 }, if i + 1 == ids.len() { NONE } else { i + 1 }))
            .collect();
        let mut alive = vec![true; tokens.len()];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, tokens: &[(u32, usize, usize)], at: usize| {
            let next = tokens[at].2;
            if next != NONE {
                if let Some(&(rank, merged)) = self.merges.get(&(tokens[at].0, tokens[next].0)) {
                    heap.push(Reverse((rank, at, tokens[at].0, tokens[next].0, merged)));
                }
            }
        };
        for at in 0..tokens.len() {
            push(&mut heap, &tokens, at);
        }
        while let Some(Reverse((_, at, left, right, merged))) = heap.pop() {
            let next = tokens[at].2;
            if !alive[at] || next == NONE || tokens[at].0 != left || tokens[next].0 != right {
                continue;
            }
            tokens[at].0 = merged;
            alive[next] = false;
            let after = tokens[next].2;
            tokens[at].2 = after;
            if after != NONE {
                tokens[after].1 = at;
            }
            if tokens[at].1 != NONE {
                push(&mut heap, &tokens, tokens[at].1);
            }
            push(&mut heap, &tokens, at);
        }
        out.extend(tokens.iter().zip(&alive).filter(|(_, &a)| a).map(|(t, _)| t.0));
    }

    /// Text of `ids`, without special tokens: their bytes, invalid UTF-8 shown as U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let bytes: Vec<u8> =
            ids.iter().filter_map(|&id| self.bytes.get(id as usize)?.as_deref()).flatten().copied().collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Vocabulary size, special tokens included: the LLM's `vocab_size` must be at least this.
    pub fn vocab_size(&self) -> usize {
        self.count
    }

    /// The text piece one token stands for, for display: the special token's name, its text, or
    /// its bytes as `\xE7` where they are only part of a character (CJK takes 3 bytes).
    pub fn piece(&self, id: u32) -> String {
        let Some(Some(token)) = self.names.get(id as usize) else { return format!("<{id}?>") };
        match self.bytes.get(id as usize) {
            Some(Some(bytes)) => match std::str::from_utf8(bytes) {
                Ok(text) => text.to_string(),
                Err(_) => bytes.iter().map(|b| format!("\\x{b:02X}")).collect(),
            },
            _ => token.clone(),
        }
    }

    /// The bytes each token id stands for, by id; `None` for a special token.
    pub fn token_bytes(&self) -> Arc<Vec<Option<Vec<u8>>>> {
        self.bytes.clone()
    }

    /// Checks that every id this tokenizer can produce has a row in the LLM's embedding.
    pub fn check_fits(&self, vocab_size: usize) -> Result<()> {
        let largest = self.names.len() - 1;
        if largest >= vocab_size {
            let token = self.names[largest].as_deref().unwrap_or_default();
            bail!(
                "tokenizer.json has token ids up to {largest} (`{token}`) but config.json `llm.vocab_size` is {vocab_size}: they come from different models",
            );
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    use GeneralCategory::*;
    if c.is_whitespace() {
        return Class::Space;
    }
    match get_general_category(c) {
        UppercaseLetter | LowercaseLetter | TitlecaseLetter | ModifierLetter | OtherLetter => Class::Letter,
        DecimalNumber | LetterNumber | OtherNumber => Class::Number,
        _ => Class::Other,
    }
}

/// `text` cut before and after each digit (each a piece of its own) where `digits` is set, as the
/// `Digits` pre-tokenizer with `individual_digits` cuts it (a digit: a char of Unicode's number
/// categories, as Rust's `char::is_numeric`); else `text` whole.
fn split_digits(text: &str, digits: bool) -> Vec<&str> {
    if !digits {
        return vec![text];
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            if start < i {
                pieces.push(&text[start..i]);
            }
            pieces.push(&text[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// `text` cut into words as GPT-2's pattern cuts it (the first alternative that matches, at each
/// place, from the left):
///
///     's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
///
/// so a word keeps the one space before it, and of a run of spaces before a word the last one
/// goes with the word.
pub fn pretokenize(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char, Class)> = text.char_indices().map(|(i, c)| (i, c, class(c))).collect();
    let n = chars.len();
    let offset = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let run = |from: usize, class: Class| (from..n).find(|&j| chars[j].2 != class).unwrap_or(n);
    let mut words = Vec::new();
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        let next = |k: usize| chars.get(i + k).map(|t| t.1);
        let contraction = match (c, next(1), next(2)) {
            ('\'', Some('s' | 't' | 'm' | 'd'), _) => 2,
            ('\'', Some('r'), Some('e')) | ('\'', Some('v'), Some('e')) | ('\'', Some('l'), Some('l')) => 3,
            _ => 0,
        };
        let end = if contraction > 0 {
            i + contraction
        } else {
            // The optional space before a letter, number or other run.
            let start = if c == ' ' && i + 1 < n && chars[i + 1].2 != Class::Space { i + 1 } else { i };
            match chars[start].2 {
                Class::Space => {
                    // Whitespace: all of it at the end of the text, else all but its last char
                    // (which goes with the next word), else that one char.
                    let end = run(i, Class::Space);
                    if end == n || end - i == 1 {
                        end
                    } else {
                        end - 1
                    }
                }
                class => run(start, class),
            }
        };
        words.push(&text[offset(i)..offset(end)]);
        i = end;
    }
    words
}
