// Benchmark of the "train the projector" panel in headless Chromium (a script, not a test):
//   1. each freezing choice (projector alone, + vision encoder, + LLM) for a while: step time,
//      steps/s, wasm memory, and what the feature cache saved;
//   2. a fresh projector, the rest frozen, for MINUTES minutes: the held-out per-attribute
//      accuracy at every evaluation, and when (if) it reaches 90%;
//   3. main-thread tasks over 50 ms while training.
// Usage: node tests/page/train_bench.mjs [MINUTES=5] [SECONDS_PER_SETTING=90]
// With MODEL=DIR (config.json, model.safetensors, tokenizer.json) the page opens that model
// first, as "Open model…" does; otherwise it trains on the model www/model/ ships. KIND=linear,
// mlp2x_gelu or mlp2x_gelu_3x3 picks the projector kind (the panel's default otherwise). ROOT=DIR
// serves another checkout's page (to set two builds side by side); ISOLATED=0 serves it without
// COOP/COEP, so that the page runs the single-thread build.

import path from 'node:path';
import { OUT, serve, launch, openPage } from './helpers.mjs';

const MINUTES = Number(process.argv[2] ?? 5);
const SECONDS_PER_SETTING = Number(process.argv[3] ?? 90);
const ATTRIBUTES = ['shape', 'colour', 'size', 'position'];

const server = await serve(process.env.ROOT || undefined, { isolated: process.env.ISOLATED !== '0' });
const browser = await launch();
try {
  const { page } = await openPage(browser, server.url);
  if (process.env.MODEL) {
    const files = ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => path.join(process.env.MODEL, f));
    await page.setInputFiles('[data-testid="model-input"]', files);
    await page.waitForFunction(() => document.querySelector('#model-label').textContent.startsWith('Your model'), null, { timeout: 300_000 });
  }
  console.log(`model: ${await page.locator('#model-label').textContent()}`);
  await page.locator('[data-testid="train-panel"]').scrollIntoViewIfNeeded();
  const text = (sel) => page.locator(sel).textContent();
  const state = () => page.locator('[data-testid="train-status"]').getAttribute('data-state');
  const step = async () => Number((await text('[data-testid="train-stats"]')).match(/step (\d+)/)?.[1] ?? 0);

  /// Starts a fresh projector with `unfreeze` and trains until `until()` says stop; pauses.
  async function train(unfreeze, until, onPoll = async () => {}) {
    if (process.env.KIND) await page.selectOption('[data-testid="train-kind"]', process.env.KIND);
    await page.selectOption('[data-testid="train-unfreeze"]', unfreeze);
    await page.click('[data-testid="train-reset"]');
    await page.waitForSelector('[data-testid="train-status"][data-state="ready"]', { timeout: 300_000 });
    const started = Date.now();
    await page.click('[data-testid="train-toggle"]');
    while (!(await until((Date.now() - started) / 1000))) {
      await page.waitForTimeout(2000);
      if ((await state()) === 'error') throw new Error(await text('[data-testid="train-status"]'));
      await onPoll((Date.now() - started) / 1000);
    }
    await page.click('[data-testid="train-toggle"]');
    await page.waitForSelector('[data-testid="train-status"][data-state="paused"]', { timeout: 300_000 });
  }

  // 1. What each freezing choice costs, in this browser.
  for (const unfreeze of ['none', 'vision_encoder', 'llm']) {
    await train(unfreeze, async (s) => s > SECONDS_PER_SETTING && (await step()) >= 3);
    console.log(`[${unfreeze}] ${await text('[data-testid="train-stats"]')}`);
    console.log(`[${unfreeze}] ${await text('[data-testid="train-cache"]')}`);
  }
  const costs = await page.locator('[data-testid="train-costs"] tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent).join(' | ')));
  console.log('\nsetting | trainable values | time per step (mean of the last 10) | steps/s | wasm memory | steps');
  for (const r of costs.slice(1)) console.log(r);

  // 2. Accuracy over time, the rest frozen.
  await page.evaluate(() => { window.__longTasks = []; });
  const scores = async () => {
    // The table and its note in one read, so both belong to the same evaluation.
    const [rows, note] = await page.evaluate(() => [
      [...document.querySelectorAll('[data-testid="train-scores"] tr')].map((r) => [...r.cells].map((c) => c.textContent)),
      document.querySelector('#train-scores-note').textContent,
    ]);
    const at = Number(note.match(/after step (\d+)/)?.[1] ?? -1);
    const pct = (row, col) => Number(rows.find((r) => r[0] === row)?.[col]?.replace('%', '')) / 100;
    return { at, en: ATTRIBUTES.map((a) => pct(a, 1)), zh: ATTRIBUTES.map((a) => pct(a, 2)) };
  };
  let seen = -1;
  let reached = null;
  console.log(`\nfresh projector, vision encoder and LLM frozen, ${MINUTES} min:`);
  await train('none', async (s) => s > MINUTES * 60, async (s) => {
    const e = await scores();
    if (e.at === seen || e.at < 0) return;
    seen = e.at;
    const min = Math.min(...e.en, ...e.zh);
    const fmt = (xs) => xs.map((x) => `${(x * 100).toFixed(0)}%`).join('/');
    console.log(`  ${s.toFixed(0)} s, step ${e.at}: shape/colour/size/position en ${fmt(e.en)}, zh ${fmt(e.zh)}; lowest ${(min * 100).toFixed(0)}%`);
    if (min >= 0.9 && !reached) reached = { seconds: s, step: e.at };
  });
  console.log(reached ? `reached >= 90% on every attribute at step ${reached.step}, ${reached.seconds.toFixed(0)} s` : `did not reach 90% on every attribute in ${MINUTES} min`);
  console.log(await text('[data-testid="train-stats"]'));
  console.log(await text('[data-testid="train-cache"]'));
  const tasks = await page.evaluate(() => window.__longTasks);
  console.log(`main-thread tasks over 50 ms while training: ${tasks.length}${tasks.length ? ` (longest ${Math.max(...tasks)} ms)` : ''}`);
  await page.screenshot({ path: path.join(OUT, 'train-bench.png'), fullPage: true });
} finally {
  await browser.close();
  server.close();
}
