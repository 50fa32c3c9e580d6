// The speed benchmark's driver (scripts/bench.sh builds and installs what it needs, then runs
// this): in one browser session per browser, sets of interleaved engines, so the machine's noise
// hits them alike:
//   candle wasm (bench/index.html, a fresh worker per load; pkg/ on 1 thread, then, if it is
//   built, the threaded build of pkg-threads/ on 1 thread and on N) -> onnxruntime-web 1 thread ->
//   onnxruntime-web N threads (seed only) -> candle native 1 thread -> candle native N threads
// and, for `tiny`, the real page (index.html with www/model/): open to ready, drop to caption.
// Each engine: WARMUP runs dropped, then RUNS timed. Per stage: the median of each set, then the
// median of the set medians and their min-max. Writes bench/results.json and bench/results.md.
//
//   node bench/run.mjs [--sets 3] [--runs 5] [--warmup 1] [--presets tiny,seed]
//                      [--browsers chromium,firefox] [--native PATH_TO_stage_bench]
//   node bench/run.mjs --report-only    rewrites bench/results.md from bench/results.json

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { ROOT, serve, launch } from '../tests/page/helpers.mjs';
import { args, median, settledBlankTab } from './cli.mjs';
import { firefox } from './firefox.mjs';
import { wasmSize } from './wasm_size.mjs';

const SETS = Number(args.sets ?? 3);
const RUNS = Number(args.runs ?? 5);
const WARMUP = Number(args.warmup ?? 1);
const PRESETS = (args.presets ?? 'tiny,seed').split(',');
const BROWSERS = (args.browsers ?? 'chromium,firefox').split(',');
const NATIVE = args.native;
const MODELS = path.join(ROOT, 'bench/out/models');
// The threaded build (scripts/build.sh makes it with the nightly toolchain).
const THREADED = existsSync(path.join(ROOT, 'pkg-threads/vlm_explainer_bg.wasm'));
const log = (...a) => console.log('[bench]', ...a);

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

// samples[key] = { meta, sets: [[run values of set 0], [set 1], ...] }
const samples = new Map();
function add(meta, set, values) {
  const key = JSON.stringify([meta.preset, meta.stage, meta.engine, meta.browser ?? null, meta.threads, meta.build ?? null]);
  if (!samples.has(key)) samples.set(key, { meta, sets: [] });
  const entry = samples.get(key);
  (entry.sets[set] ??= []).push(...values);
}

/// Per-run stage times (from candle, wasm or native) as samples of every stage.
function addStages(meta, set, runs) {
  const stage = (name, f) => add({ ...meta, stage: name }, set, runs.map(f));
  stage('preprocess', (r) => r.preprocess_ms);
  stage('vision_encoder', (r) => r.vision_encoder_ms);
  stage('projection', (r) => r.projection_ms);
  stage('prefill', (r) => r.prefill_ms);
  stage('decode_token_1', (r) => r.decode_ms[0]);
  stage('decode_token_64', (r) => r.decode_ms[63]);
  stage('decode_per_token', (r) => sum(r.decode_ms) / r.decode_ms.length);
  // Image to a 32-token answer: token 1 comes from the prefill, tokens 2..32 from 31 steps.
  stage('image_to_32_tokens', (r) => r.preprocess_ms + r.vision_encoder_ms + r.projection_ms + r.prefill_ms + sum(r.decode_ms.slice(0, 31)));
  for (let k = 0; k < runs[0].decode_ms.length; k++) add({ ...meta, stage: `decode_token_${k + 1}`, hidden: k !== 0 && k !== 63 }, set, runs.map((r) => r.decode_ms[k]));
}

// --- engines ---------------------------------------------------------------------------------

