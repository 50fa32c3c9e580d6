// The first three principal components of the patch features, as colours: patches the vision
// encoder sees alike get alike colours. Power iteration with deflation on the centred
// (196, D) matrix; runs in the worker, after the answer, in slices: between them the worker's
// messages are read, and once `superseded()` says a newer image waits, the work is dropped (its
// colours would be the previous image's) so that the new answer does not wait for it.

// A turn of the worker's event loop without setTimeout's clamping: a message to itself.
const channel = new MessageChannel();
const turns = [];
channel.port1.onmessage = () => turns.shift()?.();
export const nextTurn = () => new Promise((resolve) => { turns.push(resolve); channel.port2.postMessage(null); });
// Power iterations per slice (a `tiny` feature matrix: about 0.2 ms each).
const SLICE = 4;

function centre(data, rows, cols) {
  const x = new Float32Array(data);
  for (let j = 0; j < cols; j++) {
    let mean = 0;
    for (let i = 0; i < rows; i++) mean += x[i * cols + j];
    mean /= rows;
    for (let i = 0; i < rows; i++) x[i * cols + j] -= mean;
  }
  return x;
}

/// Resolves to `rows * 3` RGB bytes, or to null if `superseded()` turned true first.
export async function pcaColours(data, rows, cols, superseded = () => false, iterations = 40) {
  const x = centre(data, rows, cols);
  const scores = [];
  const xv = new Float32Array(rows);
  for (let k = 0; k < 3; k++) {
    let v = new Float32Array(cols).map((_, j) => Math.sin(1 + j * (k + 1.7)));
    for (let it = 0; it < iterations; it++) {
      if (it % SLICE === 0) {
        await nextTurn();
        if (superseded()) return null;
      }
      for (let i = 0; i < rows; i++) {
        let s = 0;
        for (let j = 0; j < cols; j++) s += x[i * cols + j] * v[j];
        xv[i] = s;
      }
      const next = new Float32Array(cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) next[j] += x[i * cols + j] * xv[i];
      const norm = Math.hypot(...next) || 1;
      v = next.map((n) => n / norm);
    }
    const score = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += x[i * cols + j] * v[j];
      score[i] = s;
      for (let j = 0; j < cols; j++) x[i * cols + j] -= s * v[j]; // deflate
    }
    scores.push(score);
  }
  const rgb = new Uint8Array(rows * 3);
  scores.forEach((score, k) => {
    const min = Math.min(...score);
    const range = Math.max(...score) - min || 1;
    for (let i = 0; i < rows; i++) rgb[i * 3 + k] = Math.round(255 * (score[i] - min) / range);
  });
  return rgb;
}
