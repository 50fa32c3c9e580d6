// The shipped model's answers in the page, by value. For the fixed ShapesWorld scenes of
// tests/fixtures/page_answers.json (the same model run natively by examples/page_answers.rs, as
// the page's worker drives it), the page draws the scene ("New scene" with the seed set), is
// asked the recorded prompts (the caption prompt and the count question, in English and in
// Chinese), and must answer each with the recorded text and token ids, and draw over the image
// for each token the heat map of its recorded attention: for the first token the whole map, for
// every token its brightest image token. On the threaded build (the page cross-origin isolated:
// pkg-threads/) and on the single-thread one (pkg/).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, serve, launch, openPage, runAndWait } from './helpers.mjs';

const RECORDING = JSON.parse(readFileSync(path.join(ROOT, 'tests/fixtures/page_answers.json'), 'utf8'));
// main.js's runImage options, which the recording was made with.
const PAGE_OPTIONS = { temperature: 0, top_k: 0, seed: 0, max_new_tokens: 48 };
// The page's task of each recorded (task, prompt): the caption, or the count question.
const PAGE_TASK = { caption: 'caption', question: 'count' };
// How far the drawn heat map (0 the least attended image token, 1 the most) may be from the
// recording's: the browser's kernels sum in another order (~1e-5 of a weight) and the canvas
// keeps 8 bits of opacity; the next token's map is further than this from the first's.
const MAP_TOLERANCE = 0.02;

let server;
let browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

/// FNV-1a (64-bit) as hex, as tests/checks/page_answers.rs computes it: in two 32-bit halves.
function fnv1a(bytes) {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const b of bytes) {
    lo = (lo ^ b) >>> 0;
    // h * (2^40 + 0x1b3) mod 2^64
    const low = lo * 0x1b3;
    hi = (Math.imul(hi, 0x1b3) + Math.floor(low / 2 ** 32) + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

test('the recording is of the model the page serves, with the page\'s options, and each answer is decided by a clear margin', () => {
  const dir = path.join(ROOT, 'www/model');
  const { files } = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const served = ['config', 'tokenizer', 'weights'].map((k) => fnv1a(readFileSync(path.join(dir, files[k]))));
  assert.deepEqual(served, RECORDING.model_fnv1a, 'www/model changed since tests/fixtures/page_answers.json was recorded: cargo run --release --example page_answers -- --accept');
  assert.deepEqual(RECORDING.options, PAGE_OPTIONS);
  for (const scene of RECORDING.scenes) {
    assert.deepEqual(scene.answers.map((a) => `${a.lang} ${a.task}`), ['en caption', 'zh caption', 'en question', 'zh question']);
    // A token chosen by less than this might be another in the browser's arithmetic.
    for (const a of scene.answers) assert.ok(a.min_logit_margin > 1e-2, `scene ${scene.seed} ${a.lang} ${a.prompt}: margin ${a.min_logit_margin}`);
  }
});

/// Min-max scaled to 0..1, as the page draws a heat map.
function stretch(values) {
  const max = Math.max(...values);
  const min = Math.min(...values);
  return values.map((v) => (v - min) / (max - min || 1));
}

const argmax = (values) => values.indexOf(Math.max(...values));

/// What the page shows for the answer on show: its text, its tokens, and the heat map panel 1
/// draws over the image for each token when it is selected. The map is read from the input
/// canvas's drawing: over each image token's cell the canvas lays black at opacity 0.75 (1 - a),
/// for the token's attention `a` scaled 0..1 (grid-canvas.js), so each cell's square and opacity
/// give its `a` back. (The scenes' dark backgrounds leave too few levels in the pixels for that.)
function readAnswer(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('[data-testid="input-canvas"]');
    const ctx = canvas.getContext('2d');
    const chips = [...document.querySelectorAll('#generated-tokens > button')];
    const rects = [];
    ctx.fillRect = function fillRect(x, y, w, h) {
      rects.push({ style: this.fillStyle, x, y, w, h });
      return CanvasRenderingContext2D.prototype.fillRect.call(this, x, y, w, h);
    };
    const maps = chips.map((chip) => {
      rects.length = 0;
      chip.click(); // draws at once
      const cells = rects.filter((r) => /^rgba\(0, 0, 0, [\d.]+\)$/.test(r.style) && r.w === r.h);
      const side = cells.length ? Math.round(canvas.width / cells[0].w) : 0;
      const map = new Array(side * side).fill(null);
      for (const { style, x, y, w } of cells) {
        const cell = Math.round(y / w) * side + Math.round(x / w);
        map[cell] = map[cell] === null ? 1 - Number(style.match(/([\d.]+)\)$/)[1]) / 0.75 : NaN; // NaN: drawn twice
      }
      return map;
    });
    delete ctx.fillRect;
    return {
      text: document.querySelector('#output').textContent,
      ids: chips.map((c) => Number(c.dataset.id)),
      pieces: chips.map((c) => c.textContent.replace(/␣/g, ' ')),
      truth: document.querySelector('#scene-truth').textContent,
      layer: document.querySelector('#token-layer').value,
      head: document.querySelector('#token-head').value,
      maps,
    };
  });
}

