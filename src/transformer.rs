//! The parts both transformers share: multi-head self-attention, the MLP, and a pre-LN block.
//! The vision encoder runs them without a mask; the LLM with a causal mask and a KV cache.

use std::sync::{Arc, OnceLock};

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::config::LAYER_NORM_EPS;

/// candle's fused LayerNorm kernel has no backward pass. Where a gradient is wanted (the input or
/// a weight is tracked) the LayerNorm of `kernels` runs instead, which has one; inference keeps
/// candle's.
fn wants_gradient(tensors: &[&Tensor]) -> bool {
    tensors.iter().any(|t| t.track_op())
}

/// `y = x W^T + b` over the last dimension. Unlike candle-nn's `Linear`, a (b, t, in) input is
/// flattened to one (b * t, in) matrix product instead of b small ones against a broadcast
/// weight: the same result, and a much cheaper backward pass when training.
///
/// In the browser, inference (no gradient wanted, a weight that is not a training variable) runs
/// through `simd_matmul`, with the weight packed at first use and kept. Training through a
/// frozen layer (the input wants a gradient, the weight does not) computes the input's gradient
/// only (`kernels::matmul_frozen_weight`); in the browser both its products run through
/// `simd_matmul` too, on the threads of the threaded build.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    /// W packed for `x W^T`, and W^T packed for a gradient's `g W`: made at first use.
    packed: OnceLock<Arc<Vec<f32>>>,
    packed_t: OnceLock<Arc<Vec<f32>>>,
    /// The bias's values for `simd_matmul`'s product, likewise made once.
    bias_values: OnceLock<Arc<Vec<f32>>>,
}

/// Weights `weight` (out, in) and `bias` (out), as in PyTorch and candle-nn.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (in_dim as f64).sqrt();
    let init = Init::Uniform { lo: -bound, up: bound };
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let bias = Some(vb.get_with_hints(out_dim, "bias", init)?);
    Ok(Linear { weight, bias, packed: Default::default(), packed_t: Default::default(), bias_values: Default::default() })
}

/// A `Linear` without bias (weight `weight` only).
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (in_dim as f64).sqrt();
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", Init::Uniform { lo: -bound, up: bound })?;
    Ok(Linear { weight, bias: None, packed: Default::default(), packed_t: Default::default(), bias_values: Default::default() })
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
        Ok(crate::simd_matmul::pack(&m.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?, n, k))
    })
}

impl Linear {
    /// (out, in).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// x (rows, in) W^T + b: `simd_matmul` in the browser when no gradient is wanted (or only
    /// the input's), else candle's. The bias is added in the same op where
    /// the product is this crate's (`matmul_frozen_weight`, `linear_packed`).
    fn product(&self, x: &Tensor) -> Result<Tensor> {
        let f32s = x.dtype() == DType::F32 && self.weight.dtype() == DType::F32;
        let in_browser = cfg!(target_arch = "wasm32");
        let frozen_bias = self.bias.as_ref().is_none_or(|b| !b.track_op() && b.dtype() == DType::F32);
        if f32s && frozen_bias && x.track_op() && !self.weight.track_op() {
            let packed = if in_browser {
                let w = self.packed_once_w()?;
                let wt = packed_once(&self.packed_t, || self.weight.t()?.contiguous())?;
                Some((w, wt))
            } else {
                None
            };
            return crate::kernels::matmul_frozen_weight(x, &self.weight, self.bias.as_ref(), packed);
        }
        // A decode step's single row too: `simd_matmul::row` keeps several sums in flight
        // (bench/ab_stages.mjs, decode a token, candle's gemm -> this: `tiny` 0.92 -> 0.71 ms,
        // `seed` 24.4 -> 19.9 ms; with relaxed SIMD 0.99 -> 0.72 and 22.1 -> 15.1 ms).
        if in_browser && f32s && frozen_bias && !wants_gradient(&[x, &self.weight]) {
            let bias = self.bias.as_ref().map(|b| made_once(&self.bias_values, || b.to_dtype(DType::F32)?.to_vec1())).transpose()?;
            return crate::simd_matmul::linear_packed(x, &self.packed_once_w()?, self.weight.dim(0)?, bias.as_deref().map(Vec::as_slice));
        }
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }

    fn packed_once_w(&self) -> Result<Arc<Vec<f32>>> {
        packed_once(&self.packed, || Ok(self.weight.clone()))
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (in_dim, lead) = match dims.split_last() {
            Some((&in_dim, lead)) => (in_dim, lead),
            None => candle_core::bail!("a linear layer needs at least one dimension"),
        };
        let rows: usize = lead.iter().product();
        let y = self.product(&x.reshape((rows, in_dim))?)?;
        let mut out_dims = lead.to_vec();
        out_dims.push(self.weight.dim(0)?);
        y.reshape(out_dims)
    }
}

pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

pub fn layer_norm(width: usize, vb: VarBuilder) -> Result<LayerNorm> {
    Ok(LayerNorm {
        weight: vb.get_with_hints(width, "weight", Init::Const(1.0))?,
        bias: vb.get_with_hints(width, "bias", Init::Const(0.0))?,
    })
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let eps = LAYER_NORM_EPS as f32;
        if wants_gradient(&[x, &self.weight, &self.bias]) || !x.is_contiguous() {
            crate::kernels::layer_norm(x, &self.weight, &self.bias, eps)
        } else {
            candle_nn::ops::layer_norm(x, &self.weight, &self.bias, eps)
        }
    }
}

/// Keys and values of the positions already seen by one attention layer: (b, heads, s, head_dim).
pub type LayerCache = Option<(Tensor, Tensor)>;

pub struct Attention {
    qkv: Linear,
    proj: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    pub fn new(width: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            qkv: linear(width, 3 * width, vb.pp("qkv"))?,
            proj: linear(width, width, vb.pp("proj"))?,
            heads,
            head_dim: width / heads,
        })
    }

    /// x: (b, t, c). `mask` is added to the scores, shape (t, s). With a cache, the new keys and
    /// values are appended to it and the queries attend over all s = cached + t positions.
    /// Returns the output (b, t, c) and the attention weights (b, heads, t, s).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut LayerCache>,
    ) -> Result<(Tensor, Tensor)> {
        let (b, t, c) = x.dims3()?;
        // (b, t, 3c) -> (3, b, heads, t, head_dim)
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, t, 3, self.heads, self.head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let mut k = qkv.get(1)?.contiguous()?;
        let mut v = qkv.get(2)?.contiguous()?;
        if let Some(cache) = cache {
            if let Some((past_k, past_v)) = cache.as_ref() {
                k = Tensor::cat(&[past_k, &k], 2)?;
                v = Tensor::cat(&[past_v, &v], 2)?;
            }
            *cache = Some((k.clone(), v.clone()));
        }
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        // In the browser, a block of queries (not a decode step's single row) without gradients:
        // this crate's products, split among threads (`attention`).
        if cfg!(target_arch = "wasm32") && t > 1 && q.dtype() == DType::F32 && !wants_gradient(&[&q, &k, &v]) {
            let (y, weights) = crate::attention::attend(&q, &k, &v, scale as f32, mask)?;
            let y = y.transpose(1, 2)?.reshape((b, t, c))?;
            return Ok((self.proj.forward(&y)?, weights));
        }
        let scores = q.matmul(&k.t()?)?; // (b, heads, t, s)
        let weights = crate::kernels::scaled_masked_softmax(&scores, scale as f32, mask)?;
        let y = weights.matmul(&v)?; // (b, heads, t, head_dim)
        let y = y.transpose(1, 2)?.reshape((b, t, c))?;
        Ok((self.proj.forward(&y)?, weights))
    }
}

pub struct Mlp {
    fc: Linear,
    proj: Linear,
}

impl Mlp {
    pub fn new(width: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self { fc: linear(width, hidden, vb.pp("fc"))?, proj: linear(hidden, width, vb.pp("proj"))? })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // GPT-2's tanh approximation of GELU.
        let h = self.fc.forward(x)?;
        let h = crate::kernels::gelu(&h)?;
        self.proj.forward(&h)
    }
}

/// x + attn(ln_1(x)), then x + mlp(ln_2(x)).
pub struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    pub fn new(width: usize, heads: usize, mlp_width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            ln_1: layer_norm(width, vb.pp("ln_1"))?,
            attn: Attention::new(width, heads, vb.pp("attn"))?,
            ln_2: layer_norm(width, vb.pp("ln_2"))?,
            mlp: Mlp::new(width, mlp_width, vb.pp("mlp"))?,
        })
    }

    /// Returns the block's output (b, t, c) and its attention weights (b, heads, t, s).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut LayerCache>,
    ) -> Result<(Tensor, Tensor)> {
        let (attended, weights) = self.attn.forward(&self.ln_1.forward(x)?, mask, cache)?;
        let x = (x + attended)?;
        let x = (&x + self.mlp.forward(&self.ln_2.forward(&x)?)?)?;
        Ok((x, weights))
    }
}

/// Additive causal mask for `t` new queries at positions `past..past + t` over `past + t` keys:
/// 0 where a query may look, -inf at later positions. Shape (t, past + t).
pub fn causal_mask(t: usize, past: usize, device: &candle_core::Device) -> Result<Tensor> {
    let s = past + t;
    let values: Vec<f32> = (0..t)
        .flat_map(|i| (0..s).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(values, (t, s), device)
}
