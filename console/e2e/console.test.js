// The console in a real browser against a real server: every page's main path, one error
// path per page, keyboard use, a narrow screen, and no CSP violation or script error anywhere.
// Tests run in order and share one signed-in user, as a person would use the console.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, startStack } from './harness.js';

const EMAIL = `e2e-${Date.now()}@example.com`;
const PASSWORD = 'correct horse battery staple';
const SECRET_VALUE = 'tr0ub4dor-and-3';
const MASTER = 'a long master password for e2e';

let stack;
let page;

before(async () => {
  // Access tokens live 8 s, so the console refreshes its session several times during the run.
  stack = await startStack({ PYTH_ON_ACCESS_TOKEN_TTL_SECS: '8' });
  page = await stack.newPage();
});

after(async () => {
  await stack?.stop();
});

const alert = () => page.getByRole('alert');
const label = (name) => page.getByLabel(name, { exact: true });

async function go(hash, heading) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/** The editor's text (CodeMirror renders one element per line). */
const editorFocused = () => page.evaluate(() => Boolean(document.activeElement?.shadowRoot?.activeElement?.classList.contains('cm-content')));
const editorText = () => page.locator('.cm-content').evaluate((el) => Array.from(el.querySelectorAll('.cm-line'), (l) => l.textContent).join('\n'));

async function setCode(code) {
  await label('Code').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(code);
}

async function runCode(code, { language = 'python', stdin = '', args = '', timeoutMs = '' } = {}) {
  await go('#/run', 'Run code');
  await label('Language').selectOption(language);
  await setCode(code);
  await label('Standard input').fill(stdin);
  await label('Arguments').fill(args);
  if (timeoutMs) await label('Time limit (ms)').fill(timeoutMs);
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const result = page.getByTestId('run-result');
  await result.waitFor({ timeout: 30_000 });
  const stderr = page.getByTestId('stderr');
  return {
    stdout: await page.getByTestId('stdout').innerText(),
    stderr: (await stderr.count()) ? await stderr.innerText() : '',
    exitCode: Number(await page.getByTestId('exit-code').innerText()),
    outcome: await page.getByTestId('outcome').innerText(),
  };
}

test('the console is served at / and a new user registers and sees their first API key once', async () => {
  const response = await page.goto('/');
  assert.match(response.headers()['content-security-policy'], /frame-ancestors 'none'/);
  await label('Email').fill(EMAIL);
  await label('Password').fill(PASSWORD);
  await screenshot(page, 'sign-in');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  assert.match(await page.getByTestId('new-key').innerText(), /^pyo_/);
  await page.getByRole('link', { name: 'Secrets' }).click();
  await page.getByRole('heading', { level: 1, name: 'Secrets' }).waitFor();
  assert.equal(await page.getByTestId('new-key').count(), 0, 'the key is shown only once');
});

test('Python and JavaScript programs run and show output, exit code and timing', async () => {
  const py = await runCode('import sys\nprint("py says", sys.stdin.read().strip(), sys.argv[1:])\n', {
    stdin: 'hello',
    args: 'a b\nc',
  });
  assert.equal(py.stdout.trim(), "py says hello ['a b', 'c']");
  assert.equal(py.exitCode, 0);
  assert.match(await page.getByTestId('run-result').innerText(), /\d+ ms/);
  const js = await runCode("console.log('js says', 6 * 7)", { language: 'javascript' });
  assert.equal(js.stdout.trim(), 'js says 42');
  assert.equal(js.exitCode, 0);
  await screenshot(page, 'run');
});

test('a failing program shows its stderr and non-zero exit code as a failed run', async () => {
  const run = await runCode('import sys\nsys.stderr.write("boom\\n")\nsys.exit(3)\n');
  assert.equal(run.exitCode, 3);
  assert.match(run.stderr, /boom/);
  assert.match(await page.getByTestId('run-result').innerText(), /Failed/);
  await screenshot(page, 'run-failed');
});

