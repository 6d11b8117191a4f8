// Strict payload validation. None of these reaches Argon2: validation comes first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  InvalidPayloadError,
  decrypt,
  encrypt,
  parsePayload,
  toBase64,
  validatePayload,
  MIN_MASTER_PASSWORD_CHARS,
  masterPasswordProblem,
} from '../src/zk.js';
import { NAME, PASSWORD, SPEC_JSON, USER, spec } from './vector.js';

function withValue(path, value) {
  const payload = spec();
  const keys = path.split('.');
  let target = payload;
  for (const key of keys.slice(0, -1)) target = target[key];
  if (value === undefined) delete target[keys.at(-1)];
  else target[keys.at(-1)] = value;
  return payload;
}
const b64 = (n) => toBase64(new Uint8Array(n).fill(7));

test('the spec JSON is valid', () => {
  validatePayload(spec());
  validatePayload(SPEC_JSON);
});

const bad = {
  'unknown top-level key': { ...spec(), extra: 1 },
  'unknown kdf key': withValue('kdf.secret', 'x'),
  'missing language': withValue('language', undefined),
  'missing salt': withValue('kdf.salt', undefined),
  'v=2': withValue('v', 2),
  'v=true': withValue('v', true),
  'v string': withValue('v', '1'),
  'other alg': withValue('alg', 'chacha20poly1305'),
  'argon2i': withValue('kdf.alg', 'argon2i'),
  'ver=16': withValue('kdf.ver', 16),
  'p=4': withValue('kdf.p', 4),
  'p=0': withValue('kdf.p', 0),
  'm too small': withValue('kdf.m', 19455),
  'm too large': withValue('kdf.m', 262145),
  't=0': withValue('kdf.t', 0),
  't=11': withValue('kdf.t', 11),
  'm*t too small': withValue('kdf.m', 19456),
  'm fractional': withValue('kdf.m', 65536.5),
  't fractional': withValue('kdf.t', 3.5),
  'p=true': withValue('kdf.p', true),
  'm string': withValue('kdf.m', '65536'),
  'm huge': withValue('kdf.m', 2 ** 70),
  'm NaN': withValue('kdf.m', NaN),
  'salt 15 bytes': withValue('kdf.salt', b64(15)),
  'salt 17 bytes': withValue('kdf.salt', b64(17)),
  'nonce 12 bytes': withValue('nonce', b64(12)),
  'kc 31 bytes': withValue('kc', b64(31)),
  'kc 64 bytes': withValue('kc', b64(64)),
  'ct only a tag': withValue('ct', b64(16)),
  'ct empty': withValue('ct', ''),
  'salt unpadded': withValue('kdf.salt', 'AAECAwQFBgcICQoLDA0ODw'),
  'salt non-canonical bits': withValue('kdf.salt', 'AAECAwQFBgcICQoLDA0ODx=='),
  'nonce with space': withValue('nonce', 'QEFCQ0RFRkdISUpLTE1OT1BRUlNU VVZX'),
  'nonce newline': withValue('nonce', 'QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX\n'),
  'kc urlsafe': withValue('kc', spec().kc.replace('+', '-').replaceAll('/', '_')),
  'ct unpadded': withValue('ct', spec().ct.replace(/=+$/, '')),
  'ct non-ascii': withValue('ct', '\u00e9\u00e9\u00e9\u00e9'),
  'ct number': withValue('ct', 5),
  'language empty': withValue('language', ''),
  'language upper-case': withValue('language', 'Python'),
  'language too long': withValue('language', 'x'.repeat(33)),
  'kdf not an object': withValue('kdf', []),
  'kdf null': withValue('kdf', null),
  'not an object': [],
  'null': null,
};

for (const [name, payload] of Object.entries(bad)) {
  test(`refused: ${name}`, async () => {
    assert.throws(() => validatePayload(payload), InvalidPayloadError);
    await assert.rejects(decrypt(payload, PASSWORD, USER, NAME), InvalidPayloadError);
  });
}

