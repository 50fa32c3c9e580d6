// The page's wiring: loads the model (and switches models and projectors), runs an image
// through the model's worker and hands each stage's message to the panel that draws it
// (views/), takes images from drops, pastes, the file chooser and "New scene", and switches the
// language. Every number drawn comes from a tensor the wasm model computed for the current
// image, on the grid of the loaded model's config.json (geometry.js).

import { ModelClient, localModel } from './model-client.js';
import { sniff } from './image-header.js';
import { t, setLang, getLang, onLangChange } from './i18n.js';
import { geometry } from './geometry.js';
import { mark, milestone } from './marks.js';
import { dropEntries, filesOfEntries, isModelFile } from './dropped-files.js';
import { $ } from './views/dom.js';
import { InputPanel } from './views/input.js';
import { VisionPanel } from './views/vision.js';
import { ProjectionPanel } from './views/projection.js';
import { SequencePanel } from './views/sequence.js';
import { GenerationPanel } from './views/generation.js';
import { TrainPanel } from './views/train.js';
import { LessonMap } from './views/lesson-map.js';
import { LessonPanel } from './views/lesson.js';

const state = {
  // The loaded model as the worker describes it (`{ config, counts, label, threads }`), and its
  // grid (geometry.js).
  model: null, grid: null,
  // `loading`: loads under way (a crash's reload can start while the load that crashed ends).
  lastImage: null, busy: false, loading: 0,
  // The model as last loaded: a preset's name, the served folder, or the person's own files
  // (loaded again after a crash).
  modelRequest: null,
  // The model folder scripts/serve.py serves with `--model` (`{ name, files }`), and the name of
  // its model once loaded; null when there is none.
  local: null, localName: null,
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
  if (restarted && state.modelRequest) loadModel(state.modelRequest, { rerun: false });
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

// --- panels ------------------------------------------------------------------------------

const input = new InputPanel({ onHover: hoverPatch });
const vision = new VisionPanel(client, { onError: showError });
const projection = new ProjectionPanel({
  onUseOwn: () => useProjector(null),
  onHoverToken: (token) => hoverToken(token),
});
const sequence = new SequencePanel({ onHover: hoverToken, onError: showError });
const generation = new GenerationPanel({
  onAsk: () => { if (state.lastImage) runImage(state.lastImage); },
  onAttention: (weights) => input.showAttention(weights),
  projectorName,
});
// Training the projector runs in a worker of its own, on the model the page has loaded; its
// projector can replace the model's own in the explainer.
// The lesson on this model: its diagram at the top, lit stage by stage as a run goes; its code
// cell printed from the run's tensors, its reasons to freeze with what panel 6 measures, and its
// checklist (panel 7).
const map = new LessonMap();
const lesson = new LessonPanel({ measure: (steps, progress) => trainPanel.measureFreezing(steps, progress) });
const trainPanel = new TrainPanel({
  onUseProjector: (bytes, source) => useProjector({ bytes, source }),
  onUseOwn: () => useProjector(null),
  onMeasured: (summary) => lesson.showTraining(summary),
});

/// The pointer over patch `patch` of the input image (-1: off it): the patch, its image token in
/// the strip, its row of features, and the vision attention from it.
function hoverPatch(patch) {
  input.highlight(patch);
  sequence.highlight(patch >= 0 ? state.grid.tokenOfPatch(patch) : -1);
  showPatch(patch);
  vision.hoverPatch(patch);
}

function showPatch(patch) {
  input.showPatch(patch);
  vision.highlightRow(patch);
}

/// The pointer over position `pos` of the token strip (-1: off it): an image token's block of
/// patches on the image, or a text token's piece.
function hoverToken(pos) {
  const g = state.grid;
  const isImage = pos >= 0 && pos < g.imageTokens;
  const patch = isImage ? g.firstPatchOf(pos) : -1;
  input.highlight(patch, g.factor);
  projection.highlightToken(isImage ? pos : -1);
  sequence.highlight(pos);
  if (isImage) showPatch(patch);
  else if (pos >= g.imageTokens && sequence.sequence) input.showTextToken(pos - g.imageTokens, sequence.piece(pos - g.imageTokens));
}

function showModelLabel(label) {
  const text = label.local ? t('local_model', label.name, label.folder, label.files.join(', '))
    : label.own ? t('own_model', label.name, label.files.join(', '))
      : label.trained ? t('trained', label.name) : t('untrained', label.preset, label.seed);
  $('model-label').textContent = `${text} ${t('threads', state.model?.threads ?? 1)}`;
}

/// The model's grid, shape and counts in every panel that draws by them: once loaded, and once a
/// projector is swapped in (its kind may differ).
function showModel() {
  const { config } = state.model;
  state.grid = geometry(config);
  input.setGeometry(state.grid);
  vision.setModel(config, state.grid);
  projection.setModel(state.model, state.grid);
  sequence.setGeometry(state.grid);
  map.setModel(state.model, state.grid);
  lesson.setModel(state.model, state.grid);
}

// --- projectors --------------------------------------------------------------------------

/// A projector's name on the page: the model's own (`source` null) or one from the panel.
function projectorName(source) {
  if (!source) {
    const label = state.model?.label;
    if (label?.own || label?.local) return t('projector_own_files');
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
  projection.showSource({ own, label, ownLabel, busy: state.switching });
  trainPanel.showExplainer({ label, own, ownLabel, busy: state.switching, note, compare });
}

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
    state.model = { ...state.model, config: info.config, counts: info.counts };
    showModel();
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

// --- model -------------------------------------------------------------------------------

/// Loads `request` (`{ preset }`: a preset, `default` the shipped model, `local` the served folder;
/// or `{ preset: 'files', files }`) into the worker. On failure the worker keeps the model it had,
/// and so does the page.
async function loadModel(request = { preset: $('preset-switch').value }, { rerun = true } = {}) {
  state.loading += 1;
  settleStatus();
  // The same request again is the page reloading its model after a crash: the projector from
  // the training panel goes back in. Another model starts with its own projector.
  const sameModel = request === state.modelRequest;
  try {
    milestone('vlm:load-requested');
    const info = await client.request({ type: 'load', seed: 0, ...request }, (msg) => {
      if (msg.type === 'progress') $('status').textContent = t(`loading_${msg.text}`, ...(msg.args ?? []));
    });
    milestone('vlm:loaded');
    state.model = info;
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
    trainPanel.setModel(request, info.label, info.config);
    if (info.label.local) { state.localName = info.label.name; showLocalOption(); }
    showModel();
    generation.setModel(info.config);
    showModelLabel(info.label);
    input.truth({ config: info.config });
    renderProjectorSource();
  } catch (e) {
    showError(e.message);
    return false;
  } finally {
    state.loading -= 1;
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

/// The served folder's place in the model select: its model's name once loaded, its folder's before.
function showLocalOption() {
  const option = $('preset-switch').querySelector('option[value="local"]');
  option.hidden = !state.local;
  if (state.local) option.textContent = t('model_local', state.localName ?? state.local.name);
}

// --- a run -------------------------------------------------------------------------------

/// Runs every stage on `image`; resolves with the run (`state.lastRun`), or null if it did not
/// run or failed.
async function runImage(image) {
  if (state.busy) return null;
  state.busy = true;
  clearError();
  settleStatus();
  generation.clear();
  const { task, text } = generation.prompt();
  const source = state.projector?.source ?? null;
  // What a stage leaves for the later ones' panels.
  const run = { text };
  map.start();
  mark('vlm:run-requested');
  try {
    const done = await client.request(
      { type: 'run', image, task, text, options: { temperature: 0, topK: 0, seed: 0, maxNewTokens: 48 } },
      (msg) => onStage(msg, run),
    );
    mark('vlm:done-received');
    state.lastImage = image;
    state.lastRun = { image, task, text, answer: done.text, source };
    generation.finish(done, state.lastRun);
    map.finish(done);
    return state.lastRun;
  } catch (e) {
    showError(e.message);
    map.finish(null);
    return null;
  } finally {
    state.busy = false;
    settleStatus();
    mark('vlm:run-settled');
    // The token strip once the answer is painted, the PCA colours once it is complete.
    afterPaint(() => sequence.build());
    vision.afterRun();
  }
}

/// Runs `fn` after the next frame is painted.
function afterPaint(fn) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

// Each stage's message to the panel that draws it, as it arrives.
const STAGES = {
  input: (msg, run) => { run.inputShape = msg.tensorShape; input.showInput(msg); },
  encode: (msg, run) => { run.featuresShape = msg.features.shape; vision.showEncode(msg, input.image, run.inputShape); },
  project: (msg, run) => projection.showProject(msg, run.featuresShape, input.image),
  prefill: (msg) => sequence.showPrefill(msg, input.image),
};

function onStage(msg, run) {
  const stage = msg.stage ?? msg.type;
  if (stage !== 'token' || !generation.count) mark(`vlm:${stage}-received`);
  if (msg.stage) {
    STAGES[msg.stage]?.(msg, run);
    map.stage(msg.stage, msg);
    lesson.stage(msg.stage, msg, run.text);
  } else if (msg.type === 'token') {
    generation.addToken(msg.token);
    if (!msg.token.is_eos) map.token(msg.token.text);
  }
  if (stage !== 'token' || generation.count === 1) mark(`vlm:${stage}-drawn`);
}

// --- inputs ------------------------------------------------------------------------------

async function acceptFile(file) {
  if (!file) return;
  mark('vlm:file-accepted');
  input.truth({ scene: null, ownImage: true });
  // The last run's outcome goes at once, not after the file is read.
  clearError();
  generation.clearSpeed();
  const head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  mark('vlm:file-sniffed');
  if (sniff(head).format === 'svg') drawSvg(file).then(runImage, (e) => showError(e.message));
  else runImage(file);
}

// Largest side an SVG drawing is drawn at: it has no pixels of its own, and the model sees
// its central square at its own size (224 px for the shipped model).
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
  // A dropped folder (a downloaded model's) comes as an entry to read, not as a file.
  const entries = dropEntries(e.dataTransfer);
  const files = [...(e.dataTransfer?.files ?? [])];
  if (entries.some((entry) => entry.isDirectory)) filesOfEntries(entries).then(openDropped(entries), (err) => showError(err.message));
  else if (files.some(isModelFile)) openModel(files);
  else acceptFile(files[0]);
});
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file');
  if (item) acceptFile(item.getAsFile());
});
$('file-input').addEventListener('change', (e) => { acceptFile(e.target.files[0]); e.target.value = ''; });

