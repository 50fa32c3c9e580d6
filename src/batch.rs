//! Training batches: ShapesWorld samples -> padded text ids and loss masks, scenes -> pixels.
//! Shared by native training and (later) the browser's projector training.

use candle_core::{Device, Result, Tensor};

use crate::prompt::prompt_ids;
use crate::shapes_world::Sample;
use crate::tokenizer::TextTokenizer;

/// Ids (b, t) u32 padded with `<|pad|>`, and a mask (b, t) f32: 1 on the answer and its
/// `<|eos|>` (what the model learns to write), 0 on the prompt and the padding.
pub struct TextBatch {
    pub ids: Tensor,
    pub loss_mask: Tensor,
    /// Position of each row's `<|eos|>`.
    pub eos_positions: Vec<usize>,
}

/// `prompt ids + answer ids + <|eos|>`, and how many of them are the prompt.
pub fn sample_ids(tokenizer: &TextTokenizer, sample: &Sample) -> Result<(Vec<u32>, usize)> {
    let mut ids = prompt_ids(tokenizer, sample.prompt_task, &sample.prompt)?;
    let prompt_len = ids.len();
    ids.extend(tokenizer.encode(&sample.answer)?);
    ids.push(tokenizer.special.eos);
    Ok((ids, prompt_len))
}

impl TextBatch {
    /// `whole_text`: learn every token after `<|bos|>` (text-only pretraining), not only the answer.
    pub fn new(tokenizer: &TextTokenizer, samples: &[&Sample], whole_text: bool, device: &Device) -> Result<Self> {
        let rows = samples.iter().map(|s| sample_ids(tokenizer, s)).collect::<Result<Vec<_>>>()?;
        Self::from_rows(&rows, tokenizer.special.pad, whole_text, device)
    }

    /// Plain texts ending in `<|eos|>` (captions for the CLIP text encoder).
    pub fn texts(tokenizer: &TextTokenizer, texts: &[String], device: &Device) -> Result<Self> {
        let rows = texts
            .iter()
            .map(|t| {
                let mut ids = vec![tokenizer.special.bos];
                ids.extend(tokenizer.encode(t)?);
                ids.push(tokenizer.special.eos);
                Ok((ids, 1))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_rows(&rows, tokenizer.special.pad, true, device)
    }

    fn from_rows(rows: &[(Vec<u32>, usize)], pad: u32, whole_text: bool, device: &Device) -> Result<Self> {
        let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * t);
        let mut mask = Vec::with_capacity(rows.len() * t);
        let mut eos_positions = Vec::with_capacity(rows.len());
        for (row, prompt_len) in rows {
            let learn_from = if whole_text { 1 } else { *prompt_len };
            for j in 0..t {
                ids.push(row.get(j).copied().unwrap_or(pad));
                mask.push(if j >= learn_from && j < row.len() { 1f32 } else { 0f32 });
            }
            eos_positions.push(row.len() - 1);
        }
        Ok(Self {
            ids: Tensor::from_vec(ids, (rows.len(), t), device)?,
            loss_mask: Tensor::from_vec(mask, (rows.len(), t), device)?,
            eos_positions,
        })
    }
}

/// Rendered scenes as the model's input (b, 3, 224, 224).
pub fn pixels(images: &[crate::preprocess::PreparedImage], device: &Device) -> Result<Tensor> {
    let tensors = images.iter().map(|i| i.to_tensor(device)).collect::<Result<Vec<_>>>()?;
    Tensor::cat(&tensors, 0)
}
