//! Running a model: generation one token at a time with the KV cache, sampling, the guard that
//! keeps answers valid text, and the stage-by-stage session the page drives.

pub mod generate;
pub mod sampling;
pub mod text_guard;
pub mod explainer;
