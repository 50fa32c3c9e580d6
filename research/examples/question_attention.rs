//! Where do the last prompt positions look? For a question, the attention of its last two
//! positions (the question mark and <|answer|>) over the prompt's own tokens and over the image,
//! per layer and head, averaged over held-out scenes.
//!     cargo run --release --features cli --example question_attention -- MODEL_DIR "QUESTION" [scenes]
use candle_core::{Device, Result, Tensor};
use vlm_explainer::train::batch::pixels;
use vlm_explainer::model::config::Config;
use vlm_explainer::train::evaluate::HELD_OUT_START;
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::text::prompt::{prompt_ids, Task};
use vlm_explainer::shapes_world::Scene;
use vlm_explainer::text::tokenizer::TextTokenizer;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("MODEL_DIR"));
    let question = args.next().expect("QUESTION");
    let scenes: u64 = args.next().map(|s| s.parse().expect("scenes")).unwrap_or(20);
    let read = |n: &str| std::fs::read(dir.join(n)).expect("model file");
    let config = Config::from_json(&String::from_utf8_lossy(&read("config.json")))?;
    let tokenizer = TextTokenizer::from_json(&read("tokenizer.json"))?;
    let vlm = vlm_explainer::model::weights::load(&config, read("model.safetensors"), &Device::Cpu)?;
    let ids = prompt_ids(&tokenizer, Task::Question, &question)?;
    let t = ids.len();
    let pieces: Vec<String> = ids.iter().map(|&i| tokenizer.piece(i)).collect();
    let mut sum: Option<Tensor> = None; // (layers, heads, 2, 196 + t)
    for seed in HELD_OUT_START..HELD_OUT_START + scenes {
        let scene = Scene::generate(seed);
        let features = vlm.encode_image(&pixels(&[scene.to_prepared_image()], &Device::Cpu)?, false)?.patch_features;
        let mut cache = Generator::image_cache(&vlm, &vlm.project(&features)?)?;
        let input = vlm.llm.embed_tokens(&Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?)?;
        let out = vlm.llm.forward(&input, Some(&mut cache), true)?;
        let layers: Vec<Tensor> = out.attentions.iter().map(|a| a.squeeze(0)?.narrow(1, t - 2, 2)).collect::<Result<_>>()?;
        let stacked = Tensor::stack(&layers, 0)?;
        sum = Some(match sum { Some(s) => (s + stacked)?, None => stacked });
    }
    let mean = (sum.expect("scenes > 0") / scenes as f64)?;
    let (layers, heads, _, s) = mean.dims4()?;
    let n = s - t;
    println!("prompt: {pieces:?}");
    for l in 0..layers {
        for h in 0..heads {
            for (q, name) in ["?", "<answer>"].iter().enumerate() {
                let row: Vec<f32> = mean.get(l)?.get(h)?.get(q)?.to_vec1()?;
                let image: f32 = row[..n].iter().sum();
                let text: Vec<String> = row[n..].iter().zip(&pieces).map(|(w, p)| format!("{p}:{w:.2}")).collect();
                println!("L{l} H{h} {name:>8}: image {image:.2} | {}", text.join(" "));
            }
        }
    }
    Ok(())
}
