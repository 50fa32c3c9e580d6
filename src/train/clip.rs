//! A tiny CLIP, to pretrain the vision encoder before it is frozen (stage a): image features
//! and caption features are projected into one space and trained with the symmetric InfoNCE
//! loss (Radford et al., 2021) so that each image is nearest its own caption.
//!
//! Image features are the mean of the ViT's 196 patch features: pooling the patch features,
//! rather than reading CLS, trains every patch feature directly to carry what the caption says,
//! and the patch features are what the VLM's projector receives.
//!
//! The text tower is the LLM of stage b, locked (as LiT, Zhai et al., 2022, locks one tower; here
//! the text one): it already tells ShapesWorld captions apart, so from the first step the image
//! tower learns toward targets that mean something. A caption's features are the mean of the
//! LLM's last hidden states over the caption's tokens, read exactly as a captioning answer.
//! Only the ViT, the two projections and the temperature learn; the projections are kept only
//! to measure zero-shot retrieval, the VLM never uses them.
//!
//! A whole caption is a weak signal for a ViT learning from scratch: mean-pooled over 196
//! patches, an image's features are mostly its background. So each caption is also read object
//! by object, as region-level CLIP does (RegionCLIP, Zhong et al., 2022; GLIP, Li et al., 2022,
//! which train on boxes and their phrases): the patches under each object's box are pooled, and
//! the pooled feature must be nearest the phrase for that object ("big red circle") among every
//! phrase ShapesWorld can say, and nearest its shape's name among the five. This trains the
//! patch features where the object is to say what it is, which is exactly what the projector and
//! the LLM later read. Shape gets its own term because colour and size are learnt first and
//! would otherwise carry most of the phrase loss.
//!
//! Caption features read by one locked LLM are nearly parallel (a mean cosine of 0.95 between
//! different captions): what they share swamps what tells them apart. They are centred over the
//! set of texts being compared (the batch, or every phrase) before the text projection.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::train::batch::TextBatch;
use crate::model::llm::Llm;
use crate::model::patch_grid::PatchGrid;
use crate::shapes_world::{caption_prompt, Cell, Colour, Lang, Object, Sample, Scene, Shape, Size};
use crate::text::tokenizer::TextTokenizer;
use crate::ops::linear::{linear_no_bias, Linear};
use crate::model::vision_encoder::VisionOutput;

/// Width of the shared image-text space.
pub const EMBED_DIM: usize = 128;

pub struct ClipHeads {
    image_proj: Linear,
    text_proj: Linear,
    logit_scale: Tensor,
}

/// Each column shifted and scaled to mean 0 and variance 1 over the rows (a batch norm without
/// learned scale, as SimCLR's projection heads have): what all rows share is removed before the
/// projection, so the cosine compares what tells them apart.
pub fn standardize(x: &Tensor) -> Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(0)?)?;
    centred.broadcast_div(&(centred.sqr()?.mean_keepdim(0)? + 1e-5)?.sqrt()?)
}

/// Each row scaled to unit length.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

