//! The attention the page draws, checked by value. Shared by tests/values.rs (native, with
//! candle's kernels and with the browser's) and tests/web.rs (in Chrome and Firefox).
//!
//! - Each generated token's attention over the image tokens (panel 5's heat map, handed out by
//!   the generator with the KV cache) against the same query's weights in a full recomputation
//!   of [image tokens | prompt | answer so far] without the cache. The query that chose token k
//!   is the last position before it; its neighbours' rows are measured too, to show that a
//!   token index off by one would be told apart.
//! - The vision encoder's attention (panel 2's map, `Explainer::vision_attention`) against a
//!   direct computation from the weights file: a plain-loop ViT in f64 (LayerNorm, qkv,
//!   softmax(q k^T / sqrt(d)), the MLP with GPT-2's tanh GELU), from the stem's tokens on.

use std::collections::HashMap;

use candle_core::{DType, Device, IndexOp, Tensor};
use vlm_explainer::Explainer;

/// What `image_attention_against_recomputation` found.
#[derive(Debug)]
pub struct CachedAttention {
    /// Tokens generated and checked.
    pub tokens: usize,
    /// Largest |cached - recomputed| over every token, layer, head and image position.
    pub worst: f32,
    /// Smallest, over tokens, of the largest |difference| between the query that chose a token
    /// and the position before it: what an off-by-one in the token index would change at least.
    pub neighbour: f32,
    /// The generated ids (the end token included).
    pub ids: Vec<u32>,
}

/// Generates from the prompt already prefilled in `e` (up to its `max_new_tokens`), checking
/// each token's image attention against a recomputation without the cache.
pub fn image_attention_against_recomputation(e: &mut Explainer) -> CachedAttention {
    let image_tokens = e.image_tokens().unwrap().clone();
    let n = image_tokens.dim(1).unwrap();
    let mut text = e.sequence().unwrap().text_ids.clone();
    let (layers, heads) = (e.config().llm.layers, e.config().llm.heads);
    let mut report = CachedAttention { tokens: 0, worst: 0.0, neighbour: f32::INFINITY, ids: vec![] };
    while let Some(token) = e.next_token().unwrap() {
        assert_eq!(token.image_attention.len(), layers * heads * n, "(layers, heads, image tokens)");
        let ids = Tensor::new(text.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let out = e.vlm.llm.forward(&e.vlm.llm_input(&image_tokens, &ids).unwrap(), None, true).unwrap();
        let t = n + text.len();
        let mut neighbour = 0f32;
        for (l, weights) in out.attentions.iter().enumerate() {
            assert_eq!(weights.dims(), [1, heads, t, t]);
            let rows = |q: usize| -> Vec<f32> { weights.i((0, .., q, ..n)).unwrap().flatten_all().unwrap().to_vec1().unwrap() };
            let (chose, before) = (rows(t - 1), rows(t - 2));
            let cached = &token.image_attention[l * heads * n..(l + 1) * heads * n];
            for ((c, r), b) in cached.iter().zip(&chose).zip(&before) {
                report.worst = report.worst.max((c - r).abs());
                neighbour = neighbour.max((r - b).abs());
            }
        }
        report.neighbour = report.neighbour.min(neighbour);
        report.tokens += 1;
        report.ids.push(token.id);
        if !token.is_eos {
            text.push(token.id);
        }
    }
    report
}

/// What `vision_attention_against_direct_computation` found.
#[derive(Debug)]
pub struct VisionAttention {
    /// Largest |difference| between each layer's attention tensor and the direct computation.
    pub weights: f32,
    /// The same for `Explainer::vision_attention`'s rows: every layer, every query, every head
    /// and the mean of the heads.
    pub rows: f32,
    /// For every layer and head (or mean of the heads), the largest |difference| between a
    /// query's row and the next query's; the smallest of these: what an off-by-one in the query
    /// index would change at least, in any layer and head.
    pub neighbour: f32,
    /// Largest |difference| of the patch features after the final LayerNorm.
    pub features: f32,
}

/// f32 values of every tensor in a safetensors file.
pub fn weights_of(bytes: &[u8]) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

/// LayerNorm epsilon of the ViT (CLIP's 1e-5, as config.rs's LAYER_NORM_EPS).
const EPS: f64 = 1e-5;

fn layer_norm(x: &[f64], width: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
    x.chunks(width)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / width as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / width as f64;
            let inv = 1.0 / (var + EPS).sqrt();
            row.iter().zip(w).zip(b).map(move |((v, &w), &b)| (v - mean) * inv * w as f64 + b as f64).collect::<Vec<_>>()
        })
        .collect()
}

/// x (rows, k) W^T + b, W (n, k) row-major.
fn linear(x: &[f64], k: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
    let n = b.len();
    x.chunks(k)
        .flat_map(|row| (0..n).map(move |j| row.iter().zip(&w[j * k..(j + 1) * k]).map(|(a, &w)| a * w as f64).sum::<f64>() + b[j] as f64))
        .collect()
}

