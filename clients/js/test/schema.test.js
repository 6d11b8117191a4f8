// The types cannot drift: src/schema.d.ts must be what openapi-typescript makes of the
// document a real server serves, and types/ what the sources declare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startServer } from '../scripts/server.js';
import { fetchDocument, schemaSource } from '../scripts/gen-schema.js';
import { buildTypes } from '../scripts/build-types.js';

const root = new URL('..', import.meta.url).pathname;

test('src/schema.d.ts matches the OpenAPI document the server serves', async () => {
  const server = await startServer();
  try {
    const fresh = await schemaSource(await fetchDocument(server.url));
    const committed = readFileSync(join(root, 'src', 'schema.d.ts'), 'utf8');
    assert.ok(fresh === committed,
      'src/schema.d.ts is out of date with the server\'s /api/openapi.json: run `npm run gen:schema` (then `npm run build:types`)');
  } finally {
    await server.stop();
  }
});

test('types/ holds the declarations the sources emit', () => {
  const out = mkdtempSync(join(tmpdir(), 'pyth-on-types-'));
  try {
    buildTypes(out);
    const committed = join(root, 'types');
    assert.deepEqual(readdirSync(committed).sort(), readdirSync(out).sort());
    for (const name of readdirSync(out)) {
      assert.ok(readFileSync(join(out, name), 'utf8') === readFileSync(join(committed, name), 'utf8'),
        `types/${name} is out of date: run \`npm run build:types\``);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
