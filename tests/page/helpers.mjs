// Shared by the page tests: serve the repository on a free 127.0.0.1 port, launch the system
// Chromium (never a downloaded one), and watch every request and console message.

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OUT = path.join(ROOT, 'tests/page/out');
mkdirSync(OUT, { recursive: true });

/// Serves `root` (this repository unless given) with scripts/serve.py on a free port: { url, close }.
/// `isolated: false` leaves out COOP/COEP (one thread); `model: DIR` serves that model folder at
/// /local-model/ (`--model DIR`), and the page opens with it.
export async function serve(root = ROOT, { isolated = true, model = null } = {}) {
  const flags = [...(isolated ? [] : ['--no-isolation']), ...(model ? ['--model', model] : [])];
  const proc = spawn('python3', [path.join(ROOT, 'scripts/serve.py'), '--port', '0', '--root', root, ...flags], {
    env: { ...process.env, VLM_SERVE_QUIET: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let buffered = '';
    proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      const m = buffered.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) resolve(m[0]);
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, close: () => proc.kill() };
}

export async function launch() {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/// A page that records console errors and every request's URL.
export async function openPage(browser, url, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const consoleErrors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  context.on('request', (r) => requests.push(r.url()));
  // Main-thread tasks over 50 ms, as the browser reports them (a figure to print, not a gate:
  // timings on a shared machine are noisy).
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(url);
  await page.waitForSelector('[data-testid="status"][data-state="ready"]', { timeout: 120_000 });
  return { page, context, consoleErrors, requests };
}

/// Drops a file on the page the way a browser does: a `drop` event carrying a DataTransfer.
export async function dropFile(page, name, mime, bytes) {
  // The bytes as base64: an array of numbers costs the page a long task to read for a photo.
  await page.evaluate(({ name, mime, base64 }) => {
    const text = atob(base64);
    const data = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) data[i] = text.charCodeAt(i);
    const file = new File([data], name, { type: mime });
    const dt = new DataTransfer();
    dt.items.add(file);
    const target = document.querySelector('[data-testid="drop-zone"]');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, { name, mime, base64: Buffer.from(bytes).toString('base64') });
}

/// Waits until a run has finished: status back to ready with the generation's speed (printed
/// when the answer is complete) or an error shown, and the panels drawn after the answer (the
/// token strip, the PCA map: `aria-busy` until then).
export async function waitForRun(page) {
  await page.waitForFunction(() => {
    const status = document.querySelector('[data-testid="status"]').dataset.state;
    const speed = document.querySelector('#speed').textContent;
    const error = document.querySelector('[data-testid="error"]');
    return status === 'ready' && (speed.length > 0 || !error.hidden) && !document.querySelector('[aria-busy="true"]');
  }, null, { timeout: 120_000 });
}

/// Does `action` (a drop, a click that starts a run) and waits for the run it starts, not an
/// earlier one: the last answer's speed line and error, which satisfy `waitForRun`, are cleared
/// first (the page clears them itself only once the new run begins).
export async function runAndWait(page, action) {
  await page.evaluate(() => {
    document.querySelector('#speed').textContent = '';
    document.querySelector('[data-testid="error"]').hidden = true;
  });
  await action();
  await waitForRun(page);
}

/// Prints the main-thread tasks over 50 ms seen so far.
export async function printLongTasks(page, label) {
  const tasks = await page.evaluate(() => window.__longTasks);
  console.log(`# ${label}: ${tasks.length} main-thread tasks over 50 ms${tasks.length ? ` (longest ${Math.max(...tasks)} ms)` : ''}`);
}
