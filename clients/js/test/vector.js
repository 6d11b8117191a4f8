// The spec's golden vector (shared/spec/zk-format.md).
export const PASSWORD = 'correct horse battery staple';
export const SALT = Uint8Array.from({ length: 16 }, (_, i) => i);
export const NONCE = Uint8Array.from({ length: 24 }, (_, i) => 0x40 + i);
export const USER = '0190a6f2-5b7c-7d2e-8f00-123456789abc';
export const NAME = 'hello.py';
export const PLAINTEXT = 'print("hello, zk")\n';

export const hex = (s) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g), (b) => parseInt(b, 16));

export const OKM = hex(`f583c66eb0c983f6be0f1801d34580dba6ce391a35def61fed043c365dc37c52
  f1c2815097615f218797ed574c7084ed21fd2609b8d0b3706bffd4dec7e6aeb8`);
export const AAD = hex(`0500000000000000 0900000000000000 7a6b636f64652f7631
  1600000000000000 786368616368613230706f6c79313330352d69657466
  1d00000000000000 6172676f6e32696424763d3139246d3d36353533362c743d332c703d31
  2400000000000000 30313930613666322d356237632d376432652d386630302d313233343536373839616263
  0800000000000000 68656c6c6f2e7079`);
export const CT = hex('1490ff6a0e8921201594fb77d809d3e97567d9c46ce301cb206833278187f5e861a3ca');

export const SPEC_JSON = `{
  "v": 1,
  "alg": "xchacha20poly1305-ietf",
  "kdf": {"alg": "argon2id", "ver": 19, "m": 65536, "t": 3, "p": 1,
          "salt": "AAECAwQFBgcICQoLDA0ODw=="},
  "nonce": "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZX",
  "kc": "8cKBUJdhXyGHl+1XTHCE7SH9Jgm40LNwa//U3sfmrrg=",
  "ct": "FJD/ag6JISAVlPt32AnT6XVn2cRs4wHLIGgzJ4GH9ehho8o=",
  "language": "python"
}`;

export const spec = () => JSON.parse(SPEC_JSON);
