//! The speed benchmark's browser entry (`bench/candle-worker.js`): runs `bench::time_stages` on
//! a loaded model, timed by the browser's `performance.now()`. Converts types, nothing else.

use js_sys::{Float64Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::bench;
use crate::wasm::explainer::VlmExplainer;
use crate::wasm::{js_err, object};

#[wasm_bindgen]
extern "C" {
    // `performance` is a global in pages and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The bench image `{ rgba, width, height }` (the same pixels the native bench uses).
#[wasm_bindgen(js_name = benchImage)]
pub fn bench_image() -> JsValue {
    let (w, h) = bench::IMAGE_SIZE;
    object(&[
        ("rgba", Uint8Array::from(bench::image_rgba().as_slice()).into()),
        ("width", w.into()),
        ("height", h.into()),
    ])
}

/// One run of every stage: `{ preprocess_ms, vision_encoder_ms, projection_ms, prefill_ms,
/// decode_ms: Float64Array(64) }`.
#[wasm_bindgen(js_name = benchStages)]
pub fn bench_stages(model: &VlmExplainer, rgba: &[u8], width: u32, height: u32) -> Result<JsValue, JsError> {
    let explainer = &model.inner;
    let t = bench::time_stages(&explainer.vlm, &explainer.tokenizer, rgba, (width, height), &performance_now)
        .map_err(js_err)?;
    Ok(object(&[
        ("preprocess_ms", t.preprocess_ms.into()),
        ("vision_encoder_ms", t.vision_encoder_ms.into()),
        ("projection_ms", t.projection_ms.into()),
        ("prefill_ms", t.prefill_ms.into()),
        ("decode_ms", Float64Array::from(t.decode_ms.as_slice()).into()),
    ]))
}
