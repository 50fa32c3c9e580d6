// Panel 7, the lesson on the loaded model: its code cell's four printed lines, printed from the
// tensors this page computed (each beside the lesson's torch.randn stand-in and what the real
// tensor is); its three reasons for freezing the vision encoder, each with a figure measured in
// this tab (value counts; the training panel's step time and memory, frozen and unfrozen, and
// its feature cache; how far training the encoder moved its features, and what the explainer
// then said); and its checklist, ticked by the learner and remembered by the browser.

import { t, getLang, formatCount } from '../i18n.js';
import { shapeText } from '../geometry.js';
import { $ } from './dom.js';
import { settingName } from './train.js';
import { projectorText } from './lesson-map.js';

// What the lesson's cell prints, line by line: the vision encoder's output, the projection's,
// the text embeddings, the concatenation.
const LESSON = [[1, 196, 768], [1, 196, 512], [1, 20, 512], [1, 216, 512]];
// Steps of each setting the "Measure" button trains in panel 6.
export const MEASURE_STEPS = 10;
// The checklist's items, the places on the page that answer them (`[text key, href]`), and
// where the browser keeps the ticks.
const CHECKLIST = [
  ['architecture', [['check_architecture_link', '#lesson-map']]],
  ['roles', [['part_vision', '#panel-vision'], ['part_projector', '#panel-projection'], ['part_llm', '#panel-generation']]],
  ['freeze', [['check_freeze_link', '#lesson-freeze-title']]],
  ['projection', [['check_projection_link', '#panel-train'], ['code_title', '#lesson-code-title']]],
];
export const CHECKLIST_KEY = 'vlm-explainer.lesson-checklist';

/// Mean and standard deviation of `data`, and its first values, as the page prints them.
export function summarise(data) {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < data.length; i++) { sum += data[i]; squares += data[i] * data[i]; }
  const mean = sum / data.length;
  const std = Math.sqrt(Math.max(0, squares / data.length - mean * mean));
  // No "-0.000": a value that rounds to zero prints as zero.
  const fixed = (v, digits) => (Math.abs(v) < 0.5 * 10 ** -digits ? 0 : v).toFixed(digits);
  const first = `${Array.from(data.slice(0, 3), (v) => fixed(v, 2)).join(', ')}, …`;
  return { mean: fixed(mean, 3), std: fixed(std, 3), first };
}

/// A percentage with as many decimals as it takes to say something: 0.26%, 12.5%, 97%.
const percent = (x) => `${(x * 100).toFixed(x >= 0.1 ? 0 : x >= 0.01 ? 1 : 2)}%`;
const seconds = (ms) => (ms / 1000).toFixed(2);
const megabytes = (bytes) => (bytes / 2 ** 20).toFixed(0);

export class LessonPanel {
  /// `measure(steps, progress)`: trains panel 6 `steps` steps frozen, then unfrozen (a promise).
  constructor({ measure }) {
    this.measure = measure;
    this.model = null;
    // The last run's tensors as the printout needs them, by line.
    this.run = null;
    // What the training panel has measured (`TrainPanel.summary()`), and the button's run.
    this.training = null;
    this.measuring = null;
    $('lesson-measure').addEventListener('click', () => this.startMeasure());
    // The ticks the browser kept, read in a task of their own rather than in the page's start
    // (a first use of localStorage can take milliseconds); null until then.
    this.checks = null;
    setTimeout(() => {
      this.checks = readChecks();
      this.renderChecklist();
    }, 0);
  }

  /// A model is loaded (or its projector swapped): `{ config, counts, label }` and its grid.
  setModel(model, grid) {
    if (this.model?.config !== model.config) this.run = null;
    this.model = { ...model, grid };
    this.render();
  }

  /// A stage's message (`encode`, `project`, `prefill`); `text`, the prompt the run was asked.
  /// The lines are printed once the prefill is in, in a task of their own (not in the one that
  /// hands the stage to its panel).
  stage(name, msg, text) {
    if (name === 'encode') this.run = { features: msg.features, encodeMs: msg.ms };
    else if (!this.run) return;
    else if (name === 'project') this.run.tokens = msg.tokens;
    else if (name === 'prefill') {
      Object.assign(this.run, { sequence: msg.sequence, prompt: text, prefillMs: msg.ms });
      setTimeout(() => this.renderCode(), 0);
    }
  }

  /// What the training panel measured changed.
  showTraining(summary) {
    this.training = summary;
    this.renderReasons();
  }

  render() {
    this.renderCode();
    this.renderReasons();
    this.renderChecklist();
  }

  // --- the lesson's code, run -------------------------------------------------------------

