//! Scene -> texts, in English and Chinese, and caption -> objects again.
//!
//! Every text is a fixed function of the scene: one word per attribute value, one sentence
//! pattern per kind of text, objects always in reading order. A model can therefore learn the
//! captions exactly, and `parse_caption` can invert them to score each attribute.

use super::scene::{Cell, Colour, Object, Scene, Shape, Size};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];
}

/// The prompt that asks for a caption; its language is the language of the answer.
pub fn caption_prompt(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "describe the image",
        Lang::Zh => "描述这张图片",
    }
}

impl Shape {
    pub fn name(self, lang: Lang) -> &'static str {
        use Shape::*;
        match (lang, self) {
            (Lang::En, Circle) => "circle",
            (Lang::En, Square) => "square",
            (Lang::En, Triangle) => "triangle",
            (Lang::En, Star) => "star",
            (Lang::En, Cross) => "cross",
            (Lang::Zh, Circle) => "圆形",
            (Lang::Zh, Square) => "正方形",
            (Lang::Zh, Triangle) => "三角形",
            (Lang::Zh, Star) => "星形",
            (Lang::Zh, Cross) => "十字形",
        }
    }
}

impl Colour {
    pub fn name(self, lang: Lang) -> &'static str {
        use Colour::*;
        match (lang, self) {
            (Lang::En, Red) => "red",
            (Lang::En, Green) => "green",
            (Lang::En, Blue) => "blue",
            (Lang::En, Yellow) => "yellow",
            (Lang::En, Purple) => "purple",
            (Lang::En, Orange) => "orange",
            (Lang::Zh, Red) => "红色",
            (Lang::Zh, Green) => "绿色",
            (Lang::Zh, Blue) => "蓝色",
            (Lang::Zh, Yellow) => "黄色",
            (Lang::Zh, Purple) => "紫色",
            (Lang::Zh, Orange) => "橙色",
        }
    }
}

impl Size {
    pub fn name(self, lang: Lang) -> &'static str {
        match (lang, self) {
            (Lang::En, Size::Big) => "big",
            (Lang::En, Size::Small) => "small",
            (Lang::Zh, Size::Big) => "大",
            (Lang::Zh, Size::Small) => "小",
        }
    }
}

impl Cell {
    /// The answer to "where is the ...?".
    pub fn name(self, lang: Lang) -> &'static str {
        use Cell::*;
        match (lang, self) {
            (Lang::En, TopLeft) => "top left",
            (Lang::En, Top) => "top",
            (Lang::En, TopRight) => "top right",
            (Lang::En, Left) => "left",
            (Lang::En, Center) => "center",
            (Lang::En, Right) => "right",
            (Lang::En, BottomLeft) => "bottom left",
            (Lang::En, Bottom) => "bottom",
            (Lang::En, BottomRight) => "bottom right",
            (Lang::Zh, TopLeft) => "左上角",
            (Lang::Zh, Top) => "上方",
            (Lang::Zh, TopRight) => "右上角",
            (Lang::Zh, Left) => "左边",
            (Lang::Zh, Center) => "中间",
            (Lang::Zh, Right) => "右边",
            (Lang::Zh, BottomLeft) => "左下角",
            (Lang::Zh, Bottom) => "下方",
            (Lang::Zh, BottomRight) => "右下角",
        }
    }

    /// The place as a caption says it: English needs a preposition ("at the top", "on the left",
    /// "in the top left"); Chinese opens the clause with the bare name.
    pub fn phrase(self, lang: Lang) -> String {
        let name = self.name(lang);
        match (lang, self) {
            (Lang::Zh, _) => name.to_string(),
            (Lang::En, Cell::Top | Cell::Bottom) => format!("at the {name}"),
            (Lang::En, Cell::Left | Cell::Right) => format!("on the {name}"),
            (Lang::En, _) => format!("in the {name}"),
        }
    }
}

fn count_name(n: usize, lang: Lang) -> &'static str {
    const EN: [&str; 4] = ["zero", "one", "two", "three"];
    const ZH: [&str; 4] = ["零个", "一个", "两个", "三个"];
    let names = if lang == Lang::En { EN } else { ZH };
    names.get(n).copied().unwrap_or("many")
}

impl Object {
    /// What the object looks like, without where it is: "big red circle" / "红色的大圆形".
    pub fn looks(&self, lang: Lang) -> String {
        let (shape, colour, size) = (self.shape.name(lang), self.colour.name(lang), self.size.name(lang));
        match lang {
            Lang::En => format!("{size} {colour} {shape}"),
            Lang::Zh => format!("{colour}的{size}{shape}"),
        }
    }
}

/// "a big red circle in the top left" / "左上角有一个红色的大圆形".
fn describe(object: &Object, lang: Lang) -> String {
    let (looks, place) = (object.looks(lang), object.cell.phrase(lang));
    match lang {
        Lang::En => format!("a {looks} {place}"),
        Lang::Zh => format!("{place}有一个{looks}"),
    }
}

