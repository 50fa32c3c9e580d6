//! The model's shape, stored as `config.json` beside the weights.
//!
//! Two presets: `seed` has the lesson's numbers (a CLIP ViT-B/16 vision encoder, a 768 -> 512
//! projection, an LLM of width 512); `tiny` is the small model the page ships.

use candle_core::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::model::patch_grid::PatchGrid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Preset name, shown by the page ("seed", "tiny", or a trained model's name).
    pub name: String,
    pub vision: VisionConfig,
    pub projector: ProjectorConfig,
    pub llm: LlmConfig,
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
}

impl ProjectorKind {
    /// Patch features each image token reads: its own, or its 3x3 neighbourhood's.
    pub fn patches_per_token(self) -> usize {
        match self {
            Self::Mlp2xGelu3x3 => 9,
            Self::Linear | Self::Mlp2xGelu => 1,
        }
    }
}

/// Maps each patch feature (width `vision.width`) to an image token (width `llm.width`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectorConfig {
    pub kind: ProjectorKind,
}

/// A decoder-only GPT that takes embeddings, so image tokens can stand in front of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
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
            vision: VisionConfig {
                image_size: 224,
                patch_size: 16,
                width: 768,
                layers: 12,
                heads: 12,
                mlp_width: 3072,
                stem: Stem::Linear,
            },
            projector: ProjectorConfig { kind: ProjectorKind::Linear },
            llm: LlmConfig {
                vocab_size,
                width: 512,
                layers: 8,
                heads: 8,
                mlp_width: 2048,
                max_seq_len: 256,
            },
        }
    }

    /// The small model the page ships: a 192-wide ViT, a 192 -> 128 projector, a 128-wide GPT.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            name: "tiny".into(),
            vision: VisionConfig {
                image_size: 224,
                patch_size: 16,
                width: 192,
                layers: 4,
                heads: 3,
                mlp_width: 768,
                stem: Stem::Hmlp,
            },
            projector: ProjectorConfig { kind: ProjectorKind::Mlp2xGelu },
            llm: LlmConfig {
                vocab_size,
                width: 128,
                layers: 4,
                heads: 4,
                mlp_width: 512,
                max_seq_len: 256,
            },
        }
    }

    /// A very small model for fixtures and quick tests; same geometry as the others.
    pub fn micro(vocab_size: usize) -> Self {
        Self {
            name: "micro".into(),
            vision: VisionConfig {
                image_size: 224,
                patch_size: 16,
                width: 32,
                layers: 2,
                heads: 2,
                mlp_width: 64,
                stem: Stem::Hmlp,
            },
            projector: ProjectorConfig { kind: ProjectorKind::Mlp2xGelu },
            llm: LlmConfig {
                vocab_size,
                width: 32,
                layers: 2,
                heads: 2,
                mlp_width: 64,
                max_seq_len: 256,
            },
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

    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(text)
            .map_err(|e| candle_core::Error::Msg(format!("config.json: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Config always serialises")
    }

    pub fn patch_grid(&self) -> PatchGrid {
        PatchGrid::new(self.vision.image_size, self.vision.patch_size)
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
        let image_tokens = self.patch_grid().num_patches();
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

fn block_parameters(width: u64, mlp_width: u64) -> u64 {
    let layer_norms = 2 * 2 * width;
    let attention = width * 3 * width + 3 * width + width * width + width;
    let mlp = width * mlp_width + mlp_width + mlp_width * width + width;
    layer_norms + attention + mlp
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
        let vision_encoder = patch_embed
            + vw // CLS token
            + (patches + 1) * vw // positions
            + vl * block_parameters(vw, vmlp)
            + 2 * vw; // final LayerNorm
        let projector = match self.projector.kind {
            ProjectorKind::Linear => vw * lw + lw,
            ProjectorKind::Mlp2xGelu | ProjectorKind::Mlp2xGelu3x3 => {
                self.projector.kind.patches_per_token() as u64 * vw * lw + lw + lw * lw + lw
            }
        };
        // The LM head shares the token embedding: no extra matrix.
        let llm = vocab * lw + seq * lw + ll * block_parameters(lw, lmlp) + 2 * lw;
        let fit = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        ParameterCounts { vision_encoder: fit(vision_encoder), projector: fit(projector), llm: fit(llm) }
    }
}
