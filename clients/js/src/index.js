// @pyth-on/zk: the Pyth-On API client (src/client.js) and the zkcode v1 encryption
// (src/zk.js), in Node 20+ and browsers.
export * from './zk.js';
export * from './errors.js';
export { Client } from './client.js';
export { readSse } from './sse.js';
