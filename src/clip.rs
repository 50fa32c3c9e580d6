//! A tiny CLIP, to pretrain the vision encoder before it is frozen (stage a): the ViT's CLS
//! output and a small text encoder's output are projected into one space and trained with the
//! symmetric InfoNCE loss (Radford et al., 2021) so that each image is nearest its own caption.
//! The text encoder is kept only to measure zero-shot retrieval; the VLM never uses it.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{embedding, Embedding, Init, VarBuilder};

use crate::vision_encoder::VisionOutput;
use crate::transformer::{causal_mask, layer_norm, linear_no_bias, Block, LayerNorm, Linear};

#[derive(Debug, Clone, Copy)]
pub struct ClipConfig {
    pub vocab_size: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub max_len: usize,
    /// Width of the shared image-text space.
    pub embed_dim: usize,
}

/// Causal like CLIP's: the output is the hidden state at the `<|eos|>` that ends each text.
pub struct TextEncoder {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
}

impl TextEncoder {
    pub fn new(cfg: &ClipConfig, vb: VarBuilder) -> Result<Self> {
        let blocks = (0..cfg.layers)
            .map(|i| Block::new(cfg.width, cfg.heads, 4 * cfg.width, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self {
            wte: embedding(cfg.vocab_size, cfg.width, vb.pp("wte"))?,
            wpe: embedding(cfg.max_len, cfg.width, vb.pp("wpe"))?,
            blocks,
            ln_f: layer_norm(cfg.width, vb.pp("ln_f"))?,
        })
    }

    /// ids (b, t) and the position of each row's `<|eos|>` -> (b, width).
    pub fn forward(&self, ids: &Tensor, eos_positions: &[usize]) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let positions = Tensor::arange(0u32, t as u32, ids.device())?;
        let mut x = self.wte.forward(ids)?.broadcast_add(&self.wpe.forward(&positions)?)?;
        let mask = causal_mask(t, 0, ids.device())?;
        for block in &self.blocks {
            x = block.forward(&x, Some(&mask), None)?.0;
        }
        let x = self.ln_f.forward(&x)?;
        let rows = eos_positions
            .iter()
            .enumerate()
            .map(|(b, &p)| x.get(b)?.get(p))
            .collect::<Result<Vec<_>>>()?;
        Tensor::stack(&rows, 0)
    }
}

pub struct ClipHeads {
    pub text: TextEncoder,
    image_proj: Linear,
    text_proj: Linear,
    logit_scale: Tensor,
}

fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

impl ClipHeads {
    /// Weight names `clip.*`; `vision_width` is the ViT's CLS width.
    pub fn new(cfg: &ClipConfig, vision_width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            text: TextEncoder::new(cfg, vb.pp("text"))?,
            image_proj: linear_no_bias(vision_width, cfg.embed_dim, vb.pp("image_proj"))?,
            text_proj: linear_no_bias(cfg.width, cfg.embed_dim, vb.pp("text_proj"))?,
            // CLIP starts its temperature at 1 / 0.07.
            logit_scale: vb.get_with_hints((), "logit_scale", Init::Const((1.0f64 / 0.07).ln()))?,
        })
    }

    /// Unit-length image embeddings (b, e) from the ViT's output: the mean of its 196 patch
    /// features (b, 196, vision_width). Pooling the patch features, rather than reading CLS,
    /// trains every patch feature directly to carry what the caption says, and the patch
    /// features are what the VLM's projector receives.
    pub fn embed_images(&self, vision: &VisionOutput) -> Result<Tensor> {
        l2_normalize(&self.image_proj.forward(&vision.patch_features.mean(1)?)?)
    }

    /// Unit-length text embeddings (b, e).
    pub fn embed_texts(&self, ids: &Tensor, eos_positions: &[usize]) -> Result<Tensor> {
        l2_normalize(&self.text_proj.forward(&self.text.forward(ids, eos_positions)?)?)
    }

    /// Similarities (b_images, b_texts), scaled by the learned temperature.
    pub fn logits(&self, images: &Tensor, texts: &Tensor) -> Result<Tensor> {
        images.matmul(&texts.t()?)?.broadcast_mul(&self.logit_scale.clamp(0f32, 4.6052f32)?.exp()?)
    }

    /// Symmetric InfoNCE: image i's caption is text i, and text i's image is image i.
    pub fn loss(&self, images: &Tensor, texts: &Tensor) -> Result<Tensor> {
        let logits = self.logits(images, texts)?;
        let b = logits.dim(0)?;
        let labels = Tensor::arange(0u32, b as u32, logits.device())?;
        let image_to_text = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let text_to_image = candle_nn::loss::cross_entropy(&logits.t()?.contiguous()?, &labels)?;
        (image_to_text + text_to_image)? / 2.0
    }
}
