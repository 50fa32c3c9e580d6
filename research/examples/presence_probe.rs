//! Does the answer to "is there a X?" depend on X? For held-out scenes and every shape, the
//! probability of the first token of "yes" (有) at the answer position, averaged separately over
//! the shapes the scene has and the shapes it lacks. Equal averages: the model never read X.
//!     cargo run --release --features cli --example presence_probe -- MODEL_DIR|runs/NAME [scenes]
use candle_core::{Device, Result};
use vlm_explainer::train::batch::pixels;
use vlm_explainer::model::config::Config;
use vlm_explainer::train::evaluate::HELD_OUT_START;
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::text::prompt::{prompt_ids, Task};
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::shapes_world::{Lang, Scene};
use vlm_explainer::text::tokenizer::TextTokenizer;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "www/model".into()));
    let scenes: u64 = args.next().map(|s| s.parse().expect("scenes")).unwrap_or(50);
    let read = |n: &str| std::fs::read(dir.join(n)).expect("model file");
    let config = Config::from_json(&String::from_utf8_lossy(&read("config.json")))?;
    let tokenizer = TextTokenizer::from_json(&read("tokenizer.json"))?;
    // A run's folder holds stage_d.safetensors; a model folder, model.safetensors.
    let vlm = if dir.join("stage_d.safetensors").exists() {
        let run = vlm_explainer::train::pipeline::run::Run::open(&dir)?;
        let varmap = run.varmap(Some("d"))?;
        vlm_explainer::model::vlm::Vlm::new(&config, candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu))?
    } else {
        vlm_explainer::model::weights::load(&config, read("model.safetensors"), &Device::Cpu)?
    };
    for lang in Lang::ALL {
        let (mut present, mut absent) = (Vec::new(), Vec::new());
        for seed in HELD_OUT_START..HELD_OUT_START + scenes {
            let scene = Scene::generate(seed);
            let features = vlm.encode_image(&pixels(&[scene.to_prepared_image()], &Device::Cpu)?, false)?.patch_features;
            let image = Generator::image_cache(&vlm, &vlm.project(&features)?)?;
            for (question, answer) in scene.questions(lang).into_iter().filter(|(q, _)| q.starts_with("is there") || q.starts_with('有') && !q.contains('几')) {
                let ids = prompt_ids(&tokenizer, Task::Question, &question)?;
                let g = Generator::start_after_image(&vlm, image.clone(), &ids, SamplingOptions::default(), None)?;
                let logits = g.next_logits().expect("a prediction");
                let max = logits.iter().copied().fold(f32::MIN, f32::max);
                let z: f32 = logits.iter().map(|l| (l - max).exp()).sum();
                let yes = tokenizer.encode(if lang == Lang::En { "yes" } else { "有" })?[0];
                let p = (logits[yes as usize] - max).exp() / z;
                if answer == "yes" || answer == "有" { present.push(p) } else { absent.push(p) }
            }
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
        println!("{lang:?}: P(yes) where present {:.3} (n={}), where absent {:.3} (n={})", mean(&present), present.len(), mean(&absent), absent.len());
    }
    Ok(())
}
