// Soak: many captions in a row in one page, watching the wasm module's memory. WebAssembly
// memory only grows, so a leak shows as growth after the first runs; the model passes if no
// run after the first 10 takes it more than 10% above the high-water mark of those 10.
//   node tests/page/soak.mjs [RUNS]        (scripts/soak.sh; default 500 runs)

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, serve, launch, openPage, dropFile, waitForRun } from './helpers.mjs';

const runs = Number(process.argv[2] ?? 500);
const WARM_UP = 10;
const image = readFileSync(path.join(ROOT, 'tests/fixtures/image.png'));
const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const server = await serve();
const browser = await launch();
let failed = false;
try {
  const { page, consoleErrors } = await openPage(browser, server.url);
  const memory = [];
  const started = Date.now();
  for (let i = 1; i <= runs; i++) {
    await page.evaluate(() => { document.querySelector('#speed').textContent = ''; });
    await dropFile(page, `scene-${i}.png`, 'image/png', image);
    await waitForRun(page);
    const { bytes, error, heap } = await page.evaluate(() => ({
      bytes: Number(document.querySelector('#speed').dataset.wasmBytes),
      error: document.querySelector('[data-testid="error"]').hidden ? null : document.querySelector('[data-testid="error"]').textContent,
      heap: performance.memory?.usedJSHeapSize ?? 0,
    }));
    if (error) throw new Error(`run ${i}: ${error}`);
    memory.push(bytes);
    if (i === 1 || i === WARM_UP || i % 50 === 0) {
      console.log(`run ${String(i).padStart(3)}: wasm memory ${mb(bytes)}, page JS heap ${mb(heap)}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  const warm = Math.max(...memory.slice(0, WARM_UP));
  const later = Math.max(...memory.slice(WARM_UP));
  const growth = (later / warm - 1) * 100;
  console.log(`high-water mark after the first ${WARM_UP} runs: ${mb(warm)}; highest over runs ${WARM_UP + 1}-${runs}: ${mb(later)} (${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%); after the last: ${mb(memory.at(-1))}`);
  console.log(`console errors: ${consoleErrors.length}`);
  failed = growth > 10 || consoleErrors.length > 0;
  console.log(failed ? 'FAIL: the wasm memory grew more than 10% past its early high-water mark' : 'PASS: within 10% of the early high-water mark');
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
