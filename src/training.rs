//! Training with parts frozen: the step functions native training and the browser share.
//!
//! A frozen part is built from detached copies of its variables, so backpropagation neither
//! reaches nor computes anything for it; the optimiser sees only the trainable variables.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::config::Config;
use crate::vlm::Vlm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    VisionEncoder,
    Projector,
    Llm,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::VisionEncoder, Part::Projector, Part::Llm];

    /// The prefix of this part's weight names.
    pub fn prefix(self) -> &'static str {
        match self {
            Part::VisionEncoder => "vision_encoder.",
            Part::Projector => "projector.",
            Part::Llm => "llm.",
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
        // themselves, frozen parts on detached tensors that share their storage.
        Vlm::new(config, VarBuilder::from_varmap(varmap, DType::F32, device))?;
        let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
        let mut tensors = HashMap::new();
        let mut vars = Vec::new();
        for (name, var) in data.iter() {
            let train = Part::of(name).is_some_and(|p| trainable.contains(&p));
            if train {
                vars.push((name.clone(), var.clone()));
                tensors.insert(name.clone(), var.as_tensor().clone());
            } else {
                tensors.insert(name.clone(), var.as_tensor().detach());
            }
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let vlm = Vlm::new(config, VarBuilder::from_tensors(tensors, DType::F32, device))?;
        Ok(Self { vlm, trainable: vars })
    }

    pub fn optimizer(&self, lr: f64) -> Result<AdamW> {
        let params = ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() };
        AdamW::new(self.trainable.iter().map(|(_, v)| v.clone()).collect(), params)
    }

    /// Number of trainable values.
    pub fn trainable_count(&self) -> usize {
        self.trainable.iter().map(|(_, v)| v.elem_count()).sum()
    }
}

/// One optimiser step on the text loss, from patch features (b, 196, D_v) that the frozen vision
/// encoder computed once; returns the loss before the step.
pub fn train_step(
    model: &PartlyFrozen,
    optimizer: &mut AdamW,
    patch_features: &Tensor,
    text_ids: &Tensor,
    loss_mask: &Tensor,
) -> Result<f32> {
    let image_tokens = model.vlm.project(patch_features)?;
    let loss = model.vlm.text_loss(&image_tokens, text_ids, loss_mask)?;
    optimizer.backward_step(&loss)?;
    loss.to_scalar::<f32>()
}
