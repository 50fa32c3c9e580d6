//! The caption scorer with deliberately wrong captions of each kind (tests/checks/captions.rs):
//! wrong colour, shape, size, place, a missing, an extra or a repeated object, objects out of
//! order, garbage, text cut short, the other language. tests/web.rs runs the same in browsers.
#![cfg(not(target_arch = "wasm32"))]

#[path = "checks/captions.rs"]
mod captions;

#[test]
fn wrong_captions_of_each_kind_read_back_as_said_and_score_wrong_where_wrong() {
    let cases = captions::cases();
    // Whatever the mistake, only the right caption may score full marks everywhere.
    for case in &cases {
        assert_eq!(case.expect.iter().all(|&s| s == 1.0), case.name == "right", "{:?} {}: {:?}", case.lang, case.name, case.expect);
    }
    let problems = captions::wrong_scores();
    assert!(problems.is_empty(), "the scorer is wrong on {} of {} captions:\n  {}", problems.len(), cases.len(), problems.join("\n  "));
}
