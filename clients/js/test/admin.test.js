// Administration, with an admin made by the CLI, on an invite-only server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Client, ConflictError, PermissionDeniedError } from '../src/index.js';
import { startServer } from '../scripts/server.js';
import { PASSWORD, email } from './helpers.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

before(async () => {
  server = await startServer({ args: ['--registration', 'invite', '--auth-rate-limit-per-minute', '1000'] });
});
after(async () => {
  await server?.stop();
});

test('an admin manages users, quotas and invitations', async () => {
  const adminEmail = email('admin');
  await server.createAdmin(adminEmail, PASSWORD);
  const admin = new Client({ baseUrl: server.url, apiKey: null });
  const auth = await admin.auth.login({ email: adminEmail, password: PASSWORD });
  assert.equal(auth.user.role, 'admin');

  // Invitations: registration needs one here.
  const anonymous = new Client({ baseUrl: server.url, apiKey: null });
  await assert.rejects(anonymous.auth.register({ email: email(), password: PASSWORD }),
    (/** @type {any} */ e) => e instanceof PermissionDeniedError && e.code === 'invitation_required');
  const created = await admin.admin.invitations.create({ note: 'sdk test', expiresInHours: 2 });
  assert.match(created.code, /^pyi_/);
  assert.ok((await admin.admin.invitations.list()).invitations.some((i) => i.id === created.invitation.id));
  const invitee = new Client({ baseUrl: server.url, apiKey: null });
  const registered = await invitee.auth.register({ email: email('invited'), password: PASSWORD, invitation: created.code });
  assert.equal(registered.user.role, 'user');
  await assert.rejects(anonymous.auth.register({ email: email(), password: PASSWORD, invitation: created.code }),
    (/** @type {any} */ e) => e.code === 'invitation_invalid');
  const spare = await admin.admin.invitations.create();
  await admin.admin.invitations.delete(spare.invitation.id);

  // A plain user is refused.
  await assert.rejects(invitee.admin.users.list(), (/** @type {any} */ e) => e.code === 'admin_required');

  // Users: create, list, disable, enable, role, quota, delete.
  const made = await admin.admin.users.create({ email: email('made') });
  assert.equal(typeof made.password, 'string');
  const page = await admin.admin.users.list({ limit: 1 });
  assert.equal(page.users.length, 1);
  /** @type {string[]} */
  const all = [];
  for await (const user of admin.admin.users.all({ pageSize: 1 })) all.push(user.id);
  assert.ok(all.includes(made.user.id) && all.includes(registered.user.id) && all.includes(auth.user.id));

  await admin.admin.users.disable(registered.user.id);
  await assert.rejects(invitee.me.get(), (/** @type {any} */ e) => e.code === 'account_disabled');
  await admin.admin.users.enable(registered.user.id);
  assert.equal((await invitee.me.get()).id, registered.user.id);

  await admin.admin.users.setRole(made.user.id, 'admin');
  await admin.admin.users.setRole(made.user.id, 'user');
  await assert.rejects(admin.admin.users.setRole(auth.user.id, 'user'),
    (/** @type {any} */ e) => e instanceof ConflictError && e.code === 'last_admin');

  const quota = await admin.admin.users.setQuota(registered.user.id, { runsPerDay: 1 });
  assert.equal(quota.runsPerDay, 1);
  assert.equal((await admin.admin.users.getQuota(registered.user.id)).runsPerDay, 1);
  await invitee.execute({ code: 'print(1)' });
  await assert.rejects(invitee.execute({ code: 'print(2)' }), (/** @type {any} */ e) =>
    e.status === 429 && e.code === 'quota_exceeded' && e.details.quota === 'runsPerDay' && e.retryAfter > 0);
  await admin.admin.users.setQuota(registered.user.id, {});

  await admin.admin.users.delete(made.user.id);
  await assert.rejects(admin.admin.users.getQuota(made.user.id), (/** @type {any} */ e) => e.status === 404);
});
