//! The four training stages, in the lesson's order:
//!   a. vision pretraining, a tiny CLIP (ViT + text encoder, InfoNCE)
//!   b. LLM pretraining on ShapesWorld text alone
//!   c. alignment (LLaVA stage 1): vision encoder and LLM frozen, the projector alone learns
//!   d. instruction tuning (LLaVA stage 2): vision encoder frozen, projector and LLM learn
//! Each stage writes its own checkpoint. Stage b runs first, from scratch: stage a reads captions
//! with its LLM (see `clip`); then a -> c -> d, each from the one before.

use std::time::Instant;

use candle_core::{Result, Tensor};
use candle_nn::Optimizer;
use serde_json::json;

use super::log::LossLog;
use super::run::Run;
use crate::train::batch::{pixels, PackedBatch, TextBatch};
use crate::train::clip::{
    appearance_index, appearance_phrases, appearances, kept_patches, object_patches, object_regions, phrase_features,
    shape_phrases, ClipHeads,
};
use crate::infer::sampling::Rng;
use crate::shapes_world::{random_lang, Lang, Sample, Scene};
use crate::train::grounding::Grounding;
use crate::train::freeze::{adamw, Part, PartlyFrozen};
use crate::train::step::train_step_grounded;
use crate::model::vlm::Vlm;

#[derive(Debug, Clone, Copy)]
pub struct StageOptions {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// Scenes whose frozen features stages c and d compute once and reuse.
    pub pool: usize,
    /// Stage a: patches of each image the encoder reads in a step (the rest dropped, see
    /// `VisionEncoder::forward_kept`), 0 for all of them; the last tenth of the steps read all.
    pub keep: usize,
    /// Stage a: only scenes with at least this many objects (0 for all), skipping the seeds of
    /// the others: more objects per image for the region losses at the same cost per step.
    pub min_objects: usize,
    /// Stage d: questions packed with each image's two captions in a row.
    pub questions: usize,
    /// Stage d: the projector's learning rate when it is not `lr` (the LLM's).
    pub projector_lr: Option<f64>,
    /// Stage a: the weight of the whole-caption InfoNCE term beside the region terms. The
    /// caption is matched to the mean of all patches, which pulls every patch toward every
    /// object of its scene; the region terms keep each object's attributes on its own patches.
    pub caption_weight: f64,
    /// Stage d: the weight of the grounding loss (`grounding`: the answer's attention on the
    /// object its question names) beside the text loss; 0 for none.
    pub grounding: f64,
}

/// Each stage draws its training scenes from its own range of seeds, far below the held-out ones.
const SEED_BASE: [u64; 4] = [0, 1 << 32, 2 << 32, 3 << 32];

