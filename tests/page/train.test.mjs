// Training the projector in the page, in headless Chromium: the loss curve moves while the page
// stays usable, pause stops the steps, the projector downloads as safetensors and loads back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OUT, serve, launch, openPage, printLongTasks } from './helpers.mjs';

let server;
let browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

const stepOf = async (page) => Number((await page.locator('[data-testid="train-stats"]').textContent()).match(/step (\d+)/)?.[1] ?? 0);

/// Distinct colours on the loss canvas: a blank canvas has one or two.
const lossPixels = (page) => page.locator('[data-testid="train-loss"]').evaluate((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let drawn = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) drawn += 1;
  return drawn;
});

/// The names in a safetensors file's header.
function tensorNames(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  return Object.keys(JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'))).filter((k) => k !== '__metadata__').sort();
}

test('training the projector: the loss curve moves, pause stops it, the projector downloads and loads back', async () => {
  const { page, consoleErrors, requests } = await openPage(browser, server.url);
  await page.locator('[data-testid="train-panel"]').scrollIntoViewIfNeeded();
  await page.click('[data-testid="train-toggle"]');
  await page.waitForSelector('[data-testid="train-status"][data-state="running"]', { timeout: 120_000 });

  // The frozen parts are listed as frozen, the projector as trainable.
  const counts = await page.locator('#train-counts tr').evaluateAll((rows) => rows.map((r) => [r.cells[0].textContent, r.cells[2].textContent]));
  assert.deepEqual(counts, [['vision encoder', 'frozen'], ['projector', 'trainable'], ['LLM', 'frozen']]);

  // The held-out scenes are captioned before the first step, then steps arrive.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="train-captions"] li').length > 0, null, { timeout: 180_000 });
  assert.match(await page.locator('[data-testid="train-scores"]').textContent(), /shape.*colour.*size.*position/s);
  await page.waitForFunction(() => /step ([3-9]|\d\d)/.test(document.querySelector('[data-testid="train-stats"]').textContent), null, { timeout: 180_000 });
  const firstDrawn = await lossPixels(page);
  assert.ok(firstDrawn > 50, `the loss curve is drawn (${firstDrawn} coloured pixels)`);
  const step = await stepOf(page);
  await page.waitForFunction((s) => Number(document.querySelector('[data-testid="train-stats"]').textContent.match(/step (\d+)/)[1]) > s, step, { timeout: 120_000 });
  assert.notEqual(await lossPixels(page), firstDrawn, 'the loss curve moved with the new steps');
  assert.match(await page.locator('[data-testid="train-stats"]').textContent(), /steps\/s .* wasm memory \d+ MB/);
  assert.match(await page.locator('[data-testid="train-cache"]').textContent(), /went through the vision encoder once/);

  // The page stays usable while the worker trains: the language switch answers at once.
  await page.selectOption('[data-testid="lang-switch"]', 'zh');
  assert.equal(await page.locator('h1').textContent(), 'VLM 图解');
  await page.selectOption('[data-testid="lang-switch"]', 'en');
  await page.screenshot({ path: path.join(OUT, 'train-running.png'), fullPage: true });

  // Pause: no step after the one in flight.
  await page.click('[data-testid="train-toggle"]');
  await page.waitForSelector('[data-testid="train-status"][data-state="paused"]', { timeout: 120_000 });
  const paused = await stepOf(page);
  await page.waitForTimeout(3000);
  assert.equal(await stepOf(page), paused, 'no step runs while paused');
  assert.equal(await page.locator('[data-testid="train-toggle"]').textContent(), 'Train');

  // Download the projector: a safetensors file of the projector's weights alone.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="train-download"]')]);
  const file = path.join(OUT, download.suggestedFilename());
  await download.saveAs(file);
  const bytes = readFileSync(file);
  assert.deepEqual(tensorNames(bytes), ['projector.fc1.bias', 'projector.fc1.weight', 'projector.fc2.bias', 'projector.fc2.weight']);
  assert.match(download.suggestedFilename(), new RegExp(`projector-mlp2x_gelu-step${paused}\\.safetensors`));

  // Load it back after a reset to a linear projector: the panel switches to the file's kind.
  await page.selectOption('[data-testid="train-kind"]', 'linear');
  await page.waitForSelector('[data-testid="train-status"][data-state="ready"]', { timeout: 120_000 });
  await page.setInputFiles('[data-testid="train-load"]', file);
  await page.waitForSelector('[data-testid="train-status"][data-state="loaded"]', { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="train-captions"] li').length > 0, null, { timeout: 180_000 });
  const rows = await page.locator('#train-counts tr').count();
  assert.equal(rows, 3);

  // A file that is not a projector is refused with a reason.
  await page.setInputFiles('[data-testid="train-load"]', { name: 'notes.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a file') });
  await page.waitForSelector('[data-testid="train-status"][data-state="error"]', { timeout: 60_000 });
  assert.match(await page.locator('[data-testid="train-status"]').textContent(), /notes\.safetensors is not a safetensors file/);
  await page.screenshot({ path: path.join(OUT, 'train-loaded.png'), fullPage: true });
  await printLongTasks(page, 'load, train, pause, download, load back');

  assert.deepEqual(consoleErrors, []);
  const foreign = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(foreign, [], 'no request leaves 127.0.0.1');
});
