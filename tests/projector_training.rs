//! The projector exercise on the `micro` fixture: a fresh projector learns (its loss falls), the
//! frozen parts keep every bit, frozen features are computed once per scene, and a downloaded
//! projector loads back exactly.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use vlm_explainer::config::ProjectorKind;
use vlm_explainer::projector_training::{ProjectorTrainer, TrainOptions};
use vlm_explainer::tokenizer::TextTokenizer;
use vlm_explainer::training::Part;
use vlm_explainer::Config;

const WEIGHTS: &[u8] = include_bytes!("fixtures/model.safetensors");
const CONFIG: &str = include_str!("fixtures/config.json");
const TOKENIZER: &[u8] = include_bytes!("fixtures/tokenizer.json");

fn trainer(options: TrainOptions) -> ProjectorTrainer {
    ProjectorTrainer::from_files(WEIGHTS.to_vec(), CONFIG, TOKENIZER, options).unwrap()
}

fn options() -> TrainOptions {
    TrainOptions { batch: 4, lr: 1e-2, pool: 64, eval_scenes: 2, ..TrainOptions::default() }
}

/// Every weight's bits, by name.
fn bits(tensors: &HashMap<String, Tensor>) -> HashMap<String, Vec<u32>> {
    tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

fn part(all: &HashMap<String, Vec<u32>>, part: Part) -> HashMap<String, Vec<u32>> {
    all.iter().filter(|(n, _)| Part::of(n) == Some(part)).map(|(n, v)| (n.clone(), v.clone())).collect()
}

fn mean(xs: &[f32]) -> f32 {
    xs.iter().sum::<f32>() / xs.len() as f32
}

#[test]
fn a_fresh_projector_replaces_the_shipped_one_and_nothing_else() {
    let shipped = bits(&candle_core::safetensors::load_buffer(WEIGHTS, &Device::Cpu).unwrap());
    let t = trainer(options());
    let now = bits(&t.tensors());
    assert_eq!(part(&now, Part::VisionEncoder), part(&shipped, Part::VisionEncoder));
    assert_eq!(part(&now, Part::Llm), part(&shipped, Part::Llm));
    assert_ne!(part(&now, Part::Projector), part(&shipped, Part::Projector), "the projector was re-initialised");
    let linear = trainer(TrainOptions { kind: ProjectorKind::Linear, ..options() });
    let names: Vec<String> = part(&bits(&linear.tensors()), Part::Projector).into_keys().collect();
    assert_eq!(names.len(), 2, "a linear projector is one weight and one bias: {names:?}");
    // (32 -> 32) + 32 values, as config.rs counts them.
    assert_eq!(linear.parameter_counts().projector, 32 * 32 + 32);
}

#[test]
fn training_lowers_the_loss_and_leaves_frozen_weights_bit_identical() {
    // The fixture's LLM is random: its logits are nearly uniform whatever it reads, so no
    // projector can help it. First it learns ShapesWorld's captions, the projector beside it ...
    let mut warm = trainer(TrainOptions { unfreeze: Some(Part::Llm), lr: 1e-2, ..options() });
    let before = bits(&warm.tensors());
    let losses: Vec<f32> = (0..40).map(|_| warm.step().unwrap().loss).collect();
    let k = losses.len() / 5;
    let (first, last) = (mean(&losses[..k]), mean(&losses[losses.len() - k..]));
    println!("projector and LLM: loss {first:.3} -> {last:.3}");
    assert!(last < first * 0.9, "projector and LLM: the loss went {first} -> {last}");
    let after = bits(&warm.tensors());
    assert_eq!(part(&after, Part::VisionEncoder), part(&before, Part::VisionEncoder), "the frozen vision encoder changed");
    assert_ne!(part(&after, Part::Llm), part(&before, Part::Llm), "the unfrozen LLM did not learn");

    // ... then a fresh projector learns to speak to that LLM, frozen.
    let config = Config::from_json(CONFIG).unwrap();
    let tokenizer = TextTokenizer::from_json(TOKENIZER).unwrap();
    let mut t = ProjectorTrainer::new(&config, tokenizer, warm.tensors(), TrainOptions { lr: 1e-2, seed: 1, ..options() }).unwrap();
    let before = bits(&t.tensors());
    let losses: Vec<f32> = (0..40).map(|_| t.step().unwrap().loss).collect();
    let k = losses.len() / 5;
    let (first, last) = (mean(&losses[..k]), mean(&losses[losses.len() - k..]));
    println!("projector only: loss {first:.3} -> {last:.3}");
    assert!(last < first - 0.03, "projector only: the loss went {first} -> {last}");
    let after = bits(&t.tensors());
    assert_eq!(part(&after, Part::VisionEncoder), part(&before, Part::VisionEncoder), "the frozen vision encoder changed");
    assert_eq!(part(&after, Part::Llm), part(&before, Part::Llm), "the frozen LLM changed");
    assert_ne!(part(&after, Part::Projector), part(&before, Part::Projector), "the projector did not learn");
}

#[test]
fn frozen_features_are_computed_once_per_scene_and_reused() {
    // 8 scenes, 4 per step: after 10 steps at most 8 encodings, every other use from the cache.
    let mut t = trainer(TrainOptions { pool: 8, ..options() });
    let reports: Vec<_> = (0..10).map(|_| t.step().unwrap()).collect();
    let encoded: usize = reports.iter().map(|r| r.encoded).sum();
    let reused: usize = reports.iter().map(|r| r.reused).sum();
    assert!(encoded <= 8, "{encoded} encodings of 8 scenes");
    assert_eq!(encoded + reused, 40);
    assert_eq!(t.cache_totals().encoded, encoded);
    assert!(reports.iter().all(|r| r.cut_turns > 0), "the byte-level fixture's captions are longer than its context");
}

#[test]
fn unfreezing_the_vision_encoder_trains_it_and_encodes_every_scene_every_step() {
    let mut t = trainer(TrainOptions { unfreeze: Some(Part::VisionEncoder), pool: 8, ..options() });
    let before = bits(&t.tensors());
    let reports: Vec<_> = (0..3).map(|_| t.step().unwrap()).collect();
    assert!(reports.iter().all(|r| r.encoded == 4 && r.reused == 0));
    let after = bits(&t.tensors());
    assert_ne!(part(&after, Part::VisionEncoder), part(&before, Part::VisionEncoder));
    assert_eq!(part(&after, Part::Llm), part(&before, Part::Llm));
    // A reset brings back the vision encoder as loaded.
    t.reset(options()).unwrap();
    assert_eq!(part(&bits(&t.tensors()), Part::VisionEncoder), part(&before, Part::VisionEncoder));
    assert_eq!(t.trainable(), vec![Part::Projector]);
}

#[test]
fn a_downloaded_projector_loads_back_exactly_with_its_kind() {
    let mut t = trainer(options());
    for _ in 0..3 {
        t.step().unwrap();
    }
    let bytes = t.projector_safetensors().unwrap();
    let mut other = trainer(TrainOptions { kind: ProjectorKind::Linear, seed: 7, ..options() });
    other.load_projector(&bytes).unwrap();
    assert_eq!(other.options().kind, ProjectorKind::Mlp2xGelu);
    assert_eq!(bits(&other.tensors()), bits(&t.tensors()));
    let (a, b) = (t.evaluate().unwrap(), other.evaluate().unwrap());
    let said = |r: &vlm_explainer::projector_training::EvalReport| r.captions.iter().map(|c| c.en.clone()).collect::<Vec<_>>();
    assert_eq!(said(&a), said(&b));

    let err = other.load_projector(WEIGHTS).unwrap_err().to_string();
    assert!(err.contains("not a projector weight"), "{err}");
    let err = other.load_projector(b"not a file").unwrap_err().to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
}

#[test]
fn evaluation_captions_the_held_out_scenes_in_both_languages() {
    let mut t = trainer(options());
    let report = t.evaluate().unwrap();
    assert_eq!(report.captions.len(), 2);
    assert_eq!(report.en.captions, 2);
    assert_eq!(report.zh.captions, 2);
    assert!(report.captions[0].truth_en.starts_with('a'), "{}", report.captions[0].truth_en);
}
