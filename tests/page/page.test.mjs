// The page end to end in headless Chromium: drop an image, see every stage drawn from the
// model's tensors, hover a patch, switch the language, recover from a bad file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, OUT, serve, launch, openPage, dropFile, waitForRun, printLongTasks } from './helpers.mjs';

let server;
let browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

const PNG = readFileSync(path.join(ROOT, 'tests/fixtures/image.png'));

test('a dropped PNG goes through every stage and the page shows each', async () => {
  const { page, consoleErrors, requests } = await openPage(browser, server.url);
  await dropFile(page, 'scene.png', 'image/png', PNG);
  await waitForRun(page);
  assert.equal(await page.locator('[data-testid="error"]').isHidden(), true);
  assert.ok(await page.locator('#generated-tokens > button').count() > 0, 'the generated tokens are shown');
  // The fixture is no ShapesWorld scene, and the page says what that means for this model's answer.
  assert.match(await page.locator('#scene-truth').textContent(), /^Not a ShapesWorld scene/);

  // Every stage's shape, from the model's own tensors.
  const text = (id) => page.locator(`#${id}`).textContent();
  assert.match(await text('vision-shape'), /\(1, 196, 192\)/);
  // How the shipped model embeds a patch, as its config.json says.
  const shipped = JSON.parse(readFileSync(path.join(ROOT, 'www/model/config.json'), 'utf8'));
  assert.match(await text('vision-stem'), shipped.vision.stem === 'hmlp' ? /hierarchical MLP/ : /one linear map/);
  assert.match(await text('projection-shape'), /\(1, 196, 192\).*\(1, 196, 128\)/);
  // What its projector does with a patch feature, as its config.json says.
  const projectorKinds = { linear: /One linear map/, mlp2x_gelu: /Linear, GELU, Linear/, mlp2x_gelu_3x3: /its patch feature and the 8 around it/ };
  assert.match(await text('projection-kind'), projectorKinds[shipped.projector.kind]);
  const seqShape = await text('sequence-shape');
  const t = Number(seqShape.match(/(\d+) text tokens/)[1]);
  assert.match(seqShape, new RegExp(`\\(1, ${196 + t}, 128\\)`));

  // The token strip: 196 image tokens, then T text tokens.
  const kinds = await page.locator('[data-testid="token-strip"] > *').evaluateAll((els) => els.map((e) => e.dataset.kind));
  assert.equal(kinds.length, 196 + t);
  assert.ok(kinds.slice(0, 196).every((k) => k === 'image'));
  assert.ok(kinds.slice(196).every((k) => k === 'text'));

  // The input canvas holds the image (not blank): the fixture's red square is left of centre.
  const pixels = await page.locator('[data-testid="input-canvas"]').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let distinct = new Set();
    for (let i = 0; i < d.length; i += 4 * 97) distinct.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
    return distinct.size;
  });
  assert.ok(pixels > 20, `the input canvas shows an image (${pixels} distinct colours sampled)`);

  // Hovering patch i highlights image token i.
  const box = await page.locator('[data-testid="input-canvas"]').boundingBox();
  const [row, col] = [3, 5];
  const scrolled = await page.evaluate(() => scrollY);
  await page.mouse.move(box.x + (col + 0.5) * box.width / 14, box.y + (row + 0.5) * box.height / 14);
  const active = await page.locator('[data-testid="token-strip"] > .active').getAttribute('data-pos');
  assert.equal(Number(active), row * 14 + col);
  // The strip scrolls to the token, the page does not (the image stays under the pointer).
  assert.equal(await page.evaluate(() => scrollY), scrolled, 'hovering a patch does not scroll the page');

  // The vision encoder's views: a PCA colour map and an attention map, both drawn.
  const distinct = (sel) => page.locator(sel).evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
    return seen.size;
  });
  assert.ok(await distinct('#pca-canvas') > 20, 'the PCA map varies over the patches');
  // The attention map arrives from the worker after the answer; wait for it, then check it.
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-testid="vision-attention"]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
    return seen.size > 20;
  }, null, { timeout: 30_000 }).catch(() => {});
  assert.ok(await distinct('[data-testid="vision-attention"]') > 20, 'the vision attention map is drawn');

  // Selecting a generated token draws its attention over the image: the canvas changes.
  const snapshot = () => page.locator('[data-testid="input-canvas"]').evaluate((c) =>
    Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 64 === 0)));
  await page.mouse.move(0, 0);
  const before = await snapshot();
  await page.locator('#generated-tokens > button').first().click();
  const after = await snapshot();
  const changed = before.filter((v, i) => v !== after[i]).length;
  assert.ok(changed > before.length / 4, `the attention heat map covers the image (${changed} of ${before.length} samples changed)`);
  assert.match(await page.locator('#candidates').textContent(), /%/);
  // The answer is text in the prompt's language (English here), even about a picture unlike
  // any the model learned from: no broken character, no Chinese. The first token's top choice
  // was Chinese; the page says so where it shows that token's candidates.
  const answer = await page.locator('#output').textContent();
  assert.ok(answer.length > 0 && /^[\x20-\x7e]*$/.test(answer), `the English answer is ASCII text: ${JSON.stringify(answer)}`);
  assert.match(await page.locator('[data-testid="set-aside"]').textContent(), /^The model gave \d+\.\d% of its probability to tokens that would not be text/);
  await page.selectOption('#token-layer', '0');
  await page.selectOption('#token-head', '1');
  assert.notDeepEqual(await snapshot(), after, 'one layer and head differ from the mean');
  await page.screenshot({ path: path.join(OUT, 'page-after-drop.png'), fullPage: true });
  await printLongTasks(page, 'load, drop, encode, generate, hover, select');

  assert.deepEqual(consoleErrors, []);
  const foreign = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(foreign, [], 'no request leaves 127.0.0.1');
});

