// Run code, playground style: the editor and its inputs on the left, the live output on the
// right (stacked on a phone). The draft and the last runs are kept per account in localStorage.

import { call, currentUser, info, type ExecuteResponse } from '../api';
import { createEditor, type CodeEditor } from '../editor';
import { field, h } from '../dom';
import { startRun } from '../live';
import { outcome, runResult, stripAnsi, type RunLimits } from '../result';
import { addHistory, loadDraft, loadHistory, saveDraft, type Draft } from '../store';
import { Messages } from '../ui';
import { historyList } from './run-history';
import { SECRETS_HINT, secretNames, secretsInput } from './secret-names';

const EXAMPLES: Record<string, string> = {
  python: 'import os, sys\n\nname = sys.stdin.read().strip() or "world"\nprint(f"Hello, {name}!")\n',
  javascript:
    "const input = require('fs').readFileSync(0, 'utf8').trim();\nconsole.log(`Hello, ${input || 'world'}!`);\n",
};

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    lines(text).map((line) => {
      const at = line.indexOf('=');
      return at < 0 ? [line.trim(), ''] : [line.slice(0, at).trim(), line.slice(at + 1)];
    }),
  );
}

/** The inputs beside the editor; `values()` and `restore()` are what the draft stores. */
function inputs() {
  const language = h('select', { name: 'language' }, h('option', { value: 'python' }, 'Python'), h('option', { value: 'javascript' }, 'JavaScript'));
  const text = (name: string, rows: number) => h('textarea', { name, rows, spellcheck: 'false', autocomplete: 'off' });
  const c = {
    language,
    stdin: text('stdin', 3),
    args: text('args', 2),
    env: text('env', 2),
    packages: h('input', { name: 'packages', spellcheck: 'false', autocomplete: 'off' }),
    secrets: secretsInput(),
    outputFiles: h('input', { name: 'outputFiles', spellcheck: 'false', autocomplete: 'off' }),
    timeoutMs: h('input', { type: 'number', name: 'timeoutMs', min: 1, step: 1, inputmode: 'numeric' }),
    memoryMb: h('input', { type: 'number', name: 'memoryMb', min: 16, step: 1, inputmode: 'numeric' }),
    network: h('input', { type: 'checkbox', name: 'network' }),
  };
  return c;
}
type Inputs = ReturnType<typeof inputs>;
const DRAFT_FIELDS = ['language', 'stdin', 'args', 'env', 'packages', 'secrets', 'outputFiles', 'timeoutMs', 'memoryMb'] as const;

function requestBody(c: Inputs, code: string): Record<string, unknown> {
  const body: Record<string, unknown> = { code, language: c.language.value, stdin: c.stdin.value };
  const argv = c.args.value.split('\n').filter((a) => a !== '');
  if (argv.length) body.args = argv;
  if (lines(c.env.value).length) body.env = parseEnv(c.env.value);
  const extra = c.packages.value.split(/\s+/).filter((p) => p !== '');
  if (extra.length) body.packages = extra;
  const secrets = secretNames(c.secrets.value);
  if (secrets) body.secrets = secrets;
  const globs = c.outputFiles.value.split(/\s+/).filter((p) => p !== '');
  if (globs.length) body.outputFiles = globs;
  if (c.network.checked) body.network = true;
  if (c.timeoutMs.value) body.timeoutMs = Number(c.timeoutMs.value);
  if (c.memoryMb.value) body.memoryMb = Number(c.memoryMb.value);
  return body;
}

function applyInfo(c: Inputs, networkField: HTMLElement, generateArea: HTMLElement, generate: () => HTMLElement) {
  return info().then((i) => {
    if (i.features.generate) generateArea.replaceChildren(generate());
    networkField.hidden = !i.features.egress;
    c.timeoutMs.value ||= String(i.limits.defaultTimeoutMs);
    c.timeoutMs.max = String(i.limits.maxTimeoutMs);
    c.memoryMb.value ||= String(i.limits.defaultMemoryMb);
    c.memoryMb.max = String(i.limits.maxMemoryMb);
    c.memoryMb.min = String(i.limits.minMemoryMb);
    const names = i.languages.map((l) => l.name);
    for (const option of Array.from(c.language.options)) {
      const lang = i.languages.find((l) => l.name === option.value);
      if (lang) option.textContent = `${option.textContent} ${lang.version}`;
      else if (names.length) option.disabled = true;
    }
  });
}

