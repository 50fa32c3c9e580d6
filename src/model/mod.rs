//! The lesson's diagram, one file per box, in the order data flows through them:
//!
//!     preprocess -> vision_encoder -> projector -> vlm ([image tokens | text tokens]) -> llm
//!
//! `config` says each box's shape, `patch_grid` which pixels make image token i, `transformer`
//! the attention, MLP and block both transformers share, `weights` where the weights come from,
//! `families` which family a checkpoint is (`nanovlm`: nanoVLM's files).

pub mod config;
pub mod patch_grid;
pub mod preprocess;
pub mod transformer;
pub mod vision_encoder;
pub mod projector;
pub mod llm;
pub mod vlm;
pub mod weights;
pub mod nanovlm;
pub mod families;
