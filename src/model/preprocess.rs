//! Preprocessing, shared by the browser and native code: pixels of any size -> the model's input.
//!
//! RGBA pixels (from a canvas) or encoded bytes (PNG, JPEG, GIF, WebP, BMP) -> the central square
//! -> resized to 224x224 (bilinear, antialiased when shrinking) -> CLIP's mean and std
//! -> (1, 3, 224, 224). Cropping the central square and then resizing it keeps the same pixels as
//! CLIP's "resize the shorter side to 224, then center-crop", without resizing what is cut away.
//! A model's config may say otherwise (`config::Preprocess`): nanoVLM resizes the whole image to
//! 224x224 (its aspect ratio lost) and keeps values in [0, 1].

use std::io::Cursor;

use candle_core::{bail, Device, Result, Tensor};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage, RgbaImage};

use crate::model::config::{Preprocess, Resize};

/// CLIP's per-channel normalisation (OpenAI CLIP, `_transform`), the shipped model's.
pub use crate::model::config::{CLIP_MEAN, CLIP_STD};

/// Largest image side decoding accepts, in pixels. The page checks the same limits in
/// `www/image-header.js` before the browser decodes anything.
pub const MAX_SIDE: u32 = 16_384;
/// Most pixels an image may declare (100 million: a 48-megapixel photo fits twice over).
pub const MAX_PIXELS: u64 = 100_000_000;
/// Most memory one decode may allocate (100 million RGBA pixels are 400 MB).
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// The image as the model sees it: `size` x `size` RGB, before normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedImage {
    pub size: usize,
    /// `size * size * 3` bytes, row by row.
    pub rgb: Vec<u8>,
    /// Width and height of the image it came from.
    pub source_size: (u32, u32),
}

fn err(context: &str, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{context}: {e}"))
}

/// Refuses a declared size over `MAX_SIDE` or `MAX_PIXELS`, before anything is decoded.
pub fn check_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        bail!("the image is empty ({width}x{height} pixels)");
    }
    if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
        bail!(
            "the image declares {width}x{height} pixels; the largest accepted is {MAX_SIDE} pixels a side and {} million pixels in all: scale it down first",
            MAX_PIXELS / 1_000_000
        );
    }
    Ok(())
}

/// A decoding failure in words: a file cut short says so.
fn decode_error(format: &str, e: image::ImageError) -> candle_core::Error {
    use image::ImageError;
    let text = e.to_string();
    let truncated = matches!(&e, ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
        || ["end of file", "eof", "unexpected end", "not enough data", "no more bytes", "truncated"]
            .iter()
            .any(|s| text.to_lowercase().contains(s));
    let message = match &e {
        _ if truncated => format!(
            "the {format} file is cut short (truncated: it ends before its pixels do): download or save it again"
        ),
        ImageError::Limits(_) => format!("the {format} image needs more memory than the {} MB a decode may use: scale it down first", MAX_DECODE_BYTES >> 20),
        ImageError::Unsupported(_) => format!("this {format} file uses a feature the decoder does not support ({text}): save it again as a plain PNG or JPEG"),
        _ => format!("the {format} file is damaged and cannot be decoded ({text}): download or save it again"),
    };
    candle_core::Error::Msg(message)
}

/// A JPEG ends with its EOI marker (FF D9) after its last scan (FF DA). Entropy-coded data never
/// holds FF D9 (an FF there is followed by 00), so an EOI before the last scan belongs to an
/// embedded thumbnail.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        (None, _) => true, // no scan at all: the decoder reports what is missing
        (Some(_), None) => false,
    }
}

