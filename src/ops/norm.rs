//! Normalisation: which LayerNorm kernel runs.

use candle_core::{Result, Tensor};

use crate::ops::kernels;
use crate::ops::linear::wants_gradient;

/// LayerNorm over the last dimension, (x - mean) / sqrt(var + eps) * weight + bias. candle's
/// fused kernel has no backward pass: where a gradient is wanted (the input or a weight is
/// tracked), or the input is not contiguous, `kernels::layer_norm` runs instead, which has one.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    if wants_gradient(&[x, weight, bias]) || !x.is_contiguous() {
        kernels::layer_norm(x, weight, bias, eps)
    } else {
        candle_nn::ops::layer_norm(x, weight, bias, eps)
    }
}
