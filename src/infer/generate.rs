//! Generation with the KV cache: one prefill over [image tokens | prompt], then one position per
//! new token. Every step hands out what the page shows: the token, its top candidates, and the
//! attention of the query that chose it over the 196 image positions.

use candle_core::{Result, Tensor};

use crate::model::llm::{KvCache, LlmOutput};
use crate::infer::sampling::{probabilities, top_k, Sampler, SamplingOptions};
use crate::infer::text_guard::TextGuard;
use crate::model::vlm::Vlm;

/// How many candidates each generated token reports.
pub const TOP_CANDIDATES: usize = 5;

/// What the model predicts for the next position.
struct Prediction {
    logits: Vec<f32>,
    /// (layers, heads, image tokens), row-major.
    image_attention: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct GeneratedToken {
    pub id: u32,
    pub probability: f32,
    /// The most likely candidates (id, probability) at this step, most likely first.
    pub top: Vec<(u32, f32)>,
    /// Attention of the query that predicted this token over the image positions:
    /// (layers, heads, 196), row-major.
    pub image_attention: Vec<f32>,
    pub is_eos: bool,
    /// The probability the model gave tokens a `TextGuard` ruled out at this step (0 without one).
    pub set_aside: f32,
}

pub struct Generator {
    cache: KvCache,
    pending: Option<Prediction>,
    sampler: Sampler,
    options: SamplingOptions,
    eos: Option<u32>,
    produced: usize,
    num_image_tokens: usize,
    guard: Option<TextGuard>,
}

impl Generator {
    /// Prefill: runs (1, 196, D_t) image tokens and the prompt's ids through the LLM once.
    /// Stops at `eos` if given.
    pub fn start(
        vlm: &Vlm,
        image_tokens: &Tensor,
        prompt_ids: &[u32],
        options: SamplingOptions,
        eos: Option<u32>,
    ) -> Result<Self> {
        let ids = Tensor::new(prompt_ids, vlm.llm.device())?.unsqueeze(0)?;
        let input = vlm.llm_input(image_tokens, &ids)?;
        let mut cache = KvCache::new(vlm.llm.layers());
        let out = vlm.llm.forward(&input, Some(&mut cache), true)?;
        let num_image_tokens = image_tokens.dim(1)?;
        let pending = Some(predict(vlm, &out, num_image_tokens)?);
        Ok(Self { cache, pending, sampler: Sampler::new(options), options, eos, produced: 0, num_image_tokens, guard: None })
    }

    /// The LLM's cache after the image tokens (1, 196, D_t) alone: every prompt about this image
    /// can start from a clone of it (`start_after_image`) instead of running the image again.
    pub fn image_cache(vlm: &Vlm, image_tokens: &Tensor) -> Result<KvCache> {
        let mut cache = KvCache::new(vlm.llm.layers());
        vlm.llm.forward(image_tokens, Some(&mut cache), false)?;
        Ok(cache)
    }

    /// `start` for a prompt after the image tokens already in `cache` (from `image_cache`).
    pub fn start_after_image(
        vlm: &Vlm,
        mut cache: KvCache,
        prompt_ids: &[u32],
        options: SamplingOptions,
        eos: Option<u32>,
    ) -> Result<Self> {
        let num_image_tokens = cache.len();
        let ids = Tensor::new(prompt_ids, vlm.llm.device())?.unsqueeze(0)?;
        let out = vlm.llm.forward(&vlm.llm.embed_tokens(&ids)?, Some(&mut cache), true)?;
        let pending = Some(predict(vlm, &out, num_image_tokens)?);
        Ok(Self { cache, pending, sampler: Sampler::new(options), options, eos, produced: 0, num_image_tokens, guard: None })
    }

    /// Chooses only tokens that keep the answer valid text (see `TextGuard`); the probabilities
    /// each token reports are then among the tokens the guard allowed.
    pub fn with_guard(mut self, guard: TextGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Logits for the next position, until generation has finished.
    pub fn next_logits(&self) -> Option<&[f32]> {
        self.pending.as_ref().map(|p| p.logits.as_slice())
    }

    /// Positions in the LLM's cache: 196 + prompt + tokens fed back so far.
    pub fn positions(&self) -> usize {
        self.cache.len()
    }

    /// Samples the next token and, unless it ends the answer, feeds it back. `None` once done.
    pub fn next_token(&mut self, vlm: &Vlm) -> Result<Option<GeneratedToken>> {
        let Some(mut prediction) = self.pending.take() else { return Ok(None) };
        let set_aside = match &self.guard {
            Some(guard) => guard.mask(&mut prediction.logits),
            None => 0.0,
        };
        let id = self.sampler.sample(&prediction.logits);
        if let Some(guard) = &mut self.guard {
            guard.push(id);
        }
        let probs = probabilities(&prediction.logits);
        let is_eos = Some(id) == self.eos;
        self.produced += 1;
        let room = self.cache.len() < vlm.llm.max_seq_len();
        if !is_eos && self.produced < self.options.max_new_tokens && room {
            let ids = Tensor::new(&[id], vlm.llm.device())?.unsqueeze(0)?;
            let out = vlm.llm.forward(&vlm.llm.embed_tokens(&ids)?, Some(&mut self.cache), true)?;
            self.pending = Some(predict(vlm, &out, self.num_image_tokens)?);
        }
        Ok(Some(GeneratedToken {
            id,
            probability: probs[id as usize],
            top: top_k(&probs, TOP_CANDIDATES),
            image_attention: prediction.image_attention,
            is_eos,
            set_aside,
        }))
    }
}

/// Logits and image attention of the last position of an LLM forward pass.
fn predict(vlm: &Vlm, out: &LlmOutput, num_image_tokens: usize) -> Result<Prediction> {
    let t = out.hidden.dim(1)?;
    let last = out.hidden.narrow(1, t - 1, 1)?;
    let logits = vlm.llm.logits(&last)?.flatten_all()?.to_vec1::<f32>()?;
    let rows = out
        .attentions
        .iter()
        .map(|w| w.narrow(2, t - 1, 1)?.narrow(3, 0, num_image_tokens)?.squeeze(2)?.squeeze(0)) // (heads, 196)
        .collect::<Result<Vec<_>>>()?;
    let image_attention = Tensor::stack(&rows, 0)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Prediction { logits, image_attention })
}

impl Vlm {
    /// The whole answer at once, calling `on_token` as each token arrives.
    pub fn generate(
        &self,
        image_tokens: &Tensor,
        prompt_ids: &[u32],
        options: SamplingOptions,
        eos: Option<u32>,
        mut on_token: impl FnMut(&GeneratedToken),
    ) -> Result<Vec<u32>> {
        let mut generator = Generator::start(self, image_tokens, prompt_ids, options, eos)?;
        let mut ids = Vec::new();
        while let Some(token) = generator.next_token(self)? {
            on_token(&token);
            if !token.is_eos {
                ids.push(token.id);
            }
        }
        Ok(ids)
    }
}
