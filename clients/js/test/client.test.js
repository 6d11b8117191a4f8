// The client against a real server: every area of the API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

import {
  Client, PythOnError, BadRequestError, AuthenticationError, PermissionDeniedError,
  NotFoundError, ServerError, decrypt,
} from '../src/index.js';
import { startServer } from '../scripts/server.js';
import { PASSWORD, email, newUser } from './helpers.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

before(async () => {
  server = await startServer({ args: ['--auth-rate-limit-per-minute', '1000'] });
});
after(async () => {
  await server?.stop();
});

test('register, then execute: a typed result', async () => {
  const { client, auth } = await newUser(server.url);
  assert.match(auth.apiKey, /^pyo_/);
  assert.equal(auth.tokenType, 'Bearer');
  const run = await client.execute({ code: 'print(6 * 7)' });
  assert.equal(run.output, '42\n');
  assert.equal(run.exitCode, 0);
  assert.equal(run.timedOut, false);
  assert.match(run.executionId, /^[0-9a-f-]{36}$/);
  // A program that fails is a result, not an error; JavaScript, stdin, args, files.
  const js = await client.execute({
    language: 'javascript', code: 'process.stdin.on("data", d => console.log(String(d).trim(), process.argv[2])); process.exitCode = 3',
    stdin: 'hi', args: ['there'],
  });
  assert.equal(js.output, 'hi there\n');
  assert.equal(js.exitCode, 3);
  const project = await client.execute({
    files: [{ path: 'main.py', content: 'from util import f\nopen("out.txt", "w").write(f())' },
      { path: 'util.py', content: 'def f(): return "made by the run"' }],
    entry: 'main.py', outputFiles: ['*.txt'],
  });
  assert.deepEqual(project.files?.map((f) => [f.path, f.content]), [['out.txt', 'made by the run']]);
  // The shorthand: just Python code.
  assert.equal((await client.execute('print("short")')).output, 'short\n');
});

test('an API key client; health, info, usage', async () => {
  const { keyClient, auth } = await newUser(server.url);
  const me = await keyClient.me.get();
  assert.equal(me.id, auth.user.id);
  assert.equal(await keyClient.userId(), auth.user.id);
  assert.equal((await keyClient.execute({ code: 'print(1)' })).output, '1\n');
  const info = await keyClient.info();
  assert.equal(info.version, '0.1.0');
  assert.ok(info.languages.some((l) => l.name === 'python'));
  const health = await keyClient.health();
  assert.ok(['ok', 'degraded'].includes(health.status));
  assert.equal((await keyClient.live()).status, 'ok');
  const usage = await keyClient.usage();
  assert.ok(usage.runs.used >= 1);
  assert.equal(typeof (await keyClient.openapi()).openapi, 'string');
});

test('streaming a run: typed events in order', async () => {
  const { keyClient } = await newUser(server.url);
  /** @type {string[]} */
  const types = [];
  let stdout = '';
  let result;
  for await (const event of keyClient.executeStream({
    code: 'import sys\nfor i in range(3):\n    print(i, flush=True)\nprint("oops", file=sys.stderr)',
  })) {
    types.push(event.type);
    if (event.type === 'stdout') stdout += event.data.text;
    if (event.type === 'result') result = event.data;
  }
  assert.equal(types[0], 'start');
  assert.equal(types.at(-1), 'result');
  assert.ok(types.includes('stderr'));
  assert.equal(stdout, '0\n1\n2\n');
  assert.equal(result?.output, '0\n1\n2\n');
  assert.equal(result?.exitCode, 0);

  // The client's timeout covers a stream until its headers, not the whole run.
  let last;
  for await (const event of keyClient.executeStream('import time\ntime.sleep(1.2)\nprint("late")', { timeoutMs: 500 })) {
    last = event;
  }
  assert.equal(last?.type, 'result');
  assert.equal(last?.type === 'result' && last.data.output, 'late\n');
});

test('cancelling a streamed run from another request', async () => {
  const { keyClient } = await newUser(server.url);
  let result;
  for await (const event of keyClient.executeStream({
    code: 'import time\nprint("started", flush=True)\ntime.sleep(30)', timeoutMs: 40000,
  })) {
    if (event.type === 'stdout') {
      // The start event came first; cancel once the program is surely running.
    }
    if (event.type === 'start') setTimeout(() => { keyClient.cancel(event.data.executionId).catch(() => {}); }, 300);
    if (event.type === 'result') result = event.data;
  }
  assert.equal(result?.cancelled, true);
  assert.equal(result?.exitCode, 137);
  await assert.rejects(keyClient.cancel('01900000-0000-7000-8000-000000000000'), NotFoundError);
});

