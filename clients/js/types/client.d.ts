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
    constructor(options?: ClientOptions);
    /** @type {string} */
    baseUrl: string;
    /** @type {string | null} */
    apiKey: string | null;
    /** @type {string | null} */
    token: string | null;
    /** @type {string | null} */
    refreshToken: string | null;
    timeoutMs: number;
    maxRetries: number;
    retryBaseMs: number;
    maxRetryDelayMs: number;
    headers: {
        [x: string]: string;
    };
    onTokens: ((tokens: {
        token: string | null;
        refreshToken: string | null;
    }) => void) | undefined;
    refreshCookie: boolean;
    /** @type {typeof globalThis.fetch} */
    fetch: typeof globalThis.fetch;
    /** @type {Promise<string> | null} @internal */
    _userId: Promise<string> | null;
    /** @type {Promise<AuthResponse> | null} @internal */
    _refreshing: Promise<AuthResponse> | null;
    /** Registration, sign-in and tokens (the routes under `/api`). */
    auth: {
        /**
         * `POST /api/register`: creates an account and signs in (the client keeps the tokens).
         * The answer's `apiKey` is shown this once. `invitation` is needed in `invite` mode.
         * @param {RegisterRequest} request @param {RequestOptions} [opts] @returns {Promise<AuthResponse>}
         */
        register: (request: RegisterRequest, opts?: RequestOptions) => Promise<AuthResponse>;
        /**
         * `POST /api/login`: signs in; the client keeps the access and refresh tokens.
         * @param {LoginRequest} request @param {RequestOptions} [opts] @returns {Promise<AuthResponse>}
         */
        login: (request: LoginRequest, opts?: RequestOptions) => Promise<AuthResponse>;
        /**
         * `POST /api/refresh`: spends the refresh token (the client's unless given) for a new pair.
         * @param {string} [refreshToken] @param {RequestOptions} [opts] @returns {Promise<AuthResponse>}
         */
        refresh: (refreshToken?: string, opts?: RequestOptions) => Promise<AuthResponse>;
        /**
         * `POST /api/verify`: checks an access token (the client's unless given).
         * @param {string} [token] @param {RequestOptions} [opts] @returns {Promise<VerifyResponse>}
         */
        verify: (token?: string, opts?: RequestOptions) => Promise<VerifyResponse>;
        /**
         * `POST /api/logout`: ends the sign-in of the refresh token (the client's unless given)
         * and forgets the client's tokens.
         * @param {string} [refreshToken] @param {RequestOptions} [opts] @returns {Promise<void>}
         */
        logout: (refreshToken?: string, opts?: RequestOptions) => Promise<void>;
    };
    /** The caller's own account (`/api/v1/me`). */
    me: {
        /** `GET /api/v1/me`. @param {RequestOptions} [opts] @returns {Promise<UserInfo>} */
        get: (opts?: RequestOptions) => Promise<UserInfo>;
        /** `PUT /api/v1/me/settings` (JWT). @param {AccountSettings} settings @param {RequestOptions} [opts] @returns {Promise<UserInfo>} */
        updateSettings: (settings: AccountSettings, opts?: RequestOptions) => Promise<UserInfo>;
        /** `POST /api/v1/me/password` (JWT): other sign-ins end. @param {PasswordChangeRequest} request @param {RequestOptions} [opts] @returns {Promise<void>} */
        changePassword: (request: PasswordChangeRequest, opts?: RequestOptions) => Promise<void>;
        /** `GET /api/v1/me/sign-ins` (JWT). @param {RequestOptions} [opts] @returns {Promise<SignInList>} */
        signIns: (opts?: RequestOptions) => Promise<SignInList>;
        /** `DELETE /api/v1/me/sign-ins/{id}` (JWT). @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        revokeSignIn: (id: string, opts?: RequestOptions) => Promise<void>;
        /** `DELETE /api/v1/me` (JWT): deletes the account and everything it owns. @param {string} password @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (password: string, opts?: RequestOptions) => Promise<void>;
    };
    /** API keys (`/api/v1/keys`; key management needs a JWT). */
    keys: {
        /** @param {RequestOptions} [opts] @returns {Promise<KeyList>} */
        list: (opts?: RequestOptions) => Promise<KeyList>;
        /** @param {string} name @param {RequestOptions} [opts] @returns {Promise<CreatedKey>} */
        create: (name: string, opts?: RequestOptions) => Promise<CreatedKey>;
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        revoke: (id: string, opts?: RequestOptions) => Promise<void>;
    };
    /** Secrets (`/api/v1/secrets`): values go in, never come out. */
    secrets: {
        /** @param {RequestOptions} [opts] @returns {Promise<SecretList>} */
        list: (opts?: RequestOptions) => Promise<SecretList>;
        /** Creates or replaces. @param {string} name @param {string} value @param {RequestOptions} [opts] @returns {Promise<SecretMetadata>} */
        set: (name: string, value: string, opts?: RequestOptions) => Promise<SecretMetadata>;
        /** @param {string} name @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (name: string, opts?: RequestOptions) => Promise<void>;
    };
    /** Persistent package lists (`/api/v1/packages`); changes build before answering. */
    packages: {
        /** @param {RequestOptions} [opts] @returns {Promise<PackageList>} */
        list: (opts?: RequestOptions) => Promise<PackageList>;
        /** Replaces a language's list. @param {SetPackagesRequest} request @param {RequestOptions} [opts] @returns {Promise<PackageList>} */
        set: (request: SetPackagesRequest, opts?: RequestOptions) => Promise<PackageList>;
        /** Adds one. @param {AddPackageRequest} request @param {RequestOptions} [opts] @returns {Promise<PackageInfo>} */
        add: (request: AddPackageRequest, opts?: RequestOptions) => Promise<PackageInfo>;
        /** @param {string} name @param {{language?: string} & RequestOptions} [opts] @returns {Promise<void>} */
        remove: (name: string, opts?: {
            language?: string;
        } & RequestOptions) => Promise<void>;
    };
    /** The caller's egress allow-list (`/api/v1/egress/allow`). */
    egress: {
        /** @param {RequestOptions} [opts] @returns {Promise<EgressAllowList>} */
        get: (opts?: RequestOptions) => Promise<EgressAllowList>;
        /** @param {string[]} hosts @param {RequestOptions} [opts] @returns {Promise<EgressAllowList>} */
        set: (hosts: string[], opts?: RequestOptions) => Promise<EgressAllowList>;
        /** @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (opts?: RequestOptions) => Promise<void>;
    };
    /** The caller's hash-chained audit log (`/api/v1/audit`). */
    audit: {
        /**
         * One page, newest first. @param {{limit?: number, before?: number | string | null, action?: string} & RequestOptions} [opts]
         * @returns {Promise<AuditPage>}
         */
        list: (opts?: {
            limit?: number;
            before?: number | string | null;
            action?: string;
        } & RequestOptions) => Promise<AuditPage>;
        /**
         * Every entry, newest first, fetching pages as the loop goes.
         * @param {{pageSize?: number, action?: string} & RequestOptions} [opts]
         * @returns {AsyncGenerator<AuditEntry, void, undefined>}
         */
        entries(opts?: {
            pageSize?: number;
            action?: string;
        } & RequestOptions): AsyncGenerator<AuditEntry, void, undefined>;
        /** Recomputes the chain. @param {RequestOptions} [opts] @returns {Promise<AuditVerification>} */
        verify: (opts?: RequestOptions) => Promise<AuditVerification>;
    };
    /** Interactive sessions: a live interpreter running many cells (`/api/v1/sessions`). */
    sessions: {
        /** @param {CreateSessionRequest} [request] @param {RequestOptions} [opts] @returns {Promise<SessionInfo>} */
        create: (request?: CreateSessionRequest, opts?: RequestOptions) => Promise<SessionInfo>;
        /** @param {RequestOptions} [opts] @returns {Promise<SessionList>} */
        list: (opts?: RequestOptions) => Promise<SessionList>;
        /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<SessionInfo>} */
        get: (id: string, opts?: RequestOptions) => Promise<SessionInfo>;
        /** Ends it. @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (id: string, opts?: RequestOptions) => Promise<void>;
        /**
         * Runs a cell and waits for its answer.
         * @param {string} id @param {string | CellRequest} cell code, or `{code, timeoutMs}`
         * @param {RequestOptions} [opts] @returns {Promise<CellResponse>}
         */
        execute: (id: string, cell: string | CellRequest, opts?: RequestOptions) => Promise<CellResponse>;
        /**
         * Runs a cell, yielding its events as they come (`start`, `stdout`/`stderr`, then
         * `result` or `error`).
         * @param {string} id @param {string | CellRequest} cell @param {RequestOptions} [opts]
         * @returns {AsyncGenerator<CellEvent, void, undefined>}
         */
        executeStream: (id: string, cell: string | CellRequest, opts?: RequestOptions) => AsyncGenerator<CellEvent, void, undefined>;
        /** Interrupts the running cell. @param {string} id @param {RequestOptions} [opts] @returns {Promise<InterruptResponse>} */
        interrupt: (id: string, opts?: RequestOptions) => Promise<InterruptResponse>;
        /** A session's working directory (`/work`). */
        files: {
            /** Lists one directory. @param {string} id @param {{dir?: string} & RequestOptions} [opts] @returns {Promise<SessionFileList>} */
            list: (id: string, opts?: {
                dir?: string;
            } & RequestOptions) => Promise<SessionFileList>;
            /**
             * Uploads a file (parents created, an existing one replaced).
             * @param {string} id @param {string} path @param {string | Uint8Array | ArrayBuffer | Blob} content
             * @param {RequestOptions} [opts] @returns {Promise<SessionFile>}
             */
            put: (id: string, path: string, content: string | Uint8Array | ArrayBuffer | Blob, opts?: RequestOptions) => Promise<SessionFile>;
            /** Downloads a file's bytes. @param {string} id @param {string} path @param {RequestOptions} [opts] @returns {Promise<Uint8Array>} */
            get: (id: string, path: string, opts?: RequestOptions) => Promise<Uint8Array>;
            /** Downloads a file as UTF-8 text. @param {string} id @param {string} path @param {RequestOptions} [opts] @returns {Promise<string>} */
            getText: (id: string, path: string, opts?: RequestOptions) => Promise<string>;
            /** Removes a file (a directory with everything in it). @param {string} id @param {string} path @param {RequestOptions} [opts] @returns {Promise<void>} */
            delete: (id: string, path: string, opts?: RequestOptions) => Promise<void>;
        };
    };
    /** Zero-knowledge code: encrypted on this machine, decrypted only inside the sandbox. */
    zk: {
        /**
         * Encrypts `code` locally under `masterPassword` (bound to the caller's user id, read
         * from `GET /api/v1/me` once, and to `name`) and stores the payload.
         * @param {string} name @param {string | Uint8Array} code @param {string} masterPassword
         * @param {import('./zk.js').EncryptOptions & RequestOptions} [opts] @returns {Promise<EncryptedCodeMetadata>}
         */
        put: (name: string, code: string | Uint8Array, masterPassword: string, opts?: import("./zk.js").EncryptOptions & RequestOptions) => Promise<EncryptedCodeMetadata>;
        /** Stores a payload made elsewhere. @param {string} name @param {import('./zk.js').ZkPayload} payload @param {RequestOptions} [opts] @returns {Promise<EncryptedCodeMetadata>} */
        store: (name: string, payload: import("./zk.js").ZkPayload, opts?: RequestOptions) => Promise<EncryptedCodeMetadata>;
        /** @param {RequestOptions} [opts] @returns {Promise<EncryptedCodeList>} */
        list: (opts?: RequestOptions) => Promise<EncryptedCodeList>;
        /** @param {string} name @param {RequestOptions} [opts] @returns {Promise<void>} */
        delete: (name: string, opts?: RequestOptions) => Promise<void>;
        /**
         * Runs stored code: the password goes to the sandbox's decryption stage.
         * @param {string} name @param {string} masterPassword @param {Omit<ZkExecuteRequest, 'masterPassword'>} [request]
         * @param {RequestOptions} [opts] @returns {Promise<ExecuteResponse>}
         */
        run: (name: string, masterPassword: string, request?: Omit<ZkExecuteRequest, "masterPassword">, opts?: RequestOptions) => Promise<ExecuteResponse>;
        /**
         * `POST /api/v1/zk/encrypt`: the server encrypts (it sees the code): for tests only.
         * @param {ZkEncryptRequest} request @param {RequestOptions} [opts] @returns {Promise<import('./zk.js').ZkPayload>}
         */
        encryptOnServer: (request: ZkEncryptRequest, opts?: RequestOptions) => Promise<import("./zk.js").ZkPayload>;
    };
    /** Administration (an admin's access token). */
    admin: {
        users: {
            /** One page in creation order. @param {{after?: string, limit?: number} & RequestOptions} [opts] @returns {Promise<AdminUserList>} */
            list: (opts?: {
                after?: string;
                limit?: number;
            } & RequestOptions) => Promise<AdminUserList>;
            /**
             * Every user, fetching pages as the loop goes.
             * @param {{pageSize?: number} & RequestOptions} [opts] @returns {AsyncGenerator<AdminUser, void, undefined>}
             */
            all(opts?: {
                pageSize?: number;
            } & RequestOptions): AsyncGenerator<AdminUser, void, undefined>;
            /** @param {AdminCreateUser} request @param {RequestOptions} [opts] @returns {Promise<AdminCreatedUser>} */
            create: (request: AdminCreateUser, opts?: RequestOptions) => Promise<AdminCreatedUser>;
            /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
            disable: (id: string, opts?: RequestOptions) => Promise<void>;
            /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
            enable: (id: string, opts?: RequestOptions) => Promise<void>;
            /** @param {string} id @param {UserRole} role @param {RequestOptions} [opts] @returns {Promise<void>} */
            setRole: (id: string, role: UserRole, opts?: RequestOptions) => Promise<void>;
            /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<UserQuota>} */
            getQuota: (id: string, opts?: RequestOptions) => Promise<UserQuota>;
            /** `{}` removes every override. @param {string} id @param {QuotaOverrides} overrides @param {RequestOptions} [opts] @returns {Promise<UserQuota>} */
            setQuota: (id: string, overrides: QuotaOverrides, opts?: RequestOptions) => Promise<UserQuota>;
            /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
            delete: (id: string, opts?: RequestOptions) => Promise<void>;
        };
        invitations: {
            /** @param {RequestOptions} [opts] @returns {Promise<InvitationList>} */
            list: (opts?: RequestOptions) => Promise<InvitationList>;
            /** The code (`pyi_...`) is in the answer this once. @param {InvitationRequest} [request] @param {RequestOptions} [opts] @returns {Promise<InvitationCreated>} */
            create: (request?: InvitationRequest, opts?: RequestOptions) => Promise<InvitationCreated>;
            /** @param {string} id @param {RequestOptions} [opts] @returns {Promise<void>} */
            delete: (id: string, opts?: RequestOptions) => Promise<void>;
        };
    };
    /**
     * `POST /api/v1/execute`: runs a program and waits for it. A program that ran and failed is
     * a result (`exitCode`, `timedOut`, ...), not an error.
     * @param {ExecuteRequest | string} request the request, or just Python code
     * @param {RequestOptions} [opts] @returns {Promise<ExecuteResponse>}
     */
    execute(request: ExecuteRequest | string, opts?: RequestOptions): Promise<ExecuteResponse>;
    /**
     * `POST /api/v1/execute` with `Accept: text/event-stream`: yields the run's events as they
     * come. Leaving the loop early (or aborting `opts.signal`) closes the stream, which stops
     * the run; `cancel(executionId)` stops it from elsewhere.
     * @param {ExecuteRequest | string} request @param {RequestOptions} [opts]
     * @returns {AsyncGenerator<RunEvent, void, undefined>}
     */
    executeStream(request: ExecuteRequest | string, opts?: RequestOptions): AsyncGenerator<RunEvent, void, undefined>;
    /** `POST /api/v1/executions/{id}/cancel`: stops a run in progress. @param {string} executionId @param {RequestOptions} [opts] @returns {Promise<void>} */
    cancel(executionId: string, opts?: RequestOptions): Promise<void>;
    /** `POST /api/v1/generate`. @param {GenerateRequest} request @param {RequestOptions} [opts] @returns {Promise<GenerateResponse>} */
    generate(request: GenerateRequest, opts?: RequestOptions): Promise<GenerateResponse>;
    /** `GET /api/v1/usage`: today's use of each quota. @param {RequestOptions} [opts] @returns {Promise<Usage>} */
    usage(opts?: RequestOptions): Promise<Usage>;
    /** `GET /api/health` (readiness): the answer, `ok` or `degraded` (503 is not thrown). @param {RequestOptions} [opts] @returns {Promise<HealthResponse>} */
    health(opts?: RequestOptions): Promise<HealthResponse>;
    /** `GET /api/health/live` (liveness). @param {RequestOptions} [opts] @returns {Promise<HealthResponse>} */
    live(opts?: RequestOptions): Promise<HealthResponse>;
    /** `GET /api/info`: version, languages, limits, features. @param {RequestOptions} [opts] @returns {Promise<InfoResponse>} */
    info(opts?: RequestOptions): Promise<InfoResponse>;
    /** `GET /api/openapi.json`. @param {RequestOptions} [opts] @returns {Promise<Record<string, unknown>>} */
    openapi(opts?: RequestOptions): Promise<Record<string, unknown>>;
    /** The caller's user id (`GET /api/v1/me`, asked once). @returns {Promise<string>} */
    userId(): Promise<string>;
    /** @param {AuthResponse} answer @returns {AuthResponse} @internal */
    _keep(answer: AuthResponse): AuthResponse;
    /** @param {string} method @param {string} path @param {InternalRequest} [req] @returns {Promise<any>} @internal */
    _json(method: string, path: string, req?: InternalRequest): Promise<any>;
    /** @param {string} method @param {string} path @param {InternalRequest} [req] @returns {Promise<void>} @internal */
    _void(method: string, path: string, req?: InternalRequest): Promise<void>;
    /**
     * @param {string} path @param {unknown} body @param {RequestOptions} [opts]
     * @returns {AsyncGenerator<{type: string, data: any}, void, undefined>} @internal
     */
    _events(path: string, body: unknown, opts?: RequestOptions): AsyncGenerator<{
        type: string;
        data: any;
    }, void, undefined>;
    /**
     * One request with authentication, timeout, retries and the refresh on 401.
     * @param {string} method @param {string} path @param {InternalRequest} [req]
     * @returns {Promise<Response>} @internal
     */
    _send(method: string, path: string, req?: InternalRequest): Promise<Response>;
    /** Backoff before retry `attempt` (0-based): base * 2^attempt with ±25% jitter. @param {number} attempt @internal */
    _backoff(attempt: number): number;
    /** One refresh at a time, shared by concurrent 401s. @returns {Promise<AuthResponse>} @internal */
    _refreshOnce(): Promise<AuthResponse>;
}
export { PythOnError };
export type Schemas = import("./schema.js").components["schemas"];
export type AuthResponse = Schemas["AuthResponse"];
export type RegisterRequest = Schemas["RegisterRequest"];
export type LoginRequest = Schemas["AuthRequest"];
export type VerifyResponse = Schemas["VerifyResponse"];
export type UserInfo = Schemas["UserInfo"];
export type AccountSettings = Schemas["AccountSettings"];
export type PasswordChangeRequest = Schemas["PasswordChangeRequest"];
export type SignInList = Schemas["SignInList"];
export type KeyList = Schemas["KeyList"];
export type CreatedKey = Schemas["CreatedKey"];
export type ExecuteRequest = Schemas["ExecuteRequest"];
export type ExecuteResponse = Schemas["ExecuteResponse"];
export type RunStartEvent = Schemas["RunStartEvent"];
export type RunOutputEvent = Schemas["RunOutputEvent"];
export type ErrorBody = Schemas["ErrorBody"];
export type CreateSessionRequest = Schemas["CreateSessionRequest"];
export type SessionInfo = Schemas["SessionInfo"];
export type SessionList = Schemas["SessionList"];
export type CellRequest = Schemas["CellRequest"];
export type CellResponse = Schemas["CellResponse"];
export type CellStartEvent = Schemas["CellStartEvent"];
export type InterruptResponse = Schemas["InterruptResponse"];
export type SessionFile = Schemas["SessionFile"];
export type SessionFileList = Schemas["SessionFileList"];
export type SecretList = Schemas["SecretList"];
export type SecretMetadata = Schemas["SecretMetadata"];
export type PackageList = Schemas["PackageList"];
export type PackageInfo = Schemas["PackageInfo"];
export type SetPackagesRequest = Schemas["SetPackagesRequest"];
export type AddPackageRequest = Schemas["AddPackageRequest"];
export type EgressAllowList = Schemas["EgressAllowList"];
export type AuditPage = Schemas["AuditPage"];
export type AuditEntry = Schemas["AuditEntry"];
export type AuditVerification = Schemas["AuditVerification"];
export type Usage = Schemas["Usage"];
export type EncryptedCodeList = Schemas["EncryptedCodeList"];
export type EncryptedCodeMetadata = Schemas["EncryptedCodeMetadata"];
export type ZkExecuteRequest = Schemas["ZkExecuteRequest"];
export type ZkEncryptRequest = Schemas["ZkEncryptRequest"];
export type GenerateRequest = Schemas["GenerateRequest"];
export type GenerateResponse = Schemas["GenerateResponse"];
export type AdminUserList = Schemas["AdminUserList"];
export type AdminUser = Schemas["AdminUser"];
export type AdminCreateUser = Schemas["AdminCreateUser"];
export type AdminCreatedUser = Schemas["AdminCreatedUser"];
export type UserRole = Schemas["UserRole"];
export type UserQuota = Schemas["UserQuota"];
export type QuotaOverrides = Schemas["QuotaOverrides"];
export type InvitationRequest = Schemas["InvitationRequest"];
export type InvitationCreated = Schemas["InvitationCreated"];
export type InvitationList = Schemas["InvitationList"];
export type HealthResponse = Schemas["HealthResponse"];
export type InfoResponse = Schemas["InfoResponse"];
/**
 * An event of a streamed run (`executeStream`), in the order the server sends them: `start`
 * once, `stdout`/`stderr` as the program writes, then `result` or `error` last.
 */
