// The one place that owns the model's worker and its messages. Requests get an id; replies and
// stage events with that id go to the request's handler. If the wasm module traps, or the worker
// dies, the worker is replaced and `onCrash` is told, so the page can load its model again.

import { fetchShipped, fetchLocalManifest } from './model-files.js';

// Started as the page opens, before the rest of the page's scripts (index.html runs this module
// as soon as it arrives, and preloads the wasm and the model): the first worker, the wasm
// module's compile and the shipped model's download, all at once. The worker gets the compiled
// module as soon as it exists (every later worker gets it too), and the shipped model's bytes
// when they are in; a failure here leaves the fetch to the worker, which reports it.
// `vlm:` performance marks time the start (bench/page_timeline.mjs prints them); set here
// directly rather than with marks.js's `milestone`, so that this module, which the page runs
// before any other, waits for no import but the one it starts the download with.
//
// Where the page is cross-origin isolated (scripts/serve.py sends COOP/COEP), the threaded build
// (pkg-threads/: its memory shared with a pool of Web Workers) is used; elsewhere, or if that
// build is missing, the single-thread one (pkg/).
const canThread = self.crossOriginIsolated && typeof SharedArrayBuffer === 'function';
const compile = (threaded) => WebAssembly.compileStreaming(
  fetch(new URL(`../${threaded ? 'pkg-threads' : 'pkg'}/vlm_explainer_bg.wasm`, import.meta.url)))
  .then((module) => ({ module, threaded }));
const wasmModule = (canThread ? compile(true).catch(() => compile(false)) : compile(false))
  .then((built) => { performance.mark('vlm:wasm-compiled'); return built; }, () => ({ module: null, threaded: false }));
// The model folder scripts/serve.py serves with `--model DIR` (`{ name, files }`), or null: the
// page opens with it where there is one. Asked for at once, beside the shipped model.
export const localModel = fetchLocalManifest();
let shippedModel = fetchShipped().then((model) => { performance.mark('vlm:model-fetched'); return model; }, () => null);
let firstWorker = newWorker();

function newWorker() {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  performance.mark('vlm:worker-created');
  return worker;
}

// More crashes than this within CRASH_WINDOW_MS and the worker is not started again.
const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 60_000;

export class ModelClient {
  constructor(onCrash) {
    this.handlers = new Map();
    this.nextId = 1;
    this.onCrash = onCrash;
    this.crashes = [];
    this.start();
  }

  start() {
    const worker = firstWorker ?? newWorker();
    firstWorker = null;
    this.worker = worker;
    // The shipped model's bytes move to the first worker; a restarted one fetches its own.
    const shipped = shippedModel;
    shippedModel = null;
    wasmModule.then(({ module, threaded }) => worker.postMessage({ type: 'boot', module, threaded, shipped: Boolean(shipped) }));
    shipped?.then((model) => {
      const transfer = model?.files ? [model.files.weights.buffer, model.files.tokenizer.buffer] : [];
      worker.postMessage({ type: 'shipped', model }, transfer);
    });
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'error' && data.fatal) this.restart(data.message, data.id);
      else this.handlers.get(data.id)?.(data);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.restart(e.message || 'the model\'s worker stopped');
    };
  }

  /// Replaces the worker; every request still waiting fails with `message`.
  restart(message, id) {
    this.worker.terminate();
    const now = performance.now();
    this.crashes = [...this.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    const again = this.crashes.length <= MAX_CRASHES;
    const text = again
      ? `${message}. The model was restarted; try again`
      : `${message}. The model stopped ${this.crashes.length} times in a minute and was not restarted: reload the page`;
    const waiting = [...this.handlers.entries()].sort(([a], [b]) => (a === id ? -1 : b === id ? 1 : 0));
    this.handlers.clear();
    if (again) this.start();
    else this.stopped = text;
    this.onCrash?.(text, again);
    for (const [, handler] of waiting) handler({ type: 'error', message: text });
  }

  /// Sends a request; `onEvent` sees every message for it. Resolves with the final message
  /// (`loaded`, `done`, `visionAttention`, `pca`, `scene`, `projector`), rejects with an Error on `error`.
  request(msg, onEvent = () => {}, finalTypes = ['loaded', 'done', 'visionAttention', 'pca', 'scene', 'projector']) {
    const id = this.nextId++;
    if (this.stopped) return Promise.reject(new Error(this.stopped));
    return new Promise((resolve, reject) => {
      this.handlers.set(id, (data) => {
        if (data.type === 'error') {
          this.handlers.delete(id);
          reject(new Error(data.message));
        } else if (finalTypes.includes(data.type)) {
          this.handlers.delete(id);
          resolve(data);
        } else {
          onEvent(data);
        }
      });
      this.worker.postMessage({ ...msg, id });
    });
  }
}
