/**
 * The tokenbox under test: `tokenbox serve` as the CLI starts it, in its own process, with its
 * default logger (bench/processes.ts), on a real SQLite file in a temp directory. Beside it, in
 * this process, tokenbox opened from the compiled `dist/` on the same data directory and secret:
 * it seeds accounts and tokens (as the CLI would) and runs the in-process measurements (the
 * verifier, the services). Both follow the same store, as `serve` and the CLI do.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../dist/config/config.js';
import { openTokenbox, type Tokenbox } from '../dist/main.js';
import { startShippedServe, type ChildServer, type ServeStore } from './processes.js';

/**
 * Limits the benchmark raises (for `serve`: SERVE_LIMITS, the same values through the
 * environment), printed with the results. The rate limit (100/min per token by default) would
 * otherwise turn almost every request into a 429; the token cap (10,000/account by default)
 * would stop the 100,000-token account. Nothing else differs from the defaults.
 */
export const BENCH_FLAGS = { accountRateLimit: 1e9, maxTokensPerAccount: 1_000_000 } as const;

export interface BenchApp {
  /** In this process: seeding and in-process measurements. */
  readonly app: Tokenbox;
  /** `tokenbox serve` in its own process: every HTTP measurement. */
  readonly serve: ChildServer;
  /** `http://127.0.0.1:<port>` of `serve`. */
  readonly origin: string;
  /** The key-encryption secret both processes use (another `serve` on the same data needs it). */
  readonly secret: string;
  readonly dataDir: string;
  /** What a further `serve` on the same data is started with: the data directory or the database URL. */
  readonly where: ServeStore;
  /** Creates an account and an sk holding `scopes`; returns the sk string. */
  accountWithSecretToken(username: string, scopes: string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the pair on a fresh SQLite data directory, or on `databaseUrl` (PostgreSQL; the temp
 * directory then stays empty). `secret` defaults to a fresh one; several apps on one database
 * share it.
 */
export async function startBenchApp(databaseUrl?: string, secret: string = randomBytes(32).toString('base64')): Promise<BenchApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-bench-'));
  try {
    const where = databaseUrl === undefined ? { dataDir } : { databaseUrl };
    const loaded = loadConfig({ env: { TOKENBOX_SECRET: secret }, flags: { ...where, ...BENCH_FLAGS } });
    if (!loaded.ok) throw new Error(`bench config: ${loaded.errors.join('; ')}`);
    const app = await openTokenbox(loaded.config);
    let serve: ChildServer;
    try {
      serve = await startShippedServe(databaseUrl === undefined ? dataDir : { databaseUrl }, secret);
    } catch (error) {
      await app.close();
      throw error;
    }
    return {
      app,
      serve,
      origin: serve.origin,
      secret,
      dataDir,
      where: databaseUrl === undefined ? dataDir : { databaseUrl },
      async accountWithSecretToken(username, scopes) {
        await app.accounts.create(username);
        const created = await app.tokens.create(await app.access.operator(username), { note: 'bench', scopes });
        if (created.usage !== 'sk' || created.token === undefined) throw new Error('expected an sk with its string');
        return created.token;
      },
      async close() {
        try {
          await serve.close();
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