export type RunEvent = {
    type: "start";
    data: RunStartEvent;
} | {
    type: "stdout";
    data: RunOutputEvent;
} | {
    type: "stderr";
    data: RunOutputEvent;
} | {
    type: "result";
    data: ExecuteResponse;
} | {
    type: "error";
    data: ErrorBody;
};
/**
 * An event of a streamed session cell (`sessions.executeStream`).
 */
export type CellEvent = {
    type: "start";
    data: CellStartEvent;
} | {
    type: "stdout";
    data: RunOutputEvent;
} | {
    type: "stderr";
    data: RunOutputEvent;
} | {
    type: "result";
    data: CellResponse;
} | {
    type: "error";
    data: ErrorBody;
};
export type ClientOptions = {
    /**
     * the server (default `PYTH_ON_URL` in Node, else `http://127.0.0.1:8080`)
     */
    baseUrl?: string | undefined;
    /**
     * `pyo_...` (default `PYTH_ON_API_KEY` in Node); sent as `x-api-key`
     */
    apiKey?: string | null | undefined;
    /**
     * an access token (JWT), sent as `Authorization: Bearer`
     */
    token?: string | null | undefined;
    /**
     * with it, a 401 on a JWT refreshes the pair and retries once
     */
    refreshToken?: string | null | undefined;
    /**
     * per request, whole answer read (default 60000; 0: none); streams: until the headers
     */
    timeoutMs?: number | undefined;
    /**
     * retries of a 429/503 answer that carries `Retry-After`, and of
     * network failures of GET requests (default 2; 0: none)
     */
    maxRetries?: number | undefined;
    /**
     * first backoff (default 500), doubled per attempt, with jitter
     */
    retryBaseMs?: number | undefined;
    /**
     * a `Retry-After` longer than this is not waited for: the error is thrown (default 30000)
     */
    maxRetryDelayMs?: number | undefined;
    /**
     * the fetch to use (default the global one)
     */
    fetch?: typeof fetch | undefined;
    /**
     * extra headers on every request
     */
    headers?: Record<string, string> | undefined;
    /**
     * for browsers: the refresh token lives in the server's
     * `HttpOnly` cookie (`X-Pyth-On-Cookie: refresh` on register, login, refresh and logout), never
     * in JavaScript; a 401 on a JWT then refreshes through the cookie
     */
    refreshCookie?: boolean | undefined;
    /**
     * called whenever the client's tokens change (login, register, refresh, logout)
     */
    onTokens?: ((tokens: {
        token: string | null;
        refreshToken: string | null;
    }) => void) | undefined;
};
export type RequestOptions = {
    /**
     * aborts the request (and a run's stream: closing it stops the run)
     */
    signal?: AbortSignal | undefined;
    /**
     * this request's timeout (overrides the client's)
     */
    timeoutMs?: number | undefined;
    /**
     * sent as `x-request-id`
     */
    requestId?: string | undefined;
};
export type InternalRequest = RequestOptions & {
    query?: Record<string, string | number | undefined | null>;
    json?: unknown;
    body?: BodyInit;
    contentType?: string;
    accept?: string;
    auth?: boolean;
    okStatuses?: number[];
    stream?: boolean;
    noRefresh?: boolean;
};
import { PythOnError } from './errors.js';
