// Shared pieces: the message area (errors from the API envelope, confirmations) and the
// display of a run's result, used by the run page and the encrypted-code page.

import { ApiError, DISABLED } from './api';
import { h } from './dom';

/** Account errors in the console's own words (the API's messages are lower-case fragments). */
const SENTENCES: Record<string, string> = {
  invitation_required: 'This server needs an invitation code to create an account: ask an administrator for one.',
  invitation_invalid: 'This invitation code is unknown, already used or expired: ask an administrator for a new one.',
  registration_closed: 'Nobody can create an account here: an administrator makes accounts on this server.',
  account_disabled: DISABLED,
  wrong_password: 'The password is wrong.',
  last_admin:
    'This is the last enabled administrator: the server must keep one. Make another account an administrator first.',
  admin_required: 'Only an administrator signed in to the console can do this.',
};

/** Human text for an error, with the API's code and request id for support. */
export function describe(err: unknown): { text: string; meta: string | null; details: string[] } {
  if (err instanceof ApiError) {
    const meta =
      err.status === 0
        ? null
        : `${err.code} · HTTP ${err.status}${err.requestId ? ` · request ${err.requestId}` : ''}`;
    const details = err.details
      ? Object.entries(err.details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      : [];
    let text = SENTENCES[err.code] ?? err.message;
    if (err.status === 429) text = tooManyRequests(err.retryAfter);
    else if (err.retryAfter !== null) text += ` Try again in ${waitText(err.retryAfter)}.`;
    return { text, meta, details };
  }
  return { text: err instanceof Error ? err.message : String(err), meta: null, details: [] };
}

/** A live region for one page's messages: `error()` is announced as an alert. */
export class Messages {
  readonly el = h('div', { class: 'messages' });

  clear(): void {
    this.el.replaceChildren();
  }

  error(err: unknown, prefix?: string): void {
    const { text, meta, details } = describe(err);
    this.el.replaceChildren(
      h(
        'div',
        { class: 'msg error', role: 'alert' },
        h('strong', {}, prefix ? `${prefix}: ` : 'Error: '),
        text,
        meta ? h('small', { class: 'meta' }, meta) : null,
        details.length ? h('ul', {}, details.map((d) => h('li', {}, d))) : null,
      ),
    );
  }

  ok(text: string): void {
    this.el.replaceChildren(h('div', { class: 'msg ok', role: 'status' }, text));
  }

  info(text: string): void {
    this.el.replaceChildren(h('div', { class: 'msg info', role: 'status' }, text));
  }
}

/** Disables a form's controls while `work` runs. */
export async function busy<T>(form: HTMLFormElement, work: () => Promise<T>): Promise<T> {
  const controls = Array.from(form.elements) as (HTMLInputElement | HTMLButtonElement)[];
  const was = controls.map((c) => c.disabled);
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    controls.forEach((c, i) => (c.disabled = was[i]));
    form.removeAttribute('aria-busy');
  }
}

function waitText(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.round(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

function tooManyRequests(retryAfter: number | null): string {
  return retryAfter === null
    ? 'Too many requests: wait a moment and try again.'
    : `Too many requests: try again in ${waitText(retryAfter)}.`;
}

export { runResult } from './result';
