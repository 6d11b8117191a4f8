// The one golden vector file of the repository (docs/zkcode-v1-vector.json), shared with the
// Rust and Python tests. Read from the repository root, relative to this file.
import { readFileSync } from 'node:fs';

const VECTOR = JSON.parse(
  readFileSync(new URL('../../../docs/zkcode-v1-vector.json', import.meta.url), 'utf8'),
);

export const hex = (s) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g), (b) => parseInt(b, 16));

export const PASSWORD = VECTOR.inputs.password;
export const SALT = hex(VECTOR.inputs.salt);
export const NONCE = hex(VECTOR.inputs.nonce);
export const USER = VECTOR.inputs.userId;
export const NAME = VECTOR.inputs.name;
export const PLAINTEXT = VECTOR.inputs.plaintext;
export const KDF = VECTOR.inputs.kdf;
export const OTHER_PASSWORD = VECTOR.negative.otherPassword;
export const OTHER_NAME = VECTOR.negative.otherName;
export const OTHER_USER = VECTOR.negative.otherUserId;

export const OKM = hex(VECTOR.outputs.okm);
export const AAD = hex(VECTOR.outputs.aad);
export const CT = hex(VECTOR.outputs.ct);

// The wire payload as JSON text, pretty-printed (the validation tests edit it as text).
export const SPEC_JSON = JSON.stringify(VECTOR.outputs.payload, null, 2);

export const spec = () => JSON.parse(SPEC_JSON);
