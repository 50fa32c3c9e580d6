//! The one place that says which pixels make image token i.
//!
//! A 224x224 image cut into 16x16 patches is a 14x14 grid. Patches are numbered row by row from
//! the top left: token i sits at row i / 14, column i % 14, and covers pixels
//! x in [16 * col, 16 * col + 16), y in [16 * row, 16 * row + 16). The vision encoder flattens
//! its patches in this order, and the page draws its grid and highlights with the same numbers.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PatchGrid {
    pub image_size: usize,
    pub patch_size: usize,
}

/// Pixel rectangle of one patch, in the preprocessed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PatchRect {
    pub x: usize,
    pub y: usize,
    pub size: usize,
}

impl PatchGrid {
    pub fn new(image_size: usize, patch_size: usize) -> Self {
        Self { image_size, patch_size }
    }

    /// Patches along one side (224 / 16 = 14).
    pub fn side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Image tokens the vision encoder produces (14 x 14 = 196).
    pub fn num_patches(&self) -> usize {
        self.side() * self.side()
    }

    pub fn index(&self, row: usize, col: usize) -> usize {
        row * self.side() + col
    }

    /// (row, col) of token `i`.
    pub fn row_col(&self, i: usize) -> (usize, usize) {
        (i / self.side(), i % self.side())
    }

    pub fn rect(&self, i: usize) -> PatchRect {
        let (row, col) = self.row_col(i);
        PatchRect { x: col * self.patch_size, y: row * self.patch_size, size: self.patch_size }
    }

    /// Token whose patch holds pixel (x, y), if the pixel is inside the image.
    pub fn at_pixel(&self, x: usize, y: usize) -> Option<usize> {
        (x < self.image_size && y < self.image_size)
            .then(|| self.index(y / self.patch_size, x / self.patch_size))
    }
}
