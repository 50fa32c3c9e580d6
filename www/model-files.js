// A model's three files, wherever they come from: the folder the page ships (www/model/, named
// by its manifest), a downloaded folder scripts/serve.py serves with `--model DIR` (/local-model/,
// named by its manifest), or files a person chose or dropped; and the one decision, for the
// model's worker and the training worker alike, of where the model a page's request names comes
// from (`buildModel`). A large weights file is read a tensor at a time (`streamModel`): never
// whole in memory, its header checked against config.json before any weight is read.

const MODEL_DIR = new URL('./model/', import.meta.url);
const LOCAL_DIR = new URL('../local-model/', import.meta.url);
// Largest model file the page builds a model from: the wasm holds at most 300M values
// (src/model/config.rs), 1.2 GB as f32, in a memory of at most 4 GB with the model's work on top.
export const MAX_MODEL_BYTES = 1.25e9;

const megabytes = (bytes) => Math.round(bytes / 1e6);

/// Refuses a weights file too large for the tab before any of it is read.
function checkSize(name, size) {
  if (size > MAX_MODEL_BYTES) {
    throw new Error(`${name} is ${(size / 1e9).toFixed(2)} GB, more than this tab can hold: the page builds models of up to ${MAX_MODEL_BYTES / 1e9} GB (300 million values)`);
  }
}

async function get(dir, label, name, init) {
  const r = await fetch(new URL(name, dir), init);
  if (!r.ok) throw new Error(`${label}${name}: HTTP ${r.status}`);
  return r;
}

async function fetchModelFiles(files) {
  const shipped = (name) => get(MODEL_DIR, 'www/model/', name);
  const [weights, config, tokenizer] = await Promise.all([
    shipped(files.weights).then((r) => r.arrayBuffer()),
    shipped(files.config).then((r) => r.text()),
    shipped(files.tokenizer).then((r) => r.arrayBuffer()),
  ]);
  return { weights: new Uint8Array(weights), config, tokenizer: new Uint8Array(tokenizer) };
}

/// The model the page ships: its manifest and, when it names them, its three files.
export async function fetchShipped() {
  const manifest = await (await get(MODEL_DIR, 'www/model/', 'manifest.json')).json();
  return { manifest, files: manifest.files ? await fetchModelFiles(manifest.files) : null };
}

/// The folder `scripts/serve.py --model DIR` serves: `{ name, files: { 'config.json': .., } }`,
/// or null when none is (serve.py then answers `null`; another server, or none, an error).
export async function fetchLocalManifest() {
  try {
    const r = await fetch(new URL('manifest.json', LOCAL_DIR));
    const manifest = r.ok ? await r.json() : null;
    return manifest?.files ? manifest : null;
  } catch {
    return null;
  }
}

/// A file as the loader reads it: `{ name, size, read(start, end) }` (end exclusive) to a Uint8Array.
function fileSource(file) {
  return { name: file.name, size: file.size, read: async (start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer()) };
}

/// A served file read by byte ranges (scripts/serve.py answers them), its size from the first answer.
async function rangeSource(dir, label, name) {
  const read = async (start, end) => {
    const r = await get(dir, label, name, { headers: { Range: `bytes=${start}-${end - 1}` } });
    if (r.status !== 206) throw new Error(`${label}${name}: the server sends no byte ranges (HTTP ${r.status}); serve the folder with scripts/serve.py --model`);
    return { bytes: new Uint8Array(await r.arrayBuffer()), size: Number(r.headers.get('Content-Range')?.split('/')[1]) };
  };
  const { size } = await read(0, 1);
  return { name, size, read: async (start, end) => (await read(start, end)).bytes };
}

// Tensors next to each other in the file are read together, in reads of about this many bytes
// (a larger tensor alone): a few dozen reads of nanoVLM-222M's 888 MB rather than one per tensor.
const READ_BYTES = 32e6;

/// `tensors` (in file order) in runs read at once: `[{ start, end, tensors }]`.
function readRuns(tensors) {
  const runs = [];
  for (const tensor of tensors) {
    const last = runs.at(-1);
    if (last && last.end === tensor.start && tensor.end - last.start <= READ_BYTES) {
      last.end = tensor.end;
      last.tensors.push(tensor);
    } else runs.push({ start: tensor.start, end: tensor.end, tensors: [tensor] });
  }
  return runs;
}

/// The model in `source`'s safetensors file, read a few tensors at a time with the wasm module's
/// `ModelLoader` (`glue`: its bindings): the header first, which the loader checks against
/// config.json and tokenizer.json before any weight is read, then the tensors' bytes, the next
/// run of them read while the last goes into the model. `progress('read', [name, percent, MB
/// read, MB in all])` hears the reading.
export async function streamModel(glue, config, tokenizer, source, progress = () => {}) {
  const first = await source.read(0, Math.min(8, source.size));
  const head = await source.read(0, Math.min(source.size, glue.safetensorsHeaderBytes(first)));
  const loader = new glue.ModelLoader(config, tokenizer, head, source.size);
  try {
    const runs = readRuns(loader.tensors());
    const total = loader.totalBytes();
    const read = (i) => (i < runs.length ? source.read(runs[i].start, runs[i].end) : null);
    let done = 0;
    let said = -1;
    let next = read(0);
    for (let i = 0; i < runs.length; i++) {
      const bytes = await next;
      next = read(i + 1);
      next?.catch(() => {}); // a failure is seen when it is awaited
      for (const { name, start, end } of runs[i].tensors) {
        loader.add(name, bytes.subarray(start - runs[i].start, end - runs[i].start));
        done += end - start;
      }
      const percent = Math.floor((100 * done) / total);
      if (percent !== said) {
        said = percent;
        progress('read', [source.name, percent, megabytes(done), megabytes(total)]);
      }
    }
  } catch (e) {
    loader.free();
    if (e instanceof RangeError) {
      throw new Error(`${source.name} (${megabytes(source.size)} MB): the tab ran out of memory reading it: close other tabs, or choose a smaller model`);
    }
    throw e;
  }
  return loader.finish();
}

