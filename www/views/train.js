// The "train the projector" panel: owns the training worker, draws the loss curve, the cost of
// each freezing choice, the cache's savings, and the held-out captions with their scores beside
// the shipped model's (www/model/eval.json). "Use in the explainer" hands the projector, as
// "Download projector" saves it, to the page, which runs the explainer with it.

import { t, getLang, formatCount } from '../i18n.js';
import { $ } from './dom.js';
// Held-out captions shown (of the scenes the worker scores).
const SHOWN_CAPTIONS = 6;
const ATTRIBUTES = ['shape', 'colour', 'size', 'position', 'count', 'attributes'];
// The ranges the trainer takes (MAX_BATCH and LR_RANGE in src/projector_training.rs).
export const MAX_BATCH = 32;
export const LR_RANGE = [1e-5, 0.1];

/// A learning rate as people write it: 0.002, 0.00001, 0.1.
export const formatLr = (lr) => String(Number(lr.toPrecision(3)));

/// The batch size and learning rate in the panel's fields, or the message saying what to type.
export function readParams(batchText, lrText) {
  const errors = {};
  const batch = Number(batchText);
  if (batchText.trim() === '' || !Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) {
    errors.batch = t('train_batch_invalid', batchText.trim(), MAX_BATCH);
  }
  const lr = Number(lrText);
  if (lrText.trim() === '' || !Number.isFinite(lr) || lr < LR_RANGE[0] || lr > LR_RANGE[1]) {
    errors.lr = t('train_lr_invalid', lrText.trim(), formatLr(LR_RANGE[0]), formatLr(LR_RANGE[1]));
  }
  return Object.keys(errors).length ? { errors } : { batch, lr };
}

export class TrainPanel {
  /// `onUseProjector(bytes, source)`: run the explainer with this projector (`source`: `{ step,
  /// kind, loaded }`); `onUseOwn()`: back to the model's own; `onMeasured(summary)`: what the
  /// panel has measured changed (`summary()`).
  constructor({ onUseProjector = () => {}, onUseOwn = () => {}, onMeasured = () => {} } = {}) {
    this.onUseProjector = onUseProjector;
    this.onUseOwn = onUseOwn;
    this.onMeasured = onMeasured;
    // How far the vision encoder's features moved while it trained (the latest report), and a
    // run of steps asked for (`trainSteps`): `{ steps, resolve, reject }`.
    this.drift = null;
    this.target = null;
    // What the page says about the explainer's projector (`showExplainer`).
    this.explainer = null;
    this.model = null;
    // The page's model's family (config.json's `family`): the panel trains the shipped family's.
    this.family = 'explainer';
    this.worker = null;
    this.shipped = undefined;
    // Per freezing choice: the last setting's measured step time and memory.
    this.costs = new Map();
    this.clear();
    $('train-toggle').addEventListener('click', () => this.toggle());
    $('train-reset').addEventListener('click', () => this.reset());
    $('train-download').addEventListener('click', () => this.send({ type: 'download' }));
    $('train-use').addEventListener('click', () => this.useInExplainer());
    $('train-use-own').addEventListener('click', () => this.onUseOwn());
    for (const id of ['train-batch', 'train-lr']) {
      $(id).addEventListener('input', () => this.renderParams());
      $(id).addEventListener('change', () => this.renderParams());
    }
    $('train-load').addEventListener('change', (e) => {
      const file = e.target.files[0];
      e.target.value = '';
      if (file) this.loadProjector(file);
    });
    for (const id of ['train-kind', 'train-unfreeze']) {
      $(id).addEventListener('change', () => { if (this.worker) this.reset(); });
    }
    this.setState('idle');
  }

  /// The page loaded another model (`config`: its config.json): training starts over on it, when
  /// asked. The panel trains projectors for the shipped family's models (ShapesWorld's scenes and
  /// captions, its tokenizer's special tokens); for another family it says so and stays off.
  setModel(request, label, config) {
    // The same request again is the page reloading its model after a crash: training goes on.
    if (request === this.model) return;
    this.model = request;
    this.label = label;
    this.family = config?.family ?? 'explainer';
    this.stop();
    this.loadedName = null;
    this.shipped = undefined;
    this.costs.clear();
    this.drift = null;
    // The wasm memory (bytes) at which training the encoder ran out of it, if it did on this model.
    this.encoderOutOfMemory = null;
    this.endTarget(new Error(t('measure_stopped')));
    this.clear();
    this.setState(this.supported() ? 'idle' : 'unsupported', label?.name ?? '');
    this.onMeasured(this.summary());
  }

