// Sessions: open a live interpreter, run cells against it in a notebook, end it.

import { call, enc } from '../api';
import { field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';
import { notebook, type SessionInfo } from './notebook';
import { SECRETS_HINT, secretNames, secretsInput } from './secret-names';

/** The session shown in the notebook, kept across page switches. */
let openId: string | null = null;

export function sessionsPage(): HTMLElement {
  const messages = new Messages();
  const list = h('div', {});
  const book = h('div', {});
  const language = h('select', { name: 'language' }, h('option', { value: 'python' }, 'Python'), h('option', { value: 'javascript' }, 'JavaScript'));
  const secrets = secretsInput();

  const placeholder = () => h('p', { class: 'empty' }, 'Open a session to run cells in it.');

  function show(session: SessionInfo | null): void {
    openId = session?.id ?? null;
    book.replaceChildren(session ? notebook(session, () => void ended(session.id), () => void load()) : placeholder());
  }

  async function ended(id: string): Promise<void> {
    messages.info('The session ended.');
    if (openId === id) openId = null;
    await load();
  }

  async function end(session: SessionInfo): Promise<void> {
    try {
      await call('DELETE', `/api/v1/sessions/${enc(session.id)}`);
      messages.ok('Session ended.');
      if (openId === session.id) show(null);
      await load();
    } catch (err) {
      messages.error(err, 'Could not end the session');
    }
  }

  function row(s: SessionInfo): HTMLTableRowElement {
    const short = s.id.slice(0, 13);
    return h(
      'tr',
      {},
      h('td', {}, h('code', {}, short)),
      h('td', {}, s.language),
      h('td', {}, s.status),
      h('td', {}, formatTime(s.expiresAt)),
      h(
        'td',
        { class: 'buttons' },
        h('button', { type: 'button', 'aria-label': `Open session ${short}`, onclick: () => show(s) }, 'Open'),
        h('button', { type: 'button', class: 'danger', 'aria-label': `End session ${short}`, onclick: () => void end(s) }, 'End'),
      ),
    );
  }

  async function load(): Promise<void> {
    try {
      const { sessions } = await call<{ sessions: SessionInfo[] }>('GET', '/api/v1/sessions');
      list.replaceChildren(table('Open sessions', ['Session', 'Language', 'Status', 'Ends', 'Actions'], sessions.map(row), 'No open sessions.'));
      const current = sessions.find((s) => s.id === openId);
      if (!current && openId) show(null);
      else if (current && !book.querySelector('.notebook')) show(current);
    } catch (err) {
      messages.error(err, 'Could not list the sessions');
    }
  }

  const form = h('form', { class: 'card', 'aria-label': 'New session' }, h('div', { class: 'row toolbar' }, field('Language', language), field('Secrets', secrets), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'New session'))), h('small', { class: 'hint', id: 'session-secrets-hint' }, SECRETS_HINT));
  secrets.setAttribute('aria-describedby', 'session-secrets-hint');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(form, async () => {
      try {
        const names = secretNames(secrets.value);
        const session = await call<SessionInfo>('POST', '/api/v1/sessions', { language: language.value, ...(names ? { secrets: names } : {}) });
        messages.clear();
        show(session);
        await load();
      } catch (err) {
        messages.error(err, 'Could not open a session');
      }
    });
  });

  book.replaceChildren(placeholder()); // load() reopens the session shown before a page switch
  void load();
  return h(
    'section',
    { class: 'page' },
    h('h1', {}, 'Sessions'),
    h('p', { class: 'lead' }, 'A session keeps one interpreter alive: variables, imports and files in /work carry from cell to cell until you end it or it idles out.'),
    form,
    messages.el,
    list,
    book,
  );
}
