// A real-size nanoVLM in headless Chromium: load time (the weights read a tensor at a time by
// byte ranges, as the page reads a person's files), the module's memory once loaded and after
// generating, and every stage (vision encoder, projection, prefill, 64 decoded tokens) on one
// thread (pkg/, for browsers without relaxed SIMD), on the threaded build alone (pkg-threads/,
// what the page runs, before its pool starts) and on two threads (pkg-threads/, a pool of 2). Needs pkg/ and pkg-threads/ built with
// the bench entry (`VLM_FEATURES=bench scripts/build.sh`) and a model folder (default
// bench/out/models/nanovlm: config.json and model.safetensors as nanoVLM saves them, e.g. from
// `python3 bench/random_nanovlm.py` or `tests/reference/nanovlm.py --size real`, and a
// tokenizer.json whose vocabulary fits).
// Prints a table and writes the figures under `nanovlm` in bench/results.json.
//
//   node bench/nanovlm.mjs [--model bench/out/models/nanovlm] [--runs 2] [--warmup 1] [--only pkg-threads:2,...]

import { readFileSync, writeFileSync, statSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ROOT, launch, serve } from '../tests/page/helpers.mjs';
import { args, median } from './cli.mjs';

const MODEL = path.resolve(args.model ?? path.join(ROOT, 'bench/out/models/nanovlm'));
const RUNS = Number(args.runs ?? 2);
const WARMUP = Number(args.warmup ?? 1);
const relative = path.relative(path.join(ROOT, 'bench'), MODEL);
if (relative.startsWith('..')) throw new Error(`--model must be inside the repository (it is served from there): ${MODEL}`);
const fileBytes = statSync(realpathSync(path.join(MODEL, 'model.safetensors'))).size;
const config = JSON.parse(readFileSync(path.join(MODEL, 'config.json'), 'utf8'));

const server = await serve();
const browser = await launch();
const results = [];
try {
  // `--only pkg-threads:2` (build:threads, comma-separated) runs those rows alone.
  const rows = [[1, false], [1, true], [2, true]].filter(([threads, threaded]) => !args.only
    || args.only.split(',').includes(`${threaded ? 'pkg-threads' : 'pkg'}:${threads}`));
  for (const [threads, threaded] of rows) {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(0);
    await page.goto(`${server.url}bench/index.html`);
    await page.waitForSelector('#state[data-state="ready"]', { timeout: 60_000 });
    const out = await page.evaluate((a) => window.bench.candle(a), { preset: relative.replace(/^out\/models\//, ''), runs: RUNS, warmup: WARMUP, threads, threaded, stream: true, loads: 1 });
    const r = out.runs;
    const perToken = median(r.map((x) => x.decode_ms.reduce((a, b) => a + b, 0) / x.decode_ms.length));
    const row = {
      threads,
      build: threaded ? 'pkg-threads' : 'pkg',
      load_ms: out.loads[0].load_ms,
      wasm_bytes_loaded: out.loads[0].wasm_bytes_loaded,
      wasm_bytes_after_generation: out.wasm_bytes,
      vision_encoder_ms: median(r.map((x) => x.vision_encoder_ms)),
      projection_ms: median(r.map((x) => x.projection_ms)),
      prefill_ms: median(r.map((x) => x.prefill_ms)),
      decode_ms_per_token: perToken,
      decode_tokens_per_s: 1000 / perToken,
    };
    results.push(row);
    console.log(`[nanovlm] ${row.build}, ${threads} thread(s): ${JSON.stringify(row)}`);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}

const mib = (b) => (b / 2 ** 20).toFixed(0);
console.log(`| ${config.vit_hidden_dim ? 'nanoVLM' : 'model'} (${mib(fileBytes)} MiB file), Chromium ${browser.version()} | ${results.map((r) => `${r.build}/, ${r.threads} thread${r.threads > 1 ? 's' : ''}`).join(' | ')} |`);
console.log(`| --- | ${results.map(() => '---').join(' | ')} |`);
for (const [label, f] of [
  ['load (ms)', (r) => r.load_ms.toFixed(0)],
  ['wasm memory once loaded (MiB)', (r) => mib(r.wasm_bytes_loaded)],
  ['wasm memory after generating (MiB)', (r) => mib(r.wasm_bytes_after_generation)],
  ['peak / file size', (r) => (r.wasm_bytes_after_generation / fileBytes).toFixed(2)],
  ['vision encoder (ms)', (r) => r.vision_encoder_ms.toFixed(0)],
  ['projection (ms)', (r) => r.projection_ms.toFixed(1)],
  ['prefill (ms)', (r) => r.prefill_ms.toFixed(0)],
  ['decode (tokens/s)', (r) => r.decode_tokens_per_s.toFixed(1)],
]) console.log(`| ${label} | ${results.map(f).join(' | ')} |`);

const file = path.join(ROOT, 'bench/results.json');
const all = JSON.parse(readFileSync(file, 'utf8'));
all.nanovlm = { when: new Date().toISOString(), model: relative, file_bytes: fileBytes, chromium: browser.version(), runs: RUNS, warmup: WARMUP, results };
writeFileSync(file, `${JSON.stringify(all, null, 1)}\n`);
