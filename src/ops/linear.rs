//! The linear layer, `y = x W^T + b`, and the choice of how its product runs.
//!
//! Unlike candle-nn's `Linear`, a (b, t, in) input is flattened to one (b * t, in) matrix product
//! instead of b small ones against a broadcast weight: the same result, and a much cheaper
//! backward pass when training.
//!
//! How the product runs:
//! - gradient wanted for the weight (a training variable): candle's matmul, which has a backward
//!   pass for both operands;
//! - gradient wanted for the input only (training through a frozen layer): `matmul_frozen_weight`,
//!   whose backward computes the input's gradient only; with the browser's kernels on, both its
//!   products run through `simd_matmul`;
//! - no gradient (inference): with the browser's kernels on (`ops::browser_kernels`),
//!   `simd_matmul` with the weight packed at first use; else candle's matmul (natively: AVX2/FMA
//!   gemm on two threads).
//!
//! For a large model in the browser, `pack` makes the packed copy at once and lets the plain
//! weight go (a 222M model would otherwise hold its weights twice); `weight()` then unpacks it
//! when asked (the page's projector heat map).
//!
//! The frozen-weight assumption. The packed copies (`packed`, `packed_t`, `bias_values`) are made
//! once, at first use, and kept. They are made only from weights that are not variables, and such
//! a weight's values never change: a candle tensor has no setter; only a `Var` writes in place,
//! and this crate never builds a layer on a detached view of a live variable (frozen parts of a
//! model in training are copies: `train::freeze`). A weight that is a variable is never packed,
//! so a changed weight is always read afresh. `tests/linear.rs` checks both.

use std::sync::{Arc, OnceLock};

use candle_core::{bail, DType, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ops::{browser_kernels, kernels, simd_matmul};

/// Whether any of `tensors` takes part in a gradient (a variable, or computed from one).
pub fn wants_gradient(tensors: &[&Tensor]) -> bool {
    tensors.iter().any(|t| t.track_op())
}

#[derive(Debug, Clone)]
pub struct Linear {
    /// (out, in); `None` once `pack` has let it go (the packed copy holds the values).
    weight: Option<Tensor>,
    /// (out, in).
    dims: (usize, usize),
    bias: Option<Tensor>,
    /// W packed for `x W^T`, and W^T packed for a gradient's `g W`: made at first use.
    packed: OnceLock<Arc<Vec<f32>>>,
    packed_t: OnceLock<Arc<Vec<f32>>>,
    /// The bias's values for `simd_matmul`'s product, likewise made once.
    bias_values: OnceLock<Arc<Vec<f32>>>,
}

/// Weights `weight` (out, in) and `bias` (out), as in PyTorch and candle-nn.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let init = uniform_init(in_dim);
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let bias = vb.get_with_hints(out_dim, "bias", init)?;
    Ok(Linear::new(weight, Some(bias)))
}

/// A `Linear` without bias (weight `weight` only).
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", uniform_init(in_dim))?;
    Ok(Linear::new(weight, None))
}

