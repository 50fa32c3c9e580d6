//! Turns a shipped model directory into a run's stage checkpoint, so that a later stage can be
//! tried again from it (the CLIP heads, which a shipped model does not carry, keep their seeded
//! values).
//!     cargo run --release --features cli --example import_model -- www/model runs/NAME STAGE [3x3]
//! With `3x3`, a plain `mlp2x_gelu` projector becomes an `mlp2x_gelu_3x3` that computes exactly
//! what it computed: its first layer's columns for the 8 neighbours start at 0.
use candle_core::{Device, Result, Tensor};
use vlm_explainer::model::config::Config;
use vlm_explainer::train::pipeline::run::Run;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, run_dir, stage, widen) = match args.as_slice() {
        [m, r, s] => (m, r, s, false),
        [m, r, s, w] if w == "3x3" => (m, r, s, true),
        _ => panic!("usage: import_model MODEL_DIR runs/NAME STAGE [3x3]"),
    };
    let (model, run_dir) = (std::path::Path::new(model), std::path::Path::new(run_dir));
    std::fs::create_dir_all(run_dir)?;
    std::fs::copy(model.join("tokenizer.json"), run_dir.join("tokenizer.json"))?;
    let config_json = std::fs::read_to_string(model.join("config.json"))?;
    let shipped = Config::from_json(&config_json)?;
    let mut value: serde_json::Value = serde_json::from_str(&config_json).map_err(candle_core::Error::wrap)?;
    if widen {
        assert_eq!(value["projector"]["kind"], "mlp2x_gelu", "only a plain MLP projector widens to 3x3");
        value["projector"]["kind"] = "mlp2x_gelu_3x3".into();
    }
    std::fs::write(run_dir.join("config.json"), serde_json::to_string_pretty(&value).map_err(candle_core::Error::wrap)?)?;
    let run = Run::open(run_dir)?;
    let bytes = std::fs::read(model.join("model.safetensors"))?;
    let mut tensors = vlm_explainer::model::weights::load_tensors(&shipped, bytes, &Device::Cpu)?;
    if widen {
        // (D_t, D_v) -> (D_t, 9 D_v): the patch itself is the 5th of the 9, its neighbours read 0.
        let fc1 = &tensors["projector.fc1.weight"];
        let (rows, cols) = fc1.dims2()?;
        let neighbours = Tensor::zeros((rows, 4 * cols), fc1.dtype(), fc1.device())?;
        tensors.insert("projector.fc1.weight".into(), Tensor::cat(&[&neighbours, fc1, &neighbours], 1)?);
    }
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
