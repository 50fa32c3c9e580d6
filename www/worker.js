// The model's thread: loads the wasm module and the model, runs each stage on request, and
// posts every stage's tensors back as soon as they exist. The page never blocks on the model.
// What is only drawn (the patch features' PCA colours) is computed when the page asks for it,
// after the answer: nothing runs between the image and its caption that the caption does not
// need.

import { pcaColours, nextTurn } from './pca.js';
import { checkImage, formatName, MAX_PIXELS, WASM_FORMATS } from './image-header.js';
import { buildModel, streamModel } from './model-files.js';
import { poolSize, startPool as startThreadPool } from './thread-pool.js';
import { mark, milestone } from './marks.js';

// Largest side sent to the model; bigger images are scaled down first (the model only ever
// sees the image at its input size, 224 px for the shipped model, so nothing visible is lost).
const MAX_SIDE = 2048;

let model = null;
// The shape of the model's input tensor, from its config.json (as geometry.js reads it: this
// worker's start, which the page waits for, imports no more than it needs).
let inputShape = null;
let wasm = null;
// The wasm-bindgen module in use: pkg/ (one thread) or pkg-threads/.
let glue = null;
// The last image's patch features `{ shape, data }`, for the PCA colours the page asks for.
let lastFeatures = null;
// Whether the page has the projector's weight in use (sent with the first run after a change).
let weightPosted = false;
// The page compiles the wasm module and downloads the shipped model while this worker's own
// scripts load (model-client.js): a `boot` message brings the module as soon as it is compiled
// (null: this worker fetches and compiles it itself) and says whether a `shipped` message will
// bring the shipped model's files (`{ manifest, files }`, or null: fetch them here).
// `threaded` says which build the module is.
let boot;
let threaded = false;
// The glue script the `boot` message will most likely name (the threaded build's, where the page
// is cross-origin isolated), fetched and parsed while the module still compiles; a wrong guess
// costs a small script's download.
const gluePath = (threads) => (threads ? '../pkg-threads/vlm_explainer.js' : '../pkg/vlm_explainer.js');
import(gluePath(self.crossOriginIsolated)).catch(() => {});
const ready = new Promise((resolve) => { boot = resolve; }).then(async (data) => {
  threaded = data.threaded;
  glue = await import(gluePath(threaded));
  wasm = await glue.default(data.module ? { module_or_path: data.module } : undefined);
  milestone('vlm:wasm-instantiated');
});

// The threaded build's pool of workers, started once the first model is built (so that the
// page is ready no later than with one thread) and waited for by every run. Until `poolReady`
// the products run on this thread alone.
let pool = null;
const threadCount = () => (threaded ? poolSize() : 1);
function startPool() {
  if (!threaded) return Promise.resolve();
  return startThreadPool(glue, 'the model').then((n) => { if (n) milestone('vlm:pool-ready'); });
}
// The page's shipped model, used by the first load of the shipped model only.
let receiveShipped;
let shipped = new Promise((resolve) => { receiveShipped = resolve; });

function post(msg, transfer = []) { self.postMessage(msg, transfer); }

function describe(e) { return e instanceof Error ? e.message : String(e); }

/// The model's config.json and value counts, as the page shows them.
function describeModel() {
  const config = JSON.parse(model.configJson());
  const size = config.vision.image_size;
  inputShape = [1, 3, size, size];
  return { config, counts: model.parameterCounts() };
}

// The weights file being read into a model (`{ name, size }`), while it is.
let reading = null;

async function load(id, request) {
  reading = null;
  const progress = (text, args = []) => post({ type: 'progress', id, text, args });
  progress('wasm');
  await ready;
  await pool;
  const started = performance.now();
  const { model: next, label } = await buildModel(request, {
    fromFiles: (weights, config, tokenizer) => new glue.VlmExplainer(weights, config, tokenizer),
    fromPreset: (preset, seed) => glue.VlmExplainer.fromPreset(preset, seed),
    // A person's or a served folder's weights: a tensor at a time, never the whole file at once.
    stream: (config, tokenizer, source, heard) => { reading = source; return streamModel(glue, config, tokenizer, source, heard); },
  }, {
    // The page's copy, for the first load of the shipped model only.
    shipped: () => { const fromPage = shipped; shipped = Promise.resolve(null); return fromPage; },
    progress,
  });
  milestone('vlm:model-built');
  pool ??= startPool();
  if (model) model.free();
  model = next;
  lastFeatures = null;
  weightPosted = false;
  warm = false;
  const described = describeModel();
  return {
    ...described,
    // A family's own config.json (nanoVLM's) has no name: the model's config gives it one.
    label: { ...label, name: label.name ?? described.config.name },
    // What the runs will use: the pool's size once it is up.
    threads: threadCount(),
    ms: performance.now() - started,
  };
}

