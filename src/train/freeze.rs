//! Training with parts frozen: which weights a step may change.
//!
//! A frozen part is built from detached copies of its variables, so backpropagation neither
//! reaches nor computes anything for it; the optimiser sees only the trainable variables.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::model::config::Config;
use crate::model::vlm::Vlm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    VisionEncoder,
    Projector,
    Llm,
    /// The CLIP heads and text encoder of vision pretraining (never shipped).
    Clip,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::VisionEncoder, Part::Projector, Part::Llm, Part::Clip];

    /// The prefix of this part's weight names.
    pub fn prefix(self) -> &'static str {
        match self {
            Part::VisionEncoder => "vision_encoder.",
            Part::Projector => "projector.",
            Part::Llm => "llm.",
            Part::Clip => "clip.",
        }
    }

    pub fn of(name: &str) -> Option<Part> {
        Self::ALL.into_iter().find(|p| name.starts_with(p.prefix()))
    }
}

/// A model over `varmap` in which only `trainable` parts carry gradients.
pub struct PartlyFrozen {
    pub vlm: Vlm,
    /// (name, variable) of every trainable weight, sorted by name.
    pub trainable: Vec<(String, Var)>,
}

impl PartlyFrozen {
    pub fn new(config: &Config, varmap: &VarMap, trainable: &[Part], device: &Device) -> Result<Self> {
        // Make (or find) every variable, then rebuild the model: trainable parts on the variables
        // themselves, frozen parts on copies of their values.
        Vlm::new(config, VarBuilder::from_varmap(varmap, DType::F32, device))?;
        let vb = Self::builder(varmap, trainable, device)?;
        let vlm = Vlm::new(config, vb)?;
        let trainable = Self::trainable_vars(varmap, trainable);
        Ok(Self { vlm, trainable })
    }

    /// A model whose frozen parts are `frozen`'s tensors and whose `trainable` parts are
    /// `varmap`'s variables (which must exist). `frozen` must be tensors that nothing writes
    /// (read from a file, or the caller's own copies): the frozen-weight assumption of
    /// `ops::linear`.
    pub fn with_frozen(config: &Config, frozen: &HashMap<String, Tensor>, varmap: &VarMap, trainable: &[Part], device: &Device) -> Result<Self> {
        let is_trainable = |name: &str| Part::of(name).is_some_and(|p| trainable.contains(&p));
        let mut tensors: HashMap<String, Tensor> =
            frozen.iter().filter(|(name, _)| !is_trainable(name)).map(|(name, t)| (name.clone(), t.detach())).collect();
        {
            let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
            tensors.extend(data.iter().filter(|(name, _)| is_trainable(name)).map(|(name, var)| (name.clone(), var.as_tensor().clone())));
        }
        let vlm = Vlm::new(config, VarBuilder::from_tensors(tensors, DType::F32, device))?;
        Ok(Self { vlm, trainable: Self::trainable_vars(varmap, trainable) })
    }

    /// A VarBuilder over `varmap` whose tensors carry gradients only for `trainable` parts.
    /// Variables must already exist in `varmap`. Frozen parts get copies of their variables'
    /// values, never views of them: `ops::linear` packs a frozen weight once, so a weight a
    /// variable could still write into would be used stale.
    pub fn builder(varmap: &VarMap, trainable: &[Part], device: &Device) -> Result<VarBuilder<'static>> {
        let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
        let tensors = data
            .iter()
            .map(|(name, var)| {
                let train = Part::of(name).is_some_and(|p| trainable.contains(&p));
                let t = if train { var.as_tensor().clone() } else { var.as_tensor().detach().copy()? };
                Ok((name.clone(), t))
            })
            .collect::<Result<HashMap<String, Tensor>>>()?;
        Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
    }

    /// (name, variable) of every weight of the `trainable` parts, sorted by name.
    pub fn trainable_vars(varmap: &VarMap, trainable: &[Part]) -> Vec<(String, Var)> {
        let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
        let mut vars: Vec<(String, Var)> = data
            .iter()
            .filter(|(name, _)| Part::of(name).is_some_and(|p| trainable.contains(&p)))
            .map(|(name, var)| (name.clone(), var.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    pub fn optimizer(&self, lr: f64) -> Result<AdamW> {
        adamw(&self.trainable, lr)
    }

    /// Number of trainable values.
    pub fn trainable_count(&self) -> usize {
        self.trainable.iter().map(|(_, v)| v.elem_count()).sum()
    }
}

/// AdamW over `vars`, without weight decay (the models here are small and the data endless).
pub fn adamw(vars: &[(String, Var)], lr: f64) -> Result<AdamW> {
    let params = ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() };
    AdamW::new(vars.iter().map(|(_, v)| v.clone()).collect(), params)
}
