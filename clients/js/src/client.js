// The Pyth-On API client: fetch-based (Node 20+ and browsers), typed with the declarations
// generated from the server's OpenAPI document (src/schema.d.ts, `npm run gen:schema`).

import { PythOnError, TimeoutError, ConnectionError, errorFromResponse } from './errors.js';
import { readSse } from './sse.js';
import { encrypt } from './zk.js';

/** @typedef {import('./schema.js').components['schemas']} Schemas */
/** @typedef {Schemas['AuthResponse']} AuthResponse */
/** @typedef {Schemas['RegisterRequest']} RegisterRequest */
/** @typedef {Schemas['AuthRequest']} LoginRequest */
/** @typedef {Schemas['VerifyResponse']} VerifyResponse */
/** @typedef {Schemas['UserInfo']} UserInfo */
/** @typedef {Schemas['AccountSettings']} AccountSettings */
/** @typedef {Schemas['PasswordChangeRequest']} PasswordChangeRequest */
/** @typedef {Schemas['SignInList']} SignInList */
/** @typedef {Schemas['KeyList']} KeyList */
/** @typedef {Schemas['CreatedKey']} CreatedKey */
/** @typedef {Schemas['ExecuteRequest']} ExecuteRequest */
/** @typedef {Schemas['ExecuteResponse']} ExecuteResponse */
/** @typedef {Schemas['RunStartEvent']} RunStartEvent */
/** @typedef {Schemas['RunOutputEvent']} RunOutputEvent */
/** @typedef {Schemas['ErrorBody']} ErrorBody */
/** @typedef {Schemas['CreateSessionRequest']} CreateSessionRequest */
/** @typedef {Schemas['SessionInfo']} SessionInfo */
/** @typedef {Schemas['SessionList']} SessionList */
/** @typedef {Schemas['CellRequest']} CellRequest */
/** @typedef {Schemas['CellResponse']} CellResponse */
/** @typedef {Schemas['CellStartEvent']} CellStartEvent */
/** @typedef {Schemas['InterruptResponse']} InterruptResponse */
/** @typedef {Schemas['SessionFile']} SessionFile */
/** @typedef {Schemas['SessionFileList']} SessionFileList */
/** @typedef {Schemas['SecretList']} SecretList */
/** @typedef {Schemas['SecretMetadata']} SecretMetadata */
/** @typedef {Schemas['PackageList']} PackageList */
/** @typedef {Schemas['PackageInfo']} PackageInfo */
/** @typedef {Schemas['SetPackagesRequest']} SetPackagesRequest */
/** @typedef {Schemas['AddPackageRequest']} AddPackageRequest */
/** @typedef {Schemas['EgressAllowList']} EgressAllowList */
/** @typedef {Schemas['AuditPage']} AuditPage */
/** @typedef {Schemas['AuditEntry']} AuditEntry */
/** @typedef {Schemas['AuditVerification']} AuditVerification */
/** @typedef {Schemas['Usage']} Usage */
/** @typedef {Schemas['EncryptedCodeList']} EncryptedCodeList */
/** @typedef {Schemas['EncryptedCodeMetadata']} EncryptedCodeMetadata */
/** @typedef {Schemas['ZkExecuteRequest']} ZkExecuteRequest */
/** @typedef {Schemas['ZkEncryptRequest']} ZkEncryptRequest */
/** @typedef {Schemas['GenerateRequest']} GenerateRequest */
/** @typedef {Schemas['GenerateResponse']} GenerateResponse */
/** @typedef {Schemas['AdminUserList']} AdminUserList */
/** @typedef {Schemas['AdminUser']} AdminUser */
/** @typedef {Schemas['AdminCreateUser']} AdminCreateUser */
/** @typedef {Schemas['AdminCreatedUser']} AdminCreatedUser */
/** @typedef {Schemas['UserRole']} UserRole */
/** @typedef {Schemas['UserQuota']} UserQuota */
/** @typedef {Schemas['QuotaOverrides']} QuotaOverrides */
/** @typedef {Schemas['InvitationRequest']} InvitationRequest */
/** @typedef {Schemas['InvitationCreated']} InvitationCreated */
/** @typedef {Schemas['InvitationList']} InvitationList */
/** @typedef {Schemas['HealthResponse']} HealthResponse */
/** @typedef {Schemas['InfoResponse']} InfoResponse */

