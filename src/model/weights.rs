//! Where a model's weights come from and go: safetensors bytes in (f32, f16 or bf16 stored, each
//! tensor checked against config.json), safetensors bytes out. Seeded initialisation is
//! `train::init`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use candle_core::safetensors::BufferedSafetensors;
use candle_core::{bail, DType, Device, Error, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::model::config::Config;
use crate::model::vlm::Vlm;

/// A model from safetensors bytes. Tensors may be stored as f32, f16 or bf16; they are widened to
/// f32 once, here. Every tensor is checked against `config` before it is read, and every error
/// names the file and the tensor: a cut-short file, a tensor of another dtype, a missing tensor,
/// a shape that disagrees with config.json, or tensors the config does not use. The tensors have
/// this crate's names; `model::families::load` reads another family's.
pub fn load(config: &Config, weights: Vec<u8>, device: &Device) -> Result<Vlm> {
    load_from(config, whole_file(weights)?, Arc::new(OwnNames), device)
}

/// A safetensors file's bytes, checked, as a `TensorFile`.
pub fn whole_file(weights: Vec<u8>) -> Result<TensorFile> {
    if let Err(e) = SafeTensors::read_metadata(&weights) {
        return Err(file_error(&weights, e));
    }
    Ok(TensorFile::Whole(BufferedSafetensors::new(weights).map_err(|e| Error::Msg(format!("{FILE}: {e}")))?))
}

/// `load` from a checkpoint's tensors named in `checkpoint`'s vocabulary (`model::families`),
/// the whole file or read one tensor at a time (`TensorFile::Parts`: each given up as soon as the
/// model has read it, so the file is never in memory whole).
pub fn load_from(config: &Config, file: TensorFile, checkpoint: Arc<dyn Checkpoint>, device: &Device) -> Result<Vlm> {
    let names = file.names();
    let used = Arc::new(Mutex::new(HashSet::new()));
    let file = Arc::new(file);
    let backend = CheckedWeights { file: file.clone(), checkpoint: checkpoint.clone(), used: used.clone() };
    let vlm = Vlm::new(config, VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone()))?;
    checkpoint.check(&vlm, &file)?;
    refuse_unused(names.iter().map(String::as_str), &used.lock().expect("the set of read tensors is never poisoned"), checkpoint.as_ref())?;
    Ok(vlm)
}

/// An error naming the file's tensors that the model neither read nor expects the checkpoint to
/// carry.
fn refuse_unused<'a>(names: impl Iterator<Item = &'a str>, used: &HashSet<String>, checkpoint: &dyn Checkpoint) -> Result<()> {
    let mut unused: Vec<&str> = names.filter(|n| !used.contains(*n) && !checkpoint.carried(n)).collect();
    if unused.is_empty() {
        return Ok(());
    }
    unused.sort();
    let shown: Vec<String> = unused.iter().take(3).map(|n| format!("`{n}`")).collect();
    bail!(
        "{FILE} has {} tensor(s) the model of config.json does not use ({}{}): the two files come from different models",
        unused.len(),
        shown.join(", "),
        if unused.len() > 3 { ", ..." } else { "" }
    )
}

/// Where the model's tensor of a name is stored in a checkpoint of another vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Under this name, in the model's shape.
    One(String),
    /// Under this name, in another shape of the same size and first dimension (a convolution's
    /// (D, 3, 16, 16) kernel as the linear map's (D, 768)).
    Reshaped(String),
    /// Split over several tensors stacked along the first dimension, with their rows: a Llama
    /// checkpoint's q, k and v (and gate and up), which the model runs as one product.
    Stacked(Vec<(String, usize)>),
    /// Under the first of these names the file has (a tied LM head saved under either name).
    FirstOf(Vec<String>),
}

