#![cfg(not(target_arch = "wasm32"))]
//! Stage a's region-level pieces: which patches an object's pooled feature averages, the
//! appearance table, and the standardisation in front of the projections.

use candle_core::{Device, Tensor};
use vlm_explainer::clip::{appearance_index, appearance_phrases, appearances, object_regions, standardize};
use vlm_explainer::patch_grid::PatchGrid;
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
