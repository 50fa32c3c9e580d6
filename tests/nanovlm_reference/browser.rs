//! nanoVLM's small fixture in the browser (included by tests/web.rs): the crate's numerics, on
//! the browser's kernels, against what nanoVLM's own code computed; and the page's way in, the
//! files read a tensor at a time through `ModelLoader`, giving the same patch features and image
//! tokens through the JS API.

use js_sys::{Float32Array, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use vlm_explainer::wasm::loader::{safetensors_header_bytes, ModelLoader};
use vlm_explainer::Explainer;

use super::nanovlm_reference::{check, worst, Reference};

const CONFIG: &str = include_str!("../fixtures/nanovlm/small/config.json");
const WEIGHTS: &[u8] = include_bytes!("../fixtures/nanovlm/small/model.safetensors");
const TOKENIZER: &[u8] = include_bytes!("../fixtures/nanovlm/small/tokenizer.json");
const REFERENCE: &[u8] = include_bytes!("../fixtures/nanovlm/small/reference.safetensors");
const REFERENCE_JSON: &str = include_str!("../fixtures/nanovlm/small/reference.json");

fn field(v: &JsValue, name: &str) -> JsValue {
    Reflect::get(v, &name.into()).unwrap()
}

fn shape_of(v: &JsValue) -> Vec<u32> {
    serde_json::from_str(&js_sys::JSON::stringify(&field(v, "shape")).unwrap().as_string().unwrap()).unwrap()
}

#[wasm_bindgen_test]
fn nanovlm_matches_its_own_code_in_the_browser() {
    let r = Reference::new(REFERENCE, REFERENCE_JSON);
    let m = Explainer::load(WEIGHTS.to_vec(), CONFIG, TOKENIZER).unwrap();
    for (what, diff) in check(&m, &r) {
        // The greedy tokens identical (0 differ); every stage within 1e-4.
        assert!(diff <= 1e-4, "{what}: {diff:.2e} off nanoVLM's in the browser");
    }
}

#[wasm_bindgen_test]
fn nanovlm_read_a_tensor_at_a_time_through_the_js_api_gives_its_stages() {
    let r = Reference::new(REFERENCE, REFERENCE_JSON);
    let need = safetensors_header_bytes(&WEIGHTS[..8]).unwrap() as usize;
    let mut loader = ModelLoader::new(CONFIG, TOKENIZER.to_vec(), &WEIGHTS[..need], WEIGHTS.len() as f64).unwrap();
    for entry in loader.tensors().iter() {
        let name = field(&entry, "name").as_string().unwrap();
        let [start, end] = ["start", "end"].map(|k| field(&entry, k).as_f64().unwrap() as usize);
        loader.add(&name, WEIGHTS[start..end].to_vec()).unwrap();
    }
    let mut m = loader.finish().unwrap();
    // The reference's 224x224 pixels as a canvas would hand them over: no resize happens.
    let pixels = r.tensors["pixels_u8"].flatten_all().unwrap().to_vec1::<u8>().unwrap();
    let plane = 224 * 224;
    let rgba: Vec<u8> = (0..plane).flat_map(|i| [pixels[i], pixels[plane + i], pixels[2 * plane + i], 255]).collect();
    m.preprocess_rgba(&rgba, 224, 224).unwrap();
    let features = m.encode().unwrap();
    assert_eq!(shape_of(&features), vec![1, 196, 32]);
    let data = Float32Array::from(field(&features, "data")).to_vec();
    let got = candle_core::Tensor::from_vec(data, (1, 196, 32), &candle_core::Device::Cpu).unwrap();
    let diff = worst("patch features", &got, &r.tensors["patch_features"]);
    assert!(diff <= 1e-4, "patch features through the JS API: {diff:.2e} off nanoVLM's");
    // Without a CLS token, a vision attention row covers the 196 patches only.
    assert_eq!(m.vision_attention(1, -1, 0).unwrap().length(), 196);
    assert_eq!(shape_of(&m.project().unwrap()), vec![1, 49, 64], "196 patches in 2x2 blocks: 49 image tokens");
    let seq = m.prefill("question", "What is this?", 0.0, 0, 0, 4).unwrap();
    assert_eq!(shape_of(&seq), vec![1, 49 + 8, 64], "[49 image | Question: What is this? Answer:]");
    let token = m.next_token().unwrap();
    assert_eq!(shape_of(&field(&token, "image_attention")), vec![2, 4, 49]);
}