test('a prompt becomes code from the model, lands in the editor and runs', async () => {
  await go('#/run', 'Run code');
  await label('Describe a program').fill('print a greeting');
  await page.getByRole('button', { name: 'Generate and run' }).click();
  await page.getByTestId('run-result').waitFor();
  assert.equal((await page.getByTestId('stdout').innerText()).trim(), 'generated hello');
  assert.match(await page.getByTestId('explanation').innerText(), /stand-in-model: Prints a greeting/);
  assert.equal((await editorText()).trim(), "print('generated hello')");
});

test('Ctrl+Enter in the editor runs the code without the mouse, twice, and from any field', async () => {
  await go('#/run', 'Run code');
  await setCode('print(2 + 2)');
  await page.keyboard.press('Control+Enter');
  await page.getByTestId('run-result').waitFor();
  assert.equal((await page.getByTestId('stdout').innerText()).trim(), '4');
  assert.ok(await editorFocused(), 'focus is back in the editor');
  await setCode('print(3 + 3)');
  await page.keyboard.press('Control+Enter');
  await page.getByTestId('stdout').getByText('6', { exact: true }).waitFor();
  // From another field of the page too.
  await setCode('print(4 + 4)');
  await label('Standard input').focus();
  await page.keyboard.press('Control+Enter');
  await page.getByTestId('stdout').getByText('8', { exact: true }).waitFor();
});

test('the editor highlights, numbers lines, indents, closes brackets, and Tab indents until Escape', async () => {
  await go('#/run', 'Run code');
  await label('Language').selectOption('python');
  await setCode('');
  await page.keyboard.type('def greet(name');
  await page.keyboard.press('End');
  await page.keyboard.type(':');
  await page.keyboard.press('Enter');
  await page.keyboard.type('return name');
  assert.equal(await editorText(), 'def greet(name):\n    return name', 'auto-indent after the colon, closed bracket');
  await page.keyboard.press('Home');
  await page.keyboard.press('Tab');
  assert.match(await editorText(), /\n {8}return name$/, 'Tab indents');
  assert.ok(await editorFocused(), 'Tab stayed in the editor');
  const highlighted = () => page.locator('.cm-line span[class]').count();
  assert.ok((await highlighted()) >= 2, 'Python keywords are highlighted');
  assert.ok((await page.locator('.cm-lineNumbers .cm-gutterElement').count()) >= 2, 'line numbers');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Tab');
  assert.ok(!(await editorFocused()), 'Escape then Tab leaves');
  await label('Language').selectOption('javascript');
  await setCode('const x = [1, 2];\nconsole.log(x.length);');
  assert.ok((await highlighted()) >= 2, 'JavaScript is highlighted');
  await page.keyboard.press('Control+Enter');
  await page.getByTestId('stdout').getByText('2', { exact: true }).waitFor();
  await screenshot(page, 'editor');
});

test('output streams live with an elapsed time, and Stop ends the run', async () => {
  await go('#/run', 'Run code');
  await label('Language').selectOption('python');
  await setCode('import time\nfor i in range(200):\n    print("tick", i, flush=True)\n    time.sleep(0.2)\n');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const live = page.getByTestId('live-stdout');
  await live.getByText(/tick 3/).waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId('elapsed').innerText(), /^\d+\.\d s$/);
  assert.notEqual(await page.getByTestId('elapsed').innerText(), '0.0 s');
  const editorBox = await page.getByRole('form', { name: 'Run code' }).boundingBox();
  const outputBox = await page.getByRole('region', { name: 'Output' }).boundingBox();
  assert.ok(outputBox.x >= editorBox.x + editorBox.width, 'editor and output side by side at 1280 px');
  await screenshot(page, 'run-streaming');
  await page.getByRole('button', { name: 'Stop' }).click();
  const result = page.getByTestId('run-result');
  await result.waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('outcome').innerText(), /Stopped by you after/);
  assert.match(await result.innerText(), /Stopped/);
  assert.match(await page.getByTestId('stdout').innerText(), /tick 0\ntick 1\ntick 2/);
});

