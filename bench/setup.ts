/**
 * The tokenbox under test, assembled the way `serve` assembles it, from the compiled `dist/`
 * (what users run; `npm run bench` builds it first, and the TypeScript loader's per-closure
 * helpers would otherwise be measured as tokenbox's cost): config from `loadConfig`
 * (env layer: a TOKENBOX_SECRET; flags: the data directory and the raised limits), a real SQLite
 * file in a temp directory, the real Fastify server listening on 127.0.0.1 with its logger off.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../dist/config/config.js';
import { buildServer } from '../dist/http/server.js';
import { openTokenbox, type Tokenbox } from '../dist/main.js';

/**
 * Flags the benchmark sets on top of the defaults, printed with the results. The rate limit
 * (100/min/account by default) would otherwise turn almost every request into a 429; the token
 * cap (10,000/account by default) would stop the 100,000-token account.
 */
export const BENCH_FLAGS = { accountRateLimit: 1e9, tokenRateLimit: 1e9, maxTokensPerAccount: 1_000_000 } as const;

export interface BenchApp {
  readonly app: Tokenbox;
  readonly server: FastifyInstance;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly dataDir: string;
  /** Creates an account and an sk holding `scopes`; returns the sk string. */
  accountWithSecretToken(username: string, scopes: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startBenchApp(): Promise<BenchApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-bench-'));
  try {
    const loaded = loadConfig({
      env: { TOKENBOX_SECRET: randomBytes(32).toString('base64') },
      flags: { dataDir, ...BENCH_FLAGS },
    });
    if (!loaded.ok) throw new Error(`bench config: ${loaded.errors.join('; ')}`);
    const app = await openTokenbox(loaded.config);
    const server = buildServer(app, { logger: false });
    const origin = await server.listen({ host: '127.0.0.1', port: 0 });
    return {
      app,
      server,
      origin,
      dataDir,
      async accountWithSecretToken(username, scopes) {
        await app.accounts.create(username);
        const created = await app.tokens.create(await app.access.operator(username), { note: 'bench', scopes });
        if (created.usage !== 'sk' || created.token === undefined) throw new Error('expected an sk with its string');
        return created.token;
      },
      async close() {
        try {
          await server.close();
          await app.close();
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
