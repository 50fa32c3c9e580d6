#![allow(dead_code)] // each includer uses its own part
//! What nanoVLM's own code computed for the reference fixture (`tests/reference/nanovlm.py`), and
//! the checks of a loaded model against it: shared by the native test (tests/nanovlm.rs) and the
//! browser's (tests/web.rs).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use vlm_explainer::infer::generate::Generator;
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::Explainer;

const CPU: Device = Device::Cpu;

pub struct Reference {
    pub tensors: HashMap<String, Tensor>,
    pub json: serde_json::Value,
}

impl Reference {
    /// From `reference.safetensors` bytes and `reference.json` text.
    pub fn new(safetensors: &[u8], json: &str) -> Self {
        Self { tensors: candle_core::safetensors::load_buffer(safetensors, &CPU).unwrap(), json: serde_json::from_str(json).unwrap() }
    }
}

/// Largest |a - b| / max(1, |b|) over every value; panics on a shape mismatch.
pub fn worst(what: &str, got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let got = got.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let want = want.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    got.iter().zip(&want).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0f32, f32::max)
}

pub fn pixels(r: &Reference) -> Tensor {
    match r.tensors.get("pixels") {
        Some(p) => p.clone(),
        None => (r.tensors["pixels_u8"].to_dtype(DType::F32).unwrap() / 255.0).unwrap(),
    }
}

/// The largest |a - b| against the tensor's root mean square: how far off, at the tensor's scale.
pub fn worst_of_scale(got: &Tensor, want: &Tensor) -> f32 {
    let want = want.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let got = got.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let rms = (want.iter().map(|v| (v * v) as f64).sum::<f64>() / want.len() as f64).sqrt() as f32;
    got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / rms
}

/// Every check against the reference; returns the worst relative differences, by name.
pub fn check(m: &Explainer, r: &Reference) -> Vec<(&'static str, f32)> {
    let vlm = &m.vlm;
    let mut report = Vec::new();
    let vision = vlm.encode_image(&pixels(r), true).unwrap();
    report.push(("patch features", worst("patch features", &vision.patch_features, &r.tensors["patch_features"])));
    if let Some(want) = r.tensors.get("vision_attention_layer0") {
        report.push(("vision attention, layer 1", worst("vision attention", &vision.attentions[0], want)));
    }
    // From nanoVLM's own patch features, so that each stage is checked on its own.
    let tokens = vlm.project(&r.tensors["patch_features"]).unwrap();
    report.push(("image tokens", worst("image tokens", &tokens, &r.tensors["image_tokens"])));

    let ids: Vec<u32> = r.tensors["prompt_ids"].flatten_all().unwrap().to_dtype(DType::U32).unwrap().to_vec1().unwrap();
    let text = Tensor::new(ids.as_slice(), &CPU).unwrap().unsqueeze(0).unwrap();
    let input = vlm.llm_input(&r.tensors["image_tokens"], &text).unwrap();
    let out = vlm.llm.forward(&input, None, true).unwrap();
    let logits = vlm.llm.logits(&out.hidden).unwrap();
    let want = &r.tensors["logits"];
    let positions = want.dim(1).unwrap();
    let got = logits.narrow(1, logits.dim(1).unwrap() - positions, positions).unwrap();
    report.push(("prompt logits", worst("logits", &got, want)));
    eprintln!("prompt logits: worst difference {:.2e} of their root mean square", worst_of_scale(&got, want));
    if let Some(want) = r.tensors.get("decoder_attention_last_block_last_position") {
        let last = out.attentions.last().unwrap();
        let t = last.dim(2).unwrap();
        let got = last.narrow(2, t - 1, 1).unwrap().squeeze(2).unwrap();
        report.push(("LLM attention, last block, last position", worst("decoder attention", &got, want)));
    }

    // Greedy, with the KV cache; nanoVLM's loop has no end token, so none here.
    let greedy = SamplingOptions { temperature: 0.0, top_k: 0, seed: 0, max_new_tokens: 10 };
    let mut generator = Generator::start(vlm, &r.tensors["image_tokens"], &ids, greedy, None).unwrap();
    let mut got = Vec::new();
    while let Some(token) = generator.next_token(vlm).unwrap() {
        got.push(token.id);
    }
    let want: Vec<u32> = r.tensors["greedy_ids"].flatten_all().unwrap().to_dtype(DType::U32).unwrap().to_vec1().unwrap();
    let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
    report.push(("greedy tokens that differ", (want.len() - same) as f32));
    report
}
