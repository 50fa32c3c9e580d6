//! The page's projector training (panel 6, `ProjectorTrainer`), run natively to compare its
//! settings: a fresh projector on a model's frozen vision encoder and LLM, `steps` steps of
//! `batch` scenes at `lr`, drawn from a pool of `pool` scenes, scored every `every` steps on
//! `scenes` held-out scenes (the panel scores 16). Prints the time per step, so that a
//! setting's steps can be set against the page's 5 minutes by ratio. `KIND=linear` (or
//! `mlp2x_gelu_3x3`) trains that projector instead of the panel's default; `QUESTIONS=Q` packs Q
//! of each scene's questions with its captions.
//!     cargo run --release --example panel_sweep -- www/model BATCH LR STEPS [POOL] [EVERY] [SCENES]
use candle_core::Result;
use vlm_explainer::train::projector_trainer::{ProjectorTrainer, TrainOptions};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: panel_sweep MODEL_DIR BATCH LR STEPS [POOL] [EVERY] [SCENES]");
        std::process::exit(2);
    }
    let dir = std::path::Path::new(&args[0]);
    let num = |i: usize, default: &str| -> f64 { args.get(i).map_or(default, |s| s.as_str()).parse().expect("a number") };
    let (batch, lr, steps) = (num(1, "8") as usize, num(2, "2e-3"), num(3, "100") as usize);
    let (pool, every, scenes) = (num(4, "256") as usize, num(5, "50") as usize, num(6, "100") as usize);
    let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
    // KIND=linear | mlp2x_gelu | mlp2x_gelu_3x3: the projector the panel's menu offers.
    let kind = match std::env::var("KIND") {
        Ok(k) => serde_json::from_str(&format!("\"{k}\"")).unwrap_or_else(|_| panic!("KIND={k}: linear, mlp2x_gelu or mlp2x_gelu_3x3")),
        Err(_) => TrainOptions::default().kind,
    };
    // QUESTIONS=Q: each scene's row also teaches Q of its questions (stage d's turns).
    let questions = std::env::var("QUESTIONS").map_or(0, |q| q.parse().expect("QUESTIONS"));
    let options = TrainOptions { kind, batch, questions, lr, pool, eval_scenes: scenes, ..TrainOptions::default() };
    let config = String::from_utf8(read("config.json")).expect("UTF-8");
    let mut trainer = ProjectorTrainer::from_files(read("model.safetensors"), &config, &read("tokenizer.json"), options)?;
    // DECAY_FROM=K: the learning rate falls linearly from step K to a tenth of it at the last step.
    let decay_from: Option<usize> = std::env::var("DECAY_FROM").ok().map(|s| s.parse().expect("DECAY_FROM"));
    let mut step_ms = 0.0;
    for step in 1..=steps {
        if let Some(k) = decay_from.filter(|&k| step > k) {
            trainer.set_learning_rate(lr * (1.0 - 0.9 * (step - k) as f64 / (steps - k).max(1) as f64));
        }
        step_ms += trainer.step()?.step_ms;
        if step % every == 0 || step == steps {
            let r = trainer.evaluate()?;
            let p = |x: f64| format!("{:.1}", 100.0 * x);
            println!(
                "batch {batch} lr {lr} pool {pool} step {step}: {:.0} ms a step | en shape/colour/size/position {}/{}/{}/{} exact {} | zh {}/{}/{}/{} exact {} | eval {:.0} s",
                step_ms / step as f64,
                p(r.en.shape), p(r.en.colour), p(r.en.size), p(r.en.position), p(r.en.caption_exact),
                p(r.zh.shape), p(r.zh.colour), p(r.zh.size), p(r.zh.position), p(r.zh.caption_exact),
                r.ms / 1000.0
            );
        }
    }
    Ok(())
}
