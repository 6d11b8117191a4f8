// One session as a notebook: the cells run so far with their output, the running cell live
// (output as it comes, elapsed time, Stop), an editor for the next cell, and the session's
// files. Rich results: images drawn on a canvas, HTML in a sandboxed frame (rich.ts).

import { h } from '../dom';
import { Messages } from '../ui';
import { createEditor } from '../editor';
import { cellView, startCell } from './cell';
import { filesPanel } from './session-files';

export interface SessionInfo {
  id: string;
  language: string;
  status: string;
  memoryMb: number;
  createdAt: string;
  expiresAt: string;
}

/** The cells of each session shown since the page loaded (sessions live on the server). */
const cellsBySession = new Map<string, HTMLElement[]>();

/** `onEnded`: the session ended with a cell; `onCell`: a cell ended (the list's status changed). */
export function notebook(session: SessionInfo, onEnded: () => void, onCell: () => void): HTMLElement {
  const messages = new Messages();
  const cells = cellsBySession.get(session.id) ?? [];
  cellsBySession.set(session.id, cells);
  const list = h('ol', { class: 'cells', 'aria-label': 'Cells' }, cells);
  const files = filesPanel(session.id);
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run cell');
  const editor = createEditor({ label: 'Cell code', initial: '', language: session.language, compact: true, onRun: () => form.requestSubmit() });
  const form = h('form', { class: 'card', 'aria-label': 'Next cell' }, h('div', { class: 'field' }, h('span', { class: 'label' }, 'Next cell'), editor.dom, h('small', { class: 'hint' }, 'Ctrl+Enter runs the cell. Variables and files in /work stay for the next cells.')), h('div', { class: 'actions' }, run));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = editor.value();
    if (!code.trim() || run.disabled) return;
    run.disabled = true;
    messages.clear();
    const n = cells.length + 1;
    const live = startCell(session.id, n, code);
    list.append(live.el);
    editor.setValue('');
    void live.done
      .then((r) => {
        const cell = cellView(n, code, r);
        cells.push(cell);
        live.el.replaceWith(cell);
        if (r.sessionEnded) return onEnded();
        onCell();
        void files.refresh();
      })
      .catch((err) => {
        live.el.remove();
        editor.setValue(code);
        messages.error(err, 'The cell was refused');
      })
      .finally(() => {
        run.disabled = false;
        editor.focus();
      });
  });
  return h(
    'section',
    { class: 'notebook', 'aria-label': `Session ${session.id}` },
    h('h2', {}, `${session.language === 'javascript' ? 'JavaScript' : 'Python'} session `, h('code', { 'data-testid': 'session-id' }, session.id.slice(0, 13))),
    h('div', { class: 'notebook-body' }, h('div', { class: 'notebook-cells' }, list, messages.el, form), files.el),
  );
}
