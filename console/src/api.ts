// The public API, same origin. The access token lives only in this module's memory; the
// refresh token never reaches a script at all: the auth routes are called with
// `X-Pyth-On-Cookie: refresh`, so the server keeps it in an HttpOnly, Secure, SameSite=Strict
// cookie scoped to /api and reads it back only with that header (docs/API.md#auth). A reload
// or a second tab resumes the sign-in from the cookie; signing out revokes it on the server.
// The access token is refreshed a minute before it expires, and once more on a 401; a refresh
// that fails ends the session. Refreshes are serialised across tabs (Web Locks), since every
// refresh rotates the cookie and a token presented twice revokes the whole sign-in.

// The API's shapes come from the SDK's types, generated from the server's OpenAPI document
// (clients/js: a test there fails when they drift from what the server serves).
import type { components } from '@pyth-on/zk';

type Schemas = components['schemas'];
export type Role = Schemas['UserRole'];
export type SecretsDefault = Schemas['SecretsDefault'];
export type UserInfo = Schemas['UserInfo'];
export type AuthResponse = Schemas['AuthResponse'];
export type ExecuteResponse = Schemas['ExecuteResponse'];
export type OutputFile = Schemas['OutputFile'];
export type Info = Schemas['InfoResponse'];

/** An answer in the API's error envelope, or a failure to reach the server at all. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly requestId: string | null = null,
    readonly details: Record<string, unknown> | null = null,
    /** Seconds from a `Retry-After` header, when the answer had one. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Session {
  token: string;
  user: UserInfo;
}

let session: Session | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
let onSessionEnd: (reason: string, asked: boolean) => void = () => {};

/**
 * Called when the session ends in this tab without "Sign out": a refresh was refused, the
 * account was disabled (`asked` false), or the user ended it from the Account page (true).
 */
export function whenSessionEnds(callback: (reason: string, asked: boolean) => void): void {
  onSessionEnd = callback;
}

export const DISABLED = 'This account is disabled: ask an administrator.';

/** Ends the session in this tab (the server side is already gone) and says why. */
export function endSession(reason: string, asked = true): void {
  forget();
  onSessionEnd(reason, asked);
}

/** Reads the account again (`GET /api/v1/me`): whether its role changed. */
export async function refreshUser(): Promise<boolean> {
  const before = session?.user.role;
  const user = await call<UserInfo>('GET', '/api/v1/me');
  if (session) session.user = user;
  return user.role !== before;
}

export function currentUser(): UserInfo | null {
  return session?.user ?? null;
}

function startSession(auth: AuthResponse): void {
  session = { token: auth.token, user: auth.user };
  clearTimeout(refreshTimer);
  const seconds = Math.max(5, auth.expiresIn - 60);
  refreshTimer = setTimeout(() => void refresh(), seconds * 1000);
}

/** Forgets the access token (this tab only; see [`signOut`]). */
function forget(): void {
  clearTimeout(refreshTimer);
  session = null;
  refreshing = null;
}

/** Signs out: the server revokes the sign-in and deletes the cookie; this tab forgets. */
export async function signOut(): Promise<void> {
  forget();
  try {
    await authCall('/api/logout', {});
  } catch {
    // Unreachable: the cookie stays until it expires or the next sign-out.
  }
}

/** Resumes the sign-in the refresh cookie holds (a reload, a second tab): whether it did. */
export async function resume(): Promise<boolean> {
  try {
    const response = await exclusively(() => authCall('/api/refresh', { refreshToken: '' }));
    if (!response.ok) return false;
    startSession((await parse(response)) as AuthResponse);
    return true;
  } catch {
    return false;
  }
}

/** A call to an auth route with the refresh cookie (sent and stored). */
function authCall(path: string, body: unknown): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json', 'x-pyth-on-cookie': 'refresh' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
}

/** Runs `work` holding the cross-tab refresh lock (where the browser has Web Locks). */
function exclusively<T>(work: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? locks.request('pyth-on-refresh', work) : work();
}