/// candle wasm on `threads` threads; `threaded`: the threaded build (pkg-threads/), else pkg/.
async function candleWasm(driver, browser, preset, set, threads = 1, threaded = threads > 1) {
  const out = await driver.call('candle', { preset, runs: RUNS, warmup: WARMUP, threads, threaded });
  const meta = { preset, engine: 'candle-wasm', browser, threads, build: threaded ? 'pkg-threads' : 'pkg' };
  add({ ...meta, stage: 'load' }, set, out.loads.map((l) => l.load_ms));
  add({ ...meta, stage: 'load_wasm_module' }, set, out.loads.map((l) => l.wasm_ms));
  if (threads > 1) add({ ...meta, stage: 'load_thread_pool' }, set, out.loads.map((l) => l.pool_ms));
  add({ ...meta, stage: 'load_fetch_files' }, set, out.loads.map((l) => l.fetch_ms));
  add({ ...meta, stage: 'load_weights' }, set, out.loads.map((l) => l.weights_ms));
  addStages(meta, set, out.runs);
  notes.wasm_memory[`${browser} ${preset} ${meta.build}${threads > 1 ? ` ${threads}t` : ''}`] = out.wasm_bytes;
  notes.cross_origin_isolated[browser] = out.cross_origin_isolated;
}

async function ortWeb(driver, browser, threads, set) {
  const out = await driver.call('ort', { threads, runs: RUNS, warmup: WARMUP });
  const meta = { preset: 'seed', engine: 'onnxruntime-web', browser, threads };
  add({ ...meta, stage: 'load_vision_encoder' }, set, [out.load_ms]);
  add({ ...meta, stage: 'vision_encoder' }, set, out.vision_encoder_ms);
  notes.onnx_check[`${browser} ${threads}t`] = { max_abs_diff_vs_candle: out.max_abs_diff_vs_candle, max_abs_feature: out.max_abs_feature, threads_set: out.threads, cross_origin_isolated: out.cross_origin_isolated };
}

