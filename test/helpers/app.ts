/**
 * A tokenbox built the way `serve` builds it, on a fresh SQLite file in a temp directory, with a
 * clock the test moves. HTTP tests drive it with `server.inject`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config/config.js';
import { buildServer } from '../../src/http/server.js';
import { openTokenbox, type Tokenbox } from '../../src/main.js';
import type { TokenObject } from '../../src/services/token-view.js';
import type { Store } from '../../src/store/port.js';

export interface TestClock {
  (): number;
  set(ms: number): void;
  advance(ms: number): void;
}

export function testClock(start = Date.UTC(2026, 10, 28, 12, 0, 0)): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.set = (ms) => {
    now = ms;
  };
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

export interface TestApp {
  readonly app: Tokenbox;
  readonly server: FastifyInstance;
  readonly clock: TestClock;
  readonly dataDir: string;
  /** Creates an account; returns its default public token object (with `token`). */
  account(username: string): Promise<TokenObject>;
  /** Mints a token as the operator; returns the token object with its string. */
  token(username: string, scopes: string[], extra?: { note?: string; allowedUrls?: string[] }): Promise<TokenObject & { token: string }>;
  close(): Promise<void>;
}

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

export function testConfig(dataDir: string, overrides: Record<string, unknown> = {}): Config {
  const loaded = loadConfig({ env: { TOKENBOX_SECRET: TEST_SECRET }, flags: { dataDir, ...overrides } });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  return loaded.config;
}

export interface TestAppOptions {
  /** The store to open on the temp data directory instead of the configured one (a wrapped or tuned SQLite store). */
  readonly store?: (dataDir: string) => Store;
}

export async function startTestApp(overrides: Record<string, unknown> = {}, clock: TestClock = testClock(), options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-test-'));
  const store = options.store?.(dataDir);
  const app = await openTokenbox(testConfig(dataDir, overrides), { clock, ...(store !== undefined && { store }) });
  const server = buildServer(app, { logger: false });
  await server.ready();
  return {
    app,
    server,
    clock,
    dataDir,
    async account(username) {
      return (await app.accounts.create(username)).defaultPublicToken;
    },
    async token(username, scopes, extra = {}) {
      const grant = await app.access.operator(username);
      const created = await app.tokens.create(grant, { scopes, ...extra });
      return created as TokenObject & { token: string };
    },
    async close() {
      await server.close();
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` on a freshly opened test world and closes it afterwards, whatever `fn` does. */
export async function withOpened<W extends { readonly t: { close(): Promise<void> } }>(open: () => Promise<W>, fn: (w: W) => Promise<void>): Promise<void> {
  const w = await open();
  try {
    await fn(w);
  } finally {
    await w.t.close();
  }
}

/**
 * One fixture for the enclosing suite: `open` runs before its tests and hands the value to `set`,
 * `close` runs after them (also when a test failed; not at all when `open` did).
 */
export function useForSuite<T>(open: () => Promise<T>, close: (value: T) => unknown, set: (value: T) => void): void {
  let opened: { value: T } | undefined;
  before(async () => {
    const value = await open();
    opened = { value };
    set(value);
  });
  after(async () => {
    if (opened !== undefined) await close(opened.value);
  });
}
