// Accounts in a real browser against a real server in `invite` mode, whose first admin is
// made on the command line as an operator does (`pyth-on users create --admin`, the password
// on stdin): invitations created on the Admin page and used on the sign-in page, the Account
// page (secrets default, password change ending another browser's sign-in, ending a sign-in
// from the list, deleting the account), an admin disabling a user, the last admin refused in
// words, accounts created and deleted by the admin, axe-core and a phone on the new pages, and
// a `closed` server's sign-in page. Tests run in order; each browser is its own context.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { screenshot, startStack } from './harness.js';

const ADMIN = 'ops@example.com';
const ADMIN_PASSWORD = "the operator's own passphrase";
const USER = `ada-${Date.now()}@example.com`;
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase for ada';

let stack;
let admin; // the admin's browser
let ada; // the invited user's browser
let invitationCode;

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function go(page, hash, heading) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

async function signIn(page, email, password) {
  await page.goto('/');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Waits for the sign-in form and returns the alert or status shown above it. */
async function signedOut(page) {
  await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 15_000 });
  return page.locator('main .msg').first().innerText();
}

async function axe(page, where) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => JSON.stringify(n.target)).join(' ') })));
  return violations.map((v) => ({ where, ...v }));
}

const userRow = (email) => admin.locator(`[data-testid="user"][data-email="${email}"]`);

before(async () => {
  stack = await startStack(
    { PYTH_ON_REGISTRATION: 'invite' },
    { prepare: (cli) => assert.match(cli(['users', 'create', '--admin', ADMIN], ADMIN_PASSWORD), /created admin ops@example\.com/) },
  );
  admin = await stack.newPage();
  ada = await stack.newPage();
});

after(async () => {
  await stack?.stop();
});

