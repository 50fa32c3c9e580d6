//! Training the byte-level BPE that `tokenizer.json` holds, on the texts the model will read.
//!
//! It is `TextTokenizer::byte_level()` plus learned merges: the same pre-tokenizer and decoder,
//! all 256 byte tokens (so any text still encodes), and the special tokens registered as special
//! added tokens. The `tokenizers` crate learns the merges and writes the file (natively only);
//! `TextTokenizer` reads it, here and in the browser.

use std::collections::HashSet;

use candle_core::{bail, Result};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::shapes_world::{Lang, Scene};
use crate::text::tokenizer::{TextTokenizer, SPECIAL_TOKENS};

/// A byte-level BPE with at most `vocab_size` tokens (special tokens included), merges learned
/// from `texts`. Training stops early when no pair is left to merge.
pub fn train_bpe(texts: impl Iterator<Item = String>, vocab_size: usize) -> Result<TextTokenizer> {
    let floor = 256 + SPECIAL_TOKENS.len();
    if vocab_size < floor {
        bail!("a byte-level BPE needs a vocab_size of at least {floor} (256 bytes + {} special tokens), got {vocab_size}", SPECIAL_TOKENS.len());
    }
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)).collect();
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .initial_alphabet(alphabet)
        .special_tokens(specials)
        .build();
    // `Tokenizer` holds its model as a `ModelWrapper`, so it trains through a `TrainerWrapper`.
    let mut trainer = TrainerWrapper::from(trainer);

    let mut inner = Tokenizer::new(BPE::default());
    inner.with_pre_tokenizer(Some(ByteLevel::new(false, false, true)));
    inner.with_decoder(Some(ByteLevel::new(false, false, true)));
    // `train` wants a `Send` iterator; collecting keeps that bound off this function's signature.
    let texts: Vec<String> = texts.collect();
    if texts.is_empty() {
        bail!("train_bpe: no texts to learn merges from");
    }
    // The trainer returns the special tokens and `train` registers them as special added tokens.
    inner
        .train(&mut trainer, texts.into_iter())
        .map_err(|e| candle_core::Error::Msg(format!("training the BPE: {e}")))?;
    let json = inner.to_string(true).map_err(|e| candle_core::Error::Msg(format!("tokenizer.json: {e}")))?;
    TextTokenizer::from_json(json.as_bytes())
}

/// Every prompt and answer, English then Chinese, of the ShapesWorld scenes with these seeds.
pub fn shapes_world_corpus(seeds: std::ops::Range<u64>) -> impl Iterator<Item = String> {
    seeds.flat_map(|seed| {
        let scene = Scene::generate(seed);
        Lang::ALL
            .into_iter()
            .flat_map(|lang| scene.samples(lang))
            .flat_map(|sample| [sample.prompt, sample.answer])
            .collect::<Vec<_>>()
    })
}
