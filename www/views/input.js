// Panel 1, the image the model sees: the model's input on its patch grid (with a generated
// token's attention over it when one is selected), its shape, what a ShapesWorld scene shows,
// and what the pointer is over.

import { t, getLang } from '../i18n.js';
import { shapeText } from '../geometry.js';
import { $ } from './dom.js';
import { GridCanvas } from './grid-canvas.js';

export class InputPanel {
  /// `onHover(patch)`: the patch under the pointer, or -1.
  constructor({ onHover }) {
    this.view = new GridCanvas($('input-canvas'), { onHover });
    this.grid = null;
    // What the image is and which model looks at it: `{ scene, ownImage, config }` (`truth`).
    this.about = {};
  }

  setGeometry(grid) {
    this.grid = grid;
    this.view.setGeometry(grid);
  }

  /// The image as the model sees it (an OffscreenCanvas at the model's size), or null.
  get image() { return this.view.image; }

  /// The `input` stage: the model's input image and its tensor's shape.
  showInput(msg) {
    const g = this.grid;
    this.view.setImage(msg.rgba);
    const tokens = g.factor > 1 ? `, ${g.factor} × ${g.factor} patches a token: ${g.tokenSide} × ${g.tokenSide} = ${g.imageTokens} image tokens` : '';
    $('input-shape').textContent = `${g.imageSize} × ${g.imageSize} × 3 → ${shapeText(msg.tensorShape)}, ${g.side} × ${g.side} = ${g.patches} patches of ${g.patchSize} × ${g.patchSize}${tokens}`;
  }

  /// Outlines a patch, or the `span` x `span` block of an image token (-1: none).
  highlight(patch, span = 1) { this.view.setHighlight(patch, span); }

  /// A generated token's attention over the image tokens (null: none).
  showAttention(weights) { this.view.setAttention(weights, this.grid.tokenSide); }

  /// Says where patch `patch` is and which image token it belongs to (-1: nothing).
  showPatch(patch) {
    if (patch < 0) { $('patch-info').textContent = ''; return; }
    const [row, col] = this.grid.rowCol(patch);
    $('patch-info').textContent = t('patch_info', row, col, this.grid.tokenOfPatch(patch));
  }

  /// Says which text token the pointer is over.
  showTextToken(index, piece) { $('patch-info').textContent = t('token_info', index, piece); }

  /// Under the image, for the shipped family's models (ShapesWorld's): what a ShapesWorld scene
  /// shows (`scene`), or, for any other image given to a model trained on ShapesWorld
  /// (`ownImage`, `config`), that its answer can only be in ShapesWorld's words. Another family's
  /// model (nanoVLM's) gets how it reads the image instead, where that differs. `change` holds
  /// what changed of these.
  truth(change = {}) {
    this.about = { ...this.about, ...change };
    const { scene, ownImage, config } = this.about;
    const shapesFamily = (config?.family ?? 'explainer') === 'explainer';
    const trainedOnShapes = /^shapesworld/.test(config?.name ?? '');
    let text = '';
    if (scene && shapesFamily) text = t('truth', scene[`caption_${getLang()}`]);
    else if (ownImage && trainedOnShapes) text = t('not_a_scene');
    $('scene-truth').textContent = text;
    $('input-preprocess').textContent = config?.preprocess?.resize === 'squash' ? t('preprocess_squash', this.grid?.imageSize ?? config.vision.image_size) : '';
  }
}