/**
 * An event of a streamed run (`executeStream`), in the order the server sends them: `start`
 * once, `stdout`/`stderr` as the program writes, then `result` or `error` last.
 * @typedef {{type: 'start', data: RunStartEvent}
 *   | {type: 'stdout', data: RunOutputEvent}
 *   | {type: 'stderr', data: RunOutputEvent}
 *   | {type: 'result', data: ExecuteResponse}
 *   | {type: 'error', data: ErrorBody}} RunEvent
 */

/**
 * An event of a streamed session cell (`sessions.executeStream`).
 * @typedef {{type: 'start', data: CellStartEvent}
 *   | {type: 'stdout', data: RunOutputEvent}
 *   | {type: 'stderr', data: RunOutputEvent}
 *   | {type: 'result', data: CellResponse}
 *   | {type: 'error', data: ErrorBody}} CellEvent
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] the server (default `PYTH_ON_URL` in Node, else `http://127.0.0.1:8080`)
 * @property {string | null} [apiKey] `pyo_...` (default `PYTH_ON_API_KEY` in Node); sent as `x-api-key`
 * @property {string | null} [token] an access token (JWT), sent as `Authorization: Bearer`
 * @property {string | null} [refreshToken] with it, a 401 on a JWT refreshes the pair and retries once
 * @property {number} [timeoutMs] per request, whole answer read (default 60000; 0: none); streams: until the headers
 * @property {number} [maxRetries] retries of a 429/503 answer that carries `Retry-After`, and of
 *   network failures of GET requests (default 2; 0: none)
 * @property {number} [retryBaseMs] first backoff (default 500), doubled per attempt, with jitter
 * @property {number} [maxRetryDelayMs] a `Retry-After` longer than this is not waited for: the error is thrown (default 30000)
 * @property {typeof globalThis.fetch} [fetch] the fetch to use (default the global one)
 * @property {Record<string, string>} [headers] extra headers on every request
 * @property {boolean} [refreshCookie] for browsers: the refresh token lives in the server's
 *   `HttpOnly` cookie (`X-Pyth-On-Cookie: refresh` on register, login, refresh and logout), never
 *   in JavaScript; a 401 on a JWT then refreshes through the cookie
 * @property {(tokens: {token: string | null, refreshToken: string | null}) => void} [onTokens]
 *   called whenever the client's tokens change (login, register, refresh, logout)
 */

/**
 * @typedef {object} RequestOptions
 * @property {AbortSignal} [signal] aborts the request (and a run's stream: closing it stops the run)
 * @property {number} [timeoutMs] this request's timeout (overrides the client's)
 * @property {string} [requestId] sent as `x-request-id`
 */

/**
 * @typedef {RequestOptions & {query?: Record<string, string | number | undefined | null>,
 *   json?: unknown, body?: BodyInit, contentType?: string, accept?: string, auth?: boolean,
 *   okStatuses?: number[], stream?: boolean, noRefresh?: boolean}} InternalRequest
 */

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** @param {string} name @returns {string | undefined} */
function env(name) {
  const proc = /** @type {any} */ (globalThis).process;
  const value = proc?.env?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** @param {number} ms @param {AbortSignal | undefined} signal @returns {Promise<void>} */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A path segment, percent-encoded. @param {string} value */
function seg(value) {
  return encodeURIComponent(value);
}

/**
 * A session file path: relative, `/`-separated, each segment encoded; `.` and `..` refused
 * here (URL normalisation would turn them into another route).
 * @param {string} path
 */
function filePath(path) {
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '.' || part === '..' || part === '') {
      throw new TypeError(`invalid session file path ${JSON.stringify(path)}: empty, "." and ".." segments are refused`);
    }
  }
  return parts.map(seg).join('/');
}

/**
 * The Pyth-On API client.
 *
 * ```js
 * const client = new Client({ apiKey: 'pyo_...' });
 * const run = await client.execute({ code: 'print(6 * 7)' });
 * ```
 */
export class Client {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    /** @type {string} */
    this.baseUrl = (options.baseUrl ?? env('PYTH_ON_URL') ?? DEFAULT_URL).replace(/\/+$/, '');
    /** @type {string | null} */
    this.apiKey = options.apiKey === undefined ? (env('PYTH_ON_API_KEY') ?? null) : options.apiKey;
    /** @type {string | null} */
    this.token = options.token ?? null;
    /** @type {string | null} */
    this.refreshToken = options.refreshToken ?? null;
    this.timeoutMs = options.timeoutMs ?? 60000;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30000;
    this.headers = { ...(options.headers ?? {}) };
    this.onTokens = options.onTokens;
    this.refreshCookie = options.refreshCookie ?? false;
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') throw new TypeError('no fetch: pass options.fetch');
    /** @type {typeof globalThis.fetch} */
    this.fetch = (input, init) => fetchFn(input, init);
    /** @type {Promise<string> | null} @internal */
    this._userId = null;
    /** @type {Promise<AuthResponse> | null} @internal */
    this._refreshing = null;

