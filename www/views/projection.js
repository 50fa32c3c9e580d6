// Panel 3, the projection: its shape and kind, which projector the explainer runs (the model's
// own or one from the training panel), the value counts of the model's three parts, and the
// projector's first weight matrix as a heat map.

import { t, formatCount } from '../i18n.js';
import { shapeText } from '../geometry.js';
import { $ } from './dom.js';
import { drawMatrix } from './matrix.js';

export class ProjectionPanel {
  /// `onUseOwn()`: the person asks for the model's own projector back.
  constructor({ onUseOwn }) {
    this.model = null;
    $('projector-use-own').addEventListener('click', () => onUseOwn());
  }

  /// A model is loaded (or its projector swapped): `{ config, counts }`, with its grid.
  setModel({ config, counts }, grid) {
    this.model = { config, counts, grid };
    this.relabel();
  }

  /// The texts in the page's language.
  relabel() {
    if (!this.model) return;
    const { config, counts, grid } = this.model;
    $('projection-kind').textContent = t('projection_kind', config.projector.kind, grid);
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

  /// The `project` stage: the image tokens made of `featuresShape`'s patch features.
  showProject(msg, featuresShape) {
    const [dt, dv] = msg.weight.shape;
    drawMatrix($('projector-canvas'), msg.weight.data, dt, dv);
    $('projection-shape').textContent =
      `${shapeText(featuresShape)} → ${this.model.config.projector.kind} ${dv} → ${dt} → ${shapeText(msg.tokens.shape)}  (${msg.ms.toFixed(1)} ms)`;
  }

  /// Which projector the explainer runs: `{ own, label, ownLabel, busy }` (`ownLabel`: the
  /// button back to the model's own).
  showSource({ own, label, ownLabel, busy }) {
    $('projector-source').dataset.own = String(own);
    $('projector-source-text').textContent = label;
    const button = $('projector-use-own');
    button.hidden = own;
    button.disabled = busy;
    button.textContent = ownLabel;
  }
}
