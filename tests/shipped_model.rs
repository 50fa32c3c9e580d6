//! The model the page loads by default (`www/model/`): it loads, and on 100 held-out ShapesWorld
//! scenes (seeds never used in training) it scores what its `eval.json` (1,000 scenes) says, well
//! above chance where it has learned. Inference only.
#![cfg(not(target_arch = "wasm32"))]

use std::fs;
use std::path::Path;

use candle_core::Device;
use vlm_explainer::evaluate::{evaluate, LangScores};
use vlm_explainer::shapes_world::Lang;
use vlm_explainer::tokenizer::TextTokenizer;
use vlm_explainer::{weights, Config};

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
        // Every score reproduces eval.json: 100 scenes hold about 200 objects, so a standard
        // error of about 3.5 points on a rate near 50%.
        for (field, got) in [
            ("caption_exact", caption_exact),
            ("shape", shape),
            ("colour", colour),
            ("size", size),
            ("position", position),
            ("count", count),
            ("qa_accuracy", qa_accuracy),
        ] {
            let want = recorded(&eval, name, field);
            assert!((got - want).abs() <= 0.1, "{name} {field}: {got:.3} on {SCENES} scenes, eval.json says {want:.3}");
        }
        // And it is a trained model: colour (chance 1/6) and position (chance 1/9) are read from
        // the image. (Shape is not yet: see the README's training status.)
        assert!(colour >= 1.0 / 6.0 + 0.4, "{name} colour {colour:.3} is near chance");
        assert!(position >= 1.0 / 9.0 + 0.15, "{name} position {position:.3} is near chance");
    }
}
