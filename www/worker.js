// The model's thread: loads the wasm module and the model, runs each stage on request, and
// posts every stage's tensors back as soon as they exist. The page never blocks on the model.

import init, { VlmExplainer, shapesWorldScene } from '../pkg/vlm_explainer.js';
import { pcaColours } from './pca.js';

const MODEL_DIR = new URL('./model/', import.meta.url);
// Largest side sent to the model; bigger images are scaled down first (the model only ever
// sees the central square at 224 px, so nothing visible is lost).
const MAX_SIDE = 2048;
// Refuse before decoding anything that declares more pixels than this (a decompression bomb).
const MAX_PIXELS = 100e6;

let model = null;
let ready = init();

function post(msg, transfer = []) { self.postMessage(msg, transfer); }

function describe(e) { return e instanceof Error ? e.message : String(e); }

async function get(name) {
  const r = await fetch(new URL(name, MODEL_DIR));
  if (!r.ok) throw new Error(`www/model/${name}: HTTP ${r.status}`);
  return r;
}

async function fetchModelFiles(files) {
  const [weights, config, tokenizer] = await Promise.all([
    get(files.weights).then((r) => r.arrayBuffer()),
    get(files.config).then((r) => r.text()),
    get(files.tokenizer).then((r) => r.arrayBuffer()),
  ]);
  return { weights: new Uint8Array(weights), config, tokenizer: new Uint8Array(tokenizer) };
}

async function load(id, { preset, seed }) {
  const progress = (text) => post({ type: 'progress', id, text });
  progress('wasm');
  await ready;
  const started = performance.now();
  let label;
  let next;
  if (preset === 'default') {
    const manifest = await (await get('manifest.json')).json();
    if (manifest.files) {
      progress('fetch');
      const files = await fetchModelFiles(manifest.files);
      progress('weights');
      next = new VlmExplainer(files.weights, files.config, files.tokenizer);
      label = { trained: true, name: JSON.parse(files.config).name };
    } else {
      const { preset: fallback, seed: fallbackSeed } = manifest.fallback;
      progress('random');
      next = VlmExplainer.fromPreset(fallback, fallbackSeed);
      label = { trained: false, preset: fallback, seed: fallbackSeed };
    }
  } else {
    progress('random');
    next = VlmExplainer.fromPreset(preset, seed);
    label = { trained: false, preset, seed };
  }
  if (model) model.free();
  model = next;
  return {
    config: JSON.parse(model.configJson()),
    counts: model.parameterCounts(),
    label,
    ms: performance.now() - started,
  };
}

async function imageToRgba(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch {
    return null; // not something the browser decodes: the wasm decoder will say why
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) throw new Error(`the image is ${width}x${height} pixels, more than ${MAX_PIXELS / 1e6} million`);
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return { rgba: ctx.getImageData(0, 0, w, h).data, width: w, height: h };
}

async function run(id, { image, task, text, options }) {
  if (!model) throw new Error('the model is not loaded yet');
  const time = (fn) => { const t0 = performance.now(); const r = fn(); return [r, performance.now() - t0]; };

  const t0 = performance.now();
  const pixels = image instanceof Blob ? await imageToRgba(image) : image;
  if (pixels) model.preprocessRgba(new Uint8Array(pixels.rgba.buffer ?? pixels.rgba), pixels.width, pixels.height);
  else model.preprocessEncoded(new Uint8Array(await image.arrayBuffer()));
  const rgba = model.inputRgba();
  post({ type: 'stage', id, stage: 'input', rgba, ms: performance.now() - t0, tensorShape: [1, 3, 224, 224] }, [rgba.buffer]);

  const [features, encodeMs] = time(() => model.encode());
  const [, rows, cols] = features.shape;
  post({ type: 'stage', id, stage: 'encode', features, pca: pcaColours(features.data, rows, cols), ms: encodeMs });

  const [tokens, projectMs] = time(() => model.project());
  post({ type: 'stage', id, stage: 'project', tokens, weight: model.projectorWeight(), ms: projectMs });

  const [sequence, prefillMs] = time(() =>
    model.prefill(task, text, options.temperature, options.topK, options.seed, options.maxNewTokens));
  post({ type: 'stage', id, stage: 'prefill', sequence, ms: prefillMs });

  const genStart = performance.now();
  let count = 0;
  let finalText = '';
  for (;;) {
    const token = model.nextToken();
    if (token === null) break;
    count += 1;
    finalText = token.text;
    post({ type: 'token', id, token, elapsedMs: performance.now() - genStart });
  }
  const seconds = (performance.now() - genStart) / 1000;
  post({ type: 'done', id, text: finalText, tokens: count, tokensPerSecond: count / Math.max(seconds, 1e-6) });
}

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  try {
    if (type === 'load') post({ type: 'loaded', id, ...(await load(id, data)) });
    else if (type === 'run') await run(id, data);
    else if (type === 'scene') {
      await ready;
      const scene = shapesWorldScene(data.seed);
      post({ type: 'scene', id, ...scene }, [scene.rgba.buffer]);
    } else if (type === 'visionAttention') {
      const row = model.visionAttention(data.layer, data.head, data.query);
      post({ type: 'visionAttention', id, row }, [row.buffer]);
    } else throw new Error(`unknown request ${type}`);
  } catch (e) {
    post({ type: 'error', id, message: describe(e) });
  }
};