/// A checkpoint vocabulary: where each of the model's tensors is in the file, which of the file's
/// tensors the model recomputes instead of reading, and what to check once the model is built.
pub trait Checkpoint: Send + Sync {
    fn stored(&self, name: &str) -> Stored;
    /// A tensor of the file the model does not read (a buffer it recomputes, a tied matrix's
    /// second name): not an error.
    fn carried(&self, _file_name: &str) -> bool {
        false
    }
    /// Checks the built model against what the file carries beside its weights.
    fn check(&self, _vlm: &Vlm, _file: &TensorFile) -> Result<()> {
        Ok(())
    }
}

/// This crate's own names (`vision_encoder.*`, `projector.*`, `llm.*`): what the shipped model
/// and every preset store.
pub struct OwnNames;

impl Checkpoint for OwnNames {
    fn stored(&self, name: &str) -> Stored {
        Stored::One(name.to_string())
    }
}

/// A tensor's dtype, shape and bytes, read on its own.
pub struct TensorPart {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// The tensors of a safetensors checkpoint, as a model reads them.
pub enum TensorFile {
    /// The whole file in memory.
    Whole(BufferedSafetensors),
    /// Each tensor's bytes on their own, each dropped once the model has read it.
    Parts(Mutex<HashMap<String, TensorPart>>),
}

impl TensorFile {
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Whole(file) => file.tensors().into_iter().map(|(name, _)| name).collect(),
            Self::Parts(parts) => parts.lock().expect("the tensor parts are never poisoned").keys().cloned().collect(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::Whole(file) => file.get(name).is_ok(),
            Self::Parts(parts) => parts.lock().expect("the tensor parts are never poisoned").contains_key(name),
        }
    }

    /// `f` of the stored tensor `name`, if the file has it.
    pub fn with_view<R>(&self, name: &str, f: impl FnOnce(&TensorView<'_>) -> R) -> Option<R> {
        match self {
            Self::Whole(file) => file.get(name).ok().map(|view| f(&view)),
            Self::Parts(parts) => {
                let parts = parts.lock().expect("the tensor parts are never poisoned");
                let part = parts.get(name)?;
                let view = TensorView::new(part.dtype, part.shape.clone(), &part.bytes).ok()?;
                Some(f(&view))
            }
        }
    }

    /// Gives up the bytes of `name` (a part, once read; the whole file keeps its buffer).
    fn release(&self, name: &str) {
        if let Self::Parts(parts) = self {
            parts.lock().expect("the tensor parts are never poisoned").remove(name);
        }
    }

    /// A stored tensor as f32 values, as it is stored (no shape check).
    pub fn read_f32(&self, name: &str, device: &Device) -> Result<Option<Tensor>> {
        self.with_view(name, |view| widen(view, device)).transpose()
    }
}

/// The weights of a model file as named f32 tensors, each checked against `config` as `load`
/// checks it: the starting point of training in the browser.
pub fn load_tensors(config: &Config, weights: Vec<u8>, device: &Device) -> Result<HashMap<String, Tensor>> {
    load(config, weights.clone(), device)?;
    candle_core::safetensors::load_buffer(&weights, device)?
        .into_iter()
        .map(|(name, t)| Ok((name, t.to_dtype(DType::F32)?)))
        .collect()
}

const FILE: &str = "model.safetensors";

/// A readable account of a safetensors file that does not parse.
fn file_error(bytes: &[u8], e: SafeTensorError) -> Error {
    use SafeTensorError::*;
    let len = bytes.len();
    let declared = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let why = match e {
        HeaderTooSmall => format!("is {len} bytes long, too short to be a safetensors file"),
        InvalidHeaderLength | HeaderTooLarge => match declared {
            Some(n) if n <= 100_000_000 && n > len as u64 => format!(
                "is cut short: its header alone needs {n} bytes and the file has {len} (the download or copy did not finish)"
            ),
            _ => "is not a safetensors file (its first 8 bytes are not a header length)".into(),
        },
        InvalidHeader(_) | InvalidHeaderDeserialization(_) | JsonError(_) => {
            format!("is not a safetensors file (its header is not valid JSON: {e})")
        }
        MetadataIncompleteBuffer => match data_bytes_declared(bytes) {
            Some(need) if need > have_data(bytes) => format!(
                "is cut short: its header lists {need} bytes of tensor data and the file holds {} (the download or copy did not finish)",
                have_data(bytes)
            ),
            Some(need) => format!(
                "has {} bytes after the last tensor its header lists ({need} bytes of tensor data)",
                have_data(bytes) - need
            ),
            None => format!("has a header that does not match its data ({e})"),
        },
        InvalidOffset(name) => format!("lists a byte range for tensor `{name}` that overlaps or leaves a gap"),
        other => format!("is damaged: {other}"),
    };
    Error::Msg(format!("{FILE} {why}: choose the model.safetensors that came with config.json"))
}

fn have_data(bytes: &[u8]) -> u64 {
    let header = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).unwrap_or(0);
    (bytes.len() as u64).saturating_sub(8).saturating_sub(header)
}

