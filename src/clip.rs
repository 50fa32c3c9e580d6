//! A tiny CLIP, to pretrain the vision encoder before it is frozen (stage a): image features
//! and caption features are projected into one space and trained with the symmetric InfoNCE
//! loss (Radford et al., 2021) so that each image is nearest its own caption.
//!
//! Image features are the mean of the ViT's 196 patch features: pooling the patch features,
//! rather than reading CLS, trains every patch feature directly to carry what the caption says,
//! and the patch features are what the VLM's projector receives.
//!
//! The text tower is the LLM of stage b, locked (as LiT, Zhai et al., 2022, locks one tower; here
//! the text one): it already tells ShapesWorld captions apart, so from the first step the image
//! tower learns toward targets that mean something. A caption's features are the mean of the
//! LLM's last hidden states over the caption's tokens, read exactly as a captioning answer.
//! Only the ViT, the two projections and the temperature learn; the projections are kept only
//! to measure zero-shot retrieval, the VLM never uses them.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::batch::TextBatch;
use crate::llm::Llm;
use crate::transformer::{linear_no_bias, Linear};
use crate::vision_encoder::VisionOutput;

/// Width of the shared image-text space.
pub const EMBED_DIM: usize = 128;

pub struct ClipHeads {
    image_proj: Linear,
    text_proj: Linear,
    logit_scale: Tensor,
}

/// Each row scaled to unit length.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

impl ClipHeads {
    /// Weight names `clip.*`.
    pub fn new(vision_width: usize, text_width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            image_proj: linear_no_bias(vision_width, EMBED_DIM, vb.pp("image_proj"))?,
            text_proj: linear_no_bias(text_width, EMBED_DIM, vb.pp("text_proj"))?,
            // CLIP starts its temperature at 1 / 0.07.
            logit_scale: vb.get_with_hints((), "logit_scale", Init::Const((1.0f64 / 0.07).ln()))?,
        })
    }

    /// Unit-length image embeddings (b, e) from the ViT's output.
    pub fn embed_images(&self, vision: &VisionOutput) -> Result<Tensor> {
        l2_normalize(&self.image_proj.forward(&vision.patch_features.mean(1)?)?)
    }

    /// Caption features (b, D_t) from the locked LLM: `captions` are caption samples (prompt,
    /// answer), placed after where the image tokens would be; the mean over the answer.
    pub fn text_features(llm: &Llm, captions: &TextBatch, image_tokens: usize) -> Result<Tensor> {
        let hidden = llm.forward_at(&llm.embed_tokens(&captions.ids)?, image_tokens)?.detach();
        let mask = captions.loss_mask.unsqueeze(2)?; // (b, t, 1)
        hidden.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&mask.sum(1)?)
    }

    /// Unit-length text embeddings (b, e) from caption features.
    pub fn embed_texts(&self, features: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.text_proj.forward(features)?)
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
