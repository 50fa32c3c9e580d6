// The page: wires the inputs, the model worker and the views. Every number drawn here comes
// from a tensor the wasm model computed for the current image.

import { ModelClient } from './model-client.js';
import { sniff } from './image-header.js';
import { t, setLang, getLang, onLangChange, formatCount } from './i18n.js';
import { InputView } from './views/input.js';
import { TokenStrip } from './views/tokens.js';
import { drawMatrix } from './views/matrix.js';
import { TrainPanel } from './views/train.js';

const $ = (id) => document.getElementById(id);
const GRID = 14;
const IMAGE_TOKENS = GRID * GRID;

const state = {
  config: null, features: null, sequence: null, imageUrl: null, lastImage: null, tokens: [], busy: false,
  loading: false, selectedToken: -1, hoveredPatch: -1,
  // The features whose PCA colours are asked for and drawn (`updatePca`).
  pcaAsked: null, pcaDrawn: null,
  // The model as last loaded: a preset's name, or the person's own files (loaded again after a crash).
  modelRequest: null,
  // The projector the explainer runs instead of the model's own, from the training panel:
  // `{ bytes, source: { step, kind, loaded } }` (kept to load it again after a crash), or null.
  projector: null,
  // Switching projectors: the request and the run of the current image after it.
  switching: false,
  // The last answer: `{ image, task, text, answer, source }` (`source` as in `projector`).
  lastRun: null,
  // What the training panel says about the last switch: `{ note: [key, ...args], compare:
  // { prompt, rows: [{ source, answer }] } }`, drawn again when the language changes.
  switchView: {},
};

// If the model's worker crashes, it is replaced and the same model is loaded into it again;
// the page keeps what it shows, and the next image runs as usual.
const client = new ModelClient((message, restarted) => {
  showError(message);
  if (restarted) loadModel(state.modelRequest, { rerun: false });
});

/// The status line: loading wins over working, working over ready.
function settleStatus() {
  setStatus(state.loading ? 'loading' : state.busy ? 'busy' : 'ready');
}

function setStatus(kind) {
  const el = $('status');
  el.dataset.state = kind;
  el.textContent = t(`status_${kind}`);
}

function showError(message) {
  const el = $('error');
  el.textContent = t('err_prefix') + message;
  el.hidden = false;
}

function clearError() { $('error').hidden = true; $('error').textContent = ''; }
$('error').addEventListener('click', clearError);

// A run's `vlm:` performance marks (bench/page_timeline.mjs --drop prints them): one entry per
// name, the latest run's.
function mark(name) { performance.clearMarks(name); performance.mark(name); }

const shapeText = (dims) => `(${dims.join(', ')})`;

// --- views -------------------------------------------------------------------------------

const inputView = new InputView($('input-canvas'), {
  onHover: (i) => {
    inputView.setHighlight(i);
    strip.highlight(i);
    showPatch(i);
    if (i >= 0) { state.hoveredPatch = i; if ($('vision-query').value === 'patch') updateVisionAttention(); }
  },
});

// The vision encoder's attention, on its own copy of the image.
const attentionView = new InputView($('vision-attention-canvas'), { onHover: (i) => attentionView.setHighlight(i) });

const strip = new TokenStrip($('token-strip'), {
  onHover: (pos) => {
    const isImage = pos >= 0 && pos < IMAGE_TOKENS;
    inputView.setHighlight(isImage ? pos : -1);
    strip.highlight(pos);
    if (isImage) showPatch(pos);
    else if (pos >= IMAGE_TOKENS && state.sequence) {
      const i = pos - IMAGE_TOKENS;
      $('patch-info').textContent = t('token_info', i, state.sequence.pieces[i]);
    }
  },
});

function showPatch(i) {
  if (i < 0) { $('patch-info').textContent = ''; drawFeatures(-1); return; }
  $('patch-info').textContent = t('patch_info', Math.floor(i / GRID), i % GRID, i);
  drawFeatures(i);
}

function drawFeatures(row) {
  if (!state.features) return;
  const [, rows, cols] = state.features.shape;
  drawMatrix($('features-canvas'), state.features.data, rows, cols, row);
}

