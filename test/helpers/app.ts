/**
 * A tokenbox built the way `serve` builds it, on a fresh SQLite file in a temp directory, with a
 * clock the test moves. HTTP tests drive it with `server.inject`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config/config.js';
import { buildServer } from '../../src/http/server.js';
import { openTokenbox, type Tokenbox } from '../../src/main.js';
import type { TokenObject } from '../../src/services/token-view.js';

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

export async function startTestApp(overrides: Record<string, unknown> = {}, clock: TestClock = testClock()): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-test-'));
  const app = await openTokenbox(testConfig(dataDir, overrides), { clock });
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
