//! The training pipeline on a `micro` model: every stage lowers its loss, and what a stage
//! freezes leaves it with bit-identical weights.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::train::pipeline::stages::{self, StageOptions};
use vlm_explainer::shapes_world::Scene;
use vlm_explainer::train::tokenizer_train::{shapes_world_corpus, train_bpe};
use vlm_explainer::model::vlm::Vlm;
use vlm_explainer::Config;

fn losses(dir: &Path, stage: &str) -> Vec<f32> {
    fs::read_to_string(dir.join(format!("loss_{stage}.csv")))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn checkpoint(dir: &Path, stage: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join(format!("stage_{stage}.safetensors")), &Device::Cpu).unwrap()
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    let (a, b): (Vec<f32>, Vec<f32>) = (a.flatten_all().unwrap().to_vec1().unwrap(), b.flatten_all().unwrap().to_vec1().unwrap());
    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Which prefixes kept every bit between two checkpoints, and which changed.
fn unchanged(before: &HashMap<String, Tensor>, after: &HashMap<String, Tensor>, prefix: &str) -> bool {
    before.iter().filter(|(n, _)| n.starts_with(prefix)).all(|(n, t)| same(t, &after[n]))
}

#[test]
fn each_stage_lowers_its_loss_and_frozen_parts_stay_bit_identical() {
    let dir = std::env::temp_dir().join(format!("vlm-pipeline-test-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let tokenizer = train_bpe(shapes_world_corpus(0..300), 512).unwrap();
    fs::write(dir.join("tokenizer.json"), tokenizer.to_json().unwrap()).unwrap();
    fs::write(dir.join("config.json"), Config::micro(tokenizer.vocab_size()).to_json()).unwrap();
    let run = Run::open(&dir).unwrap();

    let o = |steps, batch, lr| StageOptions { steps, batch, lr, pool: 48, keep: 0, min_objects: 0, questions: 3, projector_lr: None, caption_weight: 1.0, grounding: 0.0 };
    // Stage b first: stage a reads its captions with the LLM of stage b, locked.
    stages::llm(&run, o(40, 16, 5e-3)).unwrap();
    stages::vision(&run, o(24, 8, 2e-3)).unwrap();
    stages::align(&run, o(40, 8, 1e-2)).unwrap();
    stages::instruct(&run, StageOptions { grounding: 0.5, ..o(40, 8, 5e-3) }).unwrap();

    for stage in ["a", "b", "c", "d"] {
        let l = losses(&dir, stage);
        let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        let (first, last) = (mean(&l[..6]), mean(&l[l.len() - 6..]));
        println!("stage {stage}: loss {first:.3} -> {last:.3}");
        assert!(last < first, "stage {stage}: the loss went {first} -> {last}");
    }
    let (a, b, c, d) = (checkpoint(&dir, "a"), checkpoint(&dir, "b"), checkpoint(&dir, "c"), checkpoint(&dir, "d"));
    assert!(unchanged(&b, &a, "llm."), "stage a changed the locked LLM");
    // The frozen encoder's output is standardised per channel over the scenes that set it.
    let vlm = Vlm::new(&run.config, VarBuilder::from_tensors(a.clone(), DType::F32, &Device::Cpu)).unwrap();
    let images: Vec<_> = stages::standardize_seeds().map(|s| Scene::generate(s).to_prepared_image()).collect();
    let features = vlm.encode_image(&pixels(&images, &Device::Cpu).unwrap(), false).unwrap().patch_features.flatten_to(1).unwrap();
    let (mean, var): (Vec<f32>, Vec<f32>) = (features.mean(0).unwrap().to_vec1().unwrap(), features.var(0).unwrap().to_vec1().unwrap());
    assert!(mean.iter().all(|m| m.abs() < 1e-3), "channel means after stage a: {mean:?}");
    assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-2), "channel variances after stage a: {var:?}");
    assert!(!unchanged(&b, &a, "vision_encoder."), "stage a did not train the vision encoder");
    assert!(unchanged(&a, &c, "vision_encoder."), "stage c changed the frozen vision encoder");
    assert!(unchanged(&a, &c, "llm."), "stage c changed the frozen LLM");
    assert!(!unchanged(&a, &c, "projector."), "stage c did not train the projector");
    assert!(unchanged(&c, &d, "vision_encoder."), "stage d changed the frozen vision encoder");
    assert!(!unchanged(&c, &d, "llm."), "stage d did not train the LLM");
    fs::remove_dir_all(&dir).ok();
}