test('a session keeps state; cells plain and streamed; a file round trip', async () => {
  const { keyClient: client } = await newUser(server.url);
  const session = await client.sessions.create({ language: 'python', idleTimeoutSec: 120 });
  try {
    assert.equal(session.language, 'python');
    await client.sessions.execute(session.id, 'x = 20');
    const cell = await client.sessions.execute(session.id, { code: 'x + 22' });
    assert.deepEqual(cell.results.map((r) => [r.mime, r.data]), [['text/plain', '42']]);
    assert.equal(cell.error, null);

    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const put = await client.sessions.files.put(session.id, 'data/blob.bin', bytes);
    assert.deepEqual(put, { path: 'data/blob.bin', size: 5 });
    await client.sessions.files.put(session.id, 'data/sales.csv', 'month,sales\n1,10\n2,30\n');
    assert.deepEqual(await client.sessions.files.get(session.id, 'data/blob.bin'), bytes);
    const listing = await client.sessions.files.list(session.id, { dir: 'data' });
    assert.deepEqual(listing.entries.map((e) => e.path), ['data/blob.bin', 'data/sales.csv']);

    /** @type {string[]} */
    const types = [];
    let out = '';
    for await (const event of client.sessions.executeStream(session.id,
      'import csv\nrows = list(csv.reader(open("data/sales.csv")))\nprint(len(rows))\nopen("made.txt", "w").write("by a cell")')) {
      types.push(event.type);
      if (event.type === 'stdout') out += event.data.text;
      if (event.type === 'start') assert.equal(event.data.sessionId, session.id);
    }
    assert.equal(types[0], 'start');
    assert.equal(types.at(-1), 'result');
    assert.equal(out, '3\n');
    assert.equal(await client.sessions.files.getText(session.id, 'made.txt'), 'by a cell');

    await client.sessions.files.delete(session.id, 'data/blob.bin');
    await assert.rejects(client.sessions.files.get(session.id, 'data/blob.bin'),
      (/** @type {any} */ e) => e instanceof NotFoundError && e.code === 'file_not_found');
    await assert.rejects(client.sessions.files.get(session.id, '../etc/passwd'), TypeError);

    assert.deepEqual(await client.sessions.interrupt(session.id), { interrupted: false });
    assert.equal((await client.sessions.get(session.id)).id, session.id);
    assert.ok((await client.sessions.list()).sessions.some((s) => s.id === session.id));
  } finally {
    await client.sessions.delete(session.id);
  }
  await assert.rejects(client.sessions.get(session.id), NotFoundError);
});

test('interrupting a running cell', async () => {
  const { keyClient: client } = await newUser(server.url);
  const session = await client.sessions.create();
  try {
    const running = client.sessions.execute(session.id, { code: 'import time\ntime.sleep(20)', timeoutMs: 30000 });
    let interrupted = false;
    for (let i = 0; i < 50 && !interrupted; i++) {
      await new Promise((r) => setTimeout(r, 100));
      interrupted = (await client.sessions.interrupt(session.id)).interrupted;
    }
    assert.ok(interrupted);
    const cell = await running;
    assert.equal(cell.interrupted, true);
    assert.equal(cell.error?.name, 'KeyboardInterrupt');
  } finally {
    await client.sessions.delete(session.id);
  }
});

test('secrets: scoped to the runs that name them, redacted, never read back', async () => {
  const { keyClient: client } = await newUser(server.url);
  const created = await client.secrets.set('API_TOKEN', 'tok-123456789');
  assert.equal(created.name, 'API_TOKEN');
  await client.secrets.set('OTHER_SECRET', 'other-987654321');
  assert.deepEqual((await client.secrets.list()).secrets.map((s) => s.name), ['API_TOKEN', 'OTHER_SECRET']);
  const code = 'import os\nprint(os.environ.get("API_TOKEN"), os.environ.get("OTHER_SECRET"))';
  assert.equal((await client.execute({ code, secrets: ['API_TOKEN'] })).output, '*** None\n');
  assert.equal((await client.execute({ code, secrets: [] })).output, 'None None\n');
  await assert.rejects(client.execute({ code, secrets: ['MISSING'] }), (/** @type {any} */ e) => {
    assert.ok(e instanceof BadRequestError);
    assert.equal(e.code, 'unknown_secret');
    assert.deepEqual(e.details.secrets, ['MISSING']);
    return true;
  });
  await client.secrets.delete('OTHER_SECRET');
  await assert.rejects(client.secrets.delete('OTHER_SECRET'), NotFoundError);
});

