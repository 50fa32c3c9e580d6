// Where the wasm time goes: Chromium's sampling profiler over one stage of a bench model, run
// on the bench page's main thread (a worker's profile is harder to reach), after a warm-up.
// Prints the functions with the most self time, wasm and JS alike.
//   node bench/profile.mjs [PRESET=seed] [STAGE=vision_encoder|projection|prefill|decode|load] [TOP=25]
// Needs what scripts/bench.sh builds: pkg/ and bench/out/models/. PRESET `shipped` is the page's
// model (www/model/); `load` builds the model from its files' bytes 10 times.

import { existsSync } from 'node:fs';
import { serve, launch } from '../tests/page/helpers.mjs';
import { wasmNames } from './wasm_size.mjs';

// scripts/build.sh moves the function names out of the module: the profiler then says
// `wasm-function[N]`, and the names come from the module kept beside it.
const namedModule = new URL('../pkg/vlm_explainer_bg.names.wasm', import.meta.url).pathname;
const names = existsSync(namedModule) ? wasmNames(namedModule) : new Map();
const nameOf = (name) => {
  const index = name.match(/^wasm-function\[(\d+)\]$/)?.[1];
  return (index && names.get(Number(index))) || name;
};

const [preset = 'seed', stage = 'vision_encoder', top = '25'] = process.argv.slice(2);
const server = await serve();
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}bench/index.html`);
  await page.waitForSelector('#state[data-state="ready"]');
  page.setDefaultTimeout(0);
  // Loads the model on the main thread and defines window.runStage(), the call to profile.
  await page.evaluate(async ([preset, stage]) => {
    const wasm = await import('../pkg/vlm_explainer.js');
    await wasm.default();
    const dir = preset === 'shipped' ? '../www/model' : `out/models/${preset}`;
    const [weights, config, tokenizer] = await Promise.all(['model.safetensors', 'config.json', 'tokenizer.json']
      .map((f) => fetch(`${dir}/${f}`).then((r) => (f === 'config.json' ? r.text() : r.arrayBuffer()))));
    const model = new wasm.VlmExplainer(new Uint8Array(weights), config, new Uint8Array(tokenizer));
    const image = wasm.benchImage();
    const prepare = () => {
      model.preprocessRgba(image.rgba, image.width, image.height);
      model.encode();
      model.project();
    };
    const prefill = () => model.prefill('caption', 'describe the image', 0, 0, 0, 64);
    window.runStage = {
      vision_encoder: { before: () => model.preprocessRgba(image.rgba, image.width, image.height), run: () => model.encode() },
      // One projection is a millisecond or two at `tiny`: 100 of them give the sampler enough.
      projection: { before: () => { model.preprocessRgba(image.rgba, image.width, image.height); model.encode(); }, run: () => { for (let i = 0; i < 100; i++) model.project(); } },
      prefill: { before: prepare, run: prefill },
      decode: { before: () => { prepare(); prefill(); }, run: () => { for (let i = 0; i < 32; i++) model.nextToken(); } },
      load: {
        before: () => {},
        run: () => {
          for (let i = 0; i < 10; i++) new wasm.VlmExplainer(new Uint8Array(weights), config, new Uint8Array(tokenizer)).free();
        },
      },
    }[stage];
    window.runStage.before();
    window.runStage.run();
  }, [preset, stage]);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await page.evaluate(() => window.runStage.before());
  await cdp.send('Profiler.start');
  const ms = await page.evaluate(() => { const t = performance.now(); window.runStage.run(); return performance.now() - t; });
  const { profile } = await cdp.send('Profiler.stop');

  const self = new Map();
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  for (const node of profile.nodes) {
    const name = nameOf(node.callFrame.functionName) || `(${node.callFrame.url.split('/').pop() || 'program'})`;
    self.set(name, (self.get(name) ?? 0) + (dt.get(node.id) ?? 0) / 1000);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`${preset} ${stage}: ${ms.toFixed(0)} ms; sampled ${total.toFixed(0)} ms; self time by function:`);
  for (const [name, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
    console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${t.toFixed(0).padStart(6)} ms  ${name.slice(0, 150)}`);
  }
} finally {
  await browser.close();
  server.close();
}