test('outcomes are stated in words: time limit, memory, output cap; stderr on success is just "stderr"; ANSI is stripped', async () => {
  const slow = await runCode('while True:\n    pass\n', { timeoutMs: '1000' });
  assert.match(slow.outcome, /Stopped: time limit 1 s reached\./);
  await label('Memory limit (MB)').fill('64');
  const hungry = await runCode('b = bytearray(512 * 1024 * 1024)\nprint(len(b))\n');
  assert.match(hungry.outcome, /Stopped: out of memory \(64 MiB\)\./);
  await label('Memory limit (MB)').fill('256');
  const big = await runCode('import sys\nsys.stdout.write("x" * (2 * 1024 * 1024))\n', { timeoutMs: '10000' });
  assert.match(big.outcome, /Output truncated at the server's output limit/);
  const warn = await runCode('import sys\nprint("\\x1b[31mred\\x1b[0m")\nsys.stderr.write("careful\\n")\n');
  assert.equal(warn.stdout.trim(), 'red', 'ANSI colour codes are stripped');
  assert.equal(warn.exitCode, 0);
  assert.match(warn.stderr, /careful/);
  assert.match(warn.outcome, /Exited with code 0 after/);
  const result = page.getByTestId('run-result');
  assert.match(await result.getAttribute('class'), /succeeded/);
  assert.equal(await result.getByRole('heading', { name: 'stderr' }).count(), 1);
  assert.equal(await result.getByRole('heading', { name: 'Error' }).count(), 0);
  await screenshot(page, 'run-stderr-success');
});

test('files a run leaves come back: pictures drawn, every file downloadable', async () => {
  await go('#/run', 'Run code');
  await label('Output files').fill('*.png *.txt');
  const png = [
    'import struct, zlib',
    'def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))',
    'w, h = 40, 20',
    'raw = b"".join(b"\\0" + bytes([200, 40, 40]) * w for _ in range(h))',
    'data = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")',
    'open("red.png", "wb").write(data)',
    'open("notes.txt", "w").write("some notes")',
    'print("made 2 files")',
  ].join('\n');
  const run = await runCode(png);
  assert.equal(run.stdout.trim(), 'made 2 files');
  assert.equal(await page.getByTestId('output-file').count(), 2);
  const canvas = page.getByRole('img', { name: 'red.png' });
  await page.waitForFunction(() => document.querySelector('canvas.preview')?.width === 40);
  assert.equal(await canvas.count(), 1);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download notes.txt' }).click()]);
  assert.equal(download.suggestedFilename(), 'notes.txt');
  const { readFileSync } = await import('node:fs');
  assert.equal(readFileSync(await download.path(), 'utf8'), 'some notes');
  await screenshot(page, 'run-files');
  await label('Output files').fill('');
});

test('a 429 reads as a sentence with the wait from Retry-After', async () => {
  await page.route('**/api/v1/execute', (route) =>
    route.fulfill({
      status: 429,
      headers: { 'retry-after': '6', 'content-type': 'application/json' },
      body: JSON.stringify({ error: 'rate limit exceeded', code: 'rate_limited', requestId: 'e2e' }),
    }),
  );
  await go('#/run', 'Run code');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  assert.match(await alert().innerText(), /Too many requests: try again in 6 seconds\./);
  await page.unroute('**/api/v1/execute');
  await go('#/secrets', 'Secrets');
  assert.equal(await alert().count(), 0, 'the banner is gone after navigating');
});


test('the draft, language, inputs and limits survive a reload; recent runs reopen', async () => {
  const ran = await runCode('print("from history")\n', { stdin: 'hist' });
  assert.equal(ran.stdout.trim(), 'from history');
  await label('Language').selectOption('javascript');
  await setCode('console.log("draft survives")');
  await label('Standard input').fill('kept input');
  await label('Time limit (ms)').fill('4321');
  await page.reload();
  // Still signed in: the sign-in is resumed from the HttpOnly refresh cookie.
  await page.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  assert.equal(await editorText(), 'console.log("draft survives")');
  assert.equal(await label('Language').inputValue(), 'javascript');
  assert.equal(await label('Standard input').inputValue(), 'kept input');
  assert.equal(await label('Time limit (ms)').inputValue(), '4321');
  await go('#/secrets', 'Secrets');
  await go('#/run', 'Run code');
  assert.equal(await editorText(), 'console.log("draft survives")', 'a page switch keeps it too');
  const history = page.getByTestId('history');
  await history.getByText(/Recent runs \(\d+\)/).click();
  assert.match(await history.innerText(), /print\("from history"\)/);
  await screenshot(page, 'run-history');
  await history.getByRole('button', { name: 'Reopen run 1', exact: true }).click();
  assert.equal((await editorText()).trim(), 'print("from history")');
  assert.equal(await label('Language').inputValue(), 'python');
  assert.equal(await label('Standard input').inputValue(), 'hist');
  assert.ok(await editorFocused(), 'the reopened code is ready to edit');
  await label('Time limit (ms)').fill('5000');
});

test('dark mode follows the system setting', async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await go('#/run', 'Run code');
  const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(bg, 'rgb(13, 17, 23)');
  const editorBg = await page.locator('.cm-editor').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(editorBg, 'rgb(255, 255, 255)', 'the editor is dark too');
  await screenshot(page, 'run-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('axe-core finds no accessibility violations of any impact on any page', async () => {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const pages = [['#/run', 'Run code'], ['#/sessions', 'Sessions'], ['#/secrets', 'Secrets'], ['#/packages', 'Packages'], ['#/keys', 'API keys'], ['#/encrypted', 'Encrypted code'], ['#/audit', 'Audit log']];
  const found = [];
  for (const [hash, heading] of pages) {
    await go(hash, heading);
    await page.waitForTimeout(300);
    await page.evaluate(source);
    const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => JSON.stringify(n.target)).join(' ') })));
    for (const v of violations) found.push({ page: hash, ...v });
  }
  assert.deepEqual(found, [], 'no axe-core findings of any impact');
});

