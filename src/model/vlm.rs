//! The VLM: vision encoder -> projector -> [image tokens | text tokens] -> LLM.

use candle_core::{bail, Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::train::batch::PackedBatch;
use crate::model::config::Config;
use crate::model::llm::Llm;
use crate::ops::linear::Linear;
use crate::model::projector::Projector;
use crate::model::vision_encoder::{VisionEncoder, VisionOutput};

pub struct Vlm {
    pub config: Config,
    pub vision_encoder: VisionEncoder,
    pub projector: Projector,
    pub llm: Llm,
}

impl Vlm {
    /// Weight names: `vision_encoder.*`, `projector.*`, `llm.*` (see each part's `new`).
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config: config.clone(),
            vision_encoder: VisionEncoder::new(&config.vision, vb.pp("vision_encoder"))?,
            projector: Projector::from_config(&config.projector, config.vision.width, config.llm.width, vb.pp("projector"))?,
            llm: Llm::new(&config.llm, vb.pp("llm"))?,
        })
    }

    /// Packs every linear layer's weight for the browser's products now, letting the plain
    /// weights go (`Linear::pack`): a model held once, not twice. Nothing changes natively.
    pub fn pack_for_inference(&mut self) -> Result<()> {
        let parts = self.vision_encoder.linears_mut().into_iter().chain(self.projector.linears_mut()).chain(self.llm.linears_mut());
        parts.map(Linear::pack).collect()
    }

    /// Image tokens in front of the sequence: 196 for a 224 px image with 16 px patches, 49 after
    /// a 2x2 pixel shuffle.
    pub fn num_image_tokens(&self) -> usize {
        self.config.num_image_tokens()
    }

    /// (b, 3, 224, 224) -> patch features (b, 196, D_v), with attention weights if asked.
    pub fn encode_image(&self, pixels: &Tensor, want_attentions: bool) -> Result<VisionOutput> {
        self.vision_encoder.forward(pixels, want_attentions)
    }

    /// Patch features (b, 196, D_v) -> image tokens (b, 196, D_t).
    pub fn project(&self, patch_features: &Tensor) -> Result<Tensor> {
        self.projector.forward(patch_features)
    }

    /// [image tokens | text token embeddings]: (b, 196, D_t) and ids (b, T) -> (b, 196 + T, D_t).
    pub fn llm_input(&self, image_tokens: &Tensor, text_ids: &Tensor) -> Result<Tensor> {
        let text_tokens = self.llm.embed_tokens(text_ids)?;
        Tensor::cat(&[image_tokens, &text_tokens], 1)
    }

    /// Mean next-token cross-entropy over text positions only. `text_ids` (b, T) u32;
    /// `loss_mask` (b, T) f32 marks the text tokens to predict (1) or not (0: prompt, padding).
    /// Position 196 + j - 1 predicts text token j; image positions predict nothing, and their
    /// logits are never computed.
    pub fn text_loss(&self, image_tokens: &Tensor, text_ids: &Tensor, loss_mask: &Tensor) -> Result<Tensor> {
        let t = text_length(text_ids)?;
        let n = image_tokens.dim(1)?;
        let hidden = self.llm.forward(&self.llm_input(image_tokens, text_ids)?, None, false)?.hidden;
        // Positions n - 1 .. n + t - 2 predict text tokens 0 .. t - 1; token 0 is always BOS and
        // never a target, so start at position n.
        self.next_token_loss(&hidden.narrow(1, n, t - 1)?, text_ids, loss_mask)
    }

    /// `text_loss` over rows of several turns each (see `PackedBatch`): every turn sees the
    /// image tokens and itself only, so this is the mean over all turns' answer tokens of what
    /// `text_loss` computes for each turn alone.
    pub fn packed_text_loss(&self, image_tokens: &Tensor, batch: &PackedBatch) -> Result<Tensor> {
        Ok(self.packed_text_loss_attending(image_tokens, batch, false)?.0)
    }

    /// `packed_text_loss`, and each LLM layer's attention weights (b, heads, s, s) when asked for.
    pub fn packed_text_loss_attending(&self, image_tokens: &Tensor, batch: &PackedBatch, want_attentions: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let t = text_length(&batch.ids)?;
        let n = image_tokens.dim(1)?;
        let input = self.llm_input(image_tokens, &batch.ids)?;
        let out = self.llm.forward_packed_attending(&input, &batch.positions, &batch.mask, want_attentions)?;
        // Each turn starts with <|bos|>, never a target, so no turn learns from the one before.
        let loss = self.next_token_loss(&out.hidden.narrow(1, n, t - 1)?, &batch.ids, &batch.loss_mask)?;
        Ok((loss, out.attentions))
    }

    /// The same loss with no image: the LLM's text-only pretraining. The text sits at the
    /// positions it takes after the image tokens.
    pub fn text_only_loss(&self, text_ids: &Tensor, loss_mask: &Tensor) -> Result<Tensor> {
        let t = text_length(text_ids)?;
        let hidden = self.llm.forward_at(&self.llm.embed_tokens(text_ids)?, self.num_image_tokens())?;
        self.next_token_loss(&hidden.narrow(1, 0, t - 1)?, text_ids, loss_mask)
    }

    /// `hidden` (b, t - 1, D_t) predicts text tokens 1 .. t - 1; mean over the masked ones.
    fn next_token_loss(&self, hidden: &Tensor, text_ids: &Tensor, loss_mask: &Tensor) -> Result<Tensor> {
        let t = text_ids.dim(1)?;
        let logits = self.llm.logits(hidden)?; // (b, t - 1, vocab)
        let targets = text_ids.narrow(1, 1, t - 1)?.contiguous()?;
        let mask = loss_mask.narrow(1, 1, t - 1)?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let nll = log_probs.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?.neg()?; // (b, t - 1)
        let count = mask.sum_all()?;
        (nll * &mask)?.sum_all()?.broadcast_div(&count.clamp(1f32, f32::MAX)?)
    }
}

/// T of text ids (b, T), which a loss needs to be at least 2 (a token to predict from, and one
/// to predict).
fn text_length(text_ids: &Tensor) -> Result<usize> {
    let (_, t) = text_ids.dims2()?;
    if t < 2 {
        bail!("a training text needs at least two tokens, got {t}");
    }
    Ok(t)
}
