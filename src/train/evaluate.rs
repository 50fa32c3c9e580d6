//! Scoring a model on held-out ShapesWorld scenes: exact captions, each attribute of each object,
//! and question answering, per language. Inference only; used by the eval CLI and the tests.

use candle_core::{Device, Result};
use serde::Serialize;

use crate::train::batch::pixels;
use crate::infer::generate::Generator;
use crate::model::llm::KvCache;
use crate::text::prompt::prompt_ids;
use crate::infer::sampling::SamplingOptions;
use crate::infer::text_guard::{Script, TextGuard};
use crate::shapes_world::{parse_caption, Lang, Scene};
use crate::text::tokenizer::TextTokenizer;
use crate::model::vlm::Vlm;

/// Held-out seeds start here; training never draws a seed at or above it.
pub const HELD_OUT_START: u64 = 1 << 40;

#[derive(Debug, Clone, Default, Serialize)]
pub struct LangScores {
    pub captions: usize,
    pub caption_exact: f64,
    pub shape: f64,
    pub colour: f64,
    pub size: f64,
    pub position: f64,
    pub count: f64,
    /// Mean of shape, colour, size and position accuracy.
    pub attributes: f64,
    pub questions: usize,
    pub qa_accuracy: f64,
    /// Shape accuracy over the big objects drawn, and over the small ones.
    pub shape_big: f64,
    pub shape_small: f64,
    /// How often each shape drawn (row, `Shape::ALL` order) was said to be each shape (column),
    /// over the objects a caption names in the right place of its list.
    pub shape_confusion: [[usize; 5]; 5],
    /// The same for colour (`Colour::ALL` order).
    pub colour_confusion: [[usize; 6]; 6],
}

/// Counts behind `LangScores`, one language at a time.
#[derive(Default)]
pub struct Tally {
    captions: usize,
    exact: usize,
    objects: usize,
    shape: usize,
    colour: usize,
    size: usize,
    position: usize,
    count: usize,
    questions: usize,
    answered: usize,
    /// (right, all) shapes of big objects, then of small ones.
    shape_by_size: [(usize, usize); 2],
    shape_confusion: [[usize; 5]; 5],
    colour_confusion: [[usize; 6]; 6],
}

impl Tally {
    pub fn scores(&self) -> LangScores {
        let r = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let (shape, colour, size, position) =
            (r(self.shape, self.objects), r(self.colour, self.objects), r(self.size, self.objects), r(self.position, self.objects));
        LangScores {
            captions: self.captions,
            caption_exact: r(self.exact, self.captions),
            shape,
            colour,
            size,
            position,
            count: r(self.count, self.captions),
            attributes: (shape + colour + size + position) / 4.0,
            questions: self.questions,
            qa_accuracy: r(self.answered, self.questions),
            shape_big: r(self.shape_by_size[0].0, self.shape_by_size[0].1),
            shape_small: r(self.shape_by_size[1].0, self.shape_by_size[1].1),
            shape_confusion: self.shape_confusion,
            colour_confusion: self.colour_confusion,
        }
    }

    /// Scores one generated caption of `scene` against the scene itself.
    pub fn caption(&mut self, scene: &Scene, generated: &str, lang: Lang) {
        self.captions += 1;
        self.exact += usize::from(generated == scene.caption(lang));
        self.objects += scene.objects.len();
        let parsed = parse_caption(generated, lang).unwrap_or_default();
        self.count += usize::from(parsed.len() == scene.objects.len());
        // Objects are listed in reading order, so the i-th said is compared with the i-th drawn.
        for truth in &scene.objects {
            self.shape_by_size[truth.size as usize].1 += 1;
        }
        for (truth, said) in scene.objects.iter().zip(&parsed) {
            self.shape += usize::from(truth.shape == said.shape);
            self.shape_by_size[truth.size as usize].0 += usize::from(truth.shape == said.shape);
            self.shape_confusion[truth.shape as usize][said.shape as usize] += 1;
            self.colour_confusion[truth.colour as usize][said.colour as usize] += 1;
            self.colour += usize::from(truth.colour == said.colour);
            self.size += usize::from(truth.size == said.size);
            self.position += usize::from(truth.cell == said.cell);
        }
    }
}

/// Greedy answer to one prompt about one image, whose tokens `image` (from
/// `Generator::image_cache`) holds.
pub fn answer(vlm: &Vlm, tokenizer: &TextTokenizer, image: &KvCache, task: crate::text::prompt::Task, prompt: &str) -> Result<String> {
    let ids = prompt_ids(tokenizer, task, prompt)?;
    let options = SamplingOptions { max_new_tokens: 64, ..Default::default() };
    let eos = tokenizer.special()?.eos;
    let mut generator = Generator::start_after_image(vlm, image.clone(), &ids, options, Some(eos))?
        .with_guard(TextGuard::new(tokenizer, eos, Script::of_prompt(prompt)));
    let mut out = Vec::new();
    while let Some(token) = generator.next_token(vlm)? {
        if !token.is_eos {
            out.push(token.id);
        }
    }
    tokenizer.decode(&out)
}

/// Scores `scenes` held-out scenes in both languages; `progress` is called after each scene.
pub fn evaluate(
    vlm: &Vlm,
    tokenizer: &TextTokenizer,
    scenes: usize,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Result<Vec<(Lang, LangScores)>> {
    let mut tallies = [Tally::default(), Tally::default()];
    let seeds: Vec<u64> = (0..scenes as u64).map(|i| HELD_OUT_START + i).collect();
    let mut done = 0;
    for chunk in seeds.chunks(16) {
        let batch: Vec<Scene> = chunk.iter().map(|&s| Scene::generate(s)).collect();
        let images: Vec<_> = batch.iter().map(|s| s.to_prepared_image()).collect();
        let features = vlm.encode_image(&pixels(&images, device)?, false)?.patch_features;
        let tokens = vlm.project(&features)?;
        for (i, scene) in batch.iter().enumerate() {
            let image = Generator::image_cache(vlm, &tokens.narrow(0, i, 1)?)?;
            for (l, lang) in Lang::ALL.into_iter().enumerate() {
                for (k, sample) in scene.samples(lang).into_iter().enumerate() {
                    let got = answer(vlm, tokenizer, &image, sample.prompt_task, &sample.prompt)?;
                    if k == 0 {
                        tallies[l].caption(scene, &got, lang);
                    } else {
                        tallies[l].questions += 1;
                        tallies[l].answered += usize::from(got == sample.answer);
                    }
                }
            }
            done += 1;
            progress(done);
        }
    }
    Ok(Lang::ALL.into_iter().zip(tallies.iter().map(Tally::scores)).collect())
}