test('the console links to the API reference', async () => {
  await go('#/run', 'Run code');
  const link = page.getByRole('link', { name: 'API reference' });
  assert.equal(await link.getAttribute('href'), '/docs');
});

test('a secret is saved write-only and its value is redacted as *** in a run', async () => {
  await go('#/secrets', 'Secrets');
  await label('Name').fill('API_TOKEN');
  await label('Value').fill(SECRET_VALUE);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('cell', { name: 'API_TOKEN', exact: true }).waitFor();
  assert.ok(!(await page.content()).includes(SECRET_VALUE), 'the value is not on the page');
  await screenshot(page, 'secrets');
  const run = await runCode('import os\nprint("token:", os.environ["API_TOKEN"])\n');
  assert.equal(run.stdout.trim(), 'token: ***');
});

test('a deleted secret is gone from the list', async () => {
  await go('#/secrets', 'Secrets');
  await label('Name').fill('OLD_TOKEN');
  await label('Value').fill('old-value');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('button', { name: 'Delete secret OLD_TOKEN' }).click();
  await page.getByText('Deleted OLD_TOKEN.').waitFor();
  await page.getByRole('cell', { name: 'OLD_TOKEN', exact: true }).waitFor({ state: 'detached' });
  assert.equal(await page.getByRole('cell', { name: 'API_TOKEN', exact: true }).count(), 1);
});

test('a bad secret name is refused with the API message and code', async () => {
  await go('#/secrets', 'Secrets');
  await label('Name').fill('lower-case');
  await label('Value').fill('x');
  await page.getByRole('button', { name: 'Save secret' }).click();
  const text = await alert().innerText();
  assert.match(text, /Could not save the secret/);
  assert.match(text, /invalid_name · HTTP 400 · request /);
});

