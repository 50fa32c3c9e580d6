//! Everything a person can hand the model that is wrong or awkward: odd and broken image files,
//! model files that do not belong together, prompts of any length and script. Each either works
//! or is refused with a message that says what was wrong with which file.
#![cfg(not(target_arch = "wasm32"))]

#[allow(dead_code)] // the expected outcome is core.rs's
#[path = "fixture/files.rs"]
mod files;
mod fixture;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use vlm_explainer::model::preprocess::PreparedImage;
use vlm_explainer::text::prompt::{prompt_ids, Task};
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::Explainer;

const FILES: &fixture::Files<'static> = &files::FILES;

fn bad_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad_input").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode(name: &str) -> PreparedImage {
    PreparedImage::from_encoded(&bad_file(name), 224).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn refusal(name: &str) -> String {
    match PreparedImage::from_encoded(&bad_file(name), 224) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// RGB of the prepared image at (x, y) of its 224x224 pixels.
fn pixel(image: &PreparedImage, x: usize, y: usize) -> [u8; 3] {
    let i = (y * image.size + x) * 3;
    [image.rgb[i], image.rgb[i + 1], image.rgb[i + 2]]
}

// --- images ----------------------------------------------------------------------------------

#[test]
fn every_kind_of_png_jpeg_and_gif_arrives_upright_red_above_blue() {
    // The fixtures show a 64x48 picture, red top half over blue bottom half; the model's
    // 224x224 input is its central 48x48 square, so row 20 is red and row 200 is blue.
    for name in ["rgb16.png", "palette.png", "alpha.png", "cmyk.jpg", "progressive.jpg", "animated.gif", "exif_rotated.jpg"] {
        let image = decode(name);
        assert_eq!(image.rgb.len(), 224 * 224 * 3, "{name}");
        let [r, _, b] = pixel(&image, 112, 20);
        assert!(r > 200 && b < 60, "{name}: the top is red, got {:?}", pixel(&image, 112, 20));
        let [r, _, b] = pixel(&image, 112, 200);
        assert!(b > 200 && r < 60, "{name}: the bottom is blue, got {:?}", pixel(&image, 112, 200));
    }
    // The EXIF-rotated file stores its pixels sideways (48 wide, 64 high).
    assert_eq!(decode("exif_rotated.jpg").source_size, (64, 48), "turned upright before cropping");
    // The GIF's second frame is green: only the first is read.
    assert!(pixel(&decode("animated.gif"), 112, 200)[1] < 60);
}

#[test]
fn grayscale_one_pixel_and_very_wide_images_give_the_models_input() {
    let gray = decode("gray.png");
    let (top, bottom) = (pixel(&gray, 112, 20), pixel(&gray, 112, 200));
    assert!(top[0] == top[1] && top[1] == top[2], "grey stays grey: {top:?}");
    assert!(top[0] > bottom[0], "red is lighter grey than blue: {top:?} vs {bottom:?}");

    let one = decode("one_pixel.png");
    assert_eq!(one.source_size, (1, 1));
    assert!(one.rgb.chunks(3).all(|p| p == [0, 255, 0]), "one green pixel fills the 224x224 input");

    // 4000x10: the model sees the central 10x10 square, where red meets blue.
    let wide = decode("wide.png");
    assert_eq!(wide.source_size, (4000, 10));
    assert!(pixel(&wide, 10, 112)[0] > 200 && pixel(&wide, 213, 112)[2] > 200);
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    let bomb = bad_file("bomb.png");
    assert!(bomb.len() < 2000, "the file is small");
    let message = refusal("bomb.png");
    assert!(message.contains("50000x50000"), "{message}");
    assert!(message.contains("scale it down"), "{message}");
}

#[test]
fn broken_and_foreign_files_are_refused_with_what_they_are() {
    for (name, expected) in [
        ("empty.png", "empty (0 bytes)"),
        ("truncated.png", "PNG file is cut short"),
        ("truncated.jpg", "JPEG file is cut short"),
        ("notes.png", "it is text"),
        ("document.png", "it is a PDF document"),
        ("photo.heic", "HEIC"),
        ("photo.avif", "AVIF"),
        ("drawing.svg", "SVG"),
    ] {
        let message = refusal(name);
        assert!(message.contains(expected), "{name}: {message}");
    }
}

#[test]
fn canvas_pixels_of_the_wrong_size_are_refused() {
    let message = PreparedImage::from_rgba(&[0; 12], 2, 2, 224).unwrap_err().to_string();
    assert!(message.contains("need 16 bytes, got 12"), "{message}");
    let message = PreparedImage::from_rgba(&[], 0, 5, 224).unwrap_err().to_string();
    assert!(message.contains("empty"), "{message}");
    let message = PreparedImage::from_rgba(&[], 20_000, 1, 224).unwrap_err().to_string();
    assert!(message.contains("20000x1"), "{message}");
}

// --- model files -----------------------------------------------------------------------------

fn load(weights: Vec<u8>, config: &str, tokenizer: &[u8]) -> String {
    match Explainer::load(weights, config, tokenizer) {
        Ok(_) => panic!("the model loaded"),
        Err(e) => e.to_string(),
    }
}

fn fixture_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load_buffer(FILES.weights, &Device::Cpu).unwrap()
}

