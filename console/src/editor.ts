// The code editor as the pages see it. CodeMirror (codemirror.ts) is a large chunk: it is
// loaded on first use (a dynamic import, a same-origin script the CSP allows), so the first
// load stays small. Until it arrives the host shows a line saying so; reading, setting and
// focusing work at once and are applied when the editor is mounted.

export type { CodeEditor, EditorOptions } from './editor-types';
import type { CodeEditor, EditorOptions } from './editor-types';

let codemirror: Promise<typeof import('./codemirror')> | null = null;

/** Starts loading CodeMirror (once); pages that will show an editor may call it early. */
export function loadEditor(): Promise<typeof import('./codemirror')> {
  codemirror ??= import('./codemirror');
  return codemirror;
}

export function createEditor(options: EditorOptions): CodeEditor {
  const host = document.createElement('div');
  host.className = 'code-editor';
  const shadow = host.attachShadow({ mode: 'open' });
  const loading = document.createElement('p');
  loading.textContent = 'Loading the editor…';
  shadow.append(loading);
  let text = options.initial;
  let language = options.language;
  let focusWanted = false;
  let real: CodeEditor | null = null;
  loadEditor()
    .then(({ mountEditor }) => {
      real = mountEditor(host, { ...options, initial: text, language });
      if (focusWanted) real.focus();
    })
    .catch(() => {
      loading.textContent = 'The editor could not be loaded: reload the page.';
    });
  return {
    dom: host,
    value: () => real?.value() ?? text,
    setValue: (value) => (real ? real.setValue(value) : (text = value)),
    setLanguage: (value) => (real ? real.setLanguage(value) : (language = value)),
    focus: () => (real ? real.focus() : (focusWanted = true)),
  };
}
