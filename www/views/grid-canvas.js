// The image the model sees, drawn at 2x with its patch grid over it (and, where one image token
// is a block of patches, the blocks' outlines), a highlighted patch (or block of patches, its
// patches numbered in the order the projector reads them where asked), and optionally an
// attention heat map: over the patches (the vision encoder's) or over the image tokens (a
// generated token's), each drawn on its own grid.

const SCALE = 2;

export class GridCanvas {
  /// `onHover(patch)`: the patch under the pointer, or -1 when it leaves; `numbered`: number the
  /// patches of a highlighted block 1, 2, ... row by row.
  constructor(canvas, { onHover, numbered = false }) {
    this.canvas = canvas;
    this.numbered = numbered;
    this.ctx = canvas.getContext('2d');
    this.grid = null;
    this.image = null;
    this.highlight = -1;
    this.span = 1;
    this.attention = null;
    this.attentionSide = 0;
    const pick = (e) => {
      if (!this.image || !this.grid) return;
      const { side } = this.grid;
      const r = canvas.getBoundingClientRect();
      const x = ((e.clientX - r.left) / r.width) * side;
      const y = ((e.clientY - r.top) / r.height) * side;
      const col = Math.min(side - 1, Math.max(0, Math.floor(x)));
      const row = Math.min(side - 1, Math.max(0, Math.floor(y)));
      onHover(row * side + col);
    };
    canvas.addEventListener('pointermove', pick);
    canvas.addEventListener('pointerdown', pick);
    canvas.addEventListener('pointerleave', () => onHover(-1));
  }

  /// The model's grid (geometry.js): the canvas is its image at 2x.
  setGeometry(grid) {
    this.grid = grid;
    const size = grid.imageSize * SCALE;
    if (this.canvas.width !== size) this.canvas.width = size;
    if (this.canvas.height !== size) this.canvas.height = size;
    this.draw();
  }

  /// The model's input image, RGBA at its size.
  setImage(rgba) {
    const size = this.grid.imageSize;
    const off = new OffscreenCanvas(size, size);
    off.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), size, size), 0, 0);
    this.image = off;
    this.attention = null;
    this.draw();
  }

  /// Outlines patch `patch` (-1: none), or the `span` x `span` block of patches it is the top
  /// left of.
  setHighlight(patch, span = 1) { this.highlight = patch; this.span = span; this.draw(); }

  /// `weights`: one value per cell of a `side` x `side` grid over the image (the patches by
  /// default), or null to clear.
  setAttention(weights, side = this.grid.side) { this.attention = weights; this.attentionSide = side; this.draw(); }

  draw() {
    const { ctx, grid } = this;
    if (!grid) return;
    const size = grid.imageSize * SCALE;
    const cell = grid.patchSize * SCALE;
    ctx.clearRect(0, 0, size, size);
    if (!this.image) return;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image, 0, 0, size, size);
    if (this.attention) {
      // Stretch min..max to full contrast: the brightest cell got the most attention.
      const max = Math.max(...this.attention);
      const min = Math.min(...this.attention);
      const range = max - min || 1;
      const side = this.attentionSide;
      const step = size / side;
      for (let i = 0; i < side * side; i++) {
        const a = (this.attention[i] - min) / range;
        ctx.fillStyle = `rgba(0, 0, 0, ${0.75 * (1 - a)})`;
        ctx.fillRect((i % side) * step, Math.floor(i / side) * step, step, step);
      }
    }
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.45)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 0; k <= grid.side; k++) {
      ctx.moveTo(k * cell + 0.5, 0); ctx.lineTo(k * cell + 0.5, size);
      ctx.moveTo(0, k * cell + 0.5); ctx.lineTo(size, k * cell + 0.5);
    }
    ctx.stroke();
    if (grid.factor > 1) {
      // Each image token's block of patches.
      const block = cell * grid.factor;
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.9)';
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (let k = 0; k <= grid.tokenSide; k++) {
        ctx.moveTo(k * block, 0); ctx.lineTo(k * block, size);
        ctx.moveTo(0, k * block); ctx.lineTo(size, k * block);
      }
      ctx.stroke();
    }
    if (this.highlight >= 0) {
      const [row, col] = grid.rowCol(this.highlight);
      const extent = cell * this.span;
      ctx.strokeStyle = '#ffcc00';
      ctx.lineWidth = 3;
      ctx.strokeRect(col * cell + 1.5, row * cell + 1.5, extent - 3, extent - 3);
      if (this.numbered && this.span > 1) this.numberBlock(row, col, cell);
    }
  }

  /// Numbers the patches of the highlighted block, row by row from its top left.
  numberBlock(row, col, cell) {
    const { ctx } = this;
    ctx.font = `bold ${Math.round(cell * 0.55)}px sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let dr = 0; dr < this.span; dr++) {
      for (let dc = 0; dc < this.span; dc++) {
        const x = (col + dc + 0.5) * cell;
        const y = (row + dr + 0.5) * cell;
        ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
        ctx.fillRect(x - cell * 0.4, y - cell * 0.4, cell * 0.8, cell * 0.8);
        ctx.fillStyle = '#ffcc00';
        ctx.fillText(String(dr * this.span + dc + 1), x, y + 1);
      }
    }
  }
}
