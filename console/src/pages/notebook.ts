// One session as a notebook: the cells run so far with their output, and an editor for the
// next cell. Rich results: images drawn on a canvas (the CSP allows no data: or blob: images),
// HTML and other formats shown as their text, never as markup.

import { call, enc } from '../api';
import { createEditor } from '../editor';
import { h } from '../dom';
import { base64Blob, imagePreview, outputBlock, seconds } from '../result';
import { Messages } from '../ui';

export interface SessionInfo {
  id: string;
  language: string;
  status: string;
  memoryMb: number;
  createdAt: string;
  expiresAt: string;
}

interface CellResponse {
  stdout: string;
  stderr: string;
  results: { mime: string; data: string }[];
  resultsTruncated: boolean;
  error: { name: string; message: string; traceback: string } | null;
  timedOut: boolean;
  outputTruncated: boolean;
  memoryExceeded: boolean;
  sessionEnded: boolean;
  exitCode: number | null;
  durationMs: number;
}

/** The cells of each session shown since the page loaded (sessions live on the server). */
const cellsBySession = new Map<string, HTMLElement[]>();

function richResult(result: { mime: string; data: string }, n: number): HTMLElement {
  if (result.mime === 'image/png' || result.mime === 'image/jpeg') {
    return imagePreview(base64Blob(result.data, result.mime), `Cell ${n} image`);
  }
  const note = result.mime === 'text/plain' ? null : h('span', { class: 'meta' }, `${result.mime}, shown as text`);
  return h('div', {}, note, h('pre', { class: 'result-text', 'data-testid': 'cell-result', tabindex: 0 }, result.data));
}

function cellSummary(r: CellResponse): string {
  if (r.sessionEnded) return `The session ended with this cell (exit code ${r.exitCode ?? 'unknown'}).`;
  if (r.timedOut) return `Interrupted: time limit reached after ${seconds(r.durationMs)}; the session goes on.`;
  if (r.memoryExceeded) return 'Stopped: out of memory.';
  if (r.error) return `Raised ${r.error.name} after ${seconds(r.durationMs)}.`;
  return `Done in ${seconds(r.durationMs)}.`;
}

function cellView(n: number, code: string, r: CellResponse): HTMLElement {
  return h(
    'li',
    { class: `cell ${r.error || r.timedOut || r.sessionEnded ? 'failed' : 'succeeded'}`, 'data-testid': 'cell' },
    h('h3', {}, `In [${n}]`),
    h('pre', { class: 'cell-code', tabindex: 0, 'aria-label': `Cell ${n} code` }, code),
    h('p', { class: 'meta', role: 'status' }, cellSummary(r)),
    r.stdout ? outputBlock('stdout', r.stdout, '') : null,
    r.stderr ? outputBlock('stderr', r.stderr, '') : null,
    r.error ? h('pre', { class: 'stderr', 'data-testid': 'cell-error', tabindex: 0 }, r.error.traceback || `${r.error.name}: ${r.error.message}`) : null,
    r.results.map((res) => richResult(res, n)),
    r.resultsTruncated ? h('p', { class: 'meta' }, 'Some results were left out: over the size limit.') : null,
    r.outputTruncated ? h('p', { class: 'meta' }, "Output truncated at the server's output limit.") : null,
  );
}

export function notebook(session: SessionInfo, onEnded: () => void): HTMLElement {
  const messages = new Messages();
  const cells = cellsBySession.get(session.id) ?? [];
  cellsBySession.set(session.id, cells);
  const list = h('ol', { class: 'cells', 'aria-label': 'Cells' }, cells);
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run cell');
  const editor = createEditor({ label: 'Cell code', initial: '', language: session.language, compact: true, onRun: () => form.requestSubmit() });
  const form = h('form', { class: 'card', 'aria-label': 'Next cell' }, h('div', { class: 'field' }, h('span', { class: 'label' }, 'Next cell'), editor.dom, h('small', { class: 'hint' }, 'Ctrl+Enter runs the cell. Variables and files in /work stay for the next cells.')), h('div', { class: 'actions' }, run));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = editor.value();
    if (!code.trim() || run.disabled) return;
    run.disabled = true;
    messages.info('Running the cell…');
    void call<CellResponse>('POST', `/api/v1/sessions/${enc(session.id)}/execute`, { code })
      .then((r) => {
        messages.clear();
        const cell = cellView(cells.length + 1, code, r);
        cells.push(cell);
        list.append(cell);
        editor.setValue('');
        if (r.sessionEnded) onEnded();
      })
      .catch((err) => messages.error(err, 'The cell was refused'))
      .finally(() => {
        run.disabled = false;
        editor.focus();
      });
  });
  return h(
    'section',
    { class: 'notebook', 'aria-label': `Session ${session.id}` },
    h('h2', {}, `${session.language === 'javascript' ? 'JavaScript' : 'Python'} session `, h('code', { 'data-testid': 'session-id' }, session.id.slice(0, 13))),
    list,
    messages.el,
    form,
  );
}
