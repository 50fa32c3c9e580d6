//! Captions image files with a model, as the page does (greedy, the page's prompts), printing
//! each answer token by token: what the model makes of any picture, natively.
//!     cargo run --release --example caption_file -- MODEL_DIR IMAGE...
use candle_core::Result;
use vlm_explainer::model::preprocess::PreparedImage;
use vlm_explainer::text::prompt::Task;
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::shapes_world::{caption_prompt, Lang};
use vlm_explainer::Explainer;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "www/model".into()));
    let read = |n: &str| std::fs::read(dir.join(n)).expect("a model file");
    let mut explainer =
        Explainer::load(read("model.safetensors"), &String::from_utf8_lossy(&read("config.json")), &read("tokenizer.json"))?;
    let size = explainer.config().vision.image_size;
    for path in args {
        let bytes = std::fs::read(&path).expect("an image file");
        let image = match PreparedImage::from_encoded(&bytes, size) {
            Ok(image) => image,
            Err(e) => {
                println!("{path}: {e}");
                continue;
            }
        };
        for lang in Lang::ALL {
            let (ids, text) = explainer.run(image.clone(), Task::Caption, caption_prompt(lang), SamplingOptions::default())?;
            let pieces: Vec<String> = ids.iter().map(|&id| explainer.tokenizer.piece(id)).collect();
            println!("{path} [{lang:?}] {} tokens: {text:?}\n    {pieces:?}", ids.len());
        }
    }
    Ok(())
}