  /// Whether the panel can train a projector for the page's model.
  supported() { return this.family === 'explainer'; }

  clear() {
    this.losses = [];
    this.info = null;
    this.lastEval = null;
    this.lastStep = null;
    this.cache = null;
    this.stepTimes = [];
    this.encodeTimes = [];
    this.memory = 0;
    this.render();
  }

  stop() {
    this.worker?.terminate();
    this.worker = null;
    this.running = false;
  }

  setState(state, detail = '') {
    this.state = state;
    this.detail = detail;
    const el = $('train-status');
    el.dataset.state = state;
    el.textContent = t(`train_state_${state}`, detail);
    $('train-toggle').textContent = t(this.running ? 'train_pause' : 'train_start');
    const off = !this.supported();
    $('panel-train').dataset.supported = String(!off);
    $('train-toggle').disabled = state === 'loading' || off;
    $('train-download').disabled = !this.info || off;
    for (const id of ['train-reset', 'train-load', 'train-kind', 'train-unfreeze', 'train-batch', 'train-lr']) $(id).disabled = off;
    this.renderUse();
  }

  send(msg) { this.worker?.postMessage(msg); }

  /// The fields' batch size and learning rate, or null after saying what is wrong with them.
  params() {
    const p = this.renderParams();
    if (!p.errors) return p;
    const note = $('train-params-note');
    note.textContent = `${note.textContent} ${t('train_params_refused')}`;
    $(p.errors.batch ? 'train-batch' : 'train-lr').focus();
    return null;
  }

  /// Checks the fields as they are typed: a bad value is named at once; a good one that differs
  /// from the running trainer's says when it applies.
  renderParams() {
    const p = readParams($('train-batch').value, $('train-lr').value);
    $('train-batch').setAttribute('aria-invalid', String(Boolean(p.errors?.batch)));
    $('train-lr').setAttribute('aria-invalid', String(Boolean(p.errors?.lr)));
    const note = $('train-params-note');
    note.dataset.invalid = String(Boolean(p.errors));
    if (p.errors) note.textContent = [p.errors.batch, p.errors.lr].filter(Boolean).join(' ');
    else if (this.info && (p.batch !== this.info.batch || formatLr(p.lr) !== formatLr(this.info.lr))) {
      note.textContent = t('train_params_pending', p.batch, formatLr(p.lr));
    } else note.textContent = '';
    return p;
  }

