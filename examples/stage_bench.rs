//! The speed benchmark's native side (`scripts/bench.sh` runs it; `bench/run.mjs` reads its
//! output): the same stages as the browser, through the same `bench::time_stages`.
//!
//!     cargo run --release --example stage_bench -- write-models DIR
//!         writes DIR/tiny and DIR/seed (config.json, f16 model.safetensors, tokenizer.json),
//!         each preset with weights drawn from seed 0; skips a preset whose files are there
//!         with the config this build would write;
//!         and DIR/scene.png, a held-out ShapesWorld scene for the real page to caption
//!     cargo run --release --example stage_bench -- run MODEL_DIR [RUNS=5] [WARMUP=1]
//!         loads the model WARMUP + RUNS times, then runs every stage WARMUP + RUNS times, and
//!         prints one JSON object: { threads, load_ms: [RUNS], runs: [RUNS x StageTimes] }
//!
//! Threads: candle's, from RAYON_NUM_THREADS (all cores when unset).
// Native only: a plain `wasm-pack test` builds every example for wasm32, where this one (which
// times candle natively) has nothing to do, so there it is an empty program.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]
use std::fs;
use std::path::Path;
use std::time::Instant;

use candle_core::Result;
use serde_json::json;
use vlm_explainer::train::evaluate::HELD_OUT_START;
use vlm_explainer::shapes_world::Scene;
use vlm_explainer::{bench, Explainer};

fn write_models(dir: &Path) -> Result<()> {
    for preset in ["tiny", "seed"] {
        let out = dir.join(preset);
        let current = fs::read_to_string(out.join("config.json")).ok();
        if out.join("model.safetensors").exists() && current == Some(bench::config(preset)?.to_json()) {
            eprintln!("[stage_bench] {} is there", out.display());
            continue;
        }
        fs::create_dir_all(&out)?;
        let files = bench::model_files(preset, 0)?;
        fs::write(out.join("config.json"), &files.config_json)?;
        fs::write(out.join("tokenizer.json"), &files.tokenizer_json)?;
        // Last, so that a cut-short run leaves no model that looks complete.
        fs::write(out.join("model.safetensors"), &files.weights)?;
        eprintln!("[stage_bench] wrote {} ({:.1} MB of weights)", out.display(), files.weights.len() as f64 / 1e6);
    }
    // What the shipped model learned to caption, so the page's answer ends as a caption does.
    let scene = Scene::generate(HELD_OUT_START).to_prepared_image();
    let side = scene.size as u32;
    image::RgbaImage::from_raw(side, side, scene.to_rgba())
        .expect("a prepared image is size x size pixels")
        .save(dir.join("scene.png"))
        .map_err(|e| candle_core::Error::Msg(format!("scene.png: {e}")))?;
    Ok(())
}

fn load(dir: &Path) -> Result<Explainer> {
    let weights = fs::read(dir.join("model.safetensors"))?;
    let config = fs::read_to_string(dir.join("config.json"))?;
    let tokenizer = fs::read(dir.join("tokenizer.json"))?;
    Explainer::load(weights, &config, &tokenizer)
}

fn run(dir: &Path, runs: usize, warmup: usize) -> Result<()> {
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let mut load_ms = Vec::new();
    let mut model = None;
    for i in 0..warmup + runs {
        drop(model.take());
        let t = now();
        model = Some(load(dir)?);
        if i >= warmup {
            load_ms.push(now() - t);
        }
    }
    let model = model.expect("at least one load");
    let rgba = bench::image_rgba();
    let mut times = Vec::new();
    for i in 0..warmup + runs {
        let t = bench::time_stages(&model.vlm, &model.tokenizer, &rgba, bench::IMAGE_SIZE, &now)?;
        if i >= warmup {
            times.push(t);
        }
    }
    let threads = candle_core::utils::get_num_threads();
    println!("{}", json!({ "threads": threads, "load_ms": load_ms, "runs": times }));
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).map_or(Ok(default), |a| a.parse().map_err(|_| candle_core::Error::Msg(format!("not a number: {a}"))));
    match args.first().map(String::as_str) {
        Some("write-models") if args.len() == 2 => write_models(Path::new(&args[1])),
        Some("run") if args.len() >= 2 => run(Path::new(&args[1]), number(2, 5)?, number(3, 1)?),
        _ => candle_core::bail!("usage: stage_bench write-models DIR | stage_bench run MODEL_DIR [RUNS] [WARMUP]"),
    }
}
