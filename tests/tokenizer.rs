//! src/text/tokenizer.rs against the `tokenizers` crate (which trains and writes tokenizer.json):
//! the same ids for the same text, the same text back from the same ids, on the shipped
//! tokenizer, the test fixture's, the untrained byte-level one, and one with SmolLM2's settings
//! (nanoVLM's: digits split one by one, its 17 special tokens, bytes without a token).
#![cfg(not(target_arch = "wasm32"))]

use vlm_explainer::text::tokenizer::{pretokenize, TextTokenizer};
use vlm_explainer::train::tokenizer_train::shapes_world_corpus;

fn shipped_json() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/www/model/tokenizer.json")).unwrap()
}

fn both(json: &[u8]) -> (TextTokenizer, tokenizers::Tokenizer) {
    let ours = TextTokenizer::from_json(json).unwrap();
    let mut theirs = tokenizers::Tokenizer::from_bytes(json).unwrap();
    theirs.set_encode_special_tokens(true);
    (ours, theirs)
}

/// Text that exercises every branch of the pre-tokenizer: contractions, runs of spaces before a
/// word and at the end, other whitespace, digits, punctuation, CJK, combining marks (not
/// letters), letter-like numbers, symbols, emoji, and special tokens' spellings.
const TRICKY: &[&str] = &[
    "",
    " ",
    "it's a cat's toy, isn't it? they're here; we've 'm 'll 'd 'S 'x",
    "a  b   c    d\n\ne\t\tf \t g \n",
    "trailing   ",
    "  leading",
    "123 4567 8.9 ½ ² Ⅻ 三",
    "一个红色的大圆在左上角。有几个形状？",
    "é vs e\u{301}: नमस्ते किताब",
    "\u{3000}中\u{a0}x\u{2028}y\u{85}z",
    "Ⓐ ⓑ ℃ ™ 🐈🐈‍⬛ 👍🏽",
    "<|eos|> <|image|>x<|bos|>",
    "!!!'s ?'re ...'",
    "ǅungla ʰa ᵃb",
    "fn main() {\n    let x: Vec<u32> = (0..42).map(|i| i * 2).collect();\n    println!(\"{x:?}\");\n}",
    "def f(a, b=3.14):\n\treturn a ** b  # 2024-12-02",
    "<|endoftext|><|im_start|>user\nWhat is this?<|im_end|>",
    "control \u{4}\u{6}\u{13} bytes",
];

/// Random strings over a palette of the characters above, from a fixed seed.
fn random_texts(count: usize) -> Vec<String> {
    let palette: Vec<char> =
        "ab Z'sre ll1 9.,!?\n\t\u{3000}\u{a0}红色圆\u{301}नि²Ⅻ🐈Ⓐ-_\"()<|>".chars().collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    palette[(state % palette.len() as u64) as usize]
                })
                .collect()
        })
        .collect()
}

fn texts() -> Vec<String> {
    let mut texts: Vec<String> = shapes_world_corpus(0..300).collect();
    texts.extend(TRICKY.iter().map(|s| s.to_string()));
    texts.extend(random_texts(3000));
    texts
}