    const client = this;

    /** Registration, sign-in and tokens (the routes under `/api`). */
    this.auth = {
      /**
       * `POST /api/register`: creates an account and signs in (the client keeps the tokens).
       * The answer's `apiKey` is shown this once. `invitation` is needed in `invite` mode.
       * @param {RegisterRequest} request @param {RequestOptions} [opts] @returns {Promise<AuthResponse>}
       */
      register: async (request, opts) => client._keep(await client._json('POST', '/api/register', { ...opts, json: request, auth: false })),
      /**
       * `POST /api/login`: signs in; the client keeps the access and refresh tokens.
       * @param {LoginRequest} request @param {RequestOptions} [opts] @returns {Promise<AuthResponse>}
       */
      login: async (request, opts) => client._keep(await client._json('POST', '/api/login', { ...opts, json: request, auth: false })),
      /**
       * `POST /api/refresh`: spends the refresh token (the client's unless given) for a new pair.
       * @param {string} [refreshToken] @param {RequestOptions} [opts] @returns {Promise<AuthResponse>}
       */
      refresh: async (refreshToken, opts) => {
        const tokenToSpend = refreshToken ?? client.refreshToken ?? (client.refreshCookie ? '' : null);
        if (tokenToSpend === null) throw new TypeError('no refresh token');
        return client._keep(await client._json('POST', '/api/refresh', {
          ...opts, json: { refreshToken: tokenToSpend }, auth: false, noRefresh: true,
        }));
      },
      /**
       * `POST /api/verify`: checks an access token (the client's unless given).
       * @param {string} [token] @param {RequestOptions} [opts] @returns {Promise<VerifyResponse>}
       */
      verify: async (token, opts) => {
        const value = token ?? client.token;
        if (!value) throw new TypeError('no token to verify');
        return client._json('POST', '/api/verify', { ...opts, json: { token: value }, auth: false, noRefresh: true });
      },
      /**
       * `POST /api/logout`: ends the sign-in of the refresh token (the client's unless given)
       * and forgets the client's tokens.
       * @param {string} [refreshToken] @param {RequestOptions} [opts] @returns {Promise<void>}
       */
      logout: async (refreshToken, opts) => {
        const value = refreshToken ?? client.refreshToken;
        await client._void('POST', '/api/logout', { ...opts, json: value ? { refreshToken: value } : client.refreshCookie ? undefined : {}, auth: false, noRefresh: true });
        if (refreshToken === undefined || refreshToken === client.refreshToken) {
          client.token = null;
          client.refreshToken = null;
          client.onTokens?.({ token: null, refreshToken: null });
        }
      },
    };

    /** The caller's own account (`/api/v1/me`). */
    this.me = {
      /** `GET /api/v1/me`. @param {RequestOptions} [opts] @returns {Promise<UserInfo>} */
      get: (opts) => client._json('GET', '/api/v1/me', opts),
      /** `PUT /api/v1/me/settings` (JWT). @param {AccountSettings} settings @param {RequestOptions} [opts] @returns {Promise<UserInfo>} */
      updateSettings: (settings, opts) => client._json('PUT', '/api/v1/me/settings', { ...opts, json: settings }),
      /** `POST /api/v1/me/password` (JWT): other sign-ins end. @param {PasswordChangeRequest} request @param {RequestOptions} [opts] @returns {Promise<void>} */
      changePassword: (request, opts) => client._void('POST', '/api/v1/me/password', { ...opts, json: request }),
      /** `GET /api/v1/me/sign-ins` (JWT). @param {RequestOptions} [opts] @returns {Promise<SignInList>} */
      signIns: (opts) => client._json('GET', '/api/v1/me/sign-ins', opts),
      /** `DELETE /api/v1/me/sign-ins/{id}` (JWT). @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
      revokeSignIn: (id, opts) => client._void('DELETE', `/api/v1/me/sign-ins/${seg(id)}`, opts),
      /** `DELETE /api/v1/me` (JWT): deletes the account and everything it owns. @param {string} password @param {RequestOptions} [opts] @returns {Promise<void>} */
      delete: (password, opts) => client._void('DELETE', '/api/v1/me', { ...opts, json: { password } }),
    };

