// Two builds of candle wasm, side by side in one headless Chromium: each root (a checkout with
// pkg/ built and bench/out/models/ written by scripts/bench.sh) is served on its own port, and
// their bench pages run every stage of one preset in turn, round after round, the order swapped
// each round, so that the machine's noise hits both alike. Prints each stage's median per root
// and B's median over A's. --threads N (N > 1) runs each root's threaded build (pkg-threads/)
// with a pool of N workers; --threaded runs that build on one thread.
//
//   node bench/ab_stages.mjs --roots DIR_A,DIR_B [--preset seed] [--rounds 4] [--runs 3] [--threads 1] [--threaded]

import path from 'node:path';
import { ROOT, launch, serve } from '../tests/page/helpers.mjs';
import { args, median } from './cli.mjs';

if (!args.roots) throw new Error('usage: node bench/ab_stages.mjs --roots DIR_A,DIR_B [--preset seed] [--rounds 4] [--runs 3]');
const ROOTS = String(args.roots).split(',').map((r) => path.resolve(r));
const PRESET = args.preset ?? 'seed';
const ROUNDS = Number(args.rounds ?? 4);
const RUNS = Number(args.runs ?? 3);
const THREADS = Number(args.threads ?? 1);
const THREADED = THREADS > 1 || Boolean(args.threaded);



const STAGES = {
  load: (l) => l.load_ms,
  preprocess: (r) => r.preprocess_ms,
  vision_encoder: (r) => r.vision_encoder_ms,
  projection: (r) => r.projection_ms,
  prefill: (r) => r.prefill_ms,
  decode_token_1: (r) => r.decode_ms[0],
  decode_per_token: (r) => r.decode_ms.reduce((a, b) => a + b, 0) / r.decode_ms.length,
};

const servers = await Promise.all(ROOTS.map(serve));
const browser = await launch();
try {
  const pages = [];
  for (const { url } of servers) {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(0);
    await page.goto(`${url}bench/index.html`);
    await page.waitForSelector('#state[data-state="ready"]', { timeout: 60_000 });
    pages.push(page);
  }
  const samples = ROOTS.map(() => Object.fromEntries(Object.keys(STAGES).map((s) => [s, []])));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...pages.keys()].reverse() : [...pages.keys()];
    for (const i of order) {
      const out = await pages[i].evaluate((a) => window.bench.candle(a), { preset: PRESET, runs: RUNS, warmup: 1, threads: THREADS, threaded: THREADED });
      for (const [stage, f] of Object.entries(STAGES)) samples[i][stage].push(...(stage === 'load' ? out.loads : out.runs).map(f));
      if (round === 0) console.log(`[ab] ${ROOTS[i]}: wasm memory ${(out.wasm_bytes / 2 ** 20).toFixed(0)} MiB`);
    }
    console.log(`[ab] round ${round + 1}/${ROUNDS} done`);
  }
  console.log(`| ${PRESET}, ${THREADS} thread${THREADS > 1 ? 's' : ''}${THREADED ? ' (pkg-threads)' : ''}, Chromium ${browser.version()}, ms | ${ROOTS.map((r, i) => `${'AB'[i]}: ${path.basename(r)}`).join(' | ')} | B / A |`);
  console.log(`| --- | ${ROOTS.map(() => '---').join(' | ')} | --- |`);
  for (const stage of Object.keys(STAGES)) {
    const m = samples.map((s) => median(s[stage]));
    console.log(`| ${stage} | ${m.map((x) => x.toFixed(x < 10 ? 2 : 1)).join(' | ')} | ${m.length > 1 ? (m[1] / m[0]).toFixed(2) : ''} |`);
  }
} finally {
  await browser.close();
  servers.forEach((s) => s.close());
}
