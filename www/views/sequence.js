// Panel 4, what the LLM receives: the shape of its input, and the input as one strip, the image
// tokens (each showing the part of the image it was made from: its patch, or its block of
// patches) then the text tokens (each showing its text piece). Hovering a token reports its
// position.

import { shapeText } from '../geometry.js';
import { mark } from '../marks.js';
import { $ } from './dom.js';

// The strip's image tokens are this many CSS pixels a side (style.css's .tok-image).
const CELL = 24;

// The strip (image tokens + T elements with their styles, and the image encoded as PNG for
// them: the page's costliest drawing) is built once the answer is shown and painted (`build`,
// called then), so that it never holds up the answer's tokens; if the answer is still coming
// STRIP_WAIT_MS after the prefill (a large model), it is built then.
const STRIP_WAIT_MS = 300;

export class SequencePanel {
  /// `onHover(pos)`: the position under the pointer, or -1.
  constructor({ onHover, onError }) {
    Object.assign(this, { el: $('token-strip'), onHover, onError, grid: null, highlighted: null });
    // The sequence on show; the one waiting for its strip (`{ sequence, image, grid, timer }`);
    // the image's blob: URL, which the strip's image tokens share.
    this.sequence = null;
    this.pending = null;
    this.imageUrl = null;
  }

  setGeometry(grid) { this.grid = grid; }

  /// The `prefill` stage: the LLM's input; its strip is drawn from `image` (the input panel's)
  /// after the answer, or STRIP_WAIT_MS from now.
  showPrefill(msg, image) {
    this.sequence = msg.sequence;
    clearTimeout(this.pending?.timer);
    const timer = setTimeout(() => this.build(), STRIP_WAIT_MS);
    this.pending = { sequence: msg.sequence, image, grid: this.grid, timer };
    this.el.setAttribute('aria-busy', 'true');
    const textCount = msg.sequence.pieces.length;
    $('sequence-shape').textContent =
      `[${this.grid.imageTokens} image tokens | ${textCount} text tokens] → ${shapeText(msg.sequence.shape)}  (prefill ${msg.ms.toFixed(0)} ms)`;
  }

  /// The text piece at text position `index` of the sequence on show.
  piece(index) { return this.sequence?.pieces[index]; }

  /// Builds the strip that waits, if any.
  build() {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    clearTimeout(pending.timer);
    // One short blob: URL that all the image tokens share (a data: URL repeated 196 times makes
    // the browser parse megabytes of style).
    pending.image.convertToBlob({ type: 'image/png' }).then((blob) => {
      if (this.sequence !== pending.sequence) return;
      if (this.imageUrl) URL.revokeObjectURL(this.imageUrl);
      this.imageUrl = URL.createObjectURL(blob);
      this.render(pending.sequence, pending.grid);
      this.el.removeAttribute('aria-busy');
      mark('vlm:strip-drawn');
    }, (e) => {
      this.el.removeAttribute('aria-busy');
      this.onError(e.message);
    });
  }

  render(sequence, grid) {
    this.el.replaceChildren();
    let textIndex = 0;
    let imageIndex = 0;
    // The image at the size where one image token's region fills a cell.
    const scale = CELL / grid.tokenPixels;
    const backgroundSize = `${grid.imageSize * scale}px`;
    const background = `url(${this.imageUrl})`;
    sequence.kinds.forEach((kind, pos) => {
      const cell = document.createElement('span');
      cell.dataset.kind = kind;
      cell.dataset.pos = pos;
      if (kind === 'image') {
        cell.className = 'tok tok-image';
        cell.title = `image token ${pos}`;
        const k = imageIndex++;
        const x = (k % grid.tokenSide) * grid.tokenPixels * scale;
        const y = Math.floor(k / grid.tokenSide) * grid.tokenPixels * scale;
        cell.style.backgroundImage = background;
        cell.style.backgroundSize = backgroundSize;
        cell.style.backgroundPosition = `-${x}px -${y}px`;
      } else {
        cell.className = 'tok tok-text';
        cell.textContent = sequence.pieces[textIndex].replace(/ /g, '␣');
        cell.title = `text token ${textIndex}, id ${sequence.text_ids[textIndex]}`;
        cell.dataset.textIndex = textIndex++;
      }
      cell.addEventListener('pointerenter', () => this.onHover(pos));
      cell.addEventListener('pointerleave', () => this.onHover(-1));
      this.el.append(cell);
    });
  }

  /// Marks the token at `pos` (-1: none).
  highlight(pos) {
    this.highlighted?.classList.remove('active');
    this.highlighted = pos >= 0 ? this.el.children[pos] ?? null : null;
    this.highlighted?.classList.add('active');
    // Scroll the strip itself, never the page: hovering a patch must not move the image
    // away from under the pointer when the strip is below the fold.
    if (this.highlighted) {
      const cell = this.highlighted.getBoundingClientRect();
      const strip = this.el.getBoundingClientRect();
      if (cell.left < strip.left) this.el.scrollLeft -= strip.left - cell.left;
      else if (cell.right > strip.right) this.el.scrollLeft += cell.right - strip.right;
    }
  }
}
