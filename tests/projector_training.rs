//! The projector exercise on the `micro` fixture: a fresh projector learns (its loss falls), the
//! frozen parts keep every bit, frozen features are computed once per scene, and a downloaded
//! projector loads back exactly.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use vlm_explainer::model::config::ProjectorKind;
use vlm_explainer::infer::explainer::Explainer;
use vlm_explainer::model::preprocess::PreparedImage;
use vlm_explainer::train::projector_trainer::{ProjectorTrainer, TrainOptions, LR_RANGE, MAX_BATCH};
use vlm_explainer::text::prompt::Task;
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::train::freeze::Part;
use vlm_explainer::Config;

const WEIGHTS: &[u8] = include_bytes!("fixtures/model.safetensors");
const CONFIG: &str = include_str!("fixtures/config.json");
const TOKENIZER: &[u8] = include_bytes!("fixtures/tokenizer.json");
const IMAGE: &[u8] = include_bytes!("fixtures/image.png");

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
    // The 3x3 kind: fc1 reads 9 patch features per token.
    let mut window = trainer(TrainOptions { kind: ProjectorKind::Mlp2xGelu3x3, ..options() });
    assert_eq!(window.parameter_counts().projector, 9 * 32 * 32 + 32 + 32 * 32 + 32);
    assert_eq!(window.tensors()["projector.fc1.weight"].dims(), &[32, 9 * 32]);
    let bytes = { window.step().unwrap(); window.projector_safetensors().unwrap() };
    let mut back = trainer(options());
    back.load_projector(&bytes).unwrap();
    assert_eq!(back.options().kind, ProjectorKind::Mlp2xGelu3x3);
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
    let said = |r: &vlm_explainer::train::projector_trainer::EvalReport| r.captions.iter().map(|c| c.en.clone()).collect::<Vec<_>>();
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

#[test]
fn batch_size_and_learning_rate_out_of_range_are_refused_with_the_range() {
    for (batch, lr) in [(0, 2e-3), (MAX_BATCH + 1, 2e-3), (4, 0.0), (4, -1e-3), (4, f64::NAN), (4, f64::INFINITY), (4, LR_RANGE.1 * 2.0)] {
        let err = ProjectorTrainer::from_files(WEIGHTS.to_vec(), CONFIG, TOKENIZER, TrainOptions { batch, lr, ..options() })
            .err()
            .unwrap_or_else(|| panic!("batch {batch}, lr {lr} was accepted"))
            .to_string();
        assert!(err.contains("out of range: choose"), "batch {batch}, lr {lr}: {err}");
    }
    let mut t = trainer(TrainOptions { batch: MAX_BATCH, lr: LR_RANGE.0, ..options() });
    assert!(t.reset(TrainOptions { batch: 0, ..options() }).is_err());
    assert_eq!(t.options().batch, MAX_BATCH, "a refused reset keeps the options it had");
    t.reset(TrainOptions { batch: 1, lr: LR_RANGE.1, ..options() }).unwrap();
    assert_eq!(t.step().unwrap().encoded + t.cache_totals().reused, 1);
}

/// Every value of the explainer's image tokens, as bits.
fn image_token_bits(e: &mut Explainer) -> Vec<u32> {
    e.project().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_trained_projector_runs_in_the_explainer_and_the_own_one_comes_back() {
    let greedy = SamplingOptions { temperature: 0.0, top_k: 0, seed: 0, max_new_tokens: 4 };
    let image = || PreparedImage::from_encoded(IMAGE, 224).unwrap();
    let mut e = Explainer::load(WEIGHTS.to_vec(), CONFIG, TOKENIZER).unwrap();
    let (own_ids, _) = e.run(image(), Task::Caption, "describe the image", greedy).unwrap();
    let own_tokens = image_token_bits(&mut e);
    assert!(e.uses_own_projector());

    // A linear projector, trained a few steps, in the model whose own projector is an MLP.
    let mut t = trainer(TrainOptions { kind: ProjectorKind::Linear, ..options() });
    for _ in 0..2 {
        t.step().unwrap();
    }
    e.use_projector(&t.projector_safetensors().unwrap()).unwrap();
    assert!(!e.uses_own_projector());
    assert_eq!(e.config().projector.kind, ProjectorKind::Linear);
    assert_eq!(e.config().parameter_counts().projector, 32 * 32 + 32);
    assert!(e.image_tokens().is_err(), "the old image tokens are cleared");
    // The explainer's projector is the trainer's, value for value.
    let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(values(&e.vlm.projector.first_weight().unwrap()), values(&t.tensors()["projector.linear.weight"]));
    e.encode().unwrap();
    assert_ne!(image_token_bits(&mut e), own_tokens);
    e.run(image(), Task::Caption, "describe the image", greedy).unwrap();

    // Another one replaces it; the model's own is still the one to go back to.
    let mut mlp = trainer(TrainOptions { seed: 3, ..options() });
    mlp.step().unwrap();
    e.use_projector(&mlp.projector_safetensors().unwrap()).unwrap();
    assert_eq!(e.config().projector.kind, ProjectorKind::Mlp2xGelu);

    // Files that do not fit are refused, and the projector in use stays.
    let in_use = image_token_bits(&mut e);
    let err = e.use_projector(b"not a file").unwrap_err().to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
    let err = e.use_projector(WEIGHTS).unwrap_err().to_string();
    assert!(err.contains("not a projector weight"), "{err}");
    let other_model = safetensors::serialize(
        &HashMap::from([
            ("projector.linear.weight".to_string(), Tensor::zeros((16, 48), DType::F32, &Device::Cpu).unwrap()),
            ("projector.linear.bias".to_string(), Tensor::zeros(16, DType::F32, &Device::Cpu).unwrap()),
        ]),
        None,
    )
    .unwrap();
    let err = e.use_projector(&other_model).unwrap_err().to_string();
    assert!(err.contains("trained for another model"), "{err}");
    e.encode().unwrap();
    assert_eq!(image_token_bits(&mut e), in_use);

    // Back to the model's own projector: the same image tokens and answer as before, bit for bit.
    e.use_own_projector();
    assert!(e.uses_own_projector());
    assert_eq!(e.config().projector.kind, ProjectorKind::Mlp2xGelu);
    let (ids, _) = e.run(image(), Task::Caption, "describe the image", greedy).unwrap();
    assert_eq!(ids, own_ids);
    assert_eq!(image_token_bits(&mut e), own_tokens);
}
