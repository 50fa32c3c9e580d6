//! The lesson's third reason for freezing the vision encoder, measured as the page measures it
//! (`ProjectorTrainer::feature_drift`): how far training the encoder moves its patch features of
//! the held-out scenes from the loaded encoder's, and what the model's own projector and LLM (the
//! explainer's, trained on the loaded encoder's features) then say about those scenes. Each
//! figure is checked against the same thing computed here, apart from the trainer: the features
//! of a model built from the trainer's weights, and captions by a model that joins the trained
//! encoder to the shipped projector and LLM.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::model::vlm::Vlm;
use vlm_explainer::shapes_world::{caption_prompt, Lang, Scene};
use vlm_explainer::text::prompt::Task;
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::evaluate::{answer, HELD_OUT_START};
use vlm_explainer::train::freeze::Part;
use vlm_explainer::train::projector_trainer::{DriftReport, ProjectorTrainer, TrainOptions};
use vlm_explainer::Config;

const WEIGHTS: &[u8] = include_bytes!("fixtures/model.safetensors");
const CONFIG: &str = include_str!("fixtures/config.json");
const TOKENIZER: &[u8] = include_bytes!("fixtures/tokenizer.json");

/// The shipped model's three files (`www/model/`).
fn shipped() -> (Vec<u8>, String, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/model");
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let read = |key: &str| fs::read(dir.join(manifest["files"][key].as_str().unwrap())).unwrap();
    (read("weights"), String::from_utf8(read("config")).unwrap(), read("tokenizer"))
}

fn said(captions: &[vlm_explainer::train::projector_trainer::CaptionReport], lang: Lang) -> Vec<String> {
    captions.iter().map(|c| if lang == Lang::En { c.en.clone() } else { c.zh.clone() }).collect()
}

/// The held-out scenes' patch features (e, 196, D_v) from `vlm`'s vision encoder.
fn held_out_features(vlm: &Vlm, scenes: usize) -> Tensor {
    let images: Vec<_> = (0..scenes as u64).map(|i| Scene::generate(HELD_OUT_START + i).to_prepared_image()).collect();
    vlm.encode_image(&pixels(&images, &Device::Cpu).unwrap(), false).unwrap().patch_features
}

/// Greedy captions of the held-out scenes by `vlm`, whole, in `lang`.
fn captions(vlm: &Vlm, tokenizer: &TextTokenizer, scenes: usize, lang: Lang) -> Vec<String> {
    let tokens = vlm.project(&held_out_features(vlm, scenes)).unwrap();
    (0..scenes)
        .map(|i| {
            let image = Generator::image_cache(vlm, &tokens.narrow(0, i, 1).unwrap()).unwrap();
            answer(vlm, tokenizer, &image, Task::Caption, caption_prompt(lang)).unwrap()
        })
        .collect()
}

fn vlm_of(config: &Config, tensors: HashMap<String, Tensor>) -> Vlm {
    Vlm::new(config, VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)).unwrap()
}

fn print(r: &DriftReport) {
    let e = r.explainer.as_ref().unwrap();
    println!(
        "step {}: {} features of {} scenes, mean cosine {:.4}, lowest {:.4}, relative change {:.3}; explainer shape/colour/size/position en {:.2}/{:.2}/{:.2}/{:.2} -> {:.2}/{:.2}/{:.2}/{:.2} ({:.0} ms)",
        r.step, r.features, r.scenes, r.mean_cosine, r.min_cosine, r.relative_change,
        e.before.en.shape, e.before.en.colour, e.before.en.size, e.before.en.position,
        e.now.en.shape, e.now.en.colour, e.now.en.size, e.now.en.position, r.ms,
    );
}

#[test]
fn with_the_encoder_frozen_nothing_moves_however_long_the_projector_trains() {
    let options = TrainOptions { batch: 4, lr: 1e-2, pool: 16, eval_scenes: 3, ..TrainOptions::default() };
    let mut t = ProjectorTrainer::from_files(WEIGHTS.to_vec(), CONFIG, TOKENIZER, options).unwrap();
    let first = t.feature_drift().unwrap();
    for _ in 0..4 {
        t.step().unwrap();
    }
    let later = t.feature_drift().unwrap();
    for r in [&first, &later] {
        assert_eq!((r.scenes, r.features), (3, 3 * 196));
        assert!(r.min_cosine > 0.99999 && r.mean_cosine <= 1.00001, "{r:?}");
        assert_eq!(r.relative_change, 0.0);
        let e = r.explainer.as_ref().expect("the fixture has a projector of its own");
        assert_eq!(said(&e.before.captions, Lang::En), said(&e.now.captions, Lang::En));
        assert_eq!(said(&e.before.captions, Lang::Zh), said(&e.now.captions, Lang::Zh));
    }
    assert_eq!(later.step, 4);
    // The explainer's captions are its own model's, whichever projector the panel trains.
    let config = Config::from_json(CONFIG).unwrap();
    let tokenizer = TextTokenizer::from_json(TOKENIZER).unwrap();
    let own = vlm_of(&config, candle_core::safetensors::load_buffer(WEIGHTS, &Device::Cpu).unwrap());
    assert_eq!(said(&later.explainer.as_ref().unwrap().now.captions, Lang::En), captions(&own, &tokenizer, 3, Lang::En));

    // With the LLM training too, the explainer's LLM is no longer the one the panel runs: no
    // captions are claimed for it, and the encoder's features still have not moved.
    let mut llm = ProjectorTrainer::from_files(WEIGHTS.to_vec(), CONFIG, TOKENIZER, TrainOptions { unfreeze: Some(Part::Llm), ..options }).unwrap();
    llm.step().unwrap();
    let r = llm.feature_drift().unwrap();
    assert!(r.explainer.is_none());
    assert_eq!(r.relative_change, 0.0);
}