impl ClipHeads {
    /// Weight names `clip.*`.
    pub fn new(vision_width: usize, text_width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            image_proj: linear_no_bias(vision_width, EMBED_DIM, vb.pp("image_proj"))?,
            text_proj: linear_no_bias(text_width, EMBED_DIM, vb.pp("text_proj"))?,
            // CLIP starts its temperature at 1 / 0.07.
            logit_scale: vb.get_with_hints((), "logit_scale", Init::Const((1.0f64 / 0.07).ln()))?,
        })
    }

    /// Unit-length image embeddings (b, e) from the ViT's output.
    pub fn embed_images(&self, vision: &VisionOutput) -> Result<Tensor> {
        self.embed_regions(&vision.patch_features.mean(1)?)
    }

    /// Caption features (b, D_t) from the locked LLM: `captions` are caption samples (prompt,
    /// answer), placed after where the image tokens would be; the mean over the answer.
    pub fn text_features(llm: &Llm, captions: &TextBatch, image_tokens: usize) -> Result<Tensor> {
        let hidden = llm.forward_at(&llm.embed_tokens(&captions.ids)?, image_tokens)?.detach();
        let mask = captions.loss_mask.unsqueeze(2)?; // (b, t, 1)
        hidden.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&mask.sum(1)?)
    }

    /// Unit-length text embeddings (b, e) from text features, standardised over the `b` texts given.
    pub fn embed_texts(&self, features: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.text_proj.forward(&standardize(features)?)?)
    }

    /// Unit-length embeddings (n, e) of pooled regions (n, D_v), standardised over the `n` given.
    pub fn embed_regions(&self, regions: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.image_proj.forward(&standardize(regions)?)?)
    }

    /// Region-to-phrase InfoNCE: region i must pick phrase `labels[i]` among all `phrases`
    /// (unit-length embeddings of every appearance, in `appearance_index` order).
    pub fn region_loss(&self, regions: &Tensor, phrases: &Tensor, labels: &Tensor) -> Result<Tensor> {
        candle_nn::loss::cross_entropy(&self.logits(&self.embed_regions(regions)?, phrases)?, labels)
    }

    /// Similarities (b_images, b_texts), scaled by the learned temperature.
    pub fn logits(&self, images: &Tensor, texts: &Tensor) -> Result<Tensor> {
        images.matmul(&texts.t()?)?.broadcast_mul(&self.logit_scale.clamp(0f32, 4.6052f32)?.exp()?)
    }

    /// Symmetric InfoNCE: image i's caption is text i, and text i's image is image i.
    pub fn loss(&self, images: &Tensor, texts: &Tensor) -> Result<Tensor> {
        let logits = self.logits(images, texts)?;
        let b = logits.dim(0)?;
        let labels = Tensor::arange(0u32, b as u32, logits.device())?;
        let image_to_text = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let text_to_image = candle_nn::loss::cross_entropy(&logits.t()?.contiguous()?, &labels)?;
        (image_to_text + text_to_image)? / 2.0
    }
}

/// Every appearance an object can have (shape x colour x size), in `appearance_index` order.
pub fn appearances() -> Vec<Object> {
    let mut all = Vec::new();
    for shape in Shape::ALL {
        for colour in Colour::ALL {
            for size in Size::ALL {
                all.push(Object { shape, colour, size, cell: Cell::Center });
            }
        }
    }
    all
}

/// Row of `object`'s appearance in `appearances()`.
pub fn appearance_index(object: &Object) -> usize {
    (object.shape as usize * Colour::ALL.len() + object.colour as usize) * Size::ALL.len() + object.size as usize
}

/// Features (n, D_t) of `phrases` in `lang`, each read by the locked LLM as a caption.
pub fn phrase_features(llm: &Llm, tokenizer: &TextTokenizer, lang: Lang, phrases: &[String], image_tokens: usize) -> Result<Tensor> {
    let samples: Vec<Sample> = phrases
        .iter()
        .map(|p| Sample { prompt_task: crate::text::prompt::Task::Caption, prompt: caption_prompt(lang).into(), answer: p.clone(), about: Vec::new() })
        .collect();
    let refs: Vec<&Sample> = samples.iter().collect();
    ClipHeads::text_features(llm, &TextBatch::new(tokenizer, &refs, false, llm.device())?, image_tokens)
}

/// The phrase of every appearance ("big red circle"), in `appearance_index` order.
pub fn appearance_phrases(lang: Lang) -> Vec<String> {
    appearances().iter().map(|o| o.looks(lang)).collect()
}

/// The name of every shape ("circle"), in `Shape::ALL` order.
pub fn shape_phrases(lang: Lang) -> Vec<String> {
    Shape::ALL.iter().map(|s| s.name(lang).to_string()).collect()
}

