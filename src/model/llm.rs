//! The LLM: a decoder-only GPT whose forward takes embeddings, not ids, so that the VLM can put
//! image tokens in front of the text. The LM head shares the token embedding's weights (GPT-2).

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{embedding, Embedding, VarBuilder};

use crate::model::config::LlmConfig;
use crate::model::transformer::{causal_mask, layer_norm, Block, LayerCache, LayerNorm};
use crate::ops::linear;

pub struct Llm {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    max_seq_len: usize,
}

/// What the LLM holds while generating: each layer's keys and values so far. After the prefill,
/// a new token costs one position; the 196 image tokens are never run again. A clone shares the
/// tensors (appending makes new ones), so one image's cache can start several prompts.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        Self { layers: vec![None; layers], len: 0 }
    }

    /// Positions already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys `layer`'s attention matches its queries against: (b, heads, positions, head_dim).
    pub fn keys(&self, layer: usize) -> Option<&Tensor> {
        self.layers.get(layer)?.as_ref().map(|(k, _)| k)
    }
}

pub struct LlmOutput {
    /// (b, t, D_t) after the final LayerNorm.
    pub hidden: Tensor,
    /// One (b, heads, t, s) tensor per layer when asked for.
    pub attentions: Vec<Tensor>,
}

impl Llm {
    pub fn new(cfg: &LlmConfig, vb: VarBuilder) -> Result<Self> {
        let blocks = (0..cfg.layers)
            .map(|i| Block::new(cfg.width, cfg.heads, cfg.mlp_width, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self {
            wte: embedding(cfg.vocab_size, cfg.width, vb.pp("wte"))?,
            wpe: embedding(cfg.max_seq_len, cfg.width, vb.pp("wpe"))?,
            blocks,
            ln_f: layer_norm(cfg.width, vb.pp("ln_f"))?,
            max_seq_len: cfg.max_seq_len,
        })
    }

    /// Text token ids (b, t) -> their embeddings (b, t, D_t).
    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        self.wte.forward(ids)
    }

    /// Runs embeddings (b, t, D_t) at positions `cache.len() ..`, appending to the cache if given.
    pub fn forward(&self, embeds: &Tensor, cache: Option<&mut KvCache>, want_attentions: bool) -> Result<LlmOutput> {
        let past = cache.as_ref().map_or(0, |c| c.len);
        self.run(embeds, past, cache, want_attentions)
    }

    /// Runs embeddings at positions `start ..` without a cache: text-only pretraining puts the
    /// text where it will sit after the image tokens, so those positions are the trained ones.
    pub fn forward_at(&self, embeds: &Tensor, start: usize) -> Result<Tensor> {
        Ok(self.run(embeds, start, None, false)?.hidden)
    }

    /// Runs embeddings (b, t, D_t) at the given positions (b, t) u32 under an additive attention
    /// mask (b, 1, t, t): several independent turns packed in one row (see `PackedBatch`).
    pub fn forward_packed(&self, embeds: &Tensor, positions: &Tensor, mask: &Tensor) -> Result<Tensor> {
        Ok(self.forward_packed_attending(embeds, positions, mask, false)?.hidden)
    }

    /// `forward_packed`, with each layer's attention weights (b, heads, s, s) when asked for.
    pub fn forward_packed_attending(&self, embeds: &Tensor, positions: &Tensor, mask: &Tensor, want_attentions: bool) -> Result<LlmOutput> {
        let mut x = (embeds + self.wpe.forward(positions)?)?;
        let mut attentions = Vec::new();
        for block in &self.blocks {
            let (y, weights) = block.forward(&x, Some(mask), None)?;
            x = y;
            if want_attentions {
                attentions.push(weights);
            }
        }
        Ok(LlmOutput { hidden: self.ln_f.forward(&x)?, attentions })
    }

    fn run(&self, embeds: &Tensor, past: usize, cache: Option<&mut KvCache>, want_attentions: bool) -> Result<LlmOutput> {
        let (_, t, _) = embeds.dims3()?;
        if past + t > self.max_seq_len {
            candle_core::bail!(
                "the sequence would be {} positions long; the LLM's context holds {}",
                past + t,
                self.max_seq_len
            );
        }
        let device = embeds.device();
        let positions = Tensor::arange(past as u32, (past + t) as u32, device)?;
        let mut x = embeds.broadcast_add(&self.wpe.forward(&positions)?)?;
        // One new query sees every earlier position: no mask is needed.
        // Keys are the cached positions plus the new ones (a position offset alone adds none).
        let cached = cache.as_ref().map_or(0, |c| c.len);
        let mask = if t > 1 { Some(causal_mask(t, cached, device)?) } else { None };
        let mut attentions = Vec::new();
        let mut cache = cache;
        for (i, block) in self.blocks.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            let (y, weights) = block.forward(&x, mask.as_ref(), layer_cache)?;
            x = y;
            if want_attentions {
                attentions.push(weights);
            }
        }
        if let Some(c) = cache {
            c.len += t;
        }
        Ok(LlmOutput { hidden: self.ln_f.forward(&x)?, attentions })
    }

    /// Hidden states (b, t, D_t) -> logits (b, t, vocab), through the tied embedding matrix.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        linear::tied_logits(hidden, self.wte.embeddings())
    }

    pub fn layers(&self) -> usize {
        self.blocks.len()
    }

    pub fn max_seq_len(&self) -> usize {
        self.max_seq_len
    }

    pub fn device(&self) -> &Device {
        self.wte.embeddings().device()
    }
}
