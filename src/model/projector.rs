//! The projector: the one trainable bridge between the frozen vision encoder and the LLM.
//! (b, 196, D_v) -> (b, 196, D_t): each patch feature becomes an image token of the LLM's width;
//! or, with a pixel shuffle, (b, 196, D_v) -> (b, 49, 4 D_v) -> (b, 49, D_t): each 2x2 block of
//! neighbouring patches becomes one image token (nanoVLM, Idefics3).

use std::collections::HashMap;

use candle_core::{bail, DType, Device, Error, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::ops::activation;
use crate::ops::linear::{linear, linear_no_bias, Linear};

use crate::model::config::{ProjectorConfig, ProjectorKind};

/// How messages about a projector file name it; the page puts the file's own name in its place.
pub const PROJECTOR_FILE: &str = "the projector file";

pub enum Projector {
    /// The lesson's `nn.Linear(768, 512)`.
    Linear { linear: Linear },
    /// LLaVA-1.5: Linear, GELU, Linear; with `neighbourhood`, fc1 reads each patch's 3x3
    /// neighbourhood (`ProjectorKind::Mlp2xGelu3x3`).
    Mlp2xGelu { fc1: Linear, fc2: Linear, neighbourhood: bool },
    /// nanoVLM's: `pixel_shuffle(x, factor)`, then `Linear(factor^2 D_v, D_t)` without bias.
    PixelShuffle { linear: Linear, factor: usize },
}

impl Projector {
    pub fn new(kind: ProjectorKind, vision_width: usize, text_width: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_factor(kind, 1, vision_width, text_width, vb)
    }

    /// A projector as config.json's `projector` describes it.
    pub fn from_config(cfg: &ProjectorConfig, vision_width: usize, text_width: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_factor(cfg.kind, cfg.factor, vision_width, text_width, vb)
    }

    fn with_factor(kind: ProjectorKind, factor: usize, vision_width: usize, text_width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            ProjectorKind::PixelShuffle => Self::PixelShuffle {
                linear: linear_no_bias(factor * factor * vision_width, text_width, vb.pp("linear"))?,
                factor,
            },
            ProjectorKind::Linear => Self::Linear { linear: linear(vision_width, text_width, vb.pp("linear"))? },
            ProjectorKind::Mlp2xGelu | ProjectorKind::Mlp2xGelu3x3 => Self::Mlp2xGelu {
                fc1: linear(kind.patches_per_token() * vision_width, text_width, vb.pp("fc1"))?,
                fc2: linear(text_width, text_width, vb.pp("fc2"))?,
                neighbourhood: kind == ProjectorKind::Mlp2xGelu3x3,
            },
        })
    }

    /// The names and shapes of a projector's weights, as in a model file.
    pub fn weight_shapes(kind: ProjectorKind, vision_width: usize, text_width: usize) -> Vec<(String, Vec<usize>)> {
        let (v, t) = (vision_width, text_width);
        let layer = |name: &str, inputs: usize| {
            [(format!("projector.{name}.weight"), vec![t, inputs]), (format!("projector.{name}.bias"), vec![t])]
        };
        match kind {
            ProjectorKind::Linear => layer("linear", v).to_vec(),
            // A pixel shuffle's projector is trained with its model (the training panel trains
            // the shipped family's kinds), never saved alone.
            ProjectorKind::PixelShuffle => vec![],
            ProjectorKind::Mlp2xGelu | ProjectorKind::Mlp2xGelu3x3 => {
                layer("fc1", kind.patches_per_token() * v).into_iter().chain(layer("fc2", t)).collect()
            }
        }
    }

    /// A projector's weights from safetensors bytes (as the training panel downloads them: the
    /// `projector.*` tensors alone, of either kind, in f32, f16 or bf16), checked against the
    /// model's widths. Returns the file's kind and its tensors as f32, named as in a model file.
    pub fn read_safetensors(bytes: &[u8], vision_width: usize, text_width: usize, device: &Device) -> Result<(ProjectorKind, HashMap<String, Tensor>)> {
        const FILE: &str = PROJECTOR_FILE;
        let tensors = candle_core::safetensors::load_buffer(bytes, device)
            .map_err(|e| Error::Msg(format!("{FILE} is not a safetensors file ({e}): choose a file saved with \"download projector\"")))?;
        if let Some(other) = tensors.keys().find(|n| !n.starts_with("projector.")) {
            bail!("{FILE} holds `{other}`, which is not a projector weight: choose a file saved with \"download projector\"");
        }
        let kind = if tensors.contains_key("projector.linear.weight") {
            ProjectorKind::Linear
        } else if let Some(fc1) = tensors.get("projector.fc1.weight") {
            // The first layer's inputs tell the two MLPs apart.
            if fc1.dims().get(1) == Some(&(ProjectorKind::Mlp2xGelu3x3.patches_per_token() * vision_width)) {
                ProjectorKind::Mlp2xGelu3x3
            } else {
                ProjectorKind::Mlp2xGelu
            }
        } else {
            bail!("{FILE} holds no projector weights (neither `projector.linear.weight` nor `projector.fc1.weight`)");
        };
        let expected = Self::weight_shapes(kind, vision_width, text_width);
        let mut out = HashMap::with_capacity(expected.len());
        for (name, shape) in &expected {
            let Some(t) = tensors.get(name) else { bail!("{FILE} has no tensor `{name}`") };
            if t.dims() != shape.as_slice() {
                bail!(
                    "{FILE}: tensor `{name}` has shape {:?}, this model's projector needs {shape:?}: the projector was trained for another model",
                    t.dims()
                );
            }
            out.insert(name.clone(), t.to_dtype(DType::F32)?);
        }
        if tensors.len() != expected.len() {
            bail!("{FILE} holds {} tensors; a {kind:?} projector has {}", tensors.len(), expected.len());
        }
        Ok((kind, out))
    }

    /// A projector from safetensors bytes (see `read_safetensors`).
    pub fn from_safetensors(bytes: &[u8], vision_width: usize, text_width: usize, device: &Device) -> Result<(ProjectorKind, Self)> {
        let (kind, tensors) = Self::read_safetensors(bytes, vision_width, text_width, device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Ok((kind, Self::new(kind, vision_width, text_width, vb.pp("projector"))?))
    }

    /// The first layer's weight (D_t, D_v), or (D_t, 9 D_v) for the 3x3 kind (the 9 neighbours'
    /// columns side by side, row by row from the top left): what the page draws as the
    /// projection's heat map.
    /// Every linear layer, for `Linear::pack`.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match self {
            Self::Linear { linear } | Self::PixelShuffle { linear, .. } => vec![linear],
            Self::Mlp2xGelu { fc1, fc2, .. } => vec![fc1, fc2],
        }
    }

    /// For the pixel shuffle: (D_t, 4 D_v), the four patches' columns side by side, (0, 0),
    /// (0, 1), (1, 0), (1, 1) of their 2x2 block.
    pub fn first_weight(&self) -> Result<Tensor> {
        match self {
            Self::Linear { linear } | Self::PixelShuffle { linear, .. } => linear.weight(),
            Self::Mlp2xGelu { fc1, .. } => fc1.weight(),
        }
    }
}

