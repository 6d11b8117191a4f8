// The end-to-end stack: the real `pyth-on serve` binary on a free loopback port with a temporary
// data directory, a loopback PEP 503 index serving one wheel (so a package install needs no
// network) and a stand-in OpenAI-compatible model for /generate, and headless Chromium (Debian's package) driven by playwright-core.
//
// Environment: PYTH_ON_BIN (default target/debug/pyth-on; the runner binary must sit next to
// it), CHROMIUM_PATH (default /usr/bin/chromium), E2E_ARTIFACTS (default
// test-artifacts/console, for screenshots). As root, Chromium's own sandbox cannot start, so it
// runs with --no-sandbox there (CI runs as root); the page only ever loads our own server.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = resolve(ROOT, process.env.E2E_ARTIFACTS ?? 'test-artifacts/console');

function freePort() {
  return new Promise((res, rej) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => res(port));
    });
    server.on('error', rej);
  });
}

/** A loopback simple index with the test wheel `pythonhello` 1.0 built by the Rust fixtures script. */
async function startIndex(dir) {
  const script = join(ROOT, 'crates/pyth-on-server/tests/fixtures/packages/make_fixtures.py');
  const meta = JSON.parse(execFileSync('python3', [script, dir], { encoding: 'utf8' }));
  const { file, sha256 } = meta.wheel;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      // A stand-in OpenAI-compatible model: always the same small program.
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        model: 'stand-in-model',
        choices: [{
          finish_reason: 'stop',
          message: { content: "```python\nprint('generated hello')\n```\nPrints a greeting." },
        }],
        usage: { prompt_tokens: 10, completion_tokens: 10 },
      }));
    } else if (req.url === '/simple/pythonhello/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body><a href="/files/${file}#sha256=${sha256}">${file}</a></body></html>`);
    } else if (req.url === `/files/${file}`) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(readFileSync(join(dir, file)));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { url: `${base}/simple/`, llm: `${base}/v1`, server };
}

async function waitForServer(base, child, log) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pyth-on exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${base}/api/info`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pyth-on did not answer within 30 s:\n${log()}`);
}

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PYTH_ON_')));

/**
 * Starts everything. `env` adds or overrides server settings; `prepare(cli)`, if given, runs
 * before the server starts (e.g. `cli(['users', 'create', '--admin', email], password)`, as
 * an operator makes the first admin). Returns the base URL, a `newPage()` that records page
 * errors and CSP violations, `problems` (those records), `cli`, `dataDir` and `stop()`.
 */
export async function startStack(env = {}, { prepare } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pyth-on-console-e2e-'));
  const index = await startIndex(mkdtempSync(join(dir, 'index-')));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const bin = resolve(ROOT, process.env.PYTH_ON_BIN ?? 'target/debug/pyth-on');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build --workspace first`);
  const dataDir = join(dir, 'data');
  /** `pyth-on ARGS --data-dir <the server's>` with `input` on stdin: its stdout (throws on failure). */
  const cli = (args, input = '') =>
    execFileSync(bin, [...args, '--data-dir', dataDir], { input, encoding: 'utf8', env: { ...cleanEnv(), RUST_LOG: 'warn' } });
  if (prepare) await prepare(cli);
  let output = '';
  const child = spawn(bin, ['serve'], {
    env: {
      ...cleanEnv(),
      RUST_LOG: 'warn',
      PYTH_ON_LISTEN: `127.0.0.1:${port}`,
      PYTH_ON_DATA_DIR: dataDir,
      PYTH_ON_AUTH_RATE_LIMIT_PER_MINUTE: '1000',
      PYTH_ON_PYPI_INDEX_URL: index.url,
      PYTH_ON_OPENAI_BASE_URL: index.llm,
      PYTH_ON_POOL_SIZE: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  await waitForServer(base, child, () => output);

  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install chromium, or set CHROMIUM_PATH`);
  }
  const browser = await chromium.launch({
    executablePath,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  const problems = [];
  mkdirSync(ARTIFACTS, { recursive: true });

  async function newPage(viewport = { width: 1280, height: 900 }) {
    const context = await browser.newContext({ viewport, baseURL: base });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // A refused fetch is logged as "Failed to load resource"; the tests provoke those on purpose.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
        problems.push(`console error: ${msg.text()}`);
      }
    });
    page.on('dialog', (dialog) => void dialog.accept());
    return page;
  }

  async function stop() {
    await browser.close().catch(() => {});
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    index.server.close();
    rmSync(dir, { recursive: true, force: true });
  }

  return { base, newPage, problems, stop, cli, dataDir, serverLog: () => output };
}

/** Saves a full-page screenshot under the artifacts directory. */
export async function screenshot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
