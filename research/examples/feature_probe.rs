//! What does a vision encoder's output already say? Linear probes on its frozen features: a
//! softmax classifier per attribute learns shape, colour and size from 1,500 training scenes;
//! accuracy is measured on 500 held-out scenes, with the shape confusion matrix.
//!     cargo run --release --features cli --example feature_probe -- runs/NAME [stage] [read]
//! `stage` is a checkpoint letter (default a); `none` probes the seeded, untrained encoder.
//! `read` says what the probe gets of each object:
//! - `pooled` (default): the mean of the patch features under its box, as stage a's region loss
//!   pools them (and as an attention head's weighted mean would);
//! - `window`: the 3x3 patch features around its centre side by side, their arrangement kept (what
//!   the 3x3 projector reads);
//! - `stem`: `pooled`, but of the stem's tokens, before any transformer layer;
//! - `projected`: `pooled`, but of the image tokens the projector makes of the patch features
//!   (what the LLM receives; give a stage whose projector is trained, c or d);
//! - `leak`: `pooled`, but each object of a crowded scene gets the region of the next object of
//!   its scene: its "with others" accuracy is how much of an object's attributes spread to the
//!   patches of another object (chance if features stay local).
use candle_core::{DType, Result, Tensor, D};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use vlm_explainer::train::batch::pixels;
use vlm_explainer::train::clip::object_regions;
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::model::projector::with_neighbours;
use vlm_explainer::shapes_world::{Object, Scene, Shape, Size};
use vlm_explainer::model::vlm::Vlm;

/// Pooled features (objects, D_v) of every object of `scenes`, and the objects.
fn regions(run: &Run, vlm: &Vlm, scenes: &[Scene], read: &str) -> Result<(Tensor, Vec<Object>)> {
    let grid = run.config.patch_grid();
    let mut chunks = Vec::new();
    for chunk in scenes.chunks(50) {
        let images: Vec<_> = chunk.iter().map(Scene::to_prepared_image).collect();
        let x = pixels(&images, &run.device)?;
        let features = if read == "stem" {
            vlm.vision_encoder.embed_patches(&x)?
        } else if read == "projected" {
            vlm.project(&vlm.encode_image(&x, false)?.patch_features)?
        } else {
            vlm.encode_image(&x, false)?.patch_features
        };
        if read == "window" {
            // The 3x3 patches around each object's centre, side by side (as the 3x3 projector
            // reads them): keeps their arrangement.
            let windows = with_neighbours(&features.detach())?; // (b, 196, 9 D_v)
            for (s, scene) in chunk.iter().enumerate() {
                for &(cx, cy) in &scene.centres {
                    let centre = grid.at_pixel(cx as usize, cy as usize).expect("object centres lie in the image");
                    chunks.push(windows.get(s)?.narrow(0, centre, 1)?);
                }
            }
        } else {
            let pooled = object_regions(&features.detach(), &grid, chunk)?;
            if read == "leak" {
                let mut first = 0;
                for scene in chunk {
                    let n = scene.objects.len();
                    for i in 0..n {
                        chunks.push(pooled.narrow(0, first + (i + 1) % n, 1)?);
                    }
                    first += n;
                }
            } else {
                chunks.push(pooled);
            }
        }
    }
    Ok((Tensor::cat(&chunks, 0)?, scenes.iter().flat_map(|s| s.objects.clone()).collect()))
}

