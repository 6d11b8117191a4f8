// @pyth-on/zk: zkcode v1, code encrypted locally under a key derived from a master password.
//
//   okm = Argon2id(NFC(password), salt, m, t, p = 1, len = 64, v = 0x13)
//   key = okm[0..32], kc = okm[32..64]
//   ct  = XChaCha20-Poly1305-IETF(key, nonce, aad = PAE([...]), code) with the tag appended
//
// See docs/ZKCODE.md in the Pyth-On repository. Browser-safe: no Node-only APIs
// (globalThis.crypto, TextEncoder, btoa/atob, String.prototype.normalize).

import { argon2id } from 'hash-wasm';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const VERSION = 1;
export const AEAD_ALG = 'xchacha20poly1305-ietf';
export const KDF_ALG = 'argon2id';
export const ARGON2_VERSION = 19;
export const SALT_LEN = 16;
export const NONCE_LEN = 24;
export const KEY_LEN = 32;
export const KC_LEN = 32;
export const TAG_LEN = 16;
/** The server's default code limit (PYTH_ON_MAX_CODE_BYTES). */
export const MAX_CODE_BYTES = 524288;
const OKM_LEN = KEY_LEN + KC_LEN;
const LANGUAGE_MAX = 32;
const M_MIN = 19456;
const M_MAX = 262144;
const T_MIN = 1;
const T_MAX = 10;
const MT_MIN = 65536;

const LANGUAGE_RE = /^[a-z0-9+\-._]{1,32}$/;
const NAME_RE = /^[A-Za-z0-9._-]{1,128}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TOP_KEYS = ['v', 'alg', 'kdf', 'nonce', 'kc', 'ct', 'language'];
const KDF_KEYS = ['alg', 'ver', 'm', 't', 'p', 'salt'];

/** Base class of the errors raised while reading a zkcode payload. */
export class ZkError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}
/** The key check differs: not the master password the payload was made with. */
export class WrongPasswordError extends ZkError {}
/** The ciphertext does not authenticate: tampered, or bound to another name or user. */
export class IntegrityError extends ZkError {}
/** The payload breaks the schema, the bounds or the exact lengths. */
export class InvalidPayloadError extends ZkError {}

const utf8 = new TextEncoder();

// ---- helpers ---------------------------------------------------------------------------

function isInt(value) {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value) &&
    !ArrayBuffer.isView(value);
}

function checkParams(m, t, p, Err) {
  for (const [field, value] of [['m', m], ['t', t], ['p', p]]) {
    if (!isInt(value)) throw new Err(`kdf.${field} must be an integer`);
  }
  if (p !== 1) throw new Err('kdf.p must be 1');
  if (m < M_MIN || m > M_MAX) throw new Err(`kdf.m must be between ${M_MIN} and ${M_MAX}`);
  if (t < T_MIN || t > T_MAX) throw new Err(`kdf.t must be between ${T_MIN} and ${T_MAX}`);
  if (m * t < MT_MIN) throw new Err(`kdf.m * kdf.t must be at least ${MT_MIN}`);
}

function checkLanguage(language, Err) {
  if (typeof language !== 'string' || !LANGUAGE_RE.test(language)) {
    throw new Err(`language must be 1 to ${LANGUAGE_MAX} characters of a-z 0-9 + - . _`);
  }
}

function checkName(name) {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TypeError('name must match ^[A-Za-z0-9._-]{1,128}$');
  }
  return name;
}

/** The lowercase hyphenated form of a user id. */
function userString(userId) {
  if (typeof userId !== 'string' || !UUID_RE.test(userId)) {
    throw new TypeError('userId must be a hyphenated UUID string');
  }
  return userId.toLowerCase();
}

function toBytes(value, what) {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  }
  throw new TypeError(`${what} must be a Uint8Array`);
}

/** Standard base64 with padding. */
export function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Strict standard base64 with padding: the input must be the canonical encoding. */
function fromBase64(field, text) {
  if (typeof text !== 'string') throw new InvalidPayloadError(`${field} must be a base64 string`);
  if (!B64_RE.test(text)) throw new InvalidPayloadError(`${field} is not valid base64`);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (toBase64(bytes) !== text) {
    throw new InvalidPayloadError(`${field} is not canonical padded base64`);
  }
  return bytes;
}

function exact(field, text, n) {
  const bytes = fromBase64(field, text);
  if (bytes.length !== n) throw new InvalidPayloadError(`${field} must be exactly ${n} bytes`);
  return bytes;
}

function le64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n) & 0x7fffffffffffffffn, true);
  return out;
}

