// Packages: the persistent list per language, add, remove, and each environment's status.

import { call, enc } from '../api';
import { field, formatTime, h, table } from '../dom';
import { busy, Messages } from '../ui';

interface PackageInfo {
  name: string;
  spec: string;
  language: string;
  addedAt: string;
}
interface EnvStatus {
  status: string;
  error?: string | null;
}
interface PackageList {
  packages: PackageInfo[];
  environments: Record<string, EnvStatus>;
}

const LABELS: Record<string, string> = {
  none: 'no packages',
  building: 'installing…',
  ready: 'ready',
  failed: 'install failed',
};

export function packagesPage(): HTMLElement {
  const messages = new Messages();
  const envs = h('div', { class: 'envs', 'aria-live': 'polite' });
  const list = h('div', { class: 'list' });
  const language = h(
    'select',
    { name: 'language' },
    h('option', { value: 'python' }, 'Python'),
    h('option', { value: 'javascript' }, 'JavaScript'),
  );
  const spec = h('input', { name: 'package', required: true, autocomplete: 'off', spellcheck: 'false' });
  let poll: ReturnType<typeof setTimeout> | undefined;
  let polls = 0;
  const section = h('section', { class: 'page' });

  async function load(): Promise<void> {
    clearTimeout(poll);
    try {
      const data = await call<PackageList>('GET', '/api/v1/packages');
      envs.replaceChildren(
        ...Object.entries(data.environments).map(([lang, env]) =>
          h(
            'div',
            { class: `env ${env.status}`, 'data-testid': `env-${lang}` },
            h('strong', {}, lang === 'python' ? 'Python environment: ' : 'JavaScript environment: '),
            h('span', { class: 'badge' }, LABELS[env.status] ?? env.status),
            env.error ? h('pre', { class: 'stderr' }, env.error) : null,
          ),
        ),
      );
      const rows = data.packages.map((p) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, p.name)),
          h('td', {}, h('code', {}, p.spec)),
          h('td', {}, p.language),
          h('td', {}, formatTime(p.addedAt)),
          h(
            'td',
            {},
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Remove package ${p.name} (${p.language})`,
                onclick: () => void remove(p),
              },
              'Remove',
            ),
          ),
        ),
      );
      list.replaceChildren(table('Your packages', ['Name', 'Spec', 'Language', 'Added', 'Actions'], rows, 'No packages yet.'));
      // Keep the status fresh while an install is pending or running and the page is shown.
      // Right after a change the API can still answer `none` for a language that has packages:
      // the background build has not registered yet.
      const pending = Object.entries(data.environments).some(
        ([lang, env]) =>
          env.status === 'building' ||
          (env.status === 'none' && data.packages.some((p) => p.language === lang)),
      );
      if (pending && section.isConnected && polls < 300) {
        polls += 1;
        poll = setTimeout(() => void load(), 1000);
      }
    } catch (err) {
      messages.error(err, 'Could not list packages');
    }
  }

  async function remove(p: PackageInfo): Promise<void> {
    try {
      await call('DELETE', `/api/v1/packages/${enc(p.name)}?language=${enc(p.language)}`);
      messages.ok(`Removed ${p.name}.`);
      await load();
    } catch (err) {
      messages.error(err, `Could not remove ${p.name}`);
    }
  }

  const form = h(
    'form',
    { class: 'card', 'aria-label': 'Add a package' },
    h('h2', {}, 'Add a package'),
    h(
      'div',
      { class: 'row' },
      field('Language', language),
      field('Package', spec, 'A registry name with an optional version: requests, numpy>=2, lodash@4.17.21.'),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add package')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(form, async () => {
      try {
        const added = await call<PackageInfo>('POST', '/api/v1/packages', {
          package: spec.value.trim(),
          language: language.value,
        });
        spec.value = '';
        messages.ok(`Added ${added.spec}: it is installed, and runs can import it.`);
        await load();
      } catch (err) {
        messages.error(err, 'Could not add the package');
      }
    });
  });

  void load();
  section.append(
    h('h1', {}, 'Packages'),
    h('p', { class: 'lead' }, 'Packages listed here are importable in every run of that language.'),
    envs,
    form,
    messages.el,
    list,
  );
  return section;
}
