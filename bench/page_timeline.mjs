// Where the real page's time goes between opening it and "model ready" (the status line's
// data-state turning "ready", as bench/run.mjs's page_open_to_ready times it), in headless
// Chromium. Each run opens index.html in a fresh context and prints, in ms since navigation start:
// the page's milestones (DOMContentLoaded, load, first paint), the `vlm:` performance marks the
// page and its model worker set (www/model-client.js, www/worker.js), every request of the page
// and of the worker (start -> end), and the main thread's long tasks. Then the median of every
// milestone over the runs.
//
//   node bench/page_timeline.mjs [--runs 5] [--quiet] [--roots DIR_A,DIR_B] [--trace FILE] [--revisit] [--new-context]
//
//   node bench/page_timeline.mjs --drop [--runs 5] [--warmup 2] [--quiet] [--roots DIR_A,DIR_B] [--trace FILE] [--back-to-back]
//
// --drop times a dropped image to its caption instead, as bench/run.mjs's drop_to_caption does
// (from dispatching the `drop` event to the status "ready" with the answer's speed shown), in
// one page per root opened once, the roots' drops alternating: every `vlm:` mark of the run in
// the page and in the model's worker, in ms since the drop, and the main thread's long tasks;
// then the median of each, and with two roots the median difference drop by drop. The image is
// bench/out/models/scene.png (the bench's ShapesWorld scene) if it exists, else
// tests/fixtures/image.png. --trace records one more drop per root as a Chromium trace.
// --back-to-back drops as bench/run.mjs does, the next image as soon as the caption is shown:
// each timed drop follows an untimed one on the same page at once, so it meets whatever the
// page and the worker still do after a caption (by default each drop waits 400 ms first).
//
// Each run opens the page as bench/run.mjs's page_open_to_ready does, in a tab already open: a
// new browser context's page shows about:blank for 0.5 s, then navigates to the page.
// --new-context makes the page the context's first navigation instead (bench/run.mjs's
// page_open_new_context), which also pays for the driver setting the context up.
//
// --revisit times a second visit instead: each run opens the page, waits until it is ready and
// 3 s more (for the browser to keep the wasm module's compiled code), then opens it again in the
// same browser context and times that.
//
// --roots serves each directory (a checkout of the repository, with pkg/ built) on its own port
// and opens them alternately, so that the machine's noise hits them alike; the default is this
// repository. --trace also records one more run per root as a Chromium trace and prints each
// thread's CPU time until ready (FILE gets the trace, suffixed with the root's index).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, launch, serve } from '../tests/page/helpers.mjs';
import { args, median, settledBlankTab } from './cli.mjs';

const RUNS = Number(args.runs ?? 5);
const ROOTS = (args.roots ? String(args.roots).split(',') : [ROOT]).map((r) => path.resolve(r));
const QUIET = Boolean(args.quiet);
const REVISIT = Boolean(args.revisit);
const NEW_CONTEXT = Boolean(args['new-context']);



// In the page before any of its scripts: the moment the status turns "ready", long tasks.
function instrument() {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
  new MutationObserver((_, observer) => {
    const status = document.getElementById('status');
    if (status?.dataset.state === 'ready' && !window.__readyAt) { window.__readyAt = performance.now(); observer.disconnect(); }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true });
}

const entries = () => ({
  timeOrigin: performance.timeOrigin,
  marks: performance.getEntriesByType('mark').map((m) => [m.name, m.startTime]),
  resources: performance.getEntriesByType('resource').map((r) => [new URL(r.name).pathname.slice(1), r.startTime, r.responseEnd]),
});

