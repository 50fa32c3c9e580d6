//! The speed benchmark's stages (`scripts/bench.sh`): the page's path from pixels to answer,
//! timed one stage at a time. The browser's bench entry (`wasm_bench`) and the native example
//! (`examples/stage_bench.rs`) both run `time_stages`, each with its own clock, so the two
//! measure the same calls.
//!
//!     RGBA -> preprocess -> vision encoder -> projection -> prefill [196 + T] -> decode x 64

use candle_core::{DType, Device, Result};
use serde::Serialize;

use crate::train::init;
use crate::model::config::Config;
use crate::infer::generate::Generator;
use crate::model::preprocess::PreparedImage;
use crate::text::prompt::{prompt, Task};
use crate::infer::sampling::SamplingOptions;
use crate::text::tokenizer::TextTokenizer;
use crate::model::vlm::Vlm;
use crate::model::weights;

/// Tokens decoded per run: the issue asks for the cost of tokens 1..64 with the KV cache.
pub const DECODE_TOKENS: usize = 64;

/// The caption prompt the page sends ("describe the image"): 21 tokens with the byte-level
/// tokenizer and its 3 framing tokens.
pub const PROMPT: &str = "describe the image";

/// Context of the bench models. The presets' 256 positions leave 39 after the image tokens and
/// the byte-level prompt; 64 tokens need 196 + 21 + 64 = 281. A longer position table changes
/// no cost but the table's size.
pub const MAX_SEQ_LEN: usize = 320;

/// Side of the bench image: a photo as the page hands it to the model after the browser's decode
/// (the page scales anything larger to at most 2048 px a side).
pub const IMAGE_SIZE: (u32, u32) = (1024, 768);

/// Milliseconds of each stage of one run.
#[derive(Debug, Clone, Serialize)]
pub struct StageTimes {
    /// RGBA -> centre crop (or the whole image) -> 224 x 224 -> normalised (1, 3, 224, 224).
    pub preprocess_ms: f64,
    /// (1, 3, 224, 224) -> (1, 196, D_v), every layer's attention kept as the page keeps it.
    pub vision_encoder_ms: f64,
    /// (1, 196, D_v) -> (1, 196, D_t).
    pub projection_ms: f64,
    /// [image tokens | prompt] through the LLM once, filling the KV cache; the first token's logits.
    pub prefill_ms: f64,
    /// `decode_ms[k - 1]`: token k sampled and fed back through the LLM with 196 + T + k - 1
    /// positions in the cache, giving the logits of token k + 1.
    pub decode_ms: Vec<f64>,
}

/// A preset's model as files: `config.json` (the preset with `MAX_SEQ_LEN`), f16
/// `model.safetensors` with weights drawn from `seed`, and the byte-level `tokenizer.json`.
pub struct ModelFiles {
    pub config_json: String,
    pub weights: Vec<u8>,
    pub tokenizer_json: String,
}

/// A preset's shape as the bench runs it: the byte-level vocabulary, `MAX_SEQ_LEN` positions.
pub fn config(preset: &str) -> Result<Config> {
    let mut config = Config::preset(preset, TextTokenizer::byte_level()?.vocab_size())?;
    config.llm.max_seq_len = MAX_SEQ_LEN;
    Ok(config)
}

pub fn model_files(preset: &str, seed: u64) -> Result<ModelFiles> {
    let tokenizer = TextTokenizer::byte_level()?;
    let config = config(preset)?;
    let (_, varmap) = init::seeded(&config, seed, &Device::Cpu)?;
    Ok(ModelFiles {
        config_json: config.to_json(),
        weights: weights::to_safetensors(&varmap, DType::F16)?,
        tokenizer_json: tokenizer.to_json()?,
    })
}

/// The bench image: `IMAGE_SIZE` RGBA pixels of smooth gradients and a checker, the same on
/// every run and every engine.
pub fn image_rgba() -> Vec<u8> {
    let (w, h) = IMAGE_SIZE;
    (0..h)
        .flat_map(|y| {
            (0..w).flat_map(move |x| {
                let checker = if (x / 32 + y / 32) % 2 == 0 { 40 } else { 0 };
                [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8 / 2 + checker, 255]
            })
        })
        .collect()
}

/// One run of every stage on `rgba` (`width` x `height`), each timed by `now()` in milliseconds.
/// Greedy decoding with no end token, so every run decodes exactly `DECODE_TOKENS` tokens.
pub fn time_stages(
    vlm: &Vlm,
    tokenizer: &TextTokenizer,
    rgba: &[u8],
    (width, height): (u32, u32),
    now: &dyn Fn() -> f64,
) -> Result<StageTimes> {
    let room = vlm.config.llm.max_seq_len;
    let ids = prompt(&vlm.config, tokenizer, Task::Caption, PROMPT)?.ids;
    let needed = vlm.num_image_tokens() + ids.len() + DECODE_TOKENS;
    if needed > room {
        candle_core::bail!("the bench needs {needed} positions; the model's context holds {room}");
    }
    let device = vlm.llm.device();

    let t = now();
    let c = &vlm.config;
    let pixels = PreparedImage::from_rgba_resized(rgba, width, height, c.vision.image_size, c.preprocess.resize)?.to_tensor_with(&c.preprocess, device)?;
    let preprocess_ms = now() - t;

    let t = now();
    let features = vlm.encode_image(&pixels, true)?.patch_features;
    let vision_encoder_ms = now() - t;

    let t = now();
    let image_tokens = vlm.project(&features)?;
    let projection_ms = now() - t;

    // One more than decoded, so that the 64th step still feeds its token back.
    let options = SamplingOptions { temperature: 0.0, top_k: 0, seed: 0, max_new_tokens: DECODE_TOKENS + 1 };
    let t = now();
    let mut generator = Generator::start(vlm, &image_tokens, &ids, options, None)?;
    let prefill_ms = now() - t;

    let mut decode_ms = Vec::with_capacity(DECODE_TOKENS);
    for _ in 0..DECODE_TOKENS {
        let t = now();
        generator.next_token(vlm)?;
        decode_ms.push(now() - t);
    }
    Ok(StageTimes { preprocess_ms, vision_encoder_ms, projection_ms, prefill_ms, decode_ms })
}
