//! How the model's operations are computed: the one place that chooses a kernel. Model files
//! call these functions and layers; here they pick candle's ops or this crate's (SIMD products
//! with packed weights in the browser, attention split among threads, softmax/LayerNorm/GELU
//! with backward passes where a gradient is wanted).

pub mod linear;
pub mod norm;
pub mod activation;
pub mod kernels;
pub mod simd_matmul;
pub mod attention;
pub mod fast_math;

use std::sync::atomic::{AtomicBool, Ordering};

static BROWSER_KERNELS: AtomicBool = AtomicBool::new(cfg!(target_arch = "wasm32"));

/// Whether inference runs this crate's browser kernels: products through `simd_matmul` with
/// packed weights, attention's products through it (`attention`), the vectorised exact GELU. On
/// in the browser, where they are several times faster than candle's gemm at simd128; off
/// natively, where candle's (AVX2/FMA, two threads) are faster. Native tests turn them on to
/// check the browser's path against candle's.
pub fn browser_kernels() -> bool {
    BROWSER_KERNELS.load(Ordering::Relaxed)
}

/// Turns the browser's kernels on or off for this process (see `browser_kernels`).
pub fn set_browser_kernels(on: bool) {
    BROWSER_KERNELS.store(on, Ordering::Relaxed);
}