/// PyTorch's default for a linear layer: U(-1/sqrt(in), 1/sqrt(in)).
fn uniform_init(in_dim: usize) -> Init {
    let bound = 1.0 / (in_dim as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

/// The values `make` computes, made once into `cell` (a failure leaves it empty).
fn made_once(cell: &OnceLock<Arc<Vec<f32>>>, make: impl FnOnce() -> Result<Vec<f32>>) -> Result<Arc<Vec<f32>>> {
    if let Some(values) = cell.get() {
        return Ok(values.clone());
    }
    let values = make()?;
    Ok(cell.get_or_init(|| Arc::new(values)).clone())
}

/// `m` (n, k) packed by `simd_matmul::pack`, made once into `cell`.
fn packed_once(cell: &OnceLock<Arc<Vec<f32>>>, m: impl FnOnce() -> Result<Tensor>) -> Result<Arc<Vec<f32>>> {
    made_once(cell, || {
        let m = m()?;
        let (n, k) = m.dims2()?;
        Ok(simd_matmul::pack(&m.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?, n, k))
    })
}

impl Linear {
    /// A layer over `weight` (out, in) and an optional `bias` (out).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        let dims = weight.dims2().unwrap_or((0, 0));
        Self { weight: Some(weight), dims, bias, packed: Default::default(), packed_t: Default::default(), bias_values: Default::default() }
    }

    /// (out, in): the weight, unpacked again if `pack` let it go.
    pub fn weight(&self) -> Result<Tensor> {
        match &self.weight {
            Some(w) => Ok(w.clone()),
            None => {
                let (n, k) = self.dims;
                let packed = self.packed.get().expect("a released weight is packed");
                Tensor::from_vec(simd_matmul::unpack(packed, n, k), (n, k), &candle_core::Device::Cpu)
            }
        }
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.dims.0
    }

    /// Packs the weight now and lets the plain one go, for inference with the browser's kernels;
    /// a variable (whose values may change) or a weight that is not f32 stays as it is.
    pub fn pack(&mut self) -> Result<()> {
        let Some(w) = &self.weight else { return Ok(()) };
        if !browser_kernels() || w.is_variable() || w.dtype() != DType::F32 {
            return Ok(());
        }
        self.packed_w()?;
        self.weight = None;
        Ok(())
    }

    /// x (rows, in) W^T + b, by the rules in the module's comment. The bias is added in the same
    /// op where the product is this crate's.
    fn product(&self, x: &Tensor) -> Result<Tensor> {
        let Some(weight) = &self.weight else {
            // Packed for inference (`pack`): the browser's product, or through the unpacked
            // weight where a gradient is wanted.
            if !x.track_op() && x.dtype() == DType::F32 {
                let bias = self.bias_f32()?;
                return simd_matmul::linear_packed(x, &self.packed_w()?, self.out_dim(), bias.as_deref().map(Vec::as_slice));
            }
            return Linear::new(self.weight()?, self.bias.clone()).product(x);
        };
        let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32;
        // A variable's values may change: never packed (the frozen-weight assumption).
        let packable = !weight.is_variable() && browser_kernels();
        let frozen_bias = self.bias.as_ref().is_none_or(|b| !b.track_op() && b.dtype() == DType::F32);
        if f32s && frozen_bias && x.track_op() && !weight.track_op() {
            let packed = if packable {
                let w = self.packed_w()?;
                let wt = packed_once(&self.packed_t, || weight.t()?.contiguous())?;
                Some((w, wt))
            } else {
                None
            };
            return kernels::matmul_frozen_weight(x, weight, self.bias.as_ref(), packed);
        }
        // A decode step's single row too: `simd_matmul::row` keeps several sums in flight
        // (bench/ab_stages.mjs, decode a token, candle's gemm -> this: `tiny` 0.92 -> 0.71 ms,
        // `seed` 24.4 -> 19.9 ms; with relaxed SIMD 0.99 -> 0.72 and 22.1 -> 15.1 ms).
        if packable && f32s && frozen_bias && !wants_gradient(&[x, weight]) {
            let bias = self.bias_f32()?;
            return simd_matmul::linear_packed(x, &self.packed_w()?, self.out_dim(), bias.as_deref().map(Vec::as_slice));
        }
        let y = x.matmul(&weight.t()?)?;
        match &self.bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }

    fn packed_w(&self) -> Result<Arc<Vec<f32>>> {
        packed_once(&self.packed, || self.weight())
    }

    fn bias_f32(&self) -> Result<Option<Arc<Vec<f32>>>> {
        self.bias.as_ref().map(|b| made_once(&self.bias_values, || b.to_dtype(DType::F32)?.to_vec1())).transpose()
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (in_dim, lead) = match dims.split_last() {
            Some((&in_dim, lead)) => (in_dim, lead),
            None => bail!("a linear layer needs at least one dimension"),
        };
        let rows: usize = lead.iter().product();
        let y = self.product(&x.reshape((rows, in_dim))?)?;
        let mut out_dims = lead.to_vec();
        out_dims.push(self.out_dim());
        y.reshape(out_dims)
    }
}