test('errors carry code, status and request id', async () => {
  const { keyClient: client } = await newUser(server.url);
  await assert.rejects(client.execute({ code: 'print(1)', language: 'cobol' }, { requestId: 'sdk-test-1' }),
    (/** @type {any} */ e) => {
      assert.ok(e instanceof BadRequestError && e instanceof PythOnError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'unsupported_language');
      assert.equal(e.requestId, 'sdk-test-1');
      assert.equal(e.retryAfter, null);
      return true;
    });
  await assert.rejects(client.sessions.get('01900000-0000-7000-8000-000000000000'), (/** @type {any} */ e) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.code, 'not_found');
    assert.match(e.requestId, /^[0-9a-f-]{36}$/);
    return true;
  });
  const anonymous = new Client({ baseUrl: server.url, apiKey: null });
  await assert.rejects(anonymous.me.get(), (/** @type {any} */ e) => e instanceof AuthenticationError && e.code === 'unauthorized');
  // Key management needs a JWT.
  await assert.rejects(client.keys.list(), (/** @type {any} */ e) => e instanceof PermissionDeniedError && e.code === 'jwt_required');
  // 503 without Retry-After is not retried.
  await assert.rejects(client.generate({ prompt: 'hello' }), (/** @type {any} */ e) => e instanceof ServerError && e.code === 'generate_not_configured');
  // A client timeout.
  await assert.rejects(client.execute({ code: 'import time\ntime.sleep(5)' }, { timeoutMs: 200 }),
    (/** @type {any} */ e) => e.name === 'TimeoutError' && e.code === 'timeout' && e.status === 0);
  // Nothing listening.
  const nowhere = new Client({ baseUrl: 'http://127.0.0.1:9', apiKey: null, maxRetries: 0 });
  await assert.rejects(nowhere.info(), (/** @type {any} */ e) => e.name === 'ConnectionError' && e.code === 'network_error');
});

test('auth: login, verify, automatic refresh on 401, keys, sign-ins, settings, logout', async () => {
  const address = email();
  const first = new Client({ baseUrl: server.url, apiKey: null });
  await first.auth.register({ email: address, password: PASSWORD });
  /** @type {any[]} */
  const seen = [];
  const client = new Client({ baseUrl: server.url, apiKey: null, onTokens: (t) => seen.push(t) });
  await assert.rejects(client.auth.login({ email: address, password: 'not the password!' }),
    (/** @type {any} */ e) => e instanceof AuthenticationError && e.code === 'invalid_credentials');
  const login = await client.auth.login({ email: address, password: PASSWORD });
  assert.equal(client.token, login.token);
  assert.equal(seen.length, 1);
  const verified = await client.auth.verify();
  assert.equal(verified.valid, true);

  // A token that stopped working: the client refreshes once and retries.
  const oldRefresh = client.refreshToken;
  client.token = 'not-a-jwt';
  assert.equal((await client.me.get()).email, address);
  assert.notEqual(client.refreshToken, oldRefresh);
  assert.equal(seen.length, 2);

  const key = await client.keys.create('ci');
  assert.match(key.apiKey, /^pyo_/);
  assert.ok((await client.keys.list()).keys.some((k) => k.id === key.id));
  const viaKey = new Client({ baseUrl: server.url, apiKey: key.apiKey });
  assert.equal((await viaKey.me.get()).email, address);
  await client.keys.revoke(key.id);
  await assert.rejects(viaKey.me.get(), AuthenticationError);

  const settings = await client.me.updateSettings({ secretsDefault: 'none' });
  assert.equal(settings.secretsDefault, 'none');
  const signIns = await client.me.signIns();
  assert.ok(signIns.signIns.some((s) => s.current));
  const other = signIns.signIns.find((s) => !s.current);
  if (other) await client.me.revokeSignIn(other.id);

  await assert.rejects(client.me.changePassword({ currentPassword: 'wrong password!!', newPassword: 'another long password' }),
    (/** @type {any} */ e) => e.code === 'wrong_password');
  await client.me.changePassword({ currentPassword: PASSWORD, newPassword: 'another long password' });

  await client.auth.logout();
  assert.equal(client.token, null);
  assert.equal(client.refreshToken, null);
  await assert.rejects(client.me.get(), AuthenticationError);

  await client.auth.login({ email: address, password: 'another long password' });
  await client.me.delete('another long password');
  await assert.rejects(client.auth.login({ email: address, password: 'another long password' }), AuthenticationError);
});

