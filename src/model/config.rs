//! The model's shape, stored as `config.json` beside the weights.
//!
//! Two presets: `seed` has the lesson's numbers (a CLIP ViT-B/16 vision encoder, a 768 -> 512
//! projection, an LLM of width 512); `tiny` is the small model the page ships.
//!
//! The same `Config` describes the pretrained families the page loads from their own files
//! (`model::families`): each part's optional fields (a CLS token or not, the norm's epsilon,
//! a pixel-shuffle projector, a Llama-style decoder) say how it differs from the shipped model;
//! fields left out mean the shipped model's choice, so its config.json reads as before.

use candle_core::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::model::patch_grid::PatchGrid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Preset name, shown by the page ("seed", "tiny", or a trained model's name).
    pub name: String,
    /// Whose checkpoint this is, which says what its weights are named (this crate's own when
    /// absent; `nanovlm` for nanoVLM's files, `model::nanovlm`).
    #[serde(default, skip_serializing_if = "Family::is_explainer")]
    pub family: Family,
    pub vision: VisionConfig,
    pub projector: ProjectorConfig,
    pub llm: LlmConfig,
    /// How pixels become the vision encoder's input (the shipped model's when absent).
    #[serde(default, skip_serializing_if = "Preprocess::is_default")]
    pub preprocess: Preprocess,
    /// How the prompt is written around the question (the shipped model's when absent).
    #[serde(default, skip_serializing_if = "PromptFormat::is_explainer")]
    pub prompt: PromptFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// This crate's models: the shipped one, the presets, whatever `train` writes.
    #[default]
    Explainer,
    /// nanoVLM (github.com/huggingface/nanoVLM at v0.1): SigLIP, pixel shuffle, SmolLM2.
    #[serde(rename = "nanovlm")]
    NanoVlm,
}

impl Family {
    pub fn is_explainer(&self) -> bool {
        *self == Self::Explainer
    }
}

/// CLIP's per-channel normalisation (OpenAI CLIP, `_transform`).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Pixels -> the vision encoder's input: the shipped model's is CLIP's (central square, CLIP's
/// mean and std); nanoVLM resizes the whole image to a square and keeps values in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    pub resize: Resize,
    /// Subtracted from each channel's value in [0, 1]...
    pub mean: [f32; 3],
    /// ... which is then divided by this.
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// The central square, resized: CLIP's "shorter side to 224, then centre crop".
    CenterCrop,
    /// The whole image resized to a square, its aspect ratio lost: torchvision's `Resize((224, 224))`.
    Squash,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self { resize: Resize::CenterCrop, mean: CLIP_MEAN, std: CLIP_STD }
    }
}

impl Preprocess {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The text the LLM reads after the image tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptFormat {
    /// `<|bos|> <|caption|> text <|answer|>` or `<|bos|> <|question|> text <|answer|>`, answer
    /// ended by `<|eos|>` (`text::prompt`).
    #[default]
    Explainer,
    /// nanoVLM's `Question: {text} Answer:`, no special token; the answer ends with the
    /// tokenizer's `<|endoftext|>` (id `llm.eos_token_id`).
    QuestionAnswer,
}

impl PromptFormat {
    pub fn is_explainer(&self) -> bool {
        *self == Self::Explainer
    }
}
/// A ViT: 16x16 patches -> linear patch embedding, CLS token, learned positions, pre-LN blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// Side of the square input image in pixels (CLIP: 224).
    pub image_size: usize,
    /// Side of one square patch in pixels (ViT-B/16: 16, so 224 / 16 = 14 patches a side).
    pub patch_size: usize,
    /// Width D_v of every patch feature (ViT-B: 768).
    pub width: usize,
    /// Number of transformer blocks (ViT-B: 12).
    pub layers: usize,
    /// Attention heads per block; `width` must divide evenly (ViT-B: 12 heads of 64).
    pub heads: usize,
    /// Hidden width of each block's MLP (ViT-B: 4 x 768 = 3072).
    pub mlp_width: usize,
    /// How a 16x16 patch becomes its first feature (`linear` when absent: CLIP's).
    #[serde(default, skip_serializing_if = "Stem::is_linear")]
    pub stem: Stem,
    /// A CLS token in front of the patches (true when absent: CLIP's; SigLIP has none).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub cls_token: bool,
    /// LayerNorm epsilon (1e-5 when absent: CLIP's and GPT-2's; SigLIP's is 1e-6).
    #[serde(default = "layer_norm_eps", skip_serializing_if = "is_layer_norm_eps")]
    pub layer_norm_eps: f64,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn layer_norm_eps() -> f64 {
    LAYER_NORM_EPS
}

fn is_layer_norm_eps(eps: &f64) -> bool {
    *eps == LAYER_NORM_EPS
}

/// The patch embedding: what turns each patch's pixels into the ViT's first token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stem {
    /// One linear map of the patch's 768 values (a 16x16 stride-16 convolution): CLIP ViT-B/16's.
    #[default]
    Linear,
    /// The hierarchical MLP stem of DeiT III (Touvron et al., 2022): 4x4 pixel blocks, then 2x2
    /// groups of them, then 2x2 groups of those, each a shared linear map (LayerNorm and GELU
    /// between), all inside the patch. The same maps serve every block, so an edge or a corner
    /// is recognised wherever it falls in the patch; a ViT trained from a few thousand images
    /// learns shapes with it that the single linear map does not. Needs 16-pixel patches.
    Hmlp,
}

