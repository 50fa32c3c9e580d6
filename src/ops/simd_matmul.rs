//! `y = x W^T` for inference in the browser, with wasm's simd128.
//!
//! In the browser three quarters of a forward pass is candle's matrix products (gemm's simd128
//! path, Chromium's profiler), which run at a third of native candle's speed. Here a linear
//! layer's weight is packed once, at its first use, into panels of 8 output columns, so each step
//! of the inner loop loads 8 weights as two f32x4 vectors and multiplies them by one value of
//! each of 4 input rows: a 4 x 8 tile of the output stays in 8 vector registers for a whole run
//! over k (the register blocking of GotoBLAS and BLIS). Built with relaxed SIMD (the threaded
//! build), panels are 12 columns and tiles 3 x 12, each step one fused multiply-add. k is cut
//! into blocks of 512 so that a panel's block (16 or 24 KB) stays in L1 while every row of x
//! passes over it (blocks of 256 made twice as many passes over the output, 1024 spilled L1).
//!
//! Natively the same blocking runs with plain arrays: it is what the tests check, while native
//! inference keeps candle's matmul (AVX2 and FMA, two threads).

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// f32x4 vectors of output columns per panel: 2, or 3 where the module is built with relaxed
/// SIMD (the threaded build): a fused multiply-add needs no register for the product, so a
/// 3 x 12 tile (9 accumulators, 3 weight vectors, 1 broadcast value) fits V8's registers, and
/// it loads 3 weights and 3 values for 18 multiply-adds, against 2 and 4 for 16.
const VECS: usize = if cfg!(target_feature = "relaxed-simd") { 3 } else { 2 };
/// Output columns per panel.
pub const NR: usize = 4 * VECS;
/// Input rows per tile: 4 x 2 accumulators (or 3 x 3 with relaxed SIMD), the weight vectors and
/// 1 broadcast value fit in the 16 vector registers V8 has on x86-64.
const MR: usize = if cfg!(target_feature = "relaxed-simd") { 3 } else { 4 };
/// Depth of one pass over k.
const KC: usize = 512;

/// W (n, k), row-major, as panels of `NR` output columns: panel p holds, for each kk in 0..k,
/// W[p * NR + j][kk] for j in 0..NR, zeros past row n.
pub fn pack(w: &[f32], n: usize, k: usize) -> Vec<f32> {
    assert_eq!(w.len(), n * k, "pack: W must be n x k");
    let mut out = vec![0f32; n.div_ceil(NR) * NR * k];
    for (row, values) in w.chunks_exact(k.max(1)).enumerate().take(n) {
        let panel = &mut out[(row / NR) * NR * k..];
        for (kk, &v) in values.iter().enumerate() {
            panel[kk * NR + row % NR] = v;
        }
    }
    out
}

/// W (n, k) again from `pack`'s panels.
pub fn unpack(packed: &[f32], n: usize, k: usize) -> Vec<f32> {
    let mut w = vec![0f32; n * k];
    for (row, values) in w.chunks_exact_mut(k.max(1)).enumerate().take(n) {
        let panel = &packed[(row / NR) * NR * k..];
        for (kk, v) in values.iter_mut().enumerate() {
            *v = panel[kk * NR + row % NR];
        }
    }
    w
}

/// W packed as `pack` packs it, from W^T (k, n), row-major: what a product by a matrix that
/// is stored (k, n) needs, such as attention's values.
pub fn pack_transposed(wt: &[f32], k: usize, n: usize) -> Vec<f32> {
    assert_eq!(wt.len(), n * k, "pack_transposed: W^T must be k x n");
    let mut out = vec![0f32; n.div_ceil(NR) * NR * k];
    for (kk, values) in wt.chunks_exact(n.max(1)).enumerate().take(k) {
        for (p, cols) in values.chunks(NR).enumerate() {
            out[p * NR * k + kk * NR..][..cols.len()].copy_from_slice(cols);
        }
    }
    out
}

/// out (m, n) = x (m, k) W^T, W packed by `pack`.
pub fn matmul_packed(x: &[f32], m: usize, k: usize, packed: &[f32], n: usize, out: &mut [f32]) {
    assert!(x.len() == m * k && out.len() == m * n && packed.len() == n.div_ceil(NR) * NR * k, "matmul_packed: sizes");
    out.fill(0.0);
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        for p in 0..n.div_ceil(NR) {
            let b = &packed[p * NR * k + k0 * NR..][..kc * NR];
            let cols = NR.min(n - p * NR);
            for r0 in (0..m).step_by(MR) {
                let a = &x[r0 * k + k0..];
                let c = &mut out[r0 * n + p * NR..];
                match MR.min(m - r0) {
                    4 => tile::<4>(a, k, b, kc, c, n, cols),
                    3 => tile::<3>(a, k, b, kc, c, n, cols),
                    2 => tile::<2>(a, k, b, kc, c, n, cols),
                    _ => row(a, b, kc, c, cols),
                }
            }
        }
    }
}

