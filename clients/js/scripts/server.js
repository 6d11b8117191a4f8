// Starts a real Pyth-On server for the tests and for regenerating src/schema.d.ts: the binary
// at $PYTH_ON_BIN, else <repo>/target/debug/pyth-on, with the pyth-on-runner beside it, a
// temporary data directory and a free loopback port. The server's environment is this
// process's without any PYTH_ON_* variable, so settings of the caller cannot leak in.

import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');

export function serverBinary() {
  const bin = process.env.PYTH_ON_BIN || join(repo, 'target', 'debug', 'pyth-on');
  if (!existsSync(bin)) {
    throw new Error(`no Pyth-On server binary at ${bin}: build it (cargo build) or set PYTH_ON_BIN`);
  }
  return bin;
}

function scrubbedEnv() {
  /** @type {Record<string, string>} */
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PYTH_ON_') && value !== undefined) env[key] = value;
  }
  return env;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (probe.address());
      probe.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts a server; resolves once it answers. `args` are extra `serve` flags.
 * @param {{args?: string[]}} [options]
 */
export async function startServer({ args = [] } = {}) {
  const bin = serverBinary();
  const runner = join(dirname(bin), 'pyth-on-runner');
  const dataDir = mkdtempSync(join(tmpdir(), 'pyth-on-js-'));
  const env = scrubbedEnv();
  let lastError;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(bin, [
      'serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--runner', runner,
      '--pool-size', '0', ...args,
    ], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (chunk) => { log = (log + chunk).slice(-20000); });
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    const deadline = Date.now() + 30000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const response = await fetch(`${url}/api/health/live`);
        if (response.ok) { up = true; break; }
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      return {
        url,
        dataDir,
        /** Runs `pyth-on users create --admin EMAIL` on this server's database. */
        createAdmin: (/** @type {string} */ email, /** @type {string} */ password) => new Promise((ok, fail) => {
          const cli = execFile(bin, ['users', 'create', '--admin', email, '--data-dir', dataDir], { env },
            (error, stdout, stderr) => (error ? fail(new Error(`${error.message}\n${stderr}`)) : ok(stdout)));
          cli.stdin?.end(`${password}\n`);
        }),
        log: () => log,
        stop: async () => {
          if (child.exitCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          }
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exited;
    lastError = new Error(`the server did not start:\n${log}`);
  }
  rmSync(dataDir, { recursive: true, force: true });
  throw lastError;
}
