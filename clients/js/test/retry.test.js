// Retries honour Retry-After: a server whose per-user rate limit is small enough to hit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Client, RateLimitError } from '../src/index.js';
import { startServer } from '../scripts/server.js';
import { newUser } from './helpers.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

before(async () => {
  // 60 a minute: a burst of 60, then one more a second (Retry-After: 1).
  server = await startServer({ args: ['--rate-limit-per-minute', '60'] });
});
after(async () => {
  await server?.stop();
});

/** Spends the user's bucket until a 429 comes back; returns that error. @param {Client} client */
async function drain(client) {
  for (let i = 0; i < 200; i++) {
    try {
      await client.usage();
    } catch (e) {
      if (e instanceof RateLimitError) return e;
      throw e;
    }
  }
  throw new Error('no 429 after 200 requests');
}

test('a 429 carries code, retryAfter and the request id; without retries it is thrown', async () => {
  const { keyClient } = await newUser(server.url, { maxRetries: 0 });
  const error = await drain(keyClient);
  assert.equal(error.status, 429);
  assert.equal(error.code, 'rate_limited');
  assert.ok(error.retryAfter !== null && error.retryAfter >= 1 && error.retryAfter <= 2, `retryAfter ${error.retryAfter}`);
  assert.match(String(error.requestId), /^[0-9a-f-]{36}$/);
  // A Retry-After longer than maxRetryDelayMs is not waited for.
  const impatient = new Client({ baseUrl: server.url, apiKey: keyClient.apiKey, maxRetries: 3, maxRetryDelayMs: 100 });
  const started = Date.now();
  await assert.rejects(impatient.usage(), RateLimitError);
  assert.ok(Date.now() - started < 900);
});

test('the client waits for Retry-After and retries', async () => {
  const { keyClient } = await newUser(server.url, { maxRetries: 0 });
  /** @type {number[]} */
  let statuses = [];
  /** @type {typeof fetch} */
  const counting = async (input, init) => {
    const response = await fetch(input, init);
    statuses.push(response.status);
    return response;
  };
  const patient = new Client({ baseUrl: server.url, apiKey: keyClient.apiKey, maxRetries: 3, retryBaseMs: 50, fetch: counting });
  // The bucket refills one request a second: on a loaded machine a cell may come back between
  // the drain and the patient request, which then simply succeeds. Drain again until the
  // patient client's first attempt really meets the 429.
  for (let attempt = 0; attempt < 5; attempt++) {
    const error = await drain(keyClient);
    statuses = [];
    const started = Date.now();
    const usage = await patient.usage();
    const waited = Date.now() - started;
    if (statuses[0] !== 429) continue;
    assert.equal(typeof usage.day, 'string');
    assert.equal(statuses.at(-1), 200);
    assert.ok(waited >= (Number(error.retryAfter) * 1000) - 100, `waited ${waited} ms for Retry-After ${error.retryAfter}`);
    return;
  }
  assert.fail(`the patient client never met a 429 after a drain (last statuses ${statuses.join(',')})`);
});
