//! The model the page loads by default (`www/model/`): it loads, and on 100 held-out ShapesWorld
//! scenes (seeds never used in training) it scores what its `eval.json` (1,000 scenes) says, and
//! meets the accuracy targets. Inference only.
#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::Path;

use candle_core::Device;
use vlm_explainer::train::evaluate::{evaluate, LangScores, HELD_OUT_START};
use vlm_explainer::shapes_world::Scene;
use vlm_explainer::shapes_world::Lang;
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::{model::weights, Config};

const SCENES: usize = 100;

fn recorded(eval: &serde_json::Value, lang: &str, field: &str) -> f64 {
    eval[lang][field].as_f64().unwrap_or_else(|| panic!("eval.json has no {lang}.{field}"))
}

#[test]
fn the_shipped_model_scores_on_100_held_out_scenes_what_its_eval_json_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/model");
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let files = &manifest["files"];
    assert!(files.is_object(), "www/model/manifest.json names no trained model");
    let read = |key: &str| fs::read(dir.join(files[key].as_str().unwrap())).unwrap();
    let config = Config::from_json(&String::from_utf8(read("config")).unwrap()).unwrap();
    let tokenizer = TextTokenizer::from_json(&read("tokenizer")).unwrap();
    let vlm = weights::load(&config, read("weights"), &Device::Cpu).unwrap();
    let eval: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("eval.json")).unwrap()).unwrap();

    let scores = evaluate(&vlm, &tokenizer, SCENES, &Device::Cpu, |_| {}).unwrap();
    for (lang, s) in &scores {
        let name = if *lang == Lang::En { "en" } else { "zh" };
        let LangScores { caption_exact, shape, colour, size, position, count, qa_accuracy, .. } = s.clone();
        println!(
            "{name}: exact {caption_exact:.3} shape {shape:.3} colour {colour:.3} size {size:.3} position {position:.3} count {count:.3} QA {qa_accuracy:.3}"
        );
        // Every score reproduces eval.json within 3 standard errors of a rate measured on this
        // sample: 100 captions for exact captions and counts, the scenes' objects for an
        // attribute, the questions for QA (at 42% of 100 captions, 3 standard errors are 15 points).
        let objects: usize = (0..SCENES as u64).map(|i| Scene::generate(HELD_OUT_START + i).objects.len()).sum();
        for (field, got, n) in [
            ("caption_exact", caption_exact, SCENES),
            ("shape", shape, objects),
            ("colour", colour, objects),
            ("size", size, objects),
            ("position", position, objects),
            ("count", count, SCENES),
            ("qa_accuracy", qa_accuracy, s.questions),
        ] {
            let want = recorded(&eval, name, field);
            let tolerance = 3.0 * (want * (1.0 - want) / n as f64).sqrt();
            assert!(
                (got - want).abs() <= tolerance.max(0.02),
                "{name} {field}: {got:.3} on {SCENES} scenes, eval.json says {want:.3} (tolerance {tolerance:.3})"
            );
        }
        // And on these 100 scenes it meets the targets: every attribute >= 95%, exact captions
        // >= 80%, question answering >= 90%.
        for (field, got) in [("shape", shape), ("colour", colour), ("size", size), ("position", position), ("count", count)] {
            assert!(got >= 0.95, "{name} {field}: {got:.3} on {SCENES} scenes, target 0.95");
        }
        assert!(caption_exact >= 0.80, "{name} exact captions: {caption_exact:.3} on {SCENES} scenes, target 0.80");
        assert!(qa_accuracy >= 0.90, "{name} question answering: {qa_accuracy:.3} on {SCENES} scenes, target 0.90");
    }
}
