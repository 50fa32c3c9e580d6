//! Question-answer accuracy per kind of question (colour, place, count, presence), per language,
//! on held-out scenes, for a run's stage d.
//! With SHOW_WRONG set, prints every wrong answer beside the scene's caption.
//!     cargo run --release --features cli --example qa_by_kind -- runs/NAME [scenes]
use candle_core::{DType, Result};
use candle_nn::VarBuilder;
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::evaluate::{answer, HELD_OUT_START};
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::text::prompt::Task;
use vlm_explainer::shapes_world::{Lang, Scene};
use vlm_explainer::model::vlm::Vlm;

fn kind(q: &str) -> &'static str {
    match () {
        _ if q.contains("colour") || q.contains("颜色") => "colour",
        _ if q.contains("where") || q.contains("哪里") => "place",
        _ if q.contains("how many") || q.contains("几个") => "count",
        _ => "presence",
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: qa_by_kind runs/NAME [scenes]");
    let scenes: u64 = args.next().map(|s| s.parse().expect("scenes")).unwrap_or(100);
    let run = Run::open(std::path::Path::new(&dir))?;
    let varmap = run.varmap(Some("d"))?;
    let vlm = Vlm::new(&run.config, VarBuilder::from_varmap(&varmap, DType::F32, &run.device))?;
    let mut tally: std::collections::BTreeMap<(String, &str), (usize, usize)> = Default::default();
    for seed in HELD_OUT_START..HELD_OUT_START + scenes {
        let scene = Scene::generate(seed);
        let features = vlm.encode_image(&pixels(&[scene.to_prepared_image()], &run.device)?, false)?.patch_features;
        let image = Generator::image_cache(&vlm, &vlm.project(&features)?)?;
        for lang in Lang::ALL {
            for (q, a) in scene.questions(lang) {
                let got = answer(&vlm, &run.tokenizer, &image, Task::Question, &q)?;
                let t = tally.entry((format!("{lang:?}"), kind(&q))).or_default();
                t.0 += 1;
                t.1 += usize::from(got == a);
                if got != a && std::env::var_os("SHOW_WRONG").is_some() {
                    println!("{q} -> {got:?} (want {a:?}; scene: {})", scene.caption(lang));
                }
            }
        }
    }
    for ((lang, k), (n, right)) in tally {
        println!("{lang} {k}: {right}/{n} = {:.1}%", 100.0 * right as f64 / n as f64);
    }
    Ok(())
}
