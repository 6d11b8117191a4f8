// API keys: create (the key is shown once), list, revoke. Key management needs the signed-in
// session (a JWT), which the console has.

import { call, enc } from '../api';
import { copyButton, field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';

interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}
interface CreatedKey {
  id: string;
  name: string;
  apiKey: string;
  createdAt: string;
}

export function keysPage(): HTMLElement {
  const messages = new Messages();
  const created = h('div', { class: 'created' });
  const list = h('div', { class: 'list' });
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });

  async function load(): Promise<void> {
    try {
      const { keys } = await call<{ keys: KeyInfo[] }>('GET', '/api/v1/keys');
      const rows = keys.map((k) =>
        h(
          'tr',
          {},
          h('td', {}, k.name),
          h('td', {}, h('code', {}, `${k.prefix}…`)),
          h('td', {}, formatTime(k.createdAt)),
          h('td', {}, k.lastUsedAt ? formatTime(k.lastUsedAt) : 'never'),
          h(
            'td',
            {},
            h(
              'button',
              { type: 'button', class: 'danger', 'aria-label': `Revoke key ${k.name}`, onclick: () => void revoke(k) },
              'Revoke',
            ),
          ),
        ),
      );
      list.replaceChildren(table('Your API keys', ['Name', 'Key', 'Created', 'Last used', 'Actions'], rows, 'No live keys.'));
    } catch (err) {
      messages.error(err, 'Could not list keys');
    }
  }

  async function revoke(k: KeyInfo): Promise<void> {
    if (!window.confirm(`Revoke the key "${k.name}"? Anything using it stops working at once.`)) return;
    try {
      await call('DELETE', `/api/v1/keys/${enc(k.id)}`);
      created.replaceChildren();
      messages.ok(`Revoked "${k.name}".`);
      await load();
    } catch (err) {
      messages.error(err, `Could not revoke "${k.name}"`);
    }
  }

  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Create an API key' },
    h('h2', {}, 'Create an API key'),
    field('Name', name, 'What the key is for, e.g. "CI" or "laptop".'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create key')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(form, async () => {
      try {
        const key = await call<CreatedKey>('POST', '/api/v1/keys', { name: name.value.trim() });
        name.value = '';
        messages.clear();
        const code = h('code', { class: 'secret', 'data-testid': 'created-key', tabindex: 0 }, key.apiKey);
        created.replaceChildren(
          h(
            'div',
            { class: 'msg ok once', role: 'status' },
            h('strong', {}, `Key "${key.name}" created. `),
            'Copy it now: it is shown only this once. Send it as the x-api-key header.',
            code,
            copyButton('Copy key', () => key.apiKey, 'Copy the API key'),
          ),
        );
        code.focus();
        await load();
      } catch (err) {
        messages.error(err, 'Could not create the key');
      }
    });
  });

  void load();
  return h('section', { class: 'page' }, h('h1', {}, 'API keys'), form, messages.el, created, list);
}