impl Stem {
    pub fn is_linear(&self) -> bool {
        *self == Stem::Linear
    }

    /// Width of the stem's first two levels for a ViT of width `width`.
    pub fn hidden(width: usize) -> usize {
        (width / 4).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectorKind {
    /// One `Linear(D_v, D_t)`: the lesson's `nn.Linear(768, 512)` (LLaVA-1).
    Linear,
    /// `Linear(D_v, D_t) -> GELU -> Linear(D_t, D_t)` (LLaVA-1.5's `mlp2x_gelu`).
    Mlp2xGelu,
    /// `mlp2x_gelu` whose first layer reads each patch together with the 8 around it on the
    /// 14x14 grid (zeros past its edge): a 3x3 convolution, then GELU and a 1x1 one, as
    /// convolutional projectors do (Honeybee's C-Abstractor, MobileVLM's LDP). Still one image
    /// token per patch, but each token also carries how what crosses its patch continues around
    /// it: an object's outline, which attention's weighted means over patches blur.
    #[serde(rename = "mlp2x_gelu_3x3")]
    Mlp2xGelu3x3,
    /// nanoVLM's (and Idefics3's): each `factor` x `factor` block of neighbouring patches becomes
    /// one token of `factor`^2 x D_v values (a pixel shuffle), then one `Linear(factor^2 D_v, D_t)`
    /// without bias: 196 patches -> 49 image tokens for factor 2.
    PixelShuffle,
}

impl ProjectorKind {
    /// Patch features each image token reads: its own, or its 3x3 neighbourhood's.
    pub fn patches_per_token(self) -> usize {
        match self {
            Self::Mlp2xGelu3x3 => 9,
            Self::Linear | Self::Mlp2xGelu | Self::PixelShuffle => 1,
        }
    }
}

/// Maps each patch feature (width `vision.width`) to an image token (width `llm.width`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectorConfig {
    pub kind: ProjectorKind,
    /// `pixel_shuffle`'s block side (absent, 1, for the other kinds).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub factor: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl ProjectorConfig {
    pub fn of(kind: ProjectorKind) -> Self {
        Self { kind, factor: 1 }
    }
}

/// A decoder-only transformer that takes embeddings, so image tokens can stand in front of text:
/// GPT-2's layout (the shipped model), or Llama's (SmolLM2, nanoVLM's LLM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// The layout (`gpt` when absent).
    #[serde(default, skip_serializing_if = "LlmKind::is_gpt")]
    pub kind: LlmKind,
    /// Rows of the token embedding; the tokenizer's vocabulary must fit in it.
    pub vocab_size: usize,
    /// Width D_t of every token embedding, image tokens included (the lesson: 512).
    pub width: usize,
    /// Number of transformer blocks.
    pub layers: usize,
    /// Attention heads per block; `width` must divide evenly.
    pub heads: usize,
    /// Hidden width of each block's MLP (GPT-2: 4 x width).
    pub mlp_width: usize,
    /// Longest sequence (196 image tokens + text) the position embedding covers.
    pub max_seq_len: usize,
    /// Key/value heads, shared by groups of query heads (grouped-query attention; `heads` when
    /// absent). SmolLM2-135M: 9 query heads, 3 key/value heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<usize>,
    /// Base of the rotary position embedding (`llama`; SmolLM2: 100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_base: Option<f64>,
    /// Epsilon of the norms (`gpt`: LayerNorm's 1e-5 when absent; `llama`: RMSNorm's).
    #[serde(default = "layer_norm_eps", skip_serializing_if = "is_layer_norm_eps")]
    pub norm_eps: f64,
    /// Whether the LM head is the token embedding (true when absent: GPT-2's and SmolLM2's).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub tie_embeddings: bool,
    /// The token that ends an answer, where the prompt format has no `<|eos|>` of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmKind {
    /// Pre-LN blocks with LayerNorm, learned positions, GELU MLP, biases (GPT-2).
    #[default]
    Gpt,
    /// Pre-norm blocks with RMSNorm, rotary positions, SwiGLU MLP, grouped-query attention, no
    /// biases (Llama; SmolLM2).
    Llama,
}

