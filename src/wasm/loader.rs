//! A model read from the files a person chose, one tensor at a time: `config.json` and
//! `tokenizer.json` whole, then the safetensors file's header (checked against config.json before
//! any weight is read), then each tensor's bytes as the page slices them from the file. The file
//! is never in memory whole, and each tensor's bytes go once the model has read them.
//!
//!     const loader = new ModelLoader(configJson, tokenizerBytes, head, file.size);
//!     for (const { name, start, end } of loader.tensors()) loader.add(name, bytes of [start, end));
//!     const model = loader.finish();   // a VlmExplainer

use std::collections::HashMap;
use std::sync::Mutex;

use js_sys::Array;
use wasm_bindgen::prelude::*;

use crate::infer::explainer::Explainer;
use crate::model::config::Config;
use crate::model::families;
use crate::model::weights::{self, HeaderEntry, TensorFile, TensorPart};
use crate::wasm::explainer::VlmExplainer;
use crate::wasm::{js_err, object};

#[wasm_bindgen]
pub struct ModelLoader {
    config: Config,
    tokenizer_json: Vec<u8>,
    /// The tensors to read, in file order.
    wanted: Vec<HeaderEntry>,
    parts: HashMap<String, TensorPart>,
}

/// Bytes the safetensors header needs (8 + its length), from the file's first 8 bytes.
#[wasm_bindgen(js_name = safetensorsHeaderBytes)]
pub fn safetensors_header_bytes(first: &[u8]) -> Result<f64, JsError> {
    Ok(weights::header_bytes(first).map_err(js_err)? as f64)
}

#[wasm_bindgen]
impl ModelLoader {
    /// `head`: the file's first `safetensorsHeaderBytes` bytes; `file_size`: its length. Refuses
    /// a config.json, tokenizer.json or header that do not fit together, with the reason.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str, tokenizer_json: Vec<u8>, head: &[u8], file_size: f64) -> Result<ModelLoader, JsError> {
        let config = families::read_config(config_json).map_err(js_err)?;
        let tokenizer = crate::text::tokenizer::TextTokenizer::from_json(&tokenizer_json).map_err(js_err)?;
        tokenizer.check_fits(config.llm.vocab_size).map_err(js_err)?;
        let header = weights::read_header(head, file_size as u64).map_err(js_err)?;
        let wanted = weights::check_header(&config, &header, families::checkpoint(&config).as_ref()).map_err(js_err)?;
        Ok(Self { config, tokenizer_json, wanted, parts: HashMap::new() })
    }

    /// `[{ name, start, end }]`: the byte ranges to read, in file order.
    pub fn tensors(&self) -> Array {
        self.wanted
            .iter()
            .map(|e| object(&[("name", e.name.as_str().into()), ("start", (e.start as f64).into()), ("end", (e.end as f64).into())]))
            .collect()
    }

    /// Bytes to read in all.
    #[wasm_bindgen(js_name = totalBytes)]
    pub fn total_bytes(&self) -> f64 {
        self.wanted.iter().map(|e| (e.end - e.start) as f64).sum()
    }

    /// One tensor's bytes, as `tensors()` listed it.
    pub fn add(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), JsError> {
        let Some(entry) = self.wanted.iter().find(|e| e.name == name) else {
            return Err(JsError::new(&format!("model.safetensors: `{name}` is not a tensor this model reads")));
        };
        if bytes.len() as u64 != entry.end - entry.start {
            return Err(JsError::new(&format!(
                "model.safetensors: tensor `{name}` came as {} bytes, its header says {}: the file changed while it was read; choose it again",
                bytes.len(),
                entry.end - entry.start
            )));
        }
        self.parts.insert(name.to_string(), TensorPart { dtype: entry.dtype, shape: entry.shape.clone(), bytes });
        Ok(())
    }

    /// The model, once every tensor is in.
    pub fn finish(self) -> Result<VlmExplainer, JsError> {
        if let Some(missing) = self.wanted.iter().find(|e| !self.parts.contains_key(&e.name)) {
            return Err(JsError::new(&format!("model.safetensors: tensor `{}` was not read", missing.name)));
        }
        let parts = TensorFile::Parts(Mutex::new(self.parts));
        let inner = Explainer::load_parts(self.config, parts, &self.tokenizer_json).map_err(js_err)?;
        Ok(VlmExplainer { inner })
    }
}
