//! Any text as a prompt: it tokenizes, builds a prompt and decodes back without a panic, a
//! special token's spelling never becomes a special id, and byte-level BPE gives the text back.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vlm_explainer::text::prompt::{prompt_ids, Task};
use vlm_explainer::text::tokenizer::TextTokenizer;

fn tokenizer() -> &'static TextTokenizer {
    static TOKENIZER: OnceLock<TextTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        TextTokenizer::from_json(include_bytes!("../../tests/fixtures/tokenizer.json")).expect("the fixture tokenizer loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tok = tokenizer();
    let s = tok.special().unwrap();
    let ids = tok.encode(&text).expect("every text encodes");
    let specials = [s.bos, s.eos, s.pad, s.image, s.caption, s.question, s.answer];
    assert!(ids.iter().all(|id| !specials.contains(id)), "text became a special token: {text:?}");
    assert_eq!(tok.decode(&ids).expect("every id decodes"), text, "byte-level BPE round trip");
    for &id in &ids {
        let _ = tok.piece(id);
    }
    let prompt = prompt_ids(tok, Task::Question, &text).expect("every text makes a prompt");
    assert_eq!(prompt.len(), ids.len() + 3);
});