/// Linear warm-up over the first 5% of steps, then cosine decay to 10% of `lr`.
fn lr_at(step: usize, steps: usize, lr: f64) -> f64 {
    let warmup = (steps / 20).max(1);
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (steps - warmup).max(1) as f64;
    lr * (0.1 + 0.45 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

/// Caption samples of `scenes`, each in a random language: (samples, their batch).
fn caption_batch(run: &Run, scenes: &[Scene], langs: impl Fn(usize) -> Lang) -> Result<TextBatch> {
    let samples: Vec<Sample> = scenes.iter().enumerate().map(|(i, s)| s.samples(langs(i)).swap_remove(0)).collect();
    let refs: Vec<&Sample> = samples.iter().collect();
    TextBatch::new(&run.tokenizer, &refs, false, &run.device)
}

/// Each object's appearance and shape, scene by scene.
fn object_labels(scenes: &[Scene]) -> (Vec<u32>, Vec<u32>) {
    scenes.iter().flat_map(|s| &s.objects).map(|o| (appearance_index(o) as u32, o.shape as u32)).unzip()
}

/// Each scene's kept patches (`kept_patches`), as many for every scene: `keep`, or more where a
/// scene's objects cover more.
fn kept_sets(grid: &crate::model::patch_grid::PatchGrid, scenes: &[Scene], keep: usize, rng: &mut Rng) -> Vec<Vec<u32>> {
    let sets: Vec<Vec<u32>> = scenes.iter().map(|s| kept_patches(grid, s, keep, rng)).collect();
    let k = sets.iter().map(Vec::len).max().unwrap_or(keep);
    sets.into_iter().zip(scenes).map(|(set, s)| if set.len() == k { set } else { kept_patches(grid, s, k, rng) }).collect()
}

/// Kept patch features (b, k, D_v) put back on the whole grid (b, n, D_v), zeros where a patch
/// was dropped (the region losses read kept patches only).
fn scatter_patches(kept: &Tensor, keep: &[Vec<u32>], n: usize) -> Result<Tensor> {
    let (b, k, _) = kept.dims3()?;
    let mut onehot = vec![0f32; b * n * k];
    for (i, row) in keep.iter().enumerate() {
        for (j, &p) in row.iter().enumerate() {
            onehot[(i * n + p as usize) * k + j] = 1.0;
        }
    }
    Tensor::from_vec(onehot, (b, n, k), kept.device())?.matmul(&kept.contiguous()?)
}

/// Stage a: the ViT learns to see by matching images with their captions, read by the locked
/// LLM of stage b.
pub fn vision(run: &Run, o: StageOptions) -> Result<()> {
    let varmap = run.varmap(Some("b"))?;
    let trainable: &[Part] = &[Part::VisionEncoder, Part::Clip];
    let vb = PartlyFrozen::builder(&varmap, trainable, &run.device)?;
    let vlm = Vlm::new(&run.config, vb.clone())?;
    let clip = ClipHeads::new(run.config.vision.width, run.config.llm.width, vb.pp("clip"))?;
    let mut opt = adamw(&PartlyFrozen::trainable_vars(&varmap, trainable), o.lr)?;
    let mut rng = Rng::new(1);
    let mut log = LossLog::new(&run.path("loss_a.csv"), o.steps, "a: vision")?;
    let n = vlm.num_image_tokens();
    // The locked LLM reads every phrase once; only the text projection on top of it learns.
    let mut phrase_sets = Vec::new(); // (features, which labels)
    for lang in Lang::ALL {
        phrase_sets.push((phrase_features(&vlm.llm, &run.tokenizer, lang, &appearance_phrases(lang), n)?, 0));
        phrase_sets.push((phrase_features(&vlm.llm, &run.tokenizer, lang, &shape_phrases(lang), n)?, 1));
    }
    let grid = run.config.patch_grid();
    let mut seeds = (SEED_BASE[0]..).map(Scene::generate).filter(|s| s.objects.len() >= o.min_objects);
    for step in 0..o.steps {
        let scenes: Vec<Scene> = seeds.by_ref().take(o.batch).collect();
        let langs: Vec<Lang> = scenes.iter().map(|_| random_lang(&mut rng)).collect();
        let captions = caption_batch(run, &scenes, |i| langs[i])?;
        let images: Vec<_> = scenes.iter().map(Scene::to_prepared_image).collect();
        let dropping = o.keep > 0 && o.keep < n && step < o.steps - o.steps / 10;
        let (vision, patch_features) = if dropping {
            let keep = kept_sets(&grid, &scenes, o.keep, &mut rng);
            let vision = vlm.vision_encoder.forward_kept(&pixels(&images, &run.device)?, &keep)?;
            let full = scatter_patches(&vision.patch_features, &keep, n)?;
            (vision, full)
        } else {
            let vision = vlm.encode_image(&pixels(&images, &run.device)?, false)?;
            let full = vision.patch_features.clone();
            (vision, full)
        };
        let texts = clip.embed_texts(&ClipHeads::text_features(&vlm.llm, &captions, n)?)?;
        // Kept patches only: the mean over what the encoder read.
        let caption_loss = clip.loss(&clip.embed_images(&vision)?, &texts)?;
        let regions = object_regions(&patch_features, &grid, &scenes)?;
        let (patches, owner) = object_patches(&patch_features, &grid, &scenes)?;
        let (appearance, shape) = object_labels(&scenes);
        let per_patch = |labels: &[u32]| owner.iter().map(|&o| labels[o]).collect::<Vec<u32>>();
        let tensor = |l: &[u32]| Tensor::new(l, &run.device);
        let labels = [tensor(&appearance)?, tensor(&shape)?];
        let patch_labels = [tensor(&per_patch(&appearance))?, tensor(&per_patch(&shape))?];
        let mut region_loss = Tensor::zeros((), candle_core::DType::F32, &run.device)?;
        for (features, which) in &phrase_sets {
            let phrases = clip.embed_texts(features)?;
            region_loss = (region_loss + clip.region_loss(&regions, &phrases, &labels[*which])?)?;
            region_loss = (region_loss + clip.region_loss(&patches, &phrases, &patch_labels[*which])?)?;
        }
        let loss = ((caption_loss * o.caption_weight)? + (region_loss / Lang::ALL.len() as f64)?)?;
        opt.set_learning_rate(lr_at(step, o.steps, o.lr));
        opt.backward_step(&loss)?;
        log.step(step, loss.to_scalar()?)?;
    }
    let seconds = log.finish()?;
    standardize_features(run, &vlm, &varmap)?;
    run.save(&varmap, "a")?;
    let scores = clip_scores(run, &vlm, &clip, 128)?;
    let pct = |x: [f64; 2]| format!("en {:.1}%, zh {:.1}%", x[0] * 100.0, x[1] * 100.0);
    println!("stage a: {seconds:.0} s; among 128 held-out scenes, zero-shot: image->caption retrieval {}; object -> its phrase among {} {}; its shape {}",
        pct(scores.caption_retrieval), appearances().len(), pct(scores.object_appearance), pct(scores.object_shape));
    let langs = |x: [f64; 2]| json!({ "en": x[0], "zh": x[1] });
    run.report("stage_a", json!({ "seconds": seconds, "steps": o.steps, "batch": o.batch,
        "clip_retrieval_128": langs(scores.caption_retrieval),
        "clip_object_appearance_128": langs(scores.object_appearance),
        "clip_object_shape_128": langs(scores.object_shape) }))
}

/// The scenes (stage a's first 512) whose patch features set the scale of the frozen encoder's
/// output.
pub fn standardize_seeds() -> std::ops::Range<u64> {
    SEED_BASE[0]..SEED_BASE[0] + 512
}

/// Makes the trained encoder's patch features mean 0 and variance 1 per channel over the patches
/// of `standardize_seeds()`, by folding that affine map into the final
/// LayerNorm's scale and shift (which act per channel too): the encoder computes the same
/// function up to it, and needs no new weights. Stage a's losses standardise over each batch
/// anyway, so they and its zero-shot figures are unchanged; but the projector of stages c and d,
/// and of the page's training panel, starts from features whose channels all vary alike, instead
/// of channel means up to 3.7 beside spreads as small as 0.2.
fn standardize_features(run: &Run, vlm: &Vlm, varmap: &candle_nn::VarMap) -> Result<()> {
    let (_, features, _) = feature_pool(vlm, run, standardize_seeds())?;
    let all = features.flatten_to(1)?; // (scenes x 196, D_v)
    let mean = all.mean(0)?;
    let std = (all.var(0)? + 1e-5)?.sqrt()?;
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    let (Some(scale), Some(shift)) = (data.get("vision_encoder.ln_post.weight"), data.get("vision_encoder.ln_post.bias")) else {
        candle_core::bail!("the vision encoder has no final LayerNorm to standardise");
    };
    // (x * scale + shift - mean) / std
    shift.set(&shift.as_tensor().sub(&mean)?.div(&std)?)?;
    scale.set(&scale.as_tensor().div(&std)?)?;
    Ok(())
}

/// Stage a's zero-shot figures on held-out scenes, per language (en, zh).
pub struct ClipScores {
    /// How often an image's nearest caption (among the scenes') is its own.
    pub caption_retrieval: [f64; 2],
    /// How often an object's cell is nearest the phrase of its appearance, among all of them.
    pub object_appearance: [f64; 2],
    /// ... nearest a phrase with its shape.
    pub object_shape: [f64; 2],
}

pub fn clip_scores(run: &Run, vlm: &Vlm, clip: &ClipHeads, n: usize) -> Result<ClipScores> {
    let scenes: Vec<Scene> = (0..n as u64).map(|i| Scene::generate(crate::train::evaluate::HELD_OUT_START + i)).collect();
    let (mut image_embeds, mut region_embeds) = (Vec::new(), Vec::new());
    for chunk in scenes.chunks(32) {
        let images: Vec<_> = chunk.iter().map(Scene::to_prepared_image).collect();
        let vision = vlm.encode_image(&pixels(&images, &run.device)?, false)?;
        image_embeds.push(clip.embed_images(&vision)?);
        region_embeds.push(object_regions(&vision.patch_features, &run.config.patch_grid(), chunk)?);
    }
    let images = Tensor::cat(&image_embeds, 0)?;
    // Standardised over all held-out objects at once, as in training over a batch.
    let regions = clip.embed_regions(&Tensor::cat(&region_embeds, 0)?)?;
    let (labels, _) = object_labels(&scenes);
    let all = appearances();
    let mut scores = ClipScores { caption_retrieval: [0.0; 2], object_appearance: [0.0; 2], object_shape: [0.0; 2] };
    for (l, lang) in Lang::ALL.into_iter().enumerate() {
        let captions = caption_batch(run, &scenes, |_| lang)?;
        let texts = clip.embed_texts(&ClipHeads::text_features(&vlm.llm, &captions, vlm.num_image_tokens())?)?;
        let best: Vec<u32> = images.matmul(&texts.t()?)?.argmax(1)?.to_vec1()?;
        // An identical caption elsewhere is just as right.
        let text: Vec<String> = scenes.iter().map(|s| s.caption(lang)).collect();
        let hits = best.iter().enumerate().filter(|(i, &j)| text[*i] == text[j as usize]).count();
        scores.caption_retrieval[l] = hits as f64 / n as f64;

        let phrases = phrase_features(&vlm.llm, &run.tokenizer, lang, &appearance_phrases(lang), vlm.num_image_tokens())?;
        let phrases = clip.embed_texts(&phrases)?;
        let best: Vec<u32> = regions.matmul(&phrases.t()?)?.argmax(1)?.to_vec1()?;
        let pairs = || best.iter().zip(&labels).map(|(&b, &t)| (&all[b as usize], &all[t as usize]));
        scores.object_appearance[l] = pairs().filter(|(b, t)| b == t).count() as f64 / labels.len() as f64;
        scores.object_shape[l] = pairs().filter(|(b, t)| b.shape == t.shape).count() as f64 / labels.len() as f64;
    }
    Ok(scores)
}

/// Stage b: the LLM learns the language of ShapesWorld from text alone.
pub fn llm(run: &Run, o: StageOptions) -> Result<()> {
    let varmap = run.varmap(None)?;
    let model = PartlyFrozen::new(&run.config, &varmap, &[Part::Llm], &run.device)?;
    let mut opt = model.optimizer(o.lr)?;
    let mut rng = Rng::new(2);
    let mut log = LossLog::new(&run.path("loss_b.csv"), o.steps, "b: LLM")?;
    for step in 0..o.steps {
        let samples: Vec<Sample> = (0..o.batch as u64)
            .map(|i| {
                let scene = Scene::generate(SEED_BASE[1] + (step * o.batch) as u64 + i);
                let mut all = scene.samples(random_lang(&mut rng));
                let k = (rng.next_u64() % all.len() as u64) as usize;
                all.swap_remove(k)
            })
            .collect();
        let refs: Vec<&Sample> = samples.iter().collect();
        let batch = TextBatch::new(&run.tokenizer, &refs, true, &run.device)?;
        let loss = model.vlm.text_only_loss(&batch.ids, &batch.loss_mask)?;
        opt.set_learning_rate(lr_at(step, o.steps, o.lr));
        opt.backward_step(&loss)?;
        log.step(step, loss.to_scalar()?)?;
    }
    let seconds = log.finish()?;
    run.save(&varmap, "b")?;
    run.report("stage_b", json!({ "seconds": seconds, "steps": o.steps, "batch": o.batch }))
}

/// Patch features of `scenes` from the frozen vision encoder, computed once: (n, 196, D_v).
fn feature_pool(vlm: &Vlm, run: &Run, seeds: std::ops::Range<u64>) -> Result<(Vec<Scene>, Tensor, f32)> {
    let started = Instant::now();
    let scenes: Vec<Scene> = seeds.map(Scene::generate).collect();
    let bar = super::log::bar(scenes.len() as u64, "features");
    let mut chunks = Vec::new();
    for chunk in scenes.chunks(32) {
        let images: Vec<_> = chunk.iter().map(Scene::to_prepared_image).collect();
        chunks.push(vlm.encode_image(&pixels(&images, &run.device)?, false)?.patch_features.detach());
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok((scenes, Tensor::cat(&chunks, 0)?.contiguous()?, started.elapsed().as_secs_f32()))
}

/// Stages c and d: the projector (and in d the LLM) learn on frozen features computed once.
fn connect(run: &Run, o: StageOptions, stage: char) -> Result<()> {
    let (from, trainable, seed_base, title): (&str, &[Part], u64, &str) = match stage {
        'c' => ("a", &[Part::Projector], SEED_BASE[2], "c: align"),
        _ => ("c", &[Part::Projector, Part::Llm], SEED_BASE[3], "d: instruct"),
    };
    let varmap = run.varmap(Some(from))?;
    let model = PartlyFrozen::new(&run.config, &varmap, trainable, &run.device)?;
    let (scenes, features, pool_seconds) = feature_pool(&model.vlm, run, seed_base..seed_base + o.pool as u64)?;
    // The projector and the LLM each have their own AdamW, so that each can have its own rate.
    let (projector_vars, llm_vars): (Vec<_>, Vec<_>) =
        model.trainable.iter().cloned().partition(|(name, _)| Part::of(name) == Some(Part::Projector));
    let projector_lr = o.projector_lr.unwrap_or(o.lr);
    let mut opts = vec![(adamw(&projector_vars, projector_lr)?, projector_lr)];
    if !llm_vars.is_empty() {
        opts.push((adamw(&llm_vars, o.lr)?, o.lr));
    }
    let mut rng = Rng::new(3);
    // Each image teaches its caption in both languages; in stage d also `questions` questions.
    let questions = if stage == 'd' { o.questions } else { 0 };
    let mut log = LossLog::new(&run.path(&format!("loss_{stage}.csv")), o.steps, title)?;
    let mut grounding_losses = Vec::new();
    for step in 0..o.steps {
        let picks: Vec<u32> = (0..o.batch).map(|_| (rng.next_u64() % scenes.len() as u64) as u32).collect();
        let conversations: Vec<Vec<Sample>> =
            picks.iter().map(|&p| scenes[p as usize].turns(questions, &mut rng)).collect();
        let rows: Vec<Vec<&Sample>> = conversations.iter().map(|c| c.iter().collect()).collect();
        let batch = PackedBatch::new(&run.tokenizer, &rows, model.vlm.num_image_tokens(), run.config.llm.max_seq_len, &run.device)?;
        let picked = features.index_select(&Tensor::new(picks.as_slice(), &run.device)?, 0)?;
        for (opt, lr) in &mut opts {
            opt.set_learning_rate(lr_at(step, o.steps, *lr));
        }
        let grounding = if o.grounding > 0.0 {
            let row_scenes: Vec<&Scene> = picks.iter().map(|&p| &scenes[p as usize]).collect();
            Grounding::new(&run.config.patch_grid(), &row_scenes, &rows, &batch, &run.device)?
        } else {
            None
        };
        let mut optimizers = opts.iter_mut().map(|(opt, _)| opt).collect::<Vec<_>>();
        let (loss, grounding_loss) =
            train_step_grounded(&model, &mut optimizers, &picked, &batch, grounding.as_ref().map(|g| (g, o.grounding)))?;
        grounding_losses.extend(grounding_loss);
        log.step(step, loss)?;
    }
    let seconds = log.finish()?;
    // The grounding loss at the start and the end (means of 50 steps).
    let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len().max(1) as f32;
    let grounding_report = (!grounding_losses.is_empty()).then(|| {
        let k = grounding_losses.len().min(50);
        let (first, last) = (mean(&grounding_losses[..k]), mean(&grounding_losses[grounding_losses.len() - k..]));
        println!("stage {stage}: grounding loss (weight {}) {first:.3} over the first {k} steps, {last:.3} over the last {k}", o.grounding);
        json!({ "weight": o.grounding, "first_50": first, "last_50": last })
    });
    run.save(&varmap, &stage.to_string())?;
    // Why freeze: the encoder ran once per pooled scene instead of once per use.
    let per_scene = pool_seconds / o.pool as f32;
    let uses = o.steps * o.batch;
    let recompute = per_scene * uses as f32;
    println!(
        "stage {stage}: {seconds:.0} s training; features of {} scenes took {pool_seconds:.0} s once; encoding each of the {uses} uses again would have added about {recompute:.0} s (forward only, no backward)",
        o.pool
    );
    run.report(&format!("stage_{stage}"), json!({ "seconds": seconds, "steps": o.steps, "batch": o.batch,
        "trainable_values": model.trainable_count(), "pool_scenes": o.pool, "feature_seconds": pool_seconds,
        "feature_uses": uses, "recompute_seconds_estimate": recompute, "grounding": grounding_report }))
}

pub fn align(run: &Run, o: StageOptions) -> Result<()> {
    connect(run, o, 'c')
}

pub fn instruct(run: &Run, o: StageOptions) -> Result<()> {
    connect(run, o, 'd')
}
