//! The threaded build (`pkg-threads/`: nightly, atomics, relaxed SIMD, the `threads` feature)
//! in the browser, by value: training and inference on a pool of 2 Web Workers equal, to the
//! bit, what the same build computes on one thread (the pool splits every kernel's rows, or a
//! decode step's output columns, each value computed as on one thread), the loss falls below
//! tests/checks/training.rs's bound, and inference matches the native recording
//! (tests/fixture/). Built and run as scripts/test.sh does:
//!
//!     RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd -C link-arg=--max-memory=4294967296' \
//!       rustup run nightly wasm-pack test --release --headless --chrome -- \
//!       --features threads -Z build-std=panic_abort,std --test web_threads
//!
//! (and `--firefox`). The tests run in a dedicated worker: rayon's threads block on
//! `Atomics.wait`, which a page's main thread may not call. wasm-bindgen-test-runner serves the
//! test cross-origin isolated, so the module's memory can be shared with the pool's workers.
#![cfg(all(target_arch = "wasm32", feature = "threads"))]

mod fixture;
#[path = "fixture/files.rs"]
mod files;
#[path = "checks/training.rs"]
mod training;

use vlm_explainer::ops::simd_matmul::{pool_threads, split_threads};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// Threads in the pool.
const THREADS: usize = 2;

/// Every number a few sampled decode steps hand out (id, candidates, image attention), as
/// bits, from a model whose decode steps are wide enough to split: micro's vision encoder and
/// a one-layer LLM of width 512, whose single-row products (512 x 1536 and 512 x 2048
/// multiply-adds) reach the pool's threshold and split their output columns; micro's (32
/// wide) never do.
fn wide_decode() -> Vec<u32> {
    use candle_core::Device;
    use vlm_explainer::infer::sampling::SamplingOptions;
    use vlm_explainer::model::preprocess::PreparedImage;
    use vlm_explainer::text::{prompt::Task, tokenizer::TextTokenizer};
    use vlm_explainer::{train::init, Config, Explainer};
    let tokenizer = TextTokenizer::byte_level().unwrap();
    let mut config = Config::micro(tokenizer.vocab_size());
    (config.llm.width, config.llm.heads, config.llm.mlp_width, config.llm.layers) = (512, 8, 2048, 1);
    // Through a file, as a model is loaded: seeded weights are variables, which are never packed
    // for the browser's kernels (ops/linear.rs), so `init::seeded`'s model would run candle's.
    let (_, varmap) = init::seeded(&config, 5, &Device::Cpu).unwrap();
    let weights = vlm_explainer::model::weights::to_safetensors(&varmap, candle_core::DType::F32).unwrap();
    let mut e = Explainer::load(weights, &config.to_json(), tokenizer.to_json().unwrap().as_bytes()).unwrap();
    e.set_image(PreparedImage::from_encoded(files::FILES.image_png, 224).unwrap()).unwrap();
    e.encode().unwrap();
    e.project().unwrap();
    e.prefill(Task::Caption, fixture::PROMPT, SamplingOptions { temperature: 1.0, top_k: 40, seed: 3, max_new_tokens: 6 }).unwrap();
    let mut bits = vec![];
    while let Some(t) = e.next_token().unwrap() {
        bits.push(t.id);
        bits.extend(t.top.iter().flat_map(|&(id, p)| [id, p.to_bits()]));
        bits.extend(t.image_attention.iter().map(|a| a.to_bits()));
    }
    bits
}

#[wasm_bindgen_test]
async fn on_two_threads_training_and_inference_compute_what_one_thread_does() {
    // The pool first, as the page's worker does: a use of rayon before it (candle's ops use
    // rayon's global pool) would make rayon's default pool, and initThreadPool would then fail.
    JsFuture::from(vlm_explainer::wasm::init_thread_pool(THREADS)).await.expect("the pool of Web Workers starts");
    // Until `poolReady`, this crate's kernels keep every row on the calling thread.
    assert_eq!((pool_threads(), split_threads(usize::MAX)), (1, 1));
    let one = training::losses(&files::FILES);
    let inference_one = fixture::run(&files::FILES);
    let wide_one = wide_decode();

    vlm_explainer::wasm::pool_ready();
    assert_eq!((pool_threads(), split_threads(usize::MAX)), (THREADS, THREADS), "the kernels split among the pool");
    let two = training::losses(&files::FILES);
    let inference_two = fixture::run(&files::FILES);
    let wide_two = wide_decode();

    console_log!("losses, 1 thread:  {one:?}\nlosses, {THREADS} threads: {two:?}");
    let apart = one.iter().zip(&two).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    console_log!("largest difference of the losses: {apart:e}");
    assert!(apart <= training::THREADS_TOLERANCE, "losses at 1 and {THREADS} threads differ by {apart}: {one:?} vs {two:?}");
    assert!(training::last(&two) < training::LOSS_BOUND, "at {THREADS} threads the loss went {two:?}");

    // Inference too, every value to the bit (as the losses, see THREADS_TOLERANCE).
    let report: Vec<String> = fixture::differences(&inference_two, &inference_one).into_iter().map(|d| format!("{}: {}", d.field, d.what)).collect();
    console_log!("inference, {THREADS} threads vs 1:\n  {}", report.join("\n  "));
    let bits = |o: &fixture::Outcome| serde_json::to_string(o).unwrap();
    assert!(bits(&inference_two) == bits(&inference_one), "inference at {THREADS} threads differs from 1 thread's:\n  {}", report.join("\n  "));
    let apart = wide_one.iter().zip(&wide_two).filter(|(a, b)| a != b).count();
    assert!(wide_one == wide_two, "wide decode steps: {apart} of {} numbers differ at {THREADS} threads from 1 thread's", wide_one.len());
    fixture::check(&inference_one, files::EXPECTED);
    fixture::check(&inference_two, files::EXPECTED);
}
