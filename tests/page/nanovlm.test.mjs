// A model of another family in the page: nanoVLM (the small committed fixture of
// tests/fixtures/nanovlm/small: random weights at a small width, nanoVLM's own config.json and
// file layout, a 1,024-token tokenizer). Served with `scripts/serve.py --model DIR`, the page
// opens with it, reads its weights a few tensors at a time, and draws every panel from its
// geometry: 14 x 14 patches without a CLS token, 2 x 2 blocks of them as 49 image tokens, its
// question-answer prompt, its answer's attention over the 49 tokens. The shipped model stays one
// choice away; "Open model…" takes the same three files, and a dropped folder holding them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, mkdirSync, copyFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, OUT, serve, launch, openPage, dropFile, waitForRun, printLongTasks } from './helpers.mjs';

const DIR = path.join(ROOT, 'tests/fixtures/nanovlm/small');
const CAT = readFileSync(path.join(ROOT, 'tests/fixtures/nanovlm/cat.png'));
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json'];

let server;
let browser;
before(async () => { server = await serve(ROOT, { model: DIR }); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

const text = (page, id) => page.locator(`#${id}`).textContent();

/// The image tokens and text tokens of the strip, as their kinds.
const stripKinds = (page) => page.locator('[data-testid="token-strip"] > *').evaluateAll((els) => els.map((e) => e.dataset.kind));

/// Checks the page shows the small nanoVLM, with `cat.png` run through it.
async function checkNanoVlm(page) {
  // Panel 1: the 14 x 14 grid of 16-pixel patches, 2 x 2 of them an image token; the whole
  // image squashed, as nanoVLM reads it; no ShapesWorld "truth" line.
  assert.match(await text(page, 'input-shape'), /14 × 14 = 196 patches of 16 × 16, 2 × 2 patches a token: 7 × 7 = 49 image tokens/);
  assert.match(await text(page, 'input-preprocess'), /squashed to 224 × 224/);
  assert.equal(await text(page, 'scene-truth'), '');
  // Panel 2: 196 patch features, attention asked from a patch (there is no CLS token to ask from).
  assert.match(await text(page, 'vision-shape'), /\(1, 3, 224, 224\) → \(1, 196, 32\)/);
  assert.match(await text(page, 'vision-stem'), /SigLIP's 16 × 16 convolution .* No CLS token/);
  assert.equal(await page.locator('#vision-query').inputValue(), 'patch');
  assert.equal(await page.locator('#vision-query option[value="cls"]').isDisabled(), true);
  assert.match(await text(page, 'vision-attention-caption'), /from patch \d+/);
  // Panel 3: pixel shuffle, then the linear map of 4 x 32 = 128 values to the LLM's 64.
  assert.match(await text(page, 'projection-shape'), /\(1, 196, 32\) → pixel shuffle 2 × 2 → \(1, 49, 128\) → Linear 128 → 64 → \(1, 49, 64\)/);
  assert.match(await text(page, 'projection-kind'), /^Pixel shuffle/);
  assert.equal(await page.locator('[data-testid="projection-blocks"]').isVisible(), true);
  assert.equal(await page.locator('[data-testid="projector-columns"] > span').count(), 4);
  // Panel 4: [49 image tokens | T text tokens], the prompt in nanoVLM's words.
  const seqShape = await text(page, 'sequence-shape');
  const t = Number(seqShape.match(/^\[49 image tokens \| (\d+) text tokens\]/)[1]);
  assert.match(seqShape, new RegExp(`→ \\(1, ${49 + t}, 64\\)`));
  const kinds = await stripKinds(page);
  assert.equal(kinds.length, 49 + t);
  assert.ok(kinds.slice(0, 49).every((k) => k === 'image'), 'the strip opens with 49 image tokens');
  assert.ok(kinds.slice(49).every((k) => k === 'text'));
  const pieces = (await page.locator('[data-testid="token-strip"] > [data-kind="text"]').allTextContents()).join('').replace(/␣/g, ' ');
  assert.equal(pieces, 'Question: What is this? Answer:');
  // Panel 5: the answer, each token with its attention over the 49 image tokens.
  assert.ok((await text(page, 'output')).length > 0, 'a non-empty answer');
  const shapes = await page.locator('#generated-tokens > button').evaluateAll((els) => els.map((e) => e.dataset.attentionShape));
  assert.ok(shapes.length > 0);
  assert.ok(shapes.every((s) => s === '2x4x49'), `attention of every token over 49 image tokens in 2 layers, 4 heads: ${shapes[0]}`);
}

test('served with --model, the page opens with a nanoVLM and draws every panel from its geometry', async () => {
  // Ready: the served model is loaded.
  const { page, consoleErrors, requests } = await openPage(browser, server.url);
  assert.match(await text(page, 'model-label'), /^Model “nanoVLM-0\.2M” from the folder “small” that scripts\/serve\.py --model serves \(config\.json, model\.safetensors, tokenizer\.json\)/);
  assert.equal(await page.locator('[data-testid="preset-switch"]').inputValue(), 'local');
  assert.equal(await page.locator('[data-testid="preset-switch"] option[value="local"]').textContent(), 'nanoVLM-0.2M (served folder)');
  // The weights came by byte ranges, not as one download of the file.
  assert.ok(requests.some((u) => u.endsWith('/local-model/model.safetensors')));

  // The tasks nanoVLM's prompt makes sense of: its own question, or the person's.
  assert.deepEqual(await page.locator('#task-select option').evaluateAll((os) => os.map((o) => o.value)), ['caption', 'free']);
  assert.equal(await page.locator('#prompt-text').inputValue(), 'What is this?');
  // Panel 6 trains the shipped family's projectors only, and says so.
  assert.match(await page.locator('[data-testid="train-status"]').textContent(), /trains projectors for the shipped family's models only .* “nanoVLM-0\.2M”, a model of another family/);
  assert.equal(await page.locator('[data-testid="train-toggle"]').isDisabled(), true);

  await dropFile(page, 'cat.png', 'image/png', CAT);
  await waitForRun(page);
  assert.equal(await page.locator('[data-testid="error"]').isHidden(), true, await text(page, 'error'));
  await checkNanoVlm(page);

  // Hovering image token 8 of the strip lights its 2 x 2 block: patches 30, 31, 44, 45, in panel 3
  // (numbered as the weight's column groups) and in panel 1.
  await page.locator('[data-testid="token-strip"] > [data-kind="image"]').nth(8).hover();
  assert.match(await page.locator('[data-testid="projection-blocks-caption"]').textContent(), /^Image token 8: patches 30, 31, 44, 45 \(the block from row 2, column 2\)/);
  assert.match(await text(page, 'patch-info'), /patch \(row 2, col 2\) → image token 8/);
  // Hovering a patch in panel 3 marks its image token in the strip.
  await page.locator('[data-testid="projection-blocks"]').scrollIntoViewIfNeeded();
  const blocks = await page.locator('[data-testid="projection-blocks"]').boundingBox();
  await page.mouse.move(blocks.x + (5 + 0.5) * blocks.width / 14, blocks.y + (3 + 0.5) * blocks.height / 14);
  assert.equal(await page.locator('[data-testid="token-strip"] > .active').getAttribute('data-pos'), String(1 * 7 + 2));
  // Hovering a patch in panel 1 does too.
  await page.locator('[data-testid="input-canvas"]').scrollIntoViewIfNeeded();
  const input = await page.locator('[data-testid="input-canvas"]').boundingBox();
  await page.mouse.move(input.x + (13 + 0.5) * input.width / 14, input.y + (12 + 0.5) * input.height / 14);
  assert.equal(await page.locator('[data-testid="token-strip"] > .active').getAttribute('data-pos'), String(6 * 7 + 6));

  // A generated token's attention, drawn on the 7 x 7 grid of image tokens over the image:
  // inside one 2 x 2 block of patches the image is dimmed alike, from block to block it differs.
  await page.mouse.move(0, 0);
  const shade = () => page.locator('[data-testid="input-canvas"]').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const block = c.width / 7;
    // Mean brightness of a small square at (x, y), away from the grid lines.
    const at = (x, y) => {
      let sum = 0;
      for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
        const i = ((Math.round(y) + dy) * c.width + Math.round(x) + dx) * 4;
        sum += d[i] + d[i + 1] + d[i + 2];
      }
      return sum;
    };
    // Per block: its four patches' centres.
    return Array.from({ length: 49 }, (_, k) => {
      const [x, y] = [(k % 7) * block, Math.floor(k / 7) * block];
      return [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]].map(([fx, fy]) => at(x + fx * block, y + fy * block));
    });
  });
  const plain = await shade();
  await page.locator('#generated-tokens > button').first().click();
  const dimmed = await shade();
  const ratios = dimmed.map((b, k) => b.map((v, i) => v / Math.max(1, plain[k][i])));
  const spreadWithin = Math.max(...ratios.map((r) => Math.max(...r) - Math.min(...r)));
  const means = ratios.map((r) => r.reduce((a, b) => a + b) / r.length);
  assert.ok(spreadWithin < 0.05, `one shade within each block (spread ${spreadWithin.toFixed(3)})`);
  assert.ok(Math.max(...means) - Math.min(...means) > 0.2, 'shades differ between blocks');
  assert.match(await page.locator('#candidates').textContent(), /%/);
  // Probability set aside (tokens that are no text) is said in this family's terms: its answers
  // may be in any language, so only broken characters and control tokens are set aside.
  const notes = [];
  for (const chip of await page.locator('#generated-tokens > button').all()) {
    await chip.click();
    const note = page.locator('[data-testid="set-aside"]');
    if (await note.count()) notes.push(await note.textContent());
  }
  // (This fixture's model has ids its 1,024-token tokenizer has no text for: every token sets some aside.)
  assert.ok(notes.length > 0, 'a token with probability set aside');
  for (const note of notes) assert.match(note, /^The model gave [\d.]+% of its probability to tokens that would not be text \(a broken character, a control token\)/);

  await page.screenshot({ path: path.join(OUT, 'nanovlm-after-drop.png'), fullPage: true });
  await printLongTasks(page, 'nanoVLM: open, drop, encode, generate, hover, select');

  // The shipped model, one choice away: its 196 image tokens and its tasks come back.
  await page.selectOption('[data-testid="preset-switch"]', 'default');
  await page.waitForFunction(() => document.querySelector('#model-label').textContent.startsWith('Trained model'), null, { timeout: 60_000 });
  await waitForRun(page);
  assert.match(await text(page, 'vision-shape'), /\(1, 196, 192\)/);
  const shipped = await stripKinds(page);
  assert.equal(shipped.filter((k) => k === 'image').length, 196);
  assert.equal(await page.locator('[data-testid="projection-blocks"]').isVisible(), false);
  assert.equal(await page.locator('[data-testid="projector-columns"]').isVisible(), false);
  assert.equal(await page.locator('#task-select option').count(), 6);
  assert.equal(await page.locator('#vision-query option[value="cls"]').isDisabled(), false);
  assert.equal(await page.locator('[data-testid="train-toggle"]').isDisabled(), false);
  assert.match(await text(page, 'scene-truth'), /^Not a ShapesWorld scene/);
  // And back to the served folder.
  await page.selectOption('[data-testid="preset-switch"]', 'local');
  await page.waitForFunction(() => document.querySelector('#model-label').textContent.startsWith('Model “nanoVLM'), null, { timeout: 60_000 });
  await waitForRun(page);
  await checkNanoVlm(page);
  assert.deepEqual(consoleErrors, []);
});

