//! A training run's folder and what every stage needs from it:
//!
//!     runs/NAME/tokenizer.json, config.json       written by `train tokenizer`
//!     runs/NAME/stage_{a,b,c,d}.safetensors       each stage's checkpoint (every weight, f32)
//!     runs/NAME/loss_{a,b,c,d}.csv, loss.svg      the loss per step, and its curves
//!     runs/NAME/summary.json                      timings and figures each stage reports

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result};
use candle_nn::{VarBuilder, VarMap};

use crate::train::init;
use crate::train::clip::ClipHeads;
use crate::model::config::Config;
use crate::text::tokenizer::TextTokenizer;
use crate::model::vlm::Vlm;

pub fn io_err(path: &Path, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

pub struct Run {
    pub dir: PathBuf,
    pub config: Config,
    pub tokenizer: TextTokenizer,
    pub device: Device,
}

impl Run {
    pub fn open(dir: &Path) -> Result<Self> {
        let read = |name: &str| fs::read(dir.join(name)).map_err(|e| io_err(&dir.join(name), e));
        let config = Config::from_json(&String::from_utf8_lossy(&read("config.json")?))?;
        let tokenizer = TextTokenizer::from_json(&read("tokenizer.json")?)?;
        Ok(Self { dir: dir.to_path_buf(), config, tokenizer, device: Device::Cpu })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Every variable of the VLM and the CLIP heads: seeded, then loaded from `stage`'s
    /// checkpoint if given.
    pub fn varmap(&self, stage: Option<&str>) -> Result<VarMap> {
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &self.device);
        Vlm::new(&self.config, vb.clone())?;
        ClipHeads::new(self.config.vision.width, self.config.llm.width, vb.pp("clip"))?;
        init::init_seeded(&varmap, 0)?;
        init::zero_projector_neighbours(&varmap, &self.config)?;
        if let Some(stage) = stage {
            let path = self.path(&format!("stage_{stage}.safetensors"));
            varmap.load(&path).map_err(|e| io_err(&path, format!("{e} (run stage {stage} first)")))?;
        }
        Ok(varmap)
    }

    pub fn save(&self, varmap: &VarMap, stage: &str) -> Result<()> {
        let path = self.path(&format!("stage_{stage}.safetensors"));
        varmap.save(&path).map_err(|e| io_err(&path, e))
    }

    /// Adds `key: value` to summary.json.
    pub fn report(&self, key: &str, value: serde_json::Value) -> Result<()> {
        let path = self.path("summary.json");
        let mut summary: BTreeMap<String, serde_json::Value> =
            fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        summary.insert(key.to_string(), value);
        let text = serde_json::to_string_pretty(&summary).map_err(|e| io_err(&path, e))?;
        fs::write(&path, text).map_err(|e| io_err(&path, e))
    }
}
