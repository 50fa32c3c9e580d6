//! Records the fixture the native and browser tests share (tests/fixtures/, see
//! tests/fixture/mod.rs): what this native build computes for the fixture's model and image,
//! `expected.json`.
//!
//!     cargo run --release --example make_fixture -- [--teach | --new-model] [--accept]
//!
//! `--teach` also makes `taught.safetensors` again: `model.safetensors` taught ShapesWorld's
//! captions for 120 steps of the training panel's trainer (projector and LLM; about 15 s).
//! `--new-model` makes every file again from this build's `Config::micro`: seeded weights
//! stored as f16 (`model.safetensors`), the taught model, config, tokenizer, a 300x200 PNG.
//! (The recorded `model.safetensors` predates micro's hMLP stem: its config.json has none, so
//! it is CLIP's linear patch embedding.)
//!
//! It never overwrites silently: it compares what it computed with what is recorded, prints
//! every field that changed and by how much (against the tests' tolerances), and writes nothing
//! unless `--accept` is given. A change to the model code that means to alter what the model
//! computes or generates is accepted this way, after reading the report.
// Native only: a plain `wasm-pack test` builds every example for wasm32.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::{Rgb, RgbImage};
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::train::freeze::Part;
use vlm_explainer::train::init;
use vlm_explainer::train::projector_trainer::{ProjectorTrainer, TrainOptions};
use vlm_explainer::{model::weights, Config};

/// Teaching steps for `taught.safetensors`: at 120 the greedy caption reads "a small blue sta s t
/// the" with every choice clear (log p1/p2 >= 0.014); at 40 it was "a big irgllll rr".
const TEACHING_STEPS: usize = 120;

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let (accept, teach, new_model) = (flag("--accept"), flag("--teach"), flag("--new-model"));
    if let Some(other) = args.iter().find(|a| !["--accept", "--teach", "--new-model"].contains(&a.as_str())) {
        panic!("unknown argument {other}: make_fixture [--teach | --new-model] [--accept]");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let read = |name: &str| fs::read(dir.join(name)).ok();
    let mut files: Vec<(&str, Vec<u8>)> = if new_model {
        model_and_image()?
    } else {
        let mut files: Vec<(&str, Vec<u8>)> = ["model.safetensors", "config.json", "tokenizer.json", "image.png"]
            .into_iter()
            .map(|n| (n, read(n).unwrap_or_else(|| panic!("tests/fixtures/{n} is missing: run with --new-model"))))
            .collect();
        let taught = match read("taught.safetensors") {
            Some(bytes) if !teach => bytes,
            None if !teach => panic!("tests/fixtures/taught.safetensors is missing: run with --teach"),
            _ => taught(&files[0].1, std::str::from_utf8(&files[1].1).expect("config.json is text"), &files[2].1)?,
        };
        files.insert(1, ("taught.safetensors", taught));
        files
    };
    let get = |files: &[(&str, Vec<u8>)], name: &str| files.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let config = String::from_utf8(get(&files, "config.json")).expect("config.json is text");
    let (weights, taught, tokenizer, image_png) =
        (get(&files, "model.safetensors"), get(&files, "taught.safetensors"), get(&files, "tokenizer.json"), get(&files, "image.png"));
    let outcome = fixture::run(&fixture::Files { weights: &weights, taught: &taught, config: &config, tokenizer: &tokenizer, image_png: &image_png });
    let problems = fixture::recording_problems(&outcome);
    if !problems.is_empty() {
        eprintln!("make_fixture: this outcome cannot serve as a recording, nothing written:\n  {}", problems.join("\n  "));
        std::process::exit(1);
    }
    println!("greedy answer {:?} (min log p1/p2 {:.4})", String::from_utf8_lossy(&outcome.answer_ids.iter().map(|&i| i as u8).collect::<Vec<_>>()), outcome.min_logit_margin);
    files.push(("expected.json", (serde_json::to_string_pretty(&outcome).expect("numbers serialise") + "\n").into_bytes()));

    // What would change, file by file; for expected.json, field by field.
    let mut changed = vec![];
    for (name, bytes) in &files {
        match read(name) {
            Some(old) if &old == bytes => println!("tests/fixtures/{name}: unchanged"),
            None => {
                println!("tests/fixtures/{name}: new ({} bytes)", bytes.len());
                changed.push(*name);
            }
            Some(old) => {
                println!("tests/fixtures/{name}: CHANGED ({} -> {} bytes)", old.len(), bytes.len());
                if *name == "expected.json" {
                    match serde_json::from_slice::<fixture::Outcome>(&old) {
                        Ok(recorded) => {
                            for d in fixture::differences(&outcome, &recorded) {
                                println!("    {:<18} {} {}", d.field, if d.ok { "  " } else { "!!" }, d.what);
                            }
                        }
                        Err(e) => println!("    the recorded expected.json does not parse as this version's ({e})"),
                    }
                } else if name.ends_with(".safetensors") {
                    report_weights(&old, bytes);
                }
                changed.push(*name);
            }
        }
    }
    if changed.is_empty() {
        println!("nothing to write: the recording is this build's");
    } else if accept {
        for (name, bytes) in files.iter().filter(|(n, _)| changed.contains(n)) {
            fs::write(dir.join(name), bytes)?;
            println!("wrote tests/fixtures/{name}");
        }
    } else {
        eprintln!(
            "make_fixture: nothing written. {} would change (report above; `!!` marks a field beyond the tests' tolerance). \
             If the change is intended, run again with --accept.",
            changed.join(", ")
        );
        std::process::exit(1);
    }
    Ok(())
}

