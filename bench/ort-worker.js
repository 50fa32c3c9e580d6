// The onnxruntime-web side of the speed benchmark: the `seed` vision encoder as ONNX
// (bench/export_onnx.py) in the wasm backend, `threads` threads, in a worker of its own.
//   { threads, runs, warmup, model, pixels } -> { load_ms, vision_encoder_ms: [runs],
//     features, threads, cross_origin_isolated, wasm_bytes }

import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

self.onmessage = async ({ data: { threads, runs, warmup, model, pixels } }) => {
  try {
    // Set before the first session: the runtime starts its threads once.
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
    const t0 = performance.now();
    const response = await fetch(model);
    if (!response.ok) throw new Error(`${model}: HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const loadMs = performance.now() - t0;
    const input = new ort.Tensor('float32', pixels, [1, 3, 224, 224]);
    const times = [];
    let features = null;
    for (let i = 0; i < warmup + runs; i++) {
      const t = performance.now();
      const out = await session.run({ pixels: input });
      const ms = performance.now() - t;
      if (i >= warmup) times.push(ms);
      features = out.patch_features.data;
    }
    await session.release();
    self.postMessage({
      load_ms: loadMs,
      vision_encoder_ms: times,
      features,
      threads: ort.env.wasm.numThreads,
      cross_origin_isolated: self.crossOriginIsolated,
    });
  } catch (e) {
    self.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
};
