// Which of a person's files make the model (www/model-files.js), in Node: the three by their
// names, in a downloaded folder's company, and a weights file too large for the tab refused in
// one sentence before any of it is read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickModelFiles, MAX_MODEL_BYTES } from '../../www/model-files.js';

const file = (name, size = 100) => ({ name, size });
const names = (picked) => [picked.config.name, picked.weights.name, picked.tokenizer.name];

test('a model\'s three files, by their names', () => {
  assert.deepEqual(names(pickModelFiles([file('tokenizer.json'), file('config.json'), file('model.safetensors')])),
    ['config.json', 'model.safetensors', 'tokenizer.json']);
  // Renamed ones: one .safetensors, one JSON named for its tokenizer, one other JSON.
  assert.deepEqual(names(pickModelFiles([file('vlm.safetensors'), file('my-tokenizer.json'), file('settings.json')])),
    ['settings.json', 'vlm.safetensors', 'my-tokenizer.json']);
});

test('a downloaded folder\'s other JSON files do not get in the way of the three by their names', () => {
  const folder = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json',
    'special_tokens_map.json', 'README.md', '.gitattributes'].map((n) => file(n));
  assert.deepEqual(names(pickModelFiles(folder)), ['config.json', 'model.safetensors', 'tokenizer.json']);
});

test('missing or doubled files are named', () => {
  assert.throws(() => pickModelFiles([file('config.json'), file('model.safetensors')]),
    { message: 'choose one model\'s three files together: config.json, model.safetensors and tokenizer.json (tokenizer.json: chose config.json, model.safetensors)' });
  assert.throws(() => pickModelFiles([file('a.safetensors'), file('b.safetensors'), file('config.json'), file('tokenizer.json')]),
    /\(more than one model\.safetensors: chose a\.safetensors, b\.safetensors, config\.json, tokenizer\.json\)$/);
});

test('a weights file too large for the tab is refused before it is read', () => {
  assert.throws(() => pickModelFiles([file('config.json'), file('model.safetensors', 3.2e9), file('tokenizer.json')]),
    { message: `model.safetensors is 3.20 GB, more than this tab can hold: the page builds models of up to ${MAX_MODEL_BYTES / 1e9} GB (300 million values)` });
  // nanoVLM-222M's 888 MB fit.
  assert.doesNotThrow(() => pickModelFiles([file('config.json'), file('model.safetensors', 888372464), file('tokenizer.json')]));
});
