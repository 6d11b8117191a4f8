// The audit log: newest first, paged by cursor, filtered by action prefix, with the hash
// chain's verification state.

import { call } from '../api';
import { field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';

interface AuditEntry {
  id: string;
  timestamp: string;
  action: string;
  resource: string | null;
  outcome: string;
  ip: string | null;
  authMethod: string | null;
  apiKeyId: string | null;
  details: unknown;
}
interface AuditPage {
  entries: AuditEntry[];
  nextCursor: string | null;
}
interface Verification {
  valid: boolean;
  entries: number;
  head: string;
  firstInvalid?: string | null;
}

export function auditPage(): HTMLElement {
  const messages = new Messages();
  const verification = h('div', { class: 'verification', 'aria-live': 'polite' });
  const list = h('div', { class: 'list' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Audit log pages' });
  const action = h('input', {
    name: 'action',
    list: 'audit-actions',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. secret. or execute',
  });
  const actions = h(
    'datalist',
    { id: 'audit-actions' },
    ['auth.', 'key.', 'execute', 'secret.', 'package.', 'zk.', 'generate'].map((a) => h('option', { value: a })),
  );
  const limit = h(
    'select',
    { name: 'limit' },
    ['10', '20', '50', '100', '200'].map((n) => h('option', { value: n, selected: n === '50' }, n)),
  );
  // Cursors of the pages before the current one, for "Newer".
  let cursors: (string | null)[] = [];
  let current: string | null = null;

  async function verify(): Promise<void> {
    try {
      const v = await call<Verification>('GET', '/api/v1/audit/verify');
      verification.replaceChildren(
        v.valid
          ? h(
              'p',
              { class: 'msg ok', 'data-testid': 'audit-verified' },
              h('strong', {}, 'Chain verified. '),
              `${v.entries} entries; head ${v.head.slice(0, 16)}…`,
            )
          : h(
              'p',
              { class: 'msg error', role: 'alert', 'data-testid': 'audit-verified' },
              h('strong', {}, 'Chain broken. '),
              `The hash chain does not verify${v.firstInvalid ? ` from entry ${v.firstInvalid}` : ''}.`,
            ),
      );
    } catch (err) {
      messages.error(err, 'Could not verify the audit log');
    }
  }

  async function load(before: string | null): Promise<void> {
    try {
      const params = new URLSearchParams({ limit: limit.value });
      if (before) params.set('before', before);
      if (action.value.trim()) params.set('action', action.value.trim());
      const page = await call<AuditPage>('GET', `/api/v1/audit?${params}`);
      current = before;
      const rows = page.entries.map((e) =>
        h(
          'tr',
          { class: `outcome-${e.outcome}` },
          h('td', {}, formatTime(e.timestamp)),
          h('td', {}, h('code', {}, e.action)),
          h('td', {}, h('span', { class: `badge ${e.outcome}` }, outcomeText(e))),
          h('td', {}, e.resource ?? '—'),
          h('td', {}, e.authMethod ?? '—'),
          h('td', {}, e.ip ?? '—'),
          h('td', { class: 'details' }, detailsOf(e.details)),
        ),
      );
      list.replaceChildren(
        table('Audit entries', ['Time', 'Action', 'Outcome', 'Resource', 'Auth', 'IP', 'Details'], rows, 'No entries match.'),
      );
      const newer = h('button', { type: 'button', disabled: cursors.length === 0 }, '← Newer');
      const older = h('button', { type: 'button', disabled: !page.nextCursor }, 'Older →');
      newer.addEventListener('click', () => {
        const previous = cursors.pop() ?? null;
        void load(previous);
      });
      older.addEventListener('click', () => {
        cursors.push(current);
        void load(page.nextCursor);
      });
      pager.replaceChildren(newer, h('span', {}, `Page ${cursors.length + 1}`), older);
      messages.clear();
    } catch (err) {
      messages.error(err, 'Could not read the audit log');
    }
  }

  const form = h(
    'form',
    { class: 'card filters', 'aria-label': 'Filter the audit log' },
    h('div', { class: 'row' }, field('Action starts with', action), field('Per page', limit)),
    actions,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    cursors = [];
    void busy(form, () => Promise.all([load(null), verify()]));
  });

  void load(null);
  void verify();
  return h('section', { class: 'page' }, h('h1', {}, 'Audit log'), verification, form, messages.el, list, pager);
}

/** The outcome, with its reason when the entry gives one ("failure: timed out"). */
function outcomeText(e: AuditEntry): string {
  const details = e.details as Record<string, unknown> | null;
  const reason = details && typeof details.reason === 'string' ? details.reason : null;
  return reason ? `${e.outcome}: ${reason.replace(/_/g, ' ')}` : e.outcome;
}

/** The summary, expandable into the whole JSON (by keyboard and touch too, not on hover). */
function detailsOf(details: unknown): HTMLElement {
  const summary = summarize(details);
  if (!summary) return h('span', {}, '—');
  return h(
    'details',
    {},
    h('summary', {}, h('code', {}, summary)),
    h('pre', {}, JSON.stringify(details, null, 2)),
  );
}

/** `key=value` pairs, long values shortened (the whole JSON is one click away). */
function summarize(details: unknown): string {
  if (details === null || typeof details !== 'object') return details === undefined || details === null ? '' : String(details);
  return Object.entries(details as Record<string, unknown>)
    .filter(([, v]) => v !== false && v !== null)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k}=${text.length > 20 ? `${text.slice(0, 12)}…` : text}`;
    })
    .join(' ');
}


