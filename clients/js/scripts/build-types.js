#!/usr/bin/env node
// Emits the package's declarations into types/ (or --out DIR): tsc over the JSDoc-typed
// sources (tsconfig.types.json), plus the two hand-kept declaration files it does not copy
// (src/zk.d.ts for the plain-JavaScript zkcode module, src/schema.d.ts generated from the
// OpenAPI document). types/ is committed, so `npm install ./clients/js` needs no build step;
// test/types.test.js fails when it is out of date.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** @param {string} out */
export function buildTypes(out) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.types.json'), '--declarationDir', out], {
    cwd: root, stdio: 'inherit',
  });
  copyFileSync(join(root, 'src', 'zk.d.ts'), join(out, 'zk.d.ts'));
  copyFileSync(join(root, 'src', 'schema.d.ts'), join(out, 'schema.d.ts'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--out');
  buildTypes(i >= 0 ? resolve(process.argv[i + 1]) : join(root, 'types'));
}