/// An image file's pixels, decoded by the browser (which honours EXIF orientation and reads
/// AVIF), scaled to at most MAX_SIDE; `{ bytes }` when only the wasm decoder can read it. The header
/// is checked first, so nothing is decoded that declares too many pixels or is cut short.
async function imageToRgba(file, name) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  mark('vlm:file-read');
  const info = checkImage(bytes, name);
  if (info.format === 'svg') throw new Error(`${name}: SVG drawings are drawn by the page, not here: drop or choose the file on the page`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: 'from-image' });
  } catch {
    if (WASM_FORMATS.has(info.format)) return { bytes };
    throw new Error(`${name}: this browser cannot decode ${formatName(info.format)} images: save it as JPEG or PNG first`);
  }
  mark('vlm:bitmap-decoded');
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new Error(`${name}: the image is ${width}x${height} pixels, more than ${MAX_PIXELS / 1e6} million: scale it down first`);
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  mark('vlm:bitmap-drawn');
  const rgba = ctx.getImageData(0, 0, w, h).data;
  mark('vlm:pixels-read');
  return { rgba, width: w, height: h };
}

// V8 compiles each wasm function on its first call, then optimises the ones that run hot: the
// first image after a model is built would pay for both. Right after the build (a small model's:
// a large one's own first run dwarfs the compiling), one run on a grey image does it instead,
// stage by stage, giving way as soon as a real run waits. Nothing of it reaches the page.
const WARM_UP_MAX_PARAMETERS = 20e6;
let warm = false;
async function warmUp() {
  const counts = model?.parameterCounts();
  if (warm || !counts || counts.vision_encoder + counts.projector + counts.llm > WARM_UP_MAX_PARAMETERS) return;
  await pool;
  const built = model;
  const grey = new Uint8Array(64 * 64 * 4).fill(128);
  const stages = [
    () => built.preprocessRgba(grey, 64, 64),
    () => built.encode(),
    () => built.project(),
    () => built.prefill('caption', 'describe the image', 0, 0, 0, 4),
    () => { while (built.nextToken() !== null); },
  ];
  for (const stage of stages) {
    await nextTurn();
    if (runsWaiting > 0 || model !== built) return;
    stage();
  }
  warm = true;
  mark('vlm:warmed-up');
}

async function run(id, { image, task, text, options }) {
  if (!model) throw new Error('the model is not loaded yet');
  await pool;
  warm = true;
  const time = (fn) => { const t0 = performance.now(); const r = fn(); return [r, performance.now() - t0]; };

  const t0 = performance.now();
  mark('vlm:run-received');
  const name = image.name ?? 'the image';
  const pixels = image instanceof Blob ? await imageToRgba(image, name) : image;
  try {
    if (pixels.bytes) model.preprocessEncoded(pixels.bytes);
    else model.preprocessRgba(new Uint8Array(pixels.rgba.buffer ?? pixels.rgba), pixels.width, pixels.height);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) throw e;
    throw new Error(`${name}: ${describe(e)}`);
  }
  mark('vlm:preprocessed');
  const rgba = model.inputRgba();
  post({ type: 'stage', id, stage: 'input', rgba, ms: performance.now() - t0, tensorShape: inputShape }, [rgba.buffer]);
  mark('vlm:input-posted');

  const [features, encodeMs] = time(() => model.encode());
  mark('vlm:encoded');
  lastFeatures = features;
  post({ type: 'stage', id, stage: 'encode', features, ms: encodeMs });
  mark('vlm:encode-posted');

  const [tokens, projectMs] = time(() => model.project());
  mark('vlm:projected');
  // The projector's weight, the same for every image, goes with a model's or projector's first run.
  const weight = weightPosted ? null : model.projectorWeight();
  weightPosted = true;
  post({ type: 'stage', id, stage: 'project', tokens, weight, ms: projectMs });
  mark('vlm:project-posted');

  const [sequence, prefillMs] = time(() =>
    model.prefill(task, text, options.temperature, options.topK, options.seed, options.maxNewTokens));
  mark('vlm:prefilled');
  post({ type: 'stage', id, stage: 'prefill', sequence, ms: prefillMs });

  const genStart = performance.now();
  let count = 0;
  let finalText = '';
  for (;;) {
    const token = model.nextToken();
    if (token === null) break;
    count += 1;
    if (count === 1) mark('vlm:first-token');
    finalText = token.text;
    post({ type: 'token', id, token, elapsedMs: performance.now() - genStart });
  }
  const seconds = (performance.now() - genStart) / 1000;
  mark('vlm:last-token');
  post({
    type: 'done', id, text: finalText, tokens: count, tokensPerSecond: count / Math.max(seconds, 1e-6),
    wasmBytes: wasm.memory.buffer.byteLength,
  });
  mark('vlm:done-posted');
}

