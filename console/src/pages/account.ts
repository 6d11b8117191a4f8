// The signed-in account: who you are, which secrets a run gets by default, the password, the
// sign-ins (browsers and clients holding a refresh token) and deleting the account. These
// routes need an access token, which the console holds (API keys cannot use them).

import { call, currentUser, endSession, enc, refreshUser, type SecretsDefault, type UserInfo } from '../api';
import { field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';

interface SignIn {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

export function accountPage(): HTMLElement {
  const messages = new Messages();
  const signIns = signInsSection();
  const page = h(
    'section',
    { class: 'page account-page' },
    h('h1', {}, 'Your account'),
    messages.el,
    profile(),
    secretsDefaultForm(),
    passwordForm(() => void signIns.load()),
    signIns.el,
    deleteAccount(),
  );
  // The role and the setting shown are the server's, not the token's.
  void refreshUser()
    .then(() => page.querySelector('.profile')?.replaceWith(profile()))
    .catch((err) => messages.error(err, 'Could not read your account'));
  return page;
}

function profile(): HTMLElement {
  const user = currentUser();
  const role = user?.role === 'admin' ? 'Administrator' : 'User';
  return h(
    'dl',
    { class: 'card profile' },
    h('div', {}, h('dt', {}, 'Email'), h('dd', { 'data-testid': 'account-email' }, user?.email ?? '—')),
    h('div', {}, h('dt', {}, 'Role'), h('dd', { 'data-testid': 'account-role' }, role)),
    h('div', {}, h('dt', {}, 'Created'), h('dd', {}, formatTime(user?.createdAt))),
  );
}

function secretsDefaultForm(): HTMLFormElement {
  const messages = new Messages();
  const choice = (value: SecretsDefault, text: string) =>
    h(
      'div',
      { class: 'field check' },
      h('label', {}, h('input', { type: 'radio', name: 'secretsDefault', value, checked: (currentUser()?.secretsDefault ?? 'all') === value }), ` ${text}`),
    );
  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Secrets a run gets' },
    h('h2', {}, 'Secrets a run gets'),
    h(
      'p',
      { class: 'hint', id: 'secrets-default-hint' },
      'A run, a session or a generate request may name the secrets it needs ("Secrets" on the Run and Sessions pages): only those are given to it. This decides what a request that names none gets.',
    ),
    h(
      'fieldset',
      { 'aria-describedby': 'secrets-default-hint' },
      h('legend', { class: 'visually-hidden' }, 'When a request names no secrets'),
      choice('all', 'All my secrets (as before runs could name them)'),
      choice('none', 'None: only the secrets a request names'),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save')),
    messages.el,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const picked = form.querySelector<HTMLInputElement>('input[name=secretsDefault]:checked')?.value as SecretsDefault | undefined;
    if (!picked) return;
    void busy(form, async () => {
      try {
        const user = await call<UserInfo>('PUT', '/api/v1/me/settings', { secretsDefault: picked });
        await refreshUser().catch(() => {});
        messages.ok(
          user.secretsDefault === 'none'
            ? 'Saved: a request that names no secrets now gets none.'
            : 'Saved: a request that names no secrets gets all of them.',
        );
      } catch (err) {
        messages.error(err, 'Could not save the setting');
      }
    });
  });
  return form;
}

function passwordForm(changed: () => void): HTMLFormElement {
  const messages = new Messages();
  const attrs = { type: 'password', required: true, minlength: 12 };
  const current = h('input', { ...attrs, name: 'currentPassword', autocomplete: 'current-password', minlength: 1 });
  const next = h('input', { ...attrs, name: 'newPassword', autocomplete: 'new-password' });
  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Change the password' },
    h('h2', {}, 'Change the password'),
    h('div', { class: 'row' }, field('Current password', current), field('New password', next, 'At least 12 characters.')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Change password')),
    messages.el,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(form, async () => {
      try {
        await call('POST', '/api/v1/me/password', { currentPassword: current.value, newPassword: next.value });
        current.value = '';
        next.value = '';
        messages.ok('Password changed. Every other sign-in of this account has ended; this browser stays signed in. API keys still work: revoke them on the API keys page if they may have leaked.');
        changed();
      } catch (err) {
        messages.error(err, 'Could not change the password');
        current.focus();
      }
    });
  });
  return form;
}

