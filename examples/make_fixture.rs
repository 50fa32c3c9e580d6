//! Writes the fixture the native and browser tests share (tests/fixtures/): a `micro` model with
//! seeded weights stored as f16, its config and tokenizer, a 300x200 PNG, and `expected.json`
//! with what this native build computes for them.
//!
//!     cargo run --release --example make_fixture [--expected-only]
//!
//! `--expected-only` keeps the model and the image and records `expected.json` again: for a
//! change that means to alter what the model computes or generates from them.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::fs;
use std::path::Path;

use candle_core::{DType, Device};
use image::{Rgb, RgbImage};
use vlm_explainer::train::init;
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::{model::weights, Config};

fn main() -> candle_core::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    fs::create_dir_all(&dir)?;
    if !std::env::args().any(|a| a == "--expected-only") {
        write_model_and_image(&dir)?;
    }
    let (weights, config, tokenizer, image_png) = (
        fs::read(dir.join("model.safetensors"))?,
        fs::read_to_string(dir.join("config.json"))?,
        fs::read(dir.join("tokenizer.json"))?,
        fs::read(dir.join("image.png"))?,
    );
    let files = fixture::Files { weights: &weights, config: &config, tokenizer: &tokenizer, image_png: &image_png };
    let outcome = fixture::run(&files);
    fs::write(dir.join("expected.json"), serde_json::to_string_pretty(&outcome).expect("numbers serialise"))?;
    println!("wrote tests/fixtures/: {outcome:?}");
    Ok(())
}

fn write_model_and_image(dir: &Path) -> candle_core::Result<()> {
    let tokenizer = TextTokenizer::byte_level()?;
    let config = Config::micro(tokenizer.vocab_size());
    let (_, varmap) = init::seeded(&config, 42, &Device::Cpu)?;
    fs::write(dir.join("model.safetensors"), weights::to_safetensors(&varmap, DType::F16)?)?;
    fs::write(dir.join("config.json"), config.to_json())?;
    fs::write(dir.join("tokenizer.json"), tokenizer.to_json()?)?;

    // A gradient with a red square left of centre and a blue bar: not square, so cropping counts.
    let image = RgbImage::from_fn(300, 200, |x, y| {
        if (90..150).contains(&x) && (60..120).contains(&y) {
            Rgb([220, 30, 30])
        } else if (180..260).contains(&x) && (140..170).contains(&y) {
            Rgb([30, 40, 200])
        } else {
            Rgb([(x * 255 / 300) as u8, (y * 255 / 200) as u8, 128])
        }
    });
    image.save(dir.join("image.png")).map_err(|e| candle_core::Error::Msg(e.to_string()))
}
