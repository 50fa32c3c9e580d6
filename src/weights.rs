//! Where weights come from and go: seeded initialisation (same numbers natively and in the
//! browser), safetensors bytes in (f32, f16 or bf16 stored), safetensors bytes out.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::config::Config;
use crate::sampling::Rng;
use crate::vlm::Vlm;

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
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    for (name, var) in data.iter() {
        // LayerNorms (ones and zeros) and CLIP's temperature (log 1/0.07) keep the values their
        // constructors gave them.
        if name.contains(".ln_") || name.ends_with("logit_scale") {
            continue;
        }
        let shape = var.shape().clone();
        let values: Vec<f32> = if name.ends_with(".bias") {
            vec![0.0; shape.elem_count()]
        } else {
            let mut rng = Rng::new(name_seed(name, seed));
            (0..shape.elem_count()).map(|_| (rng.normal() * INIT_STD) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

/// A model with weights drawn from `seed`, and the variables behind it (for training or saving).
pub fn seeded(config: &Config, seed: u64, device: &Device) -> Result<(Vlm, VarMap)> {
    let varmap = VarMap::new();
    let vlm = Vlm::new(config, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    init_seeded(&varmap, seed)?;
    Ok((vlm, varmap))
}

/// A model from safetensors bytes. Tensors may be stored as f32, f16 or bf16; they are widened to
/// f32 once, here. Errors name the file and the tensor.
pub fn load(config: &Config, weights: Vec<u8>, device: &Device) -> Result<Vlm> {
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, device)
        .map_err(|e| candle_core::Error::Msg(format!("model.safetensors: {e}")))?;
    Vlm::new(config, vb).map_err(|e| candle_core::Error::Msg(format!("model.safetensors: {e}")))
}

/// Every variable as safetensors bytes, stored as `dtype` (f16 halves the file).
pub fn to_safetensors(varmap: &VarMap, dtype: DType) -> Result<Vec<u8>> {
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    let tensors = data
        .iter()
        .map(|(name, var)| Ok((name.clone(), var.as_tensor().to_dtype(dtype)?)))
        .collect::<Result<HashMap<String, Tensor>>>()?;
    safetensors::serialize(&tensors, None).map_err(|e| candle_core::Error::Msg(format!("safetensors: {e}")))
}
