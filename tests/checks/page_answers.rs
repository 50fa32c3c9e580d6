//! The shipped model's (www/model/) answers to what the page asks of a ShapesWorld scene, made
//! natively: the recording tests/fixtures/page_answers.json, which the page test compares the
//! page's answers with (examples/page_answers.rs writes it; tests/page_answers.rs checks that
//! it is still what this build computes).
//!
//! For each of `SEEDS`, the scene the page's "New scene" draws for that seed (the worker's
//! `shapesWorldScene(seed)`: 224x224 RGBA, given to `preprocessRgba`), asked as the page asks:
//! `PROMPTS`, the page's prompt texts (www/i18n.js: the caption prompt and the count
//! question in English and Chinese; task `caption` for the first, `question` for the others,
//! as main.js's `currentPrompt`), with the page's sampling options (main.js's `runImage`:
//! temperature 0, top-k 0, seed 0, 48 new tokens at most).

use serde::{Deserialize, Serialize};
use vlm_explainer::infer::sampling::SamplingOptions;
use vlm_explainer::model::preprocess::PreparedImage;
use vlm_explainer::shapes_world::{Lang, Scene};
use vlm_explainer::text::prompt::Task;
use vlm_explainer::Explainer;

/// Scenes of 1, 2 and 3 objects (seeds 3, 0 and 1: the first seeds with that many). The model
/// answers all 12 prompts right but the captions of scene 0, whose small blue cross it calls a
/// circle in both languages: a page test compares with the recording, not with the truth.
pub const SEEDS: [u32; 3] = [3, 0, 1];

/// (language, task, prompt): www/i18n.js's `caption_prompt` and `count_prompt`.
pub const PROMPTS: [(&str, &str, &str); 4] = [
    ("en", "caption", "describe the image"),
    ("zh", "caption", "描述这张图片"),
    ("en", "question", "how many shapes are there?"),
    ("zh", "question", "有几个图形？"),
];

