//! `exp`, `tanh` and `erf` for the activation kernels, written so the compiler vectorises them.
//!
//! The standard library's `f32::exp` and `f32::tanh` call libm one value at a time (and `tanh`
//! goes through `expm1`); in a GELU over a ViT's MLP that was 15% of a training step. These use
//! Cephes' range reduction, e^x = 2^n e^r with |r| <= ln 2 / 2, a degree-6 polynomial for e^r and
//! the exponent bits for 2^n: only multiplies, adds and integer moves, so a loop over a slice
//! becomes SIMD code natively and with wasm's simd128. Relative error under 3e-7 over the whole
//! f32 range that does not overflow (checked in tests/fast_math.rs).

const LOG2_E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so that n * LN2_HI is exact for the n that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds an f32 of magnitude < 2^22 to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// e^x. Below -87.3 (where e^x leaves f32's normal range) it is exactly 0, so a masked
/// attention score of -inf gets a weight of exactly 0; above 88.3 it stays at about 2e38
/// instead of reaching infinity.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let underflow = x < -87.3;
    // Comparisons, not `max`/`min`: in wasm those are calls to `fmaxf`/`fminf` (Rust's NaN rule
    // is not wasm's), which kept the loops scalar. The same values, NaN included (-> -87.3).
    let x = if x >= -87.3 {
        if x > 88.3 {
            88.3
        } else {
            x
        }
    } else {
        -87.3
    };
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `shifted`'s low mantissa bits hold n (in two's complement), so 2^n's exponent field is
    // n + 127 in bits 23..31, and the higher bits of `shifted` fall off the shift.
    let y = p * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    if underflow { 0.0 } else { y }
}

/// tanh(x) = 1 - 2 / (e^(2x) + 1). Absolute error under 2e-7.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// erf(x), Abramowitz and Stegun's 7.1.26: 1 - t (a1 + t (a2 + ... a5 t^4)) e^(-x^2) with
/// t = 1 / (1 + p |x|), the sign of x put back. Absolute error under 6e-7 (1.5e-7 in exact
/// arithmetic); a division, `exp` and a polynomial, so a loop over a slice vectorises, where
/// candle's `erf_f32` is a call per value with branches on the range.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152, 1.061_405_4];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}
