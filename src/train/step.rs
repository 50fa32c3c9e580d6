//! The training steps native training and the browser share: one backward pass over the text
//! loss (and, in vision pretraining, the grounding loss), then each optimiser's step.

use candle_core::{Result, Tensor};
use candle_nn::{AdamW, Optimizer};

use crate::train::batch::PackedBatch;
use crate::train::freeze::PartlyFrozen;
use crate::train::grounding::Grounding;

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
