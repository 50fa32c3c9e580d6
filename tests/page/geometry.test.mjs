// The page's grid (www/geometry.js) from a model's config.json, in Node: the shipped model's
// (a CLS token, one image token per patch) and a pixel-shuffle model's without a CLS token
// (nanoVLM's: each image token is a 2 x 2 block of patches).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { geometry, shapeText } from '../../www/geometry.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = (file) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8'));
/// The sizes of a grid, without its functions.
const sizes = (g) => Object.fromEntries(Object.entries(g).filter(([, v]) => typeof v !== 'function'));

test('the shipped model: 14 x 14 patches of 16, a CLS token, one image token per patch', () => {
  const shipped = config('www/model/config.json');
  assert.equal(shipped.vision.cls_token, undefined, 'config.json leaves cls_token out');
  const g = geometry(shipped);
  assert.deepEqual(sizes(g), {
    imageSize: 224, patchSize: 16, side: 14, patches: 196, cls: true, factor: 1, tokenSide: 14, imageTokens: 196,
    tokenPixels: 16, inputShape: [1, 3, 224, 224], centrePatch: 7 * 14 + 7,
  });
  assert.equal(shapeText(g.inputShape), '(1, 3, 224, 224)');
  assert.deepEqual(g.rowCol(3 * 14 + 5), [3, 5]);
  for (const patch of [0, 5, 13, 14, 105, 195]) {
    assert.equal(g.tokenOfPatch(patch), patch);
    assert.equal(g.firstPatchOf(patch), patch);
    assert.deepEqual(g.patchesOf(patch), [patch]);
  }
  // Vision attention: the CLS token is query 0 and the first of 197 weights.
  assert.equal(g.queryOf(-1), 0);
  assert.equal(g.queryOf(0), 1);
  assert.equal(g.queryOf(195), 196);
  const row = Float32Array.from({ length: 197 }, (_, i) => i);
  const weights = g.patchWeights(row);
  assert.equal(weights.length, 196);
  assert.equal(weights[0], 1);
  assert.equal(weights[195], 196);
  // The other presets and the fixtures share the grid.
  for (const file of ['tests/fixtures/config.json']) assert.equal(geometry(config(file)).imageTokens, 196);
});

test('a pixel-shuffle model without a CLS token: 2 x 2 blocks of patches, 49 image tokens', () => {
  const g = geometry({
    name: 'nanovlm-small',
    vision: { image_size: 224, patch_size: 16, width: 32, layers: 2, heads: 2, mlp_width: 64, cls_token: false },
    projector: { kind: 'pixel_shuffle', factor: 2 },
    llm: { vocab_size: 1024, width: 64, layers: 2, heads: 4, mlp_width: 128, max_seq_len: 8192 },
  });
  assert.deepEqual(sizes(g), {
    imageSize: 224, patchSize: 16, side: 14, patches: 196, cls: false, factor: 2, tokenSide: 7, imageTokens: 49,
    tokenPixels: 32, inputShape: [1, 3, 224, 224], centrePatch: 7 * 14 + 7,
  });
  // Token (r, c) covers patches (2r + dr, 2c + dc).
  assert.deepEqual(g.patchesOf(0), [0, 1, 14, 15]);
  assert.deepEqual(g.patchesOf(1), [2, 3, 16, 17]);
  assert.deepEqual(g.patchesOf(7), [28, 29, 42, 43]);
  assert.deepEqual(g.patchesOf(48), [180, 181, 194, 195]);
  assert.equal(g.firstPatchOf(8), 2 * 14 + 2);
  // Every patch belongs to exactly the token whose block holds it.
  const seen = new Array(196).fill(0);
  for (let token = 0; token < 49; token++) {
    for (const patch of g.patchesOf(token)) {
      assert.equal(g.tokenOfPatch(patch), token);
      seen[patch] += 1;
    }
  }
  assert.ok(seen.every((n) => n === 1));
  assert.equal(g.tokenOfPatch(3 * 14 + 5), 1 * 7 + 2);
  // Vision attention: no CLS token, so patch i is query i and a row holds the patches alone.
  assert.equal(g.queryOf(0), 0);
  assert.equal(g.queryOf(195), 195);
  const row = Float32Array.from({ length: 196 }, (_, i) => i);
  assert.deepEqual(g.patchWeights(row), row);
});

test('a CLS token said in so many words, and other sizes', () => {
  const base = config('www/model/config.json');
  assert.equal(geometry({ ...base, vision: { ...base.vision, cls_token: true } }).cls, true);
  // Another projector kind leaves one image token per patch, whatever `factor` says.
  assert.equal(geometry({ ...base, projector: { kind: 'mlp2x_gelu_3x3' } }).imageTokens, 196);
  const g = geometry({ ...base, vision: { ...base.vision, image_size: 384, patch_size: 16, cls_token: false },
    projector: { kind: 'pixel_shuffle', factor: 4 } });
  assert.deepEqual([g.side, g.tokenSide, g.imageTokens, g.tokenPixels], [24, 6, 36, 64]);
  assert.deepEqual(g.inputShape, [1, 3, 384, 384]);
  assert.deepEqual(g.patchesOf(5).slice(0, 5), [20, 21, 22, 23, 44]);
});
