// The console shell: sign-in gate, navigation, and fragment routing (#/run, #/secrets, ...),
// so the server only ever serves the built files.

import './style.css';
import { currentUser, refreshUser, resume, signOut, whenSessionEnds, type AuthResponse } from './api';
import { h } from './dom';
import { auditPage } from './pages/audit';
import { authPage, firstKeyNotice } from './pages/auth';
import { keysPage } from './pages/keys';
import { packagesPage } from './pages/packages';
import { runPage } from './pages/run';
import { secretsPage } from './pages/secrets';
import { sessionsPage } from './pages/sessions';

const PAGES: { path: string; label: string; render: () => HTMLElement; admin?: true }[] = [
  { path: 'run', label: 'Run', render: runPage },
  { path: 'sessions', label: 'Sessions', render: sessionsPage },
  { path: 'secrets', label: 'Secrets', render: secretsPage },
  { path: 'packages', label: 'Packages', render: packagesPage },
  { path: 'keys', label: 'API keys', render: keysPage },
  // Its encryption client (Argon2id in WebAssembly, XChaCha20) is a chunk of its own.
  { path: 'encrypted', label: 'Encrypted code', render: () => lazyPage(() => import('./pages/zk').then((m) => m.zkPage())) },
  { path: 'account', label: 'Account', render: () => lazyPage(() => import('./pages/account').then((m) => m.accountPage())) },
  { path: 'admin', label: 'Admin', render: () => lazyPage(() => import('./pages/admin').then((m) => m.adminPage())), admin: true },
  { path: 'audit', label: 'Audit log', render: auditPage },
];

/** The pages this account sees: Admin only for an administrator (`GET /api/v1/me`). */
function pages(): typeof PAGES {
  const admin = currentUser()?.role === 'admin';
  return PAGES.filter((p) => admin || !p.admin);
}

/** A page whose module loads on first visit: a loading line, then the page in its place. */
function lazyPage(load: () => Promise<HTMLElement>): HTMLElement {
  const slot = h('section', { class: 'page', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading…'));
  void load()
    .then((page) => {
      const hadFocus = slot.contains(document.activeElement) || document.activeElement === document.body;
      slot.replaceWith(page);
      if (hadFocus) focusMain();
    })
    .catch(() => slot.replaceChildren(h('p', { class: 'msg error', role: 'alert' }, 'This page could not be loaded: reload to try again.')));
  return slot;
}

const app = document.getElementById('app') as HTMLElement;
let notice: HTMLElement | null = null;

function route(): string {
  const path = location.hash.replace(/^#\/?/, '');
  return pages().some((p) => p.path === path) ? path : 'run';
}

function render(): void {
  const user = currentUser();
  const main = h('main', { id: 'main', tabindex: -1 });
  if (!user) {
    main.append(authPage(signedIn));
    if (notice) main.prepend(notice);
    notice = null;
    app.replaceChildren(h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Pyth-On')), main);
    document.title = 'Sign in · Pyth-On console';
    return;
  }
  const current = route();
  const page = PAGES.find((p) => p.path === current) ?? PAGES[0];
  const nav = h(
    'nav',
    { 'aria-label': 'Console pages' },
    h(
      'ul',
      {},
      pages().map((p) =>
        h('li', {}, h('a', { href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : false }, p.label)),
      ),
    ),
  );
  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/run' }, 'Pyth-On'),
    nav,
    h(
      'div',
      { class: 'account' },
      h('a', { href: '/docs', class: 'docs-link' }, 'API reference'),
      h('span', { class: 'email', title: user.id }, user.email),
      h('button', { type: 'button', onclick: () => void doSignOut() }, 'Sign out'),
    ),
  );
  if (notice) main.append(notice);
  notice = null;
  main.append(page.render());
  app.replaceChildren(header, main);
  document.title = `${page.label} · Pyth-On console`;
}

/** Reads the role again (it may have changed since the token was issued); re-renders if so. */
function checkRole(): void {
  void refreshUser()
    .then((changed) => changed && render())
    .catch(() => {});
}

function signedIn(auth: AuthResponse): void {
  notice = auth.apiKey ? firstKeyNotice(auth.apiKey) : null;
  checkRole();
  if (location.hash !== '#/run') {
    location.hash = '#/run'; // the hashchange listener renders
  } else {
    render();
    focusMain();
  }
}

async function doSignOut(): Promise<void> {
  await signOut();
  notice = h('div', { class: 'msg info', role: 'status' }, 'You are signed out.');
  render();
}

function focusMain(): void {
  const heading = document.querySelector<HTMLElement>('main h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

whenSessionEnds((reason, asked) => {
  notice = asked ? h('div', { class: 'msg info', role: 'status' }, reason) : h('div', { class: 'msg error', role: 'alert' }, reason);
  render();
  focusMain();
});

// The skip link must not change the fragment: that is the router's.
document.querySelector('a.skip')?.addEventListener('click', (event) => {
  event.preventDefault();
  focusMain();
});

window.addEventListener('hashchange', () => {
  render();
  focusMain();
});
// A reload or a second tab resumes the sign-in the refresh cookie holds.
void resume()
  .then((resumed) => resumed && checkRole())
  .finally(render);
