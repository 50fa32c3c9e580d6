//! The model the page drives (`VlmExplainer`), one call per stage, and ShapesWorld's scenes.

use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::infer::explainer::{Explainer, PositionKind};
use crate::infer::generate::GeneratedToken;
use crate::infer::sampling::SamplingOptions;
use crate::text::prompt::Task;
use crate::wasm::{js_err, object, plain, shape, tensor_object};

#[wasm_bindgen]
pub struct VlmExplainer {
    pub(crate) inner: Explainer,
}

#[wasm_bindgen]
impl VlmExplainer {
    /// A model from `model.safetensors` bytes, `config.json` text and `tokenizer.json` bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(weights: Vec<u8>, config_json: &str, tokenizer_json: &[u8]) -> Result<VlmExplainer, JsError> {
        Ok(Self { inner: Explainer::load(weights, config_json, tokenizer_json).map_err(js_err)? })
    }

    /// An untrained model of a preset's size (`seed`, `tiny`, `micro`), weights drawn from `seed`.
    #[wasm_bindgen(js_name = fromPreset)]
    pub fn from_preset(preset: &str, seed: u32) -> Result<VlmExplainer, JsError> {
        Ok(Self { inner: Explainer::from_preset(preset, seed as u64).map_err(js_err)? })
    }

    /// The model's `config.json`.
    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> String {
        self.inner.config().to_json()
    }

    /// `{ vision_encoder, projector, llm }` value counts.
    #[wasm_bindgen(js_name = parameterCounts)]
    pub fn parameter_counts(&self) -> Result<JsValue, JsError> {
        plain(&self.inner.config().parameter_counts())
    }

    /// Stage 0 from canvas pixels (RGBA, any size).
    #[wasm_bindgen(js_name = preprocessRgba)]
    pub fn preprocess_rgba(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<(), JsError> {
        let image = self.inner.prepare_rgba(rgba, width, height).map_err(js_err)?;
        self.inner.set_image(image).map_err(js_err)
    }

    /// Stage 0 from an encoded file (PNG, JPEG, GIF, WebP, BMP).
    #[wasm_bindgen(js_name = preprocessEncoded)]
    pub fn preprocess_encoded(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let image = self.inner.prepare_encoded(bytes).map_err(js_err)?;
        self.inner.set_image(image).map_err(js_err)
    }

    /// The 224x224 image the model sees, as RGBA for `putImageData`.
    #[wasm_bindgen(js_name = inputRgba)]
    pub fn input_rgba(&self) -> Result<Uint8Array, JsError> {
        Ok(Uint8Array::from(self.inner.image().map_err(js_err)?.to_rgba().as_slice()))
    }

    /// The normalised input tensor `{ shape: [1, 3, 224, 224], data }`.
    #[wasm_bindgen(js_name = inputTensor)]
    pub fn input_tensor(&self) -> Result<JsValue, JsError> {
        tensor_object(&self.inner.input_tensor().map_err(js_err)?)
    }

    /// Stage 1: runs the vision encoder; returns the patch features `{ shape: [1, 196, D_v], data }`.
    pub fn encode(&mut self) -> Result<JsValue, JsError> {
        let features = self.inner.encode().map_err(js_err)?.patch_features.clone();
        tensor_object(&features)
    }

    /// One row of vision attention: `layer`, `head` (-1 averages the heads), `query` (0 = CLS,
    /// 1 + i = patch i). 197 weights: CLS, then the 196 patches.
    #[wasm_bindgen(js_name = visionAttention)]
    pub fn vision_attention(&self, layer: usize, head: i32, query: usize) -> Result<Float32Array, JsError> {
        let head = usize::try_from(head).ok();
        let row = self.inner.vision_attention(layer, head, query).map_err(js_err)?;
        Ok(Float32Array::from(row.as_slice()))
    }

    /// Stage 2: runs the projector; returns the image tokens `{ shape: [1, 196, D_t], data }`.
    pub fn project(&mut self) -> Result<JsValue, JsError> {
        let tokens = self.inner.project().map_err(js_err)?.clone();
        tensor_object(&tokens)
    }

    /// Runs the projector of a safetensors file (as the training panel saves one) instead of the
    /// model's own, until `useOwnProjector`. The image stays; run `project` again.
    #[wasm_bindgen(js_name = useProjector)]
    pub fn use_projector(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.inner.use_projector(bytes).map_err(js_err)
    }

    /// Back to the model's own projector.
    #[wasm_bindgen(js_name = useOwnProjector)]
    pub fn use_own_projector(&mut self) {
        self.inner.use_own_projector();
    }

    /// The projector's first weight matrix `{ shape: [D_t, D_v], data }`.
    #[wasm_bindgen(js_name = projectorWeight)]
    pub fn projector_weight(&self) -> Result<JsValue, JsError> {
        tensor_object(&self.inner.vlm.projector.first_weight().map_err(js_err)?)
    }

    /// Stage 3: the LLM's input `[image tokens | prompt]`, run once. `task` is `caption` or
    /// `question`. Returns `{ shape: [1, 196 + T, D_t], kinds: ["image", .., "text", ..],
    /// text_ids, pieces }`.
    pub fn prefill(
        &mut self,
        task: &str,
        text: &str,
        temperature: f32,
        top_k: u32,
        seed: u32,
        max_new_tokens: u32,
    ) -> Result<JsValue, JsError> {
        let task = Task::parse(task).map_err(js_err)?;
        let options = SamplingOptions {
            temperature,
            top_k: top_k as usize,
            seed: seed as u64,
            max_new_tokens: max_new_tokens as usize,
        };
        let seq = self.inner.prefill(task, text, options).map_err(js_err)?;
        let kinds: Array = seq
            .kinds
            .iter()
            .map(|k| JsValue::from_str(if *k == PositionKind::Image { "image" } else { "text" }))
            .collect();
        let pieces: Array = seq.pieces.iter().map(|p| JsValue::from_str(p)).collect();
        let ids: Array = seq.text_ids.iter().map(|&id| JsValue::from(id)).collect();
        Ok(object(&[("shape", shape(&seq.shape)), ("kinds", kinds.into()), ("text_ids", ids.into()), ("pieces", pieces.into())]))
    }

    /// Stage 4: the next token, or `null` when the answer is complete. `{ id, piece, probability,
    /// is_eos, set_aside, top: [{ id, piece, probability }], image_attention: { shape: [layers, heads, 196],
    /// data }, text }` where `text` is the whole answer so far.
    #[wasm_bindgen(js_name = nextToken)]
    pub fn next_token(&mut self) -> Result<JsValue, JsError> {
        let Some(token) = self.inner.next_token().map_err(js_err)? else { return Ok(JsValue::NULL) };
        let text = self.inner.answer().map_err(js_err)?;
        Ok(self.token_object(&token, &text))
    }

    fn token_object(&self, t: &GeneratedToken, text: &str) -> JsValue {
        let tok = &self.inner.tokenizer;
        let top: Array = t
            .top
            .iter()
            .map(|&(id, p)| object(&[("id", id.into()), ("piece", tok.piece(id).into()), ("probability", p.into())]))
            .collect();
        let llm = &self.inner.config().llm;
        let n = self.inner.vlm.num_image_tokens();
        let attention = object(&[
            ("shape", shape(&[llm.layers, llm.heads, n])),
            ("data", Float32Array::from(t.image_attention.as_slice()).into()),
        ]);
        object(&[
            ("id", t.id.into()),
            ("piece", tok.piece(t.id).into()),
            ("probability", t.probability.into()),
            ("is_eos", t.is_eos.into()),
            ("set_aside", t.set_aside.into()),
            ("top", top.into()),
            ("image_attention", attention),
            ("text", text.into()),
        ])
    }
}

/// A ShapesWorld scene, exactly as the model was trained on: `{ rgba (224x224x4), caption_en,
/// caption_zh, questions_en: [[q, a]], questions_zh }`.
#[wasm_bindgen(js_name = shapesWorldScene)]
pub fn shapes_world_scene(seed: u32) -> JsValue {
    use crate::shapes_world::{Lang, Scene};
    let scene = Scene::generate(seed as u64);
    let image = scene.to_prepared_image();
    let questions = |lang| -> JsValue {
        scene
            .questions(lang)
            .into_iter()
            .map(|(q, a)| -> JsValue { [JsValue::from_str(&q), JsValue::from_str(&a)].iter().collect::<Array>().into() })
            .collect::<Array>()
            .into()
    };
    object(&[
        ("rgba", Uint8Array::from(image.to_rgba().as_slice()).into()),
        ("caption_en", scene.caption(Lang::En).into()),
        ("caption_zh", scene.caption(Lang::Zh).into()),
        ("questions_en", questions(Lang::En)),
        ("questions_zh", questions(Lang::Zh)),
    ])
}
