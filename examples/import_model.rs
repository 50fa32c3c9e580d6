//! Turns a shipped model directory into a run's stage checkpoint, so that a later stage can be
//! tried again from it (the CLIP heads, which a shipped model does not carry, keep their seeded
//! values).
//!     cargo run --release --features cli --example import_model -- www/model runs/NAME STAGE
use candle_core::{Device, Result};
use vlm_explainer::pipeline::run::Run;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, run_dir, stage] = args.as_slice() else {
        panic!("usage: import_model MODEL_DIR runs/NAME STAGE");
    };
    let (model, run_dir) = (std::path::Path::new(model), std::path::Path::new(run_dir));
    std::fs::create_dir_all(run_dir)?;
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(model.join(name), run_dir.join(name))?;
    }
    let run = Run::open(run_dir)?;
    let bytes = std::fs::read(model.join("model.safetensors"))?;
    let tensors = vlm_explainer::weights::load_tensors(&run.config, bytes, &Device::Cpu)?;
    let varmap = run.varmap(None)?;
    for (name, var) in varmap.data().lock().expect("unpoisoned").iter() {
        if let Some(t) = tensors.get(name) {
            var.set(t)?;
        }
    }
    run.save(&varmap, stage)?;
    println!("{} tensors imported into {}", tensors.len(), run.path(&format!("stage_{stage}.safetensors")).display());
    Ok(())
}