// A fresh ShapesWorld scene, drawn by the same wasm generator the model was trained on: square,
// at ShapesWorld's size (whatever the model's), which the model scales to its own. The button's
// `data-seed` is the next scene's seed, one more after each: random for people, `?scene=SEED` in
// the page's address to start from a given one (a test may also set the attribute).
const sceneButton = $('scene-button');
const askedSeed = new URLSearchParams(location.search).get('scene');
sceneButton.dataset.seed = /^\d+$/.test(askedSeed ?? '') ? askedSeed : String(Math.floor(Math.random() * 1e9));
sceneButton.addEventListener('click', async () => {
  // ShapesWorld's seeds are u32.
  const seed = Number(sceneButton.dataset.seed) >>> 0;
  sceneButton.dataset.seed = String((seed + 1) >>> 0);
  try {
    const scene = await client.request({ type: 'scene', seed });
    input.truth({ scene });
    const side = Math.sqrt(scene.rgba.length / 4);
    runImage({ rgba: scene.rgba, width: scene.width ?? side, height: scene.height ?? side });
  } catch (e) {
    showError(e.message);
  }
});

$('preset-switch').addEventListener('change', async () => {
  const select = $('preset-switch');
  const previous = state.modelRequest;
  if (select.value === 'files') return;
  if (!(await loadModel({ preset: select.value }))) selectModelOption(previous?.preset ?? 'default');
});

