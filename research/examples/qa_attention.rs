//! Does the answer look at the object the question names? For held-out scenes of 2-3 objects and
//! each "what colour is the X?" / "where is the X?" (both languages), the first answer token's
//! attention over the 196 image tokens, per layer: the share on the patches under the object
//! asked about against the share on the other objects' patches (per object), as the mean of the
//! heads and for the head that looks hardest at the asked object. Split by right and wrong
//! answers. Retrieval by the named shape would put much more on the asked object than on others.
//!     cargo run --release --features cli --example qa_attention -- MODEL_DIR|runs/NAME [scenes]
use candle_core::{Device, Result};
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::clip::patches_under;
use vlm_explainer::model::config::Config;
use vlm_explainer::train::evaluate::{answer, HELD_OUT_START};
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::text::prompt::{prompt_ids, Task};
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::shapes_world::{Lang, Scene};
use vlm_explainer::text::tokenizer::TextTokenizer;

#[derive(Default)]
struct Tally {
    n: usize,
    /// Per layer: mean-of-heads share on the asked object, per other object, best head's share.
    asked: Vec<f64>,
    other: Vec<f64>,
    best_head: Vec<f64>,
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "www/model".into()));
    let scenes: u64 = args.next().map(|s| s.parse().expect("scenes")).unwrap_or(100);
    let read = |n: &str| std::fs::read(dir.join(n)).expect("model file");
    let config = Config::from_json(&String::from_utf8_lossy(&read("config.json")))?;
    let tokenizer = TextTokenizer::from_json(&read("tokenizer.json"))?;
    let vlm = if dir.join("stage_d.safetensors").exists() {
        let run = vlm_explainer::train::pipeline::run::Run::open(&dir)?;
        let varmap = run.varmap(Some("d"))?;
        vlm_explainer::model::vlm::Vlm::new(&config, candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu))?
    } else {
        vlm_explainer::model::weights::load(&config, read("model.safetensors"), &Device::Cpu)?
    };
    let grid = config.patch_grid();
    let (layers, n) = (vlm.llm.layers(), vlm.num_image_tokens());
    // [lang][kind: colour, place][right, wrong]
    let mut tallies: Vec<Vec<[Tally; 2]>> = (0..2).map(|_| (0..2).map(|_| Default::default()).collect()).collect();
    for seed in HELD_OUT_START..HELD_OUT_START + scenes {
        let scene = Scene::generate(seed);
        if scene.objects.len() < 2 {
            continue;
        }
        let features = vlm.encode_image(&pixels(&[scene.to_prepared_image()], &Device::Cpu)?, false)?.patch_features;
        let image = Generator::image_cache(&vlm, &vlm.project(&features)?)?;
        let regions: Vec<Vec<usize>> = scene.objects.iter().zip(&scene.centres).map(|(o, &c)| patches_under(&grid, o, c)).collect();
        for (l, lang) in Lang::ALL.into_iter().enumerate() {
            for (question, truth) in scene.questions(lang) {
                let Some(asked) = scene.objects.iter().position(|o| question.contains(o.shape.name(lang))) else { continue };
                let kind = if question.contains("colour") || question.contains("颜色") {
                    0
                } else if question.starts_with("where") || question.contains("哪里") {
                    1
                } else {
                    continue;
                };
                let got = answer(&vlm, &tokenizer, &image, Task::Question, &question)?;
                let ids = prompt_ids(&tokenizer, Task::Question, &question)?;
                let mut g = Generator::start_after_image(&vlm, image.clone(), &ids, SamplingOptions::default(), None)?;
                let first = g.next_token(&vlm)?.expect("a first token");
                let heads = first.image_attention.len() / (layers * n);
                let t = &mut tallies[l][kind][usize::from(got != truth)];
                t.asked.resize(layers, 0.0);
                t.other.resize(layers, 0.0);
                t.best_head.resize(layers, 0.0);
                t.n += 1;
                for layer in 0..layers {
                    let (mut on, mut off, mut best) = (0.0f64, 0.0f64, 0.0f64);
                    for h in 0..heads {
                        let w = &first.image_attention[(layer * heads + h) * n..(layer * heads + h + 1) * n];
                        let share = |r: &[usize]| r.iter().map(|&p| w[p] as f64).sum::<f64>();
                        let a = share(&regions[asked]);
                        on += a;
                        best = best.max(a);
                        let others: f64 = (0..regions.len()).filter(|&i| i != asked).map(|i| share(&regions[i])).sum();
                        off += others / (regions.len() - 1) as f64;
                    }
                    t.asked[layer] += on / heads as f64;
                    t.other[layer] += off / heads as f64;
                    t.best_head[layer] += best;
                }
            }
        }
    }
    println!("{}: scenes of 2-3 objects among {scenes} held-out; first answer token's image attention", dir.display());
    println!("| lang | kind | answers | per layer: asked object / another object (mean of heads), best head on asked |");
    println!("| --- | --- | --- | --- |");
    for (l, lang) in Lang::ALL.into_iter().enumerate() {
        for (k, kind) in ["colour", "place"].into_iter().enumerate() {
            for (r, label) in ["right", "wrong"].into_iter().enumerate() {
                let t = &tallies[l][k][r];
                let m = t.n.max(1) as f64;
                let cells: Vec<String> = (0..t.asked.len())
                    .map(|i| format!("L{}: {:.1}/{:.1}, {:.1}%", i + 1, 100.0 * t.asked[i] / m, 100.0 * t.other[i] / m, 100.0 * t.best_head[i] / m))
                    .collect();
                println!("| {lang:?} | {kind} {label} | {} | {} |", t.n, cells.join("; "));
            }
        }
    }
    Ok(())
}
