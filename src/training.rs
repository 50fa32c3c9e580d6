//! Training with parts frozen: the step functions native training and the browser share.
//!
//! A frozen part is built from detached copies of its variables, so backpropagation neither
//! reaches nor computes anything for it; the optimiser sees only the trainable variables.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::batch::PackedBatch;
use crate::config::Config;
use crate::grounding::Grounding;
use crate::vlm::Vlm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        // themselves, frozen parts on detached tensors that share their storage.
        Vlm::new(config, VarBuilder::from_varmap(varmap, DType::F32, device))?;
        let vb = Self::builder(varmap, trainable, device);
        let vlm = Vlm::new(config, vb)?;
        let trainable = Self::trainable_vars(varmap, trainable);
        Ok(Self { vlm, trainable })
    }

    /// A VarBuilder over `varmap` whose tensors carry gradients only for `trainable` parts.
    /// Variables must already exist in `varmap`.
    pub fn builder(varmap: &VarMap, trainable: &[Part], device: &Device) -> VarBuilder<'static> {
        let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
        let tensors: HashMap<String, Tensor> = data
            .iter()
            .map(|(name, var)| {
                let train = Part::of(name).is_some_and(|p| trainable.contains(&p));
                let t = if train { var.as_tensor().clone() } else { var.as_tensor().detach() };
                (name.clone(), t)
            })
            .collect();
        VarBuilder::from_tensors(tensors, DType::F32, device)
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

/// `train_step` on rows of several turns about each image (see `PackedBatch`).
pub fn train_step_packed(
    model: &PartlyFrozen,
    optimizer: &mut AdamW,
    patch_features: &Tensor,
    batch: &PackedBatch,
) -> Result<f32> {
    Ok(train_step_grounded(model, &mut [optimizer], patch_features, batch, None)?.0)
}

/// `train_step_packed` with the trainable weights split among several optimisers (each over its
/// own variables, with its own learning rate: one backward pass, then a step of each), plus
/// `weight` times the grounding loss (see `grounding`) where given: returns the text loss and the
/// grounding loss, before the step.
pub fn train_step_grounded(
    model: &PartlyFrozen,
    optimizers: &mut [&mut AdamW],
    patch_features: &Tensor,
    batch: &PackedBatch,
    grounding: Option<(&Grounding, f64)>,
) -> Result<(f32, Option<f32>)> {
    let image_tokens = model.vlm.project(patch_features)?;
    let (text_loss, attentions) = model.vlm.packed_text_loss_attending(&image_tokens, batch, grounding.is_some())?;
    let (loss, grounding_loss) = match grounding {
        Some((grounding, weight)) => {
            let g = grounding.loss(&attentions)?;
            ((&text_loss + (&g * weight)?)?, Some(g.to_scalar::<f32>()?))
        }
        None => (text_loss.clone(), None),
    };
    let grads = loss.backward()?;
    for optimizer in optimizers.iter_mut() {
        optimizer.step(&grads)?;
    }
    Ok((text_loss.to_scalar::<f32>()?, grounding_loss))
}

/// AdamW over `vars`, without weight decay (the models here are small and the data endless).
pub fn adamw(vars: &[(String, Var)], lr: f64) -> Result<AdamW> {
    let params = ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() };
    AdamW::new(vars.iter().map(|(_, v)| v.clone()).collect(), params)
}
