// The page's first script, a classic one so that it runs as soon as it arrives, before the style
// sheet is in and the page's modules load (on two cores the first layout alone can hold the
// main thread for 100 ms): it starts the model's worker, whose thread takes a while to come up,
// and the wasm module's download and compile, both at once. www/model-client.js takes them over
// (it posts the module to the worker). An error of the worker before then (its script cannot
// load) is kept for model-client.js to report.
//
// Where the page is cross-origin isolated (scripts/serve.py sends COOP/COEP), the threaded build
// (pkg-threads/: its memory shared with a pool of Web Workers) is compiled; elsewhere, or if that
// build is missing or does not compile here (no relaxed SIMD), the single-thread one (pkg/). If
// neither compiles, `build` holds no module and the worker's glue fetches pkg/ and reports why.
(() => {
  const base = document.currentScript.src;
  const worker = new Worker(new URL('worker.js', base), { type: 'module' });
  performance.mark('vlm:worker-created');
  worker.onerror = (e) => {
    e.preventDefault();
    worker.failed = e.message || "the model's worker did not start";
  };
  const compile = (threaded) => WebAssembly.compileStreaming(
    fetch(new URL(`../${threaded ? 'pkg-threads' : 'pkg'}/vlm_explainer_bg.wasm`, base)))
    .then((module) => ({ module, threaded }));
  const canThread = self.crossOriginIsolated && typeof SharedArrayBuffer === 'function';
  const build = (canThread ? compile(true).catch(() => compile(false)) : compile(false))
    .then((built) => { performance.mark('vlm:wasm-compiled'); return built; }, () => ({ module: null, threaded: false }));
  self.vlmBoot = { worker, build };
})();
