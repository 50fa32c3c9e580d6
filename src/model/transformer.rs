//! The parts both transformers share: multi-head self-attention, the MLP, and a pre-LN block.
//! The vision encoder runs them without a mask; the LLM with a causal mask and a KV cache.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::model::config::LAYER_NORM_EPS;
use crate::ops::linear::{linear, Linear};
use crate::ops::{activation, attention, norm};

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
        norm::layer_norm(x, &self.weight, &self.bias, LAYER_NORM_EPS as f32)
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
        let (y, weights) = attention::attention(&q, &k, &v, scale as f32, mask)?; // (b, heads, t, head_dim)
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
        let h = activation::gelu_tanh(&h)?;
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