/// Checks the answer on show against the recorded `answer` (`label` names it in messages).
async function checkAnswer(page, answer, label) {
  const shown = await readAnswer(page);
  assert.equal(shown.text, answer.text, `${label}: the answer`);
  assert.deepEqual(shown.ids, answer.tokens.map((t) => t.id), `${label}: the tokens' ids`);
  assert.deepEqual(shown.pieces, answer.tokens.map((t) => t.piece), `${label}: the tokens' pieces`);
  // The map drawn by default: every layer, the mean of the heads.
  assert.deepEqual([shown.layer, shown.head], ['-1', '-1']);
  // Every token's map has a value for each image token, once.
  const n = answer.first_token_attention_mean.length;
  shown.maps.forEach((map, k) => assert.ok(map.length === n && map.every((a) => a >= 0 && a <= 1), `${label}: token ${k}'s heat map covers the ${n} image tokens once`));
  // The first token's map, cell by cell.
  const recorded = stretch(answer.first_token_attention_mean);
  const off = shown.maps[0].map((a, i) => Math.abs(a - recorded[i]));
  const worst = argmax(off);
  assert.ok(off[worst] < MAP_TOLERANCE, `${label}: the first token's heat map differs at image token ${worst}: drawn ${shown.maps[0][worst].toFixed(3)}, recorded ${recorded[worst].toFixed(3)}`);
  // Every token's brightest image token is the recorded one (drawn as bright as the canvas's
  // 8-bit opacity tells apart from the brightest).
  shown.maps.forEach((map, k) => {
    const [brightest, weight] = answer.tokens[k].attention_top3[0];
    assert.ok(map[brightest] > 0.98, `${label}: token ${k} (${JSON.stringify(answer.tokens[k].piece)}): image token ${brightest} (recorded brightest, ${weight}) is drawn at ${map[brightest].toFixed(3)}; the brightest drawn is ${argmax(map)}`);
  });
  return shown;
}

/// The page's language and task set as the recorded `answer` asks, its prompt checked.
async function setPrompt(page, answer) {
  await page.selectOption('[data-testid="lang-switch"]', answer.lang);
  await page.selectOption('#task-select', PAGE_TASK[answer.task]);
  assert.equal(await page.locator('#prompt-text').inputValue(), answer.prompt);
}

/// Every recorded scene and prompt through the page at `url`; returns the page's label.
async function answerAll(url) {
  const [first] = RECORDING.scenes;
  // The first scene's seed from the page's address, the others' set on the button.
  const { page, consoleErrors, requests } = await openPage(browser, `${url}?scene=${first.seed}`);
  assert.equal(await page.locator('[data-testid="new-scene"]').getAttribute('data-seed'), String(first.seed));
  assert.match(await page.locator('#model-label').textContent(), /^Trained model/, 'the shipped model is loaded');
  for (const scene of RECORDING.scenes) {
    await page.locator('[data-testid="new-scene"]').evaluate((b, seed) => { b.dataset.seed = seed; }, String(scene.seed));
    // The scene's run asks the first recorded prompt (the English caption).
    const [caption, ...rest] = scene.answers;
    await setPrompt(page, caption);
    await runAndWait(page, () => page.click('[data-testid="new-scene"]'));
    assert.equal(await page.locator('[data-testid="new-scene"]').getAttribute('data-seed'), String(scene.seed + 1), 'the next scene\'s seed');
    const shown = await checkAnswer(page, caption, `scene ${scene.seed}, ${caption.lang} “${caption.prompt}”`);
    assert.equal(shown.truth, `Drawn: ${scene.caption_en}`, `scene ${scene.seed}: the scene drawn is the recorded one`);
    for (const answer of rest) {
      await setPrompt(page, answer);
      await runAndWait(page, () => page.click('#prompt-form button[type="submit"]'));
      const label = `scene ${scene.seed}, ${answer.lang} “${answer.prompt}”`;
      const { truth } = await checkAnswer(page, answer, label);
      if (answer.lang === 'zh') assert.equal(truth, `画的是：${scene.caption_zh}`, label);
    }
    await page.selectOption('[data-testid="lang-switch"]', 'en');
  }
  assert.deepEqual(consoleErrors, []);
  const label = await page.locator('#model-label').textContent();
  const { isolated, cores } = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
  await page.context().close();
  // Which build ran: the glue script the model's worker imported (index.html preloads the
  // threaded build's module either way).
  const build = ['pkg-threads', 'pkg'].filter((dir) => requests.some((u) => u.endsWith(`/${dir}/vlm_explainer.js`)));
  return { label, isolated, cores, build };
}

test('threaded build: the page answers every recorded scene and prompt as the model does natively', async () => {
  const { label, isolated, cores, build } = await answerAll(server.url);
  assert.equal(isolated, true);
  assert.deepEqual(build, ['pkg-threads']);
  if (cores > 1) assert.match(label, new RegExp(`runs on ${Math.min(cores, 8)} threads`));
});

test('single-thread build: the page answers every recorded scene and prompt as the model does natively', async () => {
  const single = await serve(ROOT, { isolated: false });
  try {
    const { label, isolated, build } = await answerAll(single.url);
    assert.equal(isolated, false);
    assert.deepEqual(build, ['pkg']);
    assert.match(label, /runs on one thread/);
  } finally {
    single.close();
  }
});
