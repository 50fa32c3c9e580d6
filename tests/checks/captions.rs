//! The caption scorer (`shapes_world::parse_caption` and `train::evaluate::Tally`, which score
//! the shipped model's eval.json and the training panel's held-out captions) fed deliberately
//! wrong captions of each kind, in both languages: each must read back as what it says, and
//! score right exactly where it is right. Shared by tests/caption_scoring.rs (native) and
//! tests/web.rs (the browser's training panel scores with the same code).

use vlm_explainer::shapes_world::{parse_caption, Background, Cell, Colour, Lang, Object, Scene, Shape, Size};
use vlm_explainer::train::evaluate::{LangScores, Tally};

fn object(shape: Shape, colour: Colour, size: Size, cell: Cell) -> Object {
    Object { shape, colour, size, cell }
}

/// A scene built by hand, drawn at its cells' centres.
fn scene_of(objects: Vec<Object>) -> Scene {
    let centres = objects.iter().map(|o| o.cell.centre()).collect();
    Scene { seed: 0, objects, centres, background: Background::Plain([200, 200, 200]) }
}

/// What `Scene::caption` writes for these objects: a wrong caption in the generator's own words.
fn caption_of(objects: &[Object], lang: Lang) -> String {
    scene_of(objects.to_vec()).caption(lang)
}

/// The scores of one caption: (exact, shape, colour, size, position, count), each 0 to 1.
type Scores = [f64; 6];

fn scores(s: &LangScores) -> Scores {
    [s.caption_exact, s.shape, s.colour, s.size, s.position, s.count]
}

/// One wrong (or right) caption, what it must read back as, and how it must score.
pub struct Case {
    pub name: String,
    pub lang: Lang,
    pub caption: String,
    /// What `parse_caption` must return: the objects the caption names, or `None` for text
    /// that is not (entirely) a caption.
    pub reads: Option<Vec<Object>>,
    pub expect: Scores,
}

/// The drawn scene: three objects that differ in every attribute but size (which has two values),
/// in reading order.
pub fn truth() -> Vec<Object> {
    vec![
        object(Shape::Circle, Colour::Red, Size::Big, Cell::TopLeft),
        object(Shape::Square, Colour::Blue, Size::Small, Cell::Center),
        object(Shape::Star, Colour::Green, Size::Big, Cell::BottomRight),
    ]
}

