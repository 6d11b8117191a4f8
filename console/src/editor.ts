// The code editor: CodeMirror 6, bundled. CodeMirror injects its styles at run time (style-mod):
// into a document that is a <style> element, which the CSP's `style-src 'self'` blocks; into a
// shadow root it is a constructable stylesheet (adoptedStyleSheets), which CSP does not govern.
// So the editor lives in a shadow root, and no 'unsafe-inline' is needed. Tab indents; Escape then Tab leaves the editor (CodeMirror's
// accessibility guidance for `indentWithTab`).

import { indentWithTab } from '@codemirror/commands';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import { indentUnit } from '@codemirror/language';
import { Compartment, Prec } from '@codemirror/state';
import { oneDark } from '@codemirror/theme-one-dark';
import { keymap } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';

export interface CodeEditor {
  readonly view: EditorView;
  readonly dom: HTMLElement;
  value(): string;
  setValue(text: string): void;
  setLanguage(language: string): void;
  focus(): void;
}

export interface EditorOptions {
  label: string;
  describedBy?: string;
  initial: string;
  language: string;
  onRun: () => void;
  onChange?: (text: string) => void;
  /** A few lines high (a notebook cell) rather than a full editor. */
  compact?: boolean;
}


const dark = window.matchMedia('(prefers-color-scheme: dark)');

function languageSupport(language: string) {
  return language === 'javascript' ? [javascript(), indentUnit.of('  ')] : [python(), indentUnit.of('    ')];
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

export function createEditor(options: EditorOptions): CodeEditor {
  const lang = new Compartment();
  const theme = new Compartment();
  const attrs: Record<string, string> = { 'aria-label': options.label, 'aria-multiline': 'true', role: 'textbox' };
  if (options.describedBy) attrs['aria-describedby'] = options.describedBy;
  const host = document.createElement('div');
  host.className = 'code-editor';
  const shadow = host.attachShadow({ mode: 'open' });
  const view = new EditorView({
    root: shadow,
    parent: shadow,
    doc: options.initial,
    extensions: [
      basicSetup,
      look(options.compact ? '5rem' : '16rem'),
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (options.onRun(), true) }])),
      keymap.of([indentWithTab]),
      lang.of(languageSupport(options.language)),
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
  return {
    view,
    dom: host,
    value: () => view.state.doc.toString(),
    setValue: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    setLanguage: (language) => view.dispatch({ effects: lang.reconfigure(languageSupport(language)) }),
    // Without scrolling: on a phone the output below stays in view after a run.
    focus: () => view.contentDOM.focus({ preventScroll: true }),
  };
}
