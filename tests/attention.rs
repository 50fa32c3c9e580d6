//! `attention::attend`, the browser's attention products, natively (the blocking and packing
//! with plain arrays); tests/web.rs runs the same cases on the simd128 kernel.
#![cfg(not(target_arch = "wasm32"))] // native: plain `wasm-pack test` builds every test file for wasm32

#[path = "attention_cases.rs"]
mod cases;

#[test]
fn attend_gives_candles_weights_and_output() {
    let (output, weights) = cases::largest_differences();
    assert!(output < 1e-4 && weights < 1e-5, "largest differences: output {output}, weights {weights}");
}
