// Invitations, on the Admin page: create one (a note, hours until it expires; the code is shown
// once), list them (unused, used by whom, expired), delete one.

import { call, enc, info } from '../api';
import { copyButton, field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';

interface Invitation {
  id: string;
  note: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  usedAt?: string | null;
  usedBy?: string | null;
}

/** Emails of the accounts the Admin page has listed, by id: who used an invitation. */
export const knownEmails = new Map<string, string>();

function state(i: Invitation): HTMLElement | string {
  if (i.usedAt) {
    const who = i.usedBy ? (knownEmails.get(i.usedBy) ?? i.usedBy) : 'a deleted account';
    return h('span', { class: 'badge' }, `Used by ${who} ${formatTime(i.usedAt)}`);
  }
  if (Date.parse(i.expiresAt) <= Date.now()) return h('span', { class: 'badge failure' }, 'Expired');
  return h('span', { class: 'badge success' }, 'Unused');
}

function row(i: Invitation, remove: (i: Invitation) => void): HTMLTableRowElement {
  const name = i.note || formatTime(i.createdAt);
  const cell = (label: string, ...content: (Node | string)[]) => h('td', { 'data-label': label }, ...content);
  return h(
    'tr',
    { 'data-testid': 'invitation' },
    cell('Note', i.note || '—'),
    cell('Created', formatTime(i.createdAt)),
    cell('Expires', formatTime(i.expiresAt)),
    cell('State', state(i)),
    h(
      'td',
      { class: 'buttons', 'data-label': 'Actions' },
      h('button', { type: 'button', class: 'danger', 'aria-label': `Delete the invitation ${name}`, onclick: () => remove(i) }, 'Delete'),
    ),
  );
}

/** The new code, shown this once. */
function codeNotice(invitation: Invitation, code: string): HTMLElement {
  return h(
    'div',
    { class: 'msg ok once', role: 'status' },
    h('strong', {}, 'Invitation created. '),
    `The code is shown only this once; it creates one account until ${formatTime(invitation.expiresAt)}. Hand it to the person with the console's address: they enter it as "Invitation code" when creating their account.`,
    h('code', { class: 'secret', 'data-testid': 'invitation-code', tabindex: 0 }, code),
    copyButton('Copy code', () => code, 'Copy the invitation code'),
  );
}

/** The registration mode in words, from `GET /api/info`. */
function modeSentence(): HTMLElement {
  const mode = h('p', { class: 'hint' }, 'When registration is "invite", creating an account needs a code from here; each code creates one account.');
  const words = {
    open: 'open: anyone who reaches the server may create an account, no code needed',
    invite: 'invite: creating an account needs a code from here',
    closed: 'closed: only administrators create accounts (above); codes are refused',
  };
  void info()
    .then((i) => (mode.textContent = `Registration on this server is ${words[i.features.registration ?? 'open']}. Each code creates one account. The mode is the server setting PYTH_ON_REGISTRATION.`))
    .catch(() => {});
  return mode;
}

export function invitationsSection(): { el: HTMLElement; load: () => Promise<void> } {
  const messages = new Messages();
  const created = h('div', {});
  const list = h('div', {});
  const note = h('input', { name: 'note', maxlength: 200, autocomplete: 'off' });
  const hours = h('input', { type: 'number', name: 'expiresInHours', min: 1, max: 720, step: 1, inputmode: 'numeric', placeholder: '168' });

  async function load(): Promise<void> {
    try {
      const { invitations } = await call<{ invitations: Invitation[] }>('GET', '/api/v1/admin/invitations');
      list.replaceChildren(table('The invitations', ['Note', 'Created', 'Expires', 'State', 'Actions'], invitations.map((i) => row(i, (one) => void remove(one))), 'No invitations.'));
      list.querySelector('table')?.classList.add('stack');
    } catch (err) {
      messages.error(err, 'Could not list the invitations');
    }
  }

  async function remove(i: Invitation): Promise<void> {
    try {
      await call('DELETE', `/api/v1/admin/invitations/${enc(i.id)}`);
      created.replaceChildren();
      messages.ok(`Deleted the invitation${i.note ? ` "${i.note}"` : ''}: its code no longer works.`);
      await load();
    } catch (err) {
      messages.error(err, 'Could not delete the invitation');
    }
  }

  const form = h(
    'form',
    { class: 'invite-form', 'aria-label': 'Create an invitation' },
    h('div', { class: 'row' }, field('Note', note, 'Who it is for (only you see it).'), field('Expires in (hours)', hours, '1 to 720; empty: the server default (168 unless set).')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create invitation')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = {};
    if (note.value.trim()) body.note = note.value.trim();
    if (hours.value) body.expiresInHours = Number(hours.value);
    void busy(form, async () => {
      try {
        const answer = await call<{ invitation: Invitation; code: string }>('POST', '/api/v1/admin/invitations', body);
        form.reset();
        messages.clear();
        created.replaceChildren(codeNotice(answer.invitation, answer.code));
        created.querySelector<HTMLElement>('code')?.focus();
        await load();
      } catch (err) {
        messages.error(err, 'Could not create the invitation');
      }
    });
  });

  const mode = modeSentence();
  const el = h(
    'section',
    { class: 'card', 'aria-labelledby': 'invitations-title' },
    h('h2', { id: 'invitations-title' }, 'Invitations'),
    mode,
    form,
    messages.el,
    created,
    list,
  );
  return { el, load };
}