async function openOnce(browser, url, trace) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const workers = [];
  page.on('worker', (w) => workers.push(w));
  await page.addInitScript(instrument);
  if (!REVISIT && !NEW_CONTEXT) await settledBlankTab(page);
  if (REVISIT) {
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'ready', null, { timeout: 60_000 });
    await page.waitForTimeout(3000);
    workers.length = 0;
  }
  if (trace) {
    await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.wasm', 'blink.user_timing', 'toplevel'] });
  }
  await page.goto(url, { waitUntil: 'commit' });
  // Polls with the page's own timer; no script of the driver's runs in the page meanwhile.
  const readyAt = await page.evaluate(() => new Promise((resolve) => {
    const poll = () => (window.__readyAt ? resolve(window.__readyAt) : setTimeout(poll, 20));
    poll();
  }));
  const traceBytes = trace ? await browser.stopTracing() : null;
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
    return { dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, html: n.responseEnd, firstPaint: paint['first-paint'], longTasks: window.__longTasks };
  });
  const pageEntries = await page.evaluate(entries);
  const workerEntries = [];
  // The thread pool's workers (blob: URLs, started by wasm-bindgen-rayon) set no marks and wait
  // on shared memory: evaluating in them stalls, and closing their context then took the
  // browser down.
  for (const w of workers.filter((w) => !w.url().startsWith('blob:'))) {
    try { workerEntries.push({ url: w.url(), ...(await w.evaluate(entries)) }); } catch (e) { console.error(`worker ${w.url()}: ${e.message}`); }
  }
  await context.close();
  // Everything in ms since the page's navigation start.
  const shift = (origin) => (t) => t + origin - pageEntries.timeOrigin;
  const events = [];
  for (const [name, t] of pageEntries.marks) events.push([t, 'page', `mark ${name}`]);
  // Chromium lists the worker's own requests among the page's, with times that do not add up
  // (an end before the start): those are marked.
  for (const [name, s, e] of pageEntries.resources) events.push([s, 'page', `GET ${name} -> ${e.toFixed(0)}${e < s ? ' (the worker\'s, times unreliable)' : ''}`]);
  for (const w of workerEntries) {
    const at = shift(w.timeOrigin);
    const who = `worker ${new URL(w.url).pathname.split('/').pop()}`;
    events.push([at(0), who, 'worker starts (its time origin)']);
    for (const [name, t] of w.marks) events.push([at(t), who, `mark ${name}`]);
    for (const [name, s, e] of w.resources) events.push([at(s), who, `GET ${name} -> ${at(e).toFixed(0)}`]);
  }
  for (const [s, d] of nav.longTasks) events.push([s, 'page', `long task ${d.toFixed(0)} ms`]);
  events.push([nav.html, 'page', 'HTML received'], [nav.firstPaint, 'page', 'first paint'], [nav.dcl, 'page', 'DOMContentLoaded'],
    [nav.load, 'page', 'load'], [readyAt, 'page', 'READY (status data-state="ready")']);
  events.sort((a, b) => a[0] - b[0]);
  const milestones = { html: nav.html, first_paint: nav.firstPaint, dcl: nav.dcl, load: nav.load, ready: readyAt };
  for (const [t, who, what] of events) if (what.startsWith('mark ')) milestones[`${who.split(' ')[0]} ${what.slice(5)}`] ??= t;
  return { events, milestones, traceBytes };
}

/// Each thread's CPU time (trace events' thread durations, outermost events only) from
/// navigation start until the page's READY.
function cpuByThread(traceBytes, readyAt) {
  const trace = JSON.parse(traceBytes);
  const events = trace.traceEvents ?? trace;
  const names = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
  const nav = events.filter((e) => e.name === 'navigationStart').map((e) => e.ts).sort((a, b) => a - b).at(-1);
  const perThread = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || e.tdur === undefined || e.ts < nav || e.ts > nav + readyAt * 1000) continue;
    const key = `${e.pid}:${e.tid}`;
    if (!perThread.has(key)) perThread.set(key, []);
    perThread.get(key).push(e);
  }
  const rows = [];
  for (const [key, list] of perThread) {
    list.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    let end = -1;
    let cpu = 0;
    for (const e of list) if (e.ts >= end) { cpu += e.tdur / 1000; end = e.ts + e.dur; }
    rows.push([names.get(key) ?? key, cpu]);
  }
  const merged = new Map();
  for (const [name, cpu] of rows) merged.set(name, (merged.get(name) ?? 0) + cpu);
  return [...merged].sort((a, b) => b[1] - a[1]);
}

// --- a dropped image to its caption ---------------------------------------------------------