function signInRow(s: SignIn, end: (s: SignIn) => void): HTMLTableRowElement {
  const cell = (label: string, ...content: (Node | string)[]) => h('td', { 'data-label': label }, ...content);
  return h(
    'tr',
    { 'data-testid': 'sign-in' },
    cell('Signed in', formatTime(s.createdAt), s.current ? h('span', { class: 'badge this' }, 'this browser') : ''),
    cell('Last use', formatTime(s.lastUsedAt)),
    cell('Address', s.ip ?? '—'),
    cell('Browser or client', h('span', { class: 'agent' }, s.userAgent ?? '—')),
    h(
      'td',
      { class: 'buttons', 'data-label': 'Actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          'aria-label': s.current ? 'End this browser’s sign-in' : `End the sign-in of ${formatTime(s.createdAt)}`,
          onclick: () => end(s),
        },
        'End',
      ),
    ),
  );
}

function signInsSection(): { el: HTMLElement; load: () => Promise<void> } {
  const messages = new Messages();
  const list = h('div', {});
  async function load(): Promise<void> {
    try {
      const { signIns } = await call<{ signIns: SignIn[] }>('GET', '/api/v1/me/sign-ins');
      const rows = signIns.map((s) => signInRow(s, (one) => void end(one)));
      list.replaceChildren(table('Your sign-ins', ['Signed in', 'Last use', 'Address', 'Browser or client', 'Actions'], rows, 'No sign-ins.'));
      list.querySelector('table')?.classList.add('stack');
    } catch (err) {
      messages.error(err, 'Could not list your sign-ins');
    }
  }
  async function end(s: SignIn): Promise<void> {
    try {
      await call('DELETE', `/api/v1/me/sign-ins/${enc(s.id)}`);
      if (s.current) {
        endSession('You ended this browser’s sign-in: you are signed out.');
        return;
      }
      messages.ok(`Ended the sign-in of ${formatTime(s.createdAt)}: that browser or client is signed out at its next request.`);
      await load();
    } catch (err) {
      messages.error(err, 'Could not end the sign-in');
    }
  }
  void load();
  const el = h(
    'section',
    { class: 'card', 'aria-labelledby': 'sign-ins-title' },
    h('h2', { id: 'sign-ins-title' }, 'Sign-ins'),
    h('p', { class: 'hint' }, 'Each browser or client signed in to this account, newest first, with the address and browser of its last token refresh. "End" signs it out at once.'),
    messages.el,
    list,
  );
  return { el, load };
}

function deleteAccount(): HTMLElement {
  const messages = new Messages();
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'current-password' });
  const start = h('button', { type: 'button', class: 'danger' }, 'Delete my account…');
  const confirm = h('button', { type: 'submit', class: 'danger' }, 'Yes, delete my account and everything in it');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const sure = h(
    'div',
    { class: 'msg error confirm', hidden: true },
    h('p', {}, 'This cannot be undone. Your API keys, sign-ins, secrets, packages, encrypted code, sessions and audit log are deleted now, and you are signed out.'),
    h('div', { class: 'actions' }, confirm, cancel),
  );
  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Delete the account' },
    h('h2', {}, 'Delete the account'),
    field('Password', password, 'Your password again, to show it is you.'),
    h('div', { class: 'actions' }, start),
    sure,
    messages.el,
  );
  const ask = (asking: boolean) => {
    sure.hidden = !asking;
    start.hidden = asking;
    (asking ? cancel : start).focus();
  };
  start.addEventListener('click', () => password.reportValidity() && ask(true));
  cancel.addEventListener('click', () => ask(false));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (sure.hidden) return start.click(); // Enter in the password field asks first
    const email = currentUser()?.email ?? 'The account';
    void busy(form, async () => {
      try {
        await call('DELETE', '/api/v1/me', { password: password.value });
        endSession(`${email} is deleted, with everything in it. You are signed out.`);
      } catch (err) {
        password.value = '';
        ask(false);
        messages.error(err, 'Could not delete the account');
      }
    }).then(() => password.isConnected && password.focus());
  });
  return form;
}