/// Every kind of wrong caption, in both languages, with its expected scores. The scorer compares
/// the i-th object said with the i-th drawn (both in reading order), counts a caption's objects
/// right when it names as many as were drawn, and an exact caption only when it is the sentence.
pub fn cases() -> Vec<Case> {
    let t = truth();
    let (third, two_thirds) = (1.0 / 3.0, 2.0 / 3.0);
    let with = |i: usize, change: &dyn Fn(&mut Object)| {
        let mut objects = t.clone();
        change(&mut objects[i]);
        objects
    };
    let mut out = vec![];
    for lang in Lang::ALL {
        let other = if lang == Lang::En { Lang::Zh } else { Lang::En };
        let said = |name: &str, objects: Vec<Object>, expect: Scores| Case {
            name: name.to_string(),
            lang,
            caption: caption_of(&objects, lang),
            reads: Some(objects),
            expect,
        };
        let garbage = |name: &str, caption: String| Case { name: name.to_string(), lang, caption, reads: None, expect: [0.0; 6] };
        out.extend([
            said("right", t.clone(), [1.0; 6]),
            // One attribute of the middle object wrong: that attribute scores 2 of 3, the rest all.
            said("wrong colour", with(1, &|o| o.colour = Colour::Yellow), [0.0, 1.0, two_thirds, 1.0, 1.0, 1.0]),
            said("wrong shape", with(1, &|o| o.shape = Shape::Cross), [0.0, two_thirds, 1.0, 1.0, 1.0, 1.0]),
            said("wrong size", with(1, &|o| o.size = Size::Big), [0.0, 1.0, 1.0, two_thirds, 1.0, 1.0]),
            // Still after the middle object in reading order, so the list keeps its order.
            said("wrong place", with(2, &|o| o.cell = Cell::BottomLeft), [0.0, 1.0, 1.0, 1.0, two_thirds, 1.0]),
            // The last object left out: two named for three drawn, and the third's attributes unsaid.
            said("missing object", t[..2].to_vec(), [0.0, two_thirds, two_thirds, two_thirds, two_thirds, 0.0]),
            // A fourth object in a free cell: the three drawn are said right, the count is wrong.
            said("extra object", [t.clone(), vec![object(Shape::Triangle, Colour::Orange, Size::Small, Cell::Bottom)]].concat(),
                [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]),
            // The right objects, the first said twice: 4 for 3, and everything after it one place
            // late, so only the first is compared with its own (the sizes differ there too).
            said("wrong count (an object said twice)", vec![t[0], t[0], t[1], t[2]], [0.0, third, third, third, third, 0.0]),
            // One object for three (a count of 1), right as far as it goes.
            said("wrong count (one of three)", t[..1].to_vec(), [0.0, third, third, third, third, 0.0]),
            // The right objects out of reading order: compared place by place, the first two are
            // each other's (sizes big/small swapped too), the third is right.
            said("out of order", vec![t[1], t[0], t[2]], [0.0, third, third, third, third, 1.0]),
            garbage("empty", String::new()),
            garbage("noise", "zq xv 12 !!".to_string()),
            garbage("not ShapesWorld's words", match lang {
                Lang::En => "a large crimson circle in the top left".to_string(),
                Lang::Zh => "左上角有一个深红色的大圆形".to_string(),
            }),
            // Cut off mid-word, as an answer stopped by the token limit is.
            garbage("cut short", { let c = caption_of(&t, lang); c.chars().take(c.chars().count() - 4).collect() }),
            // One good object and one broken one: the whole caption is refused, not half-scored.
            garbage("half broken", match lang {
                Lang::En => format!("{} and a big red blob in the center", caption_of(&t[..1], lang)),
                Lang::Zh => format!("{}，中间有一个红色的大斑点", caption_of(&t[..1], lang)),
            }),
            garbage("trailing full stop", caption_of(&t, lang) + if lang == Lang::En { "." } else { "。" }),
            garbage("repeated to the token limit", caption_of(&t, lang).repeat(3)),
            garbage("the other language", caption_of(&t, other)),
        ]);
        // The English joins: "and" may stand where ", " does (a slip on the joins still scores its
        // attributes, but is not the exact sentence).
        if lang == Lang::En {
            let [a, b, c] = [0, 1, 2].map(|i| caption_of(&t[i..=i], lang));
            out.push(Case { name: "joined by and only".into(), lang, caption: format!("{a} and {b} and {c}"), reads: Some(t.clone()), expect: [0.0, 1.0, 1.0, 1.0, 1.0, 1.0] });
        }
    }
    out
}

/// Runs every case; returns one line per case that reads or scores otherwise than it should.
pub fn wrong_scores() -> Vec<String> {
    let scene = scene_of(truth());
    let mut problems = vec![];
    for case in cases() {
        let label = format!("{:?} {}: {:?}", case.lang, case.name, case.caption);
        let read = parse_caption(&case.caption, case.lang);
        if read != case.reads {
            problems.push(format!("{label} reads as {read:?}, should read as {:?}", case.reads));
        }
        let mut tally = Tally::default();
        tally.caption(&scene, &case.caption, case.lang);
        let got = scores(&tally.scores());
        if got.iter().zip(case.expect).any(|(g, e)| (g - e).abs() > 1e-9) {
            problems.push(format!("{label} scores [exact, shape, colour, size, position, count] = {got:?}, should be {:?}", case.expect));
        }
    }
    // Scores add up over captions: the right caption and the wrong colour together.
    let mut tally = Tally::default();
    tally.caption(&scene, &scene.caption(Lang::En), Lang::En);
    tally.caption(&scene, &caption_of(&[truth()[0]], Lang::En), Lang::En);
    let got = scores(&tally.scores());
    let want = [0.5, 4.0 / 6.0, 4.0 / 6.0, 4.0 / 6.0, 4.0 / 6.0, 0.5];
    if got.iter().zip(want).any(|(g, e)| (g - e).abs() > 1e-9) {
        problems.push(format!("two captions together score {got:?}, should be {want:?}"));
    }
    problems
}