// The person's own model: config.json, model.safetensors and tokenizer.json, chosen together
// (or dropped, or the folder that holds them dropped).
async function openModel(files) {
  if (!files.length) return;
  if (state.loading) { showError(t('busy_loading')); return; }
  clearError();
  if (await loadModel({ preset: 'files', files })) selectModelOption('files');
}
/// What to do with the files read from dropped `entries` (a folder among them): open them as a
/// model, or, when there is none to read, say so.
function openDropped(entries) {
  return (files) => {
    if (files.length) openModel(files);
    else showError(t('folder_empty', entries.map((entry) => entry.name).join(', ')));
  };
}
$('model-input').addEventListener('change', (e) => {
  const files = [...e.target.files];
  e.target.value = '';
  openModel(files);
});

// --- language ----------------------------------------------------------------------------

$('lang-switch').addEventListener('change', (e) => setLang(e.target.value));
onLangChange(() => {
  generation.relabel();
  vision.relabel();
  projection.relabel();
  input.truth();
  vision.updateAttention();
  if (state.model) { showModelLabel(state.model.label); renderProjectorSource(); }
  showLocalOption();
  generation.showSource();
  trainPanel.render();
  map.render();
  lesson.render();
  setStatus($('status').dataset.state);
});

$('lang-switch').value = getLang();
setLang(getLang());
start();

/// The first model: the folder scripts/serve.py serves with `--model`, if it serves one, else
/// the shipped model (one choice away in the model select either way).
async function start() {
  state.local = await localModel;
  if (state.local) {
    showLocalOption();
    selectModelOption('local');
  }
  // A served folder that cannot be read leaves its reason on show, and the shipped model in use.
  if (!(await loadModel()) && !state.modelRequest) {
    selectModelOption('default');
    loadModel({ preset: 'default' });
  }
}
