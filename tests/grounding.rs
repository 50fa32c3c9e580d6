#![cfg(not(target_arch = "wasm32"))]
//! The grounding loss of stage d: it reads the prompt's last token of each question that names
//! objects, scores the attention on those objects' patches, and training on it moves that
//! attention there.

use candle_core::{Device, Tensor};
use vlm_explainer::train::batch::PackedBatch;
use vlm_explainer::train::clip::patches_under;
use vlm_explainer::train::grounding::{Grounding, HEAD};
use vlm_explainer::shapes_world::{Lang, Sample, Scene};
use vlm_explainer::text::tokenizer::TextTokenizer;
use vlm_explainer::train::freeze::{Part, PartlyFrozen};
use vlm_explainer::train::step::train_step_grounded;
use vlm_explainer::Config;

const CPU: Device = Device::Cpu;

/// A scene of three objects of three shapes, and its questions in English (short enough for a
/// byte-level tokenizer).
fn scene_and_questions() -> (Scene, Vec<Sample>) {
    let scene = (0..)
        .map(Scene::generate)
        .find(|s| s.objects.len() == 3 && s.objects.iter().all(|o| s.count(o.shape) == 1))
        .unwrap();
    let questions = scene.samples(Lang::En).into_iter().skip(1).collect();
    (scene, questions)
}

/// Attention weights (1, 2 heads, s, s) in which `HEAD`'s row at each grounded query is `row(i)`
/// (i counts the grounded questions), and every other row is uniform.
fn attention_with(s: usize, queries: &[usize], row: impl Fn(usize) -> Vec<f32>) -> Tensor {
    let mut w = vec![1.0 / s as f32; 2 * s * s];
    for (i, &q) in queries.iter().enumerate() {
        let at = (HEAD * s + q) * s;
        w[at..at + s].copy_from_slice(&row(i));
    }
    Tensor::from_vec(w, (1, 2, s, s), &CPU).unwrap()
}

#[test]
fn grounding_scores_the_named_objects_patches_at_the_prompts_last_token() {
    let tok = TextTokenizer::byte_level().unwrap();
    let grid = Config::micro(tok.vocab_size()).patch_grid();
    let n = grid.num_patches();
    let (scene, questions) = scene_and_questions();
    let rows = vec![questions.iter().collect::<Vec<_>>()];
    let batch = PackedBatch::new(&tok, &rows, n, 512, &CPU).unwrap();
    let grounding = Grounding::new(&grid, &[&scene], &rows, &batch, &CPU).unwrap().unwrap();
    // Colour and place of each of the 3 objects, and "is there" for each of their shapes.
    let named: Vec<&Sample> = questions.iter().filter(|q| !q.about.is_empty()).collect();
    assert_eq!(named.len(), 9);
    assert_eq!(grounding.len(), 9);
    let ids: Vec<u32> = batch.ids.get(0).unwrap().to_vec1().unwrap();
    let queries: Vec<usize> = questions
        .iter()
        .zip(&batch.answer_queries[0])
        .filter(|(q, _)| !q.about.is_empty())
        .map(|(_, &j)| {
            assert_eq!(ids[j], tok.special().unwrap().answer, "the query is not the prompt's last token");
            n + j
        })
        .collect();
    let s = n + ids.len();
    let patches = |i: usize| -> Vec<usize> {
        named[i].about.iter().flat_map(|&o| patches_under(&grid, &scene.objects[o], scene.centres[o])).collect()
    };
    let loss = |w: &Tensor| -> f32 { grounding.loss(&[w.clone(), w.clone()]).unwrap().to_scalar().unwrap() };

    // All of the head's attention on the named object: no loss.
    let on_object = attention_with(s, &queries, |i| {
        let p = patches(i);
        let mut row = vec![0f32; s];
        p.iter().for_each(|&j| row[j] = 1.0 / p.len() as f32);
        row
    });
    assert!(loss(&on_object) < 1e-4, "{}", loss(&on_object));
    // Spread evenly: -log of the object's share of the positions.
    let even = attention_with(s, &queries, |_| vec![1.0 / s as f32; s]);
    let expected = (0..9).map(|i| -((patches(i).len() as f32 / s as f32).ln())).sum::<f32>() / 9.0;
    assert!((loss(&even) - expected).abs() < 1e-3, "{} vs {expected}", loss(&even));
    // On text tokens only: the share is 0.
    let on_text = attention_with(s, &queries, |_| {
        let mut row = vec![0f32; s];
        row[s - 1] = 1.0;
        row
    });
    assert!(loss(&on_text) > 13.0, "{}", loss(&on_text));
    // Only the layers from the second on count: the first layer's attention is free.
    let first_free: f32 = grounding.loss(&[on_text.clone(), on_object.clone()]).unwrap().to_scalar().unwrap();
    assert!(first_free < 1e-4, "{first_free}");
}

#[test]
fn training_on_the_grounding_loss_moves_attention_to_the_named_object() {
    let tok = TextTokenizer::byte_level().unwrap();
    let config = Config::micro(tok.vocab_size());
    let grid = config.patch_grid();
    let (scene, questions) = scene_and_questions();
    let rows = vec![questions.iter().collect::<Vec<_>>()];
    let batch = PackedBatch::new(&tok, &rows, grid.num_patches(), 512, &CPU).unwrap();
    let grounding = Grounding::new(&grid, &[&scene], &rows, &batch, &CPU).unwrap().unwrap();
    let mut config = config;
    config.llm.max_seq_len = 512;
    let varmap = candle_nn::VarMap::new();
    let model = PartlyFrozen::new(&config, &varmap, &[Part::Projector, Part::Llm], &CPU).unwrap();
    let mut opt = model.optimizer(1e-2).unwrap();
    let features = Tensor::randn(0f32, 1.0, (1, grid.num_patches(), config.vision.width), &CPU).unwrap();
    let losses: Vec<f32> = (0..30)
        .map(|_| train_step_grounded(&model, &mut [&mut opt], &features, &batch, Some((&grounding, 1.0))).unwrap().1.unwrap())
        .collect();
    let (first, last) = (losses[0], losses[29]);
    println!("grounding loss {first:.3} -> {last:.3}");
    assert!(last < 0.5 * first, "the grounding loss went {first} -> {last}");
}
