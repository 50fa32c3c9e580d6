//! Seeded initialisation: the same numbers natively and in the browser, for every weight of a
//! model of any preset (the starting point of training, and the page's untrained presets).

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::infer::sampling::Rng;
use crate::model::config::Config;
use crate::model::vlm::Vlm;

/// Standard deviation of every weight matrix and embedding at initialisation (GPT-2, nanoGPT).
pub const INIT_STD: f64 = 0.02;

fn name_seed(name: &str, seed: u64) -> u64 {
    // FNV-1a of the name, so each tensor's numbers do not depend on the order tensors are made.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    hash ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Sets every variable from `seed`: biases to 0, every weight to N(0, 0.02); LayerNorms and
/// CLIP's temperature keep their constructors' values.
pub fn init_seeded(varmap: &VarMap, seed: u64) -> Result<()> {
    init_seeded_where(varmap, seed, "")
}

/// `init_seeded` for the variables whose names start with `prefix` only (e.g. `projector.`);
/// every other variable keeps its value.
pub fn init_seeded_where(varmap: &VarMap, seed: u64, prefix: &str) -> Result<()> {
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    for (name, var) in data.iter().filter(|(name, _)| name.starts_with(prefix)) {
        // LayerNorms (ones and zeros) and CLIP's temperature (log 1/0.07) keep the values their
        // constructors gave them.
        if name.contains(".ln_") || name.ends_with("logit_scale") {
            continue;
        }
        let shape = var.shape().clone();
        let values: Vec<f32> = if name.ends_with(".bias") {
            vec![0.0; shape.elem_count()]
        } else if name.starts_with("vision_encoder.stem.") {
            // Scaled to the fan-in (LeCun), so the stem's output starts at about the size of
            // the positions it is added to rather than 0.02 of it.
            let fan_in = shape.dims().last().copied().unwrap_or(1) as f64;
            let mut rng = Rng::new(name_seed(name, seed));
            (0..shape.elem_count()).map(|_| (rng.normal() / fan_in.sqrt()) as f32).collect()
        } else if name == "vision_encoder.pos_embed" {
            let dims = shape.dims();
            patch_positions_sincos(dims[1] - 1, dims[2])
        } else {
            let mut rng = Rng::new(name_seed(name, seed));
            (0..shape.elem_count()).map(|_| (rng.normal() * INIT_STD) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

/// A 3x3 projector (`mlp2x_gelu_3x3`) starts as the plain `mlp2x_gelu`: the columns of its first
/// layer that read the 8 neighbours are set to 0, those of the patch itself keep their values.
/// Each token first carries its own patch only, as in the other kinds, and takes in its
/// neighbours as far as training finds them useful; drawn at random like the rest, the 8
/// neighbours would outweigh the patch itself 8 to 1 from the first step.
pub fn zero_projector_neighbours(varmap: &VarMap, config: &Config) -> Result<()> {
    if config.projector.kind != crate::model::config::ProjectorKind::Mlp2xGelu3x3 {
        return Ok(());
    }
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    let Some(fc1) = data.get("projector.fc1.weight") else { return Ok(()) };
    let (_, cols) = fc1.dims2()?;
    let width = cols / 9;
    let mut keep = vec![0f32; cols];
    keep[4 * width..5 * width].fill(1.0); // the 5th of the 9, the patch itself
    let mask = Tensor::from_vec(keep, (1, cols), fc1.device())?;
    fc1.set(&fc1.as_tensor().broadcast_mul(&mask)?.contiguous()?)?;
    Ok(())
}

/// The vision encoder's starting positions (1 + patches rows of `width`): the fixed 2-D sine-cosine
/// table of MAE (He et al., 2022), a row of zeros for CLS. Half the columns encode the patch's
/// row, half its column, each as sines and cosines at geometric frequencies, so from the first
/// step nearby patches have similar positions: a ViT learning from a few thousand images need
/// not discover the grid's geometry first. The table stays trainable.
pub fn patch_positions_sincos(patches: usize, width: usize) -> Vec<f32> {
    let side = (patches as f64).sqrt().round() as usize;
    let quarter = width / 4;
    let mut values = vec![0f32; (patches + 1) * width];
    for p in 0..patches {
        let row = &mut values[(p + 1) * width..(p + 2) * width];
        for (axis, coord) in [(p / side) as f64, (p % side) as f64].into_iter().enumerate() {
            for k in 0..quarter {
                let angle = coord / 10000f64.powf(k as f64 / quarter as f64);
                row[axis * 2 * quarter + k] = angle.sin() as f32;
                row[axis * 2 * quarter + quarter + k] = angle.cos() as f32;
            }
        }
    }
    values
}

/// A model with weights drawn from `seed`, and the variables behind it (for training or saving).
pub fn seeded(config: &Config, seed: u64, device: &Device) -> Result<(Vlm, VarMap)> {
    let varmap = VarMap::new();
    let vlm = Vlm::new(config, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    init_seeded(&varmap, seed)?;
    Ok((vlm, varmap))
}
