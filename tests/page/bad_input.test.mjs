// Bad input, in the page, as a person meets it: odd and broken image files dropped on the page,
// prompts of every kind, model files that do not belong together, a crash of the model's
// worker, and a whole session watched for requests that leave the page's own origin.
// Each bad file gets a message that names it and says what to do, and the page keeps working
// with the model it had.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, OUT, serve, launch, openPage, dropFile, runAndWait } from './helpers.mjs';

let server;
let browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

const fixture = (name) => readFileSync(path.join(ROOT, 'tests/fixtures', name));
const badFile = (name) => fixture(`bad_input/${name}`);
const GOOD_PNG = fixture('image.png');

const errorText = (page) => page.locator('[data-testid="error"]').textContent();
const errorShown = (page) => page.locator('[data-testid="error"]').isVisible();

/// Drops a file and waits for that run's outcome, not the previous one's (`runAndWait`).
function dropAndWait(page, name, bytes, mime = '') {
  return runAndWait(page, () => dropFile(page, name, mime, bytes));
}

/// Mean RGB of a band of rows of the input canvas (448 x 448: the model's 224 x 224 at 2x).
function band(page, y0, y1) {
  return page.locator('[data-testid="input-canvas"]').evaluate((c, [y0, y1]) => {
    const d = c.getContext('2d').getImageData(100, y0, 248, y1 - y0).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
    return sum.map((s) => Math.round(s / (d.length / 4)));
  }, [y0, y1]);
}

const isRed = ([r, g, b]) => r > 150 && g < 90 && b < 90;
const isBlue = ([r, g, b]) => b > 150 && r < 90 && g < 90;

test('odd images are read upright and whole; broken and foreign files are refused by name', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);

  // Red top half over blue bottom half, however the file stores it.
  for (const name of ['rgb16.png', 'palette.png', 'alpha.png', 'cmyk.jpg', 'progressive.jpg', 'animated.gif',
    'exif_rotated.jpg', 'photo.avif', 'drawing.svg']) {
    await dropAndWait(page, name, badFile(name));
    assert.equal(await errorShown(page), false, `${name}: ${await errorText(page)}`);
    const [top, bottom] = [await band(page, 40, 120), await band(page, 330, 410)];
    assert.ok(isRed(top) && isBlue(bottom), `${name}: red above blue, got ${top} over ${bottom}`);
    assert.ok(await page.locator('#generated-tokens > button').count() > 0, `${name}: the model answered`);
    if (name === 'exif_rotated.jpg') await page.screenshot({ path: path.join(OUT, 'bad-input-exif-upright.png') });
  }
  // Grey stays grey; one pixel and a 4000 x 10 strip fill the model's square.
  await dropAndWait(page, 'gray.png', badFile('gray.png'));
  const [grey, darker] = [await band(page, 40, 120), await band(page, 330, 410)];
  assert.ok(grey[0] === grey[1] && grey[1] === grey[2] && grey[0] > darker[0], `grey ${grey} over ${darker}`);
  await dropAndWait(page, 'one_pixel.png', badFile('one_pixel.png'));
  const [r, g, b] = await band(page, 40, 400); // green, under the faint patch grid
  assert.ok(g > 240 && r < 20 && b < 20, `one green pixel fills the input: ${[r, g, b]}`);
  await dropAndWait(page, 'wide.png', badFile('wide.png'));
  assert.equal(await errorShown(page), false, await errorText(page));

  const refusals = {
    'empty.png': /^Could not use that: empty\.png: the file is empty \(0 bytes\): choose the image again/,
    'truncated.png': /truncated\.png: the PNG file is cut short .*: download or save it again$/,
    'truncated.jpg': /truncated\.jpg: the JPEG file is cut short/,
    'notes.png': /notes\.png: this file holds text, not an image: choose a PNG, JPEG/,
    'document.png': /document\.png: this is a PDF document, not an image: export the page as PNG or JPEG first$/,
    'bomb.png': /bomb\.png: the image declares 50000x50000 pixels; the largest accepted is 16384 pixels a side .*: scale it down first$/,
    'photo.heic': /photo\.heic: this browser cannot decode HEIC images: save it as JPEG or PNG first$/,
  };
  for (const [name, message] of Object.entries(refusals)) {
    await dropAndWait(page, name, badFile(name));
    assert.match(await errorText(page), message, name);
    if (name === 'bomb.png') await page.screenshot({ path: path.join(OUT, 'bad-input-bomb.png') });
  }
  // A broken SVG is refused on the page, before the model's thread sees it.
  await dropAndWait(page, 'broken.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><rect'), 'image/svg+xml');
  assert.match(await errorText(page), /broken\.svg: this SVG drawing could not be drawn \(it is not valid SVG\)/);

  // After every refusal the same model still runs a good image.
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  assert.equal(await errorShown(page), false);
  assert.match(await page.locator('#vision-shape').textContent(), /\(1, 196, 192\)/);
  assert.deepEqual(consoleErrors, []);
});

