// index.html asks for every module of the page at once (`modulepreload`), rather than one import
// after another: the list has to follow the modules as they are split and renamed. In Node, from
// the modules' own import lines.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/// Every module `entry` imports, directly or not, as paths from the repository root.
function moduleGraph(entries) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(path.join(ROOT, file), 'utf8');
    for (const [, spec] of source.matchAll(/^import\s[^'"]*['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      visit(path.posix.join(path.posix.dirname(file), spec));
    }
  };
  entries.forEach(visit);
  return seen;
}

test('index.html preloads every module of the page, and only modules that exist', () => {
  const html = readFileSync(path.join(ROOT, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<script type="module"[^>]*src="([^"]+)"/g)].map((m) => m[1]);
  const preloaded = new Set([...html.matchAll(/<link rel="modulepreload" href="([^"]+)"/g)].map((m) => m[1]));
  assert.deepEqual(scripts.sort(), ['www/main.js', 'www/model-client.js']);
  const graph = moduleGraph(scripts);
  for (const script of scripts) graph.delete(script);
  const missing = [...graph].filter((m) => !preloaded.has(m));
  assert.deepEqual(missing, [], 'imported by the page, not preloaded');
  const gone = [...preloaded].filter((m) => !existsSync(path.join(ROOT, m)));
  assert.deepEqual(gone, [], 'preloaded, no such file');
  // Besides the page's, the workers' modules may be asked for early.
  const workers = moduleGraph(['www/worker.js', 'www/train-worker.js']);
  const stray = [...preloaded].filter((m) => !graph.has(m) && !workers.has(m));
  assert.deepEqual(stray, [], 'preloaded, imported by nothing');
});
