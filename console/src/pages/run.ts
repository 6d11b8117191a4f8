// Run code: language, editor, stdin, limits; the result with exit code and timings.

import { call, info, type ExecuteResponse } from '../api';
import { field, h } from '../dom';
import { busy, Messages, runResult } from '../ui';

const EXAMPLES: Record<string, string> = {
  python: 'import os, sys\n\nname = sys.stdin.read().strip() or "world"\nprint(f"Hello, {name}!")\n',
  javascript:
    "const input = require('fs').readFileSync(0, 'utf8').trim();\nconsole.log(`Hello, ${input || 'world'}!`);\n",
};

export function runPage(): HTMLElement {
  const messages = new Messages();
  const output = h('div', { class: 'output' });
  const language = h(
    'select',
    { name: 'language' },
    h('option', { value: 'python' }, 'Python'),
    h('option', { value: 'javascript' }, 'JavaScript'),
  );
  const code = h('textarea', {
    name: 'code',
    class: 'code',
    rows: 14,
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    required: true,
  });
  code.value = EXAMPLES.python;
  const stdin = h('textarea', { name: 'stdin', rows: 3, spellcheck: 'false' });
  const args = h('textarea', { name: 'args', rows: 2, spellcheck: 'false', autocomplete: 'off' });
  const env = h('textarea', { name: 'env', rows: 2, spellcheck: 'false', autocomplete: 'off' });
  const packages = h('input', { name: 'packages', spellcheck: 'false', autocomplete: 'off' });
  const network = h('input', { type: 'checkbox', name: 'network' });
  const networkField = h('div', { class: 'field check', hidden: true }, h('label', {}, network, ' Allow network access (through the server\'s egress policy)'));
  const timeout = h('input', { type: 'number', name: 'timeoutMs', min: 1, step: 1, inputmode: 'numeric' });
  const memory = h('input', { type: 'number', name: 'memoryMb', min: 16, step: 1, inputmode: 'numeric' });
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run');

  language.addEventListener('change', () => {
    // Swap the example only when the editor still holds the other language's example.
    if (Object.values(EXAMPLES).includes(code.value)) code.value = EXAMPLES[language.value] ?? '';
  });
  code.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const generateArea = h('div', {});
  void info()
    .then((i) => {
      if (i.features.generate) generateArea.replaceChildren(generateForm());
      networkField.hidden = !i.features.egress;
      timeout.value = String(i.limits.defaultTimeoutMs);
      timeout.max = String(i.limits.maxTimeoutMs);
      memory.value = String(i.limits.defaultMemoryMb);
      memory.max = String(i.limits.maxMemoryMb);
      memory.min = String(i.limits.minMemoryMb);
      const names = i.languages.map((l) => l.name);
      for (const option of Array.from(language.options)) {
        const lang = i.languages.find((l) => l.name === option.value);
        if (lang) option.textContent = `${option.textContent} ${lang.version}`;
        else if (names.length) option.disabled = true;
      }
    })
    .catch((err) => messages.error(err, 'Could not read the server limits'));

  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Run code' },
    h('div', { class: 'row' }, field('Language', language)),
    field('Code', code, 'Ctrl+Enter runs. Tab moves to the next field.'),
    h('div', { class: 'row' }, field('Standard input', stdin), field('Arguments', args, 'One per line; the program sees them after its name.')),
    h(
      'div',
      { class: 'row' },
      field('Environment variables', env, 'NAME=value, one per line; not secret (use Secrets for that).'),
      field('Extra packages for this run', packages, 'Space-separated, on top of your saved packages.'),
    ),
    h(
      'div',
      { class: 'row' },
      field('Time limit (ms)', timeout),
      field('Memory limit (MB)', memory),
    ),
    networkField,
    h('div', { class: 'actions' }, run),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    messages.info('Running…');
    output.replaceChildren();
    void busy(form, async () => {
      try {
        const body: Record<string, unknown> = { code: code.value, language: language.value, stdin: stdin.value };
        const argv = args.value.split('\n').filter((a) => a !== '');
        if (argv.length) body.args = argv;
        const vars = env.value.split('\n').filter((line) => line.trim() !== '');
        if (vars.length) {
          body.env = Object.fromEntries(
            vars.map((line) => {
              const at = line.indexOf('=');
              return at < 0 ? [line.trim(), ''] : [line.slice(0, at).trim(), line.slice(at + 1)];
            }),
          );
        }
        const extra = packages.value.split(/\s+/).filter((p) => p !== '');
        if (extra.length) body.packages = extra;
        if (network.checked) body.network = true;
        if (timeout.value) body.timeoutMs = Number(timeout.value);
        if (memory.value) body.memoryMb = Number(memory.value);
        const result = await call<ExecuteResponse>('POST', '/api/v1/execute', body);
        messages.clear();
        output.replaceChildren(runResult(result));
      } catch (err) {
        messages.error(err, 'The run was refused');
      }
    });
  });

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
      void busy(gen, async () => {
        try {
          const answer = await call<GenerateResponse>('POST', '/api/v1/generate', {
            prompt: prompt.value,
            language: language.value,
          });
          code.value = answer.code;
          messages.clear();
          output.replaceChildren(
            h('p', { class: 'msg info', 'data-testid': 'explanation' }, `${answer.model}: ${answer.explanation || 'no explanation'}`),
            answer.execution ? runResult(answer.execution) : h('p', {}, 'Not run.'),
          );
        } catch (err) {
          messages.error(err, 'Could not generate code');
        }
      });
    });
    return gen;
  }

  return h('section', { class: 'page' }, h('h1', {}, 'Run code'), form, generateArea, messages.el, output);
}

interface GenerateResponse {
  code: string;
  language: string;
  model: string;
  explanation: string;
  executed: boolean;
  execution?: ExecuteResponse | null;
}
