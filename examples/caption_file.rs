//! Captions image files with a model folder, natively, as the page does (greedy, the page's
//! prompts), printing each answer and its tokens: what the model makes of any picture.
//!
//!     cargo run --release --example caption_file -- MODEL_DIR IMAGE... [--prompt TEXT] [--max-tokens N]
//!
//! MODEL_DIR holds config.json, model.safetensors and tokenizer.json: the shipped model
//! (www/model, the default), a preset `train` wrote, or a downloaded nanoVLM checkpoint with the
//! SmolLM2 tokenizer beside it. The shipped family is asked for its caption in English and
//! Chinese; another family is asked `--prompt` (default nanoVLM's "What is this?") in its own
//! prompt format, for comparison with nanoVLM's `generate.py` (which samples; this is greedy).
use candle_core::{bail, Result};
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::model::config::Family;
use vlm_explainer::shapes_world::{caption_prompt, Lang};
use vlm_explainer::text::prompt::Task;
use vlm_explainer::Explainer;

fn main() -> Result<()> {
    let mut dir = std::path::PathBuf::from("www/model");
    let (mut images, mut prompt, mut max_tokens) = (Vec::new(), None, 48);
    let mut args = std::env::args().skip(1);
    let mut first = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prompt" => prompt = args.next(),
            "--max-tokens" => max_tokens = args.next().and_then(|n| n.parse().ok()).unwrap_or(max_tokens),
            _ if first => dir = arg.into(),
            _ => images.push(arg),
        }
        first = false;
    }
    let read = |n: &str| -> Result<Vec<u8>> {
        std::fs::read(dir.join(n)).map_err(|e| candle_core::Error::Msg(format!("{}: {e}", dir.join(n).display())))
    };
    if images.is_empty() {
        bail!("usage: caption_file MODEL_DIR IMAGE... [--prompt TEXT] [--max-tokens N]");
    }
    let started = std::time::Instant::now();
    let mut explainer = Explainer::load(read("model.safetensors")?, &String::from_utf8_lossy(&read("config.json")?), &read("tokenizer.json")?)?;
    println!("{}: loaded in {:.1} s", explainer.config().name, started.elapsed().as_secs_f64());
    let prompts: Vec<String> = match (explainer.config().family, prompt) {
        (_, Some(p)) => vec![p],
        (Family::Explainer, None) => Lang::ALL.iter().map(|&lang| caption_prompt(lang).to_string()).collect(),
        (_, None) => vec!["What is this?".to_string()],
    };
    let options = SamplingOptions { max_new_tokens: max_tokens, ..SamplingOptions::default() };
    for path in &images {
        let bytes = std::fs::read(path).map_err(|e| candle_core::Error::Msg(format!("{path}: {e}")))?;
        let image = match explainer.prepare_encoded(&bytes) {
            Ok(image) => image,
            Err(e) => {
                println!("{path}: {e}");
                continue;
            }
        };
        for prompt in &prompts {
            let started = std::time::Instant::now();
            let (ids, text) = explainer.run(image.clone(), Task::Caption, prompt, options)?;
            let pieces: Vec<String> = ids.iter().map(|&id| explainer.tokenizer.piece(id)).collect();
            println!("{path} [{prompt}] {} tokens in {:.2} s: {text:?}\n    {pieces:?}", ids.len(), started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}
