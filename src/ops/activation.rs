//! Activations: which GELU kernel runs.

use candle_core::{DType, Result, Tensor};

use crate::ops::kernels;
use crate::ops::browser_kernels;

/// GELU, tanh approximation (GPT-2's and SigLIP's), with a backward pass.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    kernels::gelu(x)
}

/// The exact (erf) GELU. In the browser, without gradients, this crate's vectorised kernel
/// (`kernels::gelu_erf`); elsewhere candle's (what training and the native evaluation use).
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if browser_kernels() && !x.track_op() && x.dtype() == DType::F32 {
        kernels::gelu_erf(x)
    } else {
        x.gelu_erf()
    }
}