impl Scene {
    /// "a ..., a ... and a ..." / "...，...，...", objects in reading order.
    pub fn caption(&self, lang: Lang) -> String {
        let parts: Vec<String> = self.objects.iter().map(|o| describe(o, lang)).collect();
        match (lang, parts.split_last()) {
            (_, None) => String::new(),
            (Lang::En, Some((last, []))) => last.clone(),
            (Lang::En, Some((last, rest))) => format!("{} and {last}", rest.join(", ")),
            (Lang::Zh, Some(_)) => parts.join("，"),
        }
    }

    /// (question, answer) pairs: colour and place of every shape that occurs exactly once (a
    /// repeated shape would make "the circle" ambiguous), the number of shapes, then "is there
    /// a ...?" for every shape, in `Shape::ALL` order.
    pub fn questions(&self, lang: Lang) -> Vec<(String, String)> {
        self.questions_about(lang).into_iter().map(|(q, a, _)| (q, a)).collect()
    }

    /// `questions`, each with the objects (indices into `objects`) its answer is read from: the
    /// object a colour or place question names, every object of the shape a "yes" answers;
    /// none for the number of shapes and for "no".
    pub fn questions_about(&self, lang: Lang) -> Vec<(String, String, Vec<usize>)> {
        let mut qa = Vec::new();
        for (i, object) in self.objects.iter().enumerate().filter(|(_, o)| self.count(o.shape) == 1) {
            let shape = object.shape.name(lang);
            let (colour, place) = match lang {
                Lang::En => (format!("what colour is the {shape}?"), format!("where is the {shape}?")),
                Lang::Zh => (format!("{shape}是什么颜色？"), format!("{shape}在哪里？")),
            };
            qa.push((colour, object.colour.name(lang).to_string(), vec![i]));
            qa.push((place, object.cell.name(lang).to_string(), vec![i]));
        }
        let how_many = match lang {
            Lang::En => "how many shapes are there?",
            Lang::Zh => "有几个图形？",
        };
        qa.push((how_many.to_string(), count_name(self.objects.len(), lang).to_string(), Vec::new()));
        for shape in Shape::ALL {
            let of_shape: Vec<usize> = (0..self.objects.len()).filter(|&i| self.objects[i].shape == shape).collect();
            let present = !of_shape.is_empty();
            let name = shape.name(lang);
            let (q, a) = match lang {
                Lang::En => (format!("is there a {name}?"), if present { "yes" } else { "no" }.to_string()),
                Lang::Zh => (format!("有{name}吗？"), if present { "有" } else { "没有" }.to_string()),
            };
            qa.push((q, a, of_shape));
        }
        qa
    }
}

/// The first of `items` whose name starts `text`, and what follows it.
fn strip_name<'t, T: Copy>(text: &'t str, items: &[T], name: impl Fn(T) -> String) -> Option<(T, &'t str)> {
    items.iter().find_map(|&item| text.strip_prefix(name(item).as_str()).map(|rest| (item, rest)))
}

fn parse_object(text: &str, lang: Lang) -> Option<Object> {
    let text = text.trim();
    match lang {
        Lang::En => {
            let rest = text.strip_prefix("a ")?;
            let (size, rest) = strip_name(rest, &Size::ALL, |s| format!("{} ", s.name(lang)))?;
            let (colour, rest) = strip_name(rest, &Colour::ALL, |c| format!("{} ", c.name(lang)))?;
            let (shape, rest) = strip_name(rest, &Shape::ALL, |s| format!("{} ", s.name(lang)))?;
            let cell = Cell::ALL.into_iter().find(|c| c.phrase(lang) == rest)?;
            Some(Object { shape, colour, size, cell })
        }
        Lang::Zh => {
            let (cell, rest) = strip_name(text, &Cell::ALL, |c| c.phrase(lang))?;
            let rest = rest.strip_prefix("有一个")?;
            let (colour, rest) = strip_name(rest, &Colour::ALL, |c| format!("{}的", c.name(lang)))?;
            let (size, rest) = strip_name(rest, &Size::ALL, |s| s.name(lang).to_string())?;
            let shape = Shape::ALL.into_iter().find(|s| s.name(lang) == rest)?;
            Some(Object { shape, colour, size, cell })
        }
    }
}

/// The objects a caption names, in its order, or `None` if any part of it is not a phrase
/// `Scene::caption` writes. English accepts "and" wherever ", " may stand, so a caption that only
/// slips on its joins still scores on its attributes.
pub fn parse_caption(text: &str, lang: Lang) -> Option<Vec<Object>> {
    let text = text.trim();
    let parts: Vec<&str> = match lang {
        Lang::En => text.split(", ").flat_map(|part| part.split(" and ")).collect(),
        Lang::Zh => text.split('，').collect(),
    };
    parts.into_iter().map(|part| parse_object(part, lang)).collect()
}
