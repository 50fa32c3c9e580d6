//! Attention's products: which kernel runs (`attention`), and the browser's (`attend`). Per head: the scores q k^T through
//! `simd_matmul` (the keys packed as its weight), the scaled, masked softmax of `kernels`, and
//! the weighted sum of the values (packed transposed), one block of query rows at a time. Candle's
//! batched matmul ran these products on one thread at gemm's simd128 speed, a quarter of the
//! `tiny` vision encoder's time once its linear layers split among threads; here every head's
//! rows split among the pool's threads in one go (the threaded build), each block computed
//! exactly as on one thread.

use candle_core::{bail, CpuStorage, Device, Layout, Result, Storage, Tensor};

use crate::ops::browser_kernels;
use crate::ops::kernels::{scale_mask_softmax, scaled_masked_softmax, MaskRows};
use crate::ops::linear::wants_gradient;
use crate::ops::simd_matmul::{matmul_packed, pack, pack_transposed, split_threads};

/// softmax(q k^T * scale + mask) v for q (b, heads, t, d) and k, v (b, heads, s, d); `mask` is
/// added to the scores (b, heads, t, s), broadcast as `kernels::scaled_masked_softmax` takes it.
/// Returns the output (b, heads, t, d) and the weights (b, heads, t, s). With the browser's
/// kernels on, a block of queries (not a decode step's single row) without gradients runs
/// through `attend`; everything else through candle's batched matmul.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f32, mask: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
    if browser_kernels() && q.dim(2)? > 1 && q.dtype() == candle_core::DType::F32 && !wants_gradient(&[q, k, v]) {
        return attend(q, k, v, scale, mask);
    }
    let scores = q.matmul(&k.t()?)?; // (b, heads, t, s)
    let weights = scaled_masked_softmax(&scores, scale, mask)?;
    let y = weights.matmul(v)?; // (b, heads, t, d)
    Ok((y, weights))
}

/// softmax(q k^T * scale + mask) v for q (b, heads, t, d) and k, v (b, heads, s, d), all f32;
/// `mask` (0 or -inf) as `kernels::scaled_masked_softmax` takes it, broadcast against the scores
/// (b, heads, t, s). Returns the output (b, heads, t, d) and the weights (b, heads, t, s).
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, scale: f32, mask: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
    let (b, h, t, d) = q.dims4()?;
    let s = k.dim(2)?;
    if k.dims() != [b, h, s, d] || v.dims() != [b, h, s, d] {
        bail!("attention: queries {:?}, keys {:?}, values {:?}", q.dims(), k.dims(), v.dims());
    }
    let mask = mask.map(|m| MaskRows::new(m, &[b, h, t, s])).transpose()?;
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let heads = b * h;
    let mut weights = vec![0f32; heads * t * s];
    let mut y = vec![0f32; heads * t * d];
    {
        let (q_storage, q_layout) = q.storage_and_layout();
        let (k_storage, k_layout) = k.storage_and_layout();
        let (v_storage, v_layout) = v.storage_and_layout();
        let (q, k, v) = (f32s(&q_storage, q_layout)?, f32s(&k_storage, k_layout)?, f32s(&v_storage, v_layout)?);
        // Blocks of query rows: a head's rows whole on one thread, or cut so that the blocks of
        // all heads share out evenly among the pool's threads (3 heads on 2 threads: 6 blocks).
        let threads = split_threads(2 * heads * t * s * d);
        let cuts = if threads > 1 { threads / gcd(heads, threads) } else { 1 };
        let rows = t.div_ceil(cuts).max(1);
        let mut blocks = Vec::with_capacity(heads * cuts);
        for (head, ((w, y), q)) in weights.chunks_mut(t * s).zip(y.chunks_mut(t * d)).zip(q.chunks(t * d)).enumerate() {
            for (i, ((w, y), q)) in w.chunks_mut(rows * s).zip(y.chunks_mut(rows * d)).zip(q.chunks(rows * d)).enumerate() {
                blocks.push(Block { head, row: head * t + i * rows, q, w, y });
            }
        }
        let run = |block: Block| {
            let n = block.q.len() / d;
            let keys = pack(&k[block.head * s * d..][..s * d], s, d);
            let values = pack_transposed(&v[block.head * s * d..][..s * d], s, d);
            matmul_packed(block.q, n, d, &keys, s, block.w);
            for (i, w) in block.w.chunks_mut(s).enumerate() {
                scale_mask_softmax(w, scale, mask.as_ref().map(|m| m.row(block.row + i, s)));
            }
            matmul_packed(block.w, n, s, &values, d, block.y);
        };
        #[cfg(all(target_arch = "wasm32", feature = "threads"))]
        if threads > 1 {
            use rayon::prelude::*;
            blocks.into_par_iter().for_each(run);
            return finish(y, weights, (b, h, t, d, s));
        }
        blocks.into_iter().for_each(run);
    }
    finish(y, weights, (b, h, t, d, s))
}

/// One block of a head's query rows: its queries, and the rows of the weights and the output
/// it fills. `row` is its first row among all the scores' (b * heads * t), for the mask.
struct Block<'a> {
    head: usize,
    row: usize,
    q: &'a [f32],
    w: &'a mut [f32],
    y: &'a mut [f32],
}

fn finish(y: Vec<f32>, weights: Vec<f32>, (b, h, t, d, s): (usize, usize, usize, usize, usize)) -> Result<(Tensor, Tensor)> {
    Ok((Tensor::from_vec(y, (b, h, t, d), &Device::Cpu)?, Tensor::from_vec(weights, (b, h, t, s), &Device::Cpu)?))
}

/// The f32 values of a contiguous tensor on the CPU.
fn f32s<'a>(storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) => Ok(&values[start..end]),
        _ => bail!("attention needs contiguous f32 tensors on the CPU"),
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}
