// A matrix drawn as a heat map: one pixel per value, blue (negative) to white to red (positive),
// scaled by the 99th percentile of |value| so a few outliers do not wash the rest out.

function robustMax(data) {
  const step = Math.max(1, Math.floor(data.length / 4096));
  const sample = new Float32Array(Math.ceil(data.length / step));
  for (let i = 0, k = 0; i < data.length; i += step, k++) sample[k] = Math.abs(data[i]);
  sample.sort(); // typed arrays sort numerically, natively
  return sample[Math.floor(sample.length * 0.99)] || 1;
}

// The colour of each value from -1 to 1 in steps of 1/255 (as many as a colour channel holds),
// as the canvas's RGBA pixels read as one 32-bit word: a lookup per value, not arithmetic per
// channel.
const COLOURS = (() => {
  const lut = new Uint32Array(511);
  const bytes = new Uint8Array(lut.buffer);
  for (let k = 0; k <= 510; k++) {
    const v = k / 255 - 1;
    const fade = Math.round(255 - 255 * Math.abs(v));
    bytes.set([v > 0 ? 255 : fade, fade, v < 0 ? 255 : fade, 255], k * 4);
  }
  return lut;
})();

// Values coloured in one go; a larger matrix is coloured this many values at a time, each part
// in a task of its own, so that no task holds the page for long (nanoVLM's projector weight is
// 576 x 3072 = 1.8 million values).
const VALUES_PER_TASK = 256 * 1024;
// The drawing under way on each canvas: a newer one replaces it.
const drawing = new WeakMap();

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/// Draws `data` (`rows` x `cols`, row by row) on `canvas` at one pixel per value, with row
/// `highlightRow` marked (-1: none). Resolves once it is drawn, or given up for a newer drawing
/// on the same canvas (then to false).
export async function drawMatrix(canvas, data, rows, cols, highlightRow = -1) {
  const token = {};
  drawing.set(canvas, token);
  const ctx = canvas.getContext('2d');
  const img = new ImageData(cols, rows);
  const px = new Uint32Array(img.data.buffer);
  const scale = 255 / robustMax(data);
  const n = rows * cols;
  for (let from = 0; from < n; from += VALUES_PER_TASK) {
    if (from > 0) {
      await nextTask();
      if (drawing.get(canvas) !== token) return false;
    }
    for (let i = from, end = Math.min(n, from + VALUES_PER_TASK); i < end; i++) {
      let k = data[i] * scale;
      k = k > 255 ? 255 : k < -255 ? -255 : k;
      px[i] = COLOURS[Math.round(k) + 255];
    }
  }
  if (canvas.width !== cols) canvas.width = cols;
  if (canvas.height !== rows) canvas.height = rows;
  ctx.putImageData(img, 0, 0);
  if (highlightRow >= 0) {
    ctx.fillStyle = 'rgba(255, 200, 0, 0.55)';
    ctx.fillRect(0, highlightRow - 0.5, cols, 2);
  }
  return true;
}
