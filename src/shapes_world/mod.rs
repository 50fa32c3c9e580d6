//! ShapesWorld: the synthetic world the model learns from. A seed names a scene
//!
//!     seed -> Scene (1-3 coloured shapes on a 3x3 layout, a background) -> 224x224 RGB image
//!                                                                       -> caption and questions
//!
//! so images and texts never need to be stored, and the same seed gives the same pixels and
//! words natively and in the browser (all randomness is `sampling::Rng`, SplitMix64).
//!
//! `scene` chooses what is in the picture, `draw` paints it with tiny-skia, `text` says it in
//! English and Chinese and reads captions back.

mod draw;
mod scene;
mod text;

pub use scene::{
    Background, Cell, Colour, Object, Rgb, Scene, Shape, Size, CELL_SIZE, IMAGE_SIZE, MAX_OBJECTS,
};
pub use text::{caption_prompt, parse_caption, Lang};

use crate::model::preprocess::PreparedImage;
use crate::text::prompt::Task;

/// One training example: the prompt the LLM reads after the image tokens, and the answer it
/// should write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub prompt_task: Task,
    pub prompt: String,
    pub answer: String,
    /// The objects of the scene (indices into `Scene::objects`) the answer is read from, where
    /// one question names them (see `Scene::questions_about`); empty otherwise.
    pub about: Vec<usize>,
}

impl Scene {
    /// `IMAGE_SIZE * IMAGE_SIZE * 3` RGB bytes, row by row.
    pub fn render(&self) -> Vec<u8> {
        draw::render(self)
    }

    /// The rendered scene as the model's input image; it is already 224x224, so no resizing.
    pub fn to_prepared_image(&self) -> PreparedImage {
        let side = IMAGE_SIZE as u32;
        PreparedImage { size: IMAGE_SIZE, rgb: self.render(), source_size: (side, side) }
    }

    /// The caption sample first, then one sample per question.
    pub fn samples(&self, lang: Lang) -> Vec<Sample> {
        let caption = Sample {
            prompt_task: Task::Caption,
            prompt: caption_prompt(lang).to_string(),
            answer: self.caption(lang),
            about: Vec::new(),
        };
        let questions = self.questions_about(lang).into_iter().map(|(prompt, answer, about)| Sample {
            prompt_task: Task::Question,
            prompt,
            answer,
            about,
        });
        std::iter::once(caption).chain(questions).collect()
    }

    /// The turns one image teaches in one training step (each turn sees only the image and
    /// itself): its caption in both languages, then `questions` of its questions drawn at random,
    /// each in a random language (stage d; stage c and the training panel's default take none).
    pub fn turns(&self, questions: usize, rng: &mut crate::infer::sampling::Rng) -> Vec<Sample> {
        let mut turns: Vec<Sample> = Lang::ALL.iter().map(|&lang| self.samples(lang).swap_remove(0)).collect();
        for _ in 0..questions {
            let mut all = self.samples(random_lang(rng));
            let k = 1 + (rng.next_u64() % (all.len() as u64 - 1)) as usize;
            turns.push(all.swap_remove(k));
        }
        turns
    }
}

/// English or Chinese, evenly.
pub fn random_lang(rng: &mut crate::infer::sampling::Rng) -> Lang {
    if rng.next_u64() % 2 == 0 { Lang::En } else { Lang::Zh }
}
