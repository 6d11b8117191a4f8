// Secrets: list (names and versions only), set, delete. Values are never shown back.

import { call, enc } from '../api';
import { field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';

interface SecretMetadata {
  name: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export function secretsPage(): HTMLElement {
  const messages = new Messages();
  const list = h('div', { class: 'list' });
  const name = h('input', {
    name: 'name',
    required: true,
    autocomplete: 'off',
    autocapitalize: 'characters',
    spellcheck: 'false',
    pattern: '[A-Z_][A-Z0-9_]{0,63}',
  });
  const value = h('input', { type: 'password', name: 'value', required: true, autocomplete: 'off' });

  async function load(): Promise<void> {
    try {
      const { secrets } = await call<{ secrets: SecretMetadata[] }>('GET', '/api/v1/secrets');
      const rows = secrets.map((s) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, s.name)),
          h('td', {}, s.version),
          h('td', {}, formatTime(s.updatedAt)),
          h(
            'td',
            {},
            h(
              'button',
              { type: 'button', class: 'danger', 'aria-label': `Delete secret ${s.name}`, onclick: () => void remove(s.name) },
              'Delete',
            ),
          ),
        ),
      );
      list.replaceChildren(table('Your secrets', ['Name', 'Version', 'Updated', 'Actions'], rows, 'No secrets yet.'));
    } catch (err) {
      messages.error(err, 'Could not list secrets');
    }
  }

  async function remove(secret: string): Promise<void> {
    if (!window.confirm(`Delete the secret ${secret}? Runs will no longer see it.`)) return;
    try {
      await call('DELETE', `/api/v1/secrets/${enc(secret)}`);
      messages.ok(`Deleted ${secret}.`);
      await load();
    } catch (err) {
      messages.error(err, `Could not delete ${secret}`);
    }
  }

  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Set a secret' },
    h('h2', {}, 'Set a secret'),
    h(
      'div',
      { class: 'row' },
      field('Name', name, 'Upper case letters, digits and _; e.g. API_TOKEN.'),
      field('Value', value, 'Write-only: never shown again.'),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save secret')),
  );
  // The API explains a bad name better than the browser's pattern message.
  name.removeAttribute('pattern');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(form, async () => {
      try {
        const secret = name.value.trim();
        const saved = await call<SecretMetadata>('PUT', `/api/v1/secrets/${enc(secret)}`, { value: value.value });
        value.value = '';
        name.value = '';
        messages.ok(`Saved ${saved.name} (version ${saved.version}). Runs see it as an environment variable; its value is replaced by *** in their output.`);
        await load();
      } catch (err) {
        messages.error(err, 'Could not save the secret');
      }
    });
  });

  void load();
  return h(
    'section',
    { class: 'page' },
    h('h1', {}, 'Secrets'),
    h('p', { class: 'lead' }, 'Secrets are encrypted at rest and given to your runs as environment variables.'),
    form,
    messages.el,
    list,
  );
}
