// What a code editor is to the pages, apart from its two implementations' modules (the
// loader in editor.ts and CodeMirror in codemirror.ts), which both need it.

export interface CodeEditor {
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