export function runPage(): HTMLElement {
  const user = currentUser()?.id ?? 'anonymous';
  const messages = new Messages();
  const output = h('div', { class: 'output', 'aria-live': 'polite' });
  const c = inputs();
  const draft = loadDraft(user);
  for (const key of DRAFT_FIELDS) if (typeof draft?.[key] === 'string') c[key].value = draft[key];
  const save = () => {
    const values = Object.fromEntries(DRAFT_FIELDS.map((k) => [k, c[k].value])) as Omit<Draft, 'code'>;
    saveDraft(user, { ...values, code: editor.value() });
  };
  const editor: CodeEditor = createEditor({
    label: 'Code',
    describedBy: 'code-hint',
    initial: draft?.code ?? EXAMPLES[c.language.value] ?? '',
    language: c.language.value,
    onRun: () => form.requestSubmit(),
    onChange: save,
  });
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run');
  const networkField = h('div', { class: 'field check', hidden: true }, h('label', {}, c.network, " Allow network access (through the server's egress policy)"));

  c.language.addEventListener('change', () => {
    editor.setLanguage(c.language.value);
    // Swap the example only when the editor still holds the other language's example.
    if (Object.values(EXAMPLES).includes(editor.value())) editor.setValue(EXAMPLES[c.language.value] ?? '');
  });

  const history = h('div', { class: 'history' });
  const showHistory = () => history.replaceChildren(historyList(loadHistory(user), reopen));
  const reopen = (entry: { language: string; code: string; stdin: string }) => {
    c.language.value = entry.language;
    editor.setLanguage(entry.language);
    editor.setValue(entry.code);
    c.stdin.value = entry.stdin;
    save();
    editor.focus();
  };
  showHistory();

  const generateArea = h('div', { class: 'generate-area' });
  void applyInfo(c, networkField, generateArea, generateForm).catch((err) => messages.error(err, 'Could not read the server limits'));

  const form = h(
    'form',
    { class: 'card editor-pane', 'aria-label': 'Run code' },
    h('div', { class: 'row toolbar' }, field('Language', c.language), h('div', { class: 'actions' }, run)),
    h('div', { class: 'field' }, h('span', { class: 'label', id: 'code-label' }, 'Code'), editor.dom, h('small', { id: 'code-hint', class: 'hint' }, 'Ctrl+Enter (⌘+Enter) runs from anywhere on the page. Tab indents; Escape then Tab leaves the editor.')),
    h('div', { class: 'row' }, field('Standard input', c.stdin), field('Arguments', c.args, 'One per line; the program sees them after its name.')),
    h('div', { class: 'row' }, field('Environment variables', c.env, 'NAME=value, one per line; not secret (use Secrets for that).'), field('Extra packages for this run', c.packages, 'Space-separated, on top of your saved packages.')),
    h('div', { class: 'row' }, field('Time limit (ms)', c.timeoutMs), field('Memory limit (MB)', c.memoryMb), field('Output files', c.outputFiles, 'Glob patterns under /work, e.g. *.png; they come back with the result.'), field('Secrets', c.secrets, SECRETS_HINT)),
    networkField,
  );
  form.addEventListener('input', save);
  form.addEventListener('change', save);

  let running = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (running) return;
    running = true;
    run.disabled = true;
    void execute().finally(() => {
      running = false;
      run.disabled = false;
      editor.focus();
    });
  });

  async function execute(): Promise<void> {
    messages.clear();
    const body = requestBody(c, editor.value());
    const limits: RunLimits = { timeoutMs: body.timeoutMs as number | undefined, memoryMb: body.memoryMb as number | undefined };
    const started = performance.now();
    const live = startRun(body);
    output.replaceChildren(live.el);
    // Stacked on a phone: bring the output into view; side by side it is already there.
    if (!window.matchMedia('(min-width: 1000px)').matches) live.el.scrollIntoView({ block: 'nearest' });
    try {
      const result = await live.done;
      limits.elapsedMs = Math.round(performance.now() - started);
      output.replaceChildren(runResult(result, limits));
      remember(body, result, limits);
    } catch (err) {
      output.replaceChildren();
      messages.error(err, 'The run was refused');
    }
  }

  function remember(body: Record<string, unknown>, result: ExecuteResponse, limits: RunLimits): void {
    addHistory(user, {
      at: new Date().toISOString(),
      language: String(body.language),
      code: String(body.code),
      stdin: String(body.stdin ?? ''),
      summary: outcome(result, limits).join(' '),
      output: stripAnsi(result.output),
      failed: result.exitCode !== 0 || result.timedOut || result.memoryExceeded || Boolean(result.cancelled),
    });
    showHistory();
  }

  // Ctrl/Cmd+Enter from anywhere on the page (the editor handles its own first).
  const onKey = (event: KeyboardEvent) => {
    if (!form.isConnected) return document.removeEventListener('keydown', onKey);
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
      if (event.target instanceof Element && event.target.closest('form') && !form.contains(event.target)) return;
      event.preventDefault();
      form.requestSubmit();
    }
  };
  document.addEventListener('keydown', onKey);

  /** Shown when the server has a model provider: a prompt becomes code, run in the sandbox. */
  function generateForm(): HTMLElement {
    const prompt = h('textarea', { name: 'prompt', rows: 2, required: true });
    const gen = h(
      'form',
      { class: 'card', 'aria-label': 'Generate code' },
      field('Describe a program', prompt, 'The model writes it in the language chosen above, into the editor, and it runs at once.'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Generate and run')),
    );
    gen.addEventListener('submit', (event) => {
      event.preventDefault();
      messages.info('Asking the model…');
      output.replaceChildren();
      const button = gen.querySelector('button');
      if (button) button.disabled = true;
      void call<GenerateResponse>('POST', '/api/v1/generate', { prompt: prompt.value, language: c.language.value })
        .then((answer) => {
          editor.setValue(answer.code);
          messages.clear();
          output.replaceChildren(
            h('p', { class: 'msg info', 'data-testid': 'explanation' }, `${answer.model}: ${answer.explanation || 'no explanation'}`),
            answer.execution ? runResult(answer.execution) : h('p', {}, 'Not run.'),
          );
        })
        .catch((err) => messages.error(err, 'Could not generate code'))
        .finally(() => button && (button.disabled = false));
    });
    return gen;
  }

  return h(
    'section',
    { class: 'page run-page' },
    h('h1', {}, 'Run code'),
    h('div', { class: 'playground' }, form, h('div', { class: 'output-pane', role: 'region', 'aria-label': 'Output' }, messages.el, output, history), generateArea),
  );
}

interface GenerateResponse {
  code: string;
  language: string;
  model: string;
  explanation: string;
  executed: boolean;
  execution?: ExecuteResponse | null;
}