impl LlmKind {
    pub fn is_gpt(&self) -> bool {
        *self == Self::Gpt
    }
}

impl LlmConfig {
    /// GPT-2's layout: LayerNorm (eps 1e-5), learned positions, every head its own keys and
    /// values, the LM head tied to the token embedding.
    pub fn gpt(vocab_size: usize, width: usize, layers: usize, heads: usize, mlp_width: usize, max_seq_len: usize) -> Self {
        Self {
            kind: LlmKind::Gpt,
            vocab_size,
            width,
            layers,
            heads,
            mlp_width,
            max_seq_len,
            kv_heads: None,
            rope_base: None,
            norm_eps: LAYER_NORM_EPS,
            tie_embeddings: true,
            eos_token_id: None,
        }
    }

    /// Key/value heads (grouped-query attention), `heads` without grouping.
    pub fn kv_heads(&self) -> usize {
        self.kv_heads.unwrap_or(self.heads)
    }

    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }
}

/// LayerNorm epsilon everywhere (GPT-2 and CLIP both use 1e-5).
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// Largest model `validate` accepts, in values: 300M f32 values are 1.2 GB, about what one
/// browser tab's 32-bit WebAssembly memory can hold beside the file they were read from.
pub const MAX_PARAMETERS: usize = 300_000_000;

/// Upper bounds on single fields, so that a mistyped config.json is refused with the field named
/// instead of exhausting memory (each is far above any preset).
const FIELD_LIMITS: [(&str, usize); 5] = [
    ("image_size", 1024),
    ("width", 8192),
    ("layers", 128),
    ("mlp_width", 32_768),
    ("max_seq_len", 8192),
];
const MAX_VOCAB: usize = 1_000_000;

impl Config {
    /// The lesson's numbers: CLIP ViT-B/16 geometry, projection 768 -> 512, an LLM of width 512.
    pub fn seed(vocab_size: usize) -> Self {
        Self {
            name: "seed".into(),
            family: Family::Explainer,
            vision: VisionConfig {
                image_size: 224,
                patch_size: 16,
                width: 768,
                layers: 12,
                heads: 12,
                mlp_width: 3072,
                stem: Stem::Linear,
                cls_token: true,
                layer_norm_eps: LAYER_NORM_EPS,
            },
            projector: ProjectorConfig::of(ProjectorKind::Linear),
            llm: LlmConfig::gpt(vocab_size, 512, 8, 8, 2048, 256),
            preprocess: Preprocess::default(),
            prompt: PromptFormat::Explainer,
        }
    }

