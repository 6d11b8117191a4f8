// One notebook cell: while it runs, its output as it comes (the session's execute route with
// `Accept: text/event-stream`), the elapsed time and a Stop button (the interrupt route); once
// it ended, its outcome in words, its output, its error and its rich results.

import { ApiError, call, enc, stream, type StreamEvent } from '../api';
import { h } from '../dom';
import { outputBlock, seconds, stripAnsi } from '../result';
import { richResult, type Rich } from '../rich';

export interface CellResponse {
  stdout: string;
  stderr: string;
  results: Rich[];
  resultsTruncated: boolean;
  error: { name: string; message: string; traceback: string } | null;
  timedOut: boolean;
  interrupted?: boolean;
  outputTruncated: boolean;
  memoryExceeded: boolean;
  sessionEnded: boolean;
  exitCode: number | null;
  durationMs: number;
}

function cellSummary(r: CellResponse): string {
  if (r.interrupted && r.sessionEnded) return 'Stopped by you: the cell ignored the interrupt, so the session was ended.';
  if (r.sessionEnded) return `The session ended with this cell (exit code ${r.exitCode ?? 'unknown'}).`;
  if (r.interrupted) return `Stopped by you after ${seconds(r.durationMs)}; the session and its variables stay.`;
  if (r.timedOut) return `Interrupted: time limit reached after ${seconds(r.durationMs)}; the session goes on.`;
  if (r.memoryExceeded) return 'Stopped: out of memory.';
  if (r.error) return `Raised ${r.error.name} after ${seconds(r.durationMs)}.`;
  return `Done in ${seconds(r.durationMs)}.`;
}

function codeBlock(n: number, code: string): HTMLElement[] {
  return [h('h3', {}, `In [${n}]`), h('pre', { class: 'cell-code', tabindex: 0, 'aria-label': `Cell ${n} code` }, code)];
}

/** A cell that has ended. */
export function cellView(n: number, code: string, r: CellResponse): HTMLElement {
  const failed = r.error || r.timedOut || r.sessionEnded || r.interrupted;
  return h(
    'li',
    { class: `cell ${failed ? 'failed' : 'succeeded'}`, 'data-testid': 'cell' },
    codeBlock(n, code),
    h('p', { class: 'meta', role: 'status', 'data-testid': 'cell-outcome' }, cellSummary(r)),
    r.stdout ? outputBlock('stdout', r.stdout, '') : null,
    r.stderr ? outputBlock('stderr', r.stderr, '') : null,
    r.error ? h('pre', { class: 'stderr', 'data-testid': 'cell-error', tabindex: 0 }, r.error.traceback || `${r.error.name}: ${r.error.message}`) : null,
    r.results.map((res) => richResult(res, n)),
    r.resultsTruncated ? h('p', { class: 'meta' }, 'Some results were left out: over the size limit.') : null,
    r.outputTruncated ? h('p', { class: 'meta' }, "Output truncated at the server's output limit.") : null,
  );
}

function text(data: unknown): string {
  return data && typeof data === 'object' && 'text' in data ? String((data as { text: unknown }).text) : '';
}

export interface LiveCell {
  readonly el: HTMLElement;
  readonly done: Promise<CellResponse>;
}

/** Runs `code` in session `id`, streaming; `el` shows it until `done` settles. */
export function startCell(id: string, n: number, code: string): LiveCell {
  const started = performance.now();
  const elapsed = h('span', { class: 'elapsed', 'data-testid': 'cell-elapsed' }, '0.0 s');
  const stop = h('button', { type: 'button', class: 'danger', disabled: true }, 'Stop');
  const state = h('span', { class: 'state', role: 'status' }, 'Starting…');
  const stdout = h('pre', { class: 'stdout live', 'data-testid': 'cell-live-stdout', tabindex: 0, 'aria-label': `Cell ${n} stdout so far` });
  const stderr = h('pre', { class: 'stderr live', tabindex: 0, hidden: true, 'aria-label': `Cell ${n} stderr so far` });
  const el = h(
    'li',
    { class: 'cell running', 'aria-busy': 'true', 'data-testid': 'cell-running' },
    codeBlock(n, code),
    h('p', { class: 'summary' }, h('span', { class: 'badge started' }, 'Running'), elapsed, stop, state),
    stdout,
    stderr,
  );
  const timer = setInterval(() => (elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`), 100);
  stop.addEventListener('click', () => {
    stop.disabled = true;
    state.textContent = 'Stopping…';
    call<{ interrupted: boolean }>('POST', `/api/v1/sessions/${enc(id)}/interrupt`)
      .then((r) => (state.textContent = r.interrupted ? 'Interrupt sent; waiting for the cell to end…' : 'The cell had already ended.'))
      .catch(() => (state.textContent = 'Could not stop it; it ends at its time limit.'));
  });
  let result: CellResponse | null = null;
  let failure: unknown = null;
  const onEvent = (e: StreamEvent) => {
    if (e.event === 'start') {
      stop.disabled = false;
      state.textContent = '';
    } else if (e.event === 'stdout') stdout.append(stripAnsi(text(e.data)));
    else if (e.event === 'stderr') {
      stderr.hidden = false;
      stderr.append(stripAnsi(text(e.data)));
    } else if (e.event === 'result') result = e.data as CellResponse;
    else if (e.event === 'error') failure = e.data;
  };
  const done = stream(`/api/v1/sessions/${enc(id)}/execute`, { code }, onEvent)
    .then(() => {
      if (result) return result;
      if (failure && typeof failure === 'object' && 'error' in failure) {
        const e = failure as { error: string; code?: string; requestId?: string };
        throw new ApiError(e.error, 500, e.code ?? 'sandbox_error', e.requestId ?? null);
      }
      throw new Error('The cell ended without a result.');
    })
    .finally(() => {
      clearInterval(timer);
      stop.disabled = true;
    });
  return { el, done };
}
