//! The answer stays text: valid UTF-8, the prompt's language, no special token but `<|eos|>`;
//! and on a picture that is no ShapesWorld scene the shipped model's caption holds no broken
//! character and no word of the other language.
#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::Path;

use vlm_explainer::model::preprocess::PreparedImage;
use vlm_explainer::text::prompt::Task;
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::infer::text_guard::{Script, TextGuard};
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::Explainer;

fn allowed(guard: &TextGuard, vocab: usize) -> Vec<u32> {
    (0..vocab as u32).filter(|&id| guard.allows(id)).collect()
}

#[test]
fn a_character_begun_must_be_finished_before_anything_else_or_the_end() {
    let tok = TextTokenizer::byte_level().unwrap();
    let vocab = tok.vocab_size();
    let s = tok.special().unwrap();
    // "形" is E5 BD A2; the byte-level tokenizer's ids are the bytes.
    let mut guard = TextGuard::new(&tok, tok.special().unwrap().eos, Script::of_prompt("描述"));
    assert!(guard.allows(s.eos), "nothing begun: the answer may end");
    for special in [s.bos, s.pad, s.image, s.caption, s.question, s.answer] {
        assert!(!guard.allows(special), "special token {special} allowed in an answer");
    }
    assert!(!guard.allows(0x9F), "a lone continuation byte starts no character");
    assert!(!guard.allows(b'a' as u32), "a Latin letter after a Chinese prompt");
    assert!(guard.allows(b'3' as u32) && guard.allows(0xE5));
    guard.push(0xE5);
    let next = allowed(&guard, vocab);
    assert_eq!(next, (0x80..=0xBF).collect::<Vec<u32>>(), "after E5 only a continuation byte may come");
    guard.push(0xBD);
    assert!(!guard.allows(s.eos), "the answer may not end inside a character");
    guard.push(0xA2);
    assert!(guard.allows(s.eos) && guard.allows(0xE5) && !guard.allows(0xA2));
}

#[test]
fn masking_removes_exactly_the_tokens_not_allowed_and_reports_their_probability() {
    let tok = TextTokenizer::byte_level().unwrap();
    let vocab = tok.vocab_size();
    let guard = TextGuard::new(&tok, tok.special().unwrap().eos, Script::of_prompt("describe the image"));
    let mut logits: Vec<f32> = (0..vocab).map(|i| ((i * 37 % 11) as f32) * 0.3).collect();
    let probs = vlm_explainer::infer::sampling::probabilities(&logits);
    let want: f32 = (0..vocab).filter(|&i| !guard.allows(i as u32)).map(|i| probs[i]).sum();
    let set_aside = guard.mask(&mut logits);
    assert!((set_aside - want).abs() < 1e-5 && set_aside > 0.3, "set aside {set_aside}, expected {want}");
    for (id, l) in logits.iter().enumerate() {
        // English: ASCII bytes and the end only.
        let ok = id < 128 || id as u32 == tok.special().unwrap().eos;
        assert_eq!(l.is_finite(), ok, "token {id}: logit {l}");
    }
    assert_eq!(Script::of_prompt("is there a star?"), Script::Ascii);
    assert_eq!(Script::of_prompt("有星形吗？"), Script::NoLatin);
}

#[test]
fn the_shipped_model_writes_text_in_the_prompts_language_about_a_picture_it_never_saw() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/model");
    let read = |n: &str| fs::read(dir.join(n)).unwrap();
    let mut e = Explainer::load(read("model.safetensors"), &String::from_utf8(read("config.json")).unwrap(), &read("tokenizer.json")).unwrap();
    // Not a ShapesWorld scene: a gradient with a red square and a blue bar. Without the guard
    // the shipped model's English caption of it began with a Chinese word and went on with 44
    // bytes that are no character.
    let png = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/image.png")).unwrap();
    let image = PreparedImage::from_encoded(&png, 224).unwrap();
    let mut set_aside = 0.0f32;
    for (prompt, english) in [("describe the image", true), ("描述这张图片", false), ("what colour is the square?", true)] {
        e.set_image(image.clone()).unwrap();
        e.encode().unwrap();
        e.project().unwrap();
        e.prefill(if prompt.starts_with("what") { Task::Question } else { Task::Caption }, prompt, SamplingOptions::default()).unwrap();
        while let Some(t) = e.next_token().unwrap() {
            set_aside = set_aside.max(t.set_aside);
        }
        let ids = e.answer_ids().to_vec();
        assert!(!ids.is_empty(), "{prompt}: no answer");
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| e.tokenizer.token_bytes()[id as usize].clone().unwrap()).collect();
        let text = String::from_utf8(bytes).unwrap_or_else(|err| panic!("{prompt}: the answer is not UTF-8: {err}"));
        if english {
            assert!(text.is_ascii(), "{prompt}: {text:?}");
        } else {
            assert!(!text.chars().any(|c| c.is_ascii_alphabetic()), "{prompt}: {text:?}");
        }
    }
    assert!(set_aside > 0.0, "the guard never stepped in: the test image no longer tests it");
}
