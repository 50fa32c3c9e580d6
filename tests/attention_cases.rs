//! Shared by tests/attention.rs (native) and tests/web.rs (in the browser): `attention::attend`
//! against candle's ops (q k^T, the scaled masked softmax, weights v) on the shapes the models
//! run, with and without a causal mask, tails of the packed panels included.

use candle_core::{Device, Tensor};
use vlm_explainer::ops::attention::attend;
use vlm_explainer::ops::kernels::scaled_masked_softmax;

/// Largest differences (output, weights) between `attend` and candle over every case.
pub fn largest_differences() -> (f32, f32) {
    let dev = Device::Cpu;
    let mut worst = (0f32, 0f32);
    // (b, heads, t, s, d, causal): the tiny ViT (3 heads of 64 over 197 tokens), a prefill after
    // cached positions (s > t), the seed LLM's heads, odd sizes.
    for (b, h, t, s, d, causal) in [(1, 3, 197, 197, 64, false), (1, 4, 21, 217, 32, true), (2, 2, 5, 9, 13, true), (1, 12, 40, 40, 64, true), (1, 1, 2, 3, 1, false)] {
        let q = Tensor::randn(0f32, 1.0, (b, h, t, d), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev).unwrap();
        // Query i sits at position s - t + i and sees the keys up to it.
        let mask = causal.then(|| {
            let values: Vec<f32> = (0..t).flat_map(|i| (0..s).map(move |j| if j > s - t + i { f32::NEG_INFINITY } else { 0.0 })).collect();
            Tensor::from_vec(values, (t, s), &dev).unwrap()
        });
        let scale = 1.0 / (d as f32).sqrt();
        let (y, w) = attend(&q, &k, &v, scale, mask.as_ref()).unwrap();
        let want_w = scaled_masked_softmax(&q.matmul(&k.t().unwrap()).unwrap(), scale, mask.as_ref()).unwrap();
        let want_y = want_w.matmul(&v).unwrap();
        assert_eq!((y.dims(), w.dims()), (want_y.dims(), want_w.dims()));
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        worst = (worst.0.max(diff(&y, &want_y)), worst.1.max(diff(&w, &want_w)));
    }
    worst
}
