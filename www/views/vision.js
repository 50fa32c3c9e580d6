// Panel 2, the vision encoder: its stem, the patch features' shape, their 3 main directions as
// colours (PCA), one row of its attention on a copy of the image with the layer, head and query
// to show, and the features matrix with the hovered patch's row.

import { t } from '../i18n.js';
import { shapeText } from '../geometry.js';
import { $, range, fillSelect } from './dom.js';
import { GridCanvas } from './grid-canvas.js';
import { drawMatrix } from './matrix.js';

export class VisionPanel {
  /// `client`: the model's worker (model-client.js), asked for attention rows and PCA colours.
  constructor(client, { onError }) {
    this.client = client;
    this.onError = onError;
    this.grid = null;
    this.features = null;
    // The features whose PCA colours are asked for and drawn (`updatePca`).
    this.pca = { asked: null, drawn: null };
    // The last patch under the pointer on the input image: the attention's query.
    this.hoveredPatch = -1;
    // An attention row asked for, and whether another is to be asked for once it is in.
    this.attention = { inFlight: false, pending: false };
    // The vision encoder's attention, on its own copy of the image.
    this.attentionView = new GridCanvas($('vision-attention-canvas'), { onHover: (i) => this.attentionView.setHighlight(i) });
    for (const id of ['vision-layer', 'vision-head', 'vision-query']) {
      $(id).addEventListener('change', () => { $(id).dataset.touched = '1'; this.updateAttention(); });
    }
  }

  /// A model is loaded (or its projector swapped): its grid, layers and heads, its stem.
  setModel(config, grid) {
    this.config = config;
    this.grid = grid;
    this.attentionView.setGeometry(grid);
    const pca = $('pca-canvas');
    if (pca.width !== grid.side) pca.width = grid.side;
    if (pca.height !== grid.side) pca.height = grid.side;
    // Without a CLS token, the attention's query is a patch: the one under the pointer, or
    // the middle one until the pointer has been over the image.
    const query = $('vision-query');
    const cls = query.querySelector('option[value="cls"]');
    cls.hidden = !grid.cls;
    cls.disabled = !grid.cls;
    if (!grid.cls) query.value = 'patch';
    else if (!query.dataset.touched) query.value = 'cls';
    this.relabel();
  }

  /// The texts and selects in the page's language.
  relabel() {
    if (!this.config) return;
    const { vision } = this.config;
    fillSelect($('vision-layer'), range(vision.layers).map((l) => [l, `${l + 1} / ${vision.layers}`]));
    if (!$('vision-layer').dataset.touched) $('vision-layer').value = vision.layers - 1;
    fillSelect($('vision-head'), [[-1, t('mean')], ...range(vision.heads).map((h) => [h, `${h + 1}`])]);
    $('vision-stem').textContent = t('vision_stem', vision.stem ?? 'linear', this.grid.patchSize, this.config.family ?? 'explainer');
  }

  /// The `encode` stage: the patch features, drawn over `image` (the input panel's) and as a
  /// matrix; `inputShape` is the input tensor's.
  showEncode(msg, image, inputShape) {
    this.features = msg.features;
    this.highlightRow(-1);
    this.updatePca(msg.features);
    this.attentionView.image = image;
    this.updateAttention();
    $('vision-shape').textContent = `${shapeText(inputShape)} → ${shapeText(msg.features.shape)}  (${msg.ms.toFixed(0)} ms)`;
  }

  /// The features matrix, with patch `row`'s feature vector marked (-1: none).
  highlightRow(row) {
    if (!this.features) return;
    const [, rows, cols] = this.features.shape;
    drawMatrix($('features-canvas'), this.features.data, rows, cols, row);
  }

  /// The pointer is over patch `patch` of the input image (-1: off it).
  hoverPatch(patch) {
    if (patch < 0) return;
    this.hoveredPatch = patch;
    if ($('vision-query').value === 'patch') this.updateAttention();
  }

  /// Asks the worker for one row of vision attention and draws its weights over the patches.
  async updateAttention() {
    if (!this.features) return;
    if (this.attention.inFlight) { this.attention.pending = true; return; }
    this.attention.inFlight = true;
    const g = this.grid;
    const layer = Number($('vision-layer').value);
    const head = Number($('vision-head').value);
    const hovered = $('vision-query').value === 'patch' && this.hoveredPatch >= 0;
    // -1: the CLS token.
    const patch = hovered ? this.hoveredPatch : g.cls ? -1 : g.centrePatch;
    try {
      const { row } = await this.client.request({ type: 'visionAttention', layer, head, query: g.queryOf(patch) });
      this.attentionView.setAttention(g.patchWeights(row));
      this.attentionView.setHighlight(patch);
      $('vision-attention-caption').textContent = t('vision_attention_caption', layer + 1, t('head_label', head),
        patch >= 0 ? t('from_patch', patch) : 'CLS');
    } catch (e) {
      this.onError(e.message);
    } finally {
      this.attention.inFlight = false;
      if (this.attention.pending) { this.attention.pending = false; this.updateAttention(); }
    }
  }

  /// Asks the worker for the PCA colours of `features` (computed there after the run's answer)
  /// and draws them, unless another image's features have arrived meanwhile. The worker gives
  /// them up (rgb null) when another run is waiting: that run asks for its own, and if it
  /// brought no new features (its image was refused), `afterRun` asks again.
  async updatePca(features) {
    const canvas = $('pca-canvas');
    canvas.setAttribute('aria-busy', 'true');
    this.pca.asked = features;
    let givenUp = false;
    try {
      const { rgb } = await this.client.request({ type: 'pca' });
      givenUp = !rgb;
      if (rgb && this.features === features) {
        this.drawPca(rgb);
        this.pca.drawn = features;
      }
    } catch (e) {
      this.onError(e.message);
    } finally {
      if (this.pca.asked === features) this.pca.asked = null;
      if (this.features === features && !givenUp) canvas.removeAttribute('aria-busy');
    }
  }

  /// After a run: the PCA colours of the features on show, if nobody has them or is asking.
  afterRun() {
    const { features } = this;
    if (features && this.pca.drawn !== features && this.pca.asked !== features) this.updatePca(features);
  }

  /// One colour a patch, on the patch grid.
  drawPca(rgb) {
    const { side, patches } = this.grid;
    const ctx = $('pca-canvas').getContext('2d');
    const img = ctx.createImageData(side, side);
    for (let i = 0; i < patches; i++) {
      img.data.set([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
  }
}
