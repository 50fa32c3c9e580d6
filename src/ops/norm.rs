//! Normalisation: which LayerNorm or RMSNorm kernel runs.

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

/// RMSNorm over the last dimension, x / sqrt(mean(x^2) + eps) * weight (Llama's, nanoVLM's).
/// candle's fused kernel for inference; where a gradient is wanted, the same formula in candle's
/// differentiable ops.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    if wants_gradient(&[x, weight]) || !x.is_contiguous() {
        let mean_square = x.sqr()?.mean_keepdim(candle_core::D::Minus1)?;
        x.broadcast_div(&(mean_square + eps as f64)?.sqrt()?)?.broadcast_mul(weight)
    } else {
        candle_nn::ops::rms_norm(x, weight, eps)
    }
}