/// acc + v * b: one fused multiply-add with relaxed SIMD (rounded once; x86's FMA or Arm's
/// FMLA), else a product and a sum.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn madd(v: core::arch::wasm32::v128, b: core::arch::wasm32::v128, acc: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_relaxed_madd(v, b, acc);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return f32x4_add(acc, f32x4_mul(v, b));
}

/// Adds c[r][0..cols] += `vecs` as 4-wide sums, for the R rows of a tile.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn store_rows<const R: usize>(acc: &[[core::arch::wasm32::v128; VECS]; R], c: &mut [f32], ldc: usize, cols: usize) {
    for (r, acc) in acc.iter().enumerate() {
        let mut sums = [0f32; NR];
        for (j, v) in acc.iter().enumerate() {
            // SAFETY: `sums` holds NR = 4 * VECS f32, and j < VECS.
            unsafe { core::arch::wasm32::v128_store(sums.as_mut_ptr().add(4 * j) as *mut core::arch::wasm32::v128, *v) };
        }
        for (y, s) in c[r * ldc..][..cols].iter_mut().zip(sums) {
            *y += s;
        }
    }
}

/// Adds x[r][0..kc] . panel to c[r][0..cols] for the tile's R rows; `a` starts at the tile's
/// first row (row stride `lda`), `c` likewise (row stride `ldc`).
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn tile<const R: usize>(a: &[f32], lda: usize, b: &[f32], kc: usize, c: &mut [f32], ldc: usize, cols: usize) {
    use core::arch::wasm32::*;
    assert!(kc > 0 && a.len() >= (R - 1) * lda + kc && b.len() >= kc * NR && c.len() >= (R - 1) * ldc + cols);
    let mut acc = [[f32x4_splat(0.0); VECS]; R];
    // SAFETY: the assert above keeps every read in bounds: row r < R of `a` reads a[r * lda + kk]
    // for kk < kc, and the panel reads b[kk * NR .. (kk + 1) * NR]; v128 loads are unaligned.
    unsafe {
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for kk in 0..kc {
            let mut w = [f32x4_splat(0.0); VECS];
            for (j, w) in w.iter_mut().enumerate() {
                *w = v128_load(bp.add(kk * NR + 4 * j) as *const v128);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = v128_load32_splat(ap.add(r * lda + kk) as *const u32);
                for (acc, &w) in acc.iter_mut().zip(&w) {
                    *acc = madd(v, w, *acc);
                }
            }
        }
    }
    store_rows(&acc, c, ldc, cols);
}

/// `tile` for a single row (a decode step's product): several sets of accumulators take turns
/// over k (4 of 2 vectors, or 3 of 3), so that that many additions are in flight instead of one
/// chain waiting on each.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn row(a: &[f32], b: &[f32], kc: usize, c: &mut [f32], cols: usize) {
    use core::arch::wasm32::*;
    const SETS: usize = if VECS == 2 { 4 } else { 3 };
    assert!(kc > 0 && a.len() >= kc && b.len() >= kc * NR && c.len() >= cols);
    let mut acc = [[f32x4_splat(0.0); VECS]; SETS];
    let step = |acc: &mut [v128; VECS], kk: usize| {
        // SAFETY: kk < kc, and the assert above bounds a[kk] and b[kk * NR .. (kk + 1) * NR].
        unsafe {
            let v = v128_load32_splat(a.as_ptr().add(kk) as *const u32);
            let bp = b.as_ptr().add(kk * NR);
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = madd(v, v128_load(bp.add(4 * j) as *const v128), *acc);
            }
        }
    };
    let whole = kc - kc % SETS;
    for kk in (0..whole).step_by(SETS) {
        for (u, acc) in acc.iter_mut().enumerate() {
            step(acc, kk + u);
        }
    }
    for kk in whole..kc {
        step(&mut acc[0], kk);
    }
    let mut total = acc[0];
    for set in &acc[1..] {
        for (t, v) in total.iter_mut().zip(set) {
            *t = f32x4_add(*t, *v);
        }
    }
    store_rows(&[total], c, 0, cols);
}

#[cfg(not(target_arch = "wasm32"))]
fn row(a: &[f32], b: &[f32], kc: usize, c: &mut [f32], cols: usize) {
    tile::<1>(a, 0, b, kc, c, 0, cols)
}