/// main.js's `runImage` options.
pub const PAGE_OPTIONS: SamplingOptions = SamplingOptions { temperature: 0.0, top_k: 0, seed: 0, max_new_tokens: 48 };

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// How the file was made, in words.
    pub made_by: String,
    /// FNV-1a of www/model's three files, in the manifest's order (config, tokenizer, weights):
    /// a page test can tell whether the model it loaded is the one recorded.
    pub model_fnv1a: Vec<String>,
    pub options: PageOptions,
    pub scenes: Vec<SceneAnswers>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageOptions {
    pub temperature: f32,
    pub top_k: usize,
    pub seed: u64,
    pub max_new_tokens: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneAnswers {
    pub seed: u32,
    /// What the scene shows (`shapesWorldScene`'s captions) and the count question's true answers.
    pub caption_en: String,
    pub caption_zh: String,
    pub count_en: String,
    pub count_zh: String,
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub lang: String,
    pub task: String,
    pub prompt: String,
    /// The answer as the page shows it (the last token's `text`).
    pub text: String,
    /// Whether it is the scene's truth (the caption, or the count question's answer).
    pub right: bool,
    /// Every token `nextToken` handed out, the end token included.
    pub tokens: Vec<Token>,
    /// Smallest log(p1 / p2) over the tokens: the browser's kernels sum in another order (their
    /// logits differ by ~1e-5), so a token chosen by less than ~1e-3 might differ there.
    pub min_logit_margin: f32,
    /// Panel 5's heat map for the first token, as the page draws it by default (all layers,
    /// mean of the heads: the mean of the token's `image_attention` over layers and heads),
    /// one value per image token (rounded to 1e-6).
    pub first_token_attention_mean: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u32,
    pub piece: String,
    pub probability: f32,
    /// The three image tokens (patch index, weight) the heat map makes brightest for this token
    /// (mean over layers and heads), brightest first.
    pub attention_top3: Vec<(usize, f32)>,
}

pub fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn round6(x: f32) -> f32 {
    ((x as f64 * 1e6).round() / 1e6) as f32
}

/// The mean over layers and heads of a token's image attention (layers, heads, n).
fn mean_map(attention: &[f32], planes: usize) -> Vec<f32> {
    let n = attention.len() / planes;
    (0..n).map(|i| (0..planes).map(|p| attention[p * n + i]).sum::<f32>() / planes as f32).collect()
}

/// The shipped model's three files, by the manifest (config, tokenizer, weights).
pub fn shipped_files(dir: &std::path::Path) -> [Vec<u8>; 3] {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let name = |key: &str| manifest["files"][key].as_str().unwrap_or_else(|| panic!("manifest.json names no {key}")).to_string();
    ["config", "tokenizer", "weights"].map(|k| std::fs::read(dir.join(name(k))).unwrap())
}

pub fn record(files: &[Vec<u8>; 3]) -> Recording {
    let [config, tokenizer, weights] = files;
    let mut e = Explainer::load(weights.clone(), std::str::from_utf8(config).unwrap(), tokenizer).unwrap();
    let planes = e.config().llm.layers * e.config().llm.heads;
    let size = e.config().vision.image_size;
    let mut scenes = vec![];
    for seed in SEEDS {
        let scene = Scene::generate(seed as u64);
        let count = |lang| scene.questions(lang).into_iter().find(|(q, _)| q == PROMPTS[if lang == Lang::En { 2 } else { 3 }].2).unwrap().1;
        let (count_en, count_zh) = (count(Lang::En), count(Lang::Zh));
        let rgba = scene.to_prepared_image().to_rgba();
        let mut answers = vec![];
        for (lang, task, prompt) in PROMPTS {
            e.set_image(PreparedImage::from_rgba(&rgba, 224, 224, size).unwrap()).unwrap();
            e.encode().unwrap();
            e.project().unwrap();
            e.prefill(Task::parse(task).unwrap(), prompt, PAGE_OPTIONS).unwrap();
            let (mut tokens, mut first, mut margin) = (vec![], vec![], f32::INFINITY);
            while let Some(t) = e.next_token().unwrap() {
                margin = margin.min((t.top[0].1 / t.top[1].1).ln());
                let map = mean_map(&t.image_attention, planes);
                if first.is_empty() {
                    first = map.iter().copied().map(round6).collect();
                }
                let mut order: Vec<usize> = (0..map.len()).collect();
                order.sort_by(|&a, &b| map[b].total_cmp(&map[a]));
                let attention_top3 = order[..3].iter().map(|&i| (i, round6(map[i]))).collect();
                tokens.push(Token { id: t.id, piece: e.tokenizer.piece(t.id), probability: round6(t.probability), attention_top3 });
            }
            let text = e.answer().unwrap();
            let truth = match (lang, task) {
                ("en", "caption") => scene.caption(Lang::En),
                ("zh", "caption") => scene.caption(Lang::Zh),
                ("en", _) => count_en.clone(),
                _ => count_zh.clone(),
            };
            answers.push(Answer {
                lang: lang.into(),
                task: task.into(),
                prompt: prompt.into(),
                right: text == truth,
                text,
                tokens,
                min_logit_margin: round6(margin),
                first_token_attention_mean: first,
            });
        }
        scenes.push(SceneAnswers { seed, caption_en: scene.caption(Lang::En), caption_zh: scene.caption(Lang::Zh), count_en, count_zh, answers });
    }
    Recording {
        made_by: "cargo run --release --example page_answers: the shipped model (www/model/) natively, through \
                  Explainer as the page's worker drives VlmExplainer (preprocessRgba of shapesWorldScene(seed)'s 224x224 \
                  RGBA, encode, project, prefill(task, prompt, 0, 0, 0, 48), nextToken until null); see \
                  tests/checks/page_answers.rs"
            .into(),
        model_fnv1a: files.iter().map(|f| fnv1a(f)).collect(),
        options: PageOptions {
            temperature: PAGE_OPTIONS.temperature,
            top_k: PAGE_OPTIONS.top_k,
            seed: PAGE_OPTIONS.seed,
            max_new_tokens: PAGE_OPTIONS.max_new_tokens,
        },
        scenes,
    }
}