fn to_bytes(tensors: &HashMap<String, Tensor>) -> Vec<u8> {
    safetensors::serialize(tensors, None).unwrap()
}

#[test]
fn the_fixtures_model_files_load() {
    Explainer::load(FILES.weights.to_vec(), FILES.config, FILES.tokenizer).unwrap();
    // Re-serialised unchanged, they still load: the edits below are the only differences.
    Explainer::load(to_bytes(&fixture_tensors()), FILES.config, FILES.tokenizer).unwrap();
}

#[test]
fn a_cut_short_or_foreign_safetensors_file_is_named_and_explained() {
    let w = FILES.weights;
    let message = load(w[..w.len() / 2].to_vec(), FILES.config, FILES.tokenizer);
    assert!(message.starts_with("model.safetensors is cut short"), "{message}");
    assert!(message.contains("did not finish"), "{message}");
    let message = load(w[..100].to_vec(), FILES.config, FILES.tokenizer);
    assert!(message.starts_with("model.safetensors is cut short: its header alone needs"), "{message}");
    let message = load(b"not a model".to_vec(), FILES.config, FILES.tokenizer);
    assert!(message.starts_with("model.safetensors is not a safetensors file"), "{message}");
    let message = load(Vec::new(), FILES.config, FILES.tokenizer);
    assert!(message.contains("0 bytes long"), "{message}");
}