#[cfg(not(target_arch = "wasm32"))]
fn tile<const R: usize>(a: &[f32], lda: usize, b: &[f32], kc: usize, c: &mut [f32], ldc: usize, cols: usize) {
    let mut acc = [[0f32; NR]; R];
    for kk in 0..kc {
        let w = &b[kk * NR..][..NR];
        for (r, acc) in acc.iter_mut().enumerate() {
            let v = a[r * lda + kk];
            for (s, &w) in acc.iter_mut().zip(w) {
                *s += v * w;
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (y, s) in c[r * ldc..][..cols].iter_mut().zip(acc) {
            *y += s;
        }
    }
}

/// Whether rayon's pool of Web Workers is up (the threaded browser build). Until then every
/// product stays on the calling thread: a first use of rayon before `initThreadPool` would make
/// its default pool, one thread, for good.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
static POOL_READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Multiply-adds below which a product is not split among threads.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
const MIN_SPLIT: usize = 1 << 19;

/// Says that `initThreadPool` has finished: from now on products split their rows.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn pool_ready() {
    POOL_READY.store(true, std::sync::atomic::Ordering::Release);
}

/// Threads to split `multiply_adds` of work among: the pool's in the threaded browser build
/// once it has started and from MIN_SPLIT on, else 1.
pub fn split_threads(multiply_adds: usize) -> usize {
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    if multiply_adds >= MIN_SPLIT {
        return pool_threads();
    }
    let _ = multiply_adds;
    1
}

/// Threads a split can use: the pool's once it has started, else 1.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn pool_threads() -> usize {
    if POOL_READY.load(std::sync::atomic::Ordering::Acquire) {
        rayon::current_num_threads()
    } else {
        1
    }
}

/// The panels of a packed weight (`pack`) that make output columns `first .. first + cols`
/// (`first` a multiple of `NR`): a packed weight of `cols` outputs on its own.
pub fn panels(packed: &[f32], k: usize, first: usize, cols: usize) -> &[f32] {
    assert_eq!(first % NR, 0, "panels start at a multiple of NR");
    &packed[first * k..][..cols.div_ceil(NR) * NR * k]
}

/// `matmul_packed`, its rows split among rayon's threads in the threaded browser build (each
/// thread a block of whole tiles, every one reading the same packed weight, so each row is
/// computed exactly as on one thread).
pub fn matmul_rows(x: &[f32], m: usize, k: usize, packed: &[f32], n: usize, out: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    {
        use rayon::prelude::*;
        // Products under MIN_SPLIT (2^19 multiply-adds, about 0.05 ms) stay whole: waking the
        // pool would cost about what splitting saves. The `tiny` model's (3.2 M to 29 M) split.
        let threads = split_threads(m * k * n);
        if threads > 1 && m >= 2 * MR {
            let rows = m.div_ceil(threads).next_multiple_of(MR);
            out.par_chunks_mut(rows * n)
                .zip(x.par_chunks(rows * k))
                .for_each(|(out, x)| matmul_packed(x, x.len() / k, k, packed, n, out));
            return;
        }
        // A single row (a decode step): its output columns split instead, each thread a run of
        // whole panels, so every weight is still read once, by one thread.
        if threads > 1 && m == 1 {
            let per = n.div_ceil(NR).div_ceil(threads) * NR;
            out.par_chunks_mut(per).enumerate().for_each(|(i, out)| {
                let cols = out.len();
                matmul_packed(x, 1, k, panels(packed, k, i * per, cols), cols, out)
            });
            return;
        }
    }
    matmul_packed(x, m, k, packed, n, out)
}

/// Adds `bias` to each row of `out`, as a broadcast add would (one f32 addition each).
pub(crate) fn add_bias_rows(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len().max(1)) {
        for (y, b) in row.iter_mut().zip(bias) {
            *y += b;
        }
    }
}

/// The op `Linear` applies to a (rows, k) input, holding its packed weight and its bias.
pub struct PackedLinear<'a> {
    pub packed: &'a [f32],
    pub n: usize,
    pub k: usize,
    pub bias: Option<&'a [f32]>,
}

impl CustomOp1 for PackedLinear<'_> {
    fn name(&self) -> &'static str {
        "packed-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, k) = layout.shape().dims2()?;
        let Some((start, end)) = layout.contiguous_offsets() else { bail!("packed-linear needs a contiguous input") };
        if k != self.k {
            bail!("packed-linear: input width {k}, weight width {}", self.k);
        }
        let x = &storage.as_slice::<f32>()?[start..end];
        let mut out = vec![0f32; m * self.n];
        matmul_rows(x, m, k, self.packed, self.n, &mut out);
        if let Some(bias) = self.bias {
            add_bias_rows(&mut out, bias);
        }
        Ok((CpuStorage::F32(out), Shape::from((m, self.n))))
    }
}

/// x (m, k) W^T (+ bias (n), added to each row) through `PackedLinear`; no gradient flows
/// through it.
pub fn linear_packed(x: &Tensor, packed: &[f32], n: usize, bias: Option<&[f32]>) -> Result<Tensor> {
    let (_, k) = x.dims2()?;
    if bias.is_some_and(|b| b.len() != n) {
        bail!("packed-linear: a bias of {} values for {n} outputs", bias.map_or(0, |b| b.len()));
    }
    x.contiguous()?.apply_op1_no_bwd(&PackedLinear { packed, n, k, bias })
}