function pae(pieces) {
  const parts = [le64(pieces.length)];
  for (const piece of pieces) parts.push(le64(piece.length), piece);
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function ctEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function randomBytes(n) {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

// ---- the construction ------------------------------------------------------------------

/**
 * The associated data: PAE(["zkcode/v1", "xchacha20poly1305-ietf",
 * "argon2id$v=19$m=<m>,t=<t>,p=<p>", <user id, lowercase hyphenated>, <name>]).
 */
export function aad(m, t, p, userId, name) {
  return pae([
    utf8.encode('zkcode/v1'),
    utf8.encode(AEAD_ALG),
    utf8.encode(`argon2id$v=19$m=${m},t=${t},p=${p}`),
    utf8.encode(userString(userId)),
    utf8.encode(name),
  ]);
}

/** The 64-byte Argon2id output over the NFC form of `password` (UTF-8). */
export async function deriveOkm(password, salt, m = 65536, t = 3, p = 1) {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  if (password === '') throw new TypeError('the master password must not be empty');
  const secret = utf8.encode(password.normalize('NFC'));
  try {
    return await argon2id({
      password: secret,
      salt: toBytes(salt, 'salt'),
      iterations: t,
      memorySize: m,
      parallelism: p,
      hashLength: OKM_LEN,
      outputType: 'binary',
    });
  } finally {
    secret.fill(0);
  }
}

/**
 * The fewest characters a master password may have to encrypt (Unicode code points of its NFC
 * form): the rule of every Pyth-On client and of the server's /api/v1/zk/encrypt. Decrypting
 * takes any non-empty password, so payloads made before the rule still open.
 */
export const MIN_MASTER_PASSWORD_CHARS = 12;

/** Why `password` may not encrypt a new payload, or null when it may. */
export function masterPasswordProblem(password) {
  if (typeof password !== 'string' || password === '') return 'the master password must not be empty';
  if ([...password.normalize('NFC')].length < MIN_MASTER_PASSWORD_CHARS) {
    return `the master password must be at least ${MIN_MASTER_PASSWORD_CHARS} characters`;
  }
  return null;
}

/**
 * Encrypts `code` (string or Uint8Array) and resolves to the wire JSON object.
 * Options: language ("python"), m (65536), t (3), p (1), codeLimit, and salt / nonce
 * (random unless given; give them only for test vectors). Bad arguments throw TypeError.
 */
export async function encrypt(code, password, userId, name, options = {}) {
  const {
    language = 'python',
    m = 65536,
    t = 3,
    p = 1,
    codeLimit = MAX_CODE_BYTES,
  } = options;
  const plaintext = typeof code === 'string' ? utf8.encode(code) : toBytes(code, 'code');
  if (plaintext.length === 0) throw new TypeError('code is empty');
  if (plaintext.length > codeLimit) throw new TypeError(`code is longer than ${codeLimit} bytes`);
  checkParams(m, t, p, TypeError);
  checkLanguage(language, TypeError);
  checkName(name);
  const weak = typeof password === 'string' ? masterPasswordProblem(password) : null;
  if (weak) throw new TypeError(weak);
  const user = userString(userId);
  const salt = options.salt == null ? randomBytes(SALT_LEN) : toBytes(options.salt, 'salt');
  const nonce = options.nonce == null ? randomBytes(NONCE_LEN) : toBytes(options.nonce, 'nonce');
  if (salt.length !== SALT_LEN) throw new TypeError(`salt must be exactly ${SALT_LEN} bytes`);
  if (nonce.length !== NONCE_LEN) throw new TypeError(`nonce must be exactly ${NONCE_LEN} bytes`);

  const okm = await deriveOkm(password, salt, m, t, p);
  try {
    const key = okm.subarray(0, KEY_LEN);
    const kc = okm.slice(KEY_LEN);
    const ct = xchacha20poly1305(key, nonce, aad(m, t, p, user, name)).encrypt(plaintext);
    return {
      v: VERSION,
      alg: AEAD_ALG,
      kdf: { alg: KDF_ALG, ver: ARGON2_VERSION, m, t, p, salt: toBase64(salt) },
      nonce: toBase64(nonce),
      kc: toBase64(kc),
      ct: toBase64(ct),
      language,
    };
  } finally {
    okm.fill(0);
  }
}

function checkKeys(object, expected, where) {
  const keys = Object.keys(object);
  const extra = keys.filter((k) => !expected.includes(k));
  const missing = expected.filter((k) => !Object.hasOwn(object, k));
  if (extra.length || missing.length) {
    throw new InvalidPayloadError(
      `schema: unknown ${where}keys [${extra.join(', ')}], missing ${where}keys [${missing.join(', ')}]`,
    );
  }
}

function parse(payload, codeLimit) {
  if (typeof payload === 'string') payload = parsePayload(payload);
  if (!isPlainObject(payload)) throw new InvalidPayloadError('the payload must be a JSON object');
  checkKeys(payload, TOP_KEYS, '');
  const kdf = payload.kdf;
  if (!isPlainObject(kdf)) throw new InvalidPayloadError('kdf must be an object');
  checkKeys(kdf, KDF_KEYS, 'kdf ');
  if (payload.v !== VERSION) throw new InvalidPayloadError('v must be 1');
  if (payload.alg !== AEAD_ALG) throw new InvalidPayloadError(`alg must be ${AEAD_ALG}`);
  if (kdf.alg !== KDF_ALG) throw new InvalidPayloadError(`kdf.alg must be ${KDF_ALG}`);
  if (kdf.ver !== ARGON2_VERSION) throw new InvalidPayloadError('kdf.ver must be 19');
  checkParams(kdf.m, kdf.t, kdf.p, InvalidPayloadError);
  const salt = exact('kdf.salt', kdf.salt, SALT_LEN);
  const nonce = exact('nonce', payload.nonce, NONCE_LEN);
  const kc = exact('kc', payload.kc, KC_LEN);
  const ct = fromBase64('ct', payload.ct);
  if (ct.length <= TAG_LEN || ct.length - TAG_LEN > codeLimit) {
    throw new InvalidPayloadError(
      `ct must be longer than ${TAG_LEN} bytes and at most ${TAG_LEN} + ${codeLimit}`,
    );
  }
  checkLanguage(payload.language, InvalidPayloadError);
  return { m: kdf.m, t: kdf.t, p: kdf.p, salt, nonce, kc, ct, language: payload.language };
}

/** Checks schema, bounds and lengths; throws InvalidPayloadError. */
export function validatePayload(payload, { codeLimit = MAX_CODE_BYTES } = {}) {
  parse(payload, codeLimit);
}

/**
 * Decrypts a payload stored under `name` by the user `userId`; resolves to the code bytes.
 * `payload` is the wire object, or its JSON text (parsed strictly by parsePayload).
 * Rejects with InvalidPayloadError, WrongPasswordError or IntegrityError.
 */
export async function decrypt(payload, password, userId, name, { codeLimit = MAX_CODE_BYTES } = {}) {
  const parsed = parse(payload, codeLimit);
  checkName(name);
  const user = userString(userId);
  const okm = await deriveOkm(password, parsed.salt, parsed.m, parsed.t, parsed.p);
  try {
    if (!ctEqual(okm.subarray(KEY_LEN), parsed.kc)) {
      throw new WrongPasswordError('wrong master password');
    }
    const cipher = xchacha20poly1305(
      okm.subarray(0, KEY_LEN),
      parsed.nonce,
      aad(parsed.m, parsed.t, parsed.p, user, name),
    );
    try {
      return cipher.decrypt(parsed.ct);
    } catch {
      throw new IntegrityError(
        'the payload does not authenticate (tampered, or bound to another name or user)',
      );
    }
  } finally {
    okm.fill(0);
  }
}

// ---- strict JSON -----------------------------------------------------------------------

/**
 * Parses payload JSON text strictly. Unlike JSON.parse it refuses non-integer number
 * literals (`3.0`, `3e0`, which JSON.parse would turn into the integer 3) and duplicate keys.
 */
export function parsePayload(text) {
  if (typeof text !== 'string') throw new InvalidPayloadError('the payload must be JSON text');
  let i = 0;
  const fail = (why) => {
    throw new InvalidPayloadError(`schema: ${why} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        if (Object.hasOwn(out, key)) fail(`duplicate key ${JSON.stringify(key)}`);
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        Object.defineProperty(out, key, {
          value: value(), enumerable: true, writable: true, configurable: true,
        });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const out = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, val] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return val;
      }
    }
    const number = /^-?(?:0|[1-9][0-9]*)([.eE][0-9eE+\-.]*)?/.exec(text.slice(i, i + 400));
    if (number) {
      if (number[1] !== undefined) fail('non-integer number');
      i += number[0].length;
      const n = Number(number[0]);
      if (!Number.isSafeInteger(n)) fail('integer out of range');
      return n;
    }
    return fail('unexpected input');
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      i += c === 0x5c ? 2 : 1;
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      return fail('bad string escape');
    }
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  if (!isPlainObject(out)) throw new InvalidPayloadError('the payload must be a JSON object');
  return out;
}
