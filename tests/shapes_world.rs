#![cfg(not(target_arch = "wasm32"))]
//! ShapesWorld's checks: a seed names one scene, the picture shows what the texts say, captions
//! read back into the objects they came from, and the BPE trained on the texts is lossless.

use std::collections::HashSet;

use vlm_explainer::text::prompt::Task;
use vlm_explainer::shapes_world::{
    caption_prompt, parse_caption, Background, Cell, Colour, Lang, Object, Sample, Scene, Shape, Size, IMAGE_SIZE,
};
use vlm_explainer::text::tokenizer::{TextTokenizer, SPECIAL_TOKENS};
use vlm_explainer::train::tokenizer_train::{shapes_world_corpus, train_bpe};

const SEEDS: std::ops::Range<u64> = 0..2000;

fn pixel(rgb: &[u8], x: usize, y: usize) -> [u8; 3] {
    let i = (y * IMAGE_SIZE + x) * 3;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

#[test]
fn the_same_seed_gives_the_same_scene_and_another_seed_does_not() {
    let (a, b) = (Scene::generate(7), Scene::generate(7));
    assert_eq!(a, b);
    assert_eq!(a.render(), b.render());
    for lang in Lang::ALL {
        assert_eq!(a.samples(lang), b.samples(lang));
    }
    let other = Scene::generate(8);
    assert_ne!(a.render(), other.render());
    let distinct: HashSet<Vec<u8>> = (0..50).map(|s| Scene::generate(s).render()).collect();
    assert_eq!(distinct.len(), 50, "50 seeds should give 50 different images");
}

#[test]
fn a_rendered_scene_is_224x224_rgb_and_a_prepared_image() {
    let scene = Scene::generate(3);
    assert_eq!(scene.render().len(), 224 * 224 * 3);
    let image = scene.to_prepared_image();
    assert_eq!((image.size, image.source_size), (224, (224, 224)));
    assert_eq!(image.rgb, scene.render());
}

#[test]
fn scenes_hold_1_to_3_objects_in_distinct_cells_in_reading_order() {
    for seed in SEEDS {
        let scene = Scene::generate(seed);
        let n = scene.objects.len();
        assert!((1..=3).contains(&n), "seed {seed}: {n} objects");
        assert_eq!(scene.centres.len(), n);
        let cells: Vec<usize> = scene.objects.iter().map(|o| o.cell.index()).collect();
        assert!(
            cells.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: cells {cells:?} not distinct and in reading order"
        );
        for (object, &(x, y)) in scene.objects.iter().zip(&scene.centres) {
            // The shape's box (half-side = radius) stays inside its own cell.
            let r = object.size.radius();
            let (col, row) = ((x - r) / (224.0 / 3.0), (y - r) / (224.0 / 3.0));
            let (col_end, row_end) = ((x + r) / (224.0 / 3.0), (y + r) / (224.0 / 3.0));
            assert_eq!((col.floor() as usize, row.floor() as usize), (object.cell.col(), object.cell.row()));
            assert_eq!(
                (col_end.floor() as usize, row_end.floor() as usize),
                (object.cell.col(), object.cell.row())
            );
        }
    }
}

#[test]
fn every_shape_colour_size_cell_and_count_occurs_in_2000_seeds() {
    let scenes: Vec<Scene> = SEEDS.map(Scene::generate).collect();
    let objects: Vec<_> = scenes.iter().flat_map(|s| s.objects.iter().copied()).collect();
    for shape in Shape::ALL {
        assert!(objects.iter().any(|o| o.shape == shape), "{shape:?} never drawn");
    }
    for colour in Colour::ALL {
        assert!(objects.iter().any(|o| o.colour == colour), "{colour:?} never drawn");
    }
    for size in Size::ALL {
        assert!(objects.iter().any(|o| o.size == size), "{size:?} never drawn");
    }
    for cell in Cell::ALL {
        assert!(objects.iter().any(|o| o.cell == cell), "{cell:?} never used");
    }
    for n in 1..=3 {
        assert!(scenes.iter().any(|s| s.objects.len() == n), "no scene with {n} objects");
    }
}

#[test]
fn the_pixel_at_each_objects_centre_has_the_objects_colour() {
    for seed in 0..300 {
        let scene = Scene::generate(seed);
        let rgb = scene.render();
        for (object, &(x, y)) in scene.objects.iter().zip(&scene.centres) {
            let got = pixel(&rgb, x as usize, y as usize);
            let want = object.colour.rgb();
            let close = got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 2);
            assert!(close, "seed {seed}: {object:?} at ({x:.1}, {y:.1}) is {got:?}, expected {want:?}");
        }
        // Every background pixel (outside all objects' boxes) differs from every object colour by
        // 60+ in some channel, so no object can blend into what is behind it.
        let outside = |x: usize, y: usize| {
            scene.objects.iter().zip(&scene.centres).all(|(o, &(cx, cy))| {
                let reach = o.size.radius() + 2.0;
                (x as f32 - cx).abs() > reach || (y as f32 - cy).abs() > reach
            })
        };
        for y in 0..IMAGE_SIZE {
            for x in (0..IMAGE_SIZE).filter(|&x| outside(x, y)) {
                let background = pixel(&rgb, x, y);
                for colour in Colour::ALL {
                    let contrast = background.iter().zip(colour.rgb()).map(|(&a, b)| a.abs_diff(b)).max();
                    assert!(
                        contrast >= Some(60),
                        "seed {seed}: background {background:?} at ({x}, {y}) is close to {colour:?}"
                    );
                }
            }
        }
    }
}

