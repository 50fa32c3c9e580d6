//! Pairwise cosine similarities of stage a's image and caption embeddings for 16 held-out scenes.
//!     cargo run --release --features cli --example clip_probe -- runs/NAME
use candle_core::Tensor;
use candle_nn::VarBuilder;
use vlm_explainer::train::batch::{pixels, TextBatch};
use vlm_explainer::train::clip::{appearance_phrases, l2_normalize, object_regions, phrase_features, ClipHeads};
use vlm_explainer::train::pipeline::run::Run;
use vlm_explainer::shapes_world::{Lang, Sample, Scene};
use vlm_explainer::model::vlm::Vlm;

fn stats(name: &str, e: &Tensor) -> candle_core::Result<()> {
    let sims: Vec<Vec<f32>> = e.matmul(&e.t()?)?.to_vec2()?;
    let n = sims.len();
    let off: Vec<f32> = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| sims[i][j]).collect();
    let mean = off.iter().sum::<f32>() / off.len() as f32;
    let min = off.iter().copied().fold(f32::MAX, f32::min);
    println!("{name}: off-diagonal cosine mean {mean:.4}, min {min:.4}");
    Ok(())
}

fn main() -> candle_core::Result<()> {
    let dir = std::env::args().nth(1).expect("run folder");
    let run = Run::open(std::path::Path::new(&dir))?;
    let varmap = run.varmap(Some("a"))?;
    let vb = VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &run.device);
    let vlm = Vlm::new(&run.config, vb.clone())?;
    let clip = ClipHeads::new(run.config.vision.width, run.config.llm.width, vb.pp("clip"))?;
    let scenes: Vec<Scene> = (0..16u64).map(|i| Scene::generate((1 << 40) + i)).collect();
    let images: Vec<_> = scenes.iter().map(Scene::to_prepared_image).collect();
    let out = vlm.encode_image(&pixels(&images, &run.device)?, false)?;
    let pooled = out.patch_features.mean(1)?;
    stats("mean-pooled patch features", &l2_normalize(&pooled)?)?;
    stats("image embeddings", &clip.embed_images(&out)?)?;
    let samples: Vec<Sample> = scenes.iter().map(|s| s.samples(Lang::En).swap_remove(0)).collect();
    let refs: Vec<&Sample> = samples.iter().collect();
    let batch = TextBatch::new(&run.tokenizer, &refs, false, &run.device)?;
    let feats = ClipHeads::text_features(&vlm.llm, &batch, 196)?;
    stats("caption features (LLM)", &l2_normalize(&feats)?)?;
    stats("caption embeddings", &clip.embed_texts(&feats)?)?;
    let phrases = phrase_features(&vlm.llm, &run.tokenizer, Lang::En, &appearance_phrases(Lang::En), 196)?;
    stats("phrase features (LLM)", &l2_normalize(&phrases)?)?;
    stats("phrase features, centred", &l2_normalize(&phrases.broadcast_sub(&phrases.mean_keepdim(0)?)?)?)?;
    stats("phrase embeddings", &clip.embed_texts(&phrases)?)?;
    let regions = object_regions(&out.patch_features, &run.config.patch_grid(), &scenes)?;
    stats("box-pooled object regions", &l2_normalize(&regions)?)?;
    stats("region embeddings", &clip.embed_regions(&regions)?)?;
    println!("logit scale {}", clip.logits(&clip.embed_regions(&regions)?.narrow(0, 0, 1)?, &clip.embed_regions(&regions)?.narrow(0, 0, 1)?)?.flatten_all()?.to_vec1::<f32>()?[0]);
    Ok(())
}
