//! The parts every transformer here is made of: a norm, multi-head self-attention, the MLP, and
//! the pre-norm block that joins them. The vision encoder runs them without a mask; the LLM with
//! a causal mask and a KV cache.
//!
//! Two layouts share these parts (`BlockLayout`): GPT-2's and CLIP's (LayerNorm, fused qkv with
//! biases, GELU MLP), and Llama's (RMSNorm, rotary positions on queries and keys, key/value heads
//! shared by groups of query heads, SwiGLU MLP, no biases). A Llama checkpoint's separate q, k
//! and v (and gate and up) matrices are stacked into one at load (`model::weights`), so both run
//! one product where the lesson draws one arrow.

use candle_core::{bail, Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::ops::linear::{linear, linear_no_bias, Linear};
use crate::ops::{activation, attention, norm};

/// What a block is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockLayout {
    pub width: usize,
    /// Query heads; `width` divides evenly.
    pub heads: usize,
    /// Key/value heads (equal to `heads` unless grouped).
    pub kv_heads: usize,
    pub mlp_width: usize,
    pub norm: NormKind,
    pub eps: f64,
    /// Biases on the attention's and the MLP's products (GPT-2, CLIP, SigLIP: yes; Llama: no).
    pub bias: bool,
    pub mlp: MlpKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    LayerNorm,
    Rms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlpKind {
    /// Linear, GELU (tanh approximation), Linear.
    Gelu,
    /// down(silu(gate(x)) * up(x)).
    SwiGlu,
}

impl BlockLayout {
    /// GPT-2's and CLIP's block.
    pub fn gpt(width: usize, heads: usize, mlp_width: usize, eps: f64) -> Self {
        Self { width, heads, kv_heads: heads, mlp_width, norm: NormKind::LayerNorm, eps, bias: true, mlp: MlpKind::Gelu }
    }

    /// Llama's block.
    pub fn llama(width: usize, heads: usize, kv_heads: usize, mlp_width: usize, eps: f64) -> Self {
        Self { width, heads, kv_heads, mlp_width, norm: NormKind::Rms, eps, bias: false, mlp: MlpKind::SwiGlu }
    }

    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }
}

/// LayerNorm (weight and bias) or RMSNorm (weight only) over the last dimension.
pub struct Norm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f32,
}

/// A norm of `kind` over `width` values: weights `weight` (and `bias` for LayerNorm).
pub fn norm(kind: NormKind, width: usize, eps: f64, vb: VarBuilder) -> Result<Norm> {
    let weight = vb.get_with_hints(width, "weight", Init::Const(1.0))?;
    let bias = match kind {
        NormKind::LayerNorm => Some(vb.get_with_hints(width, "bias", Init::Const(0.0))?),
        NormKind::Rms => None,
    };
    Ok(Norm { weight, bias, eps: eps as f32 })
}

impl Module for Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(bias) => norm::layer_norm(x, &self.weight, bias, self.eps),
            None => norm::rms_norm(x, &self.weight, self.eps),
        }
    }
}

/// Keys and values of the positions already seen by one attention layer:
/// (b, kv_heads, s, head_dim), keys after their rotary positions.
pub type LayerCache = Option<(Tensor, Tensor)>;

/// Rotary position embedding (RoFormer; Llama's "rotate half" layout): each query and key has its
/// two halves rotated by position * inv_freq[i], with inv_freq[i] = base^(-2i / head_dim).
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    /// inv_freq computed in f32 as nanoVLM's and transformers' `1.0 / base ** (arange(0, d, 2) / d)`.
    pub fn new(head_dim: usize, base: f64) -> Self {
        let inv_freq = (0..head_dim / 2).map(|i| 1.0 / (base as f32).powf((2 * i) as f32 / head_dim as f32)).collect();
        Self { inv_freq }
    }

    pub fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// cos and sin of position * inv_freq for `positions` (any shape, u32): (..., head_dim / 2).
    pub fn tables(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let inv_freq = Tensor::from_slice(&self.inv_freq, half, positions.device())?;
        let angles = positions.to_dtype(candle_core::DType::F32)?.unsqueeze(D::Minus1)?.broadcast_mul(&inv_freq)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}

pub struct Attention {
    /// q, k and v side by side: (heads + 2 kv_heads) * head_dim outputs.
    qkv: Linear,
    proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    pub fn new(layout: &BlockLayout, vb: VarBuilder) -> Result<Self> {
        let (w, hd) = (layout.width, layout.head_dim());
        let qkv_width = (layout.heads + 2 * layout.kv_heads) * hd;
        let make = if layout.bias { linear } else { linear_no_bias };
        Ok(Self {
            qkv: make(w, qkv_width, vb.pp("qkv"))?,
            proj: make(layout.heads * hd, w, vb.pp("proj"))?,
            heads: layout.heads,
            kv_heads: layout.kv_heads,
            head_dim: hd,
        })
    }

