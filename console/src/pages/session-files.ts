// A session's files (its working directory, /work): one directory listed at a time, files
// uploaded from this computer (a file picker), downloaded and deleted, through the session's
// file routes. The server's kernel does every operation inside the sandbox.

import { call, download, enc } from '../api';
import { h } from '../dom';
import { busy, Messages } from '../ui';

interface Entry {
  path: string;
  type: 'file' | 'directory' | 'other';
  size: number;
}

interface Listing {
  dir: string;
  entries: Entry[];
  truncated: boolean;
}

/** A path as URL segments: each one encoded, the slashes kept. */
function segments(path: string): string {
  return path.split('/').map(enc).join('/');
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** Saves `blob` as `name` through a temporary link. */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface FilesPanel {
  readonly el: HTMLElement;
  /** Lists the directory shown again (after a cell, which may have written files). */
  refresh(): Promise<void>;
}

export function filesPanel(sessionId: string): FilesPanel {
  const base = `/api/v1/sessions/${enc(sessionId)}/files`;
  const messages = new Messages();
  const list = h('div', { 'data-testid': 'session-files' });
  const where = h('code', {}, '/work');
  const up = h('button', { type: 'button', hidden: true }, 'Up one level');
  const picker = h('input', { type: 'file', id: `upload-${sessionId}`, name: 'file' });
  const form = h(
    'form',
    { class: 'row toolbar', 'aria-label': 'Upload a file' },
    h('div', { class: 'field' }, h('label', { for: picker.id }, 'File to upload'), picker),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Upload')),
  );
  let dir = '';

  async function refresh(): Promise<void> {
    try {
      const listing = await call<Listing>('GET', `${base}?dir=${enc(dir)}`);
      where.textContent = dir ? `/work/${dir}` : '/work';
      up.hidden = dir === '';
      const rows = listing.entries.map(row);
      list.replaceChildren(
        rows.length
          ? h('ul', { class: 'file-list', 'aria-label': `Files in ${where.textContent}` }, rows)
          : h('p', { class: 'empty' }, 'No files here yet.'),
      );
      if (listing.truncated) list.append(h('p', { class: 'meta' }, 'Only the first 1000 entries are listed.'));
    } catch (err) {
      messages.error(err, 'Could not list the files');
    }
  }

  function row(entry: Entry): HTMLElement {
    const name = entry.path.split('/').pop() ?? entry.path;
    if (entry.type === 'directory') {
      const open = h('button', { type: 'button', class: 'link', 'aria-label': `Open folder ${entry.path}` }, `${name}/`);
      open.addEventListener('click', () => {
        dir = entry.path;
        void refresh();
      });
      return h('li', { 'data-testid': 'session-file' }, open, h('span', { class: 'meta' }, ' folder'), deleteButton(entry));
    }
    const get = h('button', { type: 'button', 'aria-label': `Download ${entry.path}` }, 'Download');
    get.addEventListener('click', () => {
      download(`${base}/${segments(entry.path)}`)
        .then((blob) => save(blob, name))
        .catch((err: unknown) => messages.error(err, `Could not download ${entry.path}`));
    });
    return h(
      'li',
      { 'data-testid': 'session-file' },
      h('span', { class: 'file-name' }, name),
      h('span', { class: 'meta' }, ` ${entry.type === 'file' ? size(entry.size) : 'not a regular file'}`),
      h('span', { class: 'buttons' }, entry.type === 'file' ? get : null, deleteButton(entry)),
    );
  }

  function deleteButton(entry: Entry): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${entry.path}` }, 'Delete');
    button.addEventListener('click', () => {
      if (!window.confirm(`Delete ${entry.path} from the session?`)) return;
      call('DELETE', `${base}/${segments(entry.path)}`)
        .then(refresh)
        .then(() => messages.ok(`Deleted ${entry.path}.`))
        .catch((err: unknown) => messages.error(err, `Could not delete ${entry.path}`));
    });
    return button;
  }

  up.addEventListener('click', () => {
    dir = dir.split('/').slice(0, -1).join('/');
    void refresh();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = picker.files?.[0];
    if (!file) return messages.error(new Error('Choose a file first.'), 'Not uploaded');
    const path = dir ? `${dir}/${file.name}` : file.name;
    void busy(form, async () => {
      try {
        await call('PUT', `${base}/${segments(path)}`, file);
        picker.value = '';
        await refresh();
        messages.ok(`Uploaded ${path} (${size(file.size)}).`);
      } catch (err) {
        messages.error(err, `Could not upload ${file.name}`);
      }
    });
  });

  const el = h(
    'section',
    { class: 'card session-files', 'aria-label': 'Session files' },
    h('h3', {}, 'Files in ', where),
    h('p', { class: 'hint' }, 'Cells read and write these files by name; they go when the session ends.'),
    up,
    list,
    form,
    messages.el,
  );
  void refresh();
  return { el, refresh };
}