/// The end of the last tensor's byte range, as the header declares it.
fn data_bytes_declared(bytes: &[u8]) -> Option<u64> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    header
        .as_object()?
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
}

/// Reads tensors for `Vlm::new`, checking each one's dtype and shape before converting it, and
/// remembering which were read.
struct CheckedWeights {
    file: Arc<TensorFile>,
    checkpoint: Arc<dyn Checkpoint>,
    used: Arc<Mutex<HashSet<String>>>,
}

/// The stored tensors that make the model's `name` of `shape` (`stored` says where), each checked
/// by `info` (its dtype and stored shape, `None` if the file lacks it): their names and the shape
/// each must have, in order.
fn stored_parts(
    stored: &Stored,
    name: &str,
    shape: &[usize],
    info: impl Fn(&str) -> Option<(Dtype, Vec<usize>)>,
) -> Result<Vec<String>> {
    let different = "the two files come from different models";
    let (parts, whole): (Vec<(String, Option<usize>)>, bool) = match stored {
        Stored::One(n) => (vec![(n.clone(), None)], true),
        Stored::Reshaped(n) => (vec![(n.clone(), None)], false),
        Stored::Stacked(ns) => (ns.iter().map(|(n, rows)| (n.clone(), Some(*rows))).collect(), false),
        Stored::FirstOf(ns) => {
            let n = ns.iter().find(|n| info(n).is_some()).unwrap_or(&ns[0]);
            (vec![(n.clone(), None)], true)
        }
    };
    for (part, rows) in &parts {
        let Some((dtype, stored_shape)) = info(part) else {
            let what = if part == name { String::new() } else { format!(" (the model's `{name}`)") };
            bail!("{FILE} has no tensor `{part}`{what}, which the model of config.json needs: {different}");
        };
        if !matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            bail!("{FILE}: tensor `{part}` is stored as {dtype:?}; weights must be F32, F16 or BF16: save the model again with floating-point weights");
        }
        let expected: Vec<usize> = match rows {
            Some(rows) => std::iter::once(*rows).chain(shape.iter().skip(1).copied()).collect(),
            None => shape.to_vec(),
        };
        let fits = if whole || rows.is_some() {
            stored_shape == expected
        } else {
            stored_shape.first() == expected.first() && stored_shape.iter().product::<usize>() == expected.iter().product::<usize>()
        };
        if !fits {
            bail!("{FILE}: tensor `{part}` has shape {stored_shape:?}, but config.json's sizes make it {expected:?}: {different}");
        }
    }
    Ok(parts.into_iter().map(|(n, _)| n).collect())
}