    /** API keys (`/api/v1/keys`; key management needs a JWT). */
    this.keys = {
      /** @param {RequestOptions} [opts] @returns {Promise<KeyList>} */
      list: (opts) => client._json('GET', '/api/v1/keys', opts),
      /** @param {string} name @param {RequestOptions} [opts] @returns {Promise<CreatedKey>} */
      create: (name, opts) => client._json('POST', '/api/v1/keys', { ...opts, json: { name } }),
      /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
      revoke: (id, opts) => client._void('DELETE', `/api/v1/keys/${seg(id)}`, opts),
    };

    /** Secrets (`/api/v1/secrets`): values go in, never come out. */
    this.secrets = {
      /** @param {RequestOptions} [opts] @returns {Promise<SecretList>} */
      list: (opts) => client._json('GET', '/api/v1/secrets', opts),
      /** Creates or replaces. @param {string} name @param {string} value @param {RequestOptions} [opts] @returns {Promise<SecretMetadata>} */
      set: (name, value, opts) => client._json('PUT', `/api/v1/secrets/${seg(name)}`, { ...opts, json: { value } }),
      /** @param {string} name @param {RequestOptions} [opts] @returns {Promise<void>} */
      delete: (name, opts) => client._void('DELETE', `/api/v1/secrets/${seg(name)}`, opts),
    };

    /** Persistent package lists (`/api/v1/packages`); changes build before answering. */
    this.packages = {
      /** @param {RequestOptions} [opts] @returns {Promise<PackageList>} */
      list: (opts) => client._json('GET', '/api/v1/packages', opts),
      /** Replaces a language's list. @param {SetPackagesRequest} request @param {RequestOptions} [opts] @returns {Promise<PackageList>} */
      set: (request, opts) => client._json('PUT', '/api/v1/packages', { ...opts, json: request }),
      /** Adds one. @param {AddPackageRequest} request @param {RequestOptions} [opts] @returns {Promise<PackageInfo>} */
      add: (request, opts) => client._json('POST', '/api/v1/packages', { ...opts, json: request }),
      /** @param {string} name @param {{language?: string} & RequestOptions} [opts] @returns {Promise<void>} */
      remove: (name, opts = {}) => client._void('DELETE', `/api/v1/packages/${seg(name)}`, { ...opts, query: { language: opts.language } }),
    };

    /** The caller's egress allow-list (`/api/v1/egress/allow`). */
    this.egress = {
      /** @param {RequestOptions} [opts] @returns {Promise<EgressAllowList>} */
      get: (opts) => client._json('GET', '/api/v1/egress/allow', opts),
      /** @param {string[]} hosts @param {RequestOptions} [opts] @returns {Promise<EgressAllowList>} */
      set: (hosts, opts) => client._json('PUT', '/api/v1/egress/allow', { ...opts, json: { hosts } }),
      /** @param {RequestOptions} [opts] @returns {Promise<void>} */
      delete: (opts) => client._void('DELETE', '/api/v1/egress/allow', opts),
    };

    /** The caller's hash-chained audit log (`/api/v1/audit`). */
    this.audit = {
      /**
       * One page, newest first. @param {{limit?: number, before?: number | string | null, action?: string} & RequestOptions} [opts]
       * @returns {Promise<AuditPage>}
       */
      list: (opts = {}) => client._json('GET', '/api/v1/audit', {
        ...opts, query: { limit: opts.limit, before: opts.before, action: opts.action },
      }),
      /**
       * Every entry, newest first, fetching pages as the loop goes.
       * @param {{pageSize?: number, action?: string} & RequestOptions} [opts]
       * @returns {AsyncGenerator<AuditEntry, void, undefined>}
       */
      async *entries(opts = {}) {
        /** @type {number | string | null | undefined} */
        let before;
        for (;;) {
          const page = await client.audit.list({ ...opts, limit: opts.pageSize ?? 200, before });
          yield* page.entries;
          if (page.nextCursor === null || page.nextCursor === undefined || page.entries.length === 0) return;
          before = page.nextCursor;
        }
      },
      /** Recomputes the chain. @param {RequestOptions} [opts] @returns {Promise<AuditVerification>} */
      verify: (opts) => client._json('GET', '/api/v1/audit/verify', opts),
    };

