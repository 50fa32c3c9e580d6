// A matrix drawn as a heat map: one pixel per value, blue (negative) to white to red (positive),
// scaled by the 99th percentile of |value| so a few outliers do not wash the rest out.

function robustMax(data) {
  const step = Math.max(1, Math.floor(data.length / 4096));
  const sample = new Float32Array(Math.ceil(data.length / step));
  for (let i = 0, k = 0; i < data.length; i += step, k++) sample[k] = Math.abs(data[i]);
  sample.sort(); // typed arrays sort numerically, natively
  return sample[Math.floor(sample.length * 0.99)] || 1;
}

export function drawMatrix(canvas, data, rows, cols, highlightRow = -1) {
  if (canvas.width !== cols) canvas.width = cols;
  if (canvas.height !== rows) canvas.height = rows;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(cols, rows);
  const px = img.data;
  const scale = 1 / robustMax(data);
  for (let i = 0, n = rows * cols; i < n; i++) {
    let v = data[i] * scale;
    v = v > 1 ? 1 : v < -1 ? -1 : v;
    const fade = 255 - 255 * (v < 0 ? -v : v);
    const o = i << 2;
    px[o] = v > 0 ? 255 : fade;
    px[o + 1] = fade;
    px[o + 2] = v < 0 ? 255 : fade;
    px[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  if (highlightRow >= 0) {
    ctx.fillStyle = 'rgba(255, 200, 0, 0.55)';
    ctx.fillRect(0, highlightRow - 0.5, cols, 2);
  }
}