fn check_same(json: &[u8], label: &str) {
    let (ours, theirs) = both(json);
    assert_eq!(ours.vocab_size(), theirs.get_vocab_size(true), "{label}: vocabulary size");
    let mut merged = 0;
    for text in texts() {
        let ids = ours.encode(&text).unwrap();
        let expected = theirs.encode(text.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(ids, expected, "{label}: ids of {text:?}");
        assert_eq!(ours.decode(&ids).unwrap(), text, "{label}: decode(encode({text:?}))");
        merged += text.len() - ids.len();
    }
    // Ids cut anywhere (partial UTF-8) and special ids decode alike too.
    let specials: Vec<u32> = match ours.special() {
        Ok(s) => vec![s.bos, s.eos, s.image],
        Err(_) => ["<|endoftext|>", "<|im_start|>"].iter().map(|t| ours.added_token(t).unwrap()).collect(),
    };
    for text in random_texts(500) {
        let mut ids = ours.encode(&text).unwrap();
        ids.truncate(ids.len() * 2 / 3);
        ids.extend(&specials);
        let third = ids.len() / 3;
        ids.rotate_left(third);
        assert_eq!(ours.decode(&ids).unwrap(), theirs.decode(&ids, true).unwrap(), "{label}: decode({ids:?})");
    }
    eprintln!("{label}: {merged} bytes merged away");
}

#[test]
fn the_shipped_tokenizer_encodes_and_decodes_as_the_tokenizers_crate() {
    let json = shipped_json();
    check_same(&json, "shipped");
    // A trained BPE: the corpus is mostly merged tokens, not bytes.
    let (ours, _) = both(&json);
    let caption = "a big red circle in the top left and a small blue square on the right";
    assert!(ours.encode(caption).unwrap().len() < caption.len() / 3);
}

#[test]
fn the_fixture_and_byte_level_tokenizers_match_the_tokenizers_crate() {
    check_same(include_bytes!("fixtures/tokenizer.json"), "fixture");
    let byte_level = TextTokenizer::byte_level().unwrap();
    assert_eq!(byte_level.vocab_size(), 263);
    assert_eq!(byte_level.encode("hé").unwrap(), vec![104, 195, 169]);
    check_same(byte_level.to_json().unwrap().as_bytes(), "byte-level");
}

#[test]
fn a_tokenizer_with_smollm2s_settings_matches_the_tokenizers_crate() {
    let json = include_bytes!("fixtures/nanovlm/small/tokenizer.json");
    check_same(json, "SmolLM2 settings");
    let (ours, _) = both(json);
    // Each digit a token of its own, and nanoVLM's prompt as its reference script encoded it.
    let digits = ours.encode("2024").unwrap();
    assert_eq!(digits.len(), 4);
    assert_eq!(ours.encode("Question: What is this? Answer:").unwrap(), [952, 42, 893, 321, 549, 47, 960, 42]);
    assert_eq!(ours.added_token("<|endoftext|>"), Some(0));
    assert!(ours.special().is_err(), "no explainer prompt tokens in SmolLM2's vocabulary");
}

#[test]
fn a_long_word_is_merged_as_the_crate_merges_it() {
    let json = shipped_json();
    let (ours, theirs) = both(&json);
    let text = "thecircleisred".repeat(5_000);
    let ids = ours.encode(&text).unwrap();
    assert_eq!(ids, theirs.encode(text.as_str(), false).unwrap().get_ids());
    assert!(ids.len() <= text.len() / 2, "{} ids for {} bytes", ids.len(), text.len());
}

#[test]
fn pretokenize_cuts_as_gpt2s_pattern() {
    assert_eq!(pretokenize("it's  a test\n\n x  "), ["it", "'s", " ", " a", " test", "\n\n", " x", "  "]);
    assert_eq!(pretokenize("7 cats!?'re"), ["7", " cats", "!?'", "re"]);
    assert_eq!(pretokenize("\u{3000}中 e\u{301}"), ["\u{3000}", "中", " e", "\u{301}"]);
}

#[test]
fn a_tokenizer_this_model_cannot_run_is_refused_with_the_reason() {
    let shipped = String::from_utf8(shipped_json()).unwrap();
    let message = |json: &str| TextTokenizer::from_json(json.as_bytes()).err().map(|e| e.to_string()).unwrap_or_default();

    let word_piece = shipped.replacen("\"type\": \"BPE\"", "\"type\": \"WordPiece\"", 1);
    assert!(message(&word_piece).starts_with("tokenizer.json: its model is WordPiece, not BPE;"), "{}", message(&word_piece));

    let prefix = shipped.replacen("\"add_prefix_space\": false", "\"add_prefix_space\": true", 1);
    assert!(message(&prefix).contains("not ByteLevel with GPT-2's pattern"), "{}", message(&prefix));

    // A byte without a token is dropped, as the `tokenizers` crate drops it (SmolLM2's vocabulary
    // lacks 21 control bytes).
    let no_eot = shipped.replacen("\"Ą\": ", "\"Ą_gone\": ", 1);
    assert_ne!(no_eot, shipped, "byte 0x04's token is in the shipped vocabulary");
    let (ours, theirs) = both(no_eot.as_bytes());
    let text = "a\u{4}b \u{4}\u{4} c";
    assert_eq!(ours.encode(text).unwrap(), theirs.encode(text, false).unwrap().get_ids());

    let not_a_tokenizer = r#"{"hello": "world"}"#;
    assert!(message(not_a_tokenizer).starts_with("tokenizer.json is not a tokenizer: missing field `model`"), "{}", message(not_a_tokenizer));

    let huge_id = shipped.replacen("\"id\": 0,", "\"id\": 4000000000,", 1);
    assert!(message(&huge_id).contains("far beyond"), "{}", message(&huge_id));
}

/// The shipped file with bytes changed at random (a cheap stand-in for the `load_model` fuzz
/// target): every variant is read or refused with a message, never a panic, and what is read
/// encodes and decodes text without one.
#[test]
fn a_damaged_tokenizer_json_is_refused_or_read_never_a_panic() {
    let shipped = shipped_json();
    let interesting: &[&[u8]] = &[b"0", b"9", b"\"", b",", b"]", b"}", b" ", b"-1", b"4294967295", b"1e9", b"null", b"\\u0120", b"\xe4\xb8"];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let (mut read, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = shipped.clone();
        for _ in 0..1 + next(3) {
            let at = next(bytes.len());
            match next(3) {
                0 => bytes[at] = next(256) as u8,
                1 => {
                    let piece = interesting[next(interesting.len())];
                    bytes.splice(at..(at + next(4)).min(bytes.len()), piece.iter().copied());
                }
                _ => {
                    bytes.drain(at..(at + 1 + next(40)).min(bytes.len()));
                }
            }
        }
        let outcome = std::panic::catch_unwind(|| match TextTokenizer::from_json(&bytes) {
            Ok(t) => {
                let ids = t.encode("a big red circle, 一个红色的圆 'll  \n").unwrap();
                t.decode(&ids).unwrap();
                (0..t.vocab_size() as u32 + 3).for_each(|id| drop(t.piece(id)));
                true
            }
            Err(e) => {
                assert!(e.to_string().starts_with("tokenizer.json"), "{e}");
                false
            }
        });
        match outcome {
            Ok(true) => read += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("a panic on a damaged tokenizer.json: {:?}", String::from_utf8_lossy(&bytes)),
        }
    }
    eprintln!("{read} damaged files read, {refused} refused");
    assert!(read > 0 && refused > 0);
}