fn gelu_tanh(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// The encoder's blocks and final LayerNorm, directly: returns each layer's attention
/// (heads, t, t) and the output (t, width) for the input tokens `x` (t, width).
fn vit(w: &HashMap<String, Vec<f32>>, mut x: Vec<f64>, width: usize, heads: usize, layers: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let get = |name: String| w.get(&name).unwrap_or_else(|| panic!("the weights have no {name}"));
    let t = x.len() / width;
    let hd = width / heads;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut attentions = vec![];
    for l in 0..layers {
        let p = |s: &str| get(format!("vision_encoder.blocks.{l}.{s}"));
        let h = layer_norm(&x, width, p("ln_1.weight"), p("ln_1.bias"));
        let qkv = linear(&h, width, p("attn.qkv.weight"), p("attn.qkv.bias")); // (t, 3 width): q, k, v, each heads x hd
        let mut weights = vec![0f64; heads * t * t];
        let mut y = vec![0f64; t * width];
        for head in 0..heads {
            let at = |i: usize, part: usize, j: usize| qkv[i * 3 * width + part * width + head * hd + j];
            for i in 0..t {
                let row = &mut weights[(head * t + i) * t..][..t];
                for (j, s) in row.iter_mut().enumerate() {
                    *s = (0..hd).map(|d| at(i, 0, d) * at(j, 1, d)).sum::<f64>() * scale;
                }
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                row.iter_mut().for_each(|s| *s = (*s - max).exp());
                let sum: f64 = row.iter().sum();
                row.iter_mut().for_each(|s| *s /= sum);
                for d in 0..hd {
                    y[i * width + head * hd + d] = (0..t).map(|j| row[j] * at(j, 2, d)).sum();
                }
            }
        }
        attentions.push(weights);
        let attended = linear(&y, width, p("attn.proj.weight"), p("attn.proj.bias"));
        x.iter_mut().zip(attended).for_each(|(x, a)| *x += a);
        let h = layer_norm(&x, width, p("ln_2.weight"), p("ln_2.bias"));
        let mlp = p("mlp.fc.bias").len();
        let h: Vec<f64> = linear(&h, width, p("mlp.fc.weight"), p("mlp.fc.bias")).into_iter().map(gelu_tanh).collect();
        let out = linear(&h, mlp, p("mlp.proj.weight"), p("mlp.proj.bias"));
        x.iter_mut().zip(out).for_each(|(x, o)| *x += o);
    }
    let out = layer_norm(&x, width, get("vision_encoder.ln_post.weight".into()), get("vision_encoder.ln_post.bias".into()));
    (attentions, out)
}

/// Encodes the image set in `e` and checks its vision attention against the direct
/// computation from `weights` (the model's own tensors, by name). The stem's tokens come from
/// the crate (`embed_patches`, checked in tests/core.rs); everything after them is recomputed.
pub fn vision_attention_against_direct_computation(e: &mut Explainer, weights: &HashMap<String, Vec<f32>>) -> VisionAttention {
    let v = e.config().vision.clone();
    let (width, heads, layers) = (v.width, v.heads, v.layers);
    let pixels = e.image().unwrap().to_tensor(&Device::Cpu).unwrap();
    let stem: Vec<f32> = e.vlm.vision_encoder.embed_patches(&pixels).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    // [CLS, patch 1 .. patch 196] + the learned positions.
    let (cls, pos) = (&weights["vision_encoder.cls_token"], &weights["vision_encoder.pos_embed"]);
    let x: Vec<f64> = cls.iter().chain(&stem).zip(pos).map(|(&a, &p)| a as f64 + p as f64).collect();
    let t = x.len() / width;
    let (direct, out) = vit(weights, x, width, heads, layers);

    let vision = e.encode().unwrap();
    assert_eq!(vision.attentions.len(), layers);
    let mut report = VisionAttention { weights: 0.0, rows: 0.0, neighbour: f32::INFINITY, features: 0.0 };
    for (got, want) in vision.attentions.iter().zip(&direct) {
        assert_eq!(got.dims(), [1, heads, t, t]);
        let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
        for (g, w) in got.iter().zip(want) {
            report.weights = report.weights.max((*g as f64 - w).abs() as f32);
        }
    }
    let features: Vec<f32> = vision.patch_features.flatten_all().unwrap().to_vec1().unwrap();
    for (g, w) in features.iter().zip(&out[width..]) {
        report.features = report.features.max((*g as f64 - w).abs() as f32);
    }
    for (layer, want) in direct.iter().enumerate() {
        for head in (0..heads).map(Some).chain([None]) {
            let mut apart_most = 0f32;
            for query in 0..t {
                let row = |h: usize| &want[(h * t + query) * t..][..t];
                let got = e.vision_attention(layer, head, query).unwrap();
                let expected: Vec<f64> = match head {
                    Some(h) => row(h).to_vec(),
                    None => (0..t).map(|j| (0..heads).map(|h| row(h)[j]).sum::<f64>() / heads as f64).collect(),
                };
                assert_eq!(got.len(), t);
                for (g, w) in got.iter().zip(&expected) {
                    report.rows = report.rows.max((*g as f64 - w).abs() as f32);
                }
                if query + 1 < t {
                    let next = (0..t).map(|j| match head {
                        Some(h) => want[(h * t + query + 1) * t + j],
                        None => (0..heads).map(|h| want[(h * t + query + 1) * t + j]).sum::<f64>() / heads as f64,
                    });
                    let apart = expected.iter().zip(next).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
                    apart_most = apart_most.max(apart as f32);
                }
            }
            report.neighbour = report.neighbour.min(apart_most);
        }
    }
    report
}
