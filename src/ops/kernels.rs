//! Softmax, LayerNorm and GELU as single passes over rows of the last dimension, with fused
//! backward passes for training.
//!
//! candle's fused softmax and LayerNorm kernels have no backward pass, and the composed,
//! differentiable versions cost a dozen full-size temporaries per call (GELU's backward too).
//! Each op here runs its forward and its backward as one pass over rows of the last dimension,
//! natively on the machine's threads, in the browser on the pool's threads of the threaded build
//! (else on one). Attention's softmax takes its scale and mask in the same pass
//! (`scaled_masked_softmax`). Softmax and GELU use `fast_math`'s
//! vectorisable exp and tanh, so inference runs them too; inference keeps candle's LayerNorm.
//!
//! `matmul_frozen_weight` is `x W^T` for a weight that takes no gradient: candle's matmul
//! backward computes both operands' gradients, so through a frozen layer a third of the work
//! (the weight's gradient) would be computed and dropped.

use std::sync::Arc;

use crate::ops::{fast_math, simd_matmul};
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape, Tensor};

/// The contiguous f32 values behind `storage` and `layout`.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op} needs a contiguous f32 input"),
    }
}

/// Splits `out` into chunks of whole rows of `row` values and runs `f(first_row, chunk)` on
/// each: natively on the machine's threads when there is enough work, in the threaded browser
/// build on the pool's (from 2^15 values: below that, waking the pool would cost more than
/// it saves), else on one thread.
fn for_row_chunks(out: &mut [f32], row: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = out.len() / row.max(1);
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    {
        use rayon::prelude::*;
        let threads = crate::ops::simd_matmul::pool_threads().min(rows.max(1));
        if threads > 1 && out.len() >= 1 << 15 {
            let per = rows.div_ceil(threads);
            out.par_chunks_mut(per * row).enumerate().for_each(|(i, chunk)| f(i * per, chunk));
            return;
        }
    }
    let threads = if cfg!(target_arch = "wasm32") || out.len() < 1 << 16 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(rows.max(1))
    };
    if threads <= 1 {
        f(0, out);
        return;
    }
    let per = rows.div_ceil(threads);
    std::thread::scope(|s| {
        for (i, chunk) in out.chunks_mut(per * row).enumerate() {
            let f = &f;
            s.spawn(move || f(i * per, chunk));
        }
    });
}

/// `f32::max` as a comparison: the same result (a NaN `v` is skipped), but in wasm `f32::max`
/// is a call to `fmaxf`.
#[inline(always)]
fn max_ignoring_nan(m: f32, v: f32) -> f32 {
    if v > m {
        v
    } else {
        m
    }
}

/// One row's softmax, in place.
#[inline(always)]
fn softmax_in_place(y: &mut [f32]) {
    let max = y.iter().copied().fold(f32::NEG_INFINITY, max_ignoring_nan);
    for y in y.iter_mut() {
        *y = fast_math::exp(*y - max);
    }
    let inv = 1.0 / y.iter().sum::<f32>();
    y.iter_mut().for_each(|y| *y *= inv);
}

/// Softmax over the last dimension (`scaled_masked_softmax` with a scale of 1 and no mask: the
/// same values as a softmax of its own).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    scaled_masked_softmax(x, 1.0, None)
}