  /// A new worker and a fresh projector, with the chosen kind, freezing, batch size and learning
  /// rate. A bad batch size or learning rate starts nothing and keeps the trainer there is.
  start(then) {
    if (!this.model || !this.supported()) return false;
    const params = this.params();
    if (!params) return false;
    this.stop();
    this.clear();
    this.loadedName = null;
    this.setState('loading');
    this.worker = new Worker(new URL('../train-worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = ({ data }) => this.onMessage(data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.fail(e.message || t('train_worker_stopped'));
    };
    this.pendingAfterReady = then;
    this.send({
      type: 'init', model: this.model, kind: $('train-kind').value, unfreeze: $('train-unfreeze').value,
      batch: params.batch, lr: params.lr, seed: 0, evalEvery: 25,
    });
    this.loadShipped();
    return true;
  }

  /// What the panel has measured in this tab, for the lesson's reasons to freeze the encoder:
  /// `{ supported, name, info, costs: [cost of each setting], drift, encoderOutOfMemory }`
  /// (`recordCost`, the worker's drift report, the memory where training the encoder ran out).
  summary() {
    return { supported: this.supported(), name: this.label?.name ?? '', info: this.info, costs: [...this.costs.values()], drift: this.drift, encoderOutOfMemory: this.encoderOutOfMemory };
  }

  /// Trains a fresh projector for `steps` steps with the vision encoder frozen, then another with
  /// it training too, and pauses (which measures how far the encoder's features moved): the costs
  /// and the drift the lesson's reasons quote. `progress(what)`: 'frozen', 'unfrozen', 'drift'.
  async measureFreezing(steps, progress = () => {}) {
    for (const [unfreeze, what] of [['none', 'frozen'], ['vision_encoder', 'unfrozen']]) {
      $('train-unfreeze').value = unfreeze;
      progress(what);
      await this.trainSteps(steps, () => progress('drift'));
    }
  }

  /// Starts a fresh projector and trains it `steps` steps, then pauses; resolves once paused.
  /// `pausing()` is called when the last step is done.
  trainSteps(steps, pausing = () => {}) {
    this.endTarget(new Error('another measurement started'));
    return new Promise((resolve, reject) => {
      this.target = { steps, resolve, reject, pausing };
      if (!this.start(() => this.resume())) this.endTarget(new Error(t('train_params_refused')));
    });
  }

  /// Ends the run of steps asked for, if any: resolved, or rejected with `error`.
  endTarget(error) {
    const target = this.target;
    this.target = null;
    if (target) error ? target.reject(error) : target.resolve();
  }

  toggle() {
    if (this.running) {
      this.send({ type: 'pause' });
      this.running = false;
      this.setState('pausing');
    } else if (!this.worker) {
      this.start(() => this.resume());
    } else {
      this.resume();
    }
  }

  resume() {
    this.running = true;
    this.send({ type: 'start' });
    this.setState('running');
  }

  reset() { this.start(); }

  /// Hands the projector as it is now to the page, for the explainer (paused or stopped only:
  /// the explainer takes one step's projector, and says which).
  useInExplainer() {
    if (!this.worker || this.running || this.useBlocked()) return;
    this.send({ type: 'download', purpose: 'explainer' });
  }

  /// Why the projector cannot go to the explainer now, or '' when it can.
  useBlocked() {
    if (!this.info || !this.worker) return t('train_use_no_trainer');
    if (this.info.trainable.some((p) => p !== 'projector')) return t('train_use_unfrozen');
    if (this.state === 'error') return t('train_use_error');
    if (this.running) return t('train_use_running');
    return '';
  }

  /// What the page says about the explainer's projector: `{ label, own, ownLabel, busy, note,
  /// compare: { prompt, rows: [[what, text]] } }`.
  showExplainer(view) {
    this.explainer = view;
    this.renderUse();
  }

  renderUse() {
    const blocked = this.useBlocked();
    const busy = Boolean(this.explainer?.busy);
    $('train-use').disabled = Boolean(blocked) || busy || this.state === 'loading' || this.state === 'evaluating' || !this.supported();
    $('train-use').title = blocked;
    const view = this.explainer;
    $('train-explainer').dataset.own = String(view?.own ?? true);
    $('train-explainer-label').textContent = view?.label ?? '';
    const own = $('train-use-own');
    own.hidden = !view || view.own;
    own.disabled = busy;
    if (view?.ownLabel) own.textContent = view.ownLabel;
    // A reason the button is off is worth saying when it is not merely "training is running".
    const note = view?.note || (blocked && blocked !== t('train_use_running') && this.supported() ? blocked : '');
    $('train-explainer-note').textContent = note;
    const compare = view?.compare;
    const items = compare ? compare.rows.map(([what, text]) => {
      const li = document.createElement('li');
      const q = document.createElement('q');
      q.textContent = text;
      li.append(t('explainer_compare_item', what), q);
      return li;
    }) : [];
    if (compare) {
      const title = document.createElement('li');
      title.className = 'title';
      title.textContent = t('explainer_compare_title', compare.prompt);
      items.unshift(title);
    }
    $('train-explainer-compare').replaceChildren(...items);
  }

  loadProjector(file) {
    const load = () => { this.running = false; this.send({ type: 'load', file }); this.setState('evaluating'); };
    if (this.worker) load();
    else this.start(load);
  }

  fail(message) {
    this.stop();
    this.setState('error', message);
    this.endTarget(new Error(message));
  }

  onMessage(msg) {
    if (msg.type === 'ready') {
      this.info = msg.info;
      this.threads = msg.threads;
      this.memory = msg.memory;
      if (msg.loaded) { this.losses = []; this.loadedName = msg.loaded; }
      this.setState(msg.loaded ? 'loaded' : 'ready', msg.loaded ?? '');
      const then = this.pendingAfterReady;
      this.pendingAfterReady = null;
      then?.();
    } else if (msg.type === 'step') {
      this.lastStep = msg.report;
      this.cache = msg.cache;
      this.memory = msg.memory;
      this.losses.push(msg.report.loss);
      this.stepTimes.push(msg.report.step_ms);
      this.encodeTimes.push(msg.report.encode_ms);
      this.recordCost();
      if (this.target && this.running && msg.report.step >= this.target.steps) {
        this.send({ type: 'pause' });
        this.running = false;
        this.setState('pausing');
        this.target.pausing();
      }
    } else if (msg.type === 'drifting') {
      this.setState('drift');
    } else if (msg.type === 'drift') {
      this.drift = msg.report;
    } else if (msg.type === 'eval') {
      this.lastEval = msg.report;
      this.memory = Math.max(this.memory, msg.memory);
    } else if (msg.type === 'paused') {
      this.running = false;
      this.setState('paused', msg.step);
      this.endTarget();
    } else if (msg.type === 'projector' && msg.purpose === 'explainer') {
      this.info = msg.info;
      this.onUseProjector(msg.bytes, { step: msg.info.step, kind: msg.info.kind, loaded: this.loadedName });
    } else if (msg.type === 'projector') {
      this.info = msg.info;
      const url = URL.createObjectURL(new Blob([msg.bytes], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `projector-${msg.info.kind}-step${msg.info.step}.safetensors`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } else if (msg.type === 'error') {
      if (msg.outOfMemory) {
        const encoder = this.info?.trainable.includes('vision_encoder') ?? false;
        if (encoder) this.encoderOutOfMemory = msg.memory;
        msg.message = t('train_out_of_memory', msg.memory / 2 ** 20, encoder);
      }
      if (msg.fatal) this.fail(msg.message);
      else { this.running = false; this.setState('error', msg.message); }
      this.endTarget(new Error(msg.message));
    }
    if (this.running && this.state !== 'running') this.setState('running');
    this.render();
    if (msg.type !== 'eval') this.onMeasured(this.summary());
  }

  /// Mean step time of this setting's latest steps (the first steps also fill the cache), and
  /// of their time in the vision encoder's forward passes (`encodeMs`: with the encoder frozen,
  /// what a step costs beyond the cached features' reuse); the feature cache's totals.
  recordCost() {
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const setting = `${this.info.kind}|${this.info.trainable.join('+')}`;
    this.costs.set(setting, {
      kind: this.info.kind, trainable: this.info.trainable, ms: mean(this.stepTimes.slice(-10)),
      encodeMs: mean(this.encodeTimes.slice(-10)), memory: this.memory, steps: this.stepTimes.length,
      values: this.info.trainable.reduce((n, p) => n + this.info.counts[p], 0),
      batch: this.info.batch, threads: this.threads ?? 1, cache: this.cache,
    });
  }

  /// The shipped model's scores, when the page's model is the shipped one and it has them.
  async loadShipped() {
    if (this.shipped !== undefined) return;
    this.shipped = null;
    // Only a trained shipped model comes with eval.json (`train ship` writes both).
    if (this.model?.preset !== 'default' || !this.label?.trained) return;
    try {
      const r = await fetch(new URL('../model/eval.json', import.meta.url));
      if (r.ok) this.shipped = await r.json();
    } catch {
      // No scores shipped: the table shows this projector's alone.
    }
    this.render();
  }

  render() {
    this.renderCounts();
    this.renderStats();
    drawLoss($('train-loss'), this.losses);
    this.renderCosts();
    this.renderScores();
    this.renderCaptions();
    if (this.state) this.setState(this.state, this.detail);
    this.renderParams();
  }

  renderCounts() {
    const info = this.info;
    if (!info) { $('train-counts').replaceChildren(); return; }
    const rows = [['vision_encoder', 'part_vision'], ['projector', 'part_projector'], ['llm', 'part_llm']].map(([part, label]) => {
      const trains = info.trainable.includes(part);
      return [t(label), `${formatCount(info.counts[part])} ${t('params')}`, t(trains ? 'trainable' : 'frozen'), trains ? 'trainable' : 'frozen'];
    });
    $('train-counts').replaceChildren(...rows.map((r) => row(r.slice(0, 3), r[3])));
  }

  renderStats() {
    const s = this.lastStep;
    if (!s) { $('train-stats').textContent = ''; $('train-cache').textContent = ''; return; }
    const recent = this.stepTimes.slice(-10);
    const ms = recent.reduce((a, b) => a + b, 0) / recent.length;
    $('train-stats').textContent = t('train_stats', s.step, s.loss, 1000 / ms, ms, this.memory / 2 ** 20, this.info.batch, formatLr(this.info.lr), this.threads ?? 1);
    const c = this.cache;
    let text;
    if (this.info.trainable.includes('vision_encoder')) text = t('train_cache_off', c.encoded, c.encode_ms / 1000);
    else {
      const perScene = c.encoded ? c.encode_ms / c.encoded : 0;
      text = t('train_cache', c.encoded, c.encode_ms / 1000, c.reused, (c.reused * perScene) / 1000);
    }
    if (s.cut_turns) text += ` ${t('train_cut', s.cut_turns)}`;
    const d = this.drift;
    if (d && this.info.trainable.includes('vision_encoder')) text += ` ${t('train_drift', d.step, d.mean_cosine.toFixed(3))}`;
    $('train-cache').textContent = text;
  }

  renderCosts() {
    const rows = [...this.costs.values()].map((c) => row([
      settingName(c),
      formatCount(c.values), `${(c.ms / 1000).toFixed(2)} s`, `${(1000 / c.ms).toFixed(2)}`,
      `${(c.memory / 2 ** 20).toFixed(0)} MB`, `${c.steps}`,
    ]));
    const head = row([t('train_cost_setting'), t('train_cost_values'), t('train_cost_step'), t('train_cost_rate'), t('train_cost_memory'), t('train_cost_steps')], '', 'th');
    $('train-costs').replaceChildren(...(rows.length ? [head, ...rows] : []));
  }

  renderScores() {
    const e = this.lastEval;
    if (!e) { $('train-scores').replaceChildren(); $('train-scores-note').textContent = ''; return; }
    const pct = (x) => (x === undefined ? '–' : `${(x * 100).toFixed(0)}%`);
    const shipped = this.shipped;
    const head = row([t('train_attribute'), `${t('train_this')} en`, `${t('train_this')} zh`,
      ...(shipped ? [`${t('train_shipped')} en`, `${t('train_shipped')} zh`] : [])], '', 'th');
    const rows = ATTRIBUTES.map((a) => row([t(`train_attr_${a}`), pct(e.en[a]), pct(e.zh[a]),
      ...(shipped ? [pct(shipped.en?.[a]), pct(shipped.zh?.[a])] : [])], a === 'attributes' ? 'total' : ''));
    $('train-scores').replaceChildren(head, ...rows);
    $('train-scores-note').textContent = t('train_scores_note', e.step, e.captions.length, e.ms / 1000,
      shipped ? shipped.held_out_scenes ?? shipped.en?.captions : 0);
  }

  renderCaptions() {
    const e = this.lastEval;
    const lang = getLang();
    const items = (e?.captions ?? []).slice(0, SHOWN_CAPTIONS).map((c) => {
      const li = document.createElement('li');
      const truth = document.createElement('span');
      truth.className = 'truth';
      truth.textContent = t('truth', c[`truth_${lang}`]);
      const said = document.createElement('span');
      said.className = c[lang] === c[`truth_${lang}`] ? 'said right' : 'said';
      said.textContent = t('train_said', c[lang]);
      li.append(truth, said);
      return li;
    });
    $('train-captions').replaceChildren(...items);
  }
}

/// What a setting trains: "linear + vision encoder", "mlp2x_gelu + nothing else".
export function settingName({ kind, trainable }) {
  const also = trainable.filter((p) => p !== 'projector').map((p) => t(p === 'llm' ? 'part_llm' : 'part_vision'));
  return `${kind} + ${also.join(', ') || t('train_nothing_else')}`;
}

function row(cells, className = '', tag = 'td') {
  const tr = document.createElement('tr');
  if (className) tr.className = className;
  for (const text of cells) {
    const td = document.createElement(tag);
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

/// The loss per step (thin) and its running mean (thick).
/// The canvas also carries the curve as text: the losses drawn (`data-losses`, what a test reads)
/// and a sentence for screen readers (first loss, last, running mean).
function drawLoss(canvas, losses) {
  canvas.dataset.losses = losses.map((v) => v.toFixed(4)).join(' ');
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#ccc';
  ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
  if (losses.length < 2) { canvas.removeAttribute('aria-label'); return; }
  // The axis spans the losses seen, so a small fall is as visible as a large one.
  const hi = Math.max(...losses);
  const lo = Math.min(...losses);
  const margin = (hi - lo) * 0.05 || 0.01;
  const [min, max] = [lo - margin, hi + margin];
  const pad = 24;
  const x = (i) => pad + (i / (losses.length - 1)) * (w - pad - 4);
  const y = (v) => 4 + (1 - (v - min) / (max - min || 1)) * (h - pad - 4);
  const line = (values, style, lineWidth) => {
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.strokeStyle = style;
    ctx.lineWidth = lineWidth;
    ctx.stroke();
  };
  line(losses, '#9ab', 1);
  let mean = losses[0];
  const means = losses.map((v) => (mean = 0.9 * mean + 0.1 * v));
  line(means, '#c33', 2);
  canvas.setAttribute('aria-label', t('train_loss_label', losses.length, losses[0], losses.at(-1), means.at(-1)));
  ctx.fillStyle = '#555';
  ctx.font = '11px sans-serif';
  ctx.fillText(max.toFixed(2), 2, 12);
  ctx.fillText(min.toFixed(2), 2, h - pad);
  ctx.fillText(`${losses.length}`, w - 30, h - 6);
}
