// The last runs on the Run page: what ran, how it ended, and a button to reopen it.

import { formatTime, h } from '../dom';
import type { HistoryEntry } from '../store';

function firstLine(code: string): string {
  const line = code.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 60 ? `${line.slice(0, 60)}…` : line;
}

export function historyList(entries: HistoryEntry[], reopen: (entry: HistoryEntry) => void): HTMLElement {
  if (entries.length === 0) return h('p', { class: 'empty' }, 'Your recent runs will be listed here.');
  return h(
    'details',
    { class: 'card history-list', 'data-testid': 'history' },
    h('summary', {}, `Recent runs (${entries.length})`),
    h(
      'ol',
      {},
      entries.map((entry, i) =>
        h(
          'li',
          { class: entry.failed ? 'failed' : 'succeeded' },
          h('code', {}, firstLine(entry.code) || '(empty)'),
          h('span', { class: 'meta' }, ` ${entry.language} · ${formatTime(entry.at)} · ${entry.summary}`),
          entry.output ? h('pre', { class: 'stdout small' }, entry.output.slice(0, 200)) : null,
          h('button', { type: 'button', 'aria-label': `Reopen run ${i + 1}`, onclick: () => reopen(entry) }, 'Reopen'),
        ),
      ),
    ),
  );
}
