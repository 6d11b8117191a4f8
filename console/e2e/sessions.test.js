// The Sessions page in a real browser against a real server: a notebook whose cells keep
// their state, stream as they run and stop on request (Python and JavaScript), the session's
// files uploaded, downloaded and deleted, rich results (a PNG drawn, HTML in a sandboxed
// frame), axe-core on the page full of results and on /docs, and no CSP violation or script
// error anywhere. Tests run in order and share one signed-in user.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, screenshot, startStack } from './harness.js';

let stack;
let page;

const label = (name) => page.getByLabel(name, { exact: true });

async function go(hash, heading) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

before(async () => {
  stack = await startStack();
  page = await stack.newPage();
  await page.goto('/');
  await label('Email').fill(`e2e-sessions-${Date.now()}@example.com`);
  await label('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
});

after(async () => {
  await stack?.stop();
});

test('a session runs cells as a notebook: state carries over, images and errors show, and it ends', async () => {
  await go('#/sessions', 'Sessions');
  await page.getByText('No open sessions.').waitFor();
  await label('Language').selectOption('python');
  await page.getByRole('button', { name: 'New session' }).click();
  const cellCode = label('Cell code');
  await cellCode.waitFor({ timeout: 30_000 });
  const runCell = async (code, count) => {
    await cellCode.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(code);
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('cell').nth(count - 1).waitFor({ timeout: 30_000 });
    return page.getByTestId('cell').nth(count - 1);
  };
  await runCell('x = 20\nprint("set x")', 1);
  const sum = await runCell('x + 22', 2);
  assert.equal((await sum.getByTestId('cell-result').innerText()).trim(), '42');
  const picture = [
    'import struct, zlib',
    'def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))',
    'raw = b"".join(b"\\0" + bytes([40, 90, 200]) * 30 for _ in range(12))',
    'class Swatch:',
    '    def _repr_png_(self):',
    '        return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30, 12, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")',
    'Swatch()',
  ].join('\n');
  const image = await runCell(picture, 3);
  await image.getByRole('img', { name: 'Cell 3 image' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('canvas.preview')[0]?.width === 30);
  const failing = await runCell('1 / 0', 4);
  assert.match(await failing.getByTestId('cell-error').innerText(), /ZeroDivisionError/);
  assert.match(await failing.innerText(), /Raised ZeroDivisionError/);
  await screenshot(page, 'sessions');
  await go('#/run', 'Run code');
  await go('#/sessions', 'Sessions');
  await page.getByTestId('cell').nth(3).waitFor();
  assert.equal(await page.getByTestId('cell').count(), 4, 'the notebook is still there after a page switch');
  const short = await page.getByTestId('session-id').innerText();
  await page.getByRole('button', { name: `End session ${short}` }).click();
  await page.getByText('Session ended.').waitFor();
  await page.getByText('No open sessions.').waitFor();
  assert.equal(await page.getByTestId('cell').count(), 0);
});

/** Opens a new session of `language` on the Sessions page; resolves once its editor is there. */
async function newSession(language = 'python') {
  await go('#/sessions', 'Sessions');
  await label('Language').selectOption(language);
  const shown = page.getByTestId('session-id');
  const before = (await shown.count()) ? await shown.innerText() : null;
  await page.getByRole('button', { name: 'New session' }).click();
  await page.waitForFunction((old) => {
    const id = document.querySelector('[data-testid="session-id"]')?.textContent;
    return id && id !== old;
  }, before, { timeout: 30_000 });
  await label('Cell code').waitFor({ timeout: 30_000 });
}

/** Types `code` in the next-cell editor and runs it with Ctrl+Enter (without waiting). */
async function sendCell(code) {
  await label('Cell code').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(code);
  await page.keyboard.press('Control+Enter');
}

async function finishedCell(n) {
  const cell = page.getByTestId('cell').nth(n - 1);
  await cell.waitFor({ timeout: 30_000 });
  return cell;
}

test('a session cell streams its output with an elapsed time, Stop interrupts it and the variables stay', async () => {
  await newSession('python');
  await sendCell('kept = 41');
  await finishedCell(1);
  await sendCell('import time\nfor i in range(1000):\n    print("tick", i, flush=True)\n    time.sleep(0.2)');
  const running = page.getByTestId('cell-running');
  await running.getByTestId('cell-live-stdout').getByText(/tick 3/).waitFor({ timeout: 30_000 });
  const elapsed = await running.getByTestId('cell-elapsed').innerText();
  assert.match(elapsed, /^\d+\.\d s$/);
  assert.notEqual(elapsed, '0.0 s');
  assert.equal(await page.getByTestId('cell').count(), 1, 'the running cell is not counted as finished');
  await screenshot(page, 'sessions-streaming');
  await running.getByRole('button', { name: 'Stop' }).click();
  const stopped = await finishedCell(2);
  assert.match(await stopped.getByTestId('cell-outcome').innerText(), /Stopped by you after .*the session and its variables stay/);
  assert.match(await stopped.getByTestId('cell-error').innerText(), /KeyboardInterrupt/);
  assert.match(await stopped.getByTestId('stdout').innerText(), /tick 0\ntick 1\ntick 2/);
  await sendCell('kept + 1');
  const after = await finishedCell(3);
  assert.equal((await after.getByTestId('cell-result').innerText()).trim(), '42');
  const short = await page.getByTestId('session-id').innerText();
  await page.getByRole('button', { name: `End session ${short}` }).click();
  await page.getByText('Session ended.').waitFor();
});

test('a JavaScript cell in a loop is stopped too and its session keeps its bindings', async () => {
  await newSession('javascript');
  await sendCell('let kept = 6');
  await finishedCell(1);
  await sendCell('console.log("spinning"); while (true) {}');
  const running = page.getByTestId('cell-running');
  await running.getByTestId('cell-live-stdout').getByText('spinning').waitFor({ timeout: 30_000 });
  await running.getByRole('button', { name: 'Stop' }).click();
  const stopped = await finishedCell(2);
  assert.match(await stopped.getByTestId('cell-outcome').innerText(), /Stopped by you/);
  await sendCell('kept * 7');
  assert.equal((await (await finishedCell(3)).getByTestId('cell-result').first().innerText()).trim(), '42');
  const short = await page.getByTestId('session-id').innerText();
  await page.getByRole('button', { name: `End session ${short}` }).click();
  await page.getByText('Session ended.').waitFor();
});

test('session files: a file picked here is uploaded, read by a cell, a file a cell wrote is downloaded, and files are deleted', async () => {
  await newSession('python');
  const files = page.getByRole('region', { name: 'Session files' });
  await files.getByText('No files here yet.').waitFor();
  await files.getByLabel('File to upload').setInputFiles({ name: 'sales.csv', mimeType: 'text/csv', buffer: Buffer.from('month,sales\n1,10\n2,30\n') });
  await files.getByRole('button', { name: 'Upload', exact: true }).click();
  await files.getByText('Uploaded sales.csv (22 B).').waitFor();
  await files.getByTestId('session-file').filter({ hasText: 'sales.csv' }).waitFor();
  await sendCell('import csv, os\nrows = list(csv.DictReader(open("sales.csv")))\nos.makedirs("out", exist_ok=True)\nopen("out/total.txt", "w").write(str(sum(int(r["sales"]) for r in rows)))\nlen(rows)');
  const read = await finishedCell(1);
  assert.equal((await read.getByTestId('cell-result').innerText()).trim(), '2');
  await files.getByRole('button', { name: 'Open folder out' }).click();
  await files.getByRole('heading', { name: 'Files in /work/out' }).waitFor();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    files.getByRole('button', { name: 'Download out/total.txt' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'total.txt');
  const { readFileSync } = await import('node:fs');
  assert.equal(readFileSync(await download.path(), 'utf8'), '40');
  await screenshot(page, 'sessions-files');
  await files.getByRole('button', { name: 'Up one level' }).click();
  await files.getByRole('button', { name: 'Delete sales.csv' }).click();
  await files.getByText('Deleted sales.csv.').waitFor();
  assert.equal(await files.getByTestId('session-file').filter({ hasText: 'sales.csv' }).count(), 0);
  await sendCell('import os\nsorted(os.listdir("."))');
  assert.equal((await (await finishedCell(2)).getByTestId('cell-result').innerText()).trim(), "['out']");
});

test('an HTML result is rendered in a sandboxed frame without its scripts, styles or remote images', async () => {
  const html = '<table><thead><tr><th>month</th><th>sales</th></tr></thead><tbody><tr><td>1</td><td>10</td></tr></tbody></table>'
    + '<script>parent.document.title = "pwned"</script><style>td { color: red }</style><img src="https://example.com/x.png" alt="remote"><p onclick="alert(1)" style="color: red">note</p>';
  await sendCell(`class Table:\n    def _repr_html_(self):\n        return ${JSON.stringify(html)}\nTable()`);
  const cell = await finishedCell(3);
  const frame = cell.getByTestId('cell-html');
  assert.equal(await frame.getAttribute('sandbox'), '', 'a sandbox with no permissions');
  const srcdoc = await frame.getAttribute('srcdoc');
  for (const gone of ['<script', '<style', '<img', 'onclick', 'style=', 'example.com']) assert.ok(!srcdoc.includes(gone), `${gone} left in ${srcdoc}`);
  const inside = page.frameLocator('[data-testid="cell-html"]');
  assert.equal(await inside.locator('tbody td').first().innerText(), '1');
  assert.equal(await inside.locator('p').innerText(), 'note');
  const border = () => inside.locator('tbody td').first().evaluate((td) => getComputedStyle(td).borderTopStyle);
  for (let i = 0; i < 50 && (await border()) !== 'solid'; i++) await page.waitForTimeout(100);
  assert.equal(await border(), 'solid', "the frame's own stylesheet applies");
  assert.notEqual(await page.title(), 'pwned');
  await cell.getByText('HTML source').click();
  assert.match(await cell.locator('.html-source pre').innerText(), /<script>/);
  await screenshot(page, 'sessions-html');
});

test('axe-core finds nothing on the Sessions page with results and files, nor on /docs in light and dark mode, which fits a phone', async () => {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const check = async (where) => {
    await page.evaluate(source);
    const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => JSON.stringify(n.target)).join(' ') })));
    return violations.map((v) => ({ where, ...v }));
  };
  const found = [];
  assert.ok((await page.getByTestId('cell').count()) >= 3, 'the notebook holds results');
  found.push(...(await check('#/sessions with results')));
  const docs = await page.context().newPage();
  for (const scheme of ['light', 'dark']) {
    await docs.emulateMedia({ colorScheme: scheme });
    await docs.goto('/docs');
    await docs.getByRole('heading', { level: 1, name: /API reference/ }).waitFor();
    await docs.evaluate(source);
    const violations = await docs.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })));
    found.push(...violations.map((v) => ({ where: `/docs (${scheme})`, ...v })));
  }
  await docs.getByRole('heading', { level: 3, name: /POST \/api\/v1\/sessions\/\{id\}\/interrupt/ }).waitFor();
  await docs.emulateMedia({ colorScheme: 'light' });
  await docs.screenshot({ path: join(ARTIFACTS, 'docs.png') }); // the top: the page is long
  await docs.setViewportSize({ width: 390, height: 844 });
  const overflow = await docs.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `/docs overflows a phone by ${overflow}px`);
  await docs.close();
  assert.deepEqual(found, [], 'no axe-core findings of any impact');
  const short = await page.getByTestId('session-id').innerText();
  await page.getByRole('button', { name: `End session ${short}` }).click();
  await page.getByText('Session ended.').waitFor();
});

test('no page raised a script error or a Content-Security-Policy violation', () => {
  assert.deepEqual(stack.problems, []);
});
