//! VLM Explainer: the lesson's vision-language model, one file per box of its diagram.
//!
//!     image -> preprocess -> vision_encoder -> projector -> [image tokens | text tokens] -> llm -> text
//!
//! The same code runs natively (tests, training) and in the browser (`wasm`).

pub mod config;
pub mod patch_grid;
pub mod preprocess;
pub mod transformer;
pub mod vision_encoder;
pub mod projector;
pub mod llm;
pub mod vlm;
pub mod tokenizer;
pub mod prompt;
pub mod sampling;
pub mod text_guard;
pub mod generate;
pub mod weights;
pub mod fast_math;
pub mod kernels;
pub mod simd_matmul;
pub mod attention;
pub mod training;
pub mod projector_training;
pub mod explainer;
pub mod clip;
pub mod batch;
pub mod grounding;
pub mod evaluate;
pub mod bench;
#[cfg(feature = "cli")]
pub mod pipeline;
pub mod shapes_world;
#[cfg(not(target_arch = "wasm32"))]
pub mod tokenizer_train;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
#[cfg(target_arch = "wasm32")]
pub mod wasm_training;
#[cfg(target_arch = "wasm32")]
pub mod wasm_bench;

pub use config::Config;
pub use explainer::Explainer;
pub use vlm::Vlm;
