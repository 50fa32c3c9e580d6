// The lesson's diagram at the top of the page, drawn for the loaded model:
//
//   image -> Vision Encoder -> Projection -> [img_1 ... img_N, text_1, ...] -> LLM -> answer
//
// one box per stage, each with the model's own figures (its tensor's shape in and out, from the
// config until a run, then from the run's tensors; its values, frozen or trainable; the last run's
// time), lit while its stage runs. Each box is a link to the panel that draws the stage; the list
// is an ordered list of links, so a screen reader reads it as text, in order.

import { t, formatCount } from '../i18n.js';
import { shapeText } from '../geometry.js';
import { $ } from './dom.js';

// The boxes, in the lesson's order: the panel each links to, and the model's part whose values
// it holds (with panel 3's frozen or trainable), if any.
const BOXES = [
  { stage: 'image', panel: 'panel-input' },
  { stage: 'vision', panel: 'panel-vision', part: 'vision_encoder', tag: 'frozen' },
  { stage: 'projector', panel: 'panel-projection', part: 'projector', tag: 'trainable' },
  { stage: 'sequence', panel: 'panel-sequence' },
  { stage: 'llm', panel: 'panel-generation', part: 'llm', tag: 'frozen' },
  { stage: 'answer', panel: 'panel-generation' },
];

// Which boxes are lit once a stage's message has come: the worker runs the stages one after
// another, so a stage's message is the next one's start. The prefill runs the LLM over the
// joined sequence; the answer then grows token by token.
const NEXT = {
  input: { done: ['image'], running: ['vision'] },
  encode: { done: ['vision'], running: ['projector'] },
  project: { done: ['projector'], running: ['sequence', 'llm'] },
  prefill: { done: ['sequence'], running: ['llm', 'answer'] },
};

/// A count of values in a few characters: 85.8M, 41.2K, 960.
export function compactCount(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return formatCount(n);
}

/// What the model's projector is, with the widths it maps: `nn.Linear(768, 512)`, `pixel
/// shuffle 2 × 2, then nn.Linear(3072, 576)`.
export function projectorText(config, grid) {
  const { kind } = config.projector;
  const dv = config.vision.width;
  const dIn = kind === 'pixel_shuffle' ? grid.factor * grid.factor * dv : kind === 'mlp2x_gelu_3x3' ? 9 * dv : dv;
  const key = `map_projector_${kind}`;
  const text = t(key, dIn, config.llm.width, grid.factor);
  return text === key ? `${kind}: ${dIn} → ${config.llm.width}` : text;
}

/// A stage's tensor shape in, and out on the next line.
const arrow = (input, output) => `${input}\n→ ${output}`;

/// A time as the boxes print it: 1.3, 63, 812.
const milliseconds = (ms) => (ms < 10 ? ms.toFixed(1) : ms.toFixed(0));

export class LessonMap {
  constructor() {
    this.model = null;
    // The last run's figures: shapes by stage, times, the answer.
    this.run = {};
    this.boxes = new Map(BOXES.map((box) => [box.stage, this.makeBox(box)]));
    $('map-boxes').replaceChildren(...[...this.boxes.values()].map((b) => b.li));
  }

  makeBox({ stage, panel }) {
    const li = document.createElement('li');
    li.className = 'map-box';
    li.dataset.stage = stage;
    li.dataset.state = 'idle';
    const a = document.createElement('a');
    a.href = `#${panel}`;
    a.dataset.testid = `map-${stage}`;
    const name = document.createElement('strong');
    name.className = 'map-name';
    const fields = { name };
    for (const field of ['what', 'shape', 'values', 'ms']) {
      fields[field] = document.createElement('span');
      fields[field].className = `map-${field}`;
    }
    a.append(...Object.values(fields));
    li.append(a);
    return { li, ...fields };
  }

  /// A model is loaded (or its projector swapped): `{ config, counts }` and its grid. The last
  /// run's figures go with the model they were of.
  setModel({ config, counts }, grid) {
    const same = this.model?.config === config;
    this.model = { config, counts, grid };
    if (!same) this.run = {};
    this.setStates([], [], true);
    this.render();
  }

  /// A run starts: the image is read and prepared. The last answer goes (its stages' figures
  /// stay until this run's replace them).
  start() {
    Object.assign(this.run, { answer: undefined, generated: undefined, rate: undefined });
    this.setStates([], ['image'], true);
    this.render();
  }

  /// A stage's message has come (`input`, `encode`, `project`, `prefill`, with its tensors and time).
  stage(name, msg) {
    const r = this.run;
    if (name === 'input') r.inputMs = msg.ms;
    else if (name === 'encode') { r.features = msg.features.shape; r.encodeMs = msg.ms; }
    else if (name === 'project') { r.imageTokens = msg.tokens.shape; r.projectMs = msg.ms; }
    else if (name === 'prefill') { r.sequence = msg.sequence.shape; r.textTokens = msg.sequence.pieces.length; r.prefillMs = msg.ms; }
    const next = NEXT[name];
    if (next) this.setStates(next.done, next.running);
    this.render();
  }