async function parse(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function retryAfter(response: Response): number | null {
  const value = response.headers.get('retry-after');
  if (!value) return null;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : null;
}

async function toError(response: Response, parsed?: unknown): Promise<ApiError> {
  const body = parsed === undefined ? await parse(response) : parsed;
  const { status } = response;
  if (body && typeof body === 'object' && 'error' in body && 'code' in body) {
    const e = body as { error: string; code: string; requestId?: string; details?: Record<string, unknown> };
    // Disabled by an administrator: every further call would be refused the same way.
    if (e.code === 'account_disabled' && session) endSession(DISABLED, false);
    return new ApiError(e.error, status, e.code, e.requestId ?? null, e.details ?? null, retryAfter(response));
  }
  return new ApiError(`The server answered HTTP ${status}.`, status, 'http_error', null, null, retryAfter(response));
}

async function send(
  method: string,
  path: string,
  body: unknown,
  token: string | null,
  accept = 'application/json',
  signal?: AbortSignal,
): Promise<Response> {
  const headers: Record<string, string> = { accept };
  // A Blob (a file's bytes) goes as is; anything else as JSON.
  const raw = body instanceof Blob;
  if (body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(
      `Could not reach the server (${err instanceof Error ? err.message : String(err)}).`,
      0,
      'network_error',
    );
  }
}

/** Trades the refresh token for a new pair; one attempt at a time. */
function refresh(): Promise<boolean> {
  if (!session) return Promise.resolve(false);
  if (!refreshing) {
    const spent = session.token;
    refreshing = (async () => {
      try {
        const response = await exclusively(() => authCall('/api/refresh', { refreshToken: '' }));
        if (!response.ok) throw await toError(response);
        if (session?.token === spent) startSession((await parse(response)) as AuthResponse);
        return true;
      } catch (err) {
        if (session?.token === spent) {
          forget();
          const why = err instanceof ApiError && err.status !== 0 ? err.message : 'the server could not be reached';
          const disabled = err instanceof ApiError && err.code === 'account_disabled';
          onSessionEnd(disabled ? DISABLED : `Your session ended (${why}). Sign in again.`, false);
        }
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** Sends with the access token, refreshing it once on a 401. */
async function authorized(method: string, path: string, body: unknown, accept?: string, signal?: AbortSignal): Promise<Response> {
  const token = session?.token ?? null;
  const response = await send(method, path, body, token, accept, signal);
  if (response.status === 401 && token && session && (await refresh())) {
    return send(method, path, body, session?.token ?? null, accept, signal);
  }
  return response;
}

/** One API call; resolves to the parsed JSON body (null for 204) or rejects with ApiError. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await authorized(method, path, body);
  const parsed = await parse(response);
  if (!response.ok) throw await toError(response, parsed);
  return parsed as T;
}

/** One Server-Sent Event: its name and parsed JSON data. */
/** A file's raw bytes (`GET` of a file route); rejects with ApiError. */
export async function download(path: string): Promise<Blob> {
  const response = await authorized('GET', path, undefined, 'application/octet-stream');
  if (!response.ok) throw await toError(response);
  return response.blob();
}

export interface StreamEvent {
  event: string;
  data: unknown;
}

function parseEvent(block: string): StreamEvent | null {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return null; // a keep-alive comment
  try {
    return { event, data: JSON.parse(data.join('\n')) };
  } catch {
    return { event, data: data.join('\n') };
  }
}

/**
 * A POST answered with Server-Sent Events (EventSource cannot POST): calls `onEvent` for each
 * event until the stream ends. A refusal before the stream starts rejects with ApiError.
 */
export async function stream(path: string, body: unknown, onEvent: (e: StreamEvent) => void, signal?: AbortSignal): Promise<void> {
  const response = await authorized('POST', path, body, 'text/event-stream', signal);
  if (!response.ok) throw await toError(response);
  if (!response.body) throw new ApiError('The server sent no event stream.', response.status, 'http_error');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const parsed = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) onEvent(parsed);
    }
  }
}

/** Signs up or in (`/api/register`, `/api/login`), the refresh token kept in the cookie. */
async function signInWith(path: string, body: Record<string, string>): Promise<AuthResponse> {
  const response = await authCall(path, body).catch((err: unknown) => {
    throw new ApiError(`Could not reach the server (${err instanceof Error ? err.message : String(err)}).`, 0, 'network_error');
  });
  const parsed = await parse(response);
  if (!response.ok) throw await toError(response, parsed);
  const auth = parsed as AuthResponse;
  startSession(auth);
  return auth;
}

/** `invitation`: the code an administrator gave, when the server's registration is `invite`. */
export function register(email: string, password: string, invitation?: string): Promise<AuthResponse> {
  return signInWith('/api/register', invitation ? { email, password, invitation } : { email, password });
}

export function login(email: string, password: string): Promise<AuthResponse> {
  return signInWith('/api/login', { email, password });
}

let infoCache: Promise<Info> | null = null;

/** `GET /api/info`, fetched once. */
export function info(): Promise<Info> {
  infoCache ??= call<Info>('GET', '/api/info').catch((err) => {
    infoCache = null;
    throw err;
  });
  return infoCache;
}

export const enc = encodeURIComponent;
