// Panel 5, generation: the prompt form, the answer as it grows with its speed, each generated
// token (select one for its attention over the image tokens, at one layer and head or the mean,
// and the candidates it was chosen from), and which projector and prompt the answer on show
// came from.

import { t } from '../i18n.js';
import { $, range, fillSelect } from './dom.js';

// The tasks a model's prompt format makes sense of: the shipped family's (trained on ShapesWorld's
// captions and questions), and a model that reads `Question: {q} Answer:` (nanoVLM's): its own
// default question, or the person's.
const TASKS = {
  explainer: ['caption', 'colour', 'where', 'count', 'exists', 'free'],
  question_answer: ['caption', 'free'],
};

export class GenerationPanel {
  /// `onAsk()`: the person asks (the form is sent); `onAttention(weights)`: draw a generated
  /// token's attention over the image tokens (null: none); `projectorName(source)`: how the
  /// page names a projector.
  constructor({ onAsk, onAttention, projectorName }) {
    this.onAttention = onAttention;
    this.projectorName = projectorName;
    this.config = null;
    this.tokens = [];
    this.selected = -1;
    // The run whose answer is on show: `{ text, source }` (main.js's `lastRun`).
    this.run = null;
    $('task-select').addEventListener('change', () => { $('prompt-text').value = this.defaultPrompt($('task-select').value); });
    $('prompt-form').addEventListener('submit', (e) => {
      e.preventDefault();
      onAsk();
    });
    $('prompt-text').addEventListener('input', () => this.showSource());
    for (const id of ['token-layer', 'token-head']) {
      $(id).addEventListener('change', () => { if (this.selected >= 0) this.select(this.selected); });
    }
  }

  /// A model is loaded: its tasks' prompts, its LLM's layers and heads.
  setModel(config) {
    this.config = config;
    this.relabel();
  }

  /// The texts and selects in the page's language (the prompt becomes the task's default in it).
  relabel() {
    const select = $('task-select');
    const tasks = TASKS[this.format()] ?? TASKS.explainer;
    const previous = tasks.includes(select.value) ? select.value : 'caption';
    const qa = this.format() === 'question_answer';
    select.replaceChildren(...tasks.map((task) => {
      const o = document.createElement('option');
      o.value = task;
      o.textContent = t(qa && task === 'caption' ? 'task_caption_qa' : `task_${task}`);
      return o;
    }));
    select.value = previous;
    $('prompt-text').value = this.defaultPrompt(previous);
    $('prompt-text').placeholder = qa ? t('qa_placeholder') : '';
    if (!this.config) return;
    const { llm } = this.config;
    fillSelect($('token-layer'), [[-1, t('all_layers')], ...range(llm.layers).map((l) => [l, `${l + 1} / ${llm.layers}`])]);
    fillSelect($('token-head'), [[-1, t('mean')], ...range(llm.heads).map((h) => [h, `${h + 1}`])]);
  }

  /// The default prompt of a task. With the lesson-sized model, the English caption prompt is
  /// 20 tokens long, so the LLM input is (1, 216, 512) exactly as the lesson prints it.
  defaultPrompt(task) {
    if (task === 'caption' && this.format() === 'question_answer') return t('qa_caption_prompt');
    if (task === 'caption' && this.config?.name === 'seed') return t('seed_caption_prompt');
    return t(`${task}_prompt`);
  }

  /// How the model's prompt is written around the question (config.json's `prompt`).
  format() { return this.config?.prompt ?? 'explainer'; }

  /// The prompt to run: `{ task, text }`.
  prompt() {
    const task = $('task-select').value === 'caption' ? 'caption' : 'question';
    return { task, text: $('prompt-text').value };
  }

  /// A run starts: the last answer goes.
  clear() {
    this.tokens = [];
    this.selected = -1;
    $('output').textContent = '';
    this.clearSpeed();
    $('generated-tokens').replaceChildren();
    $('candidates').replaceChildren();
    $('output-projector').hidden = true;
    $('output-prompt').hidden = true;
  }

  clearSpeed() { $('speed').textContent = ''; }

  /// Tokens of this run so far.
  get count() { return this.tokens.length; }

  /// A generated token arrives.
  addToken(token) {
    this.tokens.push(token);
    if (!token.is_eos) $('output').textContent = token.text;
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'tok tok-gen';
    chip.textContent = token.piece.replace(/ /g, '␣');
    // Its number in the tokenizer's vocabulary.
    chip.dataset.id = token.id;
    // Its attention over the image tokens: (layers, heads, image tokens).
    chip.dataset.attentionShape = token.image_attention.shape.join('x');
    chip.addEventListener('click', () => this.select(this.tokens.indexOf(token)));
    $('generated-tokens').append(chip);
  }

  /// The answer is complete (`done`: the worker's last message), from `run` (`{ text, source }`).
  finish(done, run) {
    this.showSource(run);
    $('speed').textContent = t('speed', done.tokens, done.tokensPerSecond);
    $('speed').dataset.wasmBytes = done.wasmBytes;
  }

  /// Which projector produced the answer on show, when it is not the model's own, and, after
  /// a language switch (which relabels the prompt) or an edit, which prompt it answered.
  showSource(run = this.run) {
    this.run = run;
    const el = $('output-projector');
    const source = run?.source;
    el.hidden = !source;
    el.textContent = source ? t('answered_with', this.projectorName(source)) : '';
    const asked = run?.text;
    const stale = asked !== undefined && asked !== this.prompt().text;
    $('output-prompt').hidden = !stale;
    $('output-prompt').textContent = stale ? t('answered_prompt', asked) : '';
  }

  /// Generated token `index`'s attention over the image tokens, one layer and head or the mean
  /// over either, and the candidates it was chosen from.
  select(index) {
    this.selected = index;
    const token = this.tokens[index];
    [...$('generated-tokens').children].forEach((c, i) => c.classList.toggle('active', i === index));
    const { shape, data } = token.image_attention; // (layers, heads, image tokens)
    const [layers, heads, n] = shape;
    const layer = Number($('token-layer').value);
    const head = Number($('token-head').value);
    const mean = new Float32Array(n);
    let planes = 0;
    for (let l = 0; l < layers; l++) {
      if (layer >= 0 && l !== layer) continue;
      for (let h = 0; h < heads; h++) {
        if (head >= 0 && h !== head) continue;
        const offset = (l * heads + h) * n;
        for (let i = 0; i < n; i++) mean[i] += data[offset + i];
        planes += 1;
      }
    }
    for (let i = 0; i < n; i++) mean[i] /= planes;
    this.onAttention(mean);
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
      // The shipped family's answers keep to the prompt's language; another family's to any
      // text (src/infer/explainer.rs chooses the guard the same way).
      const anyScript = (this.config?.family ?? 'explainer') !== 'explainer';
      note.textContent = t(anyScript ? 'set_aside_any' : 'set_aside', (token.set_aside * 100).toFixed(1));
      parts.push(note);
    }
    $('candidates').replaceChildren(...parts);
  }
}
