// The threaded build's pool of Web Workers (wasm-bindgen-rayon), as the model's worker and the
// training worker start it: one thread per core, at most MAX_THREADS.

// At most this many threads in a pool (the products split their rows among them).
export const MAX_THREADS = 8;

export const poolSize = () => Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));

/// Starts the pool of `glue` (the threaded build's wasm-bindgen module, instantiated) and lets its
/// products split from then on. Resolves to the number of threads, or to 0 if the pool could not
/// start: then `who` runs on one thread, and the console says why.
export async function startPool(glue, who) {
  const n = poolSize();
  try {
    await glue.initThreadPool(n);
    glue.poolReady();
    return n;
  } catch (e) {
    console.warn(`no thread pool (${e instanceof Error ? e.message : String(e)}): ${who} runs on one thread`);
    return 0;
  }
}