fn object(shape: Shape, colour: Colour, size: Size, cell: Cell) -> Object {
    Object { shape, colour, size, cell }
}

/// A scene built by hand, drawn at its cells' centres.
fn scene_of(objects: Vec<Object>) -> Scene {
    let centres = objects.iter().map(|o| o.cell.centre()).collect();
    Scene { seed: 0, objects, centres, background: Background::Plain([200, 200, 200]) }
}

#[test]
fn captions_and_answers_are_the_fixed_sentences() {
    let two = scene_of(vec![
        object(Shape::Circle, Colour::Red, Size::Big, Cell::TopLeft),
        object(Shape::Square, Colour::Blue, Size::Small, Cell::Center),
    ]);
    assert_eq!(
        two.caption(Lang::En),
        "a big red circle in the top left and a small blue square in the center"
    );
    assert_eq!(two.caption(Lang::Zh), "左上角有一个红色的大圆形，中间有一个蓝色的小正方形");
    let three = scene_of(vec![
        object(Shape::Star, Colour::Yellow, Size::Small, Cell::Top),
        object(Shape::Cross, Colour::Purple, Size::Big, Cell::Left),
        object(Shape::Triangle, Colour::Orange, Size::Big, Cell::BottomRight),
    ]);
    assert_eq!(
        three.caption(Lang::En),
        "a small yellow star at the top, a big purple cross on the left and a big orange triangle in the bottom right"
    );
    assert_eq!(
        three.caption(Lang::Zh),
        "上方有一个黄色的小星形，左边有一个紫色的大十字形，右下角有一个橙色的大三角形"
    );

    let pair = |q: &str, a: &str| (q.to_string(), a.to_string());
    let en = two.questions(Lang::En);
    let zh = two.questions(Lang::Zh);
    for expected in [
        pair("what colour is the circle?", "red"),
        pair("where is the circle?", "top left"),
        pair("where is the square?", "center"),
        pair("how many shapes are there?", "two"),
        pair("is there a square?", "yes"),
        pair("is there a star?", "no"),
    ] {
        assert!(en.contains(&expected), "missing {expected:?} in {en:?}");
    }
    for expected in [
        pair("圆形是什么颜色？", "红色"),
        pair("圆形在哪里？", "左上角"),
        pair("有几个图形？", "两个"),
        pair("有正方形吗？", "有"),
        pair("有星形吗？", "没有"),
    ] {
        assert!(zh.contains(&expected), "missing {expected:?} in {zh:?}");
    }
    // Two of each unique shape's questions, one count, one "is there" per shape.
    assert_eq!(en.len(), 2 * 2 + 1 + Shape::ALL.len());

    for lang in Lang::ALL {
        let samples = two.samples(lang);
        assert_eq!(
            (samples[0].prompt_task, samples[0].prompt.as_str()),
            (Task::Caption, caption_prompt(lang))
        );
        assert_eq!(samples[0].answer, two.caption(lang));
        assert_eq!(samples.len(), 1 + two.questions(lang).len());
        assert!(samples[1..].iter().all(|s| s.prompt_task == Task::Question));
    }
}

#[test]
fn colour_and_place_questions_only_ask_about_shapes_that_occur_once() {
    let mut asked_about_a_repeated_shape = false;
    for seed in SEEDS {
        let scene = Scene::generate(seed);
        let qa = scene.questions(Lang::En);
        for object in &scene.objects {
            let q = format!("what colour is the {}?", object.shape.name(Lang::En));
            let w = format!("where is the {}?", object.shape.name(Lang::En));
            let colour = qa.iter().find(|(question, _)| *question == q).map(|(_, a)| a.clone());
            let place = qa.iter().find(|(question, _)| *question == w).map(|(_, a)| a.clone());
            if scene.count(object.shape) == 1 {
                assert_eq!(colour.as_deref(), Some(object.colour.name(Lang::En)));
                assert_eq!(place.as_deref(), Some(object.cell.name(Lang::En)));
                let zh = scene.questions(Lang::Zh);
                let zq = format!("{}在哪里？", object.shape.name(Lang::Zh));
                assert!(zh.contains(&(zq, object.cell.name(Lang::Zh).to_string())));
            } else {
                asked_about_a_repeated_shape = true;
                assert_eq!((colour, place), (None, None), "seed {seed}: asked about a repeated shape");
            }
        }
    }
    assert!(asked_about_a_repeated_shape, "no scene in 2000 repeated a shape, so this test checked nothing");
}