impl CheckedWeights {
    /// The stored tensor `stored` (the model's `name`) as f32 of `shape`.
    fn read(&self, stored: &Stored, name: &str, shape: &[usize], device: &Device) -> Result<Tensor> {
        let info = |n: &str| self.file.with_view(n, |view| (view.dtype(), view.shape().to_vec()));
        let parts = stored_parts(stored, name, shape, info)?;
        let mut tensors = Vec::with_capacity(parts.len());
        for part in &parts {
            let tensor = self.file.with_view(part, |view| widen(view, device)).expect("stored_parts checked it is there");
            tensors.push(tensor?);
        }
        let tensor = if tensors.len() == 1 { tensors.pop().expect("one tensor") } else { Tensor::cat(&tensors, 0)? };
        let mut used = self.used.lock().expect("the set of read tensors is never poisoned");
        for part in parts {
            self.file.release(&part);
            used.insert(part);
        }
        tensor.reshape(shape)
    }
}

/// One tensor of a safetensors file's header: its dtype, shape and byte range in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderEntry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// [start, end) in the whole file.
    pub start: u64,
    pub end: u64,
}

/// Largest safetensors header read (the 222M nanoVLM's is 50 KB).
const MAX_HEADER: u64 = 100_000_000;

/// Bytes a file's header needs, from its first 8 bytes: 8 + the header's length.
pub fn header_bytes(first: &[u8]) -> Result<u64> {
    let Some(n) = first.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))) else {
        bail!("{FILE} is {} bytes long, too short to be a safetensors file: choose the model.safetensors that came with config.json", first.len());
    };
    if n > MAX_HEADER {
        bail!("{FILE} is not a safetensors file (its first 8 bytes are not a header length): choose the model.safetensors that came with config.json");
    }
    Ok(8 + n)
}

/// The tensors a safetensors file of `file_len` bytes holds, from its first `header_bytes`
/// bytes, each range checked against its dtype, shape and the file's length.
pub fn read_header(head: &[u8], file_len: u64) -> Result<Vec<HeaderEntry>> {
    let need = header_bytes(head)?;
    let choose = "choose the model.safetensors that came with config.json";
    if need > file_len {
        bail!("{FILE} is cut short: its header alone needs {need} bytes and the file has {file_len} (the download or copy did not finish)");
    }
    let Some(json) = head.get(8..need as usize) else { bail!("{FILE}: the header was not read whole") };
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| Error::Msg(format!("{FILE} is not a safetensors file (its header is not valid JSON: {e}): {choose}")))?;
    let Some(table) = value.as_object() else { bail!("{FILE} is not a safetensors file (its header is not a table of tensors): {choose}") };
    let data = file_len - need;
    let mut entries = Vec::with_capacity(table.len());
    for (name, v) in table.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let bad = || Error::Msg(format!("{FILE}: the header's entry for `{name}` is not a tensor's: {choose}"));
        let dtype: Dtype = serde_json::from_value(v.get("dtype").cloned().ok_or_else(bad)?).map_err(|_| bad())?;
        let shape: Vec<usize> = serde_json::from_value(v.get("shape").cloned().ok_or_else(bad)?).map_err(|_| bad())?;
        let [start, end]: [u64; 2] = serde_json::from_value(v.get("data_offsets").cloned().ok_or_else(bad)?).map_err(|_| bad())?;
        let bytes = shape.iter().try_fold(dtype.bitsize() as u64 / 8, |n, &d| n.checked_mul(d as u64));
        if start > end || bytes != Some(end - start) {
            bail!("{FILE}: tensor `{name}` lists {} bytes for a {dtype:?} tensor of shape {shape:?}: the file is damaged: {choose}", end.saturating_sub(start));
        }
        if end > data {
            bail!("{FILE} is cut short: its header lists tensor data up to byte {end} and the file holds {data} (the download or copy did not finish)");
        }
        entries.push(HeaderEntry { name: name.clone(), dtype, shape, start: need + start, end: need + end });
    }
    entries.sort_by_key(|e| e.start);
    Ok(entries)
}

/// Records each tensor a model asks for and its shape, handing out values that take no memory.
struct Recorder(Arc<Mutex<Vec<(String, Vec<usize>)>>>);

