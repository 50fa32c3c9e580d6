//! Preprocessing, shared by the browser and native code: pixels of any size -> the model's input.
//!
//! RGBA pixels (from a canvas) or encoded bytes (PNG, JPEG, GIF, WebP, BMP) -> the central square
//! -> resized to 224x224 (bilinear, antialiased when shrinking) -> CLIP's mean and std
//! -> (1, 3, 224, 224). Cropping the central square and then resizing it keeps the same pixels as
//! CLIP's "resize the shorter side to 224, then center-crop", without resizing what is cut away.

use std::io::Cursor;

use candle_core::{bail, Device, Result, Tensor};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage, RgbaImage};

/// CLIP's per-channel normalisation (OpenAI CLIP, `_transform`).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Largest image side decoding accepts, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Most memory one decode may allocate (an RGBA 8-bit 8192x8192 image is 256 MiB).
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
        if width == 0 || height == 0 {
            bail!("the image is empty ({width}x{height} pixels)");
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            bail!("the image is {width}x{height} pixels; the largest side accepted is {MAX_SIDE}");
        }
        let expected = width as usize * height as usize * 4;
        if rgba.len() != expected {
            bail!("{width}x{height} RGBA pixels need {expected} bytes, got {}", rgba.len());
        }
        let image = RgbaImage::from_raw(width, height, rgba.to_vec())
            .ok_or_else(|| err("pixels", "buffer does not match its size"))?;
        Ok(Self::from_image(&DynamicImage::ImageRgba8(image), size))
    }

    /// From an encoded file (PNG, JPEG, GIF's first frame, WebP, BMP), turned upright by its EXIF
    /// orientation, decoded within `decode_limits()`.
    pub fn from_encoded(bytes: &[u8], size: usize) -> Result<Self> {
        if bytes.is_empty() {
            bail!("the file is empty (0 bytes)");
        }
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err("reading the image", e))?;
        if reader.format().is_none() {
            bail!("this file is not an image in a format the model reads (PNG, JPEG, GIF, WebP, BMP)");
        }
        let mut decoder = reader.into_decoder().map_err(|e| err("decoding the image", e))?;
        decoder.set_limits(decode_limits()).map_err(|e| err("decoding the image", e))?;
        let orientation = decoder.orientation().map_err(|e| err("decoding the image", e))?;
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| err("decoding the image", e))?;
        image.apply_orientation(orientation);
        Ok(Self::from_image(&image, size))
    }

    /// Central square, resized to `size` x `size`.
    pub fn from_image(image: &DynamicImage, size: usize) -> Self {
        let (w, h) = (image.width(), image.height());
        let side = w.min(h);
        let square = image.crop_imm((w - side) / 2, (h - side) / 2, side, side).to_rgb8();
        let resized: RgbImage = if side as usize == size {
            square
        } else {
            image::imageops::resize(&square, size as u32, size as u32, FilterType::Triangle)
        };
        Self { size, rgb: resized.into_raw(), source_size: (w, h) }
    }

    /// The model's input: (1, 3, size, size), each channel normalised with CLIP's mean and std.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let plane = self.size * self.size;
        let mut chw = vec![0f32; 3 * plane];
        for (i, px) in self.rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * plane + i] = (px[c] as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
            }
        }
        Tensor::from_vec(chw, (1, 3, self.size, self.size), device)
    }

    /// The same pixels as RGBA, ready for a canvas's `putImageData`.
    pub fn to_rgba(&self) -> Vec<u8> {
        self.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
    }
}