  renderCode() {
    const list = $('lesson-code');
    const r = this.run;
    if (!this.model || !r?.sequence) {
      const li = document.createElement('li');
      li.className = 'not-run';
      li.textContent = t('code_not_run');
      list.replaceChildren(li);
      list.dataset.state = 'not-run';
      return;
    }
    const { config, grid } = this.model;
    const labels = t('code_labels');
    const seq = r.sequence;
    const textCount = seq.pieces.length;
    const text = [1, textCount, config.llm.width];
    const pieces = seq.pieces.map((p) => p.replace(/ /g, '␣'));
    const shown = pieces.length > 24 ? [...pieces.slice(0, 24), '…'] : pieces;
    r.featureStats ??= summarise(r.features.data);
    r.tokenStats ??= summarise(r.tokens.data);
    const f = r.featureStats;
    const p = r.tokenStats;
    const kind = projectorText(config, grid);
    const lines = [
      [r.features.shape, t('code_randn', shapeText(LESSON[0])), t('code_features', grid.patches, config.vision.width, f.mean, f.std, f.first, r.encodeMs.toFixed(0))],
      [r.tokens.shape, t('code_linear_randn'), t('code_projected', kind, r.tokens.shape[1], p.mean, p.std, p.first)],
      [text, t('code_text_randn', shapeText(LESSON[2])), t('code_text', r.prompt, textCount, shown.join(' '), config.llm.vocab_size, config.llm.width)],
      [seq.shape, t('code_cat'), t('code_concat', grid.imageTokens, textCount, r.prefillMs.toFixed(0))],
    ];
    list.replaceChildren(...lines.map(([shape, lesson, here], i) => {
      const li = document.createElement('li');
      li.dataset.line = String(i);
      const printed = document.createElement('code');
      printed.className = 'printed';
      printed.textContent = `${labels[i]}: ${shapeText(shape)}`;
      const same = shapeText(shape) === shapeText(LESSON[i]);
      const match = document.createElement('span');
      match.className = 'match';
      match.dataset.same = String(same);
      match.textContent = same ? t('code_same') : t('code_differs', shapeText(LESSON[i]));
      const dl = document.createElement('dl');
      for (const [term, what] of [[t('code_lesson'), lesson], [t('code_here'), here]]) {
        const dt = document.createElement('dt');
        dt.textContent = term;
        const dd = document.createElement('dd');
        dd.textContent = what;
        dl.append(dt, dd);
      }
      li.append(printed, ' ', match, dl);
      return li;
    }));
    list.dataset.state = 'run';
  }

  // --- why freeze ---------------------------------------------------------------------------

  renderReasons() {
    if (!this.model) return;
    const training = this.training;
    const supported = training?.supported ?? true;
    const unsupported = supported ? null : [t('reason_unsupported', training.name)];
    const reasons = [
      ['knowledge', this.knowledgeFigures()],
      ['cost', unsupported ?? this.costFigures()],
      ['forget', unsupported ?? this.forgetFigures()],
    ];
    $('lesson-reasons').replaceChildren(...reasons.map(([id, figures], i) => {
      const li = document.createElement('li');
      li.dataset.reason = id;
      const title = document.createElement('strong');
      title.textContent = t(`reason_${id}`);
      const why = document.createElement('span');
      why.className = 'why';
      why.textContent = ` ${t(`reason_${id}_why`)}`;
      li.append(title, why, ...figures.map((text, k) => {
        const p = document.createElement('p');
        p.className = 'figure';
        p.dataset.testid = `reason-${id}-${k}`;
        p.textContent = text;
        return p;
      }));
      li.value = i + 1;
      return li;
    }));
    const button = $('lesson-measure');
    button.textContent = t('measure_button', MEASURE_STEPS);
    button.disabled = !supported || Boolean(this.measuring);
    button.parentElement.hidden = !supported;
    $('lesson-measure-status').textContent = this.measuring ? t('measure_running', t(`measure_${this.measuring}`)) : this.measureError ?? '';
  }

  /// Values trained and frozen: stage 1 on this model (its projector), and panel 6 as set.
  knowledgeFigures() {
    const { counts } = this.model;
    const all = counts.vision_encoder + counts.projector + counts.llm;
    const parts = `${t('part_vision')} ${formatCount(counts.vision_encoder)}, ${t('part_llm')} ${formatCount(counts.llm)}`;
    const figures = [t('reason_knowledge_figure', formatCount(counts.projector), formatCount(all - counts.projector), percent(counts.projector / all), parts)];
    const info = this.training?.info;
    if (info) {
      const trained = info.trainable.reduce((n, part) => n + info.counts[part], 0);
      const total = info.counts.vision_encoder + info.counts.projector + info.counts.llm;
      figures.push(t('reason_knowledge_panel', settingName(info), formatCount(trained), formatCount(total - trained), percent(trained / total)));
    }
    return figures;
  }

