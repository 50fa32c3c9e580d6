//! The crate in the browser (wasm-pack test --headless --chrome / --firefox, with and without
//! relaxed SIMD): the fixture's whole tensors against the native recording (tests/fixture/),
//! the attention the page draws by value (tests/checks/attention.rs), the caption scorer on
//! wrong captions (tests/checks/captions.rs), the browser API's stages, errors, training, and the
//! simd128 kernels against candle's; and nanoVLM's small fixture against nanoVLM's own code
//! (tests/nanovlm_reference/browser.rs), through the page's tensor-at-a-time loader too.
#![cfg(target_arch = "wasm32")]

mod fixture;
mod nanovlm_reference;
#[path = "nanovlm_reference/browser.rs"]
mod nanovlm_browser;

use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use vlm_explainer::wasm::explainer::VlmExplainer;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "fixture/files.rs"]
mod files;

#[wasm_bindgen_test]
fn pipeline_in_the_browser_matches_native() {
    let got = fixture::run(&files::FILES);
    // The measured differences behind fixture::TOLERANCES, in the test's output.
    let want: fixture::Outcome = serde_json::from_str(files::EXPECTED).unwrap();
    for d in fixture::differences(&got, &want) {
        console_log!("browser vs native recording, {:<18} {}", d.field, d.what);
    }
    fixture::check(&got, files::EXPECTED);
}

#[path = "checks/attention.rs"]
mod attention;

#[wasm_bindgen_test]
fn in_the_browser_each_tokens_image_attention_is_its_query_in_a_recomputation_without_the_cache() {
    let mut e = fixture::explainer(&files::FILES);
    e.encode().unwrap();
    e.project().unwrap();
    e.prefill(vlm_explainer::text::prompt::Task::Caption, fixture::PROMPT, fixture::GREEDY).unwrap();
    let r = attention::image_attention_against_recomputation(&mut e);
    console_log!("{r:?}");
    assert!(r.tokens >= 10, "only {} tokens generated", r.tokens);
    // As tests/values.rs (measured 7.5e-7 natively; neighbouring queries differ by 0.039).
    assert!(r.worst <= 1e-5, "cached and recomputed attention differ by {}", r.worst);
    assert!(r.neighbour > 1e-3, "neighbouring queries' rows differ by {} only", r.neighbour);
}

#[wasm_bindgen_test]
fn in_the_browser_the_vision_attention_the_page_draws_is_the_direct_computations() {
    let mut e = fixture::explainer(&files::FILES);
    let r = attention::vision_attention_against_direct_computation(&mut e, &attention::weights_of(files::FILES.taught));
    console_log!("{r:?}");
    // As tests/values.rs.
    assert!(r.weights <= 1e-6 && r.rows <= 1e-6, "attention differs by {} (tensors), {} (rows)", r.weights, r.rows);
    assert!(r.features <= 1e-4, "patch features differ by {}", r.features);
    assert!(r.neighbour > 1e-5, "neighbouring queries' rows differ by {} only", r.neighbour);
}

#[path = "checks/captions.rs"]
mod captions;

#[wasm_bindgen_test]
fn in_the_browser_wrong_captions_of_each_kind_score_wrong_where_wrong() {
    let problems = captions::wrong_scores();
    assert!(problems.is_empty(), "the scorer is wrong on:\n  {}", problems.join("\n  "));
}

fn shape_of(v: &JsValue) -> Vec<u32> {
    let shape = Reflect::get(v, &"shape".into()).unwrap();
    serde_json::from_str(&js_sys::JSON::stringify(&shape).unwrap().as_string().unwrap()).unwrap()
}

#[wasm_bindgen_test]
fn wasm_api_hands_out_every_stage_with_its_shape() {
    let f = &files::FILES;
    let mut m = VlmExplainer::new(f.weights.to_vec(), f.config, f.tokenizer).unwrap();
    m.preprocess_encoded(f.image_png).unwrap();
    assert_eq!(m.input_rgba().unwrap().length(), 224 * 224 * 4);
    assert_eq!(shape_of(&m.encode().unwrap()), vec![1, 196, 32]);
    assert_eq!(m.vision_attention(1, -1, 0).unwrap().length(), 197);
    assert_eq!(shape_of(&m.project().unwrap()), vec![1, 196, 32]);
    let seq = m.prefill("caption", "describe the image", 0.0, 0, 0, 4).unwrap();
    // <|bos|> <|caption|> + 18 byte tokens + <|answer|> = 21 text tokens after 196 image tokens.
    assert_eq!(shape_of(&seq), vec![1, 196 + 21, 32]);
    let token = m.next_token().unwrap();
    assert_eq!(shape_of(&Reflect::get(&token, &"image_attention".into()).unwrap()), vec![2, 2, 196]);
}

