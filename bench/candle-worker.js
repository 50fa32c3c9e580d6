// The candle side of the speed benchmark: one model in one worker, as the page runs it.
//   { type: 'load', model, threads, threaded, stream }
//                             -> { wasm_ms, pool_ms, fetch_ms, weights_ms, load_ms }: the wasm
//                                module fetched, compiled and instantiated (threads > 1 or
//                                threaded: the threaded build of pkg-threads/, and with
//                                threads > 1 its pool of `threads` workers started, pool_ms;
//                                without a pool it runs on this worker alone, as the page does
//                                where only one thread is available); the model's three files
//                                fetched; the model built from them (stream: the weights read a
//                                tensor at a time with byte ranges, as the page reads a person's
//                                large model: ModelLoader), and wasm_bytes_loaded, the module's
//                                memory once the model is built
//   { type: 'stages', runs, warmup } -> { runs: [{ preprocess_ms, .., decode_ms: [64] }], wasm_bytes }
//   { type: 'features' }      -> { pixels, features }: the bench image's input tensor and patch
//                                features, to check the ONNX graph against

let glue = null;
let wasm = null;
let model = null;

/// The model of `dir` read as the page reads a large file: config.json and tokenizer.json whole,
/// then model.safetensors's header, then each tensor by a ranged request.
async function streamed(get, dir) {
  const [config, tokenizer] = await Promise.all([get('config.json').then((r) => r.text()), get('tokenizer.json').then((r) => r.arrayBuffer())]);
  const range = async (start, end) => {
    const r = await fetch(`${dir}/model.safetensors`, { headers: { Range: `bytes=${start}-${end - 1}` } });
    if (r.status !== 206) throw new Error(`${dir}/model.safetensors: no byte ranges (HTTP ${r.status})`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const first = await range(0, 8);
  const size = Number((await fetch(`${dir}/model.safetensors`, { method: 'HEAD' })).headers.get('Content-Length'));
  const head = await range(0, glue.safetensorsHeaderBytes(first));
  const loader = new glue.ModelLoader(config, new Uint8Array(tokenizer), head, size);
  for (const { name, start, end } of loader.tensors()) loader.add(name, await range(start, end));
  return loader.finish();
}

async function load(dir, threads = 1, threaded = false, stream = false) {
  const t0 = performance.now();
  glue = await import(threads > 1 || threaded ? '../pkg-threads/vlm_explainer.js' : '../pkg/vlm_explainer.js');
  wasm = await glue.default();
  const tPool = performance.now();
  if (threads > 1) {
    await glue.initThreadPool(threads);
    glue.poolReady();
  }
  const t1 = performance.now();
  const get = async (name) => {
    const response = await fetch(`${dir}/${name}`);
    if (!response.ok) throw new Error(`${dir}/${name}: HTTP ${response.status}`);
    return response;
  };
  if (stream) {
    model = await streamed(get, dir);
    const t3 = performance.now();
    return { wasm_ms: tPool - t0, pool_ms: t1 - tPool, weights_ms: t3 - t1, load_ms: t3 - t0, wasm_bytes_loaded: wasm.memory.buffer.byteLength };
  }
  const [weights, config, tokenizer] = await Promise.all([
    get('model.safetensors').then((r) => r.arrayBuffer()),
    get('config.json').then((r) => r.text()),
    get('tokenizer.json').then((r) => r.arrayBuffer()),
  ]);
  const t2 = performance.now();
  model = new glue.VlmExplainer(new Uint8Array(weights), config, new Uint8Array(tokenizer));
  const t3 = performance.now();
  return { wasm_ms: tPool - t0, pool_ms: t1 - tPool, fetch_ms: t2 - t1, weights_ms: t3 - t2, load_ms: t3 - t0 };
}

function stages(runs, warmup) {
  const image = glue.benchImage();
  const out = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t = glue.benchStages(model, image.rgba, image.width, image.height);
    if (i >= warmup) out.push({ ...t, decode_ms: [...t.decode_ms] });
  }
  return { runs: out, wasm_bytes: wasm.memory.buffer.byteLength };
}

function features() {
  const image = glue.benchImage();
  model.preprocessRgba(image.rgba, image.width, image.height);
  const pixels = model.inputTensor().data;
  return { pixels, features: model.encode().data };
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'load') self.postMessage(await load(data.model, data.threads, data.threaded, data.stream));
    else if (data.type === 'stages') self.postMessage(stages(data.runs, data.warmup));
    else if (data.type === 'features') self.postMessage(features());
    else throw new Error(`unknown request ${data.type}`);
  } catch (e) {
    self.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
};