test('prompts: empty and too long are explained, any script and special-token spellings are text', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  const ask = async (text) => {
    await page.selectOption('#task-select', 'free');
    await page.fill('#prompt-text', text);
    await runAndWait(page, () => page.click('#prompt-form button[type="submit"]'));
  };
  const textPieces = () => page.locator('[data-testid="token-strip"] > [data-kind="text"]')
    .evaluateAll((els) => els.map((e) => e.textContent.replace(/␣/g, ' ')));
  const SPECIAL = ['<|bos|>', '<|eos|>', '<|pad|>', '<|image|>', '<|caption|>', '<|question|>', '<|answer|>'];
  /// The prompt's own pieces, after checking its framing: <|bos|> <|question|> ... <|answer|>.
  const promptPieces = async (text) => {
    const pieces = await textPieces();
    assert.deepEqual([pieces[0], pieces[1], pieces.at(-1)], ['<|bos|>', '<|question|>', '<|answer|>'], JSON.stringify(text));
    const own = pieces.slice(2, -1);
    assert.ok(own.length >= 1 && own.length <= Buffer.byteLength(text), `${JSON.stringify(text)}: ${own.length} tokens`);
    assert.deepEqual(own.filter((p) => SPECIAL.includes(p)), [], `${JSON.stringify(text)}: no special token inside`);
    return own;
  };

  await ask('   ');
  assert.match(await errorText(page), /the prompt is empty: type a question, or choose "describe the image"/);

  await ask('why '.repeat(100));
  assert.match(await errorText(page), /the prompt is (\d+) tokens .* leaves room for 59: shorten it by \d+ tokens/);
  await page.screenshot({ path: path.join(OUT, 'bad-input-long-prompt.png') });

  for (const text of ['🟥 ⭐️ 👩‍👩‍👧?', 'ما لون الدائرة؟', '圆形是什么颜色？', 'e\u0301 n\u0303', 'tab\there\u0007\u001b[31m']) {
    await ask(text);
    assert.equal(await errorShown(page), false, `${JSON.stringify(text)}: ${await errorText(page)}`);
    await promptPieces(text);
  }

  // Typed, a special token's spelling is its characters: the pieces give the text back.
  const spelled = '<|eos|> and <|answer|>';
  await ask(spelled);
  assert.equal((await promptPieces(spelled)).join(''), spelled);
  assert.ok(await page.locator('#generated-tokens > button').count() > 0, 'the answer did not end at the typed <|eos|>');
  assert.deepEqual(consoleErrors, []);
});

// --- model files ------------------------------------------------------------------------------

/// safetensors: 8-byte little-endian header length, JSON header, tensor bytes.
function parseSafetensors(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString()), data: buf.subarray(8 + n) };
}

function buildSafetensors(header, data) {
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

/// The fixture's weights without one tensor (its bytes removed, the others' offsets moved).
function withoutTensor(buf, name) {
  const { header, data } = parseSafetensors(buf);
  delete header[name];
  const parts = [];
  let offset = 0;
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__')
    .sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0]);
  for (const [, info] of entries) {
    const [start, end] = info.data_offsets;
    parts.push(data.subarray(start, end));
    info.data_offsets = [offset, offset + end - start];
    offset += end - start;
  }
  return buildSafetensors(header, Buffer.concat(parts));
}

function withDtype(buf, name, dtype) {
  const { header, data } = parseSafetensors(buf);
  header[name].dtype = dtype;
  return buildSafetensors(header, data);
}

const MODEL = {
  config: fixture('config.json'),
  weights: fixture('model.safetensors'),
  tokenizer: fixture('tokenizer.json'),
};