struct SoftmaxBackward;

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax-backward"
    }

    /// dx = y * (g - sum(g * y)) per row.
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let n = l1.dims().last().copied().unwrap_or(1);
        let mut out = vec![0f32; y.len()];
        for_row_chunks(&mut out, n, |first, chunk| {
            for (r, dx) in chunk.chunks_mut(n).enumerate() {
                let at = (first + r) * n;
                let (yr, gr) = (&y[at..at + n], &g[at..at + n]);
                let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                for ((d, &yv), &gv) in dx.iter_mut().zip(yr).zip(gr) {
                    *d = yv * (gv - dot);
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `softmax(x * scale + mask)` over the last dimension in one pass: attention's scaling, its
/// additive mask and its softmax, which as three ops cost three full-size passes and
/// temporaries forward and two more backward. `mask` (0 or -inf) is broadcast over `x`'s
/// leading dimensions (shapes such as (t, s) or (b, 1, t, s) against (b, heads, t, s)) and takes
/// no gradient. The result is the same, bit for bit, as `softmax_last_dim(x * scale + mask)`.
pub fn scaled_masked_softmax(x: &Tensor, scale: f32, mask: Option<&Tensor>) -> Result<Tensor> {
    let op = ScaledMaskedSoftmax { scale, mask: match mask {
        Some(m) => Some(MaskRows::new(m, x.dims())?),
        None => None,
    } };
    x.contiguous()?.apply_op1(op)
}

/// One row of attention's weights from its scores, in place: softmax(y * scale + mask).
pub(crate) fn scale_mask_softmax(y: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    match mask {
        Some(mask) => {
            for (y, &m) in y.iter_mut().zip(mask) {
                *y = *y * scale + m;
            }
        }
        None => {
            for y in y.iter_mut() {
                *y *= scale;
            }
        }
    }
    softmax_in_place(y);
}

/// A contiguous f32 mask and how a row of the scores finds its row of the mask.
pub(crate) struct MaskRows {
    values: Vec<f32>,
    /// Per leading dimension of the scores: its size and the mask's row stride along it (0
    /// where the mask is broadcast).
    dims: Vec<(usize, usize)>,
}

impl MaskRows {
    pub(crate) fn new(mask: &Tensor, x_dims: &[usize]) -> Result<Self> {
        let m_dims = mask.dims();
        let n = x_dims.len();
        if n == 0 || m_dims.len() > n || m_dims.last() != x_dims.last() {
            bail!("attention mask {m_dims:?} does not fit scores {x_dims:?}");
        }
        // The mask's dims, right-aligned against the scores' and padded with 1s.
        let padded: Vec<usize> = std::iter::repeat_n(1, n - m_dims.len()).chain(m_dims.iter().copied()).collect();
        let mut dims = vec![(0, 0); n - 1];
        let mut stride = 1; // in rows of the mask
        for d in (0..n - 1).rev() {
            if padded[d] != 1 && padded[d] != x_dims[d] {
                bail!("attention mask {m_dims:?} does not fit scores {x_dims:?}");
            }
            dims[d] = (x_dims[d], if padded[d] == 1 { 0 } else { stride });
            stride *= padded[d];
        }
        let values = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Self { values, dims })
    }

    /// The mask's row for row `r` of the scores.
    pub(crate) fn row(&self, mut r: usize, len: usize) -> &[f32] {
        let mut at = 0;
        for &(size, stride) in self.dims.iter().rev() {
            at += (r % size) * stride;
            r /= size;
        }
        &self.values[at * len..(at + 1) * len]
    }
}

struct ScaledMaskedSoftmax {
    scale: f32,
    mask: Option<MaskRows>,
}

impl CustomOp1 for ScaledMaskedSoftmax {
    fn name(&self) -> &'static str {
        "scaled-masked-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout, self.name())?;
        let n = layout.dims().last().copied().unwrap_or(1);
        let mut out = vec![0f32; x.len()];
        for_row_chunks(&mut out, n, |first, chunk| {
            for (r, y) in chunk.chunks_mut(n).enumerate() {
                y.copy_from_slice(&x[(first + r) * n..(first + r + 1) * n]);
                scale_mask_softmax(y, self.scale, self.mask.as_ref().map(|m| m.row(first + r, n)));
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = y.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBackward)?;
        Ok(Some(if self.scale == 1.0 { dx } else { (dx * self.scale as f64)? }))
    }
}

/// LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, LayerNormOp { eps })
}

struct LayerNormOp {
    eps: f32,
}
struct LayerNormBackward {
    eps: f32,
}

/// Mean and 1 / standard deviation of one row.
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "train-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = values(s1, l1, self.name())?;
        let (w, b) = (values(s2, l2, self.name())?, values(s3, l3, self.name())?);
        let n = w.len();
        if l1.dims().last() != Some(&n) || b.len() != n {
            bail!("layer norm: input {:?}, weight {n}, bias {}", l1.dims(), b.len());
        }
        let mut out = vec![0f32; x.len()];
        for_row_chunks(&mut out, n, |first, chunk| {
            for (r, y) in chunk.chunks_mut(n).enumerate() {
                let xr = &x[(first + r) * n..(first + r + 1) * n];
                let (mean, rstd) = moments(xr, self.eps);
                for i in 0..n {
                    y[i] = (xr[i] - mean) * rstd * w[i] + b[i];
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // One pass gives rows + 2 rows: dx, then d weight, then d bias.
        let n = weight.dim(0)?;
        let rows = x.elem_count() / n;
        let all = x.apply_op3_no_bwd(weight, &grad.contiguous()?, &LayerNormBackward { eps: self.eps })?;
        let dx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = all.narrow(0, rows, 1)?.reshape(n)?;
        let db = all.narrow(0, rows + 1, 1)?.reshape(n)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "train-layer-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?, values(s3, l3, self.name())?);
        let n = w.len();
        let rows = x.len() / n;
        let mut out = vec![0f32; x.len() + 2 * n];
        let (dx_all, dwb) = out.split_at_mut(x.len());
        for_row_chunks(dx_all, n, |first, chunk| {
            for (r, dx) in chunk.chunks_mut(n).enumerate() {
                let at = (first + r) * n;
                let (xr, gr) = (&x[at..at + n], &g[at..at + n]);
                let (mean, rstd) = moments(xr, self.eps);
                // dxhat = g * w; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
                let (mut m1, mut m2) = (0f32, 0f32);
                for i in 0..n {
                    let xhat = (xr[i] - mean) * rstd;
                    let d = gr[i] * w[i];
                    m1 += d;
                    m2 += d * xhat;
                }
                let (m1, m2) = (m1 / n as f32, m2 / n as f32);
                for i in 0..n {
                    let xhat = (xr[i] - mean) * rstd;
                    dx[i] = rstd * (gr[i] * w[i] - m1 - xhat * m2);
                }
            }
        });
        let (dw, db) = dwb.split_at_mut(n);
        for r in 0..rows {
            let (xr, gr) = (&x[r * n..(r + 1) * n], &g[r * n..(r + 1) * n]);
            let (mean, rstd) = moments(xr, self.eps);
            for i in 0..n {
                dw[i] += gr[i] * (xr[i] - mean) * rstd;
                db[i] += gr[i];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, n))))
    }
}

/// GELU, tanh approximation (GPT-2's, and candle's `gelu`).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu)
}

struct Gelu;
struct GeluBackward;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout, self.name())?;
        let mut out = vec![0f32; x.len()];
        for_row_chunks(&mut out, 1, |first, chunk| {
            for (y, &v) in chunk.iter_mut().zip(&x[first..]) {
                *y = 0.5 * v * (1.0 + fast_math::tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluBackward)?))
    }
}

