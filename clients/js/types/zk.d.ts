// Declarations for src/zk.js (zkcode v1, plain JavaScript; see docs/ZKCODE.md).

/** A zkcode v1 payload, the exact wire JSON object of `PUT /api/v1/zk/code/{name}`. */
export interface ZkPayload {
  v: number;
  alg: string;
  kdf: { alg: string; ver: number; m: number; t: number; p: number; salt: string };
  nonce: string;
  kc: string;
  ct: string;
  language: string;
}

export interface EncryptOptions {
  /** Default `python`. */
  language?: string;
  /** Argon2id memory in KiB (default 65536). */
  m?: number;
  /** Argon2id passes (default 3). */
  t?: number;
  /** Argon2id lanes: must be 1. */
  p?: number;
  /** Only to reproduce a test vector: 16 bytes. */
  salt?: Uint8Array;
  /** Only to reproduce a test vector: 24 bytes. */
  nonce?: Uint8Array;
  /** Default MAX_CODE_BYTES. */
  codeLimit?: number;
}

export const VERSION: number;
export const AEAD_ALG: string;
export const KDF_ALG: string;
export const ARGON2_VERSION: number;
export const SALT_LEN: number;
export const NONCE_LEN: number;
export const KEY_LEN: number;
export const KC_LEN: number;
export const TAG_LEN: number;
/** The server's default code limit (PYTH_ON_MAX_CODE_BYTES). */
export const MAX_CODE_BYTES: number;
/** The fewest characters (NFC code points) a master password may have to encrypt. */
export const MIN_MASTER_PASSWORD_CHARS: number;

/** Base class of the errors raised while reading a zkcode payload. */
export class ZkError extends Error {}
/** The key check differs: not the master password the payload was made with. */
export class WrongPasswordError extends ZkError {}
/** The ciphertext does not authenticate: tampered, or bound to another name or user. */
export class IntegrityError extends ZkError {}
/** The payload breaks the schema, the bounds or the exact lengths. */
export class InvalidPayloadError extends ZkError {}

/** Standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string;
/** The associated data of the AEAD (PAE of the five bound strings). */
export function aad(m: number, t: number, p: number, userId: string, name: string): Uint8Array;
/** The 64-byte Argon2id output over the NFC form of `password` (UTF-8). */
export function deriveOkm(password: string, salt: Uint8Array, m?: number, t?: number, p?: number): Promise<Uint8Array>;
/** Why `password` may not encrypt a new payload, or null when it may. */
export function masterPasswordProblem(password: string): string | null;
/** Encrypts `code` locally; resolves to the wire JSON object. Bad arguments reject with TypeError. */
export function encrypt(
  code: string | Uint8Array,
  password: string,
  userId: string,
  name: string,
  options?: EncryptOptions,
): Promise<ZkPayload>;
/** Checks schema, bounds and lengths; throws InvalidPayloadError. */
export function validatePayload(payload: unknown, options?: { codeLimit?: number }): void;
/** Decrypts a payload (object or JSON text); resolves to the code bytes. */
export function decrypt(
  payload: ZkPayload | string,
  password: string,
  userId: string,
  name: string,
  options?: { codeLimit?: number },
): Promise<Uint8Array>;
/** Parses payload JSON text strictly (no `3.0`, no duplicate keys). */
export function parsePayload(text: string): unknown;
