// The public API, same origin. The access token and the refresh token live only in this
// module's memory: the API hands both out in JSON (there is no cookie), and keeping a 30-day
// refresh token in web storage would expose it to any script that ever ran on this origin.
// A reload therefore means signing in again. The access token is refreshed a minute before it
// expires, and once more on a 401; a refresh that fails ends the session.

export interface UserInfo {
  id: string;
  email: string;
  createdAt: string;
}

export interface AuthResponse {
  token: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: string;
  apiKey?: string | null;
  user: UserInfo;
}

export interface ExecuteResponse {
  output: string;
  error: string;
  exitCode: number;
  language: string;
  durationMs: number;
  timedOut: boolean;
  memoryExceeded: boolean;
  outputTruncated: boolean;
  executionId: string;
  zeroKnowledge?: boolean;
}

export interface Info {
  name: string;
  version: string;
  languages: { name: string; version: string; aliases: string[] }[];
  limits: {
    defaultTimeoutMs: number;
    maxTimeoutMs: number;
    defaultMemoryMb: number;
    maxMemoryMb: number;
    minMemoryMb: number;
    maxCodeBytes: number;
    maxSecretBytes: number;
  };
  features: { generate: boolean; zeroKnowledge: boolean; packages: boolean; egress?: boolean; console?: boolean };
}

/** An answer in the API's error envelope, or a failure to reach the server at all. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly requestId: string | null = null,
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Session {
  token: string;
  refreshToken: string;
  user: UserInfo;
}

let session: Session | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
let onSessionEnd: (reason: string) => void = () => {};

/** Called when the session ends without the user asking (a refresh was refused). */
export function whenSessionEnds(callback: (reason: string) => void): void {
  onSessionEnd = callback;
}

export function currentUser(): UserInfo | null {
  return session?.user ?? null;
}

function startSession(auth: AuthResponse): void {
  session = { token: auth.token, refreshToken: auth.refreshToken, user: auth.user };
  clearTimeout(refreshTimer);
  const seconds = Math.max(5, auth.expiresIn - 60);
  refreshTimer = setTimeout(() => void refresh(), seconds * 1000);
}

/** Forgets both tokens. The API has no route to revoke a refresh token early. */
export function signOut(): void {
  clearTimeout(refreshTimer);
  session = null;
  refreshing = null;
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

function toError(status: number, body: unknown): ApiError {
  if (body && typeof body === 'object' && 'error' in body && 'code' in body) {
    const e = body as { error: string; code: string; requestId?: string; details?: Record<string, unknown> };
    return new ApiError(e.error, status, e.code, e.requestId ?? null, e.details ?? null);
  }
  return new ApiError(`The server answered HTTP ${status}.`, status, 'http_error');
}

async function send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
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
    const spent = session.refreshToken;
    refreshing = (async () => {
      try {
        const response = await send('POST', '/api/refresh', { refreshToken: spent }, null);
        if (!response.ok) throw toError(response.status, await parse(response));
        if (session?.refreshToken === spent) startSession((await parse(response)) as AuthResponse);
        return true;
      } catch (err) {
        if (session?.refreshToken === spent) {
          signOut();
          const why = err instanceof ApiError && err.status !== 0 ? err.message : 'the server could not be reached';
          onSessionEnd(`Your session ended (${why}). Sign in again.`);
        }
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** One API call; resolves to the parsed JSON body (null for 204) or rejects with ApiError. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = session?.token ?? null;
  let response = await send(method, path, body, token);
  if (response.status === 401 && token && session && (await refresh())) {
    response = await send(method, path, body, session?.token ?? null);
  }
  const parsed = await parse(response);
  if (!response.ok) throw toError(response.status, parsed);
  return parsed as T;
}

export async function register(email: string, password: string): Promise<AuthResponse> {
  const auth = await call<AuthResponse>('POST', '/api/register', { email, password });
  startSession(auth);
  return auth;
}

export async function login(email: string, password: string): Promise<AuthResponse> {
  const auth = await call<AuthResponse>('POST', '/api/login', { email, password });
  startSession(auth);
  return auth;
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
