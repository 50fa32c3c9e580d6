//! The lesson's exercise, live: a fresh projector learns to connect a frozen vision encoder to a
//! frozen LLM, on ShapesWorld scenes drawn as it goes (LLaVA stage 1, as `train align` does it).
//!
//!     scene seed -> pixels -> vision encoder (frozen: run once per scene, features cached)
//!                -> projector (trainable) -> [image tokens | caption en, caption zh] -> LLM (frozen)
//!
//! The same struct runs natively (tests) and in the browser's training worker (`wasm_training`).
//! Unfreezing the vision encoder or the LLM as well shows what freezing saves: the encoder must
//! then run (and backpropagate) at every step, and the optimiser holds state for every weight.

use std::collections::HashMap;

use candle_core::{bail, DType, Device, Error, Module, Result, Tensor, D};
use candle_nn::{AdamW, Optimizer, VarBuilder, VarMap};
use serde::Serialize;

use crate::train::init;
use crate::train::batch::{pixels, sample_ids, PackedBatch};
use crate::model::config::{Config, ParameterCounts, ProjectorConfig, ProjectorKind};
use crate::train::evaluate::{answer, LangScores, Tally, HELD_OUT_START};
use crate::infer::generate::Generator;
use crate::model::projector::{Projector, PROJECTOR_FILE};
use crate::text::prompt::Task;
use crate::infer::sampling::Rng;
use crate::shapes_world::{caption_prompt, Lang, Scene};
use crate::text::tokenizer::TextTokenizer;
use crate::train::freeze::{Part, PartlyFrozen};
use crate::train::step::train_step_packed;
use crate::model::weights;

/// Training scenes come from their own range of seeds, apart from the native stages' ranges and
/// far below the held-out seeds.
const POOL_SEED_BASE: u64 = 8 << 32;

/// Scenes per step the trainer takes (the page's panel offers the same range): more scenes
/// make a step slower and the worker's memory larger, never better than a few more steps.
pub const MAX_BATCH: usize = 32;
/// Learning rates the trainer takes (the page's panel offers the same range): below, the
/// projector barely moves in a session; above, AdamW's steps throw it about.
pub const LR_RANGE: (f64, f64) = (1e-5, 0.1);

/// What the learner chooses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub kind: ProjectorKind,
    /// A part trained along with the projector (`VisionEncoder` or `Llm`), or none.
    pub unfreeze: Option<Part>,
    /// Scenes per step; each teaches its caption in both languages.
    pub batch: usize,
    /// Questions each scene also teaches (drawn at random, each in a random language, as in
    /// stage d), packed in its row after the captions.
    pub questions: usize,
    pub lr: f64,
    /// Training draws from this many scenes; each one's features are computed on first use.
    pub pool: usize,
    /// Held-out scenes captioned at every evaluation.
    pub eval_scenes: usize,
    /// Seed of the projector's initial weights and of the scene draws.
    pub seed: u64,
}

impl TrainOptions {
    /// Refuses a batch size or learning rate out of range, saying what would be accepted.
    pub fn check(&self) -> Result<()> {
        if self.batch == 0 || self.batch > MAX_BATCH {
            bail!("a batch of {} scenes is out of range: choose 1 to {MAX_BATCH} scenes per step", self.batch);
        }
        let (lo, hi) = LR_RANGE;
        if !(self.lr.is_finite() && self.lr >= lo && self.lr <= hi) {
            bail!("a learning rate of {} is out of range: choose one from {lo:e} to {hi}", self.lr);
        }
        if self.pool == 0 {
            bail!("training needs at least one scene in the pool");
        }
        Ok(())
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        // Stage c's learning rate (src/pipeline), half its batch: a step in the browser runs on one
        // thread.
        Self { kind: ProjectorKind::Mlp2xGelu, unfreeze: None, batch: 8, questions: 0, lr: 2e-3, pool: 256, eval_scenes: 16, seed: 0 }
    }
}

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: usize,
    /// Loss before the step.
    pub loss: f32,
    /// Scenes whose features the vision encoder computed in this step.
    pub encoded: usize,
    /// Scenes whose cached features this step reused instead.
    pub reused: usize,
    /// Time spent in the vision encoder's forward pass (the part caching saves).
    pub encode_ms: f64,
    pub step_ms: f64,
    /// Turns cut short to fit the model's context (a byte-level tokenizer spends a token per byte).
    pub cut_turns: usize,
}

