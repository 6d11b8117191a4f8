export * from "./zk.js";
export * from "./errors.js";
export { Client } from "./client.js";
export { readSse } from "./sse.js";
