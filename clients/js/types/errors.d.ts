/**
 * The class for an HTTP status.
 * @param {number} status
 * @returns {typeof PythOnError}
 */
export function errorClassFor(status: number): typeof PythOnError;
/**
 * Seconds of a `Retry-After` header (delta-seconds or an HTTP date), or null.
 * @param {string | null} value
 * @returns {number | null}
 */
export function parseRetryAfter(value: string | null): number | null;
/**
 * Builds the error for a response that is not a success (reads its body).
 * @param {Response} response
 * @returns {Promise<PythOnError>}
 */
export function errorFromResponse(response: Response): Promise<PythOnError>;
/**
 * An answer of the server that is not a success, or a request that got no answer.
 * `status` is the HTTP status (0 when no answer came: a network failure or a timeout), `code`
 * the API's error code (`rate_limited`, `not_found`, ...; `timeout` / `network_error` when no
 * answer came), `requestId` the `x-request-id` to quote in a bug report, `retryAfter` the
 * seconds of `Retry-After` (or null), `details` what the error body adds (or null).
 */
export class PythOnError extends Error {
    /**
     * @param {string} message
     * @param {{status?: number, code?: string, requestId?: string | null, retryAfter?: number | null,
     *   details?: unknown, cause?: unknown}} [fields]
     */
    constructor(message: string, fields?: {
        status?: number;
        code?: string;
        requestId?: string | null;
        retryAfter?: number | null;
        details?: unknown;
        cause?: unknown;
    });
    /** @type {number} */
    status: number;
    /** @type {string} */
    code: string;
    /** @type {string | null} */
    requestId: string | null;
    /** @type {number | null} */
    retryAfter: number | null;
    /** @type {any} */
    details: any;
}
/** 400, 405, 413: the request itself is wrong (`validation_failed`, `invalid_request`, ...). */
export class BadRequestError extends PythOnError {
}
/** 401: missing or bad credentials (`unauthorized`, `invalid_credentials`). */
export class AuthenticationError extends PythOnError {
}
/** 403: not allowed (`jwt_required`, `admin_required`, `zk_wrong_password`, `account_disabled`, ...). */
export class PermissionDeniedError extends PythOnError {
}
/** 404: `not_found`, `file_not_found` (also another user's object). */
export class NotFoundError extends PythOnError {
}
/** 409: `email_taken`, `session_busy`, `last_admin`, ... */
export class ConflictError extends PythOnError {
}
/** 422: `zk_integrity`, `package_install_failed`, session file errors. */
export class UnprocessableError extends PythOnError {
}
/** 429: `rate_limited`, `too_many_runs`, `quota_exceeded`, ... (see `retryAfter`). */
export class RateLimitError extends PythOnError {
}
/** 5xx: `internal_error`, `sandbox_unavailable`, `upstream_error`, ... */
export class ServerError extends PythOnError {
}
/** No answer in time: the client's timeout (status 0, code `timeout`) or the server's 408. */
export class TimeoutError extends PythOnError {
}
/** No answer at all: the server could not be reached (status 0, code `network_error`). */
export class ConnectionError extends PythOnError {
}
