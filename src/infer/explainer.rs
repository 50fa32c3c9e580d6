//! The model as the page drives it: one stage at a time, each stage's output kept for display.
//! The wasm API wraps this type; native tests and fixtures use it directly.

use candle_core::{bail, Device, Result, Tensor};
use serde::Serialize;

use crate::train::init;
use crate::model::config::{Config, Family, ProjectorKind, PromptFormat};
use crate::infer::generate::{GeneratedToken, Generator};
use crate::model::preprocess::PreparedImage;
use crate::model::projector::Projector;
use crate::text::prompt::{prompt, Task};
use crate::infer::sampling::SamplingOptions;
use crate::infer::text_guard::{Script, TextGuard};
use crate::text::tokenizer::TextTokenizer;
use crate::model::vision_encoder::VisionOutput;
use crate::model::vlm::Vlm;
use crate::model::{families, weights};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionKind {
    Image,
    Text,
}

/// The stages the explainer keeps, in the order they are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Image,
    Vision,
    ImageTokens,
}

/// The LLM's input sequence, described position by position.
#[derive(Debug, Clone, Serialize)]
pub struct Sequence {
    /// (1, 196 + T, D_t)
    pub shape: [usize; 3],
    pub kinds: Vec<PositionKind>,
    /// Ids of the T text tokens.
    pub text_ids: Vec<u32>,
    /// The text piece of each text token.
    pub pieces: Vec<String>,
}

pub struct Explainer {
    pub vlm: Vlm,
    pub tokenizer: TextTokenizer,
    device: Device,
    image: Option<PreparedImage>,
    vision: Option<VisionOutput>,
    image_tokens: Option<Tensor>,
    sequence: Option<Sequence>,
    generator: Option<Generator>,
    answer_ids: Vec<u32>,
    /// The model's own projector and its kind, put aside while another one is in use.
    own_projector: Option<(ProjectorKind, Projector)>,
}

impl Explainer {
    pub fn new(mut vlm: Vlm, tokenizer: TextTokenizer) -> Result<Self> {
        tokenizer.check_fits(vlm.config.llm.vocab_size)?;
        check_prompt_tokens(&vlm.config, &tokenizer)?;
        vlm.pack_for_inference()?;
        let device = vlm.llm.device().clone();
        Ok(Self {
            vlm,
            tokenizer,
            device,
            image: None,
            vision: None,
            image_tokens: None,
            sequence: None,
            generator: None,
            answer_ids: Vec::new(),
            own_projector: None,
        })
    }

    /// A model from its three files: `model.safetensors`, `config.json`, `tokenizer.json`.
    pub fn load(weights: Vec<u8>, config_json: &str, tokenizer_json: &[u8]) -> Result<Self> {
        let config = families::read_config(config_json)?;
        let tokenizer = TextTokenizer::from_json(tokenizer_json)?;
        tokenizer.check_fits(config.llm.vocab_size)?;
        Self::new(families::load(&config, weights::whole_file(weights)?)?, tokenizer)
    }

    /// `load`, the weights read one tensor at a time (`weights::TensorFile::Parts`): the browser
    /// reads a large file so, checked first by its header (`weights::check_header`).
    pub fn load_parts(config: Config, parts: weights::TensorFile, tokenizer_json: &[u8]) -> Result<Self> {
        let tokenizer = TextTokenizer::from_json(tokenizer_json)?;
        tokenizer.check_fits(config.llm.vocab_size)?;
        Self::new(families::load(&config, parts)?, tokenizer)
    }

    /// An untrained model of a preset's size: byte-level tokenizer, weights drawn from `seed`.
    pub fn from_preset(preset: &str, seed: u64) -> Result<Self> {
        let tokenizer = TextTokenizer::byte_level()?;
        let config = Config::preset(preset, tokenizer.vocab_size())?;
        // The variables' values, no longer variables once the VarMap is gone: nothing can change
        // them, so the browser's products may pack them (`ops::linear`).
        let (_, varmap) = init::seeded(&config, seed, &Device::Cpu)?;
        let tensors: std::collections::HashMap<String, Tensor> =
            varmap.data().lock().expect("the VarMap lock is never poisoned").iter().map(|(n, v)| (n.clone(), v.as_tensor().detach())).collect();
        drop(varmap);
        let vlm = Vlm::new(&config, candle_nn::VarBuilder::from_tensors(tensors, candle_core::DType::F32, &Device::Cpu))?;
        Self::new(vlm, tokenizer)
    }

    pub fn config(&self) -> &Config {
        &self.vlm.config
    }

