//! Model files as a person might hand them over: the first byte picks which of the three files
//! the rest replaces (model.safetensors, config.json or tokenizer.json); the other two are the
//! `micro` fixture's. Loading either gives a model or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vlm_explainer::Explainer;

const WEIGHTS: &[u8] = include_bytes!("../../tests/fixtures/model.safetensors");
const CONFIG: &str = include_str!("../../tests/fixtures/config.json");
const TOKENIZER: &[u8] = include_bytes!("../../tests/fixtures/tokenizer.json");

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let _ = match which % 3 {
        0 => Explainer::load(rest.to_vec(), CONFIG, TOKENIZER),
        1 => Explainer::load(WEIGHTS.to_vec(), &String::from_utf8_lossy(rest), TOKENIZER),
        _ => Explainer::load(WEIGHTS.to_vec(), CONFIG, rest),
    };
});
