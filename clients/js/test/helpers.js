// Shared by the client tests: a real server per test file (scripts/server.js) and fresh users.
import { randomUUID } from 'node:crypto';
import { Client } from '../src/index.js';

export const PASSWORD = 'correct horse battery staple';

export function email(tag = 'user') {
  return `${tag}-${randomUUID()}@example.com`;
}

/**
 * A registered user's client (JWT with a refresh token) and the API key of the registration.
 * @param {string} url @param {import('../src/client.js').ClientOptions} [options]
 */
export async function newUser(url, options = {}) {
  const client = new Client({ baseUrl: url, apiKey: null, ...options });
  const auth = await client.auth.register({ email: email(), password: PASSWORD });
  return { client, auth, keyClient: new Client({ baseUrl: url, apiKey: auth.apiKey, ...options }) };
}
