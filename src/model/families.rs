//! The model families the crate reads, each from its own files (see docs/models.md): which
//! family a config.json is, and what its checkpoint calls each weight.
//!
//! - this crate's own models (the shipped one, the presets, what `train` writes);
//! - nanoVLM's (`model::nanovlm`).
//!
//! A new family is a file like `nanovlm.rs` (its config fields into `Config`, its weight names as
//! a `Checkpoint`) and a line in each function here.

use std::sync::Arc;

use candle_core::{Device, Result};

use crate::model::config::{Config, Family};
use crate::model::nanovlm;
use crate::model::vlm::Vlm;
use crate::model::weights::{self, Checkpoint, OwnNames, TensorFile};

/// A config.json of any family, as this crate's `Config`, checked: nanoVLM's `VLMConfig` is told
/// apart by its `vit_hidden_dim`.
pub fn read_config(text: &str) -> Result<Config> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| candle_core::Error::Msg(format!("config.json: {e}")))?;
    if value.get("vit_hidden_dim").is_none() {
        return Config::from_json(text);
    }
    let config = nanovlm::config(&value)?;
    config.validate()?;
    Ok(config)
}

/// What `config.family`'s checkpoints call each of the model's weights.
pub fn checkpoint(config: &Config) -> Arc<dyn Checkpoint> {
    match config.family {
        Family::Explainer => Arc::new(OwnNames),
        Family::NanoVlm => Arc::new(nanovlm::Names::new(config)),
    }
}

/// The model of `config` from its checkpoint's tensors, named as its family names them.
pub fn load(config: &Config, file: TensorFile) -> Result<Vlm> {
    weights::load_from(config, file, checkpoint(config), &Device::Cpu)
}
