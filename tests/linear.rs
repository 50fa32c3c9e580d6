//! The linear layer's frozen-weight assumption (`ops::linear`): a packed weight is never used
//! stale. Natively, with the browser's kernels turned on, so that the packed path runs here too:
//! a weight that is a variable is never packed (a change to it is seen at once), and the frozen
//! parts of a model in training are copies that a write to their variables cannot reach.
#![cfg(not(target_arch = "wasm32"))] // native: plain `wasm-pack test` builds every test file for wasm32

use std::sync::Mutex;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use vlm_explainer::infer::sampling::Rng;
use vlm_explainer::model::config::Config;
use vlm_explainer::ops::linear::Linear;
use vlm_explainer::ops::set_browser_kernels;
use vlm_explainer::train::freeze::{Part, PartlyFrozen};
use vlm_explainer::train::init;

const CPU: Device = Device::Cpu;

/// The browser's kernels are a switch for the whole process: the tests here take turns.
static KERNELS: Mutex<()> = Mutex::new(());

fn random(rng: &mut Rng, dims: &[usize]) -> Tensor {
    let n = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect();
    Tensor::from_vec(values, dims, &CPU).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn the_packed_product_equals_candles_and_a_variable_is_never_packed() {
    let _turn = KERNELS.lock().unwrap();
    let mut rng = Rng::new(11);
    let (x, w, b) = (random(&mut rng, &[5, 24]), random(&mut rng, &[10, 24]), random(&mut rng, &[10]));
    let want = x.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();

    set_browser_kernels(true);
    let frozen = Linear::new(w.clone(), Some(b.clone()));
    let packed = frozen.forward(&x).unwrap();
    assert!(max_diff(&packed, &want) < 1e-5, "packed product {} off candle's", max_diff(&packed, &want));

    // A variable's values may change after a first product: the next one must use the new ones.
    let var = Var::from_tensor(&w).unwrap();
    let layer = Linear::new(var.as_tensor().clone(), Some(b.clone()));
    let first = layer.forward(&x).unwrap();
    assert!(max_diff(&first, &want) < 1e-5);
    let w2 = random(&mut rng, &[10, 24]);
    var.set(&w2).unwrap();
    let second = layer.forward(&x).unwrap();
    let want2 = x.matmul(&w2.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
    set_browser_kernels(false);
    assert!(max_diff(&second, &want2) < 1e-5, "a changed variable was used stale: {} off", max_diff(&second, &want2));
}

#[test]
fn a_frozen_part_keeps_the_values_it_was_built_with_and_a_trainable_part_follows_its_variables() {
    let _turn = KERNELS.lock().unwrap();
    set_browser_kernels(true);
    let config = Config::micro(263);
    let varmap = VarMap::new();
    vlm_explainer::Vlm::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &CPU)).unwrap();
    init::init_seeded(&varmap, 3).unwrap();
    let model = PartlyFrozen::new(&config, &varmap, &[Part::Projector], &CPU).unwrap();
    let mut rng = Rng::new(5);
    let pixels = random(&mut rng, &[1, 3, 224, 224]);
    // The first run packs the frozen encoder's weights.
    let before = model.vlm.encode_image(&pixels, false).unwrap().patch_features;
    let features = before.detach();
    let tokens_before = model.vlm.project(&features).unwrap();

    // Writes to a frozen part's variables and to the projector's (a training step's kind).
    let data = varmap.data().lock().unwrap();
    for (name, var) in data.iter() {
        if name.starts_with("vision_encoder.blocks.0.") || name.starts_with("projector.") {
            var.set(&(var.as_tensor() * 2.0).unwrap()).unwrap();
        }
    }
    drop(data);
    let after = model.vlm.encode_image(&pixels, false).unwrap().patch_features;
    let tokens_after = model.vlm.project(&features).unwrap();
    set_browser_kernels(false);
    assert_eq!(max_diff(&before, &after), 0.0, "the frozen encoder saw a write to its variables");
    assert!(max_diff(&tokens_before, &tokens_after) > 1e-3, "the trainable projector did not follow its variables");

    // And what the frozen encoder computes is what a model built on those values computes.
    let fresh = PartlyFrozen::new(&config, &varmap, &[Part::VisionEncoder], &CPU).unwrap();
    let fresh_features = fresh.vlm.encode_image(&pixels, false).unwrap().patch_features;
    assert!(max_diff(&fresh_features, &after) > 1e-3, "doubling block 0 changed nothing: the check above proves nothing");
}

#[test]
fn a_model_packed_for_inference_computes_what_the_plain_one_does_and_gives_its_weights_back() {
    let _turn = KERNELS.lock().unwrap();
    let config = Config::micro(263);
    let varmap = VarMap::new();
    vlm_explainer::Vlm::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &CPU)).unwrap();
    init::init_seeded(&varmap, 9).unwrap();
    let tensors: std::collections::HashMap<String, Tensor> =
        varmap.data().lock().unwrap().iter().map(|(n, v)| (n.clone(), v.as_tensor().copy().unwrap())).collect();
    let build = || vlm_explainer::Vlm::new(&config, VarBuilder::from_tensors(tensors.clone(), DType::F32, &CPU)).unwrap();
    let mut rng = Rng::new(2);
    let pixels = random(&mut rng, &[1, 3, 224, 224]);
    let run = |vlm: &vlm_explainer::Vlm| {
        let features = vlm.encode_image(&pixels, false).unwrap().patch_features;
        let tokens = vlm.project(&features).unwrap();
        let hidden = vlm.llm.forward(&tokens, None, false).unwrap().hidden;
        vlm.llm.logits(&hidden).unwrap()
    };
    let plain = build();
    let want = run(&plain);
    set_browser_kernels(true);
    let mut packed = build();
    packed.pack_for_inference().unwrap();
    let got = run(&packed);
    let unpacked = packed.projector.first_weight().unwrap();
    set_browser_kernels(false);
    assert!(max_diff(&got, &want) < 1e-4, "packed model {} off the plain one", max_diff(&got, &want));
    assert_eq!(max_diff(&unpacked, &tensors["projector.fc1.weight"]), 0.0, "the weight comes back exactly");
}