    /** Interactive sessions: a live interpreter running many cells (`/api/v1/sessions`). */
    this.sessions = {
      /** @param {CreateSessionRequest} [request] @param {RequestOptions} [opts] @returns {Promise<SessionInfo>} */
      create: (request = {}, opts) => client._json('POST', '/api/v1/sessions', { ...opts, json: request }),
      /** @param {RequestOptions} [opts] @returns {Promise<SessionList>} */
      list: (opts) => client._json('GET', '/api/v1/sessions', opts),
      /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<SessionInfo>} */
      get: (id, opts) => client._json('GET', `/api/v1/sessions/${seg(id)}`, opts),
      /** Ends it. @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
      delete: (id, opts) => client._void('DELETE', `/api/v1/sessions/${seg(id)}`, opts),
      /**
       * Runs a cell and waits for its answer.
       * @param {string} id @param {string | CellRequest} cell code, or `{code, timeoutMs}`
       * @param {RequestOptions} [opts] @returns {Promise<CellResponse>}
       */
      execute: (id, cell, opts) => client._json('POST', `/api/v1/sessions/${seg(id)}/execute`, {
        ...opts, json: typeof cell === 'string' ? { code: cell } : cell,
      }),
      /**
       * Runs a cell, yielding its events as they come (`start`, `stdout`/`stderr`, then
       * `result` or `error`).
       * @param {string} id @param {string | CellRequest} cell @param {RequestOptions} [opts]
       * @returns {AsyncGenerator<CellEvent, void, undefined>}
       */
      executeStream: (id, cell, opts) => /** @type {AsyncGenerator<CellEvent, void, undefined>} */ (
        client._events(`/api/v1/sessions/${seg(id)}/execute`, typeof cell === 'string' ? { code: cell } : cell, opts)),
      /** Interrupts the running cell. @param {string} id @param {RequestOptions} [opts] @returns {Promise<InterruptResponse>} */
      interrupt: (id, opts) => client._json('POST', `/api/v1/sessions/${seg(id)}/interrupt`, opts),
      /** A session's working directory (`/work`). */
      files: {
        /** Lists one directory. @param {string} id @param {{dir?: string} & RequestOptions} [opts] @returns {Promise<SessionFileList>} */
        list: (id, opts = {}) => client._json('GET', `/api/v1/sessions/${seg(id)}/files`, { ...opts, query: { dir: opts.dir } }),
        /**
         * Uploads a file (parents created, an existing one replaced).
         * @param {string} id @param {string} path @param {string | Uint8Array | ArrayBuffer | Blob} content
         * @param {RequestOptions} [opts] @returns {Promise<SessionFile>}
         */
        put: async (id, path, content, opts) => client._json('PUT', `/api/v1/sessions/${seg(id)}/files/${filePath(path)}`, {
          ...opts, body: /** @type {BodyInit} */ (content), contentType: 'application/octet-stream',
        }),
        /** Downloads a file's bytes. @param {string} id @param {string} path @param {RequestOptions} [opts] @returns {Promise<Uint8Array>} */
        get: async (id, path, opts) => {
          const response = await client._send('GET', `/api/v1/sessions/${seg(id)}/files/${filePath(path)}`, { ...opts, accept: 'application/octet-stream' });
          return new Uint8Array(await response.arrayBuffer());
        },
        /** Downloads a file as UTF-8 text. @param {string} id @param {string} path @param {RequestOptions} [opts] @returns {Promise<string>} */
        getText: async (id, path, opts) => new TextDecoder().decode(await client.sessions.files.get(id, path, opts)),
        /** Removes a file (a directory with everything in it). @param {string} id @param {string} path @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: async (id, path, opts) => client._void('DELETE', `/api/v1/sessions/${seg(id)}/files/${filePath(path)}`, opts),
      },
    };

    /** Zero-knowledge code: encrypted on this machine, decrypted only inside the sandbox. */
    this.zk = {
      /**
       * Encrypts `code` locally under `masterPassword` (bound to the caller's user id, read
       * from `GET /api/v1/me` once, and to `name`) and stores the payload.
       * @param {string} name @param {string | Uint8Array} code @param {string} masterPassword
       * @param {import('./zk.js').EncryptOptions & RequestOptions} [opts] @returns {Promise<EncryptedCodeMetadata>}
       */
      put: async (name, code, masterPassword, opts = {}) => {
        const { signal, timeoutMs, requestId, ...encryptOptions } = opts;
        const payload = await encrypt(code, masterPassword, await client.userId(), name, encryptOptions);
        return client.zk.store(name, payload, { signal, timeoutMs, requestId });
      },
      /** Stores a payload made elsewhere. @param {string} name @param {import('./zk.js').ZkPayload} payload @param {RequestOptions} [opts] @returns {Promise<EncryptedCodeMetadata>} */
      store: (name, payload, opts) => client._json('PUT', `/api/v1/zk/code/${seg(name)}`, { ...opts, json: payload }),
      /** @param {RequestOptions} [opts] @returns {Promise<EncryptedCodeList>} */
      list: (opts) => client._json('GET', '/api/v1/zk/code', opts),
      /** @param {string} name @param {RequestOptions} [opts] @returns {Promise<void>} */
      delete: (name, opts) => client._void('DELETE', `/api/v1/zk/code/${seg(name)}`, opts),
      /**
       * Runs stored code: the password goes to the sandbox's decryption stage.
       * @param {string} name @param {string} masterPassword @param {Omit<ZkExecuteRequest, 'masterPassword'>} [request]
       * @param {RequestOptions} [opts] @returns {Promise<ExecuteResponse>}
       */
      run: (name, masterPassword, request = {}, opts) => client._json('POST', `/api/v1/zk/execute/${seg(name)}`, {
        ...opts, json: { ...request, masterPassword },
      }),
      /**
       * `POST /api/v1/zk/encrypt`: the server encrypts (it sees the code): for tests only.
       * @param {ZkEncryptRequest} request @param {RequestOptions} [opts] @returns {Promise<import('./zk.js').ZkPayload>}
       */
      encryptOnServer: (request, opts) => client._json('POST', '/api/v1/zk/encrypt', { ...opts, json: request }),
    };

    /** Administration (an admin's access token). */
    this.admin = {
      users: {
        /** One page in creation order. @param {{after?: string, limit?: number} & RequestOptions} [opts] @returns {Promise<AdminUserList>} */
        list: (opts = {}) => client._json('GET', '/api/v1/admin/users', { ...opts, query: { after: opts.after, limit: opts.limit } }),
        /**
         * Every user, fetching pages as the loop goes.
         * @param {{pageSize?: number} & RequestOptions} [opts] @returns {AsyncGenerator<AdminUser, void, undefined>}
         */
        async *all(opts = {}) {
          /** @type {string | undefined} */
          let after;
          for (;;) {
            const page = await client.admin.users.list({ ...opts, limit: opts.pageSize ?? 500, after });
            yield* page.users;
            if (!page.nextAfter || page.users.length === 0) return;
            after = page.nextAfter;
          }
        },
        /** @param {AdminCreateUser} request @param {RequestOptions} [opts] @returns {Promise<AdminCreatedUser>} */
        create: (request, opts) => client._json('POST', '/api/v1/admin/users', { ...opts, json: request }),
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        disable: (id, opts) => client._void('POST', `/api/v1/admin/users/${seg(id)}/disable`, opts),
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        enable: (id, opts) => client._void('POST', `/api/v1/admin/users/${seg(id)}/enable`, opts),
        /** @param {string} id @param {UserRole} role @param {RequestOptions} [opts] @returns {Promise<void>} */
        setRole: (id, role, opts) => client._void('PUT', `/api/v1/admin/users/${seg(id)}/role`, { ...opts, json: { role } }),
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<UserQuota>} */
        getQuota: (id, opts) => client._json('GET', `/api/v1/admin/users/${seg(id)}/quota`, opts),
        /** `{}` removes every override. @param {string} id @param {QuotaOverrides} overrides @param {RequestOptions} [opts] @returns {Promise<UserQuota>} */
        setQuota: (id, overrides, opts) => client._json('PUT', `/api/v1/admin/users/${seg(id)}/quota`, { ...opts, json: overrides }),
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (id, opts) => client._void('DELETE', `/api/v1/admin/users/${seg(id)}`, opts),
      },
      invitations: {
        /** @param {RequestOptions} [opts] @returns {Promise<InvitationList>} */
        list: (opts) => client._json('GET', '/api/v1/admin/invitations', opts),
        /** The code (`pyi_...`) is in the answer this once. @param {InvitationRequest} [request] @param {RequestOptions} [opts] @returns {Promise<InvitationCreated>} */
        create: (request = {}, opts) => client._json('POST', '/api/v1/admin/invitations', { ...opts, json: request }),
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (id, opts) => client._void('DELETE', `/api/v1/admin/invitations/${seg(id)}`, opts),
      },
    };
  }

  // ---- top-level routes ----------------------------------------------------------------

  /**
   * `POST /api/v1/execute`: runs a program and waits for it. A program that ran and failed is
   * a result (`exitCode`, `timedOut`, ...), not an error.
   * @param {ExecuteRequest | string} request the request, or just Python code
   * @param {RequestOptions} [opts] @returns {Promise<ExecuteResponse>}
   */
  execute(request, opts) {
    return this._json('POST', '/api/v1/execute', { ...opts, json: typeof request === 'string' ? { code: request } : request });
  }

  /**
   * `POST /api/v1/execute` with `Accept: text/event-stream`: yields the run's events as they
   * come. Leaving the loop early (or aborting `opts.signal`) closes the stream, which stops
   * the run; `cancel(executionId)` stops it from elsewhere.
   * @param {ExecuteRequest | string} request @param {RequestOptions} [opts]
   * @returns {AsyncGenerator<RunEvent, void, undefined>}
   */
  executeStream(request, opts) {
    return /** @type {AsyncGenerator<RunEvent, void, undefined>} */ (
      this._events('/api/v1/execute', typeof request === 'string' ? { code: request } : request, opts));
  }

  /** `POST /api/v1/executions/{id}/cancel`: stops a run in progress. @param {string} executionId @param {RequestOptions} [opts] @returns {Promise<void>} */
  cancel(executionId, opts) {
    return this._void('POST', `/api/v1/executions/${seg(executionId)}/cancel`, opts);
  }

  /** `POST /api/v1/generate`. @param {GenerateRequest} request @param {RequestOptions} [opts] @returns {Promise<GenerateResponse>} */
  generate(request, opts) {
    return this._json('POST', '/api/v1/generate', { ...opts, json: request });
  }

  /** `GET /api/v1/usage`: today's use of each quota. @param {RequestOptions} [opts] @returns {Promise<Usage>} */
  usage(opts) {
    return this._json('GET', '/api/v1/usage', opts);
  }

  /** `GET /api/health` (readiness): the answer, `ok` or `degraded` (503 is not thrown). @param {RequestOptions} [opts] @returns {Promise<HealthResponse>} */
  health(opts) {
    return this._json('GET', '/api/health', { ...opts, auth: false, okStatuses: [503] });
  }

  /** `GET /api/health/live` (liveness). @param {RequestOptions} [opts] @returns {Promise<HealthResponse>} */
  live(opts) {
    return this._json('GET', '/api/health/live', { ...opts, auth: false });
  }

  /** `GET /api/info`: version, languages, limits, features. @param {RequestOptions} [opts] @returns {Promise<InfoResponse>} */
  info(opts) {
    return this._json('GET', '/api/info', { ...opts, auth: false });
  }

  /** `GET /api/openapi.json`. @param {RequestOptions} [opts] @returns {Promise<Record<string, unknown>>} */
  openapi(opts) {
    return this._json('GET', '/api/openapi.json', { ...opts, auth: false });
  }

  /** The caller's user id (`GET /api/v1/me`, asked once). @returns {Promise<string>} */
  userId() {
    if (!this._userId) {
      this._userId = this.me.get().then((me) => me.id);
      this._userId.catch(() => { this._userId = null; });
    }
    return this._userId;
  }

  // ---- plumbing ------------------------------------------------------------------------

  /** @param {AuthResponse} answer @returns {AuthResponse} @internal */
  _keep(answer) {
    this.token = answer.token;
    this.refreshToken = answer.refreshToken || null;
    this._userId = Promise.resolve(answer.user.id);
    this.onTokens?.({ token: this.token, refreshToken: this.refreshToken });
    return answer;
  }

  /** @param {string} method @param {string} path @param {InternalRequest} [req] @returns {Promise<any>} @internal */
  async _json(method, path, req = {}) {
    const response = await this._send(method, path, { accept: 'application/json', ...req });
    const text = await response.text();
    return text === '' ? null : JSON.parse(text);
  }

  /** @param {string} method @param {string} path @param {InternalRequest} [req] @returns {Promise<void>} @internal */
  async _void(method, path, req = {}) {
    const response = await this._send(method, path, req);
    await response.body?.cancel().catch(() => {});
  }

  /**
   * @param {string} path @param {unknown} body @param {RequestOptions} [opts]
   * @returns {AsyncGenerator<{type: string, data: any}, void, undefined>} @internal
   */
  async *_events(path, body, opts = {}) {
    const response = await this._send('POST', path, { ...opts, json: body, accept: 'text/event-stream', stream: true });
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream')) {
      // A server that answered JSON after all: one result event.
      yield { type: 'result', data: await response.json() };
      return;
    }
    if (!response.body) return;
    for await (const message of readSse(response.body)) {
      yield { type: message.event, data: JSON.parse(message.data) };
    }
  }

  /**
   * One request with authentication, timeout, retries and the refresh on 401.
   * @param {string} method @param {string} path @param {InternalRequest} [req]
   * @returns {Promise<Response>} @internal
   */
  async _send(method, path, req = {}) {
    // A relative baseUrl ('' or '/') resolves against the page in a browser.
    const url = new URL(this.baseUrl + path, /** @type {any} */ (globalThis).location?.href);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = { ...this.headers };
      if (req.accept) headers.accept = req.accept;
      if (this.refreshCookie && /^\/api\/(register|login|refresh|logout)$/.test(path)) headers['x-pyth-on-cookie'] = 'refresh';
      if (req.requestId) headers['x-request-id'] = req.requestId;
      /** @type {BodyInit | undefined} */
      let body;
      if (req.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(req.json);
      } else if (req.body !== undefined) {
        headers['content-type'] = req.contentType ?? 'application/octet-stream';
        body = req.body;
      }
      const usedJwt = req.auth !== false && !this.apiKey && (!!this.token || !!this.refreshToken || this.refreshCookie);
      if (req.auth !== false) {
        if (this.apiKey) headers['x-api-key'] = this.apiKey;
        else if (this.token) headers.authorization = `Bearer ${this.token}`;
      }
      const timeoutMs = req.timeoutMs ?? this.timeoutMs;
      // The timeout covers the whole answer, or for a stream until its headers: a stream then
      // lasts as long as the run (which has its own time limit) or until `signal` aborts.
      const timeout = new AbortController();
      const timer = timeoutMs > 0
        ? setTimeout(() => timeout.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs)
        : undefined;
      const signal = req.signal ? AbortSignal.any([req.signal, timeout.signal]) : timeout.signal;
      const timedOut = (/** @type {unknown} */ cause) =>
        new TimeoutError(`${method} ${path}: no answer within ${timeoutMs} ms`, { code: 'timeout', cause });

      /** @type {Response} */
      let response;
      try {
        response = await this.fetch(url, { method, headers, body, signal });
      } catch (cause) {
        clearTimeout(timer);
        if (req.signal?.aborted) throw cause;
        if (timeout.signal.aborted) throw timedOut(cause);
        if (method === 'GET' && attempt < this.maxRetries) {
          await sleep(this._backoff(attempt), req.signal);
          continue;
        }
        const inner = /** @type {any} */ (cause)?.cause?.message ?? (cause instanceof Error ? cause.message : String(cause));
        throw new ConnectionError(`${method} ${url.origin}${path}: cannot reach the server (${inner})`, { code: 'network_error', cause });
      }
      if (response.ok || req.okStatuses?.includes(response.status)) {
        if (req.stream) {
          clearTimeout(timer);
          return response;
        }
        // Read the whole body under the same timeout.
        try {
          const buffered = await response.arrayBuffer();
          return new Response(response.status === 204 ? null : buffered, { status: response.status, headers: response.headers });
        } catch (cause) {
          if (timeout.signal.aborted && !req.signal?.aborted) throw timedOut(cause);
          throw cause;
        } finally {
          clearTimeout(timer);
        }
      }
      clearTimeout(timer);
      const error = await errorFromResponse(response);
      if (response.status === 401 && usedJwt && (this.refreshToken || this.refreshCookie) && !refreshed && !req.noRefresh) {
        refreshed = true;
        try {
          await this._refreshOnce();
        } catch {
          throw error;
        }
        attempt--;
        continue;
      }
      if ((response.status === 429 || response.status === 503) && error.retryAfter !== null && attempt < this.maxRetries) {
        const wait = Math.max(error.retryAfter * 1000, this._backoff(attempt));
        if (error.retryAfter * 1000 <= this.maxRetryDelayMs) {
          await sleep(Math.min(wait, this.maxRetryDelayMs), req.signal);
          continue;
        }
      }
      throw error;
    }
  }

  /** Backoff before retry `attempt` (0-based): base * 2^attempt with ±25% jitter. @param {number} attempt @internal */
  _backoff(attempt) {
    const base = this.retryBaseMs * 2 ** attempt;
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  /** One refresh at a time, shared by concurrent 401s. @returns {Promise<AuthResponse>} @internal */
  _refreshOnce() {
    if (!this._refreshing) {
      this._refreshing = this.auth.refresh().finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }
}

export { PythOnError };
