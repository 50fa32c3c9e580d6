//! tests/fixtures/page_answers.json (what the page test compares the page's answers with) is
//! what this build's shipped model answers: written by `cargo run --release --example
//! page_answers`, checked here so that it cannot go stale unnoticed.
#![cfg(not(target_arch = "wasm32"))]

#[path = "checks/page_answers.rs"]
mod page_answers;

use std::path::Path;

#[test]
fn the_recorded_page_answers_are_what_the_shipped_model_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recorded: page_answers::Recording =
        serde_json::from_str(&std::fs::read_to_string(root.join("tests/fixtures/page_answers.json")).unwrap()).unwrap();
    let now = page_answers::record(&page_answers::shipped_files(&root.join("www/model")));
    let again = "run `cargo run --release --example page_answers` and read what it says changed";
    assert_eq!(now.model_fnv1a, recorded.model_fnv1a, "www/model/ is not the model recorded: {again}");
    assert_eq!(now.scenes.len(), recorded.scenes.len());
    for (n, r) in now.scenes.iter().zip(&recorded.scenes) {
        assert_eq!((n.seed, &n.caption_en, &n.caption_zh), (r.seed, &r.caption_en, &r.caption_zh), "the scene drawn for seed {}", r.seed);
        for (a, b) in n.answers.iter().zip(&r.answers) {
            let what = format!("scene {} {} {:?}", r.seed, b.lang, b.prompt);
            assert_eq!(a.text, b.text, "{what}: {again}");
            assert_eq!(a.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), b.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), "{what}");
            // Other machines sum in other orders (candle's gemm picks its kernel by CPU): the
            // numbers agree to the recording's rounding and a little more.
            let near = |x: f32, y: f32| (x - y).abs() <= 1e-4;
            for (t, u) in a.tokens.iter().zip(&b.tokens) {
                assert!(near(t.probability, u.probability), "{what}: token {:?} probability {} vs {}", t.piece, t.probability, u.probability);
                assert_eq!(t.attention_top3.iter().map(|p| p.0).collect::<Vec<_>>(), u.attention_top3.iter().map(|p| p.0).collect::<Vec<_>>(), "{what}: token {:?}'s brightest patches", t.piece);
            }
            assert!(a.first_token_attention_mean.iter().zip(&b.first_token_attention_mean).all(|(x, y)| near(*x, *y)), "{what}: the first token's heat map");
            // The page's kernels sum in another order than these: every recorded choice must be
            // clear of that (logits differ by ~1e-5 between the two, tests/values.rs).
            assert!(b.min_logit_margin > 1e-3, "{what}: a token chosen by log p1/p2 = {} only", b.min_logit_margin);
        }
    }
}
