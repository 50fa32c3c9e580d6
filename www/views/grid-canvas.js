// The image the model sees, drawn at 2x with its patch grid over it, a highlighted patch (or
// block of patches), and optionally an attention heat map: over the patches (the vision
// encoder's) or over the image tokens (a generated token's), each drawn on its own grid.

const SCALE = 2;

export class GridCanvas {
  /// `onHover(patch)`: the patch under the pointer, or -1 when it leaves.
  constructor(canvas, { onHover }) {
    this.canvas = canvas;
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
    if (this.highlight >= 0) {
      const [row, col] = grid.rowCol(this.highlight);
      const extent = cell * this.span;
      ctx.strokeStyle = '#ffcc00';
      ctx.lineWidth = 3;
      ctx.strokeRect(col * cell + 1.5, row * cell + 1.5, extent - 3, extent - 3);
    }
  }
}
