//! The activation kernels' exp and tanh against the standard library's, on a ViT MLP's worth of
//! values (16 images x 197 tokens x 768), interleaved, median of 7 rounds.
//!     cargo run --release --example activation_bench
use std::hint::black_box;
use std::time::Instant;
use vlm_explainer::ops::fast_math;

fn time(f: impl Fn(f32) -> f32, x: &[f32], out: &mut [f32]) -> f64 {
    let start = Instant::now();
    for (y, &v) in out.iter_mut().zip(x) {
        *y = f(v);
    }
    black_box(&out);
    start.elapsed().as_secs_f64() * 1e9 / x.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(name: &str, std_ns: Vec<f64>, fast_ns: Vec<f64>) {
    let (a, b) = (median(std_ns), median(fast_ns));
    println!("{name}: std {a:.2} ns/value, fast_math {b:.2} ns/value, {:.1}x", a / b);
}

fn main() {
    let n = 16 * 197 * 768;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 10_007) as f32 / 10_007.0 * 12.0 - 6.0).collect();
    let mut out = vec![0f32; n];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        a.push(time(|v| v.exp(), &x, &mut out));
        b.push(time(fast_math::exp, &x, &mut out));
    }
    report("exp", a, b);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        a.push(time(|v| v.tanh(), &x, &mut out));
        b.push(time(fast_math::tanh, &x, &mut out));
    }
    report("tanh", a, b);
}
