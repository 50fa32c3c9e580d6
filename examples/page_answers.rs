//! Records what the shipped model (www/model/) answers to the page's prompts about three fixed
//! ShapesWorld scenes, natively, into tests/fixtures/page_answers.json, for the page test to
//! compare the page's answers with (what is asked and how: tests/checks/page_answers.rs).
//!
//!     cargo run --release --example page_answers [-- --accept]
//!
//! It says what changed against the file there and writes nothing unless `--accept` is given;
//! tests/page_answers.rs fails while the recording is not this build's.
// Native only: a plain `wasm-pack test` builds every example for wasm32.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

#[path = "../tests/checks/page_answers.rs"]
mod page_answers;

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recording = page_answers::record(&page_answers::shipped_files(&root.join("www/model")));
    for scene in &recording.scenes {
        println!("scene {}: {}", scene.seed, scene.caption_en);
        for a in &scene.answers {
            println!("  {} {:?} -> {:?} ({}, {} tokens, min log p1/p2 {:.3})", a.lang, a.prompt, a.text, if a.right { "right" } else { "WRONG" }, a.tokens.len(), a.min_logit_margin);
        }
    }
    let text = serde_json::to_string_pretty(&recording).unwrap() + "\n";
    let path = root.join("tests/fixtures/page_answers.json");
    match std::fs::read_to_string(&path) {
        Ok(old) if old == text => println!("tests/fixtures/page_answers.json: unchanged"),
        old => {
            if let Ok(old) = &old {
                let old: page_answers::Recording = serde_json::from_str(old).expect("the recorded page_answers.json parses");
                if old.model_fnv1a != recording.model_fnv1a {
                    println!("the model's files changed: {:?} -> {:?}", old.model_fnv1a, recording.model_fnv1a);
                }
                for (o, n) in old.scenes.iter().zip(&recording.scenes) {
                    for (a, b) in o.answers.iter().zip(&n.answers) {
                        if a != b {
                            println!("scene {} {} {:?}: {:?} -> {:?}{}", n.seed, b.lang, b.prompt, a.text, b.text, if a.text == b.text { " (its tokens' numbers changed)" } else { "" });
                        }
                    }
                }
                if !std::env::args().any(|a| a == "--accept") {
                    eprintln!("page_answers: nothing written; run again with --accept to record these answers");
                    std::process::exit(1);
                }
            }
            std::fs::write(&path, text).unwrap();
            println!("wrote tests/fixtures/page_answers.json");
        }
    }
}
