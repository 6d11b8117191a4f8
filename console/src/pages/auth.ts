// Sign in or create an account. A new account's first API key is shown once, here. The
// server's registration mode (`GET /api/info`) shapes the form: `invite` adds an invitation
// code field, `closed` replaces "Create account" with a sentence.

import { info, login, register, type AuthResponse } from '../api';
import { copyButton, field, h } from '../dom';
import { busy, Messages } from '../ui';

export function authPage(onSignedIn: (auth: AuthResponse) => void): HTMLElement {
  const messages = new Messages();
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
    minlength: 12,
  });
  const invitation = h('input', { name: 'invitation', autocomplete: 'off', spellcheck: 'false' });
  const invitationField = field('Invitation code', invitation, 'Needed only to create an account: an administrator gives you one.');
  invitationField.hidden = true;
  const signIn = h('button', { type: 'submit', value: 'login', class: 'primary' }, 'Sign in');
  const create = h('button', { type: 'submit', value: 'register' }, 'Create account');
  const closed = h('p', { class: 'hint', hidden: true }, 'Accounts on this server are made by an administrator: ask one for yours.');
  const form = h(
    'form',
    { class: 'card auth', 'aria-label': 'Sign in or create an account' },
    field('Email', email),
    field('Password', password, 'At least 12 characters.'),
    invitationField,
    h('div', { class: 'actions' }, signIn, create),
    closed,
  );
  void info()
    .then((i) => {
      invitationField.hidden = i.features.registration !== 'invite';
      const isClosed = i.features.registration === 'closed';
      create.hidden = isClosed;
      closed.hidden = !isClosed;
    })
    .catch(() => {}); // unknown: both buttons stay, and the server says what it allows
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
    const creating = submitter?.value === 'register';
    messages.info(creating ? 'Creating your account…' : 'Signing in…');
    void busy(form, async () => {
      try {
        const auth = creating
          ? await register(email.value.trim(), password.value, invitationField.hidden ? undefined : invitation.value.trim())
          : await login(email.value.trim(), password.value);
        password.value = '';
        invitation.value = '';
        onSignedIn(auth);
      } catch (err) {
        messages.error(err, creating ? 'Could not create the account' : 'Could not sign in');
        password.focus();
      }
    });
  });
  return h(
    'section',
    { class: 'page' },
    h('h1', {}, 'Pyth-On console'),
    h(
      'p',
      { class: 'lead' },
      'Run Python and JavaScript in a sandbox, keep secrets and packages, store code encrypted in your browser, and read your audit log.',
    ),
    messages.el,
    form,
  );
}

/** Shown once after registering: the account's first API key. */
export function firstKeyNotice(apiKey: string): HTMLElement {
  return h(
    'div',
    { class: 'msg ok once', role: 'status' },
    h('strong', {}, 'Your account is ready. '),
    'Its first API key is shown only this once; copy it now to use the API from scripts:',
    h('code', { class: 'secret', 'data-testid': 'new-key', tabindex: 0 }, apiKey),
    copyButton('Copy key', () => apiKey, 'Copy the API key'),
  );
}
