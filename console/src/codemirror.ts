// The code editor itself: CodeMirror 6, bundled into its own chunk, loaded on first use by
// editor.ts (the sign-in page and the first load never fetch it). CodeMirror injects its styles at run time (style-mod):
// into a document that is a <style> element, which the CSP's `style-src 'self'` blocks; into a
// shadow root it is a constructable stylesheet (adoptedStyleSheets), which CSP does not govern.
// So the editor lives in a shadow root, and no 'unsafe-inline' is needed. Tab indents; Escape then Tab leaves the editor (CodeMirror's
// accessibility guidance for `indentWithTab`).

import { indentWithTab } from '@codemirror/commands';
import { indentUnit } from '@codemirror/language';
import { Compartment, Prec } from '@codemirror/state';
import { oneDark } from '@codemirror/theme-one-dark';
import { keymap } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';

import type { CodeEditor, EditorOptions } from './editor-types';


const dark = window.matchMedia('(prefers-color-scheme: dark)');

/** The language's indentation at once; its grammar (a chunk of its own) once loaded. */
function indentation(language: string) {
  return indentUnit.of(language === 'javascript' ? '  ' : '    ');
}

async function grammar(language: string) {
  if (language === 'javascript') return (await import('./lang-javascript')).javascript();
  return (await import('./lang-python')).python();
}

/** The page's look for the editor (page CSS does not reach into the shadow root; variables do). */
const look = (minHeight: string) => EditorView.theme({
  '&': {
    border: '1px solid var(--field-line)',
    borderRadius: '6px',
    backgroundColor: 'var(--field-bg)',
    color: 'var(--fg)',
    fontSize: '0.9rem',
    maxHeight: '65vh',
  },
  '&.cm-focused': { outline: '3px solid var(--focus)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-content, .cm-gutter': { minHeight },
  '.cm-gutters': { backgroundColor: 'var(--pre-bg)', color: 'var(--muted)', borderRight: '1px solid var(--line)' },
});

function themeFor(isDark: boolean) {
  return isDark ? oneDark : [];
}

/** Mounts CodeMirror in `host`'s shadow root (replacing what it held). */
export function mountEditor(host: HTMLElement, options: EditorOptions): CodeEditor {
  const lang = new Compartment();
  const theme = new Compartment();
  const attrs: Record<string, string> = { 'aria-label': options.label, 'aria-multiline': 'true', role: 'textbox' };
  if (options.describedBy) attrs['aria-describedby'] = options.describedBy;
  const shadow = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
  shadow.replaceChildren();
  const view = new EditorView({
    root: shadow,
    parent: shadow,
    doc: options.initial,
    extensions: [
      basicSetup,
      look(options.compact ? '5rem' : '16rem'),
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (options.onRun(), true) }])),
      keymap.of([indentWithTab]),
      lang.of(indentation(options.language)),
      theme.of(themeFor(dark.matches)),
      EditorView.contentAttributes.of(attrs),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) options.onChange?.(update.state.doc.toString());
      }),
    ],
  });
  const onScheme = (event: MediaQueryListEvent) => {
    if (!host.isConnected) return dark.removeEventListener('change', onScheme);
    view.dispatch({ effects: theme.reconfigure(themeFor(event.matches)) });
  };
  dark.addEventListener('change', onScheme);
  let wanted = options.language;
  const setLanguage = (language: string) => {
    wanted = language;
    view.dispatch({ effects: lang.reconfigure(indentation(language)) });
    void grammar(language).then((support) => {
      if (wanted === language) view.dispatch({ effects: lang.reconfigure([support, indentation(language)]) });
    });
  };
  setLanguage(options.language);
  return {
    dom: host,
    value: () => view.state.doc.toString(),
    setValue: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    setLanguage,
    // Without scrolling: on a phone the output below stays in view after a run.
    focus: () => view.contentDOM.focus({ preventScroll: true }),
  };
}