#[test]
fn training_the_shipped_encoder_moves_its_features_and_the_explainer_reads_them_worse() {
    let (weights, config_json, tokenizer_json) = shipped();
    let config = Config::from_json(&config_json).unwrap();
    let tokenizer = TextTokenizer::from_json(&tokenizer_json).unwrap();
    let loaded = candle_core::safetensors::load_buffer(&weights, &Device::Cpu).unwrap();
    let scenes = 8;
    let options = TrainOptions { unfreeze: Some(Part::VisionEncoder), batch: 4, lr: 2e-3, pool: 64, eval_scenes: scenes, ..TrainOptions::default() };
    let mut t = ProjectorTrainer::from_files(weights.clone(), &config_json, &tokenizer_json, options).unwrap();

    // Before any step: nothing has moved, and the captions are the shipped model's own.
    let start = t.feature_drift().unwrap();
    print(&start);
    assert!(start.min_cosine > 0.99999, "{start:?}");
    let e = start.explainer.as_ref().unwrap();
    let shipped_model = vlm_of(&config, loaded.clone());
    assert_eq!(said(&e.before.captions, Lang::En), captions(&shipped_model, &tokenizer, scenes, Lang::En));
    assert_eq!(said(&e.now.captions, Lang::Zh), said(&e.before.captions, Lang::Zh));
    assert!(e.before.en.shape > 0.7, "the shipped model reads these scenes: {:?}", e.before.en);

    for _ in 0..12 {
        t.step().unwrap();
    }
    let r = t.feature_drift().unwrap();
    print(&r);
    assert_eq!(r.step, 12);
    assert!(r.mean_cosine < 0.999, "training the encoder moved its features: {r:?}");
    assert!(r.min_cosine <= r.mean_cosine && r.relative_change > 0.0);

    // The same figures, computed here from a model built of the trainer's weights.
    let trained = vlm_of(&t.config().clone(), t.tensors());
    let (a, b) = (held_out_features(&shipped_model, scenes), held_out_features(&trained, scenes));
    let cos = ((&a * &b).unwrap().sum(D::Minus1).unwrap()
        / (a.sqr().unwrap().sum(D::Minus1).unwrap().sqrt().unwrap() * b.sqr().unwrap().sum(D::Minus1).unwrap().sqrt().unwrap()).unwrap())
    .unwrap()
    .flatten_all()
    .unwrap()
    .to_vec1::<f32>()
    .unwrap();
    let mean = cos.iter().map(|&c| c as f64).sum::<f64>() / cos.len() as f64;
    assert!((mean - r.mean_cosine).abs() < 1e-4, "mean cosine {mean} here, {} from the trainer", r.mean_cosine);
    let change = ((&b - &a).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap()
        / a.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap())
    .sqrt() as f64;
    assert!((change - r.relative_change).abs() < 1e-3 * change.max(1.0), "relative change {change} here, {} from the trainer", r.relative_change);

    // The explainer's captions now: the trained encoder, the shipped projector and LLM.
    let mut hybrid: HashMap<String, Tensor> = loaded.into_iter().filter(|(n, _)| Part::of(n) != Some(Part::VisionEncoder)).collect();
    hybrid.extend(t.tensors().into_iter().filter(|(n, _)| Part::of(n) == Some(Part::VisionEncoder)));
    let hybrid = vlm_of(&config, hybrid);
    let e = r.explainer.as_ref().unwrap();
    assert_eq!(said(&e.now.captions, Lang::En), captions(&hybrid, &tokenizer, scenes, Lang::En));
    assert_eq!(said(&e.now.captions, Lang::Zh), captions(&hybrid, &tokenizer, scenes, Lang::Zh));
    // The loaded encoder's captions stay as they were.
    assert_eq!(said(&e.before.captions, Lang::En), said(&start.explainer.as_ref().unwrap().before.captions, Lang::En));

    // A reset restores the loaded encoder: nothing has moved again.
    t.reset(options).unwrap();
    let back = t.feature_drift().unwrap();
    assert!(back.min_cosine > 0.99999, "{back:?}");
}
