//! Times the training steps of the `tiny` model natively: a stage-d step (projector + LLM on
//! cached patch features) and a stage-a style step (ViT forward + backward), median of N.
//!     cargo run --release --example train_step_bench -- [steps] [batch]
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use vlm_explainer::train::init;
use vlm_explainer::model::config::Config;
use vlm_explainer::train::freeze::{adamw, Part, PartlyFrozen};
use vlm_explainer::train::step::train_step;
use vlm_explainer::model::vlm::Vlm;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> candle_core::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let steps = *args.first().unwrap_or(&5);
    let batch = *args.get(1).unwrap_or(&16);
    let dev = Device::Cpu;
    let config = Config::tiny(512);
    let varmap = VarMap::new();
    Vlm::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    init::init_seeded(&varmap, 0)?;
    let t = 40;
    let ids = Tensor::rand(0f32, 500f32, (batch, t), &dev)?.to_dtype(DType::U32)?;
    let mask = Tensor::ones((batch, t), DType::F32, &dev)?;
    let feats = Tensor::randn(0f32, 1f32, (batch, 196, config.vision.width), &dev)?;

    let model = PartlyFrozen::new(&config, &varmap, &[Part::Projector, Part::Llm], &dev)?;
    let mut opt = model.optimizer(1e-4)?;
    let mut times = vec![];
    for _ in 0..steps + 1 {
        let s = Instant::now();
        train_step(&model, &mut opt, &feats, &ids, &mask)?;
        times.push(s.elapsed().as_secs_f64());
    }
    times.remove(0);
    println!("stage d step (projector + LLM), batch {batch}, 196 + {t} positions: {:.3} s", median(times));

    let mut times = vec![];
    for _ in 0..steps + 1 {
        let s = Instant::now();
        let img = model.vlm.project(&feats)?;
        let loss = model.vlm.text_loss(&img, &ids, &mask)?;
        loss.to_scalar::<f32>()?;
        times.push(s.elapsed().as_secs_f64());
    }
    times.remove(0);
    println!("stage d forward only: {:.3} s", median(times));

    let model = PartlyFrozen::new(&config, &varmap, &[Part::VisionEncoder], &dev)?;
    let mut opt = adamw(&model.trainable, 1e-4)?;
    let pixels = Tensor::randn(0f32, 1f32, (batch, 3, 224, 224), &dev)?;
    let mut times = vec![];
    for _ in 0..steps + 1 {
        let s = Instant::now();
        let out = model.vlm.encode_image(&pixels, false)?;
        let loss = out.cls()?.sqr()?.mean_all()?;
        opt.backward_step(&loss)?;
        times.push(s.elapsed().as_secs_f64());
    }
    times.remove(0);
    println!("vision step (ViT forward + backward), batch {batch}: {:.3} s", median(times));
    let mut times = vec![];
    for _ in 0..steps + 1 {
        let s = Instant::now();
        let out = model.vlm.vision_encoder.forward(&pixels.detach(), false)?;
        out.cls()?.sum_all()?.to_scalar::<f32>()?;
        times.push(s.elapsed().as_secs_f64());
    }
    times.remove(0);
    println!("vision forward only: {:.3} s", median(times));
    Ok(())
}
