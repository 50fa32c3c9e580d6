//! What kind of mistakes does the model make in its captions? For held-out scenes, the model
//! captions each one (greedy, as the eval does). Where a caption names as many objects as the
//! scene has, each attribute it gets wrong is sorted into one of two kinds:
//! - borrowed: the wrong value is what another object of the same scene has (the model saw it,
//!   but tied it to the wrong object);
//! - unseen: no object of the scene has it (the model misread what it saw).
//!     cargo run --release --features cli --example caption_errors -- runs/NAME [stage] [scenes] [en|zh]
use candle_core::{DType, Result};
use candle_nn::VarBuilder;
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::evaluate::{answer, HELD_OUT_START};
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::text::prompt::Task;
use vlm_explainer::shapes_world::{caption_prompt, parse_caption, Lang, Object, Scene};
use vlm_explainer::model::vlm::Vlm;

type Attribute = (&'static str, fn(&Object, &Object) -> bool);

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: caption_errors runs/NAME [stage] [scenes] [en|zh]");
    let stage = args.next().unwrap_or_else(|| "d".into());
    let scenes: u64 = args.next().map(|s| s.parse().expect("scenes: a number")).unwrap_or(200);
    let lang = if args.next().as_deref() == Some("zh") { Lang::Zh } else { Lang::En };
    let run = Run::open(std::path::Path::new(&dir))?;
    let varmap = run.varmap(Some(stage.as_str()))?;
    let vlm = Vlm::new(&run.config, VarBuilder::from_varmap(&varmap, DType::F32, &run.device))?;
    let attributes: [Attribute; 4] = [
        ("shape", |a, b| a.shape == b.shape),
        ("colour", |a, b| a.colour == b.colour),
        ("size", |a, b| a.size == b.size),
        ("position", |a, b| a.cell == b.cell),
    ];
    // Per attribute: (objects, wrong, of which borrowed), over scenes of 2 or more objects, and
    // wrong over scenes of 1 object (where nothing can be borrowed).
    let mut tally = [(0usize, 0usize, 0usize, 0usize, 0usize); 4];
    let mut skipped = 0;
    for seed in HELD_OUT_START..HELD_OUT_START + scenes {
        let scene = Scene::generate(seed);
        let features = vlm.encode_image(&pixels(&[scene.to_prepared_image()], &run.device)?, false)?.patch_features;
        let image = Generator::image_cache(&vlm, &vlm.project(&features)?)?;
        let text = answer(&vlm, &run.tokenizer, &image, Task::Caption, caption_prompt(lang))?;
        let said = parse_caption(&text, lang).unwrap_or_default();
        if said.len() != scene.objects.len() {
            skipped += 1;
            continue;
        }
        for (i, (truth, named)) in scene.objects.iter().zip(&said).enumerate() {
            for (a, (_, same)) in attributes.iter().enumerate() {
                let t = &mut tally[a];
                if scene.objects.len() == 1 {
                    t.3 += 1;
                    t.4 += usize::from(!same(truth, named));
                    continue;
                }
                t.0 += 1;
                if !same(truth, named) {
                    t.1 += 1;
                    let others = scene.objects.iter().enumerate().filter(|(j, _)| *j != i);
                    t.2 += usize::from(others.clone().any(|(_, o)| same(o, named)));
                }
            }
        }
    }
    println!("{dir} stage {stage}: {scenes} held-out scenes, {lang:?} captions ({skipped} skipped: objects miscounted)");
    println!("| attribute | objects in scenes of 2-3 | wrong | of which another object's | objects alone | wrong |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for ((name, _), (n, wrong, borrowed, alone, alone_wrong)) in attributes.iter().zip(tally) {
        let pct = |x: usize, of: usize| format!("{:.1}%", 100.0 * x as f64 / of.max(1) as f64);
        println!("| {name} | {n} | {} | {} | {alone} | {} |", pct(wrong, n), pct(borrowed, wrong), pct(alone_wrong, alone));
    }
    Ok(())
}
