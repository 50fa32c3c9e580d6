//! The vision encoder: a ViT with CLIP ViT-B/16's layout, or SigLIP's.
//!
//! (b, 3, 224, 224) -> 196 patches of 16x16x3 = 768 values -> patch embedding (CLIP's linear map,
//! the same as a 16x16 stride-16 convolution; or the hierarchical MLP stem, see `config::Stem`)
//! -> [CLS, patch_1 .. patch_196] + learned positions -> pre-LN blocks -> final LayerNorm
//! -> the 196 patch features (b, 196, D_v). Either stem sees only its own patch.
//! The CLS output is kept apart: LLaVA projects only the patch features; CLIP training uses CLS.
//! SigLIP (nanoVLM's encoder) is the same ViT without a CLS token, its LayerNorms' epsilon 1e-6
//! (`config.vision.cls_token`, `layer_norm_eps`).

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::model::config::{Stem, VisionConfig};
use crate::model::patch_grid::PatchGrid;
use crate::model::transformer::{norm, run_blocks, Block, BlockLayout, Norm, NormKind};
use crate::ops::activation::gelu_tanh;
use crate::ops::linear::{linear, Linear};

/// Patch pixels -> first token, one of `config::Stem`'s kinds.
enum PatchEmbed {
    Linear(Linear),
    /// Three levels: 4x4 pixels (48 values), 2x2 of those, 2x2 of those; LayerNorm and GELU
    /// after the first two.
    Hmlp { levels: [Linear; 3], norms: [Norm; 2] },
}

pub struct VisionEncoder {
    patch_embed: PatchEmbed,
    /// CLIP's; SigLIP has none.
    cls_token: Option<Tensor>,
    /// (1, [1 +] 196, D_v): the CLS token's position first where there is one.
    pos_embed: Tensor,
    blocks: Vec<Block>,
    ln_post: Norm,
    grid: PatchGrid,
    width: usize,
}

pub struct VisionOutput {
    /// (b, 196, D_v): what the projector receives.
    pub patch_features: Tensor,
    /// (b, D_v): the CLS token after the final LayerNorm, where the encoder has one.
    pub cls: Option<Tensor>,
    /// One (b, heads, 197, 197) tensor per layer when asked for; position 0 is CLS, 1 + i patch i
    /// (without a CLS token: (b, heads, 196, 196), position i is patch i).
    pub attentions: Vec<Tensor>,
}

impl VisionOutput {
    /// The CLS token's output (b, D_v), for an encoder that has one (CLIP training reads it).
    pub fn cls(&self) -> Result<&Tensor> {
        self.cls.as_ref().ok_or_else(|| candle_core::Error::Msg("this vision encoder has no CLS token".into()))
    }
}

impl VisionEncoder {
    pub fn new(cfg: &VisionConfig, vb: VarBuilder) -> Result<Self> {
        let grid = PatchGrid::new(cfg.image_size, cfg.patch_size);
        let patch_dim = 3 * cfg.patch_size * cfg.patch_size;
        let layout = BlockLayout::gpt(cfg.width, cfg.heads, cfg.mlp_width, cfg.layer_norm_eps);
        let blocks = (0..cfg.layers).map(|i| Block::new(&layout, vb.pp(format!("blocks.{i}")))).collect::<Result<_>>()?;
        let layer_norm = |width, vb| norm(NormKind::LayerNorm, width, cfg.layer_norm_eps, vb);
        let cls = cfg.cls_token as usize;
        Ok(Self {
            patch_embed: match cfg.stem {
                Stem::Linear => PatchEmbed::Linear(linear(patch_dim, cfg.width, vb.pp("patch_embed"))?),
                Stem::Hmlp => {
                    let (h, vb) = (Stem::hidden(cfg.width), vb.pp("stem"));
                    PatchEmbed::Hmlp {
                        levels: [
                            linear(3 * 4 * 4, h, vb.pp("level_1"))?,
                            linear(4 * h, h, vb.pp("level_2"))?,
                            linear(4 * h, cfg.width, vb.pp("level_3"))?,
                        ],
                        norms: [layer_norm(h, vb.pp("ln_1"))?, layer_norm(h, vb.pp("ln_2"))?],
                    }
                }
            },
            cls_token: if cfg.cls_token { Some(vb.get((1, 1, cfg.width), "cls_token")?) } else { None },
            pos_embed: vb.get((1, cls + grid.num_patches(), cfg.width), "pos_embed")?,
            blocks,
            ln_post: layer_norm(cfg.width, vb.pp("ln_post"))?,
            grid,
            width: cfg.width,
        })
    }