/// What the page's worker reads from the browser API, by value: the fixture run through
/// `VlmExplainer` (JS values, as worker.js gets them) gives the recording's features, vision
/// attention rows, image tokens, and per token the recorded id and image attention (the heat
/// map panel 5 draws for it), in order.
#[wasm_bindgen_test]
fn the_browser_api_hands_out_the_recorded_values_token_by_token() {
    let f = &files::FILES;
    let want: fixture::Outcome = serde_json::from_str(files::EXPECTED).unwrap();
    let t = fixture::TOLERANCES;
    let data = |v: &JsValue| js_sys::Float32Array::new(&Reflect::get(v, &"data".into()).unwrap()).to_vec();
    let close = |what: &str, got: &[f32], want: &[f32], tolerance: f32| {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= tolerance, "{what}: largest difference {worst} (tolerance {tolerance})");
    };
    let mut m = VlmExplainer::new(f.taught.to_vec(), f.config, f.tokenizer).unwrap();
    m.preprocess_encoded(f.image_png).unwrap();
    close("patch features", &data(&m.encode().unwrap()), &want.patch_features.values(), t.patch_features);
    let rows = want.vision_attention.values();
    let (heads, queries, positions) = (want.vision_attention.shape[1], fixture::VISION_QUERIES.len(), want.vision_attention.shape[3]);
    for layer in 0..want.vision_attention.shape[0] {
        for head in 0..heads {
            for (i, &q) in fixture::VISION_QUERIES.iter().enumerate() {
                let at = ((layer * heads + head) * queries + i) * positions;
                let got = m.vision_attention(layer, head as i32, q).unwrap().to_vec();
                close(&format!("vision attention, layer {layer} head {head} query {q}"), &got, &rows[at..at + positions], t.vision_attention);
            }
        }
    }
    close("image tokens", &data(&m.project().unwrap()), &want.image_tokens.values(), t.image_tokens);
    let g = fixture::GREEDY;
    m.prefill("caption", fixture::PROMPT, g.temperature, g.top_k as u32, g.seed as u32, g.max_new_tokens as u32).unwrap();
    let attention = want.image_attention.values();
    let per_token = attention.len() / want.generated_ids.len();
    let mut k = 0;
    let mut text = String::new();
    loop {
        let token = m.next_token().unwrap();
        if token.is_null() {
            break;
        }
        let id = Reflect::get(&token, &"id".into()).unwrap().as_f64().unwrap() as u32;
        assert_eq!(Some(&id), want.generated_ids.get(k), "token {k}");
        let map = Reflect::get(&token, &"image_attention".into()).unwrap();
        close(&format!("token {k}'s image attention"), &data(&map), &attention[k * per_token..(k + 1) * per_token], t.image_attention);
        text = Reflect::get(&token, &"text".into()).unwrap().as_string().unwrap();
        k += 1;
    }
    assert_eq!(k, want.generated_ids.len(), "tokens handed out");
    let answer: Vec<u8> = want.answer_ids.iter().map(|&id| id as u8).collect(); // byte-level ids below 256 are bytes
    assert_eq!(text, String::from_utf8(answer).unwrap());
}

#[wasm_bindgen_test]
fn bad_input_is_an_error_not_a_panic() {
    let f = &files::FILES;
    assert!(VlmExplainer::new(f.weights[..100].to_vec(), f.config, f.tokenizer).is_err());
    let mut m = VlmExplainer::new(f.weights.to_vec(), f.config, f.tokenizer).unwrap();
    assert!(m.preprocess_encoded(b"%PDF-1.4 not an image").is_err());
    assert!(m.encode().is_err(), "encode before any image is an error");
}

#[wasm_bindgen_test]
fn in_the_browser_too_special_token_spellings_stay_text_and_bad_files_are_named() {
    let f = &files::FILES;
    let mut m = VlmExplainer::new(f.weights.to_vec(), f.config, f.tokenizer).unwrap();
    m.preprocess_encoded(f.image_png).unwrap();
    m.encode().unwrap();
    m.project().unwrap();
    // <|bos|> <|question|> + the 7 characters of "<|eos|>" as byte tokens + <|answer|>.
    let seq = m.prefill("question", "<|eos|>", 0.0, 0, 0, 4).unwrap();
    assert_eq!(shape_of(&seq), vec![1, 196 + 10, 32]);
    assert!(m.prefill("question", "  ", 0.0, 0, 0, 4).is_err(), "an empty prompt is refused");
    let message = |e: wasm_bindgen::JsError| js_sys::Error::from(JsValue::from(e)).message().as_string().unwrap();
    let cut = VlmExplainer::new(f.weights[..f.weights.len() / 2].to_vec(), f.config, f.tokenizer).err().map(message).unwrap();
    assert!(cut.starts_with("model.safetensors is cut short"), "{cut}");
}

