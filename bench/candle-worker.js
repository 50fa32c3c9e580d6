// The candle side of the speed benchmark: one model in one worker, as the page runs it.
//   { type: 'load', model }   -> { wasm_ms, fetch_ms, weights_ms, load_ms }: the wasm module
//                                fetched, compiled and instantiated; the model's three files
//                                fetched; the model built from them
//   { type: 'stages', runs, warmup } -> { runs: [{ preprocess_ms, .., decode_ms: [64] }], wasm_bytes }
//   { type: 'features' }      -> { pixels, features }: the bench image's input tensor and patch
//                                features, to check the ONNX graph against

import init, { VlmExplainer, benchImage, benchStages } from '../pkg/vlm_explainer.js';

let wasm = null;
let model = null;

async function load(dir) {
  const t0 = performance.now();
  wasm = await init();
  const t1 = performance.now();
  const get = async (name) => {
    const response = await fetch(`${dir}/${name}`);
    if (!response.ok) throw new Error(`${dir}/${name}: HTTP ${response.status}`);
    return response;
  };
  const [weights, config, tokenizer] = await Promise.all([
    get('model.safetensors').then((r) => r.arrayBuffer()),
    get('config.json').then((r) => r.text()),
    get('tokenizer.json').then((r) => r.arrayBuffer()),
  ]);
  const t2 = performance.now();
  model = new VlmExplainer(new Uint8Array(weights), config, new Uint8Array(tokenizer));
  const t3 = performance.now();
  return { wasm_ms: t1 - t0, fetch_ms: t2 - t1, weights_ms: t3 - t2, load_ms: t3 - t0 };
}

function stages(runs, warmup) {
  const image = benchImage();
  const out = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t = benchStages(model, image.rgba, image.width, image.height);
    if (i >= warmup) out.push({ ...t, decode_ms: [...t.decode_ms] });
  }
  return { runs: out, wasm_bytes: wasm.memory.buffer.byteLength };
}

function features() {
  const image = benchImage();
  model.preprocessRgba(image.rgba, image.width, image.height);
  const pixels = model.inputTensor().data;
  return { pixels, features: model.encode().data };
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'load') self.postMessage(await load(data.model));
    else if (data.type === 'stages') self.postMessage(stages(data.runs, data.warmup));
    else if (data.type === 'features') self.postMessage(features());
    else throw new Error(`unknown request ${data.type}`);
  } catch (e) {
    self.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
};