function showCounts(counts) {
  const rows = [
    [t('part_vision'), counts.vision_encoder, t('frozen')],
    [t('part_projector'), counts.projector, t('trainable')],
    [t('part_llm'), counts.llm, t('frozen')],
  ];
  $('param-counts').replaceChildren(...rows.map(([name, n, tag]) => {
    const tr = document.createElement('tr');
    for (const text of [name, `${formatCount(n)} ${t('params')}`, tag]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    tr.lastChild.className = tag === t('frozen') ? 'frozen' : 'trainable';
    return tr;
  }));
}

function fillSelect(select, options) {
  const previous = select.value;
  select.replaceChildren(...options.map(([value, text]) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    return o;
  }));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

/// How this model turns a patch into its first feature (config.json's `vision.stem`), and its
/// patch features into image tokens (`projector.kind`).
function showArchitecture() {
  $('vision-stem').textContent = state.config ? t('vision_stem', state.config.vision.stem ?? 'linear') : '';
  $('projection-kind').textContent = state.config ? t('projection_kind', state.config.projector.kind) : '';
}

function fillAttentionSelects() {
  if (!state.config) return;
  const { vision, llm } = state.config;
  const range = (n) => [...Array(n).keys()];
  fillSelect($('vision-layer'), range(vision.layers).map((l) => [l, `${l + 1} / ${vision.layers}`]));
  if (!$('vision-layer').dataset.touched) $('vision-layer').value = vision.layers - 1;
  fillSelect($('vision-head'), [[-1, t('mean')], ...range(vision.heads).map((h) => [h, `${h + 1}`])]);
  fillSelect($('token-layer'), [[-1, t('all_layers')], ...range(llm.layers).map((l) => [l, `${l + 1} / ${llm.layers}`])]);
  fillSelect($('token-head'), [[-1, t('mean')], ...range(llm.heads).map((h) => [h, `${h + 1}`])]);
}

let attentionInFlight = false;
let attentionPending = false;

/// Asks the worker for one row of vision attention and draws its 196 patch weights.
async function updateVisionAttention() {
  if (!state.features) return;
  if (attentionInFlight) { attentionPending = true; return; }
  attentionInFlight = true;
  const layer = Number($('vision-layer').value);
  const head = Number($('vision-head').value);
  const fromPatch = $('vision-query').value === 'patch' && state.hoveredPatch >= 0;
  const query = fromPatch ? 1 + state.hoveredPatch : 0;
  try {
    const { row } = await client.request({ type: 'visionAttention', layer, head, query });
    attentionView.setAttention(row.slice(1));
    attentionView.setHighlight(fromPatch ? state.hoveredPatch : -1);
    $('vision-attention-caption').textContent = t('vision_attention_caption', layer + 1, t('head_label', head),
      fromPatch ? t('from_patch', state.hoveredPatch) : 'CLS');
  } catch (e) {
    showError(e.message);
  } finally {
    attentionInFlight = false;
    if (attentionPending) { attentionPending = false; updateVisionAttention(); }
  }
}
for (const id of ['vision-layer', 'vision-head', 'vision-query']) {
  $(id).addEventListener('change', () => { $(id).dataset.touched = '1'; updateVisionAttention(); });
}
for (const id of ['token-layer', 'token-head']) {
  $(id).addEventListener('change', () => { if (state.selectedToken >= 0) selectToken(state.selectedToken); });
}

/// Asks the worker for the PCA colours of `features` (computed there after the run's answer) and
/// draws them, unless another image's features have arrived meanwhile. The worker gives them up
/// (rgb null) when another run is waiting: that run asks for its own, and if it brought no new
/// features (its image was refused), `pcaAfterRun` asks again.
async function updatePca(features) {
  const canvas = $('pca-canvas');
  canvas.setAttribute('aria-busy', 'true');
  state.pcaAsked = features;
  let givenUp = false;
  try {
    const { rgb } = await client.request({ type: 'pca' });
    givenUp = !rgb;
    if (rgb && state.features === features) {
      drawPca(rgb);
      state.pcaDrawn = features;
    }
  } catch (e) {
    showError(e.message);
  } finally {
    if (state.pcaAsked === features) state.pcaAsked = null;
    if (state.features === features && !givenUp) canvas.removeAttribute('aria-busy');
  }
}

/// After a run: the PCA colours of the features on show, if nobody has them or is asking.
function pcaAfterRun() {
  if (state.features && state.pcaDrawn !== state.features && state.pcaAsked !== state.features) updatePca(state.features);
}

function drawPca(rgb) {
  const canvas = $('pca-canvas');
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(GRID, GRID);
  for (let i = 0; i < IMAGE_TOKENS; i++) {
    img.data.set([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

function showModelLabel(label) {
  const text = label.own ? t('own_model', label.name, label.files.join(', '))
    : label.trained ? t('trained', label.name) : t('untrained', label.preset, label.seed);
  $('model-label').textContent = `${text} ${t('threads', modelInfo?.threads ?? 1)}`;
}

// Training the projector runs in a worker of its own, on the model the page has loaded; its
// projector can replace the model's own in the explainer.
const trainPanel = new TrainPanel({
  onUseProjector: (bytes, source) => useProjector({ bytes, source }),
  onUseOwn: () => useProjector(null),
});

/// A projector's name on the page: the model's own (`source` null) or one from the panel.
function projectorName(source) {
  if (!source) {
    const label = modelInfo?.label;
    if (label?.own) return t('projector_own_files');
    return label?.trained ? t('projector_shipped') : t('projector_random');
  }
  if (source.loaded) return source.step ? t('projector_loaded_trained', source.loaded, source.step) : t('projector_loaded', source.loaded);
  return t('projector_trained', source.step);
}

/// Says which projector the explainer runs, in panel 3 and in the training panel, with the
/// last switch's note and answers (`state.switchView`).
function renderProjectorSource(view = state.switchView) {
  state.switchView = view;
  const note = view.note ? t(...view.note) : '';
  const compare = view.compare && {
    prompt: view.compare.prompt,
    rows: view.compare.rows.map((r) => [projectorName(r.source), r.answer]),
  };
  const source = state.projector?.source ?? null;
  const own = !source;
  const label = t('explainer_using', projectorName(source));
  const ownLabel = t('use_own_projector', projectorName(null));
  $('projector-source').dataset.own = String(own);
  $('projector-source-text').textContent = label;
  const button = $('projector-use-own');
  button.hidden = own;
  button.disabled = state.switching;
  button.textContent = ownLabel;
  trainPanel.showExplainer({ label, own, ownLabel, busy: state.switching, note, compare });
}

/// Which projector produced the answer on show, when it is not the model's own.
function renderAnswerSource() {
  const el = $('output-projector');
  const source = state.lastRun?.source;
  el.hidden = !source;
  el.textContent = source ? t('answered_with', projectorName(source)) : '';
  // After a language switch (which relabels the prompt) or an edit, say which prompt the answer
  // on show was to.
  const asked = state.lastRun?.text;
  const stale = asked !== undefined && asked !== currentPrompt().text;
  $('output-prompt').hidden = !stale;
  $('output-prompt').textContent = stale ? t('answered_prompt', asked) : '';
}
$('prompt-text').addEventListener('input', () => renderAnswerSource());

/// Runs the explainer with `choice` (`{ bytes, source }` from the training panel) or, for
/// null, the model's own projector, then runs the current image again and sets the two answers
/// side by side in the training panel.
async function useProjector(choice) {
  if (state.switching) return;
  state.switching = true;
  const before = state.lastRun;
  renderProjectorSource({ note: ['explainer_switching'] });
  try {
    const info = await client.request({ type: 'projector', bytes: choice?.bytes ?? null });
    state.projector = choice;
    applyProjectorInfo(info);
  } catch (e) {
    state.switching = false;
    showError(e.message);
    renderProjectorSource({ note: ['explainer_failed', e.message] });
    return;
  }
  renderProjectorSource({ note: ['explainer_switching'] });
  const image = state.lastImage;
  const after = image ? await runImage(image) : null;
  state.switching = false;
  if (!image) { renderProjectorSource({ note: ['explainer_no_image'] }); return; }
  let compare = null;
  if (after) {
    const same = before && before.image === after.image && before.text === after.text && before.task === after.task;
    compare = { prompt: after.text, rows: [...(same ? [before] : []), after] };
  }
  renderProjectorSource({ compare });
}

/// The model's shape and counts once a projector is swapped in (its kind may differ).
function applyProjectorInfo(info) {
  state.config = info.config;
  modelInfo = { ...modelInfo, config: info.config, counts: info.counts };
  showCounts(info.counts);
  showArchitecture();
}

$('projector-use-own').addEventListener('click', () => useProjector(null));

// --- model -------------------------------------------------------------------------------

let modelInfo = null;

/// Loads `request` (`{ preset }`, or `{ preset: 'files', files }`) into the worker. On failure
/// the worker keeps the model it had, and so does the page.
async function loadModel(request = { preset: $('preset-switch').value }, { rerun = true } = {}) {
  state.loading = true;
  settleStatus();
  // The same request again is the page reloading its model after a crash: the projector from
  // the training panel goes back in. Another model starts with its own projector.
  const sameModel = request === state.modelRequest;
  try {
    performance.mark('vlm:load-requested');
    const info = await client.request({ type: 'load', seed: 0, ...request }, (msg) => {
      if (msg.type === 'progress') $('status').textContent = t(`loading_${msg.text}`);
    });
    performance.mark('vlm:loaded');
    modelInfo = info;
    state.modelRequest = request;
    if (!sameModel) { state.projector = null; state.switchView = {}; }
    else if (state.projector) {
      try {
        Object.assign(info, await client.request({ type: 'projector', bytes: state.projector.bytes }));
      } catch (e) {
        state.projector = null;
        showError(t('explainer_failed', e.message));
      }
    }
    trainPanel.setModel(request, info.label);
    state.config = modelInfo.config;
    fillAttentionSelects();
    showArchitecture();
    fillTasks();
    showCounts(modelInfo.counts);
    showModelLabel(modelInfo.label);
    showTruth();
    renderProjectorSource();
  } catch (e) {
    showError(e.message);
    return false;
  } finally {
    state.loading = false;
    settleStatus();
  }
  if (rerun && state.lastImage) runImage(state.lastImage);
  return true;
}

function selectModelOption(value) {
  const select = $('preset-switch');
  select.querySelector('option[value="files"]').hidden = value !== 'files';
  select.value = value;
}

function currentPrompt() {
  const task = $('task-select').value === 'caption' ? 'caption' : 'question';
  return { task, text: $('prompt-text').value };
}

/// Runs every stage on `image`; resolves with the run (`state.lastRun`), or null if it did not
/// run or failed.
async function runImage(image) {
  if (state.busy) return null;
  state.busy = true;
  clearError();
  settleStatus();
  state.tokens = [];
  state.selectedToken = -1;
  $('output').textContent = '';
  $('speed').textContent = '';
  $('generated-tokens').replaceChildren();
  $('candidates').replaceChildren();
  $('output-projector').hidden = true;
  $('output-prompt').hidden = true;
  const { task, text } = currentPrompt();
  const source = state.projector?.source ?? null;
  mark('vlm:run-requested');
  try {
    const done = await client.request(
      { type: 'run', image, task, text, options: { temperature: 0, topK: 0, seed: 0, maxNewTokens: 48 } },
      onStage,
    );
    mark('vlm:done-received');
    state.lastImage = image;
    state.lastRun = { image, task, text, answer: done.text, source };
    renderAnswerSource();
    $('speed').textContent = t('speed', done.tokens, done.tokensPerSecond);
    $('speed').dataset.wasmBytes = done.wasmBytes;
    return state.lastRun;
  } catch (e) {
    showError(e.message);
    return null;
  } finally {
    state.busy = false;
    settleStatus();
    mark('vlm:run-settled');
    afterPaint(buildStrip);
    pcaAfterRun();
  }
}

// The token strip (196 + T elements with their styles, and the image encoded as PNG for them:
// the page's costliest drawing) is built once the answer is shown and painted, so that it never
// holds up the answer's tokens; if the answer is still coming STRIP_WAIT_MS after the prefill (a
// large model), it is built then.
const STRIP_WAIT_MS = 300;
let pendingStrip = null;
let stripTimer = 0;

function scheduleStrip(sequence) {
  pendingStrip = sequence;
  $('token-strip').setAttribute('aria-busy', 'true');
  clearTimeout(stripTimer);
  stripTimer = setTimeout(buildStrip, STRIP_WAIT_MS);
}

function buildStrip() {
  clearTimeout(stripTimer);
  const sequence = pendingStrip;
  pendingStrip = null;
  if (!sequence) return;
  // One short blob: URL that all 196 image tokens share (a data: URL repeated 196 times makes
  // the browser parse megabytes of style).
  inputView.image.convertToBlob({ type: 'image/png' }).then((blob) => {
    if (state.sequence !== sequence) return;
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.imageUrl = URL.createObjectURL(blob);
    strip.render(sequence, state.imageUrl);
    $('token-strip').removeAttribute('aria-busy');
    mark('vlm:strip-drawn');
  }, (e) => {
    $('token-strip').removeAttribute('aria-busy');
    showError(e.message);
  });
}

/// Runs `fn` after the next frame is painted.
function afterPaint(fn) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

function onStage(msg) {
  const cfg = state.config;
  const stage = msg.stage ?? msg.type;
  if (stage !== 'token' || !state.tokens.length) mark(`vlm:${stage}-received`);
  if (msg.stage === 'input') {
    inputView.setImage(msg.rgba);
    $('input-shape').textContent = `224 × 224 × 3 → ${shapeText(msg.tensorShape)}, ${GRID} × ${GRID} = ${IMAGE_TOKENS} patches of 16 × 16`;
  } else if (msg.stage === 'encode') {
    state.features = msg.features;
    drawFeatures(-1);
    updatePca(msg.features);
    attentionView.image = inputView.image;
    updateVisionAttention();
    $('vision-shape').textContent = `${shapeText([1, 3, 224, 224])} → ${shapeText(msg.features.shape)}  (${msg.ms.toFixed(0)} ms)`;
  } else if (msg.stage === 'project') {
    const [dt, dv] = msg.weight.shape;
    drawMatrix($('projector-canvas'), msg.weight.data, dt, dv);
    $('projection-shape').textContent =
      `${shapeText(state.features.shape)} → ${cfg.projector.kind} ${dv} → ${dt} → ${shapeText(msg.tokens.shape)}  (${msg.ms.toFixed(1)} ms)`;
  } else if (msg.stage === 'prefill') {
    state.sequence = msg.sequence;
    scheduleStrip(msg.sequence);
    const textCount = msg.sequence.pieces.length;
    $('sequence-shape').textContent =
      `[${IMAGE_TOKENS} image tokens | ${textCount} text tokens] → ${shapeText(msg.sequence.shape)}  (prefill ${msg.ms.toFixed(0)} ms)`;
  } else if (msg.type === 'token') {
    addToken(msg.token);
  }
  if (stage !== 'token' || state.tokens.length === 1) mark(`vlm:${stage}-drawn`);
}

function addToken(token) {
  state.tokens.push(token);
  if (!token.is_eos) $('output').textContent = token.text;
  const chip = document.createElement('button');
  chip.type = 'button';
  chip.className = 'tok tok-gen';
  chip.textContent = token.piece.replace(/ /g, '␣');
  chip.addEventListener('click', () => selectToken(state.tokens.indexOf(token)));
  $('generated-tokens').append(chip);
}

/// The selected generated token's attention over the 196 image positions: one layer and head,
/// or the mean over either, drawn over the input image.
function selectToken(index) {
  state.selectedToken = index;
  const token = state.tokens[index];
  [...$('generated-tokens').children].forEach((c, i) => c.classList.toggle('active', i === index));
  const { shape, data } = token.image_attention; // (layers, heads, 196)
  const [layers, heads] = shape;
  const layer = Number($('token-layer').value);
  const head = Number($('token-head').value);
  const mean = new Float32Array(IMAGE_TOKENS);
  let planes = 0;
  for (let l = 0; l < layers; l++) {
    if (layer >= 0 && l !== layer) continue;
    for (let h = 0; h < heads; h++) {
      if (head >= 0 && h !== head) continue;
      const offset = (l * heads + h) * IMAGE_TOKENS;
      for (let i = 0; i < IMAGE_TOKENS; i++) mean[i] += data[offset + i];
      planes += 1;
    }
  }
  for (let i = 0; i < IMAGE_TOKENS; i++) mean[i] /= planes;
  inputView.setAttention(mean);
  const title = document.createElement('p');
  title.textContent = t('attention_of', token.piece, layer, head);
  const list = document.createElement('ol');
  for (const c of token.top) {
    const li = document.createElement('li');
    li.textContent = `“${c.piece}” ${(c.probability * 100).toFixed(1)}%`;
    list.append(li);
  }
  const parts = [title, list];
  if (token.set_aside >= 0.001) {
    const note = document.createElement('p');
    note.className = 'set-aside';
    note.dataset.testid = 'set-aside';
    note.textContent = t('set_aside', (token.set_aside * 100).toFixed(1));
    parts.push(note);
  }
  $('candidates').replaceChildren(...parts);
}

// --- inputs ------------------------------------------------------------------------------

async function acceptFile(file) {
  if (!file) return;
  mark('vlm:file-accepted');
  state.scene = null;
  state.ownImage = true;
  showTruth();
  // The last run's outcome goes at once, not after the file is read.
  clearError();
  $('speed').textContent = '';
  const head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  mark('vlm:file-sniffed');
  if (sniff(head).format === 'svg') drawSvg(file).then(runImage, (e) => showError(e.message));
  else runImage(file);
}

// Largest side an SVG drawing is drawn at: it has no pixels of its own, and the model sees
// its central square at 224 px.
const SVG_SIDE = 1024;

/// An SVG drawing as pixels, drawn by the browser here (the worker has no image element). As
/// an image, SVG runs no script and loads nothing from elsewhere.
async function drawSvg(file) {
  // Typed, whatever the file says: the browser reads SVG only as image/svg+xml.
  const url = URL.createObjectURL(new Blob([file], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
    } catch {
      throw new Error(`${file.name}: this SVG drawing could not be drawn (it is not valid SVG): export it as PNG first`);
    }
    const w0 = img.naturalWidth || SVG_SIDE;
    const h0 = img.naturalHeight || SVG_SIDE;
    const scale = SVG_SIDE / Math.max(w0, h0);
    const width = Math.max(1, Math.round(w0 * scale));
    const height = Math.max(1, Math.round(h0 * scale));
    const ctx = new OffscreenCanvas(width, height).getContext('2d');
    ctx.fillStyle = '#fff'; // transparent parts show white, as on the page
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(img, 0, 0, width, height);
    return { rgba: ctx.getImageData(0, 0, width, height).data, width, height, name: file.name };
  } finally {
    URL.revokeObjectURL(url);
  }
}

document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.some((f) => /\.(safetensors|json)$/i.test(f.name))) openModel(files);
  else acceptFile(files[0]);
});
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file');
  if (item) acceptFile(item.getAsFile());
});
$('file-input').addEventListener('change', (e) => { acceptFile(e.target.files[0]); e.target.value = ''; });

