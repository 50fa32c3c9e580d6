// A model's three files, wherever they come from: the folder the page ships (www/model/, named
// by its manifest) or files a person chose. Shared by the model's worker and the training worker.

const MODEL_DIR = new URL('./model/', import.meta.url);
// Largest model file read into memory: the wasm holds at most 300M values (src/config.rs),
// 1.2 GB as f32, and reads them from the file's bytes.
const MAX_MODEL_BYTES = 1.25e9;

export async function get(name) {
  const r = await fetch(new URL(name, MODEL_DIR));
  if (!r.ok) throw new Error(`www/model/${name}: HTTP ${r.status}`);
  return r;
}

export async function fetchModelFiles(files) {
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
export function pickModelFiles(files) {
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
export function nameFiles(message, files) {
  let text = message;
  for (const [canonical, file] of [['model.safetensors', files.weights], ['config.json', files.config], ['tokenizer.json', files.tokenizer]]) {
    if (file.name !== canonical) text = text.replaceAll(canonical, file.name);
  }
  return text;
}
