import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argon2id } from 'hash-wasm';

import {
  IntegrityError,
  InvalidPayloadError,
  WrongPasswordError,
  aad,
  decrypt,
  deriveOkm,
  encrypt,
  toBase64,
} from '../src/index.js';
import {
  AAD, CT, KDF, NAME, NONCE, OKM, OTHER_NAME, OTHER_PASSWORD, OTHER_USER, PASSWORD, PLAINTEXT,
  SALT, SPEC_JSON, USER, spec,
} from './vector.js';

const utf8 = new TextEncoder();

test('the KDF output matches the golden okm', async () => {
  assert.deepEqual(await deriveOkm(PASSWORD, SALT, KDF.m, KDF.t, KDF.p), OKM);
});

test('the associated data matches the golden aad', () => {
  assert.deepEqual(aad(KDF.m, KDF.t, KDF.p, USER, NAME), AAD);
  assert.deepEqual(aad(KDF.m, KDF.t, KDF.p, USER.toUpperCase(), NAME), AAD);
});

test('encrypting the golden inputs gives the spec JSON byte for byte', async () => {
  const payload = await encrypt(PLAINTEXT, PASSWORD, USER, NAME, { salt: SALT, nonce: NONCE });
  assert.equal(payload.ct, toBase64(CT));
  assert.equal(payload.kc, toBase64(OKM.subarray(32)));
  assert.deepEqual(payload, spec());
  // Same keys in the same order: the compact serialization equals the spec's.
  assert.equal(JSON.stringify(payload), JSON.stringify(spec()));
  // Bytes in, same payload out (this one reuses nothing but costs one more derivation).
  const again = await encrypt(utf8.encode(PLAINTEXT), PASSWORD, USER, NAME, {
    salt: SALT, nonce: NONCE, language: 'python',
  });
  assert.deepEqual(again, payload);
});

test('the spec JSON decrypts to the golden plaintext (object and text)', async () => {
  assert.deepEqual(await decrypt(spec(), PASSWORD, USER, NAME), utf8.encode(PLAINTEXT));
  assert.deepEqual(await decrypt(SPEC_JSON, PASSWORD, USER, NAME), utf8.encode(PLAINTEXT));
});

test('another password is a wrong password', async () => {
  await assert.rejects(
    decrypt(spec(), OTHER_PASSWORD, USER, NAME), WrongPasswordError,
  );
});

test('the name other.py is an integrity failure', async () => {
  await assert.rejects(decrypt(spec(), PASSWORD, USER, OTHER_NAME), IntegrityError);
});

test('another user id is an integrity failure', async () => {
  await assert.rejects(
    decrypt(spec(), PASSWORD, OTHER_USER, NAME), IntegrityError,
  );
});

test('a tampered ciphertext is an integrity failure', async () => {
  const ct = CT.slice();
  ct[0] ^= 1;
  await assert.rejects(
    decrypt({ ...spec(), ct: toBase64(ct) }, PASSWORD, USER, NAME), IntegrityError,
  );
});

test('p=4 is refused before any derivation', async () => {
  const payload = spec();
  payload.kdf.p = 4;
  await assert.rejects(decrypt(payload, PASSWORD, USER, NAME), InvalidPayloadError);
  await assert.rejects(encrypt(PLAINTEXT, PASSWORD, USER, NAME, { p: 4 }), TypeError);
});

test('a 32-byte output is not the start of the 64-byte one', async () => {
  const okm32 = await argon2id({
    password: PASSWORD, salt: SALT, iterations: KDF.t, memorySize: KDF.m, parallelism: KDF.p,
    hashLength: 32, outputType: 'binary',
  });
  assert.notDeepEqual(okm32, OKM.subarray(0, 32));
});

test('an empty password is refused', async () => {
  await assert.rejects(encrypt(PLAINTEXT, '', USER, NAME), TypeError);
  await assert.rejects(decrypt(spec(), '', USER, NAME), TypeError);
});

test('passwords are NFC-normalized; fresh encryptions round-trip with fresh salt and nonce', async () => {
  // Cheapest accepted parameters: m = 65536 KiB, t = 1.
  const composed = 'caf\u00e9 p\u00e4ssw\u00f6rd';
  const decomposed = composed.normalize('NFD');
  assert.notEqual(composed, decomposed);
  const a = await encrypt('print(1)\n', decomposed, USER, 'nfc.py', { t: 1 });
  const b = await encrypt('print(1)\n', decomposed, USER, 'nfc.py', { t: 1 });
  assert.equal(a.kdf.t, 1);
  assert.notEqual(a.kdf.salt, b.kdf.salt);
  assert.notEqual(a.nonce, b.nonce);
  assert.deepEqual(await decrypt(a, composed, USER, 'nfc.py'), utf8.encode('print(1)\n'));
});
