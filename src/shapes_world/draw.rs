//! Scene -> pixels, with tiny-skia: the background first, then each object as one anti-aliased
//! path filled with its flat colour.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use tiny_skia::{
    Color, FillRule, GradientStop, LinearGradient, Paint, Path, PathBuilder, Pixmap, Point, Rect, SpreadMode,
    Transform,
};

use super::scene::{Background, Rgb, Scene, Shape, IMAGE_SIZE};
use crate::infer::sampling::Rng;

/// Most a noise tile's channel moves away from the base tint: enough to see, far too little to
/// reach any object colour.
const NOISE_SHIFT: f32 = 12.0;

fn solid(rgb: Rgb, anti_alias: bool) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(rgb[0], rgb[1], rgb[2], 255);
    paint.anti_alias = anti_alias;
    paint
}

fn colour(rgb: Rgb) -> Color {
    Color::from_rgba8(rgb[0], rgb[1], rgb[2], 255)
}

/// A closed polygon through `(radius_i, angle_i)` around (cx, cy); angles in radians, 0 = right,
/// growing clockwise (y points down).
fn polygon(cx: f32, cy: f32, corners: impl Iterator<Item = (f32, f32)>) -> Option<Path> {
    closed_path(corners.map(|(r, a)| (cx + r * a.cos(), cy + r * a.sin())))
}

/// A closed path through the points `(x_i, y_i)`.
fn closed_path(points: impl Iterator<Item = (f32, f32)>) -> Option<Path> {
    let mut pb = PathBuilder::new();
    for (i, (x, y)) in points.enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    pb.close();
    pb.finish()
}

/// The outline of `shape` centred on (cx, cy), fitting in a box of half-side `r`.
fn outline(shape: Shape, cx: f32, cy: f32, r: f32) -> Option<Path> {
    match shape {
        Shape::Circle => PathBuilder::from_circle(cx, cy, r),
        Shape::Square => {
            let half = 0.85 * r;
            Some(PathBuilder::from_rect(Rect::from_xywh(cx - half, cy - half, 2.0 * half, 2.0 * half)?))
        }
        Shape::Triangle => {
            // Circumradius 1.15r makes it about as wide as the box; moving it down by a quarter of
            // its height centres its box (not its centroid) on the cell point.
            let cr = 1.15 * r;
            let corners = (0..3).map(|i| (cr, -FRAC_PI_2 + i as f32 * TAU / 3.0));
            polygon(cx, cy + 0.25 * cr, corners)
        }
        Shape::Star => {
            // Inner radius 0.45r (a regular star's is 0.38r) keeps the small star's centre solid.
            let corners =
                (0..10).map(|i| (if i % 2 == 0 { r } else { 0.45 * r }, -FRAC_PI_2 + i as f32 * PI / 5.0));
            polygon(cx, cy, corners)
        }
        Shape::Cross => {
            // A plus whose arms are 0.8r wide: concave like the star, but square-ended, so even the
            // small one (arms 11 pixels wide) looks like nothing else at 16-pixel patches.
            let w = 0.4 * r;
            let quarter = [(r, -w), (r, w), (w, w)];
            // Each quarter turned by 90 degrees clockwise from the last: (x, y) -> (-y, x).
            let corners = (0..4).flat_map(|q| {
                quarter.map(|(x, y): (f32, f32)| match q {
                    0 => (x, y),
                    1 => (-y, x),
                    2 => (-x, -y),
                    _ => (y, -x),
                })
            });
            closed_path(corners.map(|(x, y)| (cx + x, cy + y)))
        }
    }
}

fn draw_background(pixmap: &mut Pixmap, background: &Background) -> Option<()> {
    let side = IMAGE_SIZE as f32;
    match background {
        Background::Plain(rgb) => pixmap.fill(colour(*rgb)),
        Background::Gradient { from, to, angle } => {
            // The gradient line passes through the centre; its ends are where the image's corners
            // project onto it, so both colours are reached exactly at the far corners.
            let (dx, dy) = (angle.cos(), angle.sin());
            let reach = side / 2.0 * (dx.abs() + dy.abs());
            let c = side / 2.0;
            let shader = LinearGradient::new(
                Point::from_xy(c - dx * reach, c - dy * reach),
                Point::from_xy(c + dx * reach, c + dy * reach),
                vec![GradientStop::new(0.0, colour(*from)), GradientStop::new(1.0, colour(*to))],
                SpreadMode::Pad,
                Transform::identity(),
            )?;
            let paint = Paint { shader, ..Paint::default() };
            pixmap.fill_rect(Rect::from_xywh(0.0, 0.0, side, side)?, &paint, Transform::identity(), None);
        }
        Background::Noise { base, tile, seed } => {
            let mut rng = Rng::new(*seed);
            let n = IMAGE_SIZE as u32 / tile;
            for row in 0..n {
                for col in 0..n {
                    let mut shift = |c: u8| {
                        let delta = NOISE_SHIFT * (2.0 * rng.uniform() as f32 - 1.0);
                        (c as f32 + delta).round().clamp(0.0, 255.0) as u8
                    };
                    let rgb = [shift(base[0]), shift(base[1]), shift(base[2])];
                    let (x, y, t) = ((col * tile) as f32, (row * tile) as f32, *tile as f32);
                    // Tiles sit on whole pixels, so they need no anti-aliasing.
                    pixmap.fill_rect(
                        Rect::from_xywh(x, y, t, t)?,
                        &solid(rgb, false),
                        Transform::identity(),
                        None,
                    );
                }
            }
        }
    }
    Some(())
}

fn draw(scene: &Scene) -> Option<Pixmap> {
    let mut pixmap = Pixmap::new(IMAGE_SIZE as u32, IMAGE_SIZE as u32)?;
    draw_background(&mut pixmap, &scene.background)?;
    for (object, &(cx, cy)) in scene.objects.iter().zip(&scene.centres) {
        let path = outline(object.shape, cx, cy, object.size.radius())?;
        pixmap.fill_path(
            &path,
            &solid(object.colour.rgb(), true),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
    Some(pixmap)
}

/// `IMAGE_SIZE * IMAGE_SIZE * 3` RGB bytes, row by row.
pub(super) fn render(scene: &Scene) -> Vec<u8> {
    // Every size and coordinate here is a fixed, finite number inside the image, so tiny-skia
    // cannot refuse them; a `None` would be a bug in this file, not bad input.
    let pixmap = draw(scene).expect("ShapesWorld geometry is always valid for tiny-skia");
    // The background is opaque, so alpha is 255 and demultiplying changes nothing; it keeps the
    // bytes right should a translucent layer ever be added.
    pixmap.pixels().iter().map(|p| p.demultiply()).flat_map(|c| [c.red(), c.green(), c.blue()]).collect()
}