async function openModel(page, files) {
  await page.evaluate(() => { document.querySelector('[data-testid="error"]').hidden = true; });
  const inputs = Object.entries(files).map(([name, buffer]) => ({ name, mimeType: 'application/octet-stream', buffer }));
  await page.setInputFiles('[data-testid="model-input"]', inputs);
  await page.waitForFunction(() => {
    const status = document.querySelector('[data-testid="status"]').dataset.state;
    const error = document.querySelector('[data-testid="error"]');
    return status === 'ready' && (!error.hidden || document.querySelector('#model-label').textContent.startsWith('Your model'));
  }, null, { timeout: 60_000 });
}

const good = () => ({ 'config.json': MODEL.config, 'model.safetensors': MODEL.weights, 'tokenizer.json': MODEL.tokenizer });

test('a person\'s own model files load; wrong ones are refused by file and tensor, and the model before stays', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);
  await openModel(page, good());
  assert.equal(await errorShown(page), false, await errorText(page));
  assert.match(await page.locator('#model-label').textContent(), /^Your model “micro” \(config\.json, model\.safetensors, tokenizer\.json\), loaded in this tab only/);
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  assert.match(await page.locator('#vision-shape').textContent(), /\(1, 196, 32\)/, 'the micro model ran');

  const weights = MODEL.weights;
  const config = MODEL.config.toString();
  const bad = {
    'a truncated safetensors': [{ 'model.safetensors': weights.subarray(0, weights.length / 2) },
      /model\.safetensors is cut short: its header lists .*\d+ and the file holds \d+ \(the download or copy did not finish\)/],
    'a wrong dtype': [{ 'model.safetensors': withDtype(weights, 'llm.wte.weight', 'I16') },
      /model\.safetensors: tensor `llm\.wte\.weight` is stored as I16; weights must be F32, F16 or BF16/],
    'a missing tensor': [{ 'model.safetensors': withoutTensor(weights, 'projector.fc1.weight') },
      /model\.safetensors has no tensor `projector\.fc1\.weight`, which the model of config\.json needs/],
    'a shape config.json disagrees with': [{ 'config.json': Buffer.from(config.replace('"mlp_width": 64', '"mlp_width": 48')) },
      /tensor `vision_encoder\.blocks\.0\.mlp\.fc\.weight` has shape \[64, 32\], but config\.json's sizes make it \[48, 32\]/],
    'invalid JSON': [{ 'config.json': Buffer.from(config.slice(0, 60)) }, /config\.json: EOF while parsing/],
    'a tokenizer too big for the model': [{ 'tokenizer.json': bigTokenizer() },
      /tokenizer\.json has token ids up to 302 .* but config\.json `llm\.vocab_size` is 263: they come from different models/],
    'a renamed weights file': [{ 'model.safetensors': undefined, 'vlm-f16.safetensors': weights.subarray(0, 100) },
      /vlm-f16\.safetensors is cut short: its header alone needs/],
    'two files instead of three': [{ 'tokenizer.json': undefined },
      /choose one model's three files together: config\.json, model\.safetensors and tokenizer\.json \(tokenizer\.json: chose config\.json, model\.safetensors\)/],
  };
  for (const [what, [changes, message]] of Object.entries(bad)) {
    const files = { ...good(), ...changes };
    for (const k of Object.keys(files)) if (files[k] === undefined) delete files[k];
    await openModel(page, files);
    assert.match(await errorText(page), message, what);
    if (what === 'a wrong dtype') await page.screenshot({ path: path.join(OUT, 'bad-input-model-dtype.png') });
    // The micro model is still the one loaded, and still runs.
    assert.match(await page.locator('#model-label').textContent(), /^Your model “micro”/, what);
  }
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  assert.equal(await errorShown(page), false);
  assert.match(await page.locator('#vision-shape').textContent(), /\(1, 196, 32\)/);
  assert.deepEqual(consoleErrors, []);
});

// A nanoVLM's folder as nanoVLM saves it (config.json and model.safetensors) with the tokenizer
// it reads, the small committed fixture: what fits and what does not.
const nanoFile = (name) => readFileSync(path.join(ROOT, 'tests/fixtures/nanovlm/small', name));
const NANO = { 'config.json': nanoFile('config.json'), 'model.safetensors': nanoFile('model.safetensors'), 'tokenizer.json': nanoFile('tokenizer.json') };

