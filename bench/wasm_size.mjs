// What the release wasm's bytes are: code per crate (from the name section's function names, or
// where scripts/build.sh moved them out, from the `.names.wasm` module beside it), data, and the
// rest. For the benchmark's note on size; also runs alone:
//   node bench/wasm_size.mjs [pkg/vlm_explainer_bg.wasm]

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

/// The crate a Rust symbol belongs to: `candle_core::...`, `<gemm_f32::...>` and
/// `_ZN9gemm_f32...` alike; `std`, `core` and `alloc` count as `std`.
function crateOf(name) {
  const m = name.match(/^[<&\s]*(?:_ZN\d+)?([A-Za-z_][A-Za-z0-9_]*)(?:\[[0-9a-f]+\])?::/);
  if (!m) return name.startsWith('__wbg') || name.startsWith('__wbindgen') ? 'wasm_bindgen' : '(other)';
  return ['core', 'alloc', 'std', '__rustc'].includes(m[1]) ? 'std' : m[1];
}

export function wasmSize(path) {
  const bytes = readFileSync(path);
  const sections = {};
  let code = null;
  let names = new Map();
  let imports = 0;
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = leb(bytes, at + 1);
    const end = body + size;
    if (id === 0) {
      const [len, nameAt] = leb(bytes, body);
      const name = bytes.subarray(nameAt, nameAt + len).toString();
      sections[`custom ${name}`] = (sections[`custom ${name}`] ?? 0) + end - at;
      if (name === 'name') names = functionNames(bytes, nameAt + len, end);
    } else {
      const label = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'data count'][id] ?? `section ${id}`;
      sections[label] = end - at;
      if (id === 2) imports = countFunctionImports(bytes, body);
      if (id === 10) code = [body, end];
    }
    at = end;
  }
  const named = path.replace(/\.wasm$/, '.names.wasm');
  if (!names.size && existsSync(named)) names = wasmNames(named);
  const crates = {};
  if (code) {
    let [count, p] = leb(bytes, code[0]);
    for (let i = 0; i < count; i++) {
      const [size, bodyAt] = leb(bytes, p);
      const crate = crateOf(names.get(imports + i) ?? '');
      crates[crate] = (crates[crate] ?? 0) + size + (bodyAt - p);
      p = bodyAt + size;
    }
  }
  return { total: bytes.length, sections, code_by_crate: crates };
}

/// The module's function names by index, from its name section (empty if it has none).
export function wasmNames(path) {
  const bytes = readFileSync(path);
  let at = 8;
  while (at < bytes.length) {
    const [size, body] = leb(bytes, at + 1);
    if (bytes[at] === 0) {
      const [len, nameAt] = leb(bytes, body);
      if (bytes.subarray(nameAt, nameAt + len).toString() === 'name') return functionNames(bytes, nameAt + len, body + size);
    }
    at = body + size;
  }
  return new Map();
}

function functionNames(bytes, at, end) {
  const names = new Map();
  while (at < end) {
    const kind = bytes[at];
    const [size, body] = leb(bytes, at + 1);
    if (kind === 1) {
      let [count, p] = leb(bytes, body);
      for (let i = 0; i < count; i++) {
        let index;
        let len;
        [index, p] = leb(bytes, p);
        [len, p] = leb(bytes, p);
        names.set(index, bytes.subarray(p, p + len).toString());
        p += len;
      }
    }
    at = body + size;
  }
  return names;
}

function countFunctionImports(bytes, at) {
  let [count, p] = leb(bytes, at);
  let functions = 0;
  for (let i = 0; i < count; i++) {
    for (let s = 0; s < 2; s++) {
      const [len, q] = leb(bytes, p);
      p = q + len;
    }
    const kind = bytes[p++];
    if (kind === 0) { functions++; [, p] = leb(bytes, p); }
    else if (kind === 1) { p++; const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
    else if (kind === 2) { const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
    else if (kind === 3) { p += 2; }
    else { p++; [, p] = leb(bytes, p); }
  }
  return functions;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const size = wasmSize(process.argv[2] ?? new URL('../pkg/vlm_explainer_bg.wasm', import.meta.url).pathname);
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  console.log(`total ${mb(size.total)}`);
  for (const [k, v] of Object.entries(size.sections).sort((a, b) => b[1] - a[1])) console.log(`  section ${k}: ${mb(v)}`);
  for (const [k, v] of Object.entries(size.code_by_crate).sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  code ${k}: ${mb(v)}`);
}