async function handle(data) {
  const { id, type } = data;
  try {
    if (type === 'load') {
      post({ type: 'loaded', id, ...(await load(id, data)) });
      // Behind whatever the page sent meanwhile. If it fails, the first run is only slower; if
      // the module trapped, the page replaces this worker as after a run.
      queue = queue.then(() => warmUp().catch((e) => {
        if (e instanceof WebAssembly.RuntimeError) post({ type: 'error', message: `the model stopped with an internal error (${describe(e)})`, fatal: true });
        else console.warn(`the warm-up run failed, so the first image runs cold: ${describe(e)}`);
      }));
    }
    else if (type === 'run') {
      runsWaiting -= 1;
      await run(id, data);
    }
    else if (type === 'scene') {
      await ready;
      const scene = glue.shapesWorldScene(data.seed);
      post({ type: 'scene', id, ...scene }, [scene.rgba.buffer]);
    } else if (type === 'projector') {
      // A projector trained in the page's training panel (safetensors bytes), or null for the
      // model's own. A file that does not fit leaves the projector in use as it was.
      if (!model) throw new Error('the model is not loaded yet');
      if (data.bytes) model.useProjector(data.bytes);
      else model.useOwnProjector();
      weightPosted = false;
      post({ type: 'projector', id, ...describeModel() });
    } else if (type === 'pca') {
      // Asked for when the features arrive; queued behind the run, so computed after its answer.
      if (!lastFeatures) throw new Error('no image has been encoded yet');
      // Given up (rgb null) as soon as another run waits behind it.
      const [, rows, cols] = lastFeatures.shape;
      const rgb = await pcaColours(lastFeatures.data, rows, cols, () => runsWaiting > 0);
      mark(rgb ? 'vlm:pca' : 'vlm:pca-superseded');
      post({ type: 'pca', id, rgb }, rgb ? [rgb.buffer] : []);
    } else if (type === 'visionAttention') {
      const row = model.visionAttention(data.layer, data.head, data.query);
      post({ type: 'visionAttention', id, row }, [row.buffer]);
    } else throw new Error(`unknown request ${type}`);
  } catch (e) {
    // A trap (a Rust panic, memory out of bounds) may leave the module's memory half-updated:
    // the page replaces this worker instead of calling into it again.
    const fatal = e instanceof WebAssembly.RuntimeError;
    let message = fatal ? `the model stopped with an internal error (${describe(e)})` : describe(e);
    // Building a large model is where the module's memory runs out (it cannot grow past what the
    // browser gives the tab): say which file it was.
    if (fatal && type === 'load' && reading) {
      message = `${reading.name} (${Math.round(reading.size / 1e6)} MB): building the model from it stopped the WebAssembly module (${describe(e)}), most likely for want of memory: close other tabs, or choose a smaller model`;
    }
    post({ type: 'error', id, message, fatal });
  }
}

// One request at a time, in the order sent: a run waits for the load before it.
let queue = Promise.resolve();
// Runs sent and not yet started: the PCA colours give way to them.
let runsWaiting = 0;
self.onmessage = ({ data }) => {
  if (data.type === 'boot') {
    milestone('vlm:boot');
    if (!data.shipped) receiveShipped(null);
    boot(data);
  } else if (data.type === 'shipped') {
    milestone('vlm:shipped');
    receiveShipped(data.model);
  } else {
    if (data.type === 'run') runsWaiting += 1;
    queue = queue.then(() => handle(data));
  }
};
milestone('vlm:worker-script');