// A fresh ShapesWorld scene, drawn by the same wasm generator the model was trained on.
let sceneSeed = Math.floor(Math.random() * 1e9);
$('scene-button').addEventListener('click', async () => {
  try {
    const scene = await client.request({ type: 'scene', seed: sceneSeed++ });
    state.scene = scene;
    showTruth();
    runImage({ rgba: scene.rgba, width: 224, height: 224 });
  } catch (e) {
    showError(e.message);
  }
});

// Under the image: what a ShapesWorld scene shows, or, for any other image given to a model
// trained on ShapesWorld, that its answer can only be in ShapesWorld's words.
function showTruth() {
  const trainedOnShapes = /^shapesworld/.test(state.config?.name ?? '');
  let text = '';
  if (state.scene) text = t('truth', state.scene[`caption_${getLang()}`]);
  else if (state.ownImage && trainedOnShapes) text = t('not_a_scene');
  $('scene-truth').textContent = text;
}

const TASKS = ['caption', 'colour', 'where', 'count', 'exists', 'free'];

/// The default prompt of a task. With the lesson-sized model, the English caption prompt is 20
/// tokens long, so the LLM input is (1, 216, 512) exactly as the lesson prints it.
function defaultPrompt(task) {
  if (task === 'caption' && state.config?.name === 'seed') return t('seed_caption_prompt');
  return t(`${task}_prompt`);
}

