// The training thread: a fresh projector between the page's model's frozen parts, trained step by
// step on ShapesWorld scenes, with every step's loss, time and memory posted to the page. Each
// reset starts a new worker, so the memory it reports belongs to one setting alone.

import { buildModel } from './model-files.js';
import { startPool } from './thread-pool.js';

// Where the page is cross-origin isolated, the threaded build (pkg-threads/) with a pool of
// workers of its own: each step's products with the frozen layers' weights split their rows
// among the threads. Elsewhere, or if that build or its pool fails, the single-thread pkg/.
let wasm = null;
let ProjectorTrainer = null;
let threads = 1;
async function load() {
  if (self.crossOriginIsolated && typeof SharedArrayBuffer === 'function') {
    try {
      const glue = await import('../pkg-threads/vlm_explainer.js');
      wasm = await glue.default();
      ProjectorTrainer = glue.ProjectorTrainer;
      threads = Math.max(1, await startPool(glue, 'training'));
      return;
    } catch (e) {
      console.warn(`no threaded build (${describe(e)}): training runs on one thread`);
    }
  }
  const glue = await import('../pkg/vlm_explainer.js');
  wasm = await glue.default();
  ProjectorTrainer = glue.ProjectorTrainer;
}
const ready = load();
let trainer = null;
let running = false;
let evalEvery = 25;
let lastEval = -1;
// The step of the last drift report (`drift`).
let lastDrift = -1;

function post(msg, transfer = []) { self.postMessage(msg, transfer); }

function describe(e) { return e instanceof Error ? e.message : String(e); }

const memory = () => wasm.memory.buffer.byteLength;
// From this much memory on, a trap is taken for memory running out: wasm32 addresses 4 GiB, and
// a step that needs more than the last gigabyte's room fails (seen 2026-12-02: the lesson-sized
// model's vision encoder, 86M values, trained at 8 scenes a step trapped at 4,091 MB).
const OUT_OF_MEMORY_BYTES = 3 * 2 ** 30;

/// The page's model as a trainer: the shipped model's files, an untrained preset, or the
/// person's own files.
async function makeTrainer({ model, kind, unfreeze, batch, lr, seed }) {
  const args = [kind, unfreeze, batch, lr, seed];
  const built = await buildModel(model, {
    fromFiles: (weights, config, tokenizer) => new ProjectorTrainer(weights, config, tokenizer, ...args),
    fromPreset: (preset, presetSeed) => ProjectorTrainer.fromPreset(preset, presetSeed, ...args),
  });
  return built.model;
}

function evaluate() {
  const report = trainer.evaluate();
  lastEval = report.step;
  post({ type: 'eval', report, memory: memory() });
  drift();
}

/// While the vision encoder trains: how far its features of the held-out scenes have moved from
/// the loaded encoder's, and what the model's own projector and LLM then say about those scenes
/// (the lesson's forgetting), once per step count. With the encoder frozen nothing moves.
function drift() {
  const step = trainer.info().step;
  if (!trainer.info().trainable.includes('vision_encoder') || step === lastDrift) return;
  post({ type: 'drifting' });
  const report = trainer.featureDrift();
  lastDrift = report.step;
  post({ type: 'drift', report, memory: memory() });
}

/// Steps until paused, one per task, so pause and download messages get in between steps.
async function loop() {
  while (running) {
    if (lastEval < 0) evaluate(); // the fresh projector's captions: noise to start from
    const report = trainer.step();
    post({ type: 'step', report, cache: trainer.info().cache, memory: memory() });
    if (report.step % evalEvery === 0) evaluate();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

async function handle(data) {
  try {
    if (data.type === 'init') {
      await ready;
      const started = performance.now();
      trainer = await makeTrainer(data);
      evalEvery = data.evalEvery ?? evalEvery;
      post({ type: 'ready', info: trainer.info(), memory: memory(), ms: performance.now() - started, threads });
    } else if (!trainer) {
      throw new Error('the trainer is not ready yet');
    } else if (data.type === 'start') {
      if (!running) {
        running = true;
        post({ type: 'running' });
        await loop();
      }
    } else if (data.type === 'pause') {
      running = false;
      drift();
      post({ type: 'paused', step: trainer.info().step });
    } else if (data.type === 'evaluate') {
      evaluate();
    } else if (data.type === 'download') {
      const bytes = trainer.projectorSafetensors();
      // `purpose`: 'explainer' when the page runs its explainer with it rather than saving it.
      post({ type: 'projector', bytes, info: trainer.info(), purpose: data.purpose }, [bytes.buffer]);
    } else if (data.type === 'load') {
      running = false;
      const bytes = new Uint8Array(await data.file.arrayBuffer());
      try {
        trainer.loadProjector(bytes);
        lastDrift = -1;
      } catch (e) {
        throw new Error(describe(e).replaceAll('the projector file', data.file.name));
      }
      post({ type: 'ready', info: trainer.info(), memory: memory(), loaded: data.file.name, threads });
      evaluate();
    } else throw new Error(`unknown request ${data.type}`);
  } catch (e) {
    running = false;
    const fatal = e instanceof WebAssembly.RuntimeError;
    // A trap with the module's memory near wasm32's 4 GiB is an allocation that found no room
    // (Rust aborts, the browser reports `unreachable`): said as what it is, in the page's words.
    const outOfMemory = fatal && memory() >= OUT_OF_MEMORY_BYTES;
    post({ type: 'error', message: fatal ? `training stopped with an internal error (${describe(e)})` : describe(e), fatal, outOfMemory, memory: memory() });
  }
}

// Messages are handled as they come: a pause arrives while the loop waits between steps.
self.onmessage = ({ data }) => { handle(data); };