impl Module for Projector {
    fn forward(&self, patch_features: &Tensor) -> Result<Tensor> {
        match self {
            Self::Linear { linear } => linear.forward(patch_features),
            Self::PixelShuffle { linear, factor } => linear.forward(&pixel_shuffle(patch_features, *factor)?),
            // LLaVA-1.5 uses the exact (erf) GELU here.
            Self::Mlp2xGelu { fc1, fc2, neighbourhood } => {
                let x = if *neighbourhood { with_neighbours(patch_features)? } else { patch_features.clone() };
                let h = activation::gelu_erf(&fc1.forward(&x)?)?;
                fc2.forward(&h)
            }
        }
    }
}

/// (b, n, D) patch features on a square grid -> (b, n, 9 D): each patch's 3x3 neighbourhood side
/// by side, row by row from the top left, the patch itself in the middle (the 5th); zeros where
/// the neighbourhood runs past the grid's edge.
pub fn with_neighbours(x: &Tensor) -> Result<Tensor> {
    let (b, n, d) = x.dims3()?;
    let side = (n as f64).sqrt().round() as usize;
    if side * side != n {
        bail!("a 3x3 projector needs a square grid of patches, got {n}");
    }
    let padded = x.reshape((b, side, side, d))?.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
    let mut parts = Vec::with_capacity(9);
    for dr in 0..3 {
        for dc in 0..3 {
            parts.push(padded.narrow(1, dr, side)?.narrow(2, dc, side)?);
        }
    }
    Tensor::cat(&parts, 3)?.reshape((b, n, 9 * d))
}

/// (b, n, D) patch features on a square grid -> (b, n / f^2, f^2 D): image token (r, c) of the
/// (side / f)^2 grid is the patches (f r + dr, f c + dc) side by side, dr outer, dc inner (for
/// f = 2: (0, 0), (0, 1), (1, 0), (1, 1)), as nanoVLM's `ModalityProjector.pixel_shuffle`.
pub fn pixel_shuffle(x: &Tensor, factor: usize) -> Result<Tensor> {
    let (b, n, d) = x.dims3()?;
    let side = (n as f64).sqrt().round() as usize;
    if side * side != n || factor == 0 || side % factor != 0 {
        bail!("a pixel shuffle by {factor} needs a square grid of patches whose side it divides, got {n} patches");
    }
    let s = side / factor;
    x.reshape((b, s, factor, s, factor, d))? // (b, r, dr, c, dc, d)
        .permute((0, 1, 3, 2, 4, 5))? // (b, r, c, dr, dc, d)
        .contiguous()?
        .reshape((b, s * s, factor * factor * d))
}
