//! The vectorisable exp and tanh against f64's, over the ranges the kernels see.
#![cfg(not(target_arch = "wasm32"))] // native: plain `wasm-pack test` builds every test file for wasm32
use vlm_explainer::ops::fast_math;

fn samples(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
    (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
}

#[test]
fn exp_matches_f64_to_3e7_relative() {
    let mut worst = 0f64;
    for x in samples(-87.0, 88.0, 2_000_000) {
        let exact = (x as f64).exp();
        worst = worst.max(((fast_math::exp(x) as f64 - exact) / exact).abs());
    }
    assert!(worst < 3e-7, "worst relative error {worst:e}");
    assert_eq!(fast_math::exp(0.0), 1.0);
}

#[test]
fn exp_saturates_instead_of_overflowing() {
    for x in [f32::NEG_INFINITY, -1e30, -200.0, -88.0] {
        assert_eq!(fast_math::exp(x), 0.0, "exp({x})");
    }
    for x in [89.0f32, 500.0, 1e30] {
        let y = fast_math::exp(x);
        assert!(y.is_finite() && y > 1e38, "exp({x}) = {y}");
    }
}

#[test]
fn tanh_matches_f64_to_2e7_absolute() {
    let mut worst = 0f64;
    for x in samples(-30.0, 30.0, 2_000_000) {
        worst = worst.max((fast_math::tanh(x) as f64 - (x as f64).tanh()).abs());
    }
    assert!(worst < 2e-7, "worst absolute error {worst:e}");
    assert_eq!(fast_math::tanh(1e30), 1.0);
    assert_eq!(fast_math::tanh(-1e30), -1.0);
}

#[test]
fn erf_matches_f64_to_6e7_absolute() {
    let mut worst = 0f64;
    for x in samples(-12.0, 12.0, 2_000_000) {
        worst = worst.max((fast_math::erf(x) as f64 - candle_core::cpu::erf::erf_f64(x as f64)).abs());
    }
    assert!(worst < 6e-7, "worst absolute error {worst:e}");
    assert!(fast_math::erf(0.0).abs() < 1e-7);
    assert_eq!(fast_math::erf(1e30), 1.0);
    assert_eq!(fast_math::erf(-1e30), -1.0);
    assert!(fast_math::erf(f32::NAN).is_nan());
}

#[test]
fn gelu_erf_kernel_matches_candles() -> candle_core::Result<()> {
    let xs: Vec<f32> = samples(-10.0, 10.0, 100_000).collect();
    let x = candle_core::Tensor::new(xs.as_slice(), &candle_core::Device::Cpu)?;
    let ours = vlm_explainer::ops::kernels::gelu_erf(&x)?.to_vec1::<f32>()?;
    let candle = x.gelu_erf()?.to_vec1::<f32>()?;
    for ((a, b), v) in ours.iter().zip(&candle).zip(&xs) {
        assert!((a - b).abs() <= 5e-7 * v.abs().max(1.0), "gelu_erf({v}): {a} against candle's {b}");
    }
    Ok(())
}