    /// The small model the page ships: a 192-wide ViT, a 192 -> 128 projector, a 128-wide GPT.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            name: "tiny".into(),
            family: Family::Explainer,
            vision: VisionConfig {
                image_size: 224,
                patch_size: 16,
                width: 192,
                layers: 4,
                heads: 3,
                mlp_width: 768,
                stem: Stem::Hmlp,
                cls_token: true,
                layer_norm_eps: LAYER_NORM_EPS,
            },
            projector: ProjectorConfig::of(ProjectorKind::Mlp2xGelu),
            llm: LlmConfig::gpt(vocab_size, 128, 4, 4, 512, 256),
            preprocess: Preprocess::default(),
            prompt: PromptFormat::Explainer,
        }
    }

    /// A very small model for fixtures and quick tests; same geometry as the others.
    pub fn micro(vocab_size: usize) -> Self {
        Self {
            name: "micro".into(),
            family: Family::Explainer,
            vision: VisionConfig {
                image_size: 224,
                patch_size: 16,
                width: 32,
                layers: 2,
                heads: 2,
                mlp_width: 64,
                stem: Stem::Hmlp,
                cls_token: true,
                layer_norm_eps: LAYER_NORM_EPS,
            },
            projector: ProjectorConfig::of(ProjectorKind::Mlp2xGelu),
            llm: LlmConfig::gpt(vocab_size, 32, 2, 2, 64, 256),
            preprocess: Preprocess::default(),
            prompt: PromptFormat::Explainer,
        }
    }

    pub fn preset(name: &str, vocab_size: usize) -> Result<Self> {
        match name {
            "seed" => Ok(Self::seed(vocab_size)),
            "tiny" => Ok(Self::tiny(vocab_size)),
            "micro" => Ok(Self::micro(vocab_size)),
            _ => bail!("unknown preset `{name}`: expected `seed`, `tiny` or `micro`"),
        }
    }

    /// This crate's own config.json, checked (`model::families::read_config` reads every
    /// family's).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| candle_core::Error::Msg(format!("config.json: {e}")))?;
        let cfg: Self = if value.get("vision").is_none() && value.get("llm").is_none() {
            let what = match value.get("model_type").and_then(serde_json::Value::as_str) {
                Some(kind) => format!("a transformers `{kind}` config"),
                None => "not a model config this page knows".to_string(),
            };
            bail!("config.json is {what}; the page reads its own models' config.json and nanoVLM's (its VLMConfig, with `vit_hidden_dim`)");
        } else {
            serde_json::from_value(value).map_err(|e| candle_core::Error::Msg(format!("config.json: {e}")))?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Config always serialises")
    }

    pub fn patch_grid(&self) -> PatchGrid {
        PatchGrid::new(self.vision.image_size, self.vision.patch_size)
    }

    /// Image tokens in front of the text: one per patch (196), or one per block of
    /// `factor` x `factor` patches for a pixel-shuffle projector (49).
    pub fn num_image_tokens(&self) -> usize {
        self.patch_grid().num_patches() / (self.projector.factor * self.projector.factor).max(1)
    }

    /// Checks every field a forward pass relies on, naming the field that is wrong.
    pub fn validate(&self) -> Result<()> {
        let v = &self.vision;
        let l = &self.llm;
        let positive = [
            ("vision.image_size", v.image_size),
            ("vision.patch_size", v.patch_size),
            ("vision.width", v.width),
            ("vision.layers", v.layers),
            ("vision.heads", v.heads),
            ("vision.mlp_width", v.mlp_width),
            ("llm.vocab_size", l.vocab_size),
            ("llm.width", l.width),
            ("llm.layers", l.layers),
            ("llm.heads", l.heads),
            ("llm.mlp_width", l.mlp_width),
            ("llm.max_seq_len", l.max_seq_len),
        ];
        for (field, value) in positive {
            if value == 0 {
                bail!("config.json: `{field}` must be positive");
            }
            let suffix = field.rsplit('.').next().unwrap_or(field);
            let limit = if suffix == "vocab_size" {
                MAX_VOCAB
            } else {
                FIELD_LIMITS.iter().find(|(f, _)| *f == suffix).map_or(usize::MAX, |(_, l)| *l)
            };
            if value > limit {
                bail!("config.json: `{field}` is {value}; the largest accepted is {limit}");
            }
        }
        if v.image_size % v.patch_size != 0 {
            bail!(
                "config.json: `vision.image_size` {} is not a multiple of `vision.patch_size` {}",
                v.image_size,
                v.patch_size
            );
        }
        if v.width % v.heads != 0 {
            bail!("config.json: `vision.width` {} is not divisible by `vision.heads` {}", v.width, v.heads);
        }
        if v.stem == Stem::Hmlp && v.patch_size != 16 {
            bail!("config.json: `vision.stem` \"hmlp\" needs `vision.patch_size` 16, not {}", v.patch_size);
        }
        if l.width % l.heads != 0 {
            bail!("config.json: `llm.width` {} is not divisible by `llm.heads` {}", l.width, l.heads);
        }
        let kv = l.kv_heads();
        if kv == 0 || l.heads % kv != 0 {
            bail!("config.json: `llm.kv_heads` {kv} must divide `llm.heads` {} (each group of query heads shares one)", l.heads);
        }
        match l.kind {
            LlmKind::Llama if l.rope_base.is_none_or(|b| !(b > 1.0 && b.is_finite())) => {
                bail!("config.json: a `llama` LLM needs `llm.rope_base` above 1 (SmolLM2: 100000)")
            }
            LlmKind::Llama if l.head_dim() % 2 != 0 => {
                bail!("config.json: rotary positions need an even head width, not {}", l.head_dim())
            }
            _ => {}
        }
        for (field, eps) in [("vision.layer_norm_eps", v.layer_norm_eps), ("llm.norm_eps", l.norm_eps)] {
            if !(eps > 0.0 && eps < 1.0) {
                bail!("config.json: `{field}` must be between 0 and 1, not {eps}");
            }
        }
        let p = &self.projector;
        let side = self.patch_grid().side();
        match p.kind {
            ProjectorKind::PixelShuffle if p.factor == 0 || side % p.factor != 0 => {
                bail!("config.json: `projector.factor` {} must divide the {side} patches a side", p.factor)
            }
            ProjectorKind::PixelShuffle => {}
            _ if p.factor != 1 => bail!("config.json: `projector.factor` belongs to a `pixel_shuffle` projector only"),
            _ => {}
        }
        if self.prompt == PromptFormat::QuestionAnswer && l.eos_token_id.is_none() {
            bail!("config.json: the question-answer prompt format needs `llm.eos_token_id`");
        }
        let image_tokens = self.num_image_tokens();
        if l.max_seq_len <= image_tokens + 2 {
            bail!(
                "config.json: `llm.max_seq_len` {} leaves no room for text after {} image tokens",
                l.max_seq_len,
                image_tokens
            );
        }
        let counts = self.parameter_counts();
        let total = counts.vision_encoder.saturating_add(counts.projector).saturating_add(counts.llm);
        if total > MAX_PARAMETERS {
            bail!(
                "config.json describes a model of {total} values; the page holds at most {MAX_PARAMETERS} (check `width`, `layers` and `vocab_size`)"
            );
        }
        Ok(())
    }
}