    /// Runs the projector of a safetensors file (one the training panel trained, of either kind)
    /// instead of the model's own, which is kept for `use_own_projector`. The image stays; the
    /// stages from the projection on are cleared. A file that does not fit leaves the projector
    /// in use as it was.
    pub fn use_projector(&mut self, bytes: &[u8]) -> Result<()> {
        let (kind, mut projector) = Projector::from_safetensors(bytes, self.vlm.config.vision.width, self.vlm.config.llm.width, &self.device)?;
        projector.linears_mut().into_iter().try_for_each(|l| l.pack())?;
        let own_kind = std::mem::replace(&mut self.vlm.config.projector.kind, kind);
        let own = std::mem::replace(&mut self.vlm.projector, projector);
        if self.own_projector.is_none() {
            self.own_projector = Some((own_kind, own));
        }
        self.clear_from_projection();
        Ok(())
    }

    /// Back to the model's own projector (nothing changes if it is in use).
    pub fn use_own_projector(&mut self) {
        if let Some((kind, projector)) = self.own_projector.take() {
            self.vlm.config.projector.kind = kind;
            self.vlm.projector = projector;
            self.clear_from_projection();
        }
    }

    /// Whether the model's own projector is the one in use.
    pub fn uses_own_projector(&self) -> bool {
        self.own_projector.is_none()
    }

    fn clear_from_projection(&mut self) {
        self.clear_after(Stage::Vision);
    }

    /// Forgets every stage after `stage`: what follows a changed stage was computed from the old one.
    fn clear_after(&mut self, stage: Stage) {
        if stage < Stage::Vision {
            self.vision = None;
        }
        if stage < Stage::ImageTokens {
            self.image_tokens = None;
        }
        self.sequence = None;
        self.generator = None;
        self.answer_ids.clear();
    }

    /// Prepares pixels as this model wants them (`config.preprocess`: the central square or the
    /// whole image, at its input size).
    pub fn prepare_rgba(&self, rgba: &[u8], width: u32, height: u32) -> Result<PreparedImage> {
        let v = &self.vlm.config;
        PreparedImage::from_rgba_resized(rgba, width, height, v.vision.image_size, v.preprocess.resize)
    }

    /// `prepare_rgba` for an encoded file (PNG, JPEG, GIF, WebP, BMP).
    pub fn prepare_encoded(&self, bytes: &[u8]) -> Result<PreparedImage> {
        let v = &self.vlm.config;
        PreparedImage::from_encoded_resized(bytes, v.vision.image_size, v.preprocess.resize)
    }

    /// The model's input tensor (1, 3, H, W) for the image, normalised as `config.preprocess` says.
    pub fn input_tensor(&self) -> Result<Tensor> {
        self.image()?.to_tensor_with(&self.vlm.config.preprocess, &self.device)
    }

    /// Stage 0: the image as the model sees it. Clears every later stage.
    pub fn set_image(&mut self, image: PreparedImage) -> Result<()> {
        let size = self.vlm.config.vision.image_size;
        if image.size != size {
            bail!("the image was prepared at {}x{0}, the model takes {size}x{size}", image.size);
        }
        self.image = Some(image);
        self.clear_after(Stage::Image);
        Ok(())
    }

    pub fn image(&self) -> Result<&PreparedImage> {
        self.image.as_ref().ok_or_else(|| stage_error("no image yet: give the model an image first"))
    }

    /// Stage 1: the vision encoder, with every layer's attention kept.
    pub fn encode(&mut self) -> Result<&VisionOutput> {
        let pixels = self.input_tensor()?;
        let vision = self.vlm.encode_image(&pixels, true)?;
        self.clear_after(Stage::Vision);
        Ok(self.vision.insert(vision))
    }

    pub fn vision(&self) -> Result<&VisionOutput> {
        self.vision.as_ref().ok_or_else(|| stage_error("the image is not encoded yet: run encode first"))
    }

    /// Stage 2: the projector, (1, 196, D_v) -> (1, 196, D_t).
    pub fn project(&mut self) -> Result<&Tensor> {
        let tokens = self.vlm.project(&self.vision()?.patch_features)?;
        self.clear_after(Stage::ImageTokens);
        Ok(self.image_tokens.insert(tokens))
    }

    pub fn image_tokens(&self) -> Result<&Tensor> {
        self.image_tokens.as_ref().ok_or_else(|| stage_error("no image tokens yet: run project first"))
    }