    /// Cuts (b, 3, H, W) into the patch grid's order: (b, 196, 3 * 16 * 16), each row laid out
    /// channel, then y, then x inside the patch (the order of a conv kernel's weights).
    pub fn patchify(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, c, _, _) = pixels.dims4()?;
        let (g, p) = (self.grid.side(), self.grid.patch_size);
        pixels
            .reshape((b, c, g, p, g, p))? // (b, c, row, y, col, x)
            .permute((0, 2, 4, 1, 3, 5))? // (b, row, col, c, y, x)
            .contiguous()?
            .reshape((b, g * g, c * p * p))
    }

    /// The hierarchical stem's input: (b, 196, 4, 4, 48), each patch's pixels grouped as
    /// quarter (2x2 of 8x8), then quarter of that (2x2 of 4x4), then the 4x4 block's 48 values
    /// laid out channel, y, x.
    pub fn hierarchical_blocks(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, c, _, _) = pixels.dims4()?;
        let g = self.grid.side();
        // y = ((row * 2 + a) * 2 + c2) * 4 + py, and the same for x with (col, b2, d2, px).
        let dims: Vec<usize> = vec![b, c, g, 2, 2, 4, g, 2, 2, 4];
        let order: Vec<usize> = vec![0, 2, 6, 3, 7, 4, 8, 1, 5, 9]; // b, row, col, a, b2, c2, d2, ch, py, px
        pixels.reshape(dims)?.permute(order)?.contiguous()?.reshape((b, g * g, 4, 4, c * 16))
    }

    /// (b, 3, H, W) pixels -> (b, 196, D_v) first tokens.
    pub fn embed_patches(&self, pixels: &Tensor) -> Result<Tensor> {
        self.stem(&self.stem_input(pixels)?)
    }

    /// Each patch's pixels as its stem reads them: (b, 196, 768), laid out as `patchify` or, for
    /// the hierarchical stem, as `hierarchical_blocks`.
    fn stem_input(&self, pixels: &Tensor) -> Result<Tensor> {
        match &self.patch_embed {
            PatchEmbed::Linear(_) => self.patchify(pixels),
            PatchEmbed::Hmlp { .. } => {
                let x = self.hierarchical_blocks(pixels)?;
                let (b, n, _, _, _) = x.dims5()?;
                x.reshape((b, n, ()))
            }
        }
    }

    /// `stem_input`'s rows (b, n, 768) -> (b, n, D_v) first tokens, for any n patches.
    fn stem(&self, input: &Tensor) -> Result<Tensor> {
        match &self.patch_embed {
            PatchEmbed::Linear(linear) => linear.forward(input),
            PatchEmbed::Hmlp { levels, norms } => {
                let (b, n, _) = input.dims3()?;
                let x = input.reshape((b, n, 4, 4, ()))?;
                let x = gelu_tanh(&norms[0].forward(&levels[0].forward(&x)?)?)?; // (b, n, 4, 4, h)
                let x = x.reshape((b, n, 4, ()))?; // the four 4x4 blocks of each 8x8 side by side
                let x = gelu_tanh(&norms[1].forward(&levels[1].forward(&x)?)?)?; // (b, n, 4, h)
                levels[2].forward(&x.reshape((b, n, ()))?)
            }
        }
    }

    /// Every linear layer, for `Linear::pack`.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut all: Vec<&mut Linear> = match &mut self.patch_embed {
            PatchEmbed::Linear(linear) => vec![linear],
            PatchEmbed::Hmlp { levels, .. } => levels.iter_mut().collect(),
        };
        all.extend(self.blocks.iter_mut().flat_map(Block::linears_mut));
        all
    }

    fn check_pixels(&self, pixels: &Tensor) -> Result<usize> {
        let (b, c, h, w) = pixels.dims4()?;
        let size = self.grid.image_size;
        if c != 3 || h != size || w != size {
            candle_core::bail!("vision encoder expects (b, 3, {size}, {size}) pixels, got {:?}", pixels.dims());
        }
        Ok(b)
    }

    pub fn forward(&self, pixels: &Tensor, want_attentions: bool) -> Result<VisionOutput> {
        let b = self.check_pixels(pixels)?;
        let patches = self.embed_patches(pixels)?; // (b, 196, D_v)
        let x = match &self.cls_token {
            Some(cls) => Tensor::cat(&[&cls.broadcast_as((b, 1, self.width))?, &patches], 1)?, // (b, 197, D_v)
            None => patches,
        };
        self.blocks_forward(x.broadcast_add(&self.pos_embed)?, want_attentions, self.grid.num_patches())
    }

    /// The encoder on some of each image's patches only, the others dropped before the stem (as
    /// FLIP, Li et al., 2023, trains CLIP on half the patches for twice the images per second):
    /// `keep[i]` lists image i's kept patches, the same number for every image. Each kept patch
    /// keeps its own position, so the encoder learns the weights it uses on the whole grid.
    /// Returns patch features (b, k, D_v), in `keep`'s order.
    pub fn forward_kept(&self, pixels: &Tensor, keep: &[Vec<u32>]) -> Result<VisionOutput> {
        let b = self.check_pixels(pixels)?;
        let Some(cls_token) = &self.cls_token else { candle_core::bail!("forward_kept: the encoder has no CLS token to train with") };
        let (n, k) = (self.grid.num_patches(), keep.first().map_or(0, Vec::len));
        if keep.len() != b || keep.iter().any(|row| row.len() != k || row.iter().any(|&i| i as usize >= n)) {
            candle_core::bail!("forward_kept: every one of the {b} images needs the same number of patches, each below {n}");
        }
        let dev = pixels.device();
        let rows: Vec<u32> = keep.iter().enumerate().flat_map(|(i, row)| row.iter().map(move |&p| (i * n) as u32 + p)).collect();
        let rows = Tensor::new(rows.as_slice(), dev)?;
        let input = self.stem_input(pixels)?;
        let input = input.reshape((b * n, ()))?.index_select(&rows, 0)?.reshape((b, k, ()))?;
        let positions = self.pos_embed.narrow(1, 1, n)?.squeeze(0)?; // (196, D_v)
        let positions = positions.index_select(&Tensor::new(keep.concat().as_slice(), dev)?, 0)?.reshape((b, k, self.width))?;
        let patches = (self.stem(&input)? + positions)?;
        let cls = cls_token.broadcast_add(&self.pos_embed.narrow(1, 0, 1)?)?.broadcast_as((b, 1, self.width))?;
        self.blocks_forward(Tensor::cat(&[&cls, &patches], 1)?, false, k)
    }

    /// The blocks and final LayerNorm over [CLS, patch tokens] (b, 1 + n, D_v), or the patch
    /// tokens alone (b, n, D_v).
    fn blocks_forward(&self, x: Tensor, want_attentions: bool, n: usize) -> Result<VisionOutput> {
        let (x, attentions) = run_blocks(&self.blocks, x, None, None, None, want_attentions)?;
        let x = self.ln_post.forward(&x)?;
        let cls = self.cls_token.is_some() as usize;
        Ok(VisionOutput {
            patch_features: x.narrow(1, cls, n)?,
            cls: if cls == 1 { Some(x.narrow(1, 0, 1)?.squeeze(1)?) } else { None },
            attentions,
        })
    }
}
