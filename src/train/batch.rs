//! Training batches: ShapesWorld samples -> padded text ids and loss masks, scenes -> pixels.
//! Shared by native training and the browser's projector training.

use candle_core::{Device, Result, Tensor};

use crate::text::prompt::prompt_ids;
use crate::shapes_world::Sample;
use crate::text::tokenizer::TextTokenizer;

/// Ids (b, t) u32 padded with `<|pad|>`, and a mask (b, t) f32: 1 on the answer and its
/// `<|eos|>` (what the model learns to write), 0 on the prompt and the padding.
pub struct TextBatch {
    pub ids: Tensor,
    pub loss_mask: Tensor,
}

/// `prompt ids + answer ids + <|eos|>`, and how many of them are the prompt.
pub fn sample_ids(tokenizer: &TextTokenizer, sample: &Sample) -> Result<(Vec<u32>, usize)> {
    let mut ids = prompt_ids(tokenizer, sample.prompt_task, &sample.prompt)?;
    let prompt_len = ids.len();
    ids.extend(tokenizer.encode(&sample.answer)?);
    ids.push(tokenizer.special()?.eos);
    Ok((ids, prompt_len))
}

impl TextBatch {
    /// `whole_text`: learn every token after `<|bos|>` (text-only pretraining), not only the answer.
    pub fn new(tokenizer: &TextTokenizer, samples: &[&Sample], whole_text: bool, device: &Device) -> Result<Self> {
        let rows = samples.iter().map(|s| sample_ids(tokenizer, s)).collect::<Result<Vec<_>>>()?;
        Self::from_rows(&rows, tokenizer.special()?.pad, whole_text, device)
    }

    fn from_rows(rows: &[(Vec<u32>, usize)], pad: u32, whole_text: bool, device: &Device) -> Result<Self> {
        let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * t);
        let mut mask = Vec::with_capacity(rows.len() * t);
        for (row, prompt_len) in rows {
            let learn_from = if whole_text { 1 } else { *prompt_len };
            for j in 0..t {
                ids.push(row.get(j).copied().unwrap_or(pad));
                mask.push(if j >= learn_from && j < row.len() { 1f32 } else { 0f32 });
            }
        }
        Ok(Self {
            ids: Tensor::from_vec(ids, (rows.len(), t), device)?,
            loss_mask: Tensor::from_vec(mask, (rows.len(), t), device)?,
        })
    }
}

/// Rendered scenes as the model's input (b, 3, 224, 224).
pub fn pixels(images: &[crate::model::preprocess::PreparedImage], device: &Device) -> Result<Tensor> {
    let tensors = images.iter().map(|i| i.to_tensor(device)).collect::<Result<Vec<_>>>()?;
    Tensor::cat(&tensors, 0)
}

/// Several turns about one image in each row, each turn `prompt ids + answer ids + <|eos|>`.
///
/// One forward pass over the 196 image tokens then teaches every turn, and each turn learns
/// exactly what it would learn alone: the attention mask lets a turn see the image tokens and
/// its own earlier tokens only (never another turn), and its positions restart right after the
/// image, where a single prompt sits when the page asks it. The image tokens dominate the
/// sequence, so three or four turns cost little more than one.
pub struct PackedBatch {
    /// (b, T) u32, padded with `<|pad|>`.
    pub ids: Tensor,
    /// (b, T) f32: 1 on every turn's answer and `<|eos|>`, 0 on prompts and padding.
    pub loss_mask: Tensor,
    /// (b, n + T) u32: the position of every image and text token.
    pub positions: Tensor,
    /// (b, 1, n + T, n + T) f32, added to the attention scores: 0 where a query may look,
    /// -inf elsewhere.
    pub mask: Tensor,
    /// Per row, per turn: the text position (0 = the first text token) whose output predicts
    /// the turn's first answer token, the prompt's last token.
    pub answer_queries: Vec<Vec<usize>>,
}

impl PackedBatch {
    /// `rows[i]` holds the turns of row i; `image_tokens` (n) stand in front of every row, and
    /// no turn may reach past `context` positions.
    pub fn new(
        tokenizer: &TextTokenizer,
        rows: &[Vec<&Sample>],
        image_tokens: usize,
        context: usize,
        device: &Device,
    ) -> Result<Self> {
        let turns = rows
            .iter()
            .map(|turns| turns.iter().map(|s| sample_ids(tokenizer, s)).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        Self::from_turn_ids(&turns, tokenizer.special()?.pad, image_tokens, context, device)
    }

    /// `new` from turns already tokenized: `rows[i]` holds row i's turns as (ids, prompt length),
    /// as `sample_ids` makes them.
    pub fn from_turn_ids(
        rows: &[Vec<(Vec<u32>, usize)>],
        pad: u32,
        image_tokens: usize,
        context: usize,
        device: &Device,
    ) -> Result<Self> {
        let n = image_tokens;
        // Per row: the ids, and per text position its turn's start and whether it is learned.
        let mut packed: Vec<(Vec<u32>, Vec<usize>, Vec<bool>)> = Vec::with_capacity(rows.len());
        let mut answer_queries = Vec::with_capacity(rows.len());
        for turns in rows {
            let mut queries = Vec::with_capacity(turns.len());
            let (mut ids, mut starts, mut learn) = (Vec::new(), Vec::new(), Vec::new());
            for (turn, prompt_len) in turns {
                let (turn, prompt_len) = (turn.clone(), *prompt_len);
                if n + turn.len() > context {
                    candle_core::bail!("a turn of {} tokens does not fit after {n} image tokens in a context of {context}", turn.len());
                }
                let start = ids.len();
                queries.push(start + prompt_len.max(1) - 1);
                learn.extend((0..turn.len()).map(|j| j >= prompt_len));
                starts.extend(std::iter::repeat_n(start, turn.len()));
                ids.extend(turn);
            }
            packed.push((ids, starts, learn));
            answer_queries.push(queries);
        }
        let t = packed.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let s = n + t;
        let b = packed.len();
        let (mut ids, mut loss_mask) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t));
        let mut positions = Vec::with_capacity(b * s);
        let mut mask = vec![f32::NEG_INFINITY; b * s * s];
        for (r, (row_ids, starts, learn)) in packed.iter().enumerate() {
            let len = row_ids.len();
            for j in 0..t {
                ids.push(row_ids.get(j).copied().unwrap_or(pad));
                loss_mask.push(if j < len && learn[j] { 1f32 } else { 0f32 });
            }
            positions.extend(0..n as u32);
            positions.extend((0..t).map(|j| (n + if j < len { j - starts[j] } else { 0 }) as u32));
            let m = &mut mask[r * s * s..(r + 1) * s * s];
            for q in 0..s {
                let row = &mut m[q * s..(q + 1) * s];
                // Every query sees the image tokens (causally among themselves) ...
                row[..n.min(q + 1)].fill(0.0);
                if q >= n {
                    let j = q - n;
                    // ... and a text token its own turn up to itself; padding sees itself.
                    let from = if j < len { starts[j] } else { j };
                    row[n + from..=q].fill(0.0);
                }
            }
        }
        Ok(Self {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            loss_mask: Tensor::from_vec(loss_mask, (b, t), device)?,
            positions: Tensor::from_vec(positions, (b, s), device)?,
            mask: Tensor::from_vec(mask, (b, 1, s, s), device)?,
            answer_queries,
        })
    }
}