impl SimpleBackend for Recorder {
    fn get(&self, shape: Shape, name: &str, _: candle_nn::Init, dtype: DType, device: &Device) -> Result<Tensor> {
        self.0.lock().expect("the record is never poisoned").push((name.to_string(), shape.dims().to_vec()));
        Tensor::zeros((), dtype, device)?.broadcast_as(shape)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        bail!("the model asked for `{name}` without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// Checks a file's header against the model `config` describes, before any weight is read: every
/// tensor the model needs is there with a floating-point dtype and the shape config.json's sizes
/// give it, and the file holds no tensor the model does not use. Returns the tensors to read.
pub fn check_header(config: &Config, header: &[HeaderEntry], checkpoint: &dyn Checkpoint) -> Result<Vec<HeaderEntry>> {
    let record = Arc::new(Mutex::new(Vec::new()));
    Vlm::new(config, VarBuilder::from_backend(Box::new(Recorder(record.clone())), DType::F32, Device::Cpu))?;
    let info = |n: &str| header.iter().find(|e| e.name == n).map(|e| (e.dtype, e.shape.clone()));
    let mut used = HashSet::new();
    for (name, shape) in record.lock().expect("the record is never poisoned").iter() {
        used.extend(stored_parts(&checkpoint.stored(name), name, shape, info)?);
    }
    refuse_unused(header.iter().map(|e| e.name.as_str()), &used, checkpoint)?;
    // What the model reads, and what the checkpoint carries beside it that is small (a buffer it
    // checks); a tied matrix's second copy is not read.
    Ok(header.iter().filter(|e| used.contains(&e.name) || (checkpoint.carried(&e.name) && e.end - e.start <= 1 << 20)).cloned().collect())
}

impl SimpleBackend for CheckedWeights {
    fn get(&self, shape: Shape, name: &str, _: candle_nn::Init, dtype: DType, device: &Device) -> Result<Tensor> {
        let tensor = self.read(&self.checkpoint.stored(name), name, shape.dims(), device)?;
        if dtype == DType::F32 { Ok(tensor) } else { tensor.to_dtype(dtype) }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let stored = self.checkpoint.stored(name);
        let first = match &stored {
            Stored::One(n) | Stored::Reshaped(n) => n.clone(),
            Stored::Stacked(ns) => ns.first().map(|(n, _)| n.clone()).unwrap_or_default(),
            Stored::FirstOf(ns) => ns.iter().find(|n| self.file.contains(n)).cloned().unwrap_or_default(),
        };
        let Some(shape) = self.file.with_view(&first, |view| view.shape().to_vec()) else {
            bail!("{FILE} has no tensor `{first}`")
        };
        self.get(Shape::from_dims(&shape), name, candle_nn::Init::Const(0.0), dtype, device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        match self.checkpoint.stored(name) {
            Stored::One(n) | Stored::Reshaped(n) => self.file.contains(&n),
            Stored::Stacked(ns) => ns.iter().all(|(n, _)| self.file.contains(n)),
            Stored::FirstOf(ns) => ns.iter().any(|n| self.file.contains(n)),
        }
    }
}

/// A stored f32, f16 or bf16 tensor as f32, converted straight from the file's bytes in one pass
/// (candle's `load` + `to_dtype` copies the f16 values first, then widens each through `half`'s
/// branching conversion: most of a model's load time in the browser).
fn widen(view: &TensorView<'_>, device: &Device) -> Result<Tensor> {
    let bytes = view.data();
    let halves = || bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => widen_f16(bytes),
        Dtype::BF16 => halves().map(|h| f32::from_bits((h as u32) << 16)).collect(),
        other => bail!("{FILE}: cannot widen a tensor stored as {other:?}"),
    };
    Tensor::from_vec(values, view.shape(), device)
}

/// Little-endian f16 bytes as f32s, each as `f16_to_f32` gives it. In the browser, 8 at a time
/// with simd128: the page builds its model right after the module is compiled, while V8 still
/// runs baseline (Liftoff) code, where the value-at-a-time loop was most of the model's build.
pub fn widen_f16(bytes: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; bytes.len() / 2];
    #[cfg(not(target_arch = "wasm32"))]
    let done = 0;
    #[cfg(target_arch = "wasm32")]
    let done = {
        use core::arch::wasm32::*;
        let splat = u32x4_splat;
        let widen4 = |h: v128| {
            let bits = u32x4_shl(v128_and(h, splat(0x7fff)), 13);
            let exp = v128_and(bits, splat(0x7c00 << 13));
            let bits = u32x4_add(bits, splat((127 - 15) << 23));
            // Infinities and NaNs: f32's all-ones exponent, NaNs made quiet.
            let special = u32x4_eq(exp, splat(0x7c00 << 13));
            let bits = u32x4_add(bits, v128_and(special, splat((128 - 16) << 23)));
            let nan = v128_and(special, v128_not(u32x4_eq(v128_and(bits, splat(0x7f_ffff)), splat(0))));
            let bits = v128_or(bits, v128_and(nan, splat(0x40_0000)));
            // Zeros and subnormals: renormalised by one float subtraction.
            let tiny = f32x4_sub(u32x4_add(bits, splat(1 << 23)), splat(113 << 23));
            let magnitude = v128_bitselect(tiny, bits, u32x4_eq(exp, splat(0)));
            v128_or(magnitude, u32x4_shl(v128_and(h, splat(0x8000)), 16))
        };
        for (dst, src) in out.chunks_exact_mut(8).zip(bytes.chunks_exact(16)) {
            // SAFETY: `src` holds 16 bytes and `dst` 8 f32s; v128 loads and stores need no alignment.
            unsafe {
                let h = v128_load(src.as_ptr() as *const v128);
                v128_store(dst.as_mut_ptr() as *mut v128, widen4(u32x4_extend_low_u16x8(h)));
                v128_store(dst.as_mut_ptr().add(4) as *mut v128, widen4(u32x4_extend_high_u16x8(h)));
            }
        }
        out.len() - out.len() % 8
    };
    for (y, b) in out[done..].iter_mut().zip(bytes[2 * done..].chunks_exact(2)) {
        *y = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
    out
}

/// An f16, given by its bits, as f32: the same value `half` gives (NaNs made quiet, as it and
/// x86's F16C do; a test checks all 65,536), without table or branches to mispredict. The
/// exponent is rebased from f16's bias (15) to f32's (127); zeros and subnormals are then
/// renormalised by one float subtraction, and infinities and NaNs get f32's all-ones exponent.
pub fn f16_to_f32(h: u16) -> f32 {
    const EXP: u32 = 0x7c00 << 13;
    let mut bits = (h as u32 & 0x7fff) << 13;
    let exp = bits & EXP;
    bits += (127 - 15) << 23;
    if exp == EXP {
        bits += (128 - 16) << 23;
        if bits & 0x7f_ffff != 0 {
            bits |= 0x40_0000;
        }
    }
    let magnitude = if exp == 0 {
        // 2^-14 * (1 + m / 1024) - 2^-14 = m * 2^-24, exactly.
        f32::from_bits(bits + (1 << 23)) - f32::from_bits(113 << 23)
    } else {
        f32::from_bits(bits)
    };
    f32::from_bits(magnitude.to_bits() | (h as u32 & 0x8000) << 16)
}

/// Every variable as safetensors bytes, stored as `dtype` (f16 halves the file).
pub fn to_safetensors(varmap: &VarMap, dtype: DType) -> Result<Vec<u8>> {
    let data = varmap.data().lock().expect("the VarMap lock is never poisoned");
    let tensors = data
        .iter()
        .map(|(name, var)| Ok((name.clone(), var.as_tensor().to_dtype(dtype)?)))
        .collect::<Result<HashMap<String, Tensor>>>()?;
    safetensors::serialize(&tensors, None).map_err(|e| candle_core::Error::Msg(format!("safetensors: {e}")))
}
