//! What a scene holds: 1 to 3 objects, each in its own cell of a 3x3 grid, over a background.
//! Everything is drawn from one `Rng` seeded by the scene's seed, so a seed names a scene on every
//! platform.

use crate::infer::sampling::Rng;

/// Side of the rendered image, in pixels: the model's input size.
pub const IMAGE_SIZE: usize = 224;
/// Side of one cell of the 3x3 layout, in pixels.
pub const CELL_SIZE: f32 = IMAGE_SIZE as f32 / 3.0;
pub const MAX_OBJECTS: usize = 3;

pub type Rgb = [u8; 3];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
    Cross,
}

impl Shape {
    pub const ALL: [Shape; 5] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star, Shape::Cross];
}

/// Saturated hues only: every background is a grey or a pastel far from all of them, so an object
/// never blends into what is behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    Orange,
}

impl Colour {
    pub const ALL: [Colour; 6] =
        [Colour::Red, Colour::Green, Colour::Blue, Colour::Yellow, Colour::Purple, Colour::Orange];

    pub fn rgb(self) -> Rgb {
        match self {
            Colour::Red => [220, 30, 30],
            Colour::Green => [20, 180, 40],
            Colour::Blue => [30, 70, 230],
            Colour::Yellow => [245, 215, 0],
            Colour::Purple => [150, 40, 200],
            Colour::Orange => [250, 130, 0],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    Big,
    Small,
}

impl Size {
    pub const ALL: [Size; 2] = [Size::Big, Size::Small];

    /// Half the side of the box the shape fits in, in pixels. Big fills most of a 74.7-pixel cell;
    /// small is about half of it, so the two never look alike.
    pub fn radius(self) -> f32 {
        match self {
            Size::Big => 26.0,
            Size::Small => 14.0,
        }
    }
}

/// A cell of the 3x3 layout, in reading order (the order objects are named in a caption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cell {
    TopLeft,
    Top,
    TopRight,
    Left,
    Center,
    Right,
    BottomLeft,
    Bottom,
    BottomRight,
}

impl Cell {
    pub const ALL: [Cell; 9] = [
        Cell::TopLeft,
        Cell::Top,
        Cell::TopRight,
        Cell::Left,
        Cell::Center,
        Cell::Right,
        Cell::BottomLeft,
        Cell::Bottom,
        Cell::BottomRight,
    ];

    /// Position in reading order: row * 3 + column.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn row(self) -> usize {
        self.index() / 3
    }

    pub fn col(self) -> usize {
        self.index() % 3
    }

    /// Centre of the cell, in pixels (x, y).
    pub fn centre(self) -> (f32, f32) {
        ((self.col() as f32 + 0.5) * CELL_SIZE, (self.row() as f32 + 0.5) * CELL_SIZE)
    }
}

/// What the texts say about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Object {
    pub shape: Shape,
    pub colour: Colour,
    pub size: Size,
    pub cell: Cell,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Background {
    Plain(Rgb),
    /// From `from` to `to` along the direction `angle` (radians, 0 = left to right).
    Gradient {
        from: Rgb,
        to: Rgb,
        angle: f32,
    },
    /// Tiles of `tile` pixels, each `base` shifted by a random amount per channel; `seed` picks
    /// the shifts, so the same scene always gets the same tiles.
    Noise {
        base: Rgb,
        tile: u32,
        seed: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// The seed `generate` drew it from (0 for a scene built by hand).
    pub seed: u64,
    /// In caption order: the reading order of their cells, no two in the same cell.
    pub objects: Vec<Object>,
    /// `centres[i]` is where `objects[i]` is drawn, in pixels (x, y): its cell's centre plus a
    /// little seeded jitter that keeps the shape inside the cell.
    pub centres: Vec<(f32, f32)>,
    pub background: Background,
}

/// Uniform in 0..n (n is tiny, so the modulo bias is negligible).
fn below(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[below(rng, items.len())]
}

/// Uniform in [lo, hi).
fn between(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.uniform() as f32
}

/// A dark or light grey with a faint tint. Each object colour has a channel at 180 or more and one
/// at 40 or less, so even after the noise's shift some channel differs from the background by 90+;
/// the mid greys a dark-to-light gradient passes through still differ by 60+.
fn background_tint(rng: &mut Rng) -> Rgb {
    let grey = if below(rng, 2) == 0 { between(rng, 20.0, 60.0) } else { between(rng, 180.0, 235.0) };
    let mut channel = || (grey + between(rng, -10.0, 10.0)).round().clamp(0.0, 255.0) as u8;
    [channel(), channel(), channel()]
}

fn background(rng: &mut Rng) -> Background {
    match below(rng, 3) {
        0 => Background::Plain(background_tint(rng)),
        1 => Background::Gradient {
            from: background_tint(rng),
            to: background_tint(rng),
            angle: between(rng, 0.0, std::f32::consts::TAU),
        },
        _ => Background::Noise {
            base: background_tint(rng),
            tile: pick(rng, &[4, 7, 8, 14]),
            seed: rng.next_u64(),
        },
    }
}

impl Scene {
    pub fn generate(seed: u64) -> Scene {
        let mut rng = Rng::new(seed);
        let count = 1 + below(&mut rng, MAX_OBJECTS);
        // A partial Fisher-Yates shuffle: the first `count` cells are distinct and uniform.
        let mut cells = Cell::ALL;
        for i in 0..count {
            let j = i + below(&mut rng, cells.len() - i);
            cells.swap(i, j);
        }
        let mut cells = cells[..count].to_vec();
        cells.sort();

        let mut objects = Vec::with_capacity(count);
        let mut centres = Vec::with_capacity(count);
        for cell in cells {
            let object = Object {
                shape: pick(&mut rng, &Shape::ALL),
                colour: pick(&mut rng, &Colour::ALL),
                size: pick(&mut rng, &Size::ALL),
                cell,
            };
            // Leave 3 pixels between the shape's box and the cell's edge.
            let room = (CELL_SIZE / 2.0 - object.size.radius() - 3.0).min(10.0);
            let (x, y) = cell.centre();
            centres.push((x + between(&mut rng, -room, room), y + between(&mut rng, -room, room)));
            objects.push(object);
        }
        let background = background(&mut rng);
        Scene { seed, objects, centres, background }
    }

    /// How many objects have this shape.
    pub fn count(&self, shape: Shape) -> usize {
        self.objects.iter().filter(|o| o.shape == shape).count()
    }
}
