//! What the page shows, checked by value natively, with candle's kernels and with the browser's
//! (`ops::set_browser_kernels`: the packed products and `attend`, run here with plain arrays):
//! the fixture's whole tensors against the recording, each generated token's image attention
//! against a recomputation without the KV cache, the vision attention against a direct
//! computation (tests/checks/attention.rs). tests/web.rs runs the same in Chrome and Firefox.
#![cfg(not(target_arch = "wasm32"))]

mod fixture;
#[path = "fixture/files.rs"]
mod files;
#[path = "checks/attention.rs"]
mod attention;
#[path = "checks/training.rs"]
mod training;

use std::sync::Mutex;

use candle_core::Device;
use vlm_explainer::ops::set_browser_kernels;
use vlm_explainer::text::prompt::Task;
use vlm_explainer::Explainer;

/// The browser's kernels are a switch for the whole process: the tests here take turns.
static KERNELS: Mutex<()> = Mutex::new(());

/// Runs `f` with the browser's kernels on or off, and turns them off again however `f` ends.
fn with_kernels<T>(on: bool, f: impl FnOnce() -> T) -> T {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            set_browser_kernels(false);
        }
    }
    let _turn = KERNELS.lock().unwrap_or_else(|e| e.into_inner());
    let _off = Off;
    set_browser_kernels(on);
    f()
}

/// Largest |difference| allowed between each token's cached image attention and the
/// recomputation: the same weights; the decode step's keys and values come from one-row
/// products, the recomputation's from products over all 217+ rows (and, with the browser's
/// kernels, its scores through `attend`), so sums run in other orders. Measured: 7.5e-7 (on
/// weights up to 0.3); the rows of neighbouring queries differ by 0.039 at least.
const CACHED_ATTENTION_TOLERANCE: f32 = 1e-5;
/// Largest |difference| allowed between the vision attention and the direct computation in
/// f64: the f32 pipeline's rounding, measured 3.7e-9 (micro) and 5e-9 (tiny); neighbouring
/// queries' rows differ by 1.7e-4 (micro) and 2.8e-4 (tiny) at least, in every layer and head.
const VISION_ATTENTION_TOLERANCE: f32 = 1e-6;
/// The same for the patch features after the final LayerNorm (magnitude ~1; measured 1.3e-6).
const FEATURES_TOLERANCE: f32 = 1e-4;

#[test]
fn the_browsers_kernels_natively_reproduce_the_recorded_fixture_within_its_tolerances() {
    let candle = with_kernels(false, || fixture::run(&files::FILES));
    let browser = with_kernels(true, || fixture::run(&files::FILES));
    // How far the two kernels' summation orders land apart: the figures behind TOLERANCES.
    for d in fixture::differences(&browser, &candle) {
        println!("browser kernels vs candle's, {:<18} {}", d.field, d.what);
    }
    fixture::check(&browser, files::EXPECTED);
    fixture::check(&candle, files::EXPECTED);
}

#[test]
fn each_generated_tokens_image_attention_is_its_query_in_a_recomputation_without_the_cache() {
    for on in [false, true] {
        let r = with_kernels(on, || {
            let mut e = fixture::explainer(&files::FILES);
            e.encode().unwrap();
            e.project().unwrap();
            e.prefill(Task::Caption, fixture::PROMPT, fixture::GREEDY).unwrap();
            attention::image_attention_against_recomputation(&mut e)
        });
        println!("browser kernels {on}: {r:?}");
        assert!(r.tokens >= 10, "only {} tokens generated", r.tokens);
        assert!(r.worst <= CACHED_ATTENTION_TOLERANCE, "browser kernels {on}: cached and recomputed attention differ by {}", r.worst);
        // The check can tell the query that chose a token from the one before it.
        assert!(r.neighbour > 100.0 * CACHED_ATTENTION_TOLERANCE, "neighbouring queries' rows differ by {} only", r.neighbour);
    }
}

#[test]
fn the_vision_attention_the_page_draws_is_the_direct_computations() {
    use vlm_explainer::shapes_world::Scene;
    use vlm_explainer::text::tokenizer::TextTokenizer;
    use vlm_explainer::train::init;
    use vlm_explainer::Config;
    // The fixture's micro model on its image, and the shipped model's size (tiny: 4 layers of 3
    // heads of 64) with seeded weights on a ShapesWorld scene.
    type Model = (Explainer, std::collections::HashMap<String, Vec<f32>>);
    let micro = || -> Model { (fixture::explainer(&files::FILES), attention::weights_of(files::FILES.taught)) };
    let tiny = || -> Model {
        let tokenizer = TextTokenizer::byte_level().unwrap();
        let (vlm, varmap) = init::seeded(&Config::tiny(tokenizer.vocab_size()), 3, &Device::Cpu).unwrap();
        let weights = varmap.data().lock().unwrap().iter().map(|(n, v)| (n.clone(), v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())).collect();
        let mut e = Explainer::new(vlm, tokenizer).unwrap();
        e.set_image(Scene::generate(7).to_prepared_image()).unwrap();
        (e, weights)
    };
    for (name, model) in [("micro", &micro as &dyn Fn() -> Model), ("tiny", &tiny)] {
        for on in [false, true] {
            let r = with_kernels(on, || {
                let (mut e, weights) = model();
                attention::vision_attention_against_direct_computation(&mut e, &weights)
            });
            println!("{name}, browser kernels {on}: {r:?}");
            assert!(r.weights <= VISION_ATTENTION_TOLERANCE, "{name}, browser kernels {on}: attention tensors differ by {}", r.weights);
            assert!(r.rows <= VISION_ATTENTION_TOLERANCE, "{name}, browser kernels {on}: the rows the page gets differ by {}", r.rows);
            assert!(r.features <= FEATURES_TOLERANCE, "{name}, browser kernels {on}: patch features differ by {}", r.features);
            assert!(r.neighbour > 10.0 * VISION_ATTENTION_TOLERANCE, "{name}: neighbouring queries' rows differ by {} only", r.neighbour);
        }
    }
}

#[test]
fn the_threaded_builds_training_check_learns_natively_too() {
    // tests/web_threads.rs runs this at 1 and 2 threads in the browser; here, with candle's
    // kernels and the browser's, its losses fall below the same bound and agree.
    let candle = with_kernels(false, || training::losses(&files::FILES));
    let browser = with_kernels(true, || training::losses(&files::FILES));
    println!("losses, candle's kernels: {candle:?}\nlosses, the browser's: {browser:?}");
    for losses in [&candle, &browser] {
        assert!(training::last(losses) < training::LOSS_BOUND, "the loss went {losses:?}");
    }
    let apart = candle.iter().zip(&browser).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!("largest difference {apart:e}");
}