/// The model from its config.json text, tokenizer.json bytes and weights `source`: read a tensor
/// at a time where `make.stream` can, or whole with `make.fromFiles` (the training worker's).
async function fromSource(make, config, tokenizer, source, progress) {
  checkSize(source.name, source.size);
  if (make.stream) return make.stream(config, tokenizer, source, progress);
  progress('weights');
  return make.fromFiles(await source.read(0, source.size), config, tokenizer);
}

/// The three files of a model, picked from what a person chose by their names: the files named
/// exactly config.json, model.safetensors and tokenizer.json where they are there (a downloaded
/// folder holds more JSON files), else the one `.safetensors` file, the one JSON file with
/// "tokenizer" in its name and the one other JSON file. Refuses a weights file too large to build.
export function pickModelFiles(files) {
  const lower = (f) => f.name.toLowerCase();
  const named = (name, found) => {
    const exact = found.filter((f) => lower(f) === name);
    return exact.length === 1 ? exact : found;
  };
  const weights = named('model.safetensors', files.filter((f) => lower(f).endsWith('.safetensors')));
  const jsons = files.filter((f) => lower(f).endsWith('.json'));
  const tokenizer = named('tokenizer.json', jsons.filter((f) => lower(f).includes('tokenizer')));
  const config = named('config.json', jsons.filter((f) => !lower(f).includes('tokenizer')));
  const missing = [[weights, 'model.safetensors'], [config, 'config.json'], [tokenizer, 'tokenizer.json']]
    .filter(([found]) => found.length !== 1).map(([found, name]) => (found.length ? `more than one ${name}` : name));
  if (missing.length) {
    const error = new Error(`choose one model's three files together: config.json, model.safetensors and tokenizer.json (${missing.join(', ')}: ${files.length ? `chose ${files.map((f) => f.name).join(', ')}` : 'none chosen'})`);
    error.config = config.length === 1 && !tokenizer.length ? config[0] : null;
    throw error;
  }
  checkSize(weights[0].name, weights[0].size);
  return { weights: weights[0], config: config[0], tokenizer: tokenizer[0] };
}

/// The person's three files, or the one sentence that says what is missing: for a nanoVLM
/// config.json without a tokenizer.json (nanoVLM's own folder has none), which tokenizer it reads.
async function pickOrExplain(chosen) {
  try {
    return pickModelFiles(chosen);
  } catch (e) {
    let tokenizerName = null;
    try {
      tokenizerName = e.config && JSON.parse(await e.config.text()).lm_tokenizer;
    } catch {
      // Not JSON: the loader says so once the three files are there.
    }
    if (typeof tokenizerName === 'string') {
      throw new Error(`tokenizer.json is missing: ${e.config.name} is a nanoVLM config, whose folder comes without one, and reads the tokenizer of ${tokenizerName} (its \`lm_tokenizer\`): put that tokenizer.json with ${e.config.name} and the weights, and choose the three together`);
    }
    throw e;
  }
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
/// weights), the folder the server serves (`local`), the person's own files (`files`), or a preset
/// with random weights. `make` builds it with the worker's class: `fromFiles(weights, config,
/// tokenizer)`, `fromPreset(preset, seed)` and, where a large file can be read a tensor at a time,
/// `stream(config, tokenizer, source, progress)` (`streamModel`). `shipped()` gives the shipped
/// model's files as the page fetched them (null: fetch them here); `progress(stage, args)` hears
/// each step. Resolves to `{ model, label }`: the label says on the page which model it is (its
/// `name` is config.json's, where it has one).
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
  if (preset === 'local') {
    progress('fetch');
    const manifest = await fetchLocalManifest();
    if (!manifest) throw new Error('the server serves no model folder now (scripts/serve.py --model DIR): reload the page');
    const names = ['config.json', 'model.safetensors', 'tokenizer.json'].map((n) => manifest.files[n] ?? n);
    const local = (name) => get(LOCAL_DIR, `${manifest.name}/`, name);
    const [config, tokenizer] = await Promise.all([local(names[0]).then((r) => r.text()), local(names[2]).then((r) => r.arrayBuffer())]);
    const source = await rangeSource(LOCAL_DIR, `${manifest.name}/`, names[1]);
    const model = await fromSource(make, config, new Uint8Array(tokenizer), source, progress);
    return { model, label: { trained: true, local: true, folder: manifest.name, name: JSON.parse(config).name, files: names } };
  }
  if (preset === 'files') {
    const files = await pickOrExplain(chosen);
    const [config, tokenizer] = await Promise.all([files.config.text(), files.tokenizer.arrayBuffer()]);
    let model;
    try {
      model = await fromSource(make, config, new Uint8Array(tokenizer), fileSource(files.weights), progress);
    } catch (e) {
      // A trap is the module's, not the files': the worker is replaced.
      if (e instanceof WebAssembly.RuntimeError) throw e;
      throw new Error(nameFiles(e instanceof Error ? e.message : String(e), files));
    }
    const names = [files.config.name, files.weights.name, files.tokenizer.name];
    let name;
    try { name = JSON.parse(config).name; } catch { name = undefined; }
    return { model, label: { trained: true, own: true, name, files: names } };
  }
  progress('random');
  return { model: make.fromPreset(preset, seed ?? 0), label: { trained: false, preset, seed: seed ?? 0 } };
}
