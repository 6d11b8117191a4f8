// A run in progress: streams stdout and stderr as they come (SSE), counts the elapsed time and
// offers Stop (the cancel route). Resolves to the final result, or rejects with ApiError.

import { ApiError, call, stream, type ExecuteResponse, type StreamEvent } from './api';
import { h } from './dom';
import { seconds, stripAnsi } from './result';

export interface LiveRun {
  readonly el: HTMLElement;
  readonly done: Promise<ExecuteResponse>;
}

function text(data: unknown): string {
  return data && typeof data === 'object' && 'text' in data ? String((data as { text: unknown }).text) : '';
}

export function startRun(body: Record<string, unknown>): LiveRun {
  const started = performance.now();
  const elapsed = h('span', { class: 'elapsed', 'data-testid': 'elapsed' }, '0.0 s');
  const stop = h('button', { type: 'button', class: 'danger', disabled: true }, 'Stop');
  const stdout = h('pre', { class: 'stdout live', 'data-testid': 'live-stdout', tabindex: 0, 'aria-label': 'stdout so far' });
  const stderr = h('pre', { class: 'stderr live', tabindex: 0, hidden: true, 'aria-label': 'stderr so far' });
  const state = h('span', { class: 'state' }, 'Waiting for a sandbox…');
  const el = h(
    'section',
    { class: 'live-run', 'aria-label': 'Run in progress', 'aria-busy': 'true', 'data-testid': 'live-run' },
    h('p', { class: 'summary' }, h('span', { class: 'badge started' }, 'Running'), elapsed, stop, state),
    stdout,
    stderr,
  );
  const timer = setInterval(() => {
    elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 100);
  let executionId: string | null = null;
  stop.addEventListener('click', () => {
    if (!executionId) return;
    stop.disabled = true;
    state.textContent = 'Stopping…';
    void call('POST', `/api/v1/executions/${encodeURIComponent(executionId)}/cancel`).catch(() => {
      state.textContent = 'Could not stop it; it ends at its time limit.';
    });
  });

  let result: ExecuteResponse | null = null;
  let failure: unknown = null;
  const onEvent = (e: StreamEvent) => {
    if (e.event === 'start') {
      executionId = (e.data as { executionId?: string }).executionId ?? null;
      stop.disabled = executionId === null;
      state.textContent = '';
    } else if (e.event === 'stdout') {
      stdout.append(stripAnsi(text(e.data)));
    } else if (e.event === 'stderr') {
      stderr.hidden = false;
      stderr.append(stripAnsi(text(e.data)));
    } else if (e.event === 'result') {
      result = e.data as ExecuteResponse;
    } else if (e.event === 'error') {
      failure = e.data;
    }
  };
  const done = stream('/api/v1/execute', body, onEvent)
    .then(() => {
      if (result) return result;
      if (failure && typeof failure === 'object' && 'error' in failure) {
        const e = failure as { error: string; code?: string; requestId?: string };
        throw new ApiError(e.error, 500, e.code ?? 'sandbox_error', e.requestId ?? null);
      }
      throw new Error('The run ended without a result.');
    })
    .finally(() => {
      clearInterval(timer);
      stop.disabled = true;
      el.removeAttribute('aria-busy');
    });
  return { el, done };
}

export { seconds };