/// Drops `bytes` on the page and resolves when the caption is shown (bench/run.mjs's moment:
/// the speed line set and the status ready), then waits for the page to go quiet. Returns every
/// `vlm:` mark of this run, page and model worker, in ms since the drop.
async function dropOnce(page, bytes, name, settleMs = 400) {
  const { t0, shownAt, longTasks, marks, origin } = await page.evaluate(async ({ data, name, settleMs }) => {
    const speed = document.getElementById('speed');
    speed.textContent = '';
    window.__longTasks = [];
    const done = new Promise((resolve) => {
      new MutationObserver((_, observer) => {
        if (speed.textContent && document.getElementById('status').dataset.state === 'ready') { observer.disconnect(); resolve(performance.now()); }
      }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    const file = new File([new Uint8Array(data)], name, { type: 'image/png' });
    const dt = new DataTransfer();
    dt.items.add(file);
    const target = document.querySelector('[data-testid="drop-zone"]');
    const t0 = performance.now();
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const shownAt = await done;
    // What the page still does after the caption (panels, the attention map's round trip).
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return {
      t0, shownAt, longTasks: window.__longTasks, origin: performance.timeOrigin,
      marks: performance.getEntriesByType('mark').filter((m) => m.name.startsWith('vlm:')).map((m) => [m.name, m.startTime]),
    };
  }, { data: [...bytes], name, settleMs });
  const out = { 'CAPTION SHOWN': shownAt - t0 };
  for (const [n, t] of marks) if (t >= t0) out[`page ${n.slice(4)}`] = t - t0;
  const worker = page.workers().find((w) => /\/worker\.js$/.test(w.url()));
  if (worker) {
    const w = await worker.evaluate(() => ({
      origin: performance.timeOrigin,
      marks: performance.getEntriesByType('mark').filter((m) => m.name.startsWith('vlm:')).map((m) => [m.name, m.startTime]),
    }));
    for (const [n, t] of w.marks) {
      const at = t + w.origin - origin - t0;
      if (at >= 0) out[`worker ${n.slice(4)}`] = at;
    }
  }
  for (const [s, d] of longTasks) if (s + d >= t0) out[`long task ${d.toFixed(0)} ms at`] = s - t0;
  return out;
}

/// Waits until the page has drawn everything a run leaves (strip, PCA map) and 400 ms more.
async function settle(page) {
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: 30_000 });
  await page.waitForTimeout(400);
}

async function dropRuns(servers, browser) {
  const imageFile = [path.join(ROOT, 'bench/out/models/scene.png'), path.join(ROOT, 'tests/fixtures/image.png')].find(existsSync);
  const bytes = readFileSync(imageFile);
  const WARMUP = Number(args.warmup ?? 2);
  console.log(`dropping ${path.relative(ROOT, imageFile)}, ${WARMUP} warm-up drops and ${RUNS} timed per root`);
  const pages = [];
  for (const s of servers) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e}`));
    await page.addInitScript(instrument);
    await page.goto(s.url);
    await page.waitForFunction(() => window.__readyAt, null, { timeout: 120_000 });
    pages.push(page);
  }
  for (let i = 0; i < WARMUP; i++) for (const page of pages) await dropOnce(page, bytes, 'scene.png');
  if (args.trace) {
    // One more drop per root, traced: each thread's busiest kinds of work until the caption.
    for (let r = 0; r < ROOTS.length; r++) {
      await browser.startTracing(pages[r], { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'blink.user_timing', 'toplevel'] });
      const run = await dropOnce(pages[r], bytes, 'scene.png');
      const file = `${args.trace}.drop.${r}.json`;
      writeFileSync(file, await browser.stopTracing());
      console.log(`\n== ${ROOTS[r]}: traced drop, caption shown at ${run['CAPTION SHOWN'].toFixed(1)} ms (trace in ${file})`);
    }
  }
  const results = ROOTS.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (let r = 0; r < ROOTS.length; r++) {
      let run;
      if (args['back-to-back']) {
        await dropOnce(pages[r], bytes, 'scene.png', 0);
        run = await dropOnce(pages[r], bytes, 'scene.png', 0);
        // Quiet again before the other root's drops.
        await settle(pages[r]);
      } else {
        run = await dropOnce(pages[r], bytes, 'scene.png');
      }
      results[r].push(run);
      console.log(`${QUIET ? '' : '\n== '}${ROOTS[r]} drop ${i + 1}: caption shown at ${run['CAPTION SHOWN'].toFixed(1)} ms`);
      if (!QUIET) for (const [k, v] of Object.entries(run).sort((a, b) => a[1] - b[1])) console.log(`${v.toFixed(1).padStart(8)}  ${k}`);
    }
  }
  console.log(`\nMedians over ${RUNS} drops (ms since the drop):`);
  for (let r = 0; r < ROOTS.length; r++) {
    const shown = results[r].map((run) => run['CAPTION SHOWN']);
    console.log(`${ROOTS[r]}: caption shown ${median(shown).toFixed(1)} ms (drops: ${shown.map((x) => x.toFixed(0)).join(', ')})`);
    const keys = [...new Set(results[r].flatMap((run) => Object.keys(run)))].filter((k) => !k.startsWith('long task'));
    const rows = keys.map((k) => [k, median(results[r].map((run) => run[k])), results[r].filter((run) => run[k] !== undefined).length]);
    for (const [k, v, n] of rows.sort((a, b) => a[1] - b[1])) console.log(`  ${v.toFixed(1).padStart(7)}  ${k}${n < RUNS ? ` (in ${n} of ${RUNS} drops)` : ''}`);
    const long = results[r].flatMap((run) => Object.keys(run).filter((k) => k.startsWith('long task')));
    if (long.length) console.log(`  long tasks: ${long.map((k) => k.match(/\d+/)[0]).join(', ')} ms`);
  }
  // The drops of one round ran back to back, so their difference is the least noisy figure.
  for (let r = 1; r < ROOTS.length; r++) {
    const diffs = results[r].map((run, i) => run['CAPTION SHOWN'] - results[0][i]['CAPTION SHOWN']);
    console.log(`${ROOTS[r]} - ${ROOTS[0]}, drop by drop: median ${median(diffs).toFixed(1)} ms, faster in ${diffs.filter((d) => d < 0).length} of ${RUNS} rounds`);
  }
}

const servers = await Promise.all(ROOTS.map(serve));
const browser = await launch();
if (args.drop) {
  try { await dropRuns(servers, browser); } finally { await browser.close(); for (const s of servers) s.close(); }
  process.exit(0);
}
const results = ROOTS.map(() => []);
try {
  // One warm-up open per root, not counted.
  for (const s of servers) await openOnce(browser, s.url);
  for (let i = 0; i < RUNS; i++) {
    for (let r = 0; r < ROOTS.length; r++) {
      const run = await openOnce(browser, servers[r].url);
      results[r].push(run);
      if (!QUIET) {
        console.log(`\n== ${ROOTS[r]} run ${i + 1}: ready at ${run.milestones.ready.toFixed(0)} ms`);
        for (const [t, who, what] of run.events) console.log(`${t.toFixed(0).padStart(6)}  ${who.padEnd(16)} ${what}`);
      } else {
        console.log(`${ROOTS[r]} run ${i + 1}: ready at ${run.milestones.ready.toFixed(0)} ms`);
      }
    }
  }
  if (args.trace) {
    for (let r = 0; r < ROOTS.length; r++) {
      const run = await openOnce(browser, servers[r].url, true);
      const file = `${args.trace}.${r}.json`;
      writeFileSync(file, run.traceBytes);
      console.log(`\n== ${ROOTS[r]}: traced run, ready at ${run.milestones.ready.toFixed(0)} ms (trace in ${file}); CPU ms per thread until ready:`);
      for (const [name, cpu] of cpuByThread(run.traceBytes, run.milestones.ready)) if (cpu >= 1) console.log(`  ${cpu.toFixed(1).padStart(8)}  ${name}`);
    }
  }
} finally {
  await browser.close();
  for (const s of servers) s.close();
}

console.log(`\nMedians over ${RUNS} runs (ms since navigation start):`);
for (let r = 0; r < ROOTS.length; r++) {
  const keys = [...new Set(results[r].flatMap((run) => Object.keys(run.milestones)))];
  const rows = keys.map((k) => [k, median(results[r].map((run) => run.milestones[k]))]).sort((a, b) => a[1] - b[1]);
  console.log(`${ROOTS[r]}: ready ${median(results[r].map((run) => run.milestones.ready)).toFixed(0)} ms (runs: ${results[r].map((run) => run.milestones.ready.toFixed(0)).join(', ')})`);
  for (const [k, v] of rows) console.log(`  ${v.toFixed(0).padStart(6)}  ${k}`);
}