    /// Stage 3: [image tokens | prompt] through the LLM once, filling the KV cache.
    pub fn prefill(&mut self, task: Task, text: &str, options: SamplingOptions) -> Result<&Sequence> {
        if text.trim().is_empty() {
            bail!("the prompt is empty: type a question, or choose \"describe the image\"");
        }
        let prompt = prompt(&self.vlm.config, &self.tokenizer, task, text)?;
        let ids = prompt.ids;
        let n = self.vlm.num_image_tokens();
        let limit = self.vlm.config.llm.max_seq_len;
        // At least one position must stay free for the answer.
        let room = limit - n - 1;
        if ids.len() > room {
            let framing = match prompt.framing {
                0 => String::new(),
                f => format!(" (with its {f} framing tokens)"),
            };
            bail!(
                "the prompt is {} tokens{framing}; after {n} image tokens the model's context of {limit} leaves room for {room}: shorten it by {} tokens",
                ids.len(),
                ids.len() - room
            );
        }
        let script = if self.vlm.config.family == Family::Explainer { Script::of_prompt(text) } else { Script::Any };
        let generator = Generator::start(&self.vlm, self.image_tokens()?, &ids, options, Some(prompt.eos))?
            .with_guard(TextGuard::new(&self.tokenizer, prompt.eos, script));
        let mut kinds = vec![PositionKind::Image; n];
        kinds.extend(std::iter::repeat_n(PositionKind::Text, ids.len()));
        let sequence = Sequence {
            shape: [1, n + ids.len(), self.vlm.config.llm.width],
            kinds,
            pieces: ids.iter().map(|&id| self.tokenizer.piece(id)).collect(),
            text_ids: ids,
        };
        self.generator = Some(generator);
        self.answer_ids.clear();
        Ok(self.sequence.insert(sequence))
    }

    pub fn sequence(&self) -> Result<&Sequence> {
        self.sequence.as_ref().ok_or_else(|| stage_error("no prompt yet: run prefill first"))
    }

    /// Stage 4: one generated token; `None` when the answer is complete.
    pub fn next_token(&mut self) -> Result<Option<GeneratedToken>> {
        let generator = self.generator.as_mut().ok_or_else(|| stage_error("nothing to generate: run prefill first"))?;
        let token = generator.next_token(&self.vlm)?;
        if let Some(t) = &token {
            if !t.is_eos {
                self.answer_ids.push(t.id);
            }
        }
        Ok(token)
    }

    /// The answer generated so far, as text.
    pub fn answer(&self) -> Result<String> {
        self.tokenizer.decode(&self.answer_ids)
    }

    pub fn answer_ids(&self) -> &[u32] {
        &self.answer_ids
    }

    /// Every stage in one call: the answer's ids and text.
    pub fn run(&mut self, image: PreparedImage, task: Task, text: &str, options: SamplingOptions) -> Result<(Vec<u32>, String)> {
        self.set_image(image)?;
        self.encode()?;
        self.project()?;
        self.prefill(task, text, options)?;
        while self.next_token()?.is_some() {}
        Ok((self.answer_ids.clone(), self.answer()?))
    }

    /// One row of the vision encoder's attention in `layer`: how much `query` (0 = CLS, 1 + i =
    /// patch i) attends to each of the 197 positions, for one head or averaged over heads.
    pub fn vision_attention(&self, layer: usize, head: Option<usize>, query: usize) -> Result<Vec<f32>> {
        let attentions = &self.vision()?.attentions;
        let Some(weights) = attentions.get(layer) else {
            bail!("layer {layer} does not exist: the vision encoder has {}", attentions.len())
        };
        let (_, heads, positions, _) = weights.dims4()?;
        if query >= positions {
            bail!("query {query} does not exist: there are {positions} positions");
        }
        let rows = weights.get(0)?.narrow(1, query, 1)?.squeeze(1)?; // (heads, 197)
        let row = match head {
            Some(h) if h >= heads => bail!("head {h} does not exist: layer {layer} has {heads}"),
            Some(h) => rows.get(h)?,
            None => rows.mean(0)?,
        };
        row.to_vec1::<f32>()
    }
}

fn stage_error(message: &str) -> candle_core::Error {
    candle_core::Error::Msg(message.to_string())
}

/// The tokens `config`'s prompt format needs, in `tokenizer`: said at load, not at the first prompt.
fn check_prompt_tokens(config: &Config, tokenizer: &TextTokenizer) -> Result<()> {
    match config.prompt {
        PromptFormat::Explainer => tokenizer.special().map(|_| ()),
        PromptFormat::QuestionAnswer => {
            let eos = config.llm.eos_token_id.unwrap_or(u32::MAX);
            if !tokenizer.has_token(eos) {
                bail!("tokenizer.json has no token {eos}, which ends this model's answers (config.json's eos token): choose the tokenizer that came with the model");
            }
            Ok(())
        }
    }
}