#[test]
fn a_tensor_of_another_dtype_is_named() {
    let mut tensors = fixture_tensors();
    let wte = tensors["llm.wte.weight"].to_dtype(DType::I64).unwrap();
    tensors.insert("llm.wte.weight".into(), wte);
    let message = load(to_bytes(&tensors), FILES.config, FILES.tokenizer);
    assert!(
        message.starts_with("model.safetensors: tensor `llm.wte.weight` is stored as I64; weights must be F32, F16 or BF16"),
        "{message}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let mut tensors = fixture_tensors();
    tensors.remove("projector.fc2.bias").unwrap();
    let message = load(to_bytes(&tensors), FILES.config, FILES.tokenizer);
    assert!(message.starts_with("model.safetensors has no tensor `projector.fc2.bias`"), "{message}");
}

#[test]
fn a_shape_that_disagrees_with_config_json_is_named_with_both_shapes() {
    // config.json says vision.mlp_width 64; the file was made for 48.
    let config = FILES.config.replacen("\"mlp_width\": 64", "\"mlp_width\": 48", 1);
    let message = load(FILES.weights.to_vec(), &config, FILES.tokenizer);
    assert!(
        message.starts_with("model.safetensors: tensor `vision_encoder.blocks.0.mlp.fc.weight` has shape [64, 32], but config.json's sizes make it [48, 32]"),
        "{message}"
    );
    // Fewer layers in config.json than in the file: the extra tensors are named.
    let config = FILES.config.replacen("\"layers\": 2", "\"layers\": 1", 1);
    let message = load(FILES.weights.to_vec(), &config, FILES.tokenizer);
    assert!(message.contains("tensor(s) the model of config.json does not use (`vision_encoder.blocks.1."), "{message}");
}

#[test]
fn invalid_or_outsized_config_json_names_the_field() {
    let message = load(FILES.weights.to_vec(), "{\"name\": \"micro\",", FILES.tokenizer);
    assert!(message.starts_with("config.json: EOF while parsing"), "{message}");
    let message = load(FILES.weights.to_vec(), &FILES.config.replace("\"heads\": 2", "\"heads\": 3"), FILES.tokenizer);
    assert!(message.contains("`vision.width` 32 is not divisible by `vision.heads` 3"), "{message}");
    let message = load(FILES.weights.to_vec(), &FILES.config.replace("\"vocab_size\": 263", "\"vocab_size\": 4000000000"), FILES.tokenizer);
    assert!(message.contains("`llm.vocab_size` is 4000000000; the largest accepted is 1000000"), "{message}");
    let message = load(FILES.weights.to_vec(), &FILES.config.replace("\"width\": 32,\n    \"layers\": 2,\n    \"heads\": 2,\n    \"mlp_width\": 64\n  },\n  \"projector\"", "\"width\": 8192,\n    \"layers\": 128,\n    \"heads\": 2,\n    \"mlp_width\": 64\n  },\n  \"projector\""), FILES.tokenizer);
    assert!(message.contains("config.json describes a model of") && message.contains("values"), "{message}");
    let message = load(FILES.weights.to_vec(), &FILES.config.replace("\"name\"", "\"nmae\""), FILES.tokenizer);
    assert!(message.contains("unknown field `nmae`"), "{message}");
}

#[test]
fn a_tokenizer_that_does_not_fit_the_model_is_refused() {
    // A byte-level tokenizer with 40 more tokens than the fixture model's 263 embedding rows.
    let mut json: serde_json::Value = serde_json::from_slice(FILES.tokenizer).unwrap();
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    for i in 0..40 {
        vocab.insert(format!("extra{i}"), serde_json::json!(263 + i));
    }
    let message = load(FILES.weights.to_vec(), FILES.config, json.to_string().as_bytes());
    assert!(message.starts_with("tokenizer.json has token ids up to 302"), "{message}");
    assert!(message.contains("`llm.vocab_size` is 263"), "{message}");

    let message = load(FILES.weights.to_vec(), FILES.config, b"{\"version\": \"1.0\"");
    assert!(message.starts_with("tokenizer.json is not valid JSON: EOF"), "{message}");
    // A syntax error inside the `decoder` section (found by fuzzing: the tokenizers crate panics
    // on it) is an error like any other.
    let text = std::str::from_utf8(FILES.tokenizer).unwrap();
    assert!(text.contains("\"decoder\": {"));
    let broken = text.replacen("\"decoder\": {", "\"decoder\": {1: ", 1);
    let message = load(FILES.weights.to_vec(), FILES.config, broken.as_bytes());
    assert!(message.starts_with("tokenizer.json is not valid JSON: key must be a string"), "{message}");
    let broken = text.replacen("\"decoder\": {", "\"decoder\": {\"\\uD800\": 1, ", 1);
    let message = load(FILES.weights.to_vec(), FILES.config, broken.as_bytes());
    assert!(message.starts_with("tokenizer.json is not valid JSON: unexpected end of hex escape at line"), "{message}");
    let message = load(FILES.weights.to_vec(), FILES.config, &FILES.tokenizer[..FILES.tokenizer.len() - 50]);
    assert!(message.starts_with("tokenizer.json is not valid JSON: EOF while parsing"), "{message}");
}

// --- prompts ---------------------------------------------------------------------------------

fn micro() -> Explainer {
    let mut e = Explainer::load(FILES.weights.to_vec(), FILES.config, FILES.tokenizer).unwrap();
    e.set_image(PreparedImage::from_encoded(FILES.image_png, 224).unwrap()).unwrap();
    e.encode().unwrap();
    e.project().unwrap();
    e
}

const GREEDY: SamplingOptions = SamplingOptions { temperature: 0.0, top_k: 0, seed: 0, max_new_tokens: 4 };

#[test]
fn an_empty_prompt_is_refused_with_what_to_do() {
    let mut e = micro();
    for text in ["", "   \n\t"] {
        let message = e.prefill(Task::Question, text, GREEDY).unwrap_err().to_string();
        assert!(message.starts_with("the prompt is empty: type a question"), "{message}");
    }
}

#[test]
fn a_prompt_longer_than_the_context_says_by_how_much() {
    let mut e = micro();
    // 256 positions - 196 image tokens - 1 for the answer = 59 prompt tokens, 3 of them framing.
    let fits = "a".repeat(56);
    assert_eq!(e.prefill(Task::Question, &fits, GREEDY).unwrap().text_ids.len(), 59);
    let message = e.prefill(Task::Question, &"a".repeat(60), GREEDY).unwrap_err().to_string();
    assert!(message.contains("the prompt is 63 tokens"), "{message}");
    assert!(message.contains("shorten it by 4 tokens"), "{message}");
    // A prompt that fills the context still answers: the prediction after the prompt, fed back
    // into the one free position, and the prediction after that.
    e.prefill(Task::Question, &fits, GREEDY).unwrap();
    let mut answered = 0;
    while e.next_token().unwrap().is_some() {
        answered += 1;
    }
    assert_eq!(answered, 2);
}

#[test]
fn any_unicode_and_control_characters_are_text_and_round_trip() {
    let tok = TextTokenizer::from_json(FILES.tokenizer).unwrap();
    let mut e = micro();
    for text in [
        "what colour is the 🟥 square? 👩‍👩‍👧",
        "ما لون الدائرة؟",                // Arabic, right to left
        "‏שלום‎ mixed RTL and LTR",        // with RLM and LRM marks
        "圆形是什么颜色？",
        "e\u{301} n\u{303} a\u{30A}\u{323}", // combining accents
        "tab\tnewline\nnul\0bell\u{7}escape\u{1b}[31m delete\u{7f}",
    ] {
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), text);
        let seq = e.prefill(Task::Question, text, GREEDY).unwrap().clone();
        assert_eq!(seq.text_ids.len(), ids.len() + 3, "{text:?}");
        assert!(e.next_token().unwrap().is_some(), "{text:?}: the model answers");
    }
}

#[test]
fn text_that_spells_a_special_token_stays_text() {
    let tok = TextTokenizer::from_json(FILES.tokenizer).unwrap();
    let s = tok.special().unwrap();
    let text = "stop <|eos|> here <|answer|><|bos|>";
    let ids = prompt_ids(&tok, Task::Question, text).unwrap();
    // Only the framing is special: <|bos|> <|question|> ... <|answer|>.
    assert_eq!((ids[0], ids[1], *ids.last().unwrap()), (s.bos, s.question, s.answer));
    let specials = [s.bos, s.eos, s.pad, s.image, s.caption, s.question, s.answer];
    let inner = &ids[2..ids.len() - 1];
    assert!(inner.iter().all(|id| !specials.contains(id)), "{inner:?}");
    assert_eq!(inner.len(), text.len(), "one byte token per character of this ASCII text");
    assert_eq!(tok.decode(inner).unwrap(), text);
}