test('a package is added, installed from the index, and importable in a later run', async () => {
  await go('#/packages', 'Packages');
  await label('Language').selectOption('python');
  await label('Package').fill('pythonhello==1.0');
  await page.getByRole('button', { name: 'Add package' }).click();
  await page.getByRole('cell', { name: 'pythonhello==1.0', exact: true }).waitFor();
  const env = page.getByTestId('env-python');
  await env.getByText(/^(ready|install failed)$/).waitFor({ timeout: 60_000 });
  assert.match(await env.innerText(), /ready/);
  await screenshot(page, 'packages');
  const run = await runCode('import pythonhello\nprint(pythonhello.GREETING)\n');
  assert.equal(run.stdout.trim(), 'hello from pythonhello 1.0');
});

test('a run takes environment variables and extra packages for that run only', async () => {
  await go('#/run', 'Run code');
  await label('Environment variables').fill('GREETING=hi there\nEMPTY=');
  await label('Extra packages for this run').fill('pythonhello');
  const run = await runCode('import os, pythonhello\nprint(os.environ["GREETING"], repr(os.environ["EMPTY"]))\n');
  assert.equal(run.stdout.trim(), "hi there ''");
  await label('Environment variables').fill('lower=1');
  await label('Extra packages for this run').fill('');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  assert.match(await alert().innerText(), /The run was refused.*HTTP 400/s);
  assert.equal(await page.getByRole('checkbox', { name: /network/ }).isVisible(), false, 'egress is off');
  await label('Environment variables').fill('');
});

