//! The packed matrix product the browser's inference runs (`simd_matmul`): natively its blocking
//! and packing run with plain arrays, and must give x W^T for every shape, tails included.
//! `tests/web.rs` checks the simd128 kernel itself in Chrome and Firefox.
#![cfg(not(target_arch = "wasm32"))] // native: plain `wasm-pack test` builds every test file for wasm32

use vlm_explainer::infer::sampling::Rng;
use vlm_explainer::ops::simd_matmul::{matmul_packed, pack, panels, NR};

fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
}

#[test]
fn the_packed_product_is_x_times_w_transposed_for_every_tail() {
    let mut rng = Rng::new(3);
    // Rows not a multiple of 4, columns not a multiple of 8, depths across the 512 block.
    for (m, k, n) in [(1, 1, 1), (1, 5, 3), (3, 256, 8), (7, 300, 19), (13, 520, 33), (196, 64, 40)] {
        let (x, w) = (random(&mut rng, m * k), random(&mut rng, n * k));
        let mut out = vec![f32::NAN; m * n];
        matmul_packed(&x, m, k, &pack(&w, n, k), n, &mut out);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|kk| x[i * k + kk] as f64 * w[j * k + kk] as f64).sum();
                let got = out[i * n + j] as f64;
                assert!((got - want).abs() <= 1e-5 * (k as f64).sqrt(), "({m}, {k}, {n})[{i}][{j}]: {got} vs {want}");
            }
        }
    }
}

#[test]
fn a_packed_weight_holds_each_value_once_and_zeros_past_the_last_column() {
    let (n, k) = (11, 3);
    let w: Vec<f32> = (1..=n * k).map(|v| v as f32).collect();
    let packed = pack(&w, n, k);
    assert_eq!(packed.len(), 16 * k, "two panels of 8 columns");
    let mut sorted: Vec<f32> = packed.iter().copied().filter(|&v| v != 0.0).collect();
    sorted.sort_by(f32::total_cmp);
    assert_eq!(sorted, w);
    // Panel 0, depth 1: W[0..8][1].
    assert_eq!(&packed[8..16], &[2.0, 5.0, 8.0, 11.0, 14.0, 17.0, 20.0, 23.0]);
    // Panel 1, depth 0: W[8..11][0], then zeros.
    assert_eq!(&packed[24..32], &[25.0, 28.0, 31.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

/// A decode step's single row, its columns split among threads as the threaded build splits
/// them (runs of whole panels): each run alone gives exactly the whole product's columns.
#[test]
fn a_run_of_panels_is_a_packed_weight_of_its_own_columns() {
    let mut rng = Rng::new(8);
    for (k, n, threads) in [(576, 1536, 2), (576, 49152 / 64, 3), (64, 19, 2), (300, 8, 2)] {
        let (x, w) = (random(&mut rng, k), random(&mut rng, n * k));
        let packed = pack(&w, n, k);
        let mut whole = vec![0f32; n];
        matmul_packed(&x, 1, k, &packed, n, &mut whole);
        let per = n.div_ceil(NR).div_ceil(threads) * NR;
        let mut split = vec![f32::NAN; n];
        for (i, out) in split.chunks_mut(per).enumerate() {
            let cols = out.len();
            matmul_packed(&x, 1, k, panels(&packed, k, i * per, cols), cols, out);
        }
        assert_eq!(split, whole, "k {k}, n {n}, {threads} threads");
    }
}
