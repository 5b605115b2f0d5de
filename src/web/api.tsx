/**
 * The page is a client of tokenbox's public APIs, like any other: the session cookie goes along
 * by itself (same origin), and every request carries the page's CSRF token. No rule of the API is
 * re-implemented here beyond friendly form checks; the server stays the authority.
 */
import type { PageData } from './page-data.tsx';

export interface TokenObject {
  readonly client: string;
  readonly note: string;
  readonly usage: 'pk' | 'sk';
  readonly id: string;
  readonly default: boolean;
  readonly scopes: readonly string[];
  readonly created: string;
  readonly modified: string;
  readonly allowedUrls?: readonly string[];
  readonly allowedApplications?: readonly { platform: string; bundleId: string }[];
  readonly lastUsed?: string;
  readonly token?: string;
}

export interface Scope {
  readonly id: string;
  readonly description: string;
  readonly public?: true;
}

export interface DailyUsage {
  readonly period: readonly [string, string];
  readonly timestamps: readonly string[];
  readonly counts: readonly number[];
}

export interface TokenChanges {
  note?: string;
  scopes?: string[];
  allowedUrls?: string[] | null;
}

/** A refusal: `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const SIGN_IN_URL = '/account/sign-in';
export const LIST_URL = '/account/access-tokens';
export const CREATE_URL = '/account/access-tokens/create';
export const tokenUrl = (id: string): string => `/account/access-tokens/${encodeURIComponent(id)}`;

interface RequestOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Sign-in answers 401 for a wrong password: that is a message to show, not an ended session. */
  readonly signInOn401?: boolean;
}

export class Api {
  constructor(private readonly page: PageData) {}

  private get user(): string {
    return encodeURIComponent(this.page.username ?? '');
  }

  /** One request; resolves with the response when it is 2xx, else throws an ApiError. */
  async request(path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { 'X-CSRF-Token': this.page.csrfToken, ...options.headers };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, {
        method: options.method ?? 'GET',
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'network');
    }
    if (response.ok) return response;
    if (response.status === 401 && options.signInOn401 !== false) {
      // The session ended (signed out elsewhere, expired, password changed): start again.
      location.assign(SIGN_IN_URL);
    }
    const body = (await response.json().catch(() => null)) as { message?: unknown } | null;
    const message = typeof body?.message === 'string' ? body.message : response.statusText;
    const retry = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    throw new ApiError(response.status, message, Number.isFinite(retry) ? retry : null);
  }

  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await (await this.request(path, options)).json()) as T;
  }

  signIn(username: string, password: string): Promise<{ username: string }> {
    return this.json('/account/sign-in', { method: 'POST', body: { username, password }, signInOn401: false });
  }

  async signOut(): Promise<void> {
    await this.request('/account/sign-out', { method: 'POST' });
  }

  /** Every token of the account, following `Link: <…>; rel="next"` page by page. */
  async listTokens(): Promise<TokenObject[]> {
    const all: TokenObject[] = [];
    let next: string | null = `/tokens/v2/${this.user}?limit=100`;
    for (let pages = 0; next !== null && pages < 1000; pages++) {
      const response = await this.request(next);
      all.push(...((await response.json()) as TokenObject[]));
      next = nextLink(response.headers.get('Link'));
    }
    return all;
  }

  listScopes(): Promise<Scope[]> {
    return this.json(`/scopes/v1/${this.user}`);
  }

  /** `idempotencyKey` is one per form instance, so a double submit makes one token. */
  createToken(body: TokenChanges, idempotencyKey: string): Promise<TokenObject> {
    return this.json(`/tokens/v2/${this.user}`, { method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey } });
  }

  updateToken(id: string, changes: TokenChanges): Promise<TokenObject> {
    return this.json(`/tokens/v2/${this.user}/${encodeURIComponent(id)}`, { method: 'PATCH', body: changes });
  }

  /** For the default public token this is the refresh: the server replaces it with a new one. */
  async deleteToken(id: string): Promise<void> {
    await this.request(`/tokens/v2/${this.user}/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  /** Requests per UTC day, `first` to `last` (YYYY-MM-DD, both included). */
  dailyUsage(id: string, first: string, last: string): Promise<DailyUsage> {
    return this.json(`/analytics/v1/tokens/${this.user}/${encodeURIComponent(id)}?period=${first},${last}`);
  }
}

/**
 * The path and query of a `rel="next"` link, on this origin only: the session cookie must
 * never be sent after a link to anywhere else.
 */
export function nextLink(header: string | null): string | null {
  if (header === null) return null;
  for (const part of header.split(',')) {
    const match = /^\s*<([^>]*)>\s*;\s*rel="?next"?\s*$/.exec(part);
    if (match?.[1] === undefined) continue;
    const url = new URL(match[1], location.href);
    return url.origin === location.origin ? url.pathname + url.search : null;
  }
  return null;
}
