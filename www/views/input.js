// The 224x224 image the model sees, drawn at 2x with the 14x14 patch grid over it, a highlighted
// patch, and optionally an attention heat map over the patches.

const SCALE = 2;

export class InputView {
  constructor(canvas, { grid = 14, patch = 16, onHover }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.grid = grid;
    this.patch = patch;
    this.image = null;
    this.highlight = -1;
    this.attention = null;
    const pick = (e) => {
      if (!this.image) return;
      const r = canvas.getBoundingClientRect();
      const x = ((e.clientX - r.left) / r.width) * grid;
      const y = ((e.clientY - r.top) / r.height) * grid;
      const col = Math.min(grid - 1, Math.max(0, Math.floor(x)));
      const row = Math.min(grid - 1, Math.max(0, Math.floor(y)));
      onHover(row * grid + col);
    };
    canvas.addEventListener('pointermove', pick);
    canvas.addEventListener('pointerdown', pick);
    canvas.addEventListener('pointerleave', () => onHover(-1));
  }

  setImage(rgba) {
    const size = this.grid * this.patch;
    const off = new OffscreenCanvas(size, size);
    off.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), size, size), 0, 0);
    this.image = off;
    this.attention = null;
    this.draw();
  }

  setHighlight(i) { this.highlight = i; this.draw(); }

  /// `weights`: 196 values (one per patch), or null to clear.
  setAttention(weights) { this.attention = weights; this.draw(); }

  draw() {
    const { ctx, grid, patch } = this;
    const cell = patch * SCALE;
    const size = grid * cell;
    ctx.clearRect(0, 0, size, size);
    if (!this.image) return;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image, 0, 0, size, size);
    if (this.attention) {
      // Stretch min..max to full contrast: the brightest patch got the most attention.
      const max = Math.max(...this.attention);
      const min = Math.min(...this.attention);
      const range = max - min || 1;
      for (let i = 0; i < grid * grid; i++) {
        const a = (this.attention[i] - min) / range;
        ctx.fillStyle = `rgba(0, 0, 0, ${0.75 * (1 - a)})`;
        ctx.fillRect((i % grid) * cell, Math.floor(i / grid) * cell, cell, cell);
      }
    }
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.45)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 0; k <= grid; k++) {
      ctx.moveTo(k * cell + 0.5, 0); ctx.lineTo(k * cell + 0.5, size);
      ctx.moveTo(0, k * cell + 0.5); ctx.lineTo(size, k * cell + 0.5);
    }
    ctx.stroke();
    if (this.highlight >= 0) {
      ctx.strokeStyle = '#ffcc00';
      ctx.lineWidth = 3;
      ctx.strokeRect((this.highlight % grid) * cell + 1.5, Math.floor(this.highlight / grid) * cell + 1.5, cell - 3, cell - 3);
    }
  }
}
