//! The projector: the one trainable bridge between the frozen vision encoder and the LLM.
//! (b, 196, D_v) -> (b, 196, D_t): each patch feature becomes an image token of the LLM's width.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::transformer::{linear, Linear};

use crate::config::ProjectorKind;

pub enum Projector {
    /// The lesson's `nn.Linear(768, 512)`.
    Linear { linear: Linear },
    /// LLaVA-1.5: Linear, GELU, Linear.
    Mlp2xGelu { fc1: Linear, fc2: Linear },
}

impl Projector {
    pub fn new(kind: ProjectorKind, vision_width: usize, text_width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            ProjectorKind::Linear => Self::Linear { linear: linear(vision_width, text_width, vb.pp("linear"))? },
            ProjectorKind::Mlp2xGelu => Self::Mlp2xGelu {
                fc1: linear(vision_width, text_width, vb.pp("fc1"))?,
                fc2: linear(text_width, text_width, vb.pp("fc2"))?,
            },
        })
    }

    /// The first layer's weight (D_t, D_v): what the page draws as the projection's heat map.
    pub fn first_weight(&self) -> &Tensor {
        match self {
            Self::Linear { linear } => linear.weight(),
            Self::Mlp2xGelu { fc1, .. } => fc1.weight(),
        }
    }
}

impl Module for Projector {
    fn forward(&self, patch_features: &Tensor) -> Result<Tensor> {
        match self {
            Self::Linear { linear } => linear.forward(patch_features),
            // LLaVA-1.5 uses the exact (erf) GELU here.
            Self::Mlp2xGelu { fc1, fc2 } => fc2.forward(&fc1.forward(patch_features)?.gelu_erf()?),
        }
    }
}
