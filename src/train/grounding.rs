//! Grounding: a loss on the LLM's attention that teaches an answer to look at the object its
//! question names.
//!
//! ShapesWorld knows which patches each object covers, and which object each question is about
//! (`Sample::about`). At the prompt's last token, whose output writes the first word of the
//! answer, one head of each layer after the first (`HEAD`, layers `FROM_LAYER..`) is asked to put
//! its attention on those patches: the loss is `-log` of the share it gives them, averaged over
//! the questions of the batch and those layers. The first layer is left free, to bring the
//! question's words to the prompt's last token; the other heads stay free to read the question.

use candle_core::{Device, Result, Tensor};

use crate::train::batch::PackedBatch;
use crate::train::clip::patches_under;
use crate::model::patch_grid::PatchGrid;
use crate::shapes_world::{Sample, Scene};

/// The head asked to look at the object, in every layer from `FROM_LAYER` on.
pub const HEAD: usize = 0;
pub const FROM_LAYER: usize = 1;

pub struct Grounding {
    /// (g,) u32: each grounded query as a row of the (b * s, s) attention matrix.
    queries: Tensor,
    /// (g, s) f32: 1 on the image tokens of the object(s) the query's question is about.
    targets: Tensor,
}

impl Grounding {
    /// The questions of `rows` (turns packed in `batch`, row i about `scenes[i]`) that name
    /// objects; `None` if no turn does.
    pub fn new(grid: &PatchGrid, scenes: &[&Scene], rows: &[Vec<&Sample>], batch: &PackedBatch, device: &Device) -> Result<Option<Self>> {
        let n = grid.num_patches();
        let s = n + batch.ids.dim(1)?;
        let (mut queries, mut targets) = (Vec::new(), Vec::new());
        for (r, (turns, scene)) in rows.iter().zip(scenes).enumerate() {
            for (turn, &query) in turns.iter().zip(&batch.answer_queries[r]) {
                if turn.about.is_empty() {
                    continue;
                }
                let mut target = vec![0f32; s];
                for &o in &turn.about {
                    for p in patches_under(grid, &scene.objects[o], scene.centres[o]) {
                        target[p] = 1.0;
                    }
                }
                queries.push((r * s + n + query) as u32);
                targets.extend(target);
            }
        }
        if queries.is_empty() {
            return Ok(None);
        }
        let g = queries.len();
        Ok(Some(Self { queries: Tensor::from_vec(queries, g, device)?, targets: Tensor::from_vec(targets, (g, s), device)? }))
    }

    /// Questions grounded.
    pub fn len(&self) -> usize {
        self.queries.dim(0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The mean over the questions and layers `FROM_LAYER..` of `-log` (share of `HEAD`'s
    /// attention on the object's patches), from each layer's weights (b, heads, s, s).
    pub fn loss(&self, attentions: &[Tensor]) -> Result<Tensor> {
        let layers = &attentions[FROM_LAYER.min(attentions.len())..];
        if layers.is_empty() {
            candle_core::bail!("grounding needs an LLM of more than {FROM_LAYER} layer(s)");
        }
        let nlls = layers
            .iter()
            .map(|weights| {
                let (b, _, s, _) = weights.dims4()?;
                let head = weights.narrow(1, HEAD, 1)?.contiguous()?.reshape((b * s, s))?;
                let share = (head.index_select(&self.queries, 0)? * &self.targets)?.sum(1)?; // (g,)
                (share + 1e-6)?.log()?.mean_all()?.neg()
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::stack(&nlls, 0)?.mean_all()
    }
}