test('browser mode: the refresh token stays in the server\'s cookie', async () => {
  // Node's fetch keeps no cookies: a one-cookie jar around the real fetch plays the browser.
  let cookie = '';
  /** @type {typeof fetch} */
  const browserish = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    if (cookie && new URL(String(input)).pathname.startsWith('/api')) headers.set('cookie', cookie);
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      cookie = pair.endsWith('=') ? '' : pair;
    }
    return response;
  };
  const client = new Client({ baseUrl: server.url, apiKey: null, refreshCookie: true, fetch: browserish });
  const auth = await client.auth.register({ email: email(), password: PASSWORD });
  assert.equal(auth.refreshToken, '');
  assert.equal(client.refreshToken, null);
  assert.match(cookie, /^pyth_on_refresh=/);
  // An access token that stopped working: refreshed through the cookie.
  client.token = null;
  assert.equal((await client.me.get()).id, auth.user.id);
  assert.ok(client.token);
  await client.auth.logout();
  assert.equal(cookie, '');
  await assert.rejects(client.me.get(), AuthenticationError);
});

test('audit: paging with an async iterator, and verify', async () => {
  const { client } = await newUser(server.url);
  for (let i = 0; i < 3; i++) await client.secrets.set(`S${i}`, `value-${i}-xxxx`);
  const page = await client.audit.list({ limit: 2 });
  assert.equal(page.entries.length, 2);
  assert.notEqual(page.nextCursor, null);
  /** @type {string[]} */
  const actions = [];
  for await (const entry of client.audit.entries({ pageSize: 2 })) actions.push(entry.action);
  assert.deepEqual(actions.filter((a) => a === 'secret.put').length, 3);
  assert.equal(actions.at(-1), 'auth.register');
  const secretsOnly = [];
  for await (const entry of client.audit.entries({ action: 'secret.' })) secretsOnly.push(entry.action);
  assert.equal(secretsOnly.length, 3);
  const verification = await client.audit.verify();
  assert.equal(verification.valid, true);
  assert.equal(verification.entries, actions.length);
});

test('packages and the egress allow-list', async () => {
  const { keyClient: client } = await newUser(server.url);
  const packages = await client.packages.list();
  assert.deepEqual(packages.packages, []);
  await assert.rejects(client.packages.add({ package: 'git+https://example.com/x.git' }),
    (/** @type {any} */ e) => e instanceof BadRequestError && e.code === 'invalid_package');
  await assert.rejects(client.packages.remove('requests', { language: 'python' }), NotFoundError);

  const none = await client.egress.get();
  assert.equal(none.hosts, null);
  const set = await client.egress.set(['pypi.org', '*.github.com']);
  assert.deepEqual([...(set.hosts ?? [])].sort(), ['*.github.com', 'pypi.org']);
  await client.egress.delete();
  await assert.rejects(client.egress.delete(), NotFoundError);
});

test('zero-knowledge: encrypt locally, store, list, run, delete', async () => {
  const { keyClient: client, auth } = await newUser(server.url);
  const password = 'my master password';
  const kdf = { m: 19456, t: 4 };
  const meta = await client.zk.put('hello.py', 'import sys\nprint("hello, zk", sys.argv[1])\n', password, kdf);
  assert.equal(meta.name, 'hello.py');
  assert.deepEqual(meta.kdf, { m: 19456, t: 4, p: 1 });
  assert.deepEqual((await client.zk.list()).items.map((i) => i.name), ['hello.py']);
  const run = await client.zk.run('hello.py', password, { args: ['there'] });
  assert.equal(run.output, 'hello, zk there\n');
  assert.equal(run.zeroKnowledge, true);
  await assert.rejects(client.zk.run('hello.py', 'not the password'),
    (/** @type {any} */ e) => e instanceof PermissionDeniedError && e.code === 'zk_wrong_password');

  // The server's test-only encryption opens with the local decrypt (same format).
  const payload = await client.zk.encryptOnServer({ code: 'print(2)', masterPassword: password, name: 'two.py' });
  const code = await decrypt(payload, password, auth.user.id, 'two.py');
  assert.equal(new TextDecoder().decode(code), 'print(2)');
  await client.zk.store('two.py', payload);
  assert.equal((await client.zk.run('two.py', password)).output, '2\n');

  await client.zk.delete('hello.py');
  await client.zk.delete('two.py');
  await assert.rejects(client.zk.delete('hello.py'), NotFoundError);
});

test('the README example runs as written', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has a js block');
  const source = block[1];
  assert.equal(source.trim().split('\n').length, 3);
  const { auth } = await newUser(server.url);
  const env = { ...process.env, PYTH_ON_URL: server.url, PYTH_ON_API_KEY: auth.apiKey };
  const output = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', source], { cwd: new URL('..', import.meta.url).pathname, env },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
  assert.equal(String(output).trim(), '42');
});

