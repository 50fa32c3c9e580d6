//! Where does the LLM look when it names a shape? For held-out scenes, the model captions each
//! one in English (greedy, as the eval does); at each shape word ("circle", ...) of a caption
//! that names as many objects as the scene has, it takes the word's attention over the 196 image
//! tokens, per layer (the mean of the heads), and measures how much of it falls on the patches
//! under the object that word describes (`clip::patches_under`, the box stage a's region loss
//! reads). Printed per layer, for the shape words that were right and those that were wrong,
//! beside the share those patches would get from attention spread evenly over the image.
//!     cargo run --release --features cli --example shape_attention -- runs/NAME [stage] [scenes]
use candle_core::{DType, Result};
use candle_nn::VarBuilder;
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::clip::patches_under;
use vlm_explainer::train::evaluate::HELD_OUT_START;
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::text::prompt::{prompt_ids, Task};
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::shapes_world::{caption_prompt, parse_caption, Lang, Scene, Shape};
use vlm_explainer::model::vlm::Vlm;

/// Sums over shape words: per layer, the share of image attention on the object's patches.
#[derive(Default)]
struct Tally {
    words: usize,
    on_object: Vec<f64>,
    /// The share of the image's patches the object covers (even attention's share).
    even: f64,
}

impl Tally {
    fn add(&mut self, per_layer: &[f64], even: f64) {
        self.on_object.resize(per_layer.len(), 0.0);
        for (sum, x) in self.on_object.iter_mut().zip(per_layer) {
            *sum += x;
        }
        self.even += even;
        self.words += 1;
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: shape_attention runs/NAME [stage] [scenes]");
    let stage = args.next().unwrap_or_else(|| "d".into());
    let scenes: u64 = args.next().map(|s| s.parse().expect("scenes: a number")).unwrap_or(200);
    let run = Run::open(std::path::Path::new(&dir))?;
    let varmap = run.varmap(Some(stage.as_str()))?;
    let vlm = Vlm::new(&run.config, VarBuilder::from_varmap(&varmap, DType::F32, &run.device))?;
    let grid = run.config.patch_grid();
    let (layers, n) = (vlm.llm.layers(), vlm.num_image_tokens());
    let ids = prompt_ids(&run.tokenizer, Task::Caption, caption_prompt(Lang::En))?;
    let names: Vec<&str> = Shape::ALL.iter().map(|s| s.name(Lang::En)).collect();
    let (mut right, mut wrong, mut skipped) = (Tally::default(), Tally::default(), 0);
    for seed in HELD_OUT_START..HELD_OUT_START + scenes {
        let scene = Scene::generate(seed);
        let features = vlm.encode_image(&pixels(&[scene.to_prepared_image()], &run.device)?, false)?.patch_features;
        let image = Generator::image_cache(&vlm, &vlm.project(&features)?)?;
        let options = SamplingOptions { max_new_tokens: 64, ..Default::default() };
        let mut generator = Generator::start_after_image(&vlm, image, &ids, options, Some(run.tokenizer.special()?.eos))?;
        let mut tokens = Vec::new();
        while let Some(token) = generator.next_token(&vlm)? {
            if token.is_eos {
                break;
            }
            tokens.push(token);
        }
        let text = run.tokenizer.decode(&tokens.iter().map(|t| t.id).collect::<Vec<_>>())?;
        let shape_words: Vec<_> = tokens.iter().filter(|t| names.contains(&run.tokenizer.piece(t.id).trim())).collect();
        let said = parse_caption(&text, Lang::En).unwrap_or_default();
        if said.len() != scene.objects.len() || shape_words.len() != said.len() {
            skipped += 1;
            continue;
        }
        for ((word, named), (drawn, &centre)) in shape_words.iter().zip(&said).zip(scene.objects.iter().zip(&scene.centres)) {
            let under = patches_under(&grid, drawn, centre);
            let heads = word.image_attention.len() / (layers * n);
            let per_layer: Vec<f64> = (0..layers)
                .map(|l| {
                    let layer = &word.image_attention[l * heads * n..(l + 1) * heads * n];
                    let (mut on, mut all) = (0.0f64, 0.0f64);
                    for head in layer.chunks(n) {
                        on += under.iter().map(|&p| head[p] as f64).sum::<f64>();
                        all += head.iter().map(|&w| w as f64).sum::<f64>();
                    }
                    on / all.max(1e-12)
                })
                .collect();
            let even = under.len() as f64 / n as f64;
            if named.shape == drawn.shape { right.add(&per_layer, even) } else { wrong.add(&per_layer, even) }
        }
    }
    println!("{dir} stage {stage}: {scenes} held-out scenes, English captions ({skipped} skipped: objects miscounted)");
    println!("share of a shape word's image attention (mean of heads) on the patches under its object:");
    println!("| shape word | words | {} | even spread |", (1..=layers).map(|l| format!("layer {l}")).collect::<Vec<_>>().join(" | "));
    println!("| --- | --- | {}--- |", "--- | ".repeat(layers));
    for (label, t) in [("right", &right), ("wrong", &wrong)] {
        let w = t.words.max(1) as f64;
        let cells: Vec<String> = t.on_object.iter().map(|s| format!("{:.1}%", 100.0 * s / w)).collect();
        println!("| {label} | {} | {} | {:.1}% |", t.words, cells.join(" | "), 100.0 * t.even / w);
    }
    Ok(())
}