test('switching the language changes the labels', async () => {
  const { page } = await openPage(browser, server.url);
  await page.selectOption('[data-testid="lang-switch"]', 'zh');
  assert.equal(await page.locator('h1').textContent(), 'VLM 图解');
  await page.selectOption('[data-testid="lang-switch"]', 'en');
  assert.equal(await page.locator('h1').textContent(), 'VLM Explainer');
});

test('a file that is not an image shows an error, and a good image after it still works', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);
  await dropFile(page, 'notes.png', 'image/png', Buffer.from('these are notes, not a picture'));
  await waitForRun(page);
  const error = page.locator('[data-testid="error"]');
  assert.equal(await error.isVisible(), true);
  assert.match(await error.textContent(), /not an image/);
  await page.screenshot({ path: path.join(OUT, 'page-bad-file.png') });

  await dropFile(page, 'scene.png', 'image/png', PNG);
  await waitForRun(page);
  assert.equal(await error.isHidden(), true);
  assert.ok(await page.locator('#generated-tokens > button').count() > 0);
  assert.deepEqual(consoleErrors, []);
});

test('the lesson-sized model shows the lesson\'s own shapes', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);
  await page.selectOption('[data-testid="preset-switch"]', 'seed');
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 300_000 });
  await page.waitForFunction(() => document.querySelector('#model-label').textContent.includes('seed'));
  await dropFile(page, 'scene.png', 'image/png', PNG);
  await waitForRun(page);
  const text = (id) => page.locator(`#${id}`).textContent();
  assert.match(await text('vision-shape'), /\(1, 196, 768\)/);
  assert.match(await text('projection-shape'), /\(1, 196, 768\) → linear 768 → 512 → \(1, 196, 512\)/);
  assert.match(await text('sequence-shape'), /20 text tokens\] → \(1, 216, 512\)/);
  assert.match(await text('model-label'), /random weights/);
  await page.screenshot({ path: path.join(OUT, 'page-seed-preset.png'), fullPage: true });
  assert.deepEqual(consoleErrors, []);
});

