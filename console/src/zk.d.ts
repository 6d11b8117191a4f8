// Types for the zkcode v1 JavaScript client (clients/js), which is plain JavaScript.
declare module '@pyth-on/zk' {
  export interface ZkPayload {
    v: number;
    alg: string;
    kdf: { alg: string; ver: number; m: number; t: number; p: number; salt: string };
    nonce: string;
    kc: string;
    ct: string;
    language: string;
  }
  export const MIN_MASTER_PASSWORD_CHARS: number;
  export function masterPasswordProblem(password: string): string | null;
  export function encrypt(
    code: string | Uint8Array,
    password: string,
    userId: string,
    name: string,
    options?: { language?: string; m?: number; t?: number; p?: number; codeLimit?: number },
  ): Promise<ZkPayload>;
}

declare module '*.css';
