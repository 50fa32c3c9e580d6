// The system Firefox for the speed benchmark, driven through geckodriver (W3C WebDriver):
// playwright-core drives only its own patched Firefox build, which is never downloaded here.
// Gives the same `{ version, hardwareConcurrency, call(name, args), close() }` as the Chromium
// driver in run.mjs: `call` runs `window.bench[name](args)` in bench/index.html.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const which = (names) => names.find((n) => existsSync(n));

export async function firefox(serverUrl) {
  const binary = which(['/usr/bin/firefox-esr', '/usr/bin/firefox']);
  const driverPath = which([path.join(os.homedir(), '.cargo/bin/geckodriver'), '/usr/bin/geckodriver', '/usr/local/bin/geckodriver']);
  if (!binary) throw new Error('no Firefox (apt-get install firefox-esr)');
  if (!driverPath) throw new Error('no geckodriver (cargo install geckodriver)');
  const proc = spawn(driverPath, ['--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const base = await new Promise((resolve, reject) => {
    let seen = '';
    const look = (chunk) => {
      seen += chunk;
      const m = seen.match(/Listening on (127\.0\.0\.1:\d+)/);
      if (m) resolve(`http://${m[1]}`);
    };
    proc.stdout.on('data', look);
    proc.stderr.on('data', look);
    proc.on('exit', (code) => reject(new Error(`geckodriver exited with ${code}: ${seen}`)));
  });
  const request = async (method, url, body) => {
    const response = await fetch(`${base}${url}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    const json = await response.json();
    if (json.value?.error) throw new Error(`${json.value.error}: ${json.value.message}`);
    return json.value;
  };
  let session;
  try {
    session = await request('POST', '/session', {
      capabilities: { alwaysMatch: { browserName: 'firefox', 'moz:firefoxOptions': { binary, args: ['-headless'] } } },
    });
  } catch (e) {
    proc.kill();
    throw e;
  }
  const sid = session.sessionId;
  const close = async () => {
    await request('DELETE', `/session/${sid}`).catch(() => {});
    proc.kill();
  };
  try {
    await request('POST', `/session/${sid}/timeouts`, { script: 4 * 3600 * 1000 });
    await request('POST', `/session/${sid}/url`, { url: `${serverUrl}bench/index.html` });
    const run = (script, args) => request('POST', `/session/${sid}/execute/async`, { script, args });
    const ready = await run(`const done = arguments[0];
      const poll = () => document.getElementById('state')?.dataset.state === 'ready' ? done(true) : setTimeout(poll, 20);
      poll();`, []);
    if (!ready) throw new Error('bench/index.html did not get ready');
    return {
      version: session.capabilities.browserVersion ?? execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim(),
      hardwareConcurrency: await request('POST', `/session/${sid}/execute/sync`, { script: 'return navigator.hardwareConcurrency', args: [] }),
      call: async (name, a) => {
        const out = await run(`const [name, a, done] = arguments;
          window.bench[name](a).then((ok) => done({ ok }), (e) => done({ error: String(e && e.message || e) }));`, [name, a]);
        if (out.error) throw new Error(out.error);
        return out.ok;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
