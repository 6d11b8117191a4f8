// @pyth-on/zk: the Pyth-On API client (src/client.js) and the zkcode v1 encryption
// (src/zk.js), in Node 20+ and browsers.
export * from './zk.js';
export * from './errors.js';
export * from './client.js';
export { readSse } from './sse.js';

/** The OpenAPI document's schemas: `components['schemas']['ExecuteRequest']`, ... @typedef {import('./schema.js').components} components */
/** The OpenAPI document's routes. @typedef {import('./schema.js').paths} paths */
/** The OpenAPI document's operations, by operationId. @typedef {import('./schema.js').operations} operations */
