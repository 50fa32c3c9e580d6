//! Training: freezing parts, the steps, batches of packed turns, seeded initialisation, the
//! CLIP heads and grounding of vision pretraining, evaluation on held-out scenes, the `train`
//! CLI's pipeline (feature `cli`), the tokenizer's training (natively), and the page's
//! projector trainer (panel 6).

pub mod freeze;
pub mod step;
pub mod init;
pub mod batch;
pub mod clip;
pub mod grounding;
pub mod evaluate;
pub mod projector_trainer;
#[cfg(not(target_arch = "wasm32"))]
pub mod tokenizer_train;
#[cfg(feature = "cli")]
pub mod pipeline;
