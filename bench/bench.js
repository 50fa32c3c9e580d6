// The speed benchmark's page: runs one engine at a time in a fresh worker, on request of
// bench/run.mjs, and keeps the candle features of the bench image to check the ONNX graph with.
//   await bench.candle({ preset, runs, warmup, threads })   candle wasm: loads, then every stage
//                                                 (threads > 1: the threaded build, pkg-threads/;
//                                                 stream: the weights read a tensor at a time;
//                                                 loads: how many loads, warmup + runs by default)
//   await bench.ort({ threads, runs, warmup })     onnxruntime-web: the seed vision encoder

class WorkerClient {
  constructor(script) { this.worker = new Worker(new URL(script, import.meta.url), { type: 'module' }); }

  call(message) {
    return new Promise((resolve, reject) => {
      this.worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
      this.worker.onerror = (e) => reject(new Error(e.message || 'the worker failed to start'));
      this.worker.postMessage(message);
    });
  }

  close() { this.worker.terminate(); }
}

// The seed model's input and features, from candle, for the ONNX side.
const seed = { pixels: null, features: null };

async function candle({ preset, runs, warmup, threads = 1, threaded = false, stream = false, loads: loadRuns = warmup + runs }) {
  const model = new URL(`out/models/${preset}`, import.meta.url).pathname;
  // Every load in a fresh worker: the module is fetched, compiled and instantiated each time.
  const loads = [];
  let worker = null;
  for (let i = 0; i < loadRuns; i++) {
    worker?.close();
    worker = new WorkerClient('candle-worker.js');
    const load = await worker.call({ type: 'load', model, threads, threaded, stream });
    if (i >= loadRuns - Math.max(1, loadRuns - warmup)) loads.push(load);
  }
  try {
    const stages = await worker.call({ type: 'stages', runs, warmup });
    if (preset === 'seed' && !seed.features && threads === 1 && !threaded) Object.assign(seed, await worker.call({ type: 'features' }));
    return { loads, ...stages, threads, threaded: threads > 1 || threaded, cross_origin_isolated: self.crossOriginIsolated };
  } finally {
    worker.close();
  }
}

async function ort({ threads, runs, warmup }) {
  if (!seed.pixels) throw new Error('run bench.candle({ preset: "seed" }) first: its input is the ONNX graph\'s');
  const worker = new WorkerClient('ort-worker.js');
  try {
    const model = new URL('out/seed_vision.onnx', import.meta.url).href;
    const out = await worker.call({ threads, runs, warmup, model, pixels: seed.pixels });
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < out.features.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(out.features[i] - seed.features[i]));
      maxAbs = Math.max(maxAbs, Math.abs(seed.features[i]));
    }
    delete out.features;
    return { ...out, max_abs_diff_vs_candle: maxDiff, max_abs_feature: maxAbs };
  } finally {
    worker.close();
  }
}

window.bench = { candle, ort, hardwareConcurrency: navigator.hardwareConcurrency };
const state = document.getElementById('state');
state.dataset.state = 'ready';
state.textContent = 'ready';