/// " (it looks like a PDF document)" and the like, for files that are not images.
fn what_it_looks_like(bytes: &[u8]) -> &'static str {
    let starts = |p: &[u8]| bytes.starts_with(p);
    let has_ftyp = |brands: &[&[u8]]| bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && brands.iter().any(|b| &bytes[8..12] == *b);
    if starts(b"%PDF") {
        ": it is a PDF document"
    } else if has_ftyp(&[b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"]) {
        ": it is a HEIC/HEIF photo; save it as JPEG or PNG first"
    } else if has_ftyp(&[b"avif", b"avis"]) {
        ": it is an AVIF image, which this decoder does not read; save it as PNG or JPEG first"
    } else if starts(b"PK\x03\x04") {
        ": it is a ZIP archive (or an office document)"
    } else if bytes.iter().take(512).any(|&b| b == b'<') && std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok_and(|t| t.contains("<svg")) {
        ": it is an SVG drawing; the page draws SVG itself, or save it as PNG"
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok() {
        ": it is text"
    } else {
        ""
    }
}

/// The limits every decode runs under: no side over `MAX_SIDE`, no more than `MAX_DECODE_BYTES`.
pub fn decode_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

impl PreparedImage {
    /// From RGBA pixels, as `getImageData` gives them. Alpha is dropped (the canvas has already
    /// composited the image).
    pub fn from_rgba(rgba: &[u8], width: u32, height: u32, size: usize) -> Result<Self> {
        Self::from_rgba_resized(rgba, width, height, size, Resize::CenterCrop)
    }

    /// `from_rgba`, resized as `resize` says.
    pub fn from_rgba_resized(rgba: &[u8], width: u32, height: u32, size: usize, resize: Resize) -> Result<Self> {
        if width == 0 || height == 0 {
            bail!("the image is empty ({width}x{height} pixels)");
        }
        check_size(width, height)?;
        let expected = width as usize * height as usize * 4;
        if rgba.len() != expected {
            bail!("{width}x{height} RGBA pixels need {expected} bytes, got {}", rgba.len());
        }
        let image = RgbaImage::from_raw(width, height, rgba.to_vec())
            .ok_or_else(|| err("pixels", "buffer does not match its size"))?;
        Ok(Self::from_image_resized(&DynamicImage::ImageRgba8(image), size, resize))
    }

    /// From an encoded file (PNG, JPEG, GIF's first frame, WebP, BMP), turned upright by its EXIF
    /// orientation, decoded within `decode_limits()`. The size the header declares is checked
    /// before any pixel is decoded, so a small file that declares a huge image costs nothing.
    pub fn from_encoded(bytes: &[u8], size: usize) -> Result<Self> {
        Self::from_encoded_resized(bytes, size, Resize::CenterCrop)
    }

    /// `from_encoded`, resized as `resize` says.
    pub fn from_encoded_resized(bytes: &[u8], size: usize, resize: Resize) -> Result<Self> {
        if bytes.is_empty() {
            bail!("the file is empty (0 bytes): choose the image again, or another one");
        }
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err("reading the image", e))?;
        let Some(format) = reader.format() else {
            bail!("this file is not an image in a format the model reads (PNG, JPEG, GIF, WebP, BMP){}", what_it_looks_like(bytes));
        };
        let name = format!("{format:?}").to_uppercase();
        if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
            // Decoders fill the missing rows with grey; a half-grey picture would mislead.
            return Err(decode_error(&name, image::ImageError::IoError(std::io::ErrorKind::UnexpectedEof.into())));
        }
        let mut decoder = reader.into_decoder().map_err(|e| decode_error(&name, e))?;
        let (width, height) = decoder.dimensions();
        check_size(width, height)?;
        decoder.set_limits(decode_limits()).map_err(|e| decode_error(&name, e))?;
        let orientation = decoder.orientation().map_err(|e| decode_error(&name, e))?;
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(&name, e))?;
        image.apply_orientation(orientation);
        Ok(Self::from_image_resized(&image, size, resize))
    }

    /// Central square, resized to `size` x `size`.
    pub fn from_image(image: &DynamicImage, size: usize) -> Self {
        Self::from_image_resized(image, size, Resize::CenterCrop)
    }

    /// The central square (`CenterCrop`) or the whole image (`Squash`), resized to `size` x `size`.
    pub fn from_image_resized(image: &DynamicImage, size: usize, resize: Resize) -> Self {
        let (w, h) = (image.width(), image.height());
        let kept = match resize {
            Resize::CenterCrop => {
                let side = w.min(h);
                image.crop_imm((w - side) / 2, (h - side) / 2, side, side).to_rgb8()
            }
            Resize::Squash => image.to_rgb8(),
        };
        let resized: RgbImage = if kept.dimensions() == (size as u32, size as u32) {
            kept
        } else {
            image::imageops::resize(&kept, size as u32, size as u32, FilterType::Triangle)
        };
        Self { size, rgb: resized.into_raw(), source_size: (w, h) }
    }

    /// The model's input: (1, 3, size, size), each channel normalised with CLIP's mean and std.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        self.to_tensor_with(&Preprocess::default(), device)
    }

    /// The model's input: (1, 3, size, size), each channel's value in [0, 1] less `mean`, over
    /// `std`, as `preprocess` says.
    pub fn to_tensor_with(&self, preprocess: &Preprocess, device: &Device) -> Result<Tensor> {
        let (mean, std) = (preprocess.mean, preprocess.std);
        let plane = self.size * self.size;
        let mut chw = vec![0f32; 3 * plane];
        for (i, px) in self.rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * plane + i] = (px[c] as f32 / 255.0 - mean[c]) / std[c];
            }
        }
        Tensor::from_vec(chw, (1, 3, self.size, self.size), device)
    }

    /// The same pixels as RGBA, ready for a canvas's `putImageData`.
    pub fn to_rgba(&self) -> Vec<u8> {
        self.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
    }
}