/// One held-out scene's captions, with the truth.
#[derive(Debug, Clone, Serialize)]
pub struct CaptionReport {
    pub seed: u64,
    pub truth_en: String,
    pub truth_zh: String,
    pub en: String,
    pub zh: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub step: usize,
    pub en: LangScores,
    pub zh: LangScores,
    pub captions: Vec<CaptionReport>,
    pub ms: f64,
}

/// Running totals for the feature cache: what it cost and what it saved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheTotals {
    /// Scenes encoded (once each while the encoder is frozen).
    pub encoded: usize,
    pub encode_ms: f64,
    /// Uses of a cached scene.
    pub reused: usize,
}

/// How far the vision encoder's patch features have moved from the loaded encoder's, on the
/// held-out scenes, and what that does to the model's own projector and LLM (the explainer's,
/// which were trained on the loaded encoder's features): the lesson's "forgetting", measured.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub step: usize,
    /// Held-out scenes compared, and the patch features compared (scenes x patches).
    pub scenes: usize,
    pub features: usize,
    /// Mean and lowest cosine similarity between a patch's feature now and the loaded encoder's
    /// feature of the same patch (1: not moved).
    pub mean_cosine: f64,
    pub min_cosine: f64,
    /// |now - loaded| / |loaded| over all the held-out features.
    pub relative_change: f64,
    /// The held-out scenes captioned by the model's own projector and LLM from the loaded
    /// encoder's features (`before`) and from the encoder as it is now (`now`); None when the
    /// model came without a projector of its own or its LLM is training too.
    pub explainer: Option<ExplainerDrift>,
    pub ms: f64,
}

/// Captions and scores of the held-out scenes, by the model's own projector and LLM.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainerDrift {
    pub before: CaptionScores,
    pub now: CaptionScores,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptionScores {
    pub en: LangScores,
    pub zh: LangScores,
    pub captions: Vec<CaptionReport>,
}

