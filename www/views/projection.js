// Panel 3, the projection: its shape and kind, which projector the explainer runs (the model's
// own or one from the training panel), the value counts of the model's three parts, and the
// projector's first weight matrix as a heat map. A pixel-shuffle projector (nanoVLM's) also gets
// the image's patches in their blocks, one block an image token (hover one for its patches), and
// the weight's columns named by the patch of the block they read.

import { t, formatCount } from '../i18n.js';
import { shapeText } from '../geometry.js';
import { $ } from './dom.js';
import { drawMatrix } from './matrix.js';
import { GridCanvas } from './grid-canvas.js';

export class ProjectionPanel {
  /// `onUseOwn()`: the person asks for the model's own projector back; `onHoverToken(token)`:
  /// the pointer is over an image token's block of patches (-1: off them).
  constructor({ onUseOwn, onHoverToken }) {
    this.model = null;
    // The projector's weight on show (`{ shape, data }`), and the image token hovered.
    this.weight = null;
    this.token = -1;
    $('projector-use-own').addEventListener('click', () => onUseOwn());
    this.blocks = new GridCanvas($('projection-blocks-canvas'), {
      numbered: true,
      onHover: (patch) => onHoverToken(patch >= 0 ? this.model.grid.tokenOfPatch(patch) : -1),
    });
  }

  /// A model is loaded (or its projector swapped): `{ config, counts }`, with its grid.
  setModel({ config, counts }, grid) {
    this.model = { config, counts, grid };
    const blocks = grid.factor > 1;
    $('projection-blocks').hidden = !blocks;
    $('projector-columns').hidden = !blocks;
    if (blocks) this.blocks.setGeometry(grid);
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
    if (grid.factor > 1) {
      // The weight's columns: the block's patches side by side, row by row (geometry.js).
      const offsets = [];
      for (let dr = 0; dr < grid.factor; dr++) for (let dc = 0; dc < grid.factor; dc++) offsets.push([dr, dc]);
      $('projector-columns').replaceChildren(...offsets.map(([dr, dc], i) => {
        const span = document.createElement('span');
        span.textContent = t('projector_column', i + 1, dr, dc);
        return span;
      }));
      this.highlightToken(this.token);
    }
  }

  /// The `project` stage: the image tokens made of `featuresShape`'s patch features, `image`
  /// (the input panel's) under the blocks of patches. The projector's weight comes with the first
  /// run of a model or projector only (it is the same for every image): drawn then.
  showProject(msg, featuresShape, image) {
    const { config, grid } = this.model;
    if (msg.weight) {
      this.weight = msg.weight;
      this.drawWeight(msg.weight, grid);
    }
    if (!this.weight) return;
    const [dt, dv] = this.weight.shape;
    if (grid.factor > 1) {
      this.blocks.image = image;
      this.blocks.draw();
      const shuffled = [1, grid.imageTokens, dv];
      $('projection-shape').textContent =
        `${shapeText(featuresShape)} → pixel shuffle ${grid.factor} × ${grid.factor} → ${shapeText(shuffled)} → Linear ${dv} → ${dt} → ${shapeText(msg.tokens.shape)}  (${msg.ms.toFixed(1)} ms)`;
    } else {
      $('projection-shape').textContent =
        `${shapeText(featuresShape)} → ${config.projector.kind} ${dv} → ${dt} → ${shapeText(msg.tokens.shape)}  (${msg.ms.toFixed(1)} ms)`;
    }
  }

  /// The weight `{ shape: [D_t, D_in], data }` as a heat map; for blocks of patches, with a line
  /// between the column groups of the block's patches.
  async drawWeight(weight, grid) {
    const [dt, dv] = weight.shape;
    const canvas = $('projector-canvas');
    if (!(await drawMatrix(canvas, weight.data, dt, dv)) || grid.factor === 1) return;
    const group = dv / (grid.factor * grid.factor);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#1d2430';
    const width = Math.max(1, Math.round(dv / 300));
    for (let k = 1; k < grid.factor * grid.factor; k++) ctx.fillRect(k * group - width / 2, 0, width, dt);
  }

  /// Marks image token `token`'s block of patches, numbered as the projector reads them, and says
  /// which they are (-1: none).
  highlightToken(token) {
    this.token = token;
    const grid = this.model?.grid;
    if (!grid || grid.factor === 1) return;
    this.blocks.setHighlight(token >= 0 ? grid.firstPatchOf(token) : -1, grid.factor);
    $('projection-blocks-caption').textContent = token >= 0
      ? t('projection_block_info', token, grid.patchesOf(token), grid.rowCol(grid.firstPatchOf(token)))
      : t('projection_blocks_caption', grid);
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