#[wasm_bindgen_test]
fn training_in_the_browser_lowers_the_loss_and_the_projector_round_trips() {
    use vlm_explainer::wasm::training::ProjectorTrainer;
    let f = &files::FILES;
    let number = |v: &JsValue, key: &str| Reflect::get(v, &key.into()).unwrap().as_f64().unwrap();
    // The fixture's LLM is random (its logits nearly uniform whatever it reads), so the LLM
    // learns beside the projector here; natively, tests/projector_training.rs also trains the
    // projector alone on an LLM taught first.
    let mut t = ProjectorTrainer::new(f.weights.to_vec(), f.config, f.tokenizer, "mlp2x_gelu", "llm", 4, 1e-2, 0).unwrap();
    let losses: Vec<f64> = (0..8).map(|_| number(&t.step().unwrap(), "loss")).collect();
    let (first, last) = ((losses[0] + losses[1]) / 2.0, (losses[6] + losses[7]) / 2.0);
    assert!(last < first * 0.9, "the loss went {losses:?}");
    let info = t.info().unwrap();
    assert_eq!(number(&info, "step"), 8.0);

    let bytes = t.projector_safetensors().unwrap().to_vec();
    let mut other = ProjectorTrainer::new(f.weights.to_vec(), f.config, f.tokenizer, "linear", "none", 4, 1e-2, 1).unwrap();
    other.load_projector(&bytes).unwrap();
    let kind = Reflect::get(&other.info().unwrap(), &"kind".into()).unwrap().as_string().unwrap();
    assert_eq!(kind, "mlp2x_gelu", "loading switches to the file's projector kind");
    assert_eq!(other.projector_safetensors().unwrap().to_vec(), bytes);
    assert!(other.load_projector(f.weights).is_err(), "a whole model is not a projector file");
}

#[wasm_bindgen_test]
fn the_explainer_runs_a_projector_from_the_training_panel_and_goes_back_to_its_own() {
    use vlm_explainer::wasm::training::ProjectorTrainer;
    let f = &files::FILES;
    let values = |v: JsValue| js_sys::Float32Array::new(&Reflect::get(&v, &"data".into()).unwrap()).to_vec();
    let kind = |m: &VlmExplainer| m.config_json().contains("\"linear\"");
    let mut m = VlmExplainer::new(f.weights.to_vec(), f.config, f.tokenizer).unwrap();
    m.preprocess_encoded(f.image_png).unwrap();
    m.encode().unwrap();
    let own = values(m.project().unwrap());

    let mut t = ProjectorTrainer::new(f.weights.to_vec(), f.config, f.tokenizer, "linear", "none", 2, 1e-2, 0).unwrap();
    t.step().unwrap();
    m.use_projector(&t.projector_safetensors().unwrap().to_vec()).unwrap();
    assert!(kind(&m), "the explainer's config names the trained projector's kind");
    let trained = values(m.project().unwrap());
    assert_ne!(trained, own);
    assert!(m.use_projector(b"not a file").is_err());
    assert_eq!(values(m.project().unwrap()), trained, "a refused file leaves the projector in use");

    m.use_own_projector();
    assert!(!kind(&m));
    assert_eq!(values(m.project().unwrap()), own);
}

#[wasm_bindgen_test]
fn the_simd128_product_matches_candles_matmul() {
    use candle_core::{Device, Tensor};
    use vlm_explainer::ops::simd_matmul::{linear_packed, pack};
    // The seed ViT's qkv (768 -> 2304) on 196 rows, a decode step's single row, and odd tails.
    for (m, k, n) in [(196, 768, 2304), (1, 512, 512), (5, 300, 19)] {
        let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
        let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu).unwrap();
        let want = x.matmul(&w.t().unwrap()).unwrap();
        let packed = pack(&w.flatten_all().unwrap().to_vec1().unwrap(), n, k);
        let got = linear_packed(&x, &packed, n, None).unwrap();
        let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-3, "({m}, {k}, {n}): largest difference {diff}");
    }
}

#[path = "attention_cases.rs"]
mod attention_cases;

#[wasm_bindgen_test]
fn the_browsers_attention_gives_candles_weights_and_output() {
    let (output, weights) = attention_cases::largest_differences();
    assert!(output < 1e-4 && weights < 1e-5, "largest differences: output {output}, weights {weights}");
}

#[wasm_bindgen_test]
fn in_the_browser_every_f16_widens_to_the_f32_candle_makes_of_it_alone_and_in_bulk() {
    use candle_core::{DType, Device, Tensor};
    let bits: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    let halves = Tensor::from_raw_buffer(&bits, DType::F16, &[1 << 16], &Device::Cpu).unwrap();
    let want: Vec<f32> = halves.to_dtype(DType::F32).unwrap().to_vec1().unwrap();
    for (h, want) in (0..=u16::MAX).zip(&want) {
        assert_eq!(vlm_explainer::model::weights::f16_to_f32(h).to_bits(), want.to_bits(), "f16 bits {h:#06x}");
    }
    // The simd128 path, 8 at a time, and its scalar tail (3 values past a multiple of 8).
    let widened = vlm_explainer::model::weights::widen_f16(&bits[6..]);
    assert_eq!(widened.len(), (1 << 16) - 3);
    for (h, (got, want)) in (3..=u16::MAX).zip(widened.iter().zip(&want[3..])) {
        assert_eq!(got.to_bits(), want.to_bits(), "widen_f16, f16 bits {h:#06x}");
    }
}
