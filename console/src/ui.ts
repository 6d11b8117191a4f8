// Shared pieces: the message area (errors from the API envelope, confirmations) and the
// display of a run's result, used by the run page and the encrypted-code page.

import { ApiError, type ExecuteResponse } from './api';
import { h } from './dom';

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
    let text = err.message;
    if (err.status === 429) text += ' Wait a moment and try again.';
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

/** The result of one run: exit code, timings, flags, stdout and stderr. */
export function runResult(result: ExecuteResponse): HTMLElement {
  const failed = result.exitCode !== 0 || result.timedOut || result.memoryExceeded;
  const flags = [
    result.timedOut ? 'timed out' : null,
    result.memoryExceeded ? 'memory limit exceeded' : null,
    result.outputTruncated ? 'output truncated' : null,
    result.zeroKnowledge ? 'zero-knowledge' : null,
  ].filter((f): f is string => f !== null);
  return h(
    'section',
    { class: `result ${failed ? 'failed' : 'succeeded'}`, 'aria-label': 'Run result', 'data-testid': 'run-result' },
    h(
      'p',
      { class: 'summary', role: 'status' },
      h('span', { class: 'badge' }, failed ? 'Failed' : 'Succeeded'),
      ` Exit code `,
      h('strong', { 'data-testid': 'exit-code' }, result.exitCode),
      ` · ${result.durationMs} ms · ${result.language}`,
      flags.length ? ` · ${flags.join(', ')}` : '',
    ),
    h('h3', {}, 'Output'),
    h('pre', { class: 'stdout', 'data-testid': 'stdout', tabindex: 0 }, result.output || '(no output)'),
    h('h3', {}, 'Error'),
    h('pre', { class: 'stderr', 'data-testid': 'stderr', tabindex: 0 }, result.error || '(nothing on stderr)'),
    h('p', { class: 'meta' }, `Execution ${result.executionId}`),
  );
}
