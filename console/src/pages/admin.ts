// Administration (shown to admins only): the accounts, a page at a time, with disable/enable,
// role changes and deletion (confirmed by typing the email); creating accounts; invitations
// (admin-invitations.ts). The routes need an admin's access token, which the console holds.

import { call, currentUser, enc, refreshUser, type Role } from '../api';
import { copyButton, field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';
import { invitationsSection, knownEmails } from './admin-invitations';

export interface AdminUser {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  disabledAt?: string | null;
  usage?: Usage;
}

interface QuotaUse {
  used: number;
  limit: number | null;
}

interface Usage {
  runs: QuotaUse;
  cpuSeconds: QuotaUse;
  storageBytes: QuotaUse;
}

/** `12 / 2000 runs`, `3.4 / 3600 CPU s`, `2.1 / 1024 MB`; a missing limit reads "no limit". */
function usageText(u: Usage): string {
  const of = (q: QuotaUse, unit: string, scale = 1, digits = 0) =>
    `${(q.used / scale).toFixed(digits)} / ${q.limit === null ? 'no limit' : (q.limit / scale).toFixed(0)} ${unit}`;
  const mb = 1024 * 1024;
  return [of(u.runs, 'runs'), of(u.cpuSeconds, 'CPU s', 1, 1), of(u.storageBytes, 'MB', mb, 1)].join(' · ');
}

const PAGE_SIZE = 50;

export function adminPage(): HTMLElement {
  const users = usersSection();
  const invitations = invitationsSection();
  // Accounts first, so the invitations list can name who used each one.
  void users.reload().then(() => invitations.load());
  return h(
    'section',
    { class: 'page admin-page' },
    h('h1', {}, 'Administration'),
    h('p', { class: 'lead' }, 'Who has an account on this server, and who may create one. Every action here is in your audit log and in that of the account it concerns.'),
    users.el,
    createUserForm(() => void users.reload().then(() => invitations.load())),
    invitations.el,
  );
}

function usersSection(): { el: HTMLElement; reload: () => Promise<void> } {
  const messages = new Messages();
  const list = h('div', {});
  const confirmArea = h('div', {});
  const pager = h('div', { class: 'pager' });
  const cursors: (string | null)[] = [null]; // the `after` of each page visited
  let page = 0;

  async function load(): Promise<void> {
    try {
      const after = cursors[page];
      const query = `limit=${PAGE_SIZE}${after ? `&after=${enc(after)}` : ''}`;
      const answer = await call<{ users: AdminUser[]; nextAfter: string | null }>('GET', `/api/v1/admin/users?${query}`);
      answer.users.forEach((u) => knownEmails.set(u.id, u.email));
      cursors[page + 1] = answer.nextAfter;
      const rows = answer.users.map((u) => userRow(u, act));
      list.replaceChildren(table('The accounts, a page at a time', ['Email', 'Role', 'Created', 'State', 'Today', 'Actions'], rows, 'No accounts.'));
      list.querySelector('table')?.classList.add('stack');
      showPager(answer.nextAfter);
    } catch (err) {
      messages.error(err, 'Could not list the accounts');
    }
  }

  function showPager(next: string | null): void {
    const go = (to: number) => () => {
      page = to;
      void load();
    };
    pager.replaceChildren(
      page > 0 ? h('button', { type: 'button', onclick: go(page - 1) }, 'Previous page') : '',
      page > 0 || next ? h('span', {}, `Page ${page + 1}`) : '',
      next ? h('button', { type: 'button', onclick: go(page + 1) }, 'Next page') : '',
    );
  }

  async function act(u: AdminUser, action: Action): Promise<void> {
    if (action === 'delete') return askDelete(u);
    const [method, path, body, done] = REQUESTS[action](u);
    try {
      await call(method, `/api/v1/admin/users/${enc(u.id)}${path}`, body);
      // No longer an admin yourself (another admin remains): the navigation loses this page.
      if (u.id === currentUser()?.id && (await refreshUser().catch(() => false))) {
        location.hash = '#/account';
        return;
      }
      // The list first: when the sentence shows, the row says the same.
      await load();
      messages.ok(`${u.email}: ${done}`);
    } catch (err) {
      messages.error(err, `Could not change ${u.email}`);
    }
  }

  function askDelete(u: AdminUser): void {
    confirmArea.replaceChildren(
      deleteConfirm(u, async () => {
        confirmArea.replaceChildren();
        // The list first: when the sentence shows, the account is gone from it.
        await load();
        messages.ok(`${u.email} is deleted, with everything in it.`);
      }),
    );
    confirmArea.querySelector('input')?.focus();
  }

  const el = h(
    'section',
    { class: 'card', 'aria-labelledby': 'users-title' },
    h('h2', { id: 'users-title' }, 'Accounts'),
    h('p', { class: 'hint' }, 'A disabled account is refused at once everywhere: its API keys, tokens and sign-ins, and it cannot sign in until enabled again.'),
    messages.el,
    confirmArea,
    list,
    pager,
  );
  return { el, reload: () => ((page = 0), load()) };
}

type Action = 'disable' | 'enable' | 'admin' | 'user' | 'delete';
type Request = [method: string, path: string, body: unknown, done: string];

const REQUESTS: Record<Exclude<Action, 'delete'>, (u: AdminUser) => Request> = {
  disable: () => ['POST', '/disable', undefined, 'disabled. Its keys, tokens and sign-ins are refused from now on.'],
  enable: () => ['POST', '/enable', undefined, 'enabled again.'],
  admin: () => ['PUT', '/role', { role: 'admin' }, 'is now an administrator.'],
  user: () => ['PUT', '/role', { role: 'user' }, 'is now a user (no longer an administrator).'],
};

function userRow(u: AdminUser, act: (u: AdminUser, a: Action) => Promise<void>): HTMLTableRowElement {
  const me = u.id === currentUser()?.id;
  const button = (a: Action, text: string, danger = false) =>
    h('button', { type: 'button', class: danger ? 'danger' : false, 'aria-label': `${text} ${u.email}`, onclick: () => void act(u, a) }, text);
  const cell = (label: string, ...content: (Node | string)[]) => h('td', { 'data-label': label }, ...content);
  return h(
    'tr',
    { 'data-testid': 'user', 'data-email': u.email },
    cell('Email', h('span', { class: 'user-email' }, u.email), me ? h('span', { class: 'badge' }, 'you') : ''),
    cell('Role', u.role === 'admin' ? 'Administrator' : 'User'),
    cell('Created', formatTime(u.createdAt)),
    cell('State', u.disabledAt ? h('span', { class: 'badge failure' }, `Disabled ${formatTime(u.disabledAt)}`) : 'Enabled'),
    cell('Today', h('span', { class: 'usage' }, u.usage ? usageText(u.usage) : '')),
    h(
      'td',
      { class: 'buttons', 'data-label': 'Actions' },
      u.disabledAt ? button('enable', 'Enable') : button('disable', 'Disable', true),
      u.role === 'admin' ? button('user', 'Make user') : button('admin', 'Make admin'),
      button('delete', 'Delete', true),
    ),
  );
}

/** Deleting an account: typing its email enables the button. */
function deleteConfirm(u: AdminUser, deleted: () => Promise<void>): HTMLElement {
  const messages = new Messages();
  const typed = h('input', { name: 'confirmEmail', autocomplete: 'off', spellcheck: 'false', required: true });
  const go = h('button', { type: 'submit', class: 'danger', disabled: true }, 'Delete this account');
  const cancel = h('button', { type: 'button', onclick: () => form.remove() }, 'Cancel');
  const form = h(
    'form',
    { class: 'msg error confirm', 'aria-label': `Delete ${u.email}` },
    h('p', {}, h('strong', {}, `Delete ${u.email}? `), 'Its keys, sign-ins, secrets, packages, encrypted code, sessions and audit log go now; this cannot be undone. Your own audit log keeps the deletion.'),
    field('Type the email to confirm', typed),
    h('div', { class: 'actions' }, go, cancel),
    messages.el,
  );
  typed.addEventListener('input', () => (go.disabled = typed.value.trim().toLowerCase() !== u.email.toLowerCase()));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (go.disabled) return;
    void busy(form, async () => {
      try {
        await call('DELETE', `/api/v1/admin/users/${enc(u.id)}`);
        await deleted();
      } catch (err) {
        messages.error(err, `Could not delete ${u.email}`);
      }
    });
  });
  return form;
}