impl CustomOp2 for GeluBackward {
    fn name(&self) -> &'static str {
        "gelu-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?);
        let mut out = vec![0f32; x.len()];
        for_row_chunks(&mut out, 1, |first, chunk| {
            for ((d, &v), &gv) in chunk.iter_mut().zip(&x[first..]).zip(&g[first..]) {
                let t = fast_math::tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
                let dt = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
                *d = gv * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * dt);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// The exact GELU, x (1 + erf(x / sqrt 2)) / 2, with `fast_math::erf`, and no backward pass:
/// for inference (the projector's MLP in the browser), where candle's `gelu_erf` was 13% of
/// the projection's time (Chromium's profiler, `tiny`). Within 5e-7 |x| of candle's.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&GeluErf)
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout, self.name())?;
        let mut out = vec![0f32; x.len()];
        for_row_chunks(&mut out, 1, |first, chunk| {
            for (y, &v) in chunk.iter_mut().zip(&x[first..]) {
                *y = 0.5 * v * (1.0 + fast_math::erf(v * std::f32::consts::FRAC_1_SQRT_2));
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `x W^T + bias` for x (rows, in) and a weight (out, in) and bias (out) that are not trained:
/// the backward pass computes x's gradient only (`grad W`). With `packed` (W and W^T packed by
/// `simd_matmul::pack`) both products run through `simd_matmul` (split among threads in the
/// threaded browser build), else through candle's matmul.
pub fn matmul_frozen_weight(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    packed: Option<(Arc<Vec<f32>>, Arc<Vec<f32>>)>,
) -> Result<Tensor> {
    if weight.dtype() != DType::F32 || x.dtype() != DType::F32 {
        bail!("matmul_frozen_weight takes f32 tensors, got {:?} and {:?}", x.dtype(), weight.dtype());
    }
    let bias = bias.map(|b| b.to_dtype(DType::F32)?.to_vec1::<f32>()).transpose()?;
    if bias.as_ref().is_some_and(|b| b.len() != weight.dim(0).unwrap_or(0)) {
        bail!("matmul_frozen_weight: a bias of {} values for {:?} weights", bias.map_or(0, |b| b.len()), weight.dims());
    }
    x.contiguous()?.apply_op1(FrozenWeightMatmul { weight: weight.detach(), bias, packed })
}

struct FrozenWeightMatmul {
    /// (out, in).
    weight: Tensor,
    /// Added to every row of the product (frozen too).
    bias: Option<Vec<f32>>,
    packed: Option<(Arc<Vec<f32>>, Arc<Vec<f32>>)>,
}

impl CustomOp1 for FrozenWeightMatmul {
    fn name(&self) -> &'static str {
        "frozen-weight-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout, self.name())?;
        let (rows, k) = layout.shape().dims2()?;
        let (n, k_w) = self.weight.dims2()?;
        if k != k_w {
            bail!("frozen-weight-matmul: input width {k}, weight width {k_w}");
        }
        let out = match &self.packed {
            Some((w, _)) => {
                let mut out = vec![0f32; rows * n];
                simd_matmul::matmul_rows(x, rows, k, w, n, &mut out);
                out
            }
            None => Tensor::from_slice(x, (rows, k), &Device::Cpu)?.matmul(&self.weight.t()?)?.flatten_all()?.to_vec1()?,
        };
        let mut out = out;
        if let Some(bias) = &self.bias {
            simd_matmul::add_bias_rows(&mut out, bias);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, n))))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(match &self.packed {
            // g W = g (W^T)^T: the packed product with W^T as its weight.
            Some((_, wt)) => simd_matmul::linear_packed(grad, wt, self.weight.dim(1)?, None)?,
            None => grad.matmul(&self.weight)?,
        }))
    }
}
