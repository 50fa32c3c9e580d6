// A model's three files, wherever they come from: the folder the page ships (www/model/, named
// by its manifest) or files a person chose; and the one decision, for the model's worker and the
// training worker alike, of where the model a page's request names comes from (`buildModel`).

const MODEL_DIR = new URL('./model/', import.meta.url);
// Largest model file read into memory: the wasm holds at most 300M values (src/config.rs),
// 1.2 GB as f32, and reads them from the file's bytes.
const MAX_MODEL_BYTES = 1.25e9;

async function get(name) {
  const r = await fetch(new URL(name, MODEL_DIR));
  if (!r.ok) throw new Error(`www/model/${name}: HTTP ${r.status}`);
  return r;
}

async function fetchModelFiles(files) {
  const [weights, config, tokenizer] = await Promise.all([
    get(files.weights).then((r) => r.arrayBuffer()),
    get(files.config).then((r) => r.text()),
    get(files.tokenizer).then((r) => r.arrayBuffer()),
  ]);
  return { weights: new Uint8Array(weights), config, tokenizer: new Uint8Array(tokenizer) };
}

/// The model the page ships: its manifest and, when it names them, its three files.
export async function fetchShipped() {
  const manifest = await (await get('manifest.json')).json();
  return { manifest, files: manifest.files ? await fetchModelFiles(manifest.files) : null };
}

/// The three files of a model, picked from what a person chose by their names.
function pickModelFiles(files) {
  const lower = (f) => f.name.toLowerCase();
  const weights = files.filter((f) => lower(f).endsWith('.safetensors'));
  const jsons = files.filter((f) => lower(f).endsWith('.json'));
  const tokenizer = jsons.filter((f) => lower(f).includes('tokenizer'));
  const config = jsons.filter((f) => !lower(f).includes('tokenizer'));
  const missing = [[weights, 'model.safetensors'], [config, 'config.json'], [tokenizer, 'tokenizer.json']]
    .filter(([found]) => found.length !== 1).map(([found, name]) => (found.length ? `more than one ${name}` : name));
  if (missing.length) {
    throw new Error(`choose one model's three files together: config.json, model.safetensors and tokenizer.json (${missing.join(', ')}: ${files.length ? `chose ${files.map((f) => f.name).join(', ')}` : 'none chosen'})`);
  }
  if (weights[0].size > MAX_MODEL_BYTES) {
    throw new Error(`${weights[0].name} is ${(weights[0].size / 1e9).toFixed(1)} GB; the page holds models of up to ${MAX_MODEL_BYTES / 1e9} GB`);
  }
  return { weights: weights[0], config: config[0], tokenizer: tokenizer[0] };
}

/// Messages name the files as the model knows them; say which of the person's files that is.
function nameFiles(message, files) {
  let text = message;
  for (const [canonical, file] of [['model.safetensors', files.weights], ['config.json', files.config], ['tokenizer.json', files.tokenizer]]) {
    if (file.name !== canonical) text = text.replaceAll(canonical, file.name);
  }
  return text;
}

/// Builds the model a page's request names (`{ preset, seed, files }`): the shipped model
/// (`default`: the files its manifest names or, without them, its fallback preset with random
/// weights), the person's own files (`files`), or a preset with random weights. `make` builds
/// it with the worker's class: `fromFiles(weights, config, tokenizer)` or `fromPreset(preset,
/// seed)`. `shipped()` gives the shipped model's files as the page fetched them (null: fetch
/// them here); `progress(stage)` hears each step. Resolves to `{ model, label }`: the label says
/// on the page which model it is.
export async function buildModel({ preset, seed, files: chosen }, make, { shipped = () => null, progress = () => {} } = {}) {
  if (preset === 'default') {
    progress('fetch');
    const { manifest, files } = (await shipped()) ?? await fetchShipped();
    if (files) {
      progress('weights');
      const model = make.fromFiles(files.weights, files.config, files.tokenizer);
      return { model, label: { trained: true, name: JSON.parse(files.config).name } };
    }
    const { preset: fallback, seed: fallbackSeed } = manifest.fallback;
    progress('random');
    return { model: make.fromPreset(fallback, fallbackSeed), label: { trained: false, preset: fallback, seed: fallbackSeed } };
  }
  if (preset === 'files') {
    const files = pickModelFiles(chosen);
    progress('weights');
    const [weights, config, tokenizer] = await Promise.all(
      [files.weights.arrayBuffer(), files.config.text(), files.tokenizer.arrayBuffer()]);
    let model;
    try {
      model = make.fromFiles(new Uint8Array(weights), config, new Uint8Array(tokenizer));
    } catch (e) {
      // A trap is the module's, not the files': the worker is replaced.
      if (e instanceof WebAssembly.RuntimeError) throw e;
      throw new Error(nameFiles(e instanceof Error ? e.message : String(e), files));
    }
    const names = [files.config.name, files.weights.name, files.tokenizer.name];
    return { model, label: { trained: true, own: true, name: JSON.parse(config).name, files: names } };
  }
  progress('random');
  return { model: make.fromPreset(preset, seed ?? 0), label: { trained: false, preset, seed: seed ?? 0 } };
}