function fillTasks() {
  const select = $('task-select');
  const previous = select.value || 'caption';
  select.replaceChildren(...TASKS.map((task) => {
    const o = document.createElement('option');
    o.value = task;
    o.textContent = t(`task_${task}`);
    return o;
  }));
  select.value = previous;
  $('prompt-text').value = defaultPrompt(previous);
}
$('task-select').addEventListener('change', () => { $('prompt-text').value = defaultPrompt($('task-select').value); });
$('prompt-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (state.lastImage) runImage(state.lastImage);
});

$('lang-switch').addEventListener('change', (e) => setLang(e.target.value));
onLangChange(() => {
  fillTasks();
  fillAttentionSelects();
  showArchitecture();
  showTruth();
  updateVisionAttention();
  if (modelInfo) { showCounts(modelInfo.counts); showModelLabel(modelInfo.label); renderProjectorSource(); }
  renderAnswerSource();
  trainPanel.render();
  setStatus($('status').dataset.state);
});
$('preset-switch').addEventListener('change', async () => {
  const select = $('preset-switch');
  const previous = state.modelRequest;
  if (select.value === 'files') return;
  if (!(await loadModel({ preset: select.value }))) selectModelOption(previous?.preset ?? 'default');
});

// The person's own model: config.json, model.safetensors and tokenizer.json, chosen together.
async function openModel(files) {
  if (!files.length) return;
  clearError();
  if (await loadModel({ preset: 'files', files })) selectModelOption('files');
}
$('model-input').addEventListener('change', (e) => {
  const files = [...e.target.files];
  e.target.value = '';
  openModel(files);
});

$('lang-switch').value = getLang();
setLang(getLang());
loadModel();