/// Per tensor, how far two safetensors files' weights are apart.
fn report_weights(old: &[u8], new: &[u8]) {
    let load = |b: &[u8]| candle_core::safetensors::load_buffer(b, &Device::Cpu).map_err(|e| e.to_string());
    match (load(old), load(new)) {
        (Ok(a), Ok(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) if x.dims() != y.dims() => println!("    {name}: shape {:?} -> {:?}", x.dims(), y.dims()),
                    (Some(x), Some(y)) => {
                        let f = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
                        let d: f32 = (f(x) - f(y)).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap();
                        if d > 0.0 {
                            println!("    {name}: largest change {d:.3e}");
                        }
                    }
                    (Some(_), None) => println!("    {name}: removed"),
                    _ => println!("    {name}: added"),
                }
            }
        }
        (a, b) => println!("    cannot compare: {:?} {:?}", a.err(), b.err()),
    }
}

/// The model taught ShapesWorld's captions: a fresh projector and the LLM learn, the vision
/// encoder stays as it is. Stored as f16 like the model.
fn taught(weights: &[u8], config_json: &str, tokenizer_json: &[u8]) -> candle_core::Result<Vec<u8>> {
    let options = TrainOptions { unfreeze: Some(Part::Llm), batch: 4, lr: 1e-2, pool: 64, eval_scenes: 2, seed: 0, ..TrainOptions::default() };
    let mut trainer = ProjectorTrainer::from_files(weights.to_vec(), config_json, tokenizer_json, options)?;
    for step in 0..TEACHING_STEPS {
        let report = trainer.step()?;
        if step % 20 == 19 {
            println!("teaching: step {} loss {:.3}", step + 1, report.loss);
        }
    }
    let halves: HashMap<String, Tensor> =
        trainer.tensors().into_iter().map(|(n, t)| Ok((n, t.to_dtype(DType::F16)?))).collect::<candle_core::Result<_>>()?;
    safetensors::serialize(&halves, None).map_err(candle_core::Error::wrap)
}

/// The fixture's model files and image, made afresh.
fn model_and_image() -> candle_core::Result<Vec<(&'static str, Vec<u8>)>> {
    let tokenizer = TextTokenizer::byte_level()?;
    let config = Config::micro(tokenizer.vocab_size());
    let (_, varmap) = init::seeded(&config, 42, &Device::Cpu)?;
    let weights = weights::to_safetensors(&varmap, DType::F16)?;
    let config_json = config.to_json();
    let tokenizer_json = tokenizer.to_json()?;

    let taught = taught(&weights, &config_json, tokenizer_json.as_bytes())?;

    // A gradient with a red square left of centre and a blue bar: not square, so cropping counts.
    let image = RgbImage::from_fn(300, 200, |x, y| {
        if (90..150).contains(&x) && (60..120).contains(&y) {
            Rgb([220, 30, 30])
        } else if (180..260).contains(&x) && (140..170).contains(&y) {
            Rgb([30, 40, 200])
        } else {
            Rgb([(x * 255 / 300) as u8, (y * 255 / 200) as u8, 128])
        }
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).map_err(candle_core::Error::wrap)?;
    Ok(vec![
        ("model.safetensors", weights),
        ("taught.safetensors", taught),
        ("config.json", config_json.into_bytes()),
        ("tokenizer.json", tokenizer_json.into_bytes()),
        ("image.png", png.into_inner()),
    ])
}