    /// x: (b, t, c). `mask` is added to the scores, shape (t, s). `rope`: the cos and sin tables
    /// of the t new positions. With a cache, the new keys and values are appended to it and the
    /// queries attend over all s = cached + t positions. Returns the output (b, t, c) and the
    /// attention weights (b, heads, t, s).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut LayerCache>,
        rope: Option<&(Tensor, Tensor)>,
    ) -> Result<(Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (h, kv, hd) = (self.heads, self.kv_heads, self.head_dim);
        // (b, t, (h + 2 kv) hd) -> (b, h + 2 kv, t, hd)
        let qkv = self.qkv.forward(x)?.reshape((b, t, h + 2 * kv, hd))?.transpose(1, 2)?;
        let mut q = qkv.narrow(1, 0, h)?.contiguous()?;
        let mut k = qkv.narrow(1, h, kv)?.contiguous()?;
        let mut v = qkv.narrow(1, h + kv, kv)?.contiguous()?;
        if let Some((cos, sin)) = rope {
            q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
            k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        }
        if let Some(cache) = cache {
            if let Some((past_k, past_v)) = cache.as_ref() {
                k = Tensor::cat(&[past_k, &k], 2)?;
                v = Tensor::cat(&[past_v, &v], 2)?;
            }
            *cache = Some((k.clone(), v.clone()));
        }
        let (k, v) = (repeat_kv(&k, h / kv)?, repeat_kv(&v, h / kv)?);
        let scale = 1.0 / (hd as f64).sqrt();
        let (y, weights) = attention::attention(&q, &k, &v, scale as f32, mask)?; // (b, h, t, hd)
        let y = y.transpose(1, 2)?.reshape((b, t, h * hd))?;
        Ok((self.proj.forward(&y)?, weights))
    }
}

/// (b, kv, s, d) -> (b, kv * groups, s, d): query head i reads key/value head i / groups (as
/// PyTorch's `repeat_interleave(groups, dim=1)`).
fn repeat_kv(x: &Tensor, groups: usize) -> Result<Tensor> {
    if groups == 1 {
        return Ok(x.clone());
    }
    let (b, kv, s, d) = x.dims4()?;
    x.unsqueeze(2)?.expand((b, kv, groups, s, d))?.reshape((b, kv * groups, s, d))
}

pub enum Mlp {
    Gelu { fc: Linear, proj: Linear },
    /// `fc` holds gate and up side by side (2 x mlp_width outputs).
    SwiGlu { fc: Linear, proj: Linear },
}

impl Mlp {
    pub fn new(layout: &BlockLayout, vb: VarBuilder) -> Result<Self> {
        let (w, m) = (layout.width, layout.mlp_width);
        let make = if layout.bias { linear } else { linear_no_bias };
        Ok(match layout.mlp {
            MlpKind::Gelu => Self::Gelu { fc: make(w, m, vb.pp("fc"))?, proj: make(m, w, vb.pp("proj"))? },
            MlpKind::SwiGlu => Self::SwiGlu { fc: make(w, 2 * m, vb.pp("fc"))?, proj: make(m, w, vb.pp("proj"))? },
        })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            // GPT-2's and SigLIP's tanh approximation of GELU.
            Self::Gelu { fc, proj } => proj.forward(&activation::gelu_tanh(&fc.forward(x)?)?),
            Self::SwiGlu { fc, proj } => {
                let h = fc.forward(x)?;
                let m = h.dim(D::Minus1)? / 2;
                let gated = (h.narrow(D::Minus1, 0, m)?.silu()? * h.narrow(D::Minus1, m, m)?)?;
                proj.forward(&gated)
            }
        }
    }
}

/// x + attn(ln_1(x)), then x + mlp(ln_2(x)).
pub struct Block {
    ln_1: Norm,
    attn: Attention,
    ln_2: Norm,
    mlp: Mlp,
}

impl Block {
    pub fn new(layout: &BlockLayout, vb: VarBuilder) -> Result<Self> {
        if layout.heads == 0 || layout.kv_heads == 0 || layout.width % layout.heads != 0 || layout.heads % layout.kv_heads != 0 {
            bail!("a block of width {} cannot have {} heads sharing {} key/value heads", layout.width, layout.heads, layout.kv_heads);
        }
        Ok(Self {
            ln_1: norm(layout.norm, layout.width, layout.eps, vb.pp("ln_1"))?,
            attn: Attention::new(layout, vb.pp("attn"))?,
            ln_2: norm(layout.norm, layout.width, layout.eps, vb.pp("ln_2"))?,
            mlp: Mlp::new(layout, vb.pp("mlp"))?,
        })
    }

    /// The block's linear layers, for `Linear::pack`.
    pub fn linears_mut(&mut self) -> [&mut Linear; 4] {
        let (fc, proj) = match &mut self.mlp {
            Mlp::Gelu { fc, proj } | Mlp::SwiGlu { fc, proj } => (fc, proj),
        };
        [&mut self.attn.qkv, &mut self.attn.proj, fc, proj]
    }

    /// Returns the block's output (b, t, c) and its attention weights (b, heads, t, s).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut LayerCache>,
        rope: Option<&(Tensor, Tensor)>,
    ) -> Result<(Tensor, Tensor)> {
        let (attended, weights) = self.attn.forward(&self.ln_1.forward(x)?, mask, cache, rope)?;
        let x = (x + attended)?;
        let x = (&x + self.mlp.forward(&self.ln_2.forward(&x)?)?)?;
        Ok((x, weights))
    }
}

/// Runs `x` through `blocks` in order; each block's attention weights are kept when asked for.
/// `caches`, if given, holds one layer cache per block.
pub fn run_blocks(
    blocks: &[Block],
    mut x: Tensor,
    mask: Option<&Tensor>,
    mut caches: Option<&mut [LayerCache]>,
    rope: Option<&(Tensor, Tensor)>,
    want_attentions: bool,
) -> Result<(Tensor, Vec<Tensor>)> {
    let mut attentions = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let cache = caches.as_deref_mut().map(|c| &mut c[i]);
        let (y, weights) = block.forward(&x, mask, cache, rope)?;
        x = y;
        if want_attentions {
            attentions.push(weights);
        }
    }
    Ok((x, attentions))
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