test('the first admin, made on the command line, has an Admin page and creates an invitation whose code is shown once', async () => {
  await signIn(admin, ADMIN, ADMIN_PASSWORD);
  await admin.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  await admin.getByRole('navigation').getByRole('link', { name: 'Admin' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
  await userRow(ADMIN).getByText('you').waitFor();
  assert.match(await userRow(ADMIN).innerText(), /Administrator/);
  // Each account's use of its quotas today, from the list's `usage`.
  assert.match(await userRow(ADMIN).innerText(), /0 \/ 2000 runs · 0\.0 \/ 3600 CPU s · 0\.0 \/ 1024 MB/);
  await admin.getByText('Registration on this server is invite').waitFor();
  await admin.getByLabel('Note', { exact: true }).fill('for Ada');
  await admin.getByLabel('Expires in (hours)').fill('2');
  await admin.getByRole('button', { name: 'Create invitation' }).click();
  invitationCode = await admin.getByTestId('invitation-code').innerText();
  assert.match(invitationCode, /^pyi_/);
  await admin.getByRole('button', { name: 'Copy the invitation code' }).waitFor();
  const row = admin.getByTestId('invitation').filter({ hasText: 'for Ada' });
  assert.match(await row.innerText(), /Unused/);
});

test('invite mode: the sign-in page asks for a code, refuses none and a wrong one in words, and the invited user gets in without an Admin page', async () => {
  await ada.goto('/');
  const code = ada.getByLabel('Invitation code');
  await code.waitFor();
  await ada.getByLabel('Email', { exact: true }).fill(USER);
  await ada.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await ada.getByRole('button', { name: 'Create account' }).click();
  assert.match(await ada.getByRole('alert').innerText(), /This server needs an invitation code to create an account: ask an administrator for one\./);
  await code.fill('pyi_not-a-real-code');
  await ada.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await ada.getByRole('button', { name: 'Create account' }).click();
  await ada.getByRole('alert').getByText(/This invitation code is unknown, already used or expired/).waitFor();
  await code.fill(invitationCode);
  await ada.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await ada.getByRole('button', { name: 'Create account' }).click();
  await ada.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  assert.equal(await ada.getByRole('navigation').getByRole('link', { name: 'Admin' }).count(), 0);
  await ada.evaluate(() => (location.hash = '#/admin'));
  await ada.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  // The admin sees the invitation used, by whom.
  await go(admin, '#/run', 'Run code');
  await go(admin, '#/admin', 'Administration');
  await admin.getByTestId('invitation').filter({ hasText: `Used by ${USER}` }).waitFor();
  await userRow(USER).waitFor();
});

test('the Account page shows email and role and keeps the secrets default; a run and a session name their secrets', async () => {
  await go(ada, '#/secrets', 'Secrets');
  await ada.getByLabel('Name', { exact: true }).fill('E2E_TOKEN');
  await ada.getByLabel('Value', { exact: true }).fill('sekrit-value-42');
  await ada.getByRole('button', { name: 'Save secret' }).click();
  await ada.getByText(/Saved E2E_TOKEN/).waitFor();
  await go(ada, '#/account', 'Your account');
  assert.equal(await ada.getByTestId('account-email').innerText(), USER);
  assert.equal(await ada.getByTestId('account-role').innerText(), 'User');
  assert.ok(await ada.getByLabel(/All my secrets/).isChecked(), 'the default is all');
  await ada.getByLabel(/None: only the secrets a request names/).check();
  await ada.getByRole('form', { name: 'Secrets a run gets' }).getByRole('button', { name: 'Save' }).click();
  await ada.getByText('Saved: a request that names no secrets now gets none.').waitFor();
  await ada.reload();
  await ada.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  await ada.waitForFunction(() => document.querySelector('input[value="none"]')?.checked === true);

  const run = async (secrets) => {
    await go(ada, '#/run', 'Run code');
    await ada.getByLabel('Code', { exact: true }).click();
    await ada.keyboard.press('ControlOrMeta+A');
    await ada.keyboard.press('Delete');
    await ada.keyboard.insertText('import os\nprint(os.environ.get("E2E_TOKEN", "absent"))');
    await ada.getByLabel('Secrets', { exact: true }).fill(secrets);
    await ada.getByRole('button', { name: 'Run', exact: true }).click();
    await ada.getByTestId('run-result').waitFor({ timeout: 30_000 });
    return (await ada.getByTestId('stdout').innerText()).trim();
  };
  assert.equal(await run(''), 'absent', 'the account default (none) applies');
  assert.equal(await run('E2E_TOKEN'), '***', 'a named secret is given, and redacted');
  await go(ada, '#/sessions', 'Sessions');
  await ada.getByLabel('Secrets', { exact: true }).fill('NOT_MINE');
  await ada.getByRole('button', { name: 'New session' }).click();
  assert.match(await ada.getByRole('alert').innerText(), /unknown_secret/);
});

test('changing the password ends the other browser’s sign-in, which lands on the sign-in page', async () => {
  const other = await stack.newPage();
  await signIn(other, USER, PASSWORD);
  await other.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  await go(ada, '#/account', 'Your account');
  await ada.getByTestId('sign-in').nth(1).waitFor();
  assert.equal(await ada.getByTestId('sign-in').count(), 2);
  await ada.getByLabel('Current password').fill('not my password at all');
  await ada.getByLabel('New password').fill(NEW_PASSWORD);
  await ada.getByRole('button', { name: 'Change password' }).click();
  assert.match(await ada.getByRole('alert').innerText(), /The password is wrong\./);
  await ada.getByLabel('Current password').fill(PASSWORD);
  await ada.getByLabel('New password').fill(NEW_PASSWORD);
  await ada.getByRole('button', { name: 'Change password' }).click();
  await ada.getByText(/Password changed\. Every other sign-in of this account has ended; this browser stays signed in\./).waitFor();
  await ada.waitForFunction(() => document.querySelectorAll('[data-testid="sign-in"]').length === 1);
  await other.evaluate(() => (location.hash = '#/keys'));
  assert.match(await signedOut(other), /Your session ended/);
  // This browser is still in.
  await go(ada, '#/keys', 'API keys');
  await ada.getByText('No live keys.').or(ada.getByRole('region', { name: 'Your API keys' })).waitFor();
  await other.context().close();
});

test('ending a sign-in from the list signs that browser out; this one is marked', async () => {
  const other = await stack.newPage();
  await signIn(other, USER, NEW_PASSWORD);
  await other.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  await go(ada, '#/run', 'Run code');
  await go(ada, '#/account', 'Your account');
  await ada.getByTestId('sign-in').nth(1).waitFor();
  const mine = ada.getByTestId('sign-in').filter({ hasText: 'this browser' });
  assert.equal(await mine.count(), 1);
  await ada.getByRole('button', { name: /^End the sign-in of / }).click();
  await ada.getByText(/Ended the sign-in of .*: that browser or client is signed out at its next request\./).waitFor();
  await ada.waitForFunction(() => document.querySelectorAll('[data-testid="sign-in"]').length === 1);
  await other.evaluate(() => (location.hash = '#/secrets'));
  assert.match(await signedOut(other), /Your session ended/);
  await other.context().close();
  await screenshot(ada, 'account');
});

test('an admin disables a user: the user’s next action ends with the sentence, signing in is refused in words, and enabling lets them back', async () => {
  await go(admin, '#/run', 'Run code');
  await go(admin, '#/admin', 'Administration');
  await admin.getByRole('button', { name: `Disable ${USER}` }).click();
  await admin.getByText(`${USER}: disabled.`, { exact: false }).waitFor();
  await userRow(USER).getByText(/^Disabled /).waitFor();
  // The page's first request is refused, which may be before its heading is seen.
  await ada.evaluate(() => (location.hash = '#/keys'));
  assert.equal(await signedOut(ada), 'This account is disabled: ask an administrator.');
  await signIn(ada, USER, NEW_PASSWORD);
  assert.match(await ada.getByRole('alert').innerText(), /This account is disabled: ask an administrator\./);
  await admin.getByRole('button', { name: `Enable ${USER}` }).click();
  await admin.getByText(`${USER}: enabled again.`).waitFor();
  await signIn(ada, USER, NEW_PASSWORD);
  await ada.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
});

test('the last admin cannot make itself a user or disable itself, and is told why in words', async () => {
  await admin.getByRole('button', { name: `Make user ${ADMIN}` }).click();
  assert.match(await admin.getByRole('alert').innerText(), /This is the last enabled administrator: the server must keep one\. Make another account an administrator first\./);
  await admin.getByRole('button', { name: `Disable ${ADMIN}` }).click();
  await admin.getByRole('alert').getByText(/Could not change ops@example\.com/).waitFor();
  assert.match(await admin.getByRole('alert').innerText(), /last enabled administrator/);
  assert.match(await userRow(ADMIN).innerText(), /Administrator/);
});

test('an admin creates an account with a generated password shown once, promotes it (who then steps down) and deletes it by typing its email', async () => {
  const newbie = `newbie-${Date.now()}@example.com`;
  const form = admin.getByRole('form', { name: 'Create an account' });
  await form.getByLabel('Email', { exact: true }).fill(newbie);
  await form.getByRole('button', { name: 'Create account' }).click();
  const generated = await admin.getByTestId('generated-password').innerText();
  assert.ok(generated.length >= 12, generated);
  await admin.getByRole('button', { name: `Copy the password of ${newbie}` }).waitFor();
  await userRow(newbie).waitFor();
  await screenshot(admin, 'admin');
  const theirs = await stack.newPage();
  await signIn(theirs, newbie, generated);
  await theirs.getByRole('heading', { level: 1, name: 'Run code' }).waitFor();
  const adminLink = theirs.getByRole('navigation').getByRole('link', { name: 'Admin' });
  assert.equal(await adminLink.count(), 0);
  // Made an admin while signed in: the role is read again on a reload.
  await admin.getByRole('button', { name: `Make admin ${newbie}` }).click();
  await admin.getByText(`${newbie}: is now an administrator.`).waitFor();
  await theirs.reload();
  await adminLink.click();
  await theirs.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
  // With two admins, one may step down; its navigation loses the Admin page at once.
  await theirs.getByRole('button', { name: `Make user ${newbie}` }).click();
  await theirs.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  assert.equal(await theirs.getByTestId('account-role').innerText(), 'User');
  assert.equal(await adminLink.count(), 0);
  await theirs.context().close();
  await go(admin, '#/run', 'Run code');
  await go(admin, '#/admin', 'Administration');

  await admin.getByRole('button', { name: `Delete ${newbie}` }).click();
  const confirm = admin.getByRole('form', { name: `Delete ${newbie}` });
  const remove = confirm.getByRole('button', { name: 'Delete this account' });
  assert.ok(await remove.isDisabled(), 'disabled until the email is typed');
  await confirm.getByLabel('Type the email to confirm').fill('someone-else@example.com');
  assert.ok(await remove.isDisabled());
  await confirm.getByLabel('Type the email to confirm').fill(newbie);
  await remove.click();
  await admin.getByText(`${newbie} is deleted, with everything in it.`).waitFor();
  assert.equal(await userRow(newbie).count(), 0);
});

test('axe-core finds nothing on the Account and Admin pages (light and dark) nor the invite sign-in page, and both pages fit a phone with every action in view', async () => {
  const found = [];
  for (const scheme of ['light', 'dark']) {
    await admin.emulateMedia({ colorScheme: scheme });
    await go(admin, '#/account', 'Your account');
    await admin.getByTestId('sign-in').first().waitFor();
    found.push(...(await axe(admin, `#/account (${scheme})`)));
    await go(admin, '#/admin', 'Administration');
    await admin.getByTestId('invitation').first().waitFor();
    found.push(...(await axe(admin, `#/admin (${scheme})`)));
  }
  const visitor = await stack.newPage();
  await visitor.goto('/');
  await visitor.getByLabel('Invitation code').waitFor();
  found.push(...(await axe(visitor, 'sign-in (invite)')));
  await visitor.context().close();
  await admin.emulateMedia({ colorScheme: 'light' });

  await admin.setViewportSize({ width: 390, height: 844 });
  for (const [hash, heading, rows] of [['#/account', 'Your account', 'sign-in'], ['#/admin', 'Administration', 'user']]) {
    await go(admin, '#/run', 'Run code');
    await go(admin, hash, heading);
    await admin.getByTestId(rows).first().waitFor();
    const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${hash} overflows a phone by ${overflow}px`);
    const outside = await admin.evaluate(() =>
      [...document.querySelectorAll('main button, main input, main select')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => {
          const box = el.getBoundingClientRect();
          const wrap = el.closest('.table-wrap');
          return box.right > window.innerWidth || box.left < 0 || (wrap && wrap.scrollWidth > wrap.clientWidth);
        })
        .map((el) => el.getAttribute('aria-label') || el.textContent || el.getAttribute('name')),
    );
    assert.deepEqual(outside, [], `${hash}: controls out of view at 390 px`);
    await screenshot(admin, `${hash.slice(2)}-narrow`);
  }
  await admin.setViewportSize({ width: 1280, height: 900 });
  assert.deepEqual(found, [], 'no axe-core findings of any impact');
});

test('a user deletes their own account with the password, confirmed in words, and lands on the sign-in page with a sentence', async () => {
  await go(ada, '#/account', 'Your account');
  const form = ada.getByRole('form', { name: 'Delete the account' });
  await form.getByLabel('Password', { exact: true }).fill('not my password at all');
  await form.getByRole('button', { name: 'Delete my account…' }).click();
  await form.getByText('This cannot be undone.', { exact: false }).waitFor();
  await form.getByRole('button', { name: 'Yes, delete my account and everything in it' }).click();
  assert.match(await form.getByRole('alert').innerText(), /The password is wrong\./);
  await form.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
  await form.getByRole('button', { name: 'Delete my account…' }).click();
  await form.getByRole('button', { name: 'Yes, delete my account and everything in it' }).click();
  assert.equal(await signedOut(ada), `${USER} is deleted, with everything in it. You are signed out.`);
  await signIn(ada, USER, NEW_PASSWORD);
  await ada.getByRole('alert').waitFor();
  assert.equal(await ada.getByRole('heading', { level: 1, name: 'Run code' }).count(), 0);
  await go(admin, '#/run', 'Run code');
  await go(admin, '#/admin', 'Administration');
  await userRow(ADMIN).waitFor();
  assert.equal(await userRow(USER).count(), 0, 'the account is gone from the list');
  await admin.getByTestId('invitation').filter({ hasText: 'Used by a deleted account' }).waitFor();
});

test('closed mode: the sign-in page says an administrator makes accounts, and offers no way to create one', async () => {
  const closed = await startStack({ PYTH_ON_REGISTRATION: 'closed' });
  try {
    const page = await closed.newPage();
    await page.goto('/');
    await page.getByText('Accounts on this server are made by an administrator: ask one for yours.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create account' }).count(), 0);
    assert.equal(await page.getByLabel('Invitation code').isVisible(), false);
    assert.deepEqual(await axe(page, 'sign-in (closed)'), []);
    await screenshot(page, 'sign-in-closed');
    assert.deepEqual(closed.problems, []);
  } finally {
    await closed.stop();
  }
});

test('no page raised a script error or a Content-Security-Policy violation', () => {
  assert.deepEqual(stack.problems, []);
});