/// Milliseconds from a fixed start, for the step reports.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    // `performance` exists in windows and workers alike; read it from the global scope.
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|perf| {
            let now = js_sys::Reflect::get(&perf, &"now".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
            now.call0(&perf).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

pub struct ProjectorTrainer {
    /// The loaded model's config with the chosen projector kind.
    config: Config,
    tokenizer: TextTokenizer,
    /// The vision encoder's and the LLM's weights as loaded: every rebuild starts from them.
    base: HashMap<String, Tensor>,
    varmap: VarMap,
    model: PartlyFrozen,
    optimizer: AdamW,
    options: TrainOptions,
    rng: Rng,
    /// Patch features (1, 196, D_v) of pooled scenes, by pool index, while the encoder is frozen.
    cache: HashMap<u64, Tensor>,
    scenes: HashMap<u64, Scene>,
    held_out: Vec<Scene>,
    /// (e, 196, D_v), computed at the first evaluation while the encoder is frozen.
    held_out_features: Option<Tensor>,
    /// The held-out scenes' features (e, 196, D_v) as the loaded encoder gives them: computed
    /// before the first step that trains the encoder, or when first asked for.
    loaded_features: Option<Tensor>,
    /// The loaded model's own projector (the explainer's), None if its weights held none.
    own_projector: Option<Projector>,
    /// Its captions of the held-out scenes from `loaded_features`, once made.
    own_captions: Option<CaptionScores>,
    totals: CacheTotals,
    step: usize,
    device: Device,
}

impl ProjectorTrainer {
    /// A fresh projector between the vision encoder and the LLM of `weights` (named as in a model
    /// file; any `projector.*` tensors in it are ignored).
    pub fn new(config: &Config, tokenizer: TextTokenizer, weights: HashMap<String, Tensor>, options: TrainOptions) -> Result<Self> {
        tokenizer.check_fits(config.llm.vocab_size)?;
        options.check()?;
        if let Some(part) = options.unfreeze {
            if !matches!(part, Part::VisionEncoder | Part::Llm) {
                bail!("only the vision encoder or the LLM can be unfrozen beside the projector");
            }
        }
        let device = Device::Cpu;
        let own_projector = Self::own_projector(config, &weights, &device);
        let base: HashMap<String, Tensor> = weights.into_iter().filter(|(name, _)| Part::of(name) != Some(Part::Projector)).collect();
        let (config, varmap, model, optimizer) = Self::build(config, &base, options, &device)?;
        let held_out = (0..options.eval_scenes as u64).map(|i| Scene::generate(HELD_OUT_START + i)).collect();
        Ok(Self {
            config,
            tokenizer,
            base,
            varmap,
            model,
            optimizer,
            options,
            rng: Rng::new(options.seed ^ 0x7072_6f6a),
            cache: HashMap::new(),
            scenes: HashMap::new(),
            held_out,
            held_out_features: None,
            loaded_features: None,
            own_projector,
            own_captions: None,
            totals: CacheTotals::default(),
            step: 0,
            device,
        })
    }

    /// The model with a new projector of `options.kind` drawn from `options.seed`, and an
    /// optimiser over the trainable parts: the projector's variables, and copies of `base`'s
    /// weights for a part unfrozen beside it. Frozen parts run on `base`'s tensors themselves,
    /// which nothing writes.
    fn build(config: &Config, base: &HashMap<String, Tensor>, options: TrainOptions, device: &Device) -> Result<(Config, VarMap, PartlyFrozen, AdamW)> {
        let mut config = config.clone();
        config.projector.kind = options.kind;
        let trainable = Self::trainable_parts(options);
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().expect("the VarMap lock is never poisoned");
            for (name, t) in base.iter().filter(|(name, _)| Part::of(name).is_some_and(|p| trainable.contains(&p))) {
                // A detached tensor is not a variable, so `Var::from_tensor` copies it: training
                // never writes into `base`.
                data.insert(name.clone(), candle_core::Var::from_tensor(&t.detach())?);
            }
        }
        Projector::new(options.kind, config.vision.width, config.llm.width, VarBuilder::from_varmap(&varmap, DType::F32, device).pp("projector"))?;
        init::init_seeded_where(&varmap, options.seed, Part::Projector.prefix())?;
        init::zero_projector_neighbours(&varmap, &config)?;
        let model = PartlyFrozen::with_frozen(&config, base, &varmap, &trainable, device)
            .map_err(|e| Error::Msg(format!("{e}: load a complete model before training its projector")))?;
        let optimizer = model.optimizer(options.lr)?;
        Ok((config, varmap, model, optimizer))
    }

    /// An untrained model of a preset's size, as the page builds it when no trained model ships:
    /// byte-level tokenizer, weights drawn from `model_seed`.
    pub fn from_preset(preset: &str, model_seed: u64, options: TrainOptions) -> Result<Self> {
        let tokenizer = TextTokenizer::byte_level()?;
        let config = Config::preset(preset, tokenizer.vocab_size())?;
        let (_, varmap) = init::seeded(&config, model_seed, &Device::Cpu)?;
        Self::new(&config, tokenizer, named_tensors(&varmap), options)
    }

    /// A trainer from the three files of a model.
    pub fn from_files(weights: Vec<u8>, config_json: &str, tokenizer_json: &[u8], options: TrainOptions) -> Result<Self> {
        let config = Config::from_json(config_json)?;
        let tokenizer = TextTokenizer::from_json(tokenizer_json)?;
        tokenizer.check_fits(config.llm.vocab_size)?;
        let tensors = weights::load_tensors(&config, weights, &Device::Cpu)?;
        Self::new(&config, tokenizer, tensors, options)
    }

    fn trainable_parts(options: TrainOptions) -> Vec<Part> {
        std::iter::once(Part::Projector).chain(options.unfreeze).collect()
    }

    /// Starts again with `options`: a new projector, the other parts as loaded, an empty cache.
    pub fn reset(&mut self, options: TrainOptions) -> Result<()> {
        options.check()?;
        let (config, varmap, model, optimizer) = Self::build(&self.config, &self.base, options, &self.device)?;
        (self.config, self.varmap, self.model, self.optimizer) = (config, varmap, model, optimizer);
        // Held-out features from an encoder that was training are stale once it is restored.
        if options.eval_scenes != self.options.eval_scenes || self.options.unfreeze == Some(Part::VisionEncoder) {
            self.held_out = (0..options.eval_scenes as u64).map(|i| Scene::generate(HELD_OUT_START + i)).collect();
            self.held_out_features = None;
        }
        if options.eval_scenes != self.options.eval_scenes {
            self.loaded_features = None;
            self.own_captions = None;
        }
        self.options = options;
        self.rng = Rng::new(options.seed ^ 0x7072_6f6a);
        self.cache.clear();
        self.totals = CacheTotals::default();
        self.step = 0;
        Ok(())
    }

    pub fn options(&self) -> TrainOptions {
        self.options
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn steps_done(&self) -> usize {
        self.step
    }

    pub fn cache_totals(&self) -> &CacheTotals {
        &self.totals
    }

    /// Values per part, for the chosen projector.
    pub fn parameter_counts(&self) -> ParameterCounts {
        self.config.parameter_counts()
    }

    /// Parts whose weights this trainer changes.
    pub fn trainable(&self) -> Vec<Part> {
        Self::trainable_parts(self.options)
    }

    /// Every weight as it is now, by name: the frozen parts' as loaded, the trainable ones'
    /// as trained.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut tensors = self.base.clone();
        tensors.retain(|name, _| Part::of(name).is_none_or(|p| !self.trainable().contains(&p)));
        tensors.extend(named_tensors(&self.varmap));
        tensors
    }

    fn scene(&mut self, index: u64) -> &Scene {
        self.scenes.entry(index).or_insert_with(|| Scene::generate(POOL_SEED_BASE + index))
    }

    /// Patch features (b, 196, D_v) of pool scenes `picks`: from the cache while the encoder is
    /// frozen (encoding only scenes not seen before), else computed now, with gradients.
    fn features(&mut self, picks: &[u64]) -> Result<(Tensor, usize, usize, f64)> {
        let started = now_ms();
        if self.options.unfreeze == Some(Part::VisionEncoder) {
            let images: Vec<_> = picks.iter().map(|&p| self.scene(p).to_prepared_image()).collect();
            let features = self.model.vlm.encode_image(&pixels(&images, &self.device)?, false)?.patch_features;
            let ms = now_ms() - started;
            self.totals.encoded += picks.len();
            self.totals.encode_ms += ms;
            return Ok((features, picks.len(), 0, ms));
        }
        let mut missing: Vec<u64> = picks.iter().copied().filter(|p| !self.cache.contains_key(p)).collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let images: Vec<_> = missing.iter().map(|&p| self.scene(p).to_prepared_image()).collect();
            let features = self.model.vlm.encode_image(&pixels(&images, &self.device)?, false)?.patch_features.detach();
            for (i, &p) in missing.iter().enumerate() {
                self.cache.insert(p, features.narrow(0, i, 1)?);
            }
        }
        let ms = now_ms() - started;
        let reused = picks.len() - missing.len();
        self.totals.encoded += missing.len();
        self.totals.encode_ms += ms;
        self.totals.reused += reused;
        let rows = picks.iter().map(|p| self.cache[p].clone()).collect::<Vec<_>>();
        Ok((Tensor::cat(&rows, 0)?, missing.len(), reused, ms))
    }

    /// Each picked scene's caption in both languages, as `train align` teaches them, and its
    /// `questions`, each turn cut to fit the context when the tokenizer makes it longer.
    fn batch(&mut self, picks: &[u64]) -> Result<(PackedBatch, usize)> {
        let n = self.model.vlm.num_image_tokens();
        let room = self.config.llm.max_seq_len - n;
        let mut cut = 0;
        let mut rows = Vec::with_capacity(picks.len());
        for &p in picks {
            let mut turns = Vec::new();
            self.scene(p);
            let samples = self.scenes[&p].turns(self.options.questions, &mut self.rng);
            for sample in samples {
                let (mut ids, prompt_len) = sample_ids(&self.tokenizer, &sample)?;
                if ids.len() > room {
                    if prompt_len + 1 > room {
                        bail!("a prompt is {prompt_len} tokens; after {n} image tokens the model's context of {} leaves room for {room}", self.config.llm.max_seq_len);
                    }
                    ids.truncate(room);
                    cut += 1;
                }
                turns.push((ids, prompt_len));
            }
            rows.push(turns);
        }
        let batch = PackedBatch::from_turn_ids(&rows, self.tokenizer.special()?.pad, n, self.config.llm.max_seq_len, &self.device)?;
        Ok((batch, cut))
    }

    /// Changes the learning rate from the next step on (a schedule is the caller's).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.optimizer.set_learning_rate(lr);
    }

    /// One AdamW step on `batch` scenes drawn from the pool.
    pub fn step(&mut self) -> Result<StepReport> {
        if self.options.unfreeze == Some(Part::VisionEncoder) && self.step == 0 && self.loaded_features.is_none() {
            // The encoder is still as loaded: its held-out features are what drift is measured from.
            self.loaded_features = Some(self.encode_held_out()?);
        }
        let started = now_ms();
        let pool = self.options.pool as u64;
        let picks: Vec<u64> = (0..self.options.batch).map(|_| self.rng.next_u64() % pool).collect();
        let (features, encoded, reused, encode_ms) = self.features(&picks)?;
        let (batch, cut_turns) = self.batch(&picks)?;
        let loss = train_step_packed(&self.model, &mut self.optimizer, &features, &batch)?;
        if !loss.is_finite() {
            bail!("the loss became {loss} at step {}: reset and train with a smaller learning rate", self.step + 1);
        }
        self.step += 1;
        Ok(StepReport { step: self.step, loss, encoded, reused, encode_ms, step_ms: now_ms() - started, cut_turns })
    }

    /// Greedy captions, in both languages, of the fixed held-out scenes, scored as `train eval`
    /// scores them.
    pub fn evaluate(&mut self) -> Result<EvalReport> {
        let started = now_ms();
        let features = match &self.held_out_features {
            Some(f) if self.options.unfreeze != Some(Part::VisionEncoder) => f.clone(),
            _ => {
                let f = self.encode_held_out()?;
                self.held_out_features = Some(f.clone());
                f
            }
        };
        let CaptionScores { en, zh, captions } = self.caption_held_out(&self.model.vlm.project(&features)?.detach())?;
        Ok(EvalReport { step: self.step, en, zh, captions, ms: now_ms() - started })
    }

    /// The held-out scenes' patch features (e, 196, D_v) from the vision encoder as it is now.
    fn encode_held_out(&self) -> Result<Tensor> {
        let mut chunks = Vec::new();
        for chunk in self.held_out.chunks(16) {
            let images: Vec<_> = chunk.iter().map(Scene::to_prepared_image).collect();
            chunks.push(self.model.vlm.encode_image(&pixels(&images, &self.device)?, false)?.patch_features.detach());
        }
        Tensor::cat(&chunks, 0)
    }

    /// Greedy captions of the held-out scenes in both languages from their image tokens `tokens`
    /// (e, image tokens, D_t), read by the LLM as it is now, scored against the scenes.
    fn caption_held_out(&self, tokens: &Tensor) -> Result<CaptionScores> {
        let vlm = &self.model.vlm;
        let mut tallies = [Tally::default(), Tally::default()];
        let mut captions = Vec::with_capacity(self.held_out.len());
        for (i, scene) in self.held_out.iter().enumerate() {
            let image = Generator::image_cache(vlm, &tokens.narrow(0, i, 1)?)?;
            let mut said = Vec::with_capacity(2);
            for (l, lang) in Lang::ALL.into_iter().enumerate() {
                let got = answer(vlm, &self.tokenizer, &image, Task::Caption, caption_prompt(lang))?;
                tallies[l].caption(scene, &got, lang);
                said.push(got);
            }
            let zh = said.pop().unwrap_or_default();
            let en = said.pop().unwrap_or_default();
            captions.push(CaptionReport {
                seed: HELD_OUT_START + i as u64,
                truth_en: scene.caption(Lang::En),
                truth_zh: scene.caption(Lang::Zh),
                en,
                zh,
            });
        }
        let [en, zh] = tallies.map(|t| t.scores());
        Ok(CaptionScores { en, zh, captions })
    }

    /// The projector `weights` came with, as their model's config.json describes it: the one
    /// the explainer runs. None if they hold none (or not the config's).
    fn own_projector(config: &Config, weights: &HashMap<String, Tensor>, device: &Device) -> Option<Projector> {
        let own: HashMap<String, Tensor> =
            weights.iter().filter(|(name, _)| Part::of(name) == Some(Part::Projector)).map(|(n, t)| (n.clone(), t.detach())).collect();
        if own.is_empty() {
            return None;
        }
        let cfg: &ProjectorConfig = &config.projector;
        Projector::from_config(cfg, config.vision.width, config.llm.width, VarBuilder::from_tensors(own, DType::F32, device).pp("projector")).ok()
    }

    /// How far the vision encoder's features of the held-out scenes have moved from the loaded
    /// encoder's (cosine similarity per patch, and the relative change of them all), and the
    /// captions the model's own projector and LLM give from each. While the encoder is frozen
    /// nothing has moved: the cosines are 1 and the captions the same.
    pub fn feature_drift(&mut self) -> Result<DriftReport> {
        let started = now_ms();
        let moved = self.options.unfreeze == Some(Part::VisionEncoder) && self.step > 0;
        let loaded = match (&self.loaded_features, moved) {
            (Some(f), _) => f.clone(),
            (None, false) => {
                let f = self.encode_held_out()?;
                self.loaded_features = Some(f.clone());
                f
            }
            (None, true) => bail!("the loaded encoder's features were not kept before training it"),
        };
        let now = if moved { self.encode_held_out()? } else { loaded.clone() };
        let dot = (&loaded * &now)?.sum(D::Minus1)?;
        let norms = (loaded.sqr()?.sum(D::Minus1)?.sqrt()? * now.sqr()?.sum(D::Minus1)?.sqrt()?)?;
        let cosines = (dot / norms.clamp(1e-12, f64::MAX)?)?.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let change = (&now - &loaded)?.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt() as f64;
        let size = loaded.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt() as f64;
        let explainer = match (&self.own_projector, self.options.unfreeze) {
            (Some(own), None | Some(Part::VisionEncoder)) => {
                let before = match &self.own_captions {
                    Some(captions) => captions.clone(),
                    None => {
                        let captions = self.caption_held_out(&own.forward(&loaded)?.detach())?;
                        self.own_captions = Some(captions.clone());
                        captions
                    }
                };
                let now = if moved { self.caption_held_out(&own.forward(&now)?.detach())? } else { before.clone() };
                Some(ExplainerDrift { before, now })
            }
            _ => None,
        };
        Ok(DriftReport {
            step: self.step,
            scenes: self.held_out.len(),
            features: cosines.len(),
            mean_cosine: cosines.iter().sum::<f64>() / cosines.len().max(1) as f64,
            min_cosine: cosines.iter().copied().fold(f64::INFINITY, f64::min),
            relative_change: if size > 0.0 { change / size } else { 0.0 },
            explainer,
            ms: now_ms() - started,
        })
    }

    /// The projector's weights as safetensors (f32), named as in a model file.
    pub fn projector_safetensors(&self) -> Result<Vec<u8>> {
        let tensors: HashMap<String, Tensor> =
            self.tensors().into_iter().filter(|(name, _)| Part::of(name) == Some(Part::Projector)).collect();
        safetensors::serialize(&tensors, None).map_err(|e| Error::Msg(format!("safetensors: {e}")))
    }

    /// Replaces the projector with one saved by `projector_safetensors` (of either kind: the
    /// trainer switches to the file's kind, with a fresh optimiser).
    pub fn load_projector(&mut self, bytes: &[u8]) -> Result<()> {
        let (kind, tensors) = Projector::read_safetensors(bytes, self.config.vision.width, self.config.llm.width, &self.device)?;
        let mut options = self.options;
        options.kind = kind;
        self.reset(options)?;
        let data = self.varmap.data().lock().expect("the VarMap lock is never poisoned");
        for (name, var) in data.iter().filter(|(n, _)| Part::of(n) == Some(Part::Projector)) {
            let Some(t) = tensors.get(name) else { bail!("{PROJECTOR_FILE} has no tensor `{name}`") };
            var.set(t)?;
        }
        Ok(())
    }
}

/// Every variable of `varmap` as a tensor, by name.
fn named_tensors(varmap: &VarMap) -> HashMap<String, Tensor> {
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    data.iter().map(|(name, var)| (name.clone(), var.as_tensor().clone())).collect()
}
