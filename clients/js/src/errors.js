// The errors of the API client: one class, PythOnError, with a subclass per family of
// statuses so callers can `catch (e) { if (e instanceof RateLimitError) ... }`.

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
  constructor(message, fields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    /** @type {number} */
    this.status = fields.status ?? 0;
    /** @type {string} */
    this.code = fields.code ?? 'unknown';
    /** @type {string | null} */
    this.requestId = fields.requestId ?? null;
    /** @type {number | null} */
    this.retryAfter = fields.retryAfter ?? null;
    /** @type {any} */
    this.details = fields.details ?? null;
  }
}

/** 400, 405, 413: the request itself is wrong (`validation_failed`, `invalid_request`, ...). */
export class BadRequestError extends PythOnError {}
/** 401: missing or bad credentials (`unauthorized`, `invalid_credentials`). */
export class AuthenticationError extends PythOnError {}
/** 403: not allowed (`jwt_required`, `admin_required`, `zk_wrong_password`, `account_disabled`, ...). */
export class PermissionDeniedError extends PythOnError {}
/** 404: `not_found`, `file_not_found` (also another user's object). */
export class NotFoundError extends PythOnError {}
/** 409: `email_taken`, `session_busy`, `last_admin`, ... */
export class ConflictError extends PythOnError {}
/** 422: `zk_integrity`, `package_install_failed`, session file errors. */
export class UnprocessableError extends PythOnError {}
/** 429: `rate_limited`, `too_many_runs`, `quota_exceeded`, ... (see `retryAfter`). */
export class RateLimitError extends PythOnError {}
/** 5xx: `internal_error`, `sandbox_unavailable`, `upstream_error`, ... */
export class ServerError extends PythOnError {}
/** No answer in time: the client's timeout (status 0, code `timeout`) or the server's 408. */
export class TimeoutError extends PythOnError {}
/** No answer at all: the server could not be reached (status 0, code `network_error`). */
export class ConnectionError extends PythOnError {}

/**
 * The class for an HTTP status.
 * @param {number} status
 * @returns {typeof PythOnError}
 */
export function errorClassFor(status) {
  if (status === 401) return AuthenticationError;
  if (status === 403) return PermissionDeniedError;
  if (status === 404) return NotFoundError;
  if (status === 408) return TimeoutError;
  if (status === 409) return ConflictError;
  if (status === 422) return UnprocessableError;
  if (status === 429) return RateLimitError;
  if (status >= 500) return ServerError;
  if (status >= 400) return BadRequestError;
  return PythOnError;
}

/**
 * Seconds of a `Retry-After` header (delta-seconds or an HTTP date), or null.
 * @param {string | null} value
 * @returns {number | null}
 */
export function parseRetryAfter(value) {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/**
 * Builds the error for a response that is not a success (reads its body).
 * @param {Response} response
 * @returns {Promise<PythOnError>}
 */
export async function errorFromResponse(response) {
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  let requestId = response.headers.get('x-request-id');
  let message = `HTTP ${response.status}`;
  let code = 'http_' + response.status;
  /** @type {unknown} */
  let details = null;
  const text = await response.text().catch(() => '');
  try {
    const body = /** @type {Partial<import('./schema.js').components['schemas']['ErrorBody']>} */ (JSON.parse(text));
    if (body && typeof body === 'object') {
      if (typeof body.error === 'string') message = body.error;
      if (typeof body.code === 'string') code = body.code;
      if (typeof body.requestId === 'string') requestId = body.requestId;
      details = body.details ?? null;
    }
  } catch {
    if (text) message = `${message}: ${text.slice(0, 200)}`;
  }
  const Class = errorClassFor(response.status);
  return new Class(message, { status: response.status, code, requestId, retryAfter, details });
}