/// Held-out predictions of a linear softmax classifier (standardised inputs, AdamW, full batch).
fn probe(train: &Tensor, train_y: &[u32], test: &Tensor, classes: usize) -> Result<Vec<u32>> {
    let dev = train.device();
    let (mean, std) = (train.mean_keepdim(0)?, (train.var_keepdim(0)? + 1e-5)?.sqrt()?);
    let norm = |x: &Tensor| x.broadcast_sub(&mean)?.broadcast_div(&std);
    let (train, test) = (norm(train)?, norm(test)?);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let head = candle_nn::linear(train.dim(1)?, classes, vb)?;
    let mut opt = candle_nn::AdamW::new(varmap.all_vars(), candle_nn::ParamsAdamW { lr: 1e-2, weight_decay: 1e-3, ..Default::default() })?;
    let y = Tensor::new(train_y, dev)?;
    for _ in 0..300 {
        let loss = candle_nn::loss::cross_entropy(&candle_core::Module::forward(&head, &train)?, &y)?;
        opt.backward_step(&loss)?;
    }
    candle_core::Module::forward(&head, &test)?.argmax(D::Minus1)?.to_vec1()
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: feature_probe runs/NAME [stage|none] [pooled|window|stem|projected|leak]");
    let stage = args.next().unwrap_or_else(|| "a".into());
    let read = args.next().unwrap_or_else(|| "pooled".into());
    assert!(["pooled", "window", "stem", "projected", "leak"].contains(&read.as_str()), "read: pooled, window, stem, projected or leak");
    let run = Run::open(std::path::Path::new(&dir))?;
    let varmap = run.varmap((stage != "none").then_some(stage.as_str()))?;
    let vlm = Vlm::new(&run.config, VarBuilder::from_varmap(&varmap, DType::F32, &run.device))?;
    let train_scenes: Vec<Scene> = (0..1500u64).map(|i| Scene::generate((5 << 32) + i)).collect();
    let test_scenes: Vec<Scene> = (0..500u64).map(|i| Scene::generate((1 << 40) + i)).collect();
    let (train, train_objects) = regions(&run, &vlm, &train_scenes, &read)?;
    let (test, test_objects) = regions(&run, &vlm, &test_scenes, &read)?;
    // Whether each held-out object shares its scene: binding shows there, not alone.
    let crowded: Vec<bool> = test_scenes.iter().flat_map(|s| vec![s.objects.len() > 1; s.objects.len()]).collect();
    type Label = fn(&Object) -> u32;
    let attributes: [(&str, Label, usize); 3] = [
        ("shape", |o| o.shape as u32, 5),
        ("colour", |o| o.colour as u32, 6),
        ("size", |o| o.size as u32, 2),
    ];
    println!("linear probes on {read} features of stage {stage} ({} train / {} held-out objects):", train_objects.len(), test_objects.len());
    for (name, label, classes) in attributes {
        let ty: Vec<u32> = train_objects.iter().map(label).collect();
        let pred = probe(&train, &ty, &test, classes)?;
        let accuracy = |keep: &dyn Fn(&Object, bool) -> bool| {
            let kept: Vec<bool> = test_objects.iter().zip(&pred).zip(&crowded)
                .filter(|((o, _), &c)| keep(o, c)).map(|((o, &p), _)| label(o) == p).collect();
            100.0 * kept.iter().filter(|&&r| r).count() as f64 / kept.len().max(1) as f64
        };
        println!("  {name:7} {:.1}% (chance {:.1}%; big objects {:.1}%, small {:.1}%; alone {:.1}%, with others {:.1}%)",
            accuracy(&|_, _| true), 100.0 / classes as f64, accuracy(&|o, _| o.size == Size::Big),
            accuracy(&|o, _| o.size == Size::Small), accuracy(&|_, c| !c), accuracy(&|_, c| c));
        if name == "shape" {
            // Rows: the true shape; columns: the probe's answer, as a share of the row.
            println!("    confusion (row = truth, % of row): {:?}", Shape::ALL);
            for truth in Shape::ALL {
                let row: Vec<u32> = test_objects.iter().zip(&pred).filter(|(o, _)| o.shape == truth).map(|(_, &p)| p).collect();
                let cells: Vec<String> = (0..classes as u32)
                    .map(|c| format!("{:5.1}", 100.0 * row.iter().filter(|&&p| p == c).count() as f64 / row.len().max(1) as f64))
                    .collect();
                println!("    {:9} {}", format!("{truth:?}"), cells.join(" "));
            }
        }
    }
    Ok(())
}