test('a nanoVLM\'s files: a config that does not match the header, no tokenizer, an unknown family, too little memory are refused by file, and the model before stays', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);
  await openModel(page, NANO);
  assert.equal(await errorShown(page), false, await errorText(page));
  assert.match(await page.locator('#model-label').textContent(), /^Your model “nanoVLM-0\.2M”/);
  const config = NANO['config.json'].toString();
  const bad = {
    // Checked against the safetensors header before any weight is read.
    'a width config.json disagrees with': [{ 'config.json': Buffer.from(config.replace('"vit_inter_dim": 64', '"vit_inter_dim": 48')) },
      /^Could not use that: model\.safetensors: tensor `vision_encoder\.blocks\.0\.mlp\.fc1\.weight` has shape \[64, 32\], but config\.json's sizes make it \[48, 32\]: the two files come from different models$/],
    'more blocks than the file holds': [{ 'config.json': Buffer.from(config.replace('"lm_n_blocks": 2', '"lm_n_blocks": 3')) },
      /^Could not use that: model\.safetensors has no tensor `decoder\.blocks\.2\.norm1\.weight` \(the model's `llm\.blocks\.2\.ln_1\.weight`\), which the model of config\.json needs: the two files come from different models$/],
    'no tokenizer.json': [{ 'tokenizer.json': undefined },
      /^Could not use that: tokenizer\.json is missing: config\.json is a nanoVLM config, whose folder comes without one, and reads the tokenizer of HuggingFaceTB\/cosmo2-tokenizer \(its `lm_tokenizer`\): put that tokenizer\.json with config\.json and the weights, and choose the three together$/],
    'a family the page does not read': [{ 'config.json': Buffer.from(JSON.stringify({ model_type: 'llava', vision_config: {}, text_config: {} })) },
      /^Could not use that: config\.json is a transformers `llava` config; the page reads its own models' config\.json and nanoVLM's \(its VLMConfig, with `vit_hidden_dim`\)$/],
    'a tokenizer too big for the model': [{ 'tokenizer.json': MODEL.tokenizer, 'config.json': Buffer.from(config.replace('"lm_vocab_size": 1024', '"lm_vocab_size": 100')) },
      /^Could not use that: tokenizer\.json has token ids up to \d+ .* but config\.json `llm\.vocab_size` is 100: they come from different models$/],
  };
  for (const [what, [changes, message]] of Object.entries(bad)) {
    const files = { ...NANO, ...changes };
    for (const k of Object.keys(files)) if (files[k] === undefined) delete files[k];
    await openModel(page, files);
    assert.match(await errorText(page), message, what);
    if (what === 'no tokenizer.json') await page.screenshot({ path: path.join(OUT, 'bad-input-nanovlm-no-tokenizer.png') });
    assert.match(await page.locator('#model-label').textContent(), /^Your model “nanoVLM-0\.2M”/, what);
  }
  // A model too large for the tab's memory stops the wasm module while it is built (a trap, as
  // when memory cannot grow): the page names the file, replaces the worker and loads the model it
  // had again. The test makes the loader trap as running out of memory would.
  await trapOnNext(page.workers()[0], 'ModelLoader', 'add');
  await openModel(page, NANO);
  assert.match(await errorText(page), /^Could not use that: model\.safetensors \(1 MB\): building the model from it stopped the WebAssembly module \(memory access out of bounds\), most likely for want of memory: close other tabs, or choose a smaller model\. The model was restarted; try again$/);
  await page.waitForFunction(() => document.querySelector('#model-label').textContent.startsWith('Your model “nanoVLM-0.2M”')
    && document.querySelector('[data-testid="status"]').dataset.state === 'ready', null, { timeout: 60_000 });
  // The nanoVLM loaded first still runs: 49 image tokens.
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  assert.equal(await errorShown(page), false, await errorText(page));
  assert.match(await page.locator('#sequence-shape').textContent(), /^\[49 image tokens/);
  assert.deepEqual(consoleErrors, []);
});

function bigTokenizer() {
  const json = JSON.parse(MODEL.tokenizer.toString());
  for (let i = 0; i < 40; i++) json.model.vocab[`extra${i}`] = 263 + i;
  return Buffer.from(JSON.stringify(json));
}

// --- faults ------------------------------------------------------------------------------------

/// Makes the model's worker trap at its next call of `className.prototype[method]`: the call goes
/// into the wasm with a pointer far outside its memory.
async function trapOnNext(worker, className, method) {
  await worker.evaluate(async ([className, method]) => {
    // The build the worker runs: the threaded one where the page is cross-origin isolated.
    const build = self.crossOriginIsolated ? '/pkg-threads/vlm_explainer.js' : '/pkg/vlm_explainer.js';
    const glue = await import(new URL(build, self.location).href);
    const wasm = await glue.default();
    glue[className].prototype[method] = () => wasm.vlmexplainer_encode(0x7ffffff0);
  }, [className, method]);
}

test('if the wasm module traps, the worker is replaced, the same model reloaded, and the next image works', async () => {
  const { page, consoleErrors } = await openPage(browser, server.url);
  await openModel(page, good());
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');

  // A real trap inside the module, as a memory-safety bug would cause.
  const [worker] = page.workers();
  await trapOnNext(worker, 'VlmExplainer', 'encode');
  const closed = new Promise((resolve) => worker.once('close', resolve));
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  assert.match(await errorText(page), /the model stopped with an internal error \(memory access out of bounds\)\. The model was restarted; try again$/);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]');
  await page.screenshot({ path: path.join(OUT, 'bad-input-crash.png') });
  await closed; // the worker that trapped is gone (with its thread pool's workers)
  assert.ok(page.workers().length > 0 && !page.workers().includes(worker), 'a new worker');

  // The person's own model was loaded again, and the next image runs on it.
  assert.match(await page.locator('#model-label').textContent(), /^Your model “micro”/);
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  assert.equal(await errorShown(page), false, await errorText(page));
  assert.match(await page.locator('#vision-shape').textContent(), /\(1, 196, 32\)/);
  assert.ok(await page.locator('#generated-tokens > button').count() > 0);
  assert.deepEqual(consoleErrors, []);
});

// --- security ----------------------------------------------------------------------------------

test('a whole session stays on the page\'s origin, under a policy that forbids eval', async () => {
  const { page, context, consoleErrors, requests } = await openPage(browser, server.url);
  const methods = [];
  context.on('request', (r) => methods.push(`${r.method()} ${r.url()}`));
  await openModel(page, good());
  await dropAndWait(page, 'photo.avif', badFile('photo.avif'));
  await dropAndWait(page, 'scene.png', GOOD_PNG, 'image/png');
  // This scene's run, not the last image's (whose speed line is on show until the scene arrives).
  await runAndWait(page, () => page.click('[data-testid="new-scene"]'));

  const foreign = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'every request goes to the page\'s own origin');
  assert.ok(requests.some((u) => u.endsWith('/pkg-threads/vlm_explainer.js')), 'the listener sees the worker\'s requests');
  assert.deepEqual(methods.filter((m) => !m.startsWith('GET ')), [], 'nothing is sent: no POST, no PUT');

  assert.deepEqual(consoleErrors, [], 'no errors, and so no policy violations, in the session');

  // The policy reaches the page and the worker: neither runs a string as code, and the page
  // runs no inline script. (Code the test itself evaluates is exempt, so the probes are a
  // string timer and a script element, which the browser checks.) Whether the string ran is
  // known once a timer set after it has fired (timers of one delay fire in order); the browser's
  // reports of what it refused are waited for as long as a loaded machine takes to send them
  // (30 s at most: a policy that refuses nothing fails then).
  const response = await context.request.get(new URL('www/worker.js', server.url).href);
  assert.match(response.headers()['content-security-policy'], /script-src 'self' 'wasm-unsafe-eval';.*connect-src 'self'/);
  const probe = ({ inline, expected }) => new Promise((resolve) => {
    const refused = new Set();
    let timersRan = false;
    const result = () => ({ ran: Boolean(self.__stringRan || self.__inlineRan), refused: [...refused].sort() });
    const settle = () => { if (timersRan && expected.every((d) => refused.has(d))) resolve(result()); };
    self.addEventListener('securitypolicyviolation', (e) => { refused.add(e.violatedDirective); settle(); });
    setTimeout('self.__stringRan = true', 0);
    if (inline) {
      const script = document.createElement('script');
      script.textContent = 'self.__inlineRan = true';
      document.head.append(script);
    }
    setTimeout(() => { timersRan = true; settle(); }, 0);
    setTimeout(() => resolve(result()), 30_000);
  });
  const inPage = ['script-src', 'script-src-elem'];
  assert.deepEqual(await page.evaluate(probe, { inline: true, expected: inPage }), { ran: false, refused: inPage });
  const inWorker = ['script-src'];
  assert.deepEqual(await page.workers()[0].evaluate(probe, { inline: false, expected: inWorker }), { ran: false, refused: inWorker });
});
