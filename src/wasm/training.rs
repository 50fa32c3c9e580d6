//! The browser's API for training the projector (`projector_training`): converts types and
//! nothing else. Reports are plain objects; every error is a JS exception with a readable message.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::model::config::ProjectorKind;
use crate::train::projector_trainer::{self as projector_training, TrainOptions};
use crate::train::freeze::Part;
use crate::wasm::{js_err, object, plain};

/// `kind`: `linear`, `mlp2x_gelu` or `mlp2x_gelu_3x3` (config.json's names); `unfreeze`: `none`,
/// `vision_encoder` or `llm`.
fn options(kind: &str, unfreeze: &str, batch: u32, lr: f64, seed: u32) -> Result<TrainOptions, JsError> {
    let kind = match serde_json::from_value::<ProjectorKind>(serde_json::Value::from(kind)) {
        Ok(kind) if kind != ProjectorKind::PixelShuffle => kind,
        _ => return Err(JsError::new(&format!("unknown projector kind `{kind}`: choose linear, mlp2x_gelu or mlp2x_gelu_3x3"))),
    };
    let unfreeze = match unfreeze {
        "none" => None,
        "vision_encoder" => Some(Part::VisionEncoder),
        "llm" => Some(Part::Llm),
        other => return Err(JsError::new(&format!("cannot unfreeze `{other}`: choose none, vision_encoder or llm"))),
    };
    Ok(TrainOptions { kind, unfreeze, batch: batch as usize, lr, seed: seed as u64, ..TrainOptions::default() })
}

#[wasm_bindgen]
pub struct ProjectorTrainer {
    inner: projector_training::ProjectorTrainer,
}

#[wasm_bindgen]
impl ProjectorTrainer {
    /// A fresh projector for the model of these three files (`model.safetensors` bytes,
    /// `config.json` text, `tokenizer.json` bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(
        weights: Vec<u8>,
        config_json: &str,
        tokenizer_json: &[u8],
        kind: &str,
        unfreeze: &str,
        batch: u32,
        lr: f64,
        seed: u32,
    ) -> Result<ProjectorTrainer, JsError> {
        let o = options(kind, unfreeze, batch, lr, seed)?;
        let inner = projector_training::ProjectorTrainer::from_files(weights, config_json, tokenizer_json, o).map_err(js_err)?;
        Ok(Self { inner })
    }

    /// A fresh projector for an untrained model of a preset's size, weights drawn from `model_seed`.
    #[wasm_bindgen(js_name = fromPreset)]
    pub fn from_preset(
        preset: &str,
        model_seed: u32,
        kind: &str,
        unfreeze: &str,
        batch: u32,
        lr: f64,
        seed: u32,
    ) -> Result<ProjectorTrainer, JsError> {
        let o = options(kind, unfreeze, batch, lr, seed)?;
        let inner = projector_training::ProjectorTrainer::from_preset(preset, model_seed as u64, o).map_err(js_err)?;
        Ok(Self { inner })
    }

    /// `{ kind, trainable: [part], counts: { vision_encoder, projector, llm }, batch, lr, pool,
    /// eval_scenes, step, cache: { encoded, encode_ms, reused } }`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let o = self.inner.options();
        Ok(object(&[
            ("kind", plain(&o.kind)?),
            ("trainable", plain(&self.inner.trainable())?),
            ("counts", plain(&self.inner.parameter_counts())?),
            ("batch", (o.batch as u32).into()),
            ("lr", o.lr.into()),
            ("pool", (o.pool as u32).into()),
            ("eval_scenes", (o.eval_scenes as u32).into()),
            ("step", (self.inner.steps_done() as u32).into()),
            ("cache", plain(self.inner.cache_totals())?),
        ]))
    }

    /// One training step: `{ step, loss, encoded, reused, encode_ms, step_ms, cut_turns }`.
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        plain(&self.inner.step().map_err(js_err)?)
    }

    /// Captions of the held-out scenes and their scores: `{ step, en, zh, captions, ms }`.
    pub fn evaluate(&mut self) -> Result<JsValue, JsError> {
        plain(&self.inner.evaluate().map_err(js_err)?)
    }

    /// How far the vision encoder's features of the held-out scenes moved from the loaded
    /// encoder's, and the model's own projector and LLM's captions from each: `{ step, scenes,
    /// features, mean_cosine, min_cosine, relative_change, explainer: { before, now } | null, ms }`
    /// (`before` and `now`: `{ en, zh, captions }`).
    #[wasm_bindgen(js_name = featureDrift)]
    pub fn feature_drift(&mut self) -> Result<JsValue, JsError> {
        plain(&self.inner.feature_drift().map_err(js_err)?)
    }

    /// The projector as safetensors bytes.
    #[wasm_bindgen(js_name = projectorSafetensors)]
    pub fn projector_safetensors(&self) -> Result<Uint8Array, JsError> {
        Ok(Uint8Array::from(self.inner.projector_safetensors().map_err(js_err)?.as_slice()))
    }

    /// Replaces the projector with a saved one (switching to its kind).
    #[wasm_bindgen(js_name = loadProjector)]
    pub fn load_projector(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.inner.load_projector(bytes).map_err(js_err)
    }
}