  /// A step's time and memory in panel 6 with the encoder frozen and training, and what the
  /// frozen features' cache saved.
  costFigures() {
    const costs = this.training?.costs ?? [];
    const frozen = costs.findLast((c) => c.trainable.length === 1);
    const unfrozen = costs.findLast((c) => c.trainable.includes('vision_encoder'));
    const figures = [];
    if (frozen) figures.push(t('reason_cost_frozen', seconds(frozen.ms), seconds(frozen.ms - frozen.encodeMs), megabytes(frozen.memory), frozen.batch));
    else figures.push(t('reason_cost_missing_frozen'));
    if (unfrozen) figures.push(t('reason_cost_unfrozen', seconds(unfrozen.ms), megabytes(unfrozen.memory), unfrozen.batch));
    else if (this.training?.encoderOutOfMemory) figures.push(t('reason_cost_unfrozen_oom', megabytes(this.training.encoderOutOfMemory)));
    else figures.push(t('reason_cost_missing_unfrozen'));
    if (frozen && unfrozen) {
      figures.push(t('reason_cost_ratio', (unfrozen.ms / (frozen.ms - frozen.encodeMs)).toFixed(1), megabytes(unfrozen.memory - frozen.memory)));
    }
    const c = frozen?.cache;
    if (c?.encoded) figures.push(t('reason_cost_cache', c.encoded, (c.encode_ms / 1000).toFixed(1), c.reused, ((c.reused * c.encode_ms) / c.encoded / 1000).toFixed(1)));
    return figures;
  }

  /// How far training the encoder moved its features, and the explainer's captions before and after.
  forgetFigures() {
    const d = this.training?.drift;
    if (!d && this.training?.encoderOutOfMemory) return [t('reason_forget_oom'), t('reason_forget_frozen')];
    if (!d) return [t('reason_forget_none'), t('reason_forget_frozen')];
    const figures = [t('reason_forget_figure', d.step, d.scenes, d.mean_cosine.toFixed(3), d.min_cosine.toFixed(3), (d.relative_change * 100).toFixed(0))];
    const e = d.explainer;
    if (e && !this.model.label?.trained) figures.push(t('reason_forget_random'));
    else if (e) {
      // In the page's language: the held-out scenes are captioned in both.
      const lang = getLang();
      const scores = (s) => ['shape', 'colour', 'size', 'position'].map((a) => percent(s[a])).join(' / ');
      figures.push(t('reason_forget_captions', scores(e.before[lang]), scores(e.now[lang])));
      const changed = e.now.captions.findIndex((c, i) => c[lang] !== e.before.captions[i][lang]);
      figures.push(changed < 0 ? t('reason_forget_unchanged') : t('reason_forget_example', e.before.captions[changed][lang], e.now.captions[changed][lang]));
    }
    figures.push(t('reason_forget_frozen'));
    return figures;
  }

  async startMeasure() {
    if (this.measuring) return;
    this.measureError = null;
    this.measuring = 'frozen';
    this.renderReasons();
    try {
      await this.measure(MEASURE_STEPS, (what) => { this.measuring = what; this.renderReasons(); });
    } catch (e) {
      this.measureError = e.message;
    } finally {
      this.measuring = null;
      this.renderReasons();
    }
  }

  // --- the checklist ------------------------------------------------------------------------

  renderChecklist() {
    if (!this.checks) return;
    $('lesson-checklist').replaceChildren(...CHECKLIST.map(([id, links]) => {
      const li = document.createElement('li');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.id = `check-${id}`;
      box.dataset.testid = `check-${id}`;
      box.checked = Boolean(this.checks[id]);
      box.addEventListener('change', () => {
        this.checks[id] = box.checked;
        writeChecks(this.checks);
        this.renderCount();
      });
      const label = document.createElement('label');
      label.htmlFor = box.id;
      label.textContent = t(`check_${id}`);
      const where = document.createElement('span');
      where.className = 'where';
      where.append('→ ', ...links.flatMap(([key, href], k) => {
        const a = document.createElement('a');
        a.href = href;
        a.textContent = t(key);
        return k ? [', ', a] : [a];
      }));
      li.append(box, ' ', label, ' ', where);
      return li;
    }));
    this.renderCount();
  }

  renderCount() {
    const ticked = CHECKLIST.filter(([id]) => this.checks[id]).length;
    $('lesson-checklist-count').textContent = t('checklist_count', ticked, CHECKLIST.length);
  }
}

/// The ticks this browser remembers (none where storage is off).
function readChecks() {
  try {
    return JSON.parse(localStorage.getItem(CHECKLIST_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

function writeChecks(checks) {
  try {
    localStorage.setItem(CHECKLIST_KEY, JSON.stringify(checks));
  } catch {
    // Storage off (a private window's quota, a policy): the ticks last as long as the page.
  }
}
