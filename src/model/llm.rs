//! The LLM: a decoder-only transformer whose forward takes embeddings, not ids, so that the VLM
//! can put image tokens in front of the text. GPT-2's layout (learned positions, the shipped
//! model) or Llama's (rotary positions, SmolLM2); the LM head is the token embedding's matrix
//! (tied, GPT-2 and SmolLM2) or a matrix of its own.

use candle_core::{bail, Device, Module, Result, Tensor};
use candle_nn::{embedding, Embedding, VarBuilder};

use crate::model::config::{LlmConfig, LlmKind};
use crate::model::transformer::{causal_mask, norm, run_blocks, Block, BlockLayout, LayerCache, Norm, NormKind, Rope};
use crate::ops::linear::{linear_no_bias, Linear};

/// Where a position's place in the sequence comes from.
enum Positions {
    /// A learned vector added to each input (GPT-2): `wpe`, one row per position.
    Learned(Embedding),
    /// Queries and keys rotated by their position inside every attention (Llama).
    Rotary(Rope),
}

pub struct Llm {
    wte: Embedding,
    positions: Positions,
    blocks: Vec<Block>,
    ln_f: Norm,
    /// Hidden state -> logits: a matrix of its own (`lm_head`), or the token embedding's (tied:
    /// the same tensor).
    head: Linear,
    max_seq_len: usize,
}

/// What the LLM holds while generating: each layer's keys and values so far. After the prefill,
/// a new token costs one position; the image tokens are never run again. A clone shares the
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
}

pub struct LlmOutput {
    /// (b, t, D_t) after the final norm.
    pub hidden: Tensor,
    /// One (b, heads, t, s) tensor per layer when asked for.
    pub attentions: Vec<Tensor>,
}

impl Llm {
    pub fn new(cfg: &LlmConfig, vb: VarBuilder) -> Result<Self> {
        let (layout, norm_kind) = match cfg.kind {
            LlmKind::Gpt => (BlockLayout::gpt(cfg.width, cfg.heads, cfg.mlp_width, cfg.norm_eps), NormKind::LayerNorm),
            LlmKind::Llama => (BlockLayout::llama(cfg.width, cfg.heads, cfg.kv_heads(), cfg.mlp_width, cfg.norm_eps), NormKind::Rms),
        };
        let blocks = (0..cfg.layers).map(|i| Block::new(&layout, vb.pp(format!("blocks.{i}")))).collect::<Result<_>>()?;
        let positions = match cfg.kind {
            LlmKind::Gpt => Positions::Learned(embedding(cfg.max_seq_len, cfg.width, vb.pp("wpe"))?),
            LlmKind::Llama => {
                let Some(base) = cfg.rope_base else { bail!("config.json: a `llama` LLM needs `llm.rope_base`") };
                Positions::Rotary(Rope::new(cfg.head_dim(), base))
            }
        };
        let wte = embedding(cfg.vocab_size, cfg.width, vb.pp("wte"))?;
        let head = if cfg.tie_embeddings {
            Linear::new(wte.embeddings().clone(), None)
        } else {
            linear_no_bias(cfg.width, cfg.vocab_size, vb.pp("lm_head"))?
        };
        Ok(Self {
            wte,
            positions,
            blocks,
            ln_f: norm(norm_kind, cfg.width, cfg.norm_eps, vb.pp("ln_f"))?,
            head,
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
        let (x, rope) = self.place(embeds, positions)?;
        let (x, attentions) = run_blocks(&self.blocks, x, Some(mask), None, rope.as_ref(), want_attentions)?;
        Ok(LlmOutput { hidden: self.ln_f.forward(&x)?, attentions })
    }

    /// The input with its positions: learned ones added, or the rotary tables for the blocks.
    fn place(&self, embeds: &Tensor, positions: &Tensor) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        match &self.positions {
            Positions::Learned(wpe) => Ok((embeds.broadcast_add(&wpe.forward(positions)?)?, None)),
            Positions::Rotary(rope) => Ok((embeds.clone(), Some(rope.tables(positions)?))),
        }
    }

    fn run(&self, embeds: &Tensor, past: usize, cache: Option<&mut KvCache>, want_attentions: bool) -> Result<LlmOutput> {
        let (_, t, _) = embeds.dims3()?;
        if past + t > self.max_seq_len {
            bail!("the sequence would be {} positions long; the LLM's context holds {}", past + t, self.max_seq_len);
        }
        let device = embeds.device();
        let positions = Tensor::arange(past as u32, (past + t) as u32, device)?;
        let (x, rope) = self.place(embeds, &positions)?;
        // One new query sees every earlier position: no mask is needed.
        // Keys are the cached positions plus the new ones (a position offset alone adds none).
        let cached = cache.as_ref().map_or(0, |c| c.len);
        let mask = if t > 1 { Some(causal_mask(t, cached, device)?) } else { None };
        let mut cache = cache;
        let layers = cache.as_deref_mut().map(|c| c.layers.as_mut_slice());
        let (x, attentions) = run_blocks(&self.blocks, x, mask.as_ref(), layers, rope.as_ref(), want_attentions)?;
        if let Some(c) = cache {
            c.len += t;
        }
        Ok(LlmOutput { hidden: self.ln_f.forward(&x)?, attentions })
    }

    /// Hidden states (b, t, D_t) -> logits (b, t, vocab), through the LM head.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.head.forward(hidden)
    }

    /// Every linear layer, the LM head last, for `Linear::pack`.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut all: Vec<&mut Linear> = self.blocks.iter_mut().flat_map(Block::linears_mut).collect();
        all.push(&mut self.head);
        all
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

    /// The rotary embedding's inverse frequencies, for a Llama LLM (to check a checkpoint's).
    pub fn rope_inv_freq(&self) -> Option<&[f32]> {
        match &self.positions {
            Positions::Rotary(rope) => Some(rope.inv_freq()),
            Positions::Learned(_) => None,
        }
    }
}