/// Number of values in each part, as the lesson's diagram groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParameterCounts {
    pub vision_encoder: usize,
    pub projector: usize,
    pub llm: usize,
}

/// One GPT-2 / ViT block: two LayerNorms, attention (fused qkv) and the MLP, with biases.
fn block_parameters(width: u64, mlp_width: u64) -> u64 {
    let layer_norms = 2 * 2 * width;
    let attention = width * 3 * width + 3 * width + width * width + width;
    let mlp = width * mlp_width + mlp_width + mlp_width * width + width;
    layer_norms + attention + mlp
}

/// One Llama block: two RMSNorms, attention with `kv` key/value heads of `head_dim`, SwiGLU.
fn llama_block_parameters(width: u64, heads: u64, kv: u64, head_dim: u64, mlp_width: u64) -> u64 {
    let norms = 2 * width;
    let attention = width * (heads + 2 * kv) * head_dim + heads * head_dim * width;
    let mlp = 3 * width * mlp_width;
    norms + attention + mlp
}

impl Config {
    /// Counted in u64 (a 32-bit usize in the browser would overflow on a mistyped config.json);
    /// a count too large for usize reads as `usize::MAX`.
    pub fn parameter_counts(&self) -> ParameterCounts {
        let (v, l) = (&self.vision, &self.llm);
        let [vw, vmlp, vl, ps] = [v.width, v.mlp_width, v.layers, v.patch_size].map(|x| x as u64);
        let [lw, lmlp, ll, vocab, seq] = [l.width, l.mlp_width, l.layers, l.vocab_size, l.max_seq_len].map(|x| x as u64);
        let patches = self.patch_grid().num_patches() as u64;
        let patch_embed = match v.stem {
            Stem::Linear => 3 * ps * ps * vw + vw,
            Stem::Hmlp => {
                let h = Stem::hidden(v.width) as u64;
                (48 * h + h + 2 * h) + (4 * h * h + h + 2 * h) + (4 * h * vw + vw)
            }
        };
        let cls = v.cls_token as u64;
        let vision_encoder = patch_embed
            + cls * vw // CLS token
            + (patches + cls) * vw // positions
            + vl * block_parameters(vw, vmlp)
            + 2 * vw; // final LayerNorm
        let projector = match self.projector.kind {
            ProjectorKind::Linear => vw * lw + lw,
            ProjectorKind::Mlp2xGelu | ProjectorKind::Mlp2xGelu3x3 => {
                self.projector.kind.patches_per_token() as u64 * vw * lw + lw + lw * lw + lw
            }
            ProjectorKind::PixelShuffle => (self.projector.factor * self.projector.factor) as u64 * vw * lw,
        };
        // A tied LM head shares the token embedding: no extra matrix.
        let head = if l.tie_embeddings { 0 } else { vocab * lw };
        let llm = match l.kind {
            LlmKind::Gpt => vocab * lw + seq * lw + ll * block_parameters(lw, lmlp) + 2 * lw + head,
            LlmKind::Llama => {
                let [heads, kv, hd] = [l.heads, l.kv_heads(), l.head_dim()].map(|x| x as u64);
                vocab * lw + ll * llama_block_parameters(lw, heads, kv, hd, lmlp) + lw + head
            }
        };
        let fit = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        ParameterCounts { vision_encoder: fit(vision_encoder), projector: fit(projector), llm: fit(llm) }
    }
}