function candleNative(preset, threads, set) {
  const run = spawnSync(NATIVE, ['run', path.join(MODELS, preset), String(RUNS), String(WARMUP)], {
    env: { ...process.env, RAYON_NUM_THREADS: String(threads) }, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`stage_bench ${preset} (${threads} threads): ${run.stderr}`);
  const out = JSON.parse(run.stdout);
  const meta = { preset, engine: 'candle-native', threads: out.threads };
  add({ ...meta, stage: 'load' }, set, out.load_ms);
  addStages(meta, set, out.runs);
}

/// The real page with the shipped model: navigation to "ready", then a dropped image to its
/// whole caption, both timed inside the page (performance.now()).
///
/// Page open is timed two ways, alternately: page_open_to_ready as a person opens the page, in a
/// tab that is already open (a new browser context's page shows about:blank and settles for
/// 0.5 s, then navigates to the page); page_open_new_context with the page as the very first
/// navigation of a new browser context, which also pays for the context's set-up by the driver
/// (its renderer, the DevTools session) while the page loads.
async function realPage(browserHandle, set) {
  const meta = { preset: 'tiny', engine: 'candle-wasm (page, shipped model)', browser: 'chromium', threads: 1 };
  const image = readFileSync(path.join(MODELS, 'scene.png'));
  const opens = { page_open_to_ready: [], page_open_new_context: [] };
  let context = null;
  let page = null;
  for (let i = 0; i < WARMUP + RUNS; i++) {
    // The open tab last: its page takes the drops.
    for (const stage of ['page_open_new_context', 'page_open_to_ready']) {
      await context?.close();
      context = await browserHandle.newContext();
      page = await context.newPage();
      await page.addInitScript(() => {
        new MutationObserver((_, observer) => {
          const status = document.getElementById('status');
          if (status?.dataset.state === 'ready' && !window.__readyAt) { window.__readyAt = performance.now(); observer.disconnect(); }
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true });
      });
      if (stage === 'page_open_to_ready') await settledBlankTab(page);
      await page.goto(serverUrl);
      await page.waitForFunction(() => window.__readyAt, null, { timeout: 120_000 });
      if (i >= WARMUP) opens[stage].push(await page.evaluate(() => window.__readyAt));
    }
  }
  for (const [stage, values] of Object.entries(opens)) add({ ...meta, stage }, set, values);
  const drops = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const { ms, speed } = await page.evaluate(async (data) => {
      const speed = document.getElementById('speed');
      speed.textContent = '';
      const done = new Promise((resolve) => {
        new MutationObserver((_, observer) => {
          if (speed.textContent && document.getElementById('status').dataset.state === 'ready') { observer.disconnect(); resolve(performance.now()); }
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      const file = new File([new Uint8Array(data)], 'scene.png', { type: 'image/png' });
      const dt = new DataTransfer();
      dt.items.add(file);
      const target = document.querySelector('[data-testid="drop-zone"]');
      const t0 = performance.now();
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      return { ms: (await done) - t0, speed: speed.textContent };
    }, [...image]);
    if (i >= WARMUP) drops.push(ms);
    notes.page_caption = speed;
  }
  add({ ...meta, stage: 'drop_to_caption' }, set, drops);
  await context.close();
}

// --- browsers --------------------------------------------------------------------------------

async function chromiumDriver() {
  const browser = await launch();
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${serverUrl}bench/index.html`);
  await page.waitForSelector('#state[data-state="ready"]', { timeout: 60_000 });
  page.setDefaultTimeout(0);
  return {
    version: browser.version(),
    hardwareConcurrency: await page.evaluate(() => navigator.hardwareConcurrency),
    browser,
    call: async (name, a) => {
      try {
        return await page.evaluate(([n, x]) => window.bench[n](x), [name, a]);
      } catch (e) {
        throw new Error(`${e.message}${errors.length ? `\nconsole: ${errors.join('\n')}` : ''}`);
      }
    },
    close: () => browser.close(),
  };
}

// --- report ----------------------------------------------------------------------------------

const notes = { wasm_memory: {}, cross_origin_isolated: {}, onnx_check: {}, skipped: [] };
const STAGE_ORDER = ['page_open_to_ready', 'page_open_new_context', 'drop_to_caption', 'load', 'load_wasm_module', 'load_thread_pool', 'load_fetch_files', 'load_weights',
  'load_vision_encoder', 'preprocess', 'vision_encoder', 'projection', 'prefill', 'decode_token_1', 'decode_token_64',
  'decode_per_token', 'image_to_32_tokens'];

function records() {
  return [...samples.values()].map(({ meta, sets }) => {
    const setMedians = sets.filter(Boolean).map(median);
    const all = sets.flat();
    const { hidden, ...rest } = meta;
    return {
      ...rest,
      browser: meta.browser ?? null,
      hidden: Boolean(hidden),
      median_ms: median(setMedians),
      spread_ms: [Math.min(...setMedians), Math.max(...setMedians)],
      set_medians_ms: setMedians,
      runs: all.length,
    };
  });
}

const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const cell = (r) => (r ? `${fmt(r.median_ms)} (${fmt(r.spread_ms[0])}-${fmt(r.spread_ms[1])})` : '');

/// The issue's targets, read off this run's figures.
function targets(find, meta) {
  const b = meta.browsers[0];
  // The build the page runs where it is cross-origin isolated (Chromium here): the threaded one
  // if it was built, on one thread or on the pool.
  const build = meta.threaded ? 'pkg-threads' : 'pkg';
  const ms = (q) => find(q)?.median_ms;
  const row = (what, figure, met) => `| ${what} | ${figure} | ${met === undefined ? 'not measured' : met ? 'met' : 'not met'} |`;
  const lines = ['## Targets', '', `| target | this run (${b}) | |`, '| --- | --- | --- |'];
  for (const t of [...new Set([1, meta.max_threads])]) {
    const ort = ms({ preset: 'seed', stage: 'vision_encoder', engine: 'onnxruntime-web', browser: b, threads: t });
    // candle at t threads if its threaded build ran, else at 1.
    const ct = find({ preset: 'seed', stage: 'vision_encoder', engine: 'candle-wasm', browser: b, threads: t, build }) ? t : 1;
    const candle = ms({ preset: 'seed', stage: 'vision_encoder', engine: 'candle-wasm', browser: b, threads: ct, build });
    const single = t === 1 && build !== 'pkg' ? ms({ preset: 'seed', stage: 'vision_encoder', engine: 'candle-wasm', browser: b, threads: 1, build: 'pkg' }) : undefined;
    lines.push(row(`\`seed\` vision encoder faster than onnxruntime-web at ${t} thread${t > 1 ? 's' : ''} (candle: ${build}/, ${ct} thread${ct > 1 ? 's' : ''})`,
      ort && candle ? `candle ${fmt(candle)} ms, onnxruntime-web ${fmt(ort)} ms${single ? ` (pkg/, for browsers without relaxed SIMD: ${fmt(single)} ms)` : ''}` : '', ort && candle ? candle < ort : undefined));
  }
  for (const preset of meta.presets) {
    const ratios = ['preprocess', 'vision_encoder', 'projection', 'prefill', 'decode_per_token'].map((stage) => {
      const w = ms({ preset, stage, engine: 'candle-wasm', browser: b, threads: 1, build });
      const n = ms({ preset, stage, engine: 'candle-native', threads: 1 });
      return w && n ? [stage, n / w] : null;
    }).filter(Boolean);
    lines.push(row(`\`${preset}\`: wasm (${build}/) at 1 thread >= 50% of native's 1-thread speed, per stage`,
      ratios.map(([s, r]) => `${s} ${(100 * r).toFixed(0)}%`).join(', '), ratios.length ? ratios.every(([, r]) => r >= 0.5) : undefined));
    const d1 = ms({ preset, stage: 'decode_token_1', engine: 'candle-wasm', browser: b, threads: 1, build });
    const d64 = ms({ preset, stage: 'decode_token_64', engine: 'candle-wasm', browser: b, threads: 1, build });
    lines.push(row(`\`${preset}\`: decode token 64 <= 1.3x token 1`, d1 && d64 ? `${fmt(d64)} / ${fmt(d1)} ms = ${(d64 / d1).toFixed(2)}x` : '', d1 && d64 ? d64 <= 1.3 * d1 : undefined));
  }
  const page = (stage) => ms({ preset: 'tiny', stage, engine: 'candle-wasm (page, shipped model)', browser: 'chromium', threads: 1 });
  const open = page('page_open_to_ready');
  const drop = page('drop_to_caption');
  lines.push(row('`tiny`: page open to model ready <= 500 ms (the real page, Chromium, opened in a tab already open)', open ? `${fmt(open)} ms` : '', open ? open <= 500 : undefined));
  lines.push(row('`tiny`: image dropped to full caption <= 150 ms (the real page, Chromium)', drop ? `${fmt(drop)} ms` : '', drop ? drop <= 150 : undefined));
  const w = meta.wasm;
  lines.push(row('release wasm <= 3 MB (1 MB gzipped)', `${(w.total / 1e6).toFixed(2)} MB (${(w.gzip / 1e6).toFixed(2)} MB)`, w.total <= 3e6 && w.gzip <= 1e6));
  return lines;
}

function markdown(recs, meta) {
  const find = (q) => recs.find((r) => Object.entries(q).every(([k, v]) => r[k] === v));
  const lines = [];
  lines.push(`# Speed benchmark: results`, '');
  lines.push(`Measured ${meta.date} on this ${meta.cores}-core machine (load average ${meta.load_average.map((x) => x.toFixed(2)).join(', ')} at the start; ${meta.load_note}).`);
  lines.push(`${meta.sets} sets, each engine ${meta.warmup} warm-up run${meta.warmup === 1 ? '' : 's'} then ${meta.runs} timed runs, the engines interleaved within each set. `
    + `Figures in ms: the median of the set medians, (min-max of the set medians). Browsers: ${meta.browsers.join(', ')}.`, '');
  const columns = [];
  const build = meta.threaded ? 'pkg-threads' : 'pkg';
  for (const b of meta.browsers) {
    columns.push({ title: `candle wasm pkg/, ${b}, 1 thread`, q: { engine: 'candle-wasm', browser: b, threads: 1, build: 'pkg' } });
    for (const t of [...new Set([1, meta.max_threads])]) columns.push({ title: `candle wasm pkg-threads/, ${b}, ${t} thread${t > 1 ? 's' : ''}`, q: { engine: 'candle-wasm', browser: b, threads: t, build: 'pkg-threads' } });
  }
  for (const b of meta.browsers) for (const t of [1, meta.max_threads]) columns.push({ title: `onnxruntime-web ${meta.ort_version}, ${b}, ${t} thread${t > 1 ? 's' : ''}`, q: { engine: 'onnxruntime-web', browser: b, threads: t } });
  for (const t of [1, meta.max_threads]) columns.push({ title: `candle native, ${t} thread${t > 1 ? 's' : ''}`, q: { engine: 'candle-native', threads: t } });
  for (const preset of meta.presets) {
    lines.push(`## \`${preset}\``, '');
    const used = columns.filter((c) => recs.some((r) => r.preset === preset && Object.entries(c.q).every(([k, v]) => r[k] === v)));
    lines.push(`| stage | ${used.map((c) => c.title).join(' | ')} | wasm ${build}/ / native (1 thread) |`);
    lines.push(`| --- | ${used.map(() => '---').join(' | ')} | --- |`);
    for (const stage of STAGE_ORDER) {
      const row = used.map((c) => find({ preset, stage, ...c.q }));
      if (!row.some(Boolean)) continue;
      const wasm = find({ preset, stage, engine: 'candle-wasm', browser: meta.browsers[0], threads: 1, build });
      const native = find({ preset, stage, engine: 'candle-native', threads: 1 });
      const ratio = wasm && native ? `${(wasm.median_ms / native.median_ms).toFixed(2)}x` : '';
      lines.push(`| ${stage} | ${row.map(cell).join(' | ')} | ${ratio} |`);
    }
    const page = recs.filter((r) => r.preset === preset && r.engine.startsWith('candle-wasm (page'));
    if (page.length) {
      lines.push('', `The real page (index.html, the shipped \`tiny\` model of www/model/, Chromium): ${page.map((r) => `${r.stage} ${cell(r)}`).join('; ')}. Last caption's status line: "${notes.page_caption}".`);
    }
    const d1 = find({ preset, stage: 'decode_token_1', engine: 'candle-wasm', browser: meta.browsers[0], threads: 1, build });
    const d64 = find({ preset, stage: 'decode_token_64', engine: 'candle-wasm', browser: meta.browsers[0], threads: 1, build });
    if (d1 && d64) lines.push('', `Decode with the KV cache (${meta.browsers[0]}, ${build}/, 1 thread): token 64 costs ${(d64.median_ms / d1.median_ms).toFixed(2)}x token 1.`);
    lines.push('');
  }
  lines.push(...targets(find, meta), '');
  lines.push('## Notes', '');
  lines.push(meta.threaded
    ? `- candle wasm pkg-threads/: the threaded build (nightly, atomics, wasm-bindgen-rayon, relaxed SIMD: what the page runs where it is cross-origin isolated and the browser has relaxed SIMD, Chrome 114+ and Firefox 146+); at ${meta.max_threads} threads the linear layers' rows are split among a pool of ${meta.max_threads} workers (load_thread_pool is starting that pool), at 1 thread it runs without a pool. pkg/: the single-thread build (simd128 only), which the page runs elsewhere. The page's most threads: navigator.hardwareConcurrency = ${meta.max_threads}.`
    : `- candle wasm ran single-threaded only (pkg-threads/ not built): its "most threads" figure is its 1-thread figure. The page's most threads: navigator.hardwareConcurrency = ${meta.max_threads}.`);
  lines.push(`- onnxruntime-web runs the \`seed\` vision encoder only (bench/export_onnx.py, the same weights as candle's): ${Object.entries(notes.onnx_check).map(([k, v]) => `${k}: largest difference from candle's features ${v.max_abs_diff_vs_candle.toExponential(2)} (features up to ${v.max_abs_feature.toFixed(2)}), cross-origin isolated ${v.cross_origin_isolated}`).join('; ') || 'not run'}.`);
  lines.push(`- Models: each preset with weights drawn from seed 0 (f16 file, byte-level tokenizer, context ${meta.max_seq_len} so that 64 tokens fit after the 21-token prompt). Load = fetch, compile and instantiate the wasm module + fetch the three files + build the model (f16 -> f32), each in a fresh worker; natively, read the files + build.`);
  lines.push('- The real page: page_open_to_ready opens it in a tab that is already open (about:blank, settled for 0.5 s), as a person does; page_open_new_context makes it the first navigation of a new browser context, so it also pays for the driver setting that context up (how this benchmark timed page open until 2026-12-02). Both from the page\'s navigation start to its status turning "ready". drop_to_caption: in the open tab, each image dropped as soon as the last caption is shown.');
  lines.push(`- Stages: preprocess = ${meta.image} RGBA -> 224 x 224 normalised tensor; vision_encoder keeps every layer's attention, as the page does; prefill = 196 image tokens + 21 prompt tokens; decode_token_k = token k sampled and fed back (196 + 21 + k - 1 cached positions); image_to_32_tokens = preprocess + vision + projection + prefill + 31 decode steps.`);
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  const w = meta.wasm;
  const crates = Object.entries(w.code_by_crate).sort((a, b) => b[1] - a[1]);
  const shown = crates.slice(0, 8);
  lines.push(`- Release wasm (no wasm-opt): ${mb(w.total)}, ${mb(w.gzip)} gzipped (gzip -9): code ${mb(w.sections.code)} (${shown.map(([k, v]) => `${k} ${mb(v)}`).join(', ')}, the other ${crates.length - shown.length} crates ${mb(crates.slice(shown.length).reduce((a, [, v]) => a + v, 0))}), data ${mb(w.sections.data ?? 0)}, function names ${w.sections['custom name'] ? mb(w.sections['custom name']) : 'none (scripts/strip_wasm_names.py keeps them in vlm_explainer_bg.names.wasm)'}. Wasm memory after the stages: ${Object.entries(notes.wasm_memory).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(0)} MiB`).join(', ')}.`);
  for (const s of notes.skipped) lines.push(`- Skipped: ${s}`);
  return lines.join('\n') + '\n';
}

function wasmFacts() {
  const wasmPath = path.join(ROOT, 'pkg/vlm_explainer_bg.wasm');
  return { ...wasmSize(wasmPath), gzip: gzipSync(readFileSync(wasmPath), { level: 9 }).length };
}

// --- main ------------------------------------------------------------------------------------

if (args['report-only']) {
  const saved = JSON.parse(readFileSync(path.join(ROOT, 'bench/results.json'), 'utf8'));
  // Records from before the build was recorded: pkg/ at 1 thread, pkg-threads/ at more.
  for (const r of saved.records) if (r.engine === 'candle-wasm') r.build ??= r.threads > 1 ? 'pkg-threads' : 'pkg';
  saved.meta.wasm ??= wasmFacts();
  Object.assign(notes, saved.notes);
  writeFileSync(path.join(ROOT, 'bench/results.json'), JSON.stringify(saved, null, 1) + '\n');
  writeFileSync(path.join(ROOT, 'bench/results.md'), markdown(saved.records.filter((r) => !r.hidden), saved.meta));
  console.log(readFileSync(path.join(ROOT, 'bench/results.md'), 'utf8'));
  process.exit(0);
}

const server = await serve();
const serverUrl = server.url;
const drivers = [];
try {
  for (const name of BROWSERS) {
    try {
      // Firefox's start sometimes outlasts geckodriver's wait on a loaded machine: one retry.
      const start = name === 'chromium' ? chromiumDriver : () => firefox(serverUrl).catch(() => firefox(serverUrl));
      drivers.push({ name, driver: await start() });
      log(`${name} ${drivers.at(-1).driver.version}: ready`);
    } catch (e) {
      notes.skipped.push(`${name}: ${e.message.split('\n')[0]}`);
      log(`${name} skipped: ${e.message}`);
    }
  }
  if (!drivers.length) throw new Error('no browser could be driven');
  const maxThreads = drivers[0].driver.hardwareConcurrency;
  if (!NATIVE) notes.skipped.push('candle native: no --native binary given');
  for (let set = 0; set < SETS; set++) {
    for (const preset of PRESETS) {
      for (const { name, driver } of drivers) {
        log(`set ${set + 1}/${SETS} ${preset} candle-wasm ${name}`);
        await candleWasm(driver, name, preset, set, 1, false);
        for (const t of THREADED ? [...new Set([1, maxThreads])] : []) {
          log(`set ${set + 1}/${SETS} ${preset} candle-wasm ${name} pkg-threads ${t} thread(s)`);
          await candleWasm(driver, name, preset, set, t, true);
        }
        if (preset === 'seed') {
          for (const t of [...new Set([1, maxThreads])]) {
            log(`set ${set + 1}/${SETS} seed onnxruntime-web ${name} ${t} thread(s)`);
            try {
              await ortWeb(driver, name, t, set);
            } catch (e) {
              log(`onnxruntime-web ${name} ${t}t failed: ${e.message}`);
              if (set === 0) notes.skipped.push(`onnxruntime-web in ${name}, ${t} thread(s): ${e.message.split('\n')[0]}`);
            }
          }
        }
      }
      if (NATIVE) {
        for (const t of [...new Set([1, maxThreads])]) {
          log(`set ${set + 1}/${SETS} ${preset} candle-native ${t} thread(s)`);
          candleNative(preset, t, set);
        }
      }
      if (preset === 'tiny') {
        const chromium = drivers.find((d) => d.name === 'chromium');
        if (chromium) {
          log(`set ${set + 1}/${SETS} tiny: the real page`);
          await realPage(chromium.driver.browser, set);
        }
      }
    }
  }

  const seedConfig = JSON.parse(readFileSync(path.join(MODELS, 'seed/config.json'), 'utf8'));
  const meta = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cores: os.cpus().length,
    load_average: os.loadavg(),
    load_note: args['load-note'] ?? 'other processes may have shared the cores',
    sets: SETS, runs: RUNS, warmup: WARMUP, presets: PRESETS,
    browsers: drivers.map((d) => d.name),
    browser_versions: Object.fromEntries(drivers.map((d) => [d.name, d.driver.version])),
    max_threads: maxThreads,
    threaded: THREADED,
    ort_version: JSON.parse(readFileSync(path.join(ROOT, 'bench/node_modules/onnxruntime-web/package.json'), 'utf8')).version,
    max_seq_len: seedConfig.llm.max_seq_len,
    image: '1024 x 768',
    wasm: wasmFacts(),
    rustc: execFileSync('rustc', ['--version'], { encoding: 'utf8' }).trim(),
  };
  const recs = records();
  writeFileSync(path.join(ROOT, 'bench/results.json'), JSON.stringify({ meta, notes, records: recs }, null, 1) + '\n');
  const md = markdown(recs.filter((r) => !r.hidden), meta);
  writeFileSync(path.join(ROOT, 'bench/results.md'), md);
  console.log(md);
} finally {
  for (const { driver } of drivers) await driver.close().catch(() => {});
  server.close();
}