test('on a 375 px wide phone the page fits the screen', async () => {
  const { page } = await openPage(browser, server.url, { width: 375, height: 740 });
  await dropFile(page, 'scene.png', 'image/png', PNG);
  await waitForRun(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.screenshot({ path: path.join(OUT, 'page-phone.png'), fullPage: true });
});

test('"new scene" draws a ShapesWorld scene in wasm and runs the model on it', async () => {
  // A fixed scene (`?scene=SEED`), so that a failure repeats: tests/fixtures/page_answers.json's first.
  const [scene] = JSON.parse(readFileSync(path.join(ROOT, 'tests/fixtures/page_answers.json'), 'utf8')).scenes;
  const { page, consoleErrors } = await openPage(browser, `${server.url}?scene=${scene.seed}`);
  await page.click('[data-testid="new-scene"]');
  await waitForRun(page);
  assert.equal(await page.locator('#scene-truth').textContent(), `Drawn: ${scene.caption_en}`);
  const kinds = await page.locator('[data-testid="token-strip"] > *').count();
  assert.ok(kinds > 196);
  assert.equal(await page.locator('[data-testid="output-prompt"]').isHidden(), true);
  await page.selectOption('[data-testid="lang-switch"]', 'zh');
  assert.equal(await page.locator('#scene-truth').textContent(), `画的是：${scene.caption_zh}`);
  // The prompt is now Chinese; the English answer on show says which prompt it answered.
  assert.match(await page.locator('[data-testid="output-prompt"]').textContent(), /“describe the image”/);
  await page.screenshot({ path: path.join(OUT, 'page-new-scene.png'), fullPage: true });
  assert.deepEqual(consoleErrors, []);
});

test('once the model is built, its worker runs it once on its own, and nothing of that run reaches the page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const workers = [];
  page.on('worker', (w) => workers.push(w));
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 120_000 });
  const worker = workers.find((w) => new URL(w.url()).pathname.endsWith('/www/worker.js'));
  assert.ok(worker, 'the model\'s worker');
  // The warm-up run (a grey image through every stage, 4 tokens) ends with this mark.
  await worker.evaluate(() => new Promise((resolve, reject) => {
    const started = performance.now();
    const poll = () => {
      if (performance.getEntriesByName('vlm:warmed-up').length) resolve();
      else if (performance.now() - started > 60_000) reject(new Error('no warm-up run within 60 s'));
      else setTimeout(poll, 50);
    };
    poll();
  }));
  assert.equal(await page.locator('#generated-tokens > button').count(), 0);
  assert.equal(await page.locator('#output').textContent(), '');
  assert.equal(await page.locator('[data-testid="error"]').isHidden(), true);
  assert.equal(await page.locator('[data-testid="status"]').getAttribute('data-state'), 'ready');
  // The first image after it is answered as ever.
  await dropFile(page, 'scene.png', 'image/png', PNG);
  await waitForRun(page);
  assert.ok(await page.locator('#generated-tokens > button').count() > 0);
  assert.deepEqual(consoleErrors, []);
  await context.close();
});

test('cross-origin isolated, the page runs the threaded build, and answers as the one-thread build does', async () => {
  // The same page served without COOP/COEP is not isolated and must run pkg/ on one thread.
  const single = await serve(ROOT, { isolated: false });
  try {
    const runs = [];
    for (const url of [server.url, single.url]) {
      const { page, consoleErrors } = await openPage(browser, url);
      await dropFile(page, 'scene.png', 'image/png', PNG);
      await waitForRun(page);
      runs.push({
        isolated: await page.evaluate(() => crossOriginIsolated),
        cores: await page.evaluate(() => navigator.hardwareConcurrency),
        label: await page.locator('#model-label').textContent(),
        answer: await page.locator('#output').textContent(),
        pieces: await page.locator('#generated-tokens > button').allTextContents(),
      });
      assert.deepEqual(consoleErrors, []);
      await page.context().close();
    }
    const [threaded, one] = runs;
    assert.equal(threaded.isolated, true);
    assert.equal(one.isolated, false);
    if (threaded.cores > 1) assert.match(threaded.label, new RegExp(`runs on ${Math.min(threaded.cores, 8)} threads`));
    assert.match(one.label, /runs on one thread/);
    // Each thread computes whole rows exactly as one thread would: the same tokens, bit for bit.
    assert.ok(one.pieces.length > 0);
    assert.deepEqual(threaded.pieces, one.pieces);
    assert.equal(threaded.answer, one.answer);
  } finally {
    single.close();
  }
});
