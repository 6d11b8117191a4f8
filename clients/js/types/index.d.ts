export * from "./zk.js";
export * from "./errors.js";
export * from "./client.js";
export { readSse } from "./sse.js";
/**
 * The OpenAPI document's schemas: `components['schemas']['ExecuteRequest']`, ...
 */
export type components = import("./schema.js").components;
/**
 * The OpenAPI document's routes.
 */
export type paths = import("./schema.js").paths;
/**
 * The OpenAPI document's operations, by operationId.
 */
export type operations = import("./schema.js").operations;