function createUserForm(created: () => void): HTMLElement {
  const messages = new Messages();
  const result = h('div', {});
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 12 });
  const role = h('select', { name: 'role' }, h('option', { value: 'user' }, 'User'), h('option', { value: 'admin' }, 'Administrator'));
  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Create an account' },
    h('h2', {}, 'Create an account'),
    h('div', { class: 'row' }, field('Email', email), field('Password (optional)', password, 'Empty: one is generated and shown here once.'), field('Role', role)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create account')),
    messages.el,
    result,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body: Record<string, string> = { email: email.value.trim(), role: role.value };
    if (password.value) body.password = password.value;
    void busy(form, async () => {
      try {
        const answer = await call<{ user: AdminUser; password?: string }>('POST', '/api/v1/admin/users', body);
        messages.clear();
        form.reset();
        result.replaceChildren(createdNotice(answer.user, answer.password));
        created();
      } catch (err) {
        result.replaceChildren();
        messages.error(err, 'Could not create the account');
      }
    });
  });
  return form;
}

function createdNotice(user: AdminUser, password?: string): HTMLElement {
  if (!password) return h('div', { class: 'msg ok', role: 'status' }, `Created ${user.email} with the password you chose.`);
  return h(
    'div',
    { class: 'msg ok once', role: 'status' },
    h('strong', {}, `Created ${user.email}. `),
    'Its password is shown only this once: copy it now and hand it over safely.',
    h('code', { class: 'secret', 'data-testid': 'generated-password', tabindex: 0 }, password),
    copyButton('Copy password', () => password, `Copy the password of ${user.email}`),
  );
}
