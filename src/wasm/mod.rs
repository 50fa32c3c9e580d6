//! The browser's API: converts types and nothing else. Bytes and strings come in; typed arrays
//! and plain objects go out; every error is a JS exception with a readable message.
//!
//! `explainer`: the model the page drives, stage by stage; `training`: the training panel's
//! projector trainer; `bench` (feature `bench`): the speed benchmark's entry.

use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

pub mod explainer;
pub mod training;
pub mod loader;
#[cfg(feature = "bench")]
pub mod bench;


// `initThreadPool(n)` in the threaded build: n Web Workers share the module's memory and run
// rayon's pool, which the inference kernels split their rows over.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Call once `initThreadPool` has resolved: the products use the pool from then on.
#[cfg(feature = "threads")]
#[wasm_bindgen(js_name = poolReady)]
pub fn pool_ready() {
    crate::ops::simd_matmul::pool_ready();
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

pub(crate) fn js_err(e: candle_core::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// A serialisable value (a report, a config's enum, counts) as a plain JS value, by its serde names.
pub(crate) fn plain<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| JsError::new("a value could not be converted"))
}

pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("setting a field on a fresh object");
    }
    o.into()
}

pub(crate) fn shape(dims: &[usize]) -> JsValue {
    dims.iter().map(|&d| JsValue::from(d as u32)).collect::<Array>().into()
}

/// `{ shape, data }` of a tensor, as f32.
pub(crate) fn tensor_object(t: &candle_core::Tensor) -> Result<JsValue, JsError> {
    let data = t.flatten_all().and_then(|f| f.to_vec1::<f32>()).map_err(js_err)?;
    Ok(object(&[("shape", shape(t.dims())), ("data", Float32Array::from(data.as_slice()).into())]))
}

