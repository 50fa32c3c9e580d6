//! Sanity check of the LLM's training: can it learn to repeat a random sequence of tokens (the
//! induction-head task)? Prints the loss on the repeated half; a working transformer drives it
//! towards 0 within a few hundred steps.
//!     cargo run --release --features cli --example copy_probe -- runs/NAME [steps] [len]
use candle_core::{Result, Tensor};
use candle_nn::Optimizer;
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::infer::sampling::Rng;
use vlm_explainer::train::freeze::{Part, PartlyFrozen};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: copy_probe runs/NAME [steps] [len]");
    let steps: usize = args.next().map(|s| s.parse().expect("steps")).unwrap_or(400);
    let len: usize = args.next().map(|s| s.parse().expect("len")).unwrap_or(10);
    let run = Run::open(std::path::Path::new(&dir))?;
    let varmap = run.varmap(None)?;
    let model = PartlyFrozen::new(&run.config, &varmap, &[Part::Llm], &run.device)?;
    let mut opt = model.optimizer(2e-3)?;
    let mut rng = Rng::new(9);
    let b = 32;
    let t = 1 + 2 * len;
    for step in 0..steps {
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        for _ in 0..b {
            let seq: Vec<u32> = (0..len).map(|_| 10 + (rng.next_u64() % 400) as u32).collect();
            ids.push(run.tokenizer.special()?.bos);
            ids.extend(&seq);
            ids.extend(&seq);
            mask.extend((0..t).map(|j| if j > len + 1 { 1f32 } else { 0f32 }));
        }
        let ids = Tensor::from_vec(ids, (b, t), &run.device)?;
        let mask = Tensor::from_vec(mask, (b, t), &run.device)?;
        let loss = model.vlm.text_only_loss(&ids, &mask)?;
        opt.backward_step(&loss)?;
        if step % 25 == 0 || step + 1 == steps {
            println!("step {step}: loss {:.4}", loss.to_scalar::<f32>()?);
        }
    }
    Ok(())
}