#[test]
fn captions_parse_back_into_their_objects_in_both_languages() {
    for seed in SEEDS {
        let scene = Scene::generate(seed);
        for lang in Lang::ALL {
            let caption = scene.caption(lang);
            assert_eq!(parse_caption(&caption, lang), Some(scene.objects.clone()), "seed {seed}: {caption}");
        }
    }
    assert_eq!(
        parse_caption("a big red circle in the top left and a small blue square in the center", Lang::En)
            .map(|objects| objects.iter().map(|o| (o.shape, o.colour, o.size, o.cell)).collect::<Vec<_>>()),
        Some(vec![
            (Shape::Circle, Colour::Red, Size::Big, Cell::TopLeft),
            (Shape::Square, Colour::Blue, Size::Small, Cell::Center),
        ])
    );
    assert_eq!(
        parse_caption("左上角有一个红色的大圆形，中间有一个蓝色的小正方形", Lang::Zh).map(|o| o.len()),
        Some(2)
    );
    assert_eq!(parse_caption("a big red circle in the middle", Lang::En), None);
    assert_eq!(parse_caption("a huge red circle in the top left", Lang::En), None);
    assert_eq!(parse_caption("左上角有一个粉色的大圆形", Lang::Zh), None);
}

#[test]
fn a_bpe_trained_on_2000_scenes_is_lossless_and_compresses_captions() {
    let tokenizer = train_bpe(shapes_world_corpus(SEEDS), 512).unwrap();
    assert!(tokenizer.vocab_size() <= 512 && tokenizer.vocab_size() > 256 + SPECIAL_TOKENS.len());
    let json = tokenizer.to_json().unwrap();
    let again = train_bpe(shapes_world_corpus(SEEDS), 512).unwrap();
    assert_eq!(again.to_json().unwrap(), json, "the same corpus must give the same tokenizer");
    let reloaded = TextTokenizer::from_json(json.as_bytes()).unwrap();
    assert_eq!(reloaded.special().unwrap(), tokenizer.special().unwrap());
    let s = tokenizer.special().unwrap();
    for (id, name) in [s.bos, s.eos, s.pad, s.image, s.caption, s.question, s.answer].into_iter().zip(SPECIAL_TOKENS) {
        assert_eq!(tokenizer.piece(id), name, "{name} is one token");
    }
    // Text that spells a special token stays text: only the prompt builder puts special ids in.
    assert!(!tokenizer.encode("<|bos|>").unwrap().contains(&s.bos));

    for seed in 5000..5200 {
        let scene = Scene::generate(seed);
        for lang in Lang::ALL {
            for sample in scene.samples(lang) {
                for text in [sample.prompt, sample.answer] {
                    let ids = reloaded.encode(&text).unwrap();
                    assert_eq!(reloaded.decode(&ids).unwrap(), text);
                }
            }
        }
    }
    // Text it never saw still round-trips: every byte has a token.
    let unseen = "Zebra ünïcödé 🦀 斑马";
    assert_eq!(tokenizer.decode(&tokenizer.encode(unseen).unwrap()).unwrap(), unseen);

    let en = "a big red circle in the top left, a small blue square in the center and a big green star at the bottom";
    let zh = "左上角有一个红色的大圆形，中间有一个蓝色的小正方形，下方有一个绿色的大星形";
    let en_ratio = en.len() as f32 / tokenizer.encode(en).unwrap().len() as f32;
    let zh_ratio = zh.len() as f32 / tokenizer.encode(zh).unwrap().len() as f32;
    println!("BPE (vocab {}): English caption {en_ratio:.2} bytes/token, Chinese caption {zh_ratio:.2} bytes/token", tokenizer.vocab_size());
    assert!(en_ratio > 3.0, "English caption only {en_ratio:.2} bytes per token");
    assert!(zh_ratio > 3.0, "Chinese caption only {zh_ratio:.2} bytes per token");
}

#[test]
fn train_bpe_refuses_a_vocab_smaller_than_the_bytes_and_specials() {
    let err = train_bpe(shapes_world_corpus(0..10), 100).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("at least 263"), "{err}");
}

#[test]
fn a_training_row_holds_both_captions_then_the_questions_asked_of_the_scene() {
    use vlm_explainer::infer::sampling::Rng;
    let scene = Scene::generate(11);
    let asked: Vec<Sample> = [Lang::En, Lang::Zh].into_iter().flat_map(|l| scene.samples(l).into_iter().skip(1)).collect();
    let mut rng = Rng::new(5);
    assert_eq!(scene.turns(0, &mut rng), vec![scene.samples(Lang::En).swap_remove(0), scene.samples(Lang::Zh).swap_remove(0)]);
    let turns = scene.turns(40, &mut rng);
    assert_eq!(turns.len(), 42);
    assert!(turns[2..].iter().all(|t| t.prompt_task == Task::Question && asked.contains(t)), "a question not of this scene");
    let languages: HashSet<bool> = turns[2..].iter().map(|t| t.prompt.is_ascii()).collect();
    assert_eq!(languages.len(), 2, "40 questions in one language only");
}
