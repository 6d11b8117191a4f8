// Encrypted code: the browser encrypts with the zkcode v1 client (clients/js), so the server
// only ever stores ciphertext. The master password leaves the page only in the execute call,
// where the sandbox needs it to decrypt.

import { encrypt, masterPasswordProblem, MIN_MASTER_PASSWORD_CHARS } from '@pyth-on/zk';
import { call, currentUser, enc, type ExecuteResponse } from '../api';
import { field, formatTime, h, table } from '../dom';
import { busy, Messages, runResult } from '../ui';

interface CodeMetadata {
  name: string;
  language: string;
  size: number;
  kdf: { m: number; t: number; p: number };
  createdAt: string;
  updatedAt: string;
}

export function zkPage(): HTMLElement {
  const messages = new Messages();
  const list = h('div', { class: 'list' });
  const runArea = h('div', { class: 'run-area' });

  const name = h('input', { name: 'name', required: true, autocomplete: 'off', spellcheck: 'false' });
  const language = h(
    'select',
    { name: 'language' },
    h('option', { value: 'python' }, 'Python'),
    h('option', { value: 'javascript' }, 'JavaScript'),
  );
  const code = h('textarea', { name: 'code', class: 'code', rows: 8, spellcheck: 'false', required: true });
  const password = h('input', { type: 'password', name: 'masterPassword', required: true, autocomplete: 'new-password' });
  const confirm = h('input', { type: 'password', name: 'confirm', required: true, autocomplete: 'new-password' });

  async function load(): Promise<void> {
    try {
      const { items } = await call<{ items: CodeMetadata[] }>('GET', '/api/v1/zk/code');
      const rows = items.map((item) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, item.name)),
          h('td', {}, item.language),
          h('td', {}, `${item.size} B`),
          h('td', {}, `Argon2id m=${item.kdf.m} t=${item.kdf.t}`),
          h('td', {}, formatTime(item.updatedAt)),
          h(
            'td',
            { class: 'buttons' },
            h('button', { type: 'button', 'aria-label': `Run ${item.name}`, onclick: () => openRun(item) }, 'Run…'),
            h(
              'button',
              { type: 'button', class: 'danger', 'aria-label': `Delete ${item.name}`, onclick: () => void remove(item) },
              'Delete',
            ),
          ),
        ),
      );
      list.replaceChildren(
        table('Your encrypted programs', ['Name', 'Language', 'Size', 'Key derivation', 'Updated', 'Actions'], rows, 'No encrypted code yet.'),
      );
    } catch (err) {
      messages.error(err, 'Could not list encrypted code');
    }
  }

  async function remove(item: CodeMetadata): Promise<void> {
    if (!window.confirm(`Delete the encrypted program ${item.name}?`)) return;
    try {
      await call('DELETE', `/api/v1/zk/code/${enc(item.name)}`);
      runArea.replaceChildren();
      messages.ok(`Deleted ${item.name}.`);
      await load();
    } catch (err) {
      messages.error(err, `Could not delete ${item.name}`);
    }
  }

  function openRun(item: CodeMetadata): void {
    const runMessages = new Messages();
    const result = h('div', { class: 'output' });
    const pw = h('input', { type: 'password', name: 'masterPassword', required: true, autocomplete: 'off' });
    const stdin = h('textarea', { name: 'stdin', rows: 2, spellcheck: 'false' });
    const form = h(
      'form',
      { class: 'card', 'aria-label': `Run ${item.name}` },
      h('h2', {}, `Run ${item.name}`),
      field('Master password', pw, 'Sent only in this request; the sandbox decrypts, runs and forgets.'),
      field('Standard input', stdin),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Decrypt and run')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      runMessages.info('Decrypting in the sandbox and running…');
      result.replaceChildren();
      void busy(form, async () => {
        try {
          const body = { masterPassword: pw.value, stdin: stdin.value };
          const run = await call<ExecuteResponse>('POST', `/api/v1/zk/execute/${enc(item.name)}`, body);
          runMessages.clear();
          result.replaceChildren(runResult(run));
        } catch (err) {
          runMessages.error(err, `Could not run ${item.name}`);
          pw.select();
        } finally {
          pw.value = '';
        }
      });
    });
    runArea.replaceChildren(form, runMessages.el, result);
    pw.focus();
  }

  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Encrypt and store code' },
    h('h2', {}, 'Encrypt and store'),
    h('div', { class: 'row' }, field('Name', name, 'Letters, digits, . _ -; e.g. report.py.'), field('Language', language)),
    field('Code', code),
    h(
      'div',
      { class: 'row' },
      field(
        'Master password',
        password,
        `Never sent to the server here; at least ${MIN_MASTER_PASSWORD_CHARS} characters (a few words make a strong one).`,
      ),
      field('Repeat the master password', confirm),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Encrypt and upload')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const weak = masterPasswordProblem(password.value);
    if (weak) {
      messages.error(new Error(`${weak[0].toUpperCase()}${weak.slice(1)}.`), 'Not encrypted');
      password.focus();
      return;
    }
    if (password.value !== confirm.value) {
      messages.error(new Error('The two master passwords differ.'), 'Not encrypted');
      confirm.focus();
      return;
    }
    const user = currentUser();
    if (!user) return;
    void busy(form, async () => {
      try {
        messages.info('Encrypting in this browser (Argon2id, 64 MiB)…');
        const payload = await encrypt(code.value, password.value, user.id, name.value.trim(), {
          language: language.value,
        });
        password.value = '';
        confirm.value = '';
        messages.info('Uploading the ciphertext…');
        const stored = await call<CodeMetadata>('PUT', `/api/v1/zk/code/${enc(name.value.trim())}`, payload);
        messages.ok(`Stored ${stored.name} (${stored.size} bytes of code, encrypted in this browser). The server cannot read it.`);
        code.value = '';
        name.value = '';
        await load();
      } catch (err) {
        messages.error(err, 'Could not store the code');
      }
    });
  });

  void load();
  return h(
    'section',
    { class: 'page' },
    h('h1', {}, 'Encrypted code'),
    h(
      'p',
      { class: 'lead' },
      'Code is encrypted in this browser with your master password (zkcode v1: Argon2id and XChaCha20-Poly1305); the server stores only ciphertext. Running it sends the password with that one request.',
    ),
    form,
    messages.el,
    list,
    runArea,
  );
}
