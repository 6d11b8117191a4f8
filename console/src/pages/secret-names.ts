// The optional "Secrets" field of the Run and Sessions pages: comma-separated names become the
// request's `secrets`; empty leaves the field out, so the account's default applies.

import { h } from '../dom';

export const SECRETS_HINT = 'Comma-separated names, e.g. API_TOKEN, DB_URL: only these are given. Empty: your account default (Account page).';

export function secretsInput(): HTMLInputElement {
  return h('input', { name: 'secrets', spellcheck: 'false', autocomplete: 'off', autocapitalize: 'characters' });
}

/** The names typed, or null for none (the account default). */
export function secretNames(text: string): string[] | null {
  const names = text.split(/[\s,]+/).filter((n) => n !== '');
  return names.length ? names : null;
}
