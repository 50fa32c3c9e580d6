//! Any bytes as an image file, then as canvas pixels: decoding and preprocessing either give the
//! model's (1, 3, 224, 224) input or an error, never a panic or an unbounded allocation.
#![no_main]

use candle_core::Device;
use libfuzzer_sys::fuzz_target;
use vlm_explainer::model::preprocess::PreparedImage;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = PreparedImage::from_encoded(data, 224) {
        assert_eq!(image.rgb.len(), 224 * 224 * 3);
        let input = image.to_tensor(&Device::Cpu).expect("a decoded image always makes a tensor");
        assert_eq!(input.dims(), [1, 3, 224, 224]);
    }
    // The same bytes as RGBA pixels: the first 4 bytes give a small width and height.
    if data.len() >= 4 {
        let width = u16::from_le_bytes([data[0], data[1]]) as u32 % 512;
        let height = u16::from_le_bytes([data[2], data[3]]) as u32 % 512;
        if let Ok(image) = PreparedImage::from_rgba(&data[4..], width, height, 224) {
            assert_eq!(image.source_size, (width, height));
        }
    }
});