test('a removed package is gone from the list', async () => {
  await go('#/packages', 'Packages');
  await label('Language').selectOption('javascript');
  await label('Package').fill('left-pad@1.3.0');
  await page.getByRole('button', { name: 'Add package' }).click();
  await page.getByRole('cell', { name: 'left-pad@1.3.0', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Remove package left-pad (javascript)' }).click();
  await page.getByText('Removed left-pad.').waitFor();
  await page.getByRole('cell', { name: 'left-pad@1.3.0', exact: true }).waitFor({ state: 'detached' });
});

test('a package spec that is a URL is refused with the API message', async () => {
  await go('#/packages', 'Packages');
  await label('Package').fill('git+https://example.com/x.git');
  await page.getByRole('button', { name: 'Add package' }).click();
  assert.match(await alert().innerText(), /invalid_package · HTTP 400/);
});

test('an API key is created and shown once, listed, and stops working when revoked', async () => {
  await go('#/keys', 'API keys');
  await label('Name').fill('ci');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = await page.getByTestId('created-key').innerText();
  assert.match(key, /^pyo_/);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByRole('button', { name: 'Copy the API key' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key, 'the copy button copies the key');
  await page.getByRole('button', { name: 'Revoke key ci' }).waitFor();
  await screenshot(page, 'keys');
  const me = () => fetch(`${stack.base}/api/v1/me`, { headers: { 'x-api-key': key } });
  assert.equal((await me()).status, 200);
  await page.getByRole('button', { name: 'Revoke key ci' }).click();
  await page.getByText('Revoked "ci".').waitFor();
  await page.getByRole('button', { name: 'Revoke key ci' }).waitFor({ state: 'detached' });
  assert.equal((await me()).status, 401);
});

test('a key name over 64 characters is refused with the API message', async () => {
  await go('#/keys', 'API keys');
  await label('Name').fill('k'.repeat(65));
  await page.getByRole('button', { name: 'Create key' }).click();
  assert.match(await alert().innerText(), /name: .*validation_failed · HTTP 400/s);
});

test('code encrypted in the browser is stored as ciphertext and runs with the master password', async () => {
  const bodies = [];
  const record = (request) => bodies.push({ url: request.url(), body: request.postData() ?? '' });
  page.on('request', record);
  await go('#/encrypted', 'Encrypted code');
  await label('Name').fill('hello.py');
  await label('Code').fill('print("hello, zk")\n');
  const store = page.getByRole('form', { name: 'Encrypt and store code' });
  await store.getByLabel('Master password', { exact: true }).fill('abc');
  await store.getByLabel('Repeat the master password').fill('abc');
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  assert.match(await alert().innerText(), /at least 12 characters/, 'a short master password is refused');
  await store.getByLabel('Master password', { exact: true }).fill(MASTER);
  await store.getByLabel('Repeat the master password').fill(MASTER);
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  await page.getByRole('cell', { name: 'hello.py', exact: true }).waitFor({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Run hello.py' }).click();
  await page.getByRole('form', { name: 'Run hello.py' }).getByLabel('Master password').fill(MASTER);
  await page.getByRole('button', { name: 'Decrypt and run' }).click();
  await page.getByTestId('run-result').waitFor({ timeout: 30_000 });
  assert.equal((await page.getByTestId('stdout').innerText()).trim(), 'hello, zk');
  await screenshot(page, 'encrypted');
  page.off('request', record);
  const upload = bodies.find((b) => b.url.endsWith('/api/v1/zk/code/hello.py'));
  assert.ok(upload, 'the payload was uploaded');
  assert.ok(!upload.body.includes('hello, zk') && !upload.body.includes(MASTER), 'only ciphertext is uploaded');
  const withPassword = bodies.filter((b) => b.body.includes(MASTER)).map((b) => new URL(b.url).pathname);
  assert.deepEqual(withPassword, ['/api/v1/zk/execute/hello.py'], 'the password leaves only in the execute call');
});

test('a wrong master password is refused with a clear message and nothing runs', async () => {
  await go('#/encrypted', 'Encrypted code');
  await page.getByRole('button', { name: 'Run hello.py' }).click();
  await page.getByRole('form', { name: 'Run hello.py' }).getByLabel('Master password').fill('not the password');
  await page.getByRole('button', { name: 'Decrypt and run' }).click();
  const text = await alert().innerText();
  assert.match(text, /Could not run hello.py/);
  assert.match(text, /zk_wrong_password · HTTP 403/);
  assert.equal(await page.getByTestId('run-result').count(), 0);
  await screenshot(page, 'encrypted-wrong-password');
});

test('a deleted encrypted program is gone from the list', async () => {
  await go('#/encrypted', 'Encrypted code');
  const store = page.getByRole('form', { name: 'Encrypt and store code' });
  await store.getByLabel('Name').fill('scratch.js');
  await store.getByLabel('Language').selectOption('javascript');
  await store.getByLabel('Code').fill('console.log(1)');
  await store.getByLabel('Master password', { exact: true }).fill(MASTER);
  await store.getByLabel('Repeat the master password').fill(MASTER);
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  await page.getByRole('button', { name: 'Delete scratch.js' }).click();
  await page.getByText('Deleted scratch.js.').waitFor();
  await page.getByRole('cell', { name: 'scratch.js', exact: true }).waitFor({ state: 'detached' });
});

test('the audit log shows the actions, verifies its chain, filters by prefix and pages', async () => {
  await go('#/audit', 'Audit log');
  await page.getByTestId('audit-verified').getByText('Chain verified.').waitFor();
  await label('Per page').selectOption('200');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('region', { name: 'Audit entries' }).getByText('auth.register').waitFor();
  const table = page.getByRole('region', { name: 'Audit entries' });
  await table.waitFor();
  const text = await table.innerText();
  for (const action of ['auth.register', 'auth.refresh', 'execute', 'secret.put', 'package.add', 'key.create', 'key.revoke', 'zk.store', 'zk.execute', 'zk.wrong_password', 'zk.delete', 'secret.delete', 'package.remove', 'generate']) {
    assert.ok(text.includes(action), `${action} is in the log`);
  }
  assert.match(text, /failure: (timed out|memory exceeded|exit code)/, 'a failed run says so and why');
  const first = table.locator('tbody details').first();
  await first.locator('summary').click();
  assert.match(await first.locator('pre').innerText(), /^\{/, 'details expand to the whole JSON');
  await screenshot(page, 'audit');
  await label('Action starts with').fill('secret.');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('execute').first().waitFor({ state: 'detached' }).catch(() => {});
  const actions = await table.locator('tbody td:nth-child(2)').allInnerTexts();
  assert.ok(actions.includes('secret.put') && actions.includes('secret.delete'), String(actions));
  assert.ok(actions.every((a) => a.startsWith('secret.')), String(actions));
  await label('Action starts with').fill('');
  await label('Per page').selectOption('10');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.getByText('Page 2').waitFor();
  await page.getByRole('button', { name: '← Newer' }).click();
  await page.getByText('Page 1').waitFor();
});

test('an over-long audit filter is refused with the API message', async () => {
  await go('#/audit', 'Audit log');
  await label('Action starts with').fill('a'.repeat(65));
  await page.getByRole('button', { name: 'Apply' }).click();
  assert.match(await alert().innerText(), /action: .*validation_failed · HTTP 400/s);
});

test('sign-out forgets the session, a wrong password is refused, the right one signs in', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You are signed out.').waitFor();
  await label('Email').fill(EMAIL);
  await label('Password').fill('not the right password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await alert().innerText(), /Could not sign in.*invalid_credentials · HTTP 401/s);
  await screenshot(page, 'sign-in-wrong-password');
  await label('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
});

test('on a narrow screen every page fits the width without sideways scrolling', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, heading] of [['#/run', 'Run code'], ['#/sessions', 'Sessions'], ['#/secrets', 'Secrets'], ['#/packages', 'Packages'], ['#/keys', 'API keys'], ['#/encrypted', 'Encrypted code'], ['#/audit', 'Audit log']]) {
    await go(hash, heading);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${hash} overflows by ${overflow}px`);
  }
  await go('#/run', 'Run code');
  const editorBox = await page.getByRole('form', { name: 'Run code' }).boundingBox();
  const outputBox = await page.getByRole('region', { name: 'Output' }).boundingBox();
  assert.ok(outputBox.y >= editorBox.y + editorBox.height, 'the output sits below the editor on a phone');
  await screenshot(page, 'run-narrow');
});

test('a second tab is signed in too, scripts never see the refresh token, and signing out ends both', async () => {
  await go('#/run', 'Run code');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the refresh cookie is HttpOnly');
  const second = await page.context().newPage();
  await second.goto(page.url());
  await second.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  await second.getByRole('button', { name: 'Sign out' }).click();
  await second.getByText('You are signed out.').waitFor();
  await second.reload();
  await second.getByRole('button', { name: 'Sign in' }).waitFor();
  await second.close();
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await label('Email').fill(EMAIL);
  await label('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
});

test('by keyboard alone: after signing out a reload asks to sign in, Enter signs in, Shift+Tab reaches the API reference and the pages', async () => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You are signed out.').waitFor();
  await page.reload();
  const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim() || document.activeElement?.getAttribute('name'));
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await focused(), 'Pyth-On console', 'the skip link focuses the page heading');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'email');
  await page.keyboard.type(EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  assert.equal(await focused(), 'Run code', 'focus moves to the page heading');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'Sign out');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'API reference');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'Audit log');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  assert.equal(await focused(), 'Audit log');
});

test('when a refresh is refused the session ends with a message and the sign-in form', async () => {
  await page.route('**/api/refresh', (route) =>
    route.fulfill({
      status: 401,
      contentType: 'application/json',
      body: JSON.stringify({ error: 'refresh token revoked', code: 'unauthorized', requestId: 'e2e' }),
    }),
  );
  // The console refreshes a minute before expiry, here at most 5 s after signing in.
  const text = await alert().innerText({ timeout: 15_000 });
  assert.match(text, /Your session ended \(refresh token revoked\)\. Sign in again\./);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.unroute('**/api/refresh');
});

test('no page raised a script error or a Content-Security-Policy violation', () => {
  assert.deepEqual(stack.problems, []);
});
