//! VLM Explainer: the lesson's vision-language model, in folders that follow its diagram.
//!
//!     image -> preprocess -> vision_encoder -> projector -> [image tokens | text tokens] -> llm -> text
//!
//! - `model/`: the diagram's boxes (config, patch grid, preprocessing, vision encoder, projector,
//!   LLM, the VLM that joins them) and the weights they are read from. A model file says what
//!   is computed; it never chooses a kernel.
//! - `text/`: the tokenizer and the prompt format.
//! - `infer/`: generation with the KV cache, sampling, the text guard, and the stage-by-stage
//!   session the page drives (`Explainer`).
//! - `ops/`: how it is computed: the one place that chooses a kernel (candle's, or this crate's
//!   SIMD products, attention, softmax/LayerNorm/GELU with their backward passes).
//! - `train/`: freezing, training steps, batches, initialisation, the pipeline that trained the
//!   shipped model, and the page's projector trainer.
//! - `shapes_world/`: the synthetic scenes the shipped model was trained on.
//! - `wasm/`: the browser bindings, which convert types and nothing else.
//!
//! The same code runs natively (tests, training) and in the browser.

pub mod model;
pub mod text;
pub mod infer;
pub mod ops;
pub mod train;
pub mod shapes_world;
/// The speed benchmark's stages: natively always, in the browser with the `bench` feature.
#[cfg(any(not(target_arch = "wasm32"), feature = "bench"))]
pub mod bench;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use infer::explainer::Explainer;
pub use model::config::Config;
pub use model::vlm::Vlm;
