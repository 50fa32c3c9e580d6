#![cfg(not(target_arch = "wasm32"))]
//! Stage a's region-level pieces: which patches an object's pooled feature averages, the
//! appearance table, and the standardisation in front of the projections.

use candle_core::{Device, Tensor};
use vlm_explainer::train::clip::{appearance_index, appearance_phrases, appearances, kept_patches, object_regions, standardize};
use vlm_explainer::infer::explainer::Explainer;
use vlm_explainer::infer::sampling::Rng;
use vlm_explainer::model::patch_grid::PatchGrid;
use vlm_explainer::shapes_world::{Lang, Scene, Size};

#[test]
fn an_object_region_is_the_mean_of_the_patches_under_its_box() -> candle_core::Result<()> {
    let grid = PatchGrid::new(224, 16);
    let scenes: Vec<Scene> = (0..8u64).map(Scene::generate).collect();
    // Feature of patch i in scene s = (s, i): the pooled value is the mean patch index.
    let (n, dev) = (grid.num_patches(), Device::Cpu);
    let mut values = Vec::new();
    for s in 0..scenes.len() {
        for i in 0..n {
            values.extend([s as f32, i as f32]);
        }
    }
    let features = Tensor::from_vec(values, (scenes.len(), n, 2), &dev)?;
    let regions: Vec<Vec<f32>> = object_regions(&features, &grid, &scenes)?.to_vec2()?;
    let mut k = 0;
    for (s, scene) in scenes.iter().enumerate() {
        for (object, &(cx, cy)) in scene.objects.iter().zip(&scene.centres) {
            let r = object.size.radius();
            let under: Vec<usize> = (0..n)
                .filter(|&i| {
                    let rect = grid.rect(i);
                    let (px, py) = (rect.x as f32 + 8.0, rect.y as f32 + 8.0);
                    (px - cx).abs() <= r && (py - cy).abs() <= r
                })
                .collect();
            // A big shape's box (52 px) always holds patch centres on both axes; a small one's
            // (28 px) at least one on each.
            assert!(under.len() >= if object.size == Size::Big { 9 } else { 1 }, "{under:?}");
            let mean = under.iter().sum::<usize>() as f32 / under.len() as f32;
            assert!((regions[k][0] - s as f32).abs() < 1e-4);
            assert!((regions[k][1] - mean).abs() < 1e-3, "object {k}: {} vs {mean}", regions[k][1]);
            k += 1;
        }
    }
    assert_eq!(k, regions.len());
    Ok(())
}

#[test]
fn every_appearance_has_one_row_and_its_own_phrase() {
    let all = appearances();
    assert_eq!(all.len(), 5 * 6 * 2);
    for (i, object) in all.iter().enumerate() {
        assert_eq!(appearance_index(object), i);
    }
    for lang in Lang::ALL {
        let phrases = appearance_phrases(lang);
        let distinct: std::collections::HashSet<_> = phrases.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{lang:?}");
    }
    assert_eq!(appearance_phrases(Lang::En)[0], "big red circle");
    assert_eq!(appearance_phrases(Lang::Zh)[0], "红色的大圆形");
}

#[test]
fn standardised_columns_have_mean_zero_and_variance_one() -> candle_core::Result<()> {
    let x = Tensor::new(&[[1f32, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 20.0]], &Device::Cpu)?;
    let y = standardize(&x)?;
    let mean: Vec<f32> = y.mean(0)?.to_vec1()?;
    let var: Vec<f32> = y.sqr()?.mean(0)?.to_vec1()?;
    for j in 0..2 {
        assert!(mean[j].abs() < 1e-5 && (var[j] - 1.0).abs() < 1e-3, "column {j}: {} {}", mean[j], var[j]);
    }
    Ok(())
}

#[test]
fn kept_patches_hold_every_patch_under_an_object_and_as_many_as_asked() -> candle_core::Result<()> {
    let grid = PatchGrid::new(224, 16);
    let mut rng = Rng::new(7);
    for seed in 0..20u64 {
        let scene = Scene::generate(seed);
        let all_under = kept_patches(&grid, &scene, 0, &mut rng); // objects' patches alone
        assert!(!all_under.is_empty());
        let kept = kept_patches(&grid, &scene, 98, &mut rng);
        assert_eq!(kept.len(), 98.max(all_under.len()), "scene {seed}");
        assert!(all_under.iter().all(|p| kept.contains(p)), "scene {seed}: an object's patch was dropped");
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "scene {seed}: not in grid order, or a patch twice");
    }
    Ok(())
}

#[test]
fn the_encoder_on_kept_patches_is_the_whole_encoder_when_all_are_kept() -> candle_core::Result<()> {
    let e = Explainer::from_preset("micro", 0)?;
    let encoder = &e.vlm.vision_encoder;
    let pixels = Tensor::randn(0f32, 1.0, (2, 3, 224, 224), &Device::Cpu)?;
    let whole = encoder.forward(&pixels, false)?;
    let all: Vec<u32> = (0..196).collect();
    let kept = encoder.forward_kept(&pixels, &[all.clone(), all])?;
    let diff = (whole.patch_features - kept.patch_features)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(diff < 1e-4, "patch features differ by {diff}");
    // Patches 3 and 40 alone: two tokens each, and a differing count is refused.
    let two = encoder.forward_kept(&pixels, &[vec![3, 40], vec![0, 195]])?;
    assert_eq!(two.patch_features.dims(), &[2, 2, 32]);
    assert!(encoder.forward_kept(&pixels, &[vec![3, 40], vec![0]]).is_err());
    assert!(encoder.forward_kept(&pixels, &[vec![3, 196], vec![0, 1]]).is_err());
    Ok(())
}