test('bounds at their edges are accepted', () => {
  for (const [m, t] of [[19456, 4], [262144, 1], [65536, 1], [19456, 10], [262144, 10]]) {
    const payload = spec();
    payload.kdf.m = m;
    payload.kdf.t = t;
    validatePayload(payload);
  }
});

test('ciphertext length limits', () => {
  validatePayload(withValue('ct', b64(17)));
  validatePayload(withValue('ct', b64(16 + 100)), { codeLimit: 100 });
  assert.throws(
    () => validatePayload(withValue('ct', b64(16 + 101)), { codeLimit: 100 }),
    InvalidPayloadError,
  );
});

const badText = {
  'float 3.0': SPEC_JSON.replace('"t": 3', '"t": 3.0'),
  'float 3e0': SPEC_JSON.replace('"t": 3', '"t": 3e0'),
  'NaN': SPEC_JSON.replace('"t": 3', '"t": NaN'),
  'duplicate key': SPEC_JSON.replace('"v": 1,', '"v": 1, "v": 1,'),
  'huge integer': SPEC_JSON.replace('"m": 65536', '"m": 123456789012345678901234567890'),
  'array': '[1]',
  'truncated': '{',
  'trailing garbage': `${SPEC_JSON} x`,
};
for (const [name, text] of Object.entries(badText)) {
  test(`JSON text refused: ${name}`, async () => {
    assert.throws(() => parsePayload(text), InvalidPayloadError);
    await assert.rejects(decrypt(text, PASSWORD, USER, NAME), InvalidPayloadError);
  });
}

test('the strict parser agrees with JSON.parse on valid text', () => {
  assert.deepEqual(parsePayload(SPEC_JSON), JSON.parse(SPEC_JSON));
  const tricky = '{"a\\"b": "x\\u00e9\\n", "n": [-1, 0, true, false, null, {}], "e": []}';
  assert.deepEqual(parsePayload(tricky), JSON.parse(tricky));
  assert.throws(() => parsePayload('{"__proto__": 1, "__proto__": 2}'), InvalidPayloadError);
  assert.equal(Object.keys(parsePayload('{"__proto__": 1}')).length, 1);
});

const badArgs = {
  'm too small': { m: 19455 },
  't too large': { t: 11 },
  'm*t too small': { m: 19456, t: 1 },
  'p=2': { p: 2 },
  't fractional': { t: 2.5 },
  'm=true': { m: true },
  'language upper-case': { language: 'Python' },
  'salt 15 bytes': { salt: new Uint8Array(15) },
  'nonce 12 bytes': { nonce: new Uint8Array(12) },
  'code over the limit': { codeLimit: 3 },
};
for (const [name, options] of Object.entries(badArgs)) {
  test(`encrypt refuses: ${name}`, async () => {
    await assert.rejects(encrypt('print(1)', PASSWORD, USER, NAME, options), TypeError);
  });
}

test('encrypt refuses empty code, bad names and bad user ids', async () => {
  await assert.rejects(encrypt('', PASSWORD, USER, NAME), TypeError);
  await assert.rejects(encrypt('x', PASSWORD, USER, 'a/b.py'), TypeError);
  await assert.rejects(encrypt('x', PASSWORD, 'not-a-uuid', NAME), TypeError);
});

test('the library uses no Node-only APIs', () => {
  for (const file of ['zk.js', 'client.js', 'errors.js', 'sse.js', 'index.js']) {
    const source = readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
    for (const banned of [/['"]node:/, /\bBuffer\b/, /\brequire\(/, /\bprocess\./, /from 'crypto'/, /managedNonce/]) {
      assert.ok(!banned.test(source), `src/${file} matches ${banned}`);
    }
  }
});

test('a new payload needs a master password of 12 characters, counted after NFC', async () => {
  await assert.rejects(encrypt('print(1)', 'eleven char', USER, NAME), /at least 12 characters/);
  // Eleven characters once composed, more code points decomposed: still refused.
  const decomposed = 'cafe\u0301 xxxxxx';
  assert.match(masterPasswordProblem(decomposed), /at least 12/);
  assert.equal(masterPasswordProblem('twelve chars'), null);
  assert.equal(MIN_MASTER_PASSWORD_CHARS, 12);
});
