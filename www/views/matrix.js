// A matrix drawn as a heat map: one pixel per value, blue (negative) to white to red (positive),
// scaled by the 99th percentile of |value| so a few outliers do not wash the rest out.

function robustMax(data) {
  const step = Math.max(1, Math.floor(data.length / 20000));
  const sample = [];
  for (let i = 0; i < data.length; i += step) sample.push(Math.abs(data[i]));
  sample.sort((a, b) => a - b);
  return sample[Math.floor(sample.length * 0.99)] || 1;
}

export function drawMatrix(canvas, data, rows, cols, highlightRow = -1) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(cols, rows);
  const max = robustMax(data);
  for (let i = 0; i < rows * cols; i++) {
    const v = Math.max(-1, Math.min(1, data[i] / max));
    const o = i * 4;
    const fade = Math.round(255 * (1 - Math.abs(v)));
    img.data[o] = v > 0 ? 255 : fade;
    img.data[o + 1] = fade;
    img.data[o + 2] = v < 0 ? 255 : fade;
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  if (highlightRow >= 0) {
    ctx.fillStyle = 'rgba(255, 200, 0, 0.55)';
    ctx.fillRect(0, highlightRow - 0.5, cols, 2);
  }
}