/// The patches whose centres lie in `object`'s box centred at (cx, cy), and always the patch under
/// the centre itself: the patches a region loss reads for that object.
pub fn patches_under(grid: &PatchGrid, object: &Object, (cx, cy): (f32, f32)) -> Vec<usize> {
    let r = object.size.radius();
    let centre = |p: usize| (p * grid.patch_size) as f32 + grid.patch_size as f32 / 2.0;
    let under = grid.at_pixel(cx as usize, cy as usize);
    (0..grid.num_patches())
        .filter(|&i| {
            let (pr, pc) = grid.row_col(i);
            Some(i) == under || ((centre(pc) - cx).abs() <= r && (centre(pr) - cy).abs() <= r)
        })
        .collect()
}

/// Which patches stage a keeps of `scene` when it drops some (`VisionEncoder::forward_kept`):
/// every patch the region losses read, then others drawn at random, `keep` in all (or every
/// patch under an object, should they be more), in grid order.
pub fn kept_patches(grid: &PatchGrid, scene: &Scene, keep: usize, rng: &mut crate::infer::sampling::Rng) -> Vec<u32> {
    let n = grid.num_patches();
    let mut kept = vec![false; n];
    for (object, &centre) in scene.objects.iter().zip(&scene.centres) {
        for i in patches_under(grid, object, centre) {
            kept[i] = true;
        }
    }
    let mut others: Vec<usize> = (0..n).filter(|&i| !kept[i]).collect();
    let wanted = keep.saturating_sub(n - others.len()).min(others.len());
    for j in 0..wanted {
        let pick = j + (rng.next_u64() % (others.len() - j) as u64) as usize;
        others.swap(j, pick);
        kept[others[j]] = true;
    }
    (0..n as u32).filter(|&i| kept[i as usize]).collect()
}

/// Pooled features (objects, D_v) of every object of `scenes`, scene by scene, in caption order:
/// the mean of the patch features under the object (`patches_under`).
/// `patch_features` (scenes, 196, D_v).
pub fn object_regions(patch_features: &Tensor, grid: &PatchGrid, scenes: &[Scene]) -> Result<Tensor> {
    let n = grid.num_patches();
    let (mut weights, mut scene_of) = (Vec::new(), Vec::new());
    for (s, scene) in scenes.iter().enumerate() {
        for (object, &centre) in scene.objects.iter().zip(&scene.centres) {
            let under = patches_under(grid, object, centre);
            let mut row = vec![0f32; n];
            for &i in &under {
                row[i] = 1.0 / under.len() as f32;
            }
            weights.extend(row);
            scene_of.push(s as u32);
        }
    }
    let dev = patch_features.device();
    let weights = Tensor::from_vec(weights, (scene_of.len(), 1, n), dev)?;
    let features = patch_features.contiguous()?.index_select(&Tensor::new(scene_of.as_slice(), dev)?, 0)?; // (objects, 196, D_v)
    weights.matmul(&features)?.squeeze(1)
}

/// Every patch under an object, one by one (dense, as the pixel-level phrase grounding of
/// MaskCLIP and DenseCLIP): (features (m, D_v), the object each belongs to, counting the objects
/// of `scenes` in caption order). Objects sit in distinct cells, so no patch is under two.
pub fn object_patches(patch_features: &Tensor, grid: &PatchGrid, scenes: &[Scene]) -> Result<(Tensor, Vec<usize>)> {
    let (b, n, d) = patch_features.dims3()?;
    let (mut rows, mut owner) = (Vec::new(), Vec::new());
    let mut object = 0;
    for (s, scene) in scenes.iter().enumerate().take(b) {
        for (o, &centre) in scene.objects.iter().zip(&scene.centres) {
            for i in patches_under(grid, o, centre) {
                rows.push((s * n + i) as u32);
                owner.push(object);
            }
            object += 1;
        }
    }
    let flat = patch_features.contiguous()?.reshape((b * n, d))?;
    Ok((flat.index_select(&Tensor::new(rows.as_slice(), patch_features.device())?, 0)?, owner))
}