  /// A token of the answer has come: the answer so far.
  token(text) {
    this.run.answer = text;
    this.boxes.get('answer').what.textContent = `“${text}”`;
  }

  /// The run is over: `done` (the worker's last message), or null when it failed.
  finish(done) {
    if (done) {
      this.run.generated = done.tokens;
      this.run.rate = done.tokensPerSecond;
      this.run.answer = done.text;
      this.setStates(['llm', 'answer'], []);
    } else this.setStates([], []);
    this.render();
  }

  /// Sets the boxes of `done` done and those of `running` running; with `fresh`, every other
  /// box goes back to idle first (a run starts, a model is loaded), and without, a box still
  /// running stays so unless `running` is empty (a run failed: nothing runs any more).
  setStates(done, running, fresh = false) {
    for (const [stage, { li }] of this.boxes) {
      if (running.includes(stage)) li.dataset.state = 'running';
      else if (done.includes(stage)) li.dataset.state = 'done';
      else if (fresh || (!running.length && li.dataset.state === 'running')) li.dataset.state = 'idle';
      // The box lit is the current step of the pipeline, for a screen reader too.
      if (li.dataset.state === 'running') li.firstChild.setAttribute('aria-current', 'step');
      else li.firstChild.removeAttribute('aria-current');
    }
  }

  /// Every box's figures, in the page's language.
  render() {
    if (!this.model) return;
    const { config, counts, grid } = this.model;
    const r = this.run;
    const dv = config.vision.width;
    const dt = config.llm.width;
    const features = r.features ?? [1, grid.patches, dv];
    const imageTokens = r.imageTokens ?? [1, grid.imageTokens, dt];
    const textCount = r.textTokens;
    const text = [1, textCount ?? 'T', dt];
    const sequence = r.sequence ?? [1, textCount === undefined ? `${grid.imageTokens} + T` : grid.imageTokens + textCount, dt];
    const ms = (v) => (v === undefined ? t('map_not_run') : t('map_ms', milliseconds(v)));
    const size = grid.imageSize;
    const figures = {
      image: {
        what: t('map_what_image', size, config.preprocess?.resize === 'squash'),
        shape: arrow(`${size} × ${size} × 3`, shapeText(grid.inputShape)),
        ms: ms(r.inputMs),
      },
      vision: {
        what: t('map_what_vision', config.family ?? 'explainer', config.vision.stem ?? 'linear', config.vision.layers, dv),
        shape: arrow(shapeText(grid.inputShape), shapeText(features)),
        ms: ms(r.encodeMs),
      },
      projector: {
        what: projectorText(config, grid),
        shape: arrow(shapeText(features), shapeText(imageTokens)),
        ms: ms(r.projectMs),
      },
      sequence: {
        name: t('map_sequence', grid.imageTokens),
        what: t('map_what_sequence', grid.imageTokens, textCount),
        shape: arrow(`${shapeText(imageTokens)} + ${shapeText(text)}`, shapeText(sequence)),
        values: t('map_sequence_values'),
        ms: r.prefillMs === undefined ? t('map_not_run') : t('map_in_prefill'),
      },
      llm: {
        what: t('map_what_llm', config.llm.kind ?? 'gpt', config.llm.layers, dt),
        shape: arrow(shapeText(sequence), t('map_logits', shapeText([1, config.llm.vocab_size]))),
        ms: r.prefillMs === undefined ? t('map_not_run')
          : r.rate ? t('map_llm_ms', milliseconds(r.prefillMs), r.generated, milliseconds((r.generated / r.rate) * 1000))
            : t('map_ms', milliseconds(r.prefillMs)),
      },
      answer: {
        what: r.answer === undefined ? t('map_what_answer') : `“${r.answer}”`,
        shape: '',
        values: '',
        ms: r.rate ? t('map_answer_ms', r.generated, r.rate.toFixed(1)) : t('map_not_run'),
      },
    };
    for (const { stage, part, tag } of BOXES) {
      const box = this.boxes.get(stage);
      const f = figures[stage];
      box.name.textContent = f.name ?? t(`map_${stage}`);
      box.what.textContent = f.what;
      box.shape.textContent = f.shape;
      box.values.textContent = part ? `${t('map_values', compactCount(counts[part]))} · ${t(tag)}` : f.values ?? t('map_no_values');
      box.values.title = part ? formatCount(counts[part]) : '';
      box.values.dataset.tag = tag ?? '';
      box.ms.textContent = box.li.dataset.state === 'running' ? t('map_running') : f.ms;
    }
  }
}