test('the status line says how much of model.safetensors is read', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__statuses = new Set();
    const watch = () => {
      const el = document.querySelector('#status');
      if (!el) { requestAnimationFrame(watch); return; }
      new MutationObserver(() => window.__statuses.add(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    };
    watch();
  });
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 120_000 });
  const statuses = await page.evaluate(() => [...window.__statuses]);
  assert.ok(statuses.includes('reading model.safetensors: 100% (1 / 1 MB)'), statuses.join(' | '));
  await context.close();
});

test('"Open model…" takes a nanoVLM\'s three files, in English and Chinese', async () => {
  const plain = await serve();
  try {
    const { page, consoleErrors } = await openPage(browser, plain.url);
    // Without --model the page opens with the shipped model, and offers no served folder.
    assert.match(await text(page, 'model-label'), /^Trained model “shapesworld/);
    assert.equal(await page.locator('[data-testid="preset-switch"] option[value="local"]').isHidden(), true);
    await page.setInputFiles('[data-testid="model-input"]', FILES.map((name) => path.join(DIR, name)));
    await page.waitForFunction(() => document.querySelector('#model-label').textContent.startsWith('Your model'), null, { timeout: 60_000 });
    await page.waitForSelector('[data-testid="status"][data-state="ready"]');
    assert.match(await text(page, 'model-label'), /^Your model “nanoVLM-0\.2M” \(config\.json, model\.safetensors, tokenizer\.json\)/);
    assert.equal(await page.locator('[data-testid="preset-switch"]').inputValue(), 'files');
    await dropFile(page, 'cat.png', 'image/png', CAT);
    await waitForRun(page);
    await checkNanoVlm(page);
    await page.selectOption('[data-testid="lang-switch"]', 'zh');
    assert.match(await page.locator('[data-testid="train-status"]').textContent(), /只为自带模型这一族训练投影层.*“nanoVLM-0\.2M”/);
    assert.match(await text(page, 'projection-blocks-caption'), /14 × 14 个图块分成 7 × 7 个 2 × 2 的块/);
    assert.equal(await page.locator('#prompt-text').inputValue(), 'What is this?');
    await page.screenshot({ path: path.join(OUT, 'nanovlm-open-model-zh.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
  } finally {
    plain.close();
  }
});

test('a dropped folder opens as a model: its three files by their names, the tokenizer in a folder inside it', async () => {
  const plain = await serve();
  // A downloaded nanoVLM beside other files, its tokenizer one folder down.
  const folder = mkdtempSync(path.join(tmpdir(), 'vlm-drop-'));
  const model = path.join(folder, 'nanoVLM-small');
  mkdirSync(path.join(model, 'tokenizer'), { recursive: true });
  for (const name of ['config.json', 'model.safetensors', 'reference.json', 'reference.safetensors']) copyFileSync(path.join(DIR, name), path.join(model, name));
  copyFileSync(path.join(DIR, 'tokenizer.json'), path.join(model, 'tokenizer', 'tokenizer.json'));
  try {
    const { page, consoleErrors } = await openPage(browser, plain.url);
    // As the browser drops a folder from the desktop (the test drives it by the DevTools protocol).
    const cdp = await page.context().newCDPSession(page);
    const data = { items: [], files: [model], dragOperationsMask: 1 };
    for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, x: 600, y: 400, data });
    await page.waitForFunction(() => document.querySelector('#model-label').textContent.startsWith('Your model'), null, { timeout: 60_000 });
    assert.match(await text(page, 'model-label'), /^Your model “nanoVLM-0\.2M” \(config\.json, model\.safetensors, tokenizer\.json\)/);
    assert.equal(await page.locator('[data-testid="error"]').isHidden(), true, await text(page, 'error'));
    // A folder of links to the files: the browser reads no linked file from a dropped folder,
    // and the page says what to do instead; the model stays.
    const links = path.join(folder, 'links');
    mkdirSync(links);
    for (const name of FILES) symlinkSync(path.join(DIR, name), path.join(links, name));
    await page.evaluate(() => { document.querySelector('[data-testid="error"]').hidden = true; });
    for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, x: 600, y: 400, data: { ...data, files: [links] } });
    await page.waitForSelector('[data-testid="error"]:not([hidden])');
    assert.equal(await text(page, 'error'), 'Could not use that: links: the dropped folder holds no file the browser can read (it skips links to files): choose config.json, model.safetensors and tokenizer.json with “Open model…” instead');
    assert.match(await text(page, 'model-label'), /^Your model “nanoVLM-0\.2M”/);
    assert.deepEqual(consoleErrors, []);
  } finally {
    plain.close();
    rmSync(folder, { recursive: true, force: true });
  }
});

test('a dropped folder\'s files are read from its entries, and one folder level inside it', async () => {
  const { page } = await openPage(browser, server.url);
  const names = await page.evaluate(async () => {
    const { filesOfEntries } = await import('/www/dropped-files.js');
    const file = (name) => ({ isFile: true, isDirectory: false, name, file: (ok) => ok(new File(['x'], name)) });
    // A folder's reader gives its entries in batches, then an empty batch.
    const folder = (name, batches) => ({
      isFile: false, isDirectory: true, name,
      createReader: () => { const left = [...batches, []]; return { readEntries: (ok) => ok(left.shift()) }; },
    });
    const entries = [folder('nanoVLM-222M', [
      [file('config.json'), file('model.safetensors')],
      [folder('tokenizer', [[file('tokenizer.json'), folder('deeper', [[file('too-deep.json')]])]])],
    ])];
    return (await filesOfEntries(entries)).map((f) => f.name);
  });
  assert.deepEqual(names, ['config.json', 'model.safetensors', 'tokenizer.json']);
});
