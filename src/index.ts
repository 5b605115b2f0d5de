/**
 * tokenbox as a library (SPEC §5, way in 1): verify tokens in-process, with no HTTP hop, against
 * the same store `tokenbox serve` uses. This module is the package's whole public surface and
 * follows semver: `openVerifier`, the `TokenVerifier` it returns and the verdict types. Nothing
 * else under `dist/` is a public API.
 *
 * ```ts
 * import { openVerifier } from 'tokenbox';
 * const tokenbox = await openVerifier({ dataDir: '/var/lib/tokenbox' });
 * const verdict = await tokenbox.verify(token, { scope: 'styles:tiles', referrer });
 * if (!verdict.ok) reply.code(verdict.status).send({ message: verdict.message });
 * await tokenbox.close();
 * ```
 */
import { loadConfig } from './config/config.js';
import { openTokenbox } from './main.js';
import type { Verdict, VerifyRequest } from './verification/verifier.js';

export type { Refusal, Verdict, VerdictCode, VerifyRequest } from './verification/verifier.js';

/** Where and how to verify. Unset keys come from `TOKENBOX_*` and the config file, as for the CLI. */
export interface VerifierSettings {
  /** The data directory `serve` uses (SQLite). Default `./data`. */
  readonly dataDir?: string;
  /**
   * The PostgreSQL URL the `serve` nodes use, instead of `dataDir` (`TOKENBOX_SECRET` must then be
   * set in the environment, the same as theirs).
   */
  readonly databaseUrl?: string;
  /** Cached pk/sk records (default 100,000). */
  readonly cacheSize?: number;
  /** An optional ceiling on verified requests per token per 60 s (off by default). */
  readonly tokenRateLimit?: number;
  /** A JSON config file, as `--config` (operator scopes and route rules). */
  readonly configPath?: string;
}

export interface TokenVerifier {
  /**
   * The verdict for `token` on a request needing `request.scope` (SPEC §5): `{ok: true, user,
   * tokenId, usage, scopes}` or `{ok: false, code, status, message, retryAfter?}`. Never throws
   * for a bad token, whatever its type.
   */
  verify(token: unknown, request?: VerifyRequest): Promise<Verdict>;
  /**
   * `verify` without a promise when none is needed: a cached token is judged synchronously, so a
   * hot path can skip a microtask. A promise when the store must be read.
   */
  check(token: unknown, request?: VerifyRequest): Verdict | Promise<Verdict>;
  /** Flushes the usage counted so far, stops following the change log and closes the store. */
  close(): Promise<void>;
}

/**
 * Opens the store and follows its change log, so deletes, scope changes and key rotations made
 * by `serve` or the CLI reach this process within the bound in docs/deployment.md. It never
 * rewrites tokens (schema migration on open aside); what it writes is usage: the requests it
 * verified, counted per token and day and flushed every `usageFlushMs` and on `close()`.
 * @throws Error naming every bad key when the configuration is invalid, or when the store cannot
 *   be opened.
 */
export async function openVerifier(settings: VerifierSettings = {}): Promise<TokenVerifier> {
  const { configPath, ...flags } = settings;
  const loaded = loadConfig({ flags: flags, ...(configPath !== undefined && { configPath }) });
  if (!loaded.ok) throw new Error(`invalid configuration: ${loaded.errors.join('; ')}`);
  const app = await openTokenbox(loaded.config);
  const { verifier } = app;
  return Object.freeze({
    verify: (token: unknown, request?: VerifyRequest) => verifier.verify(token, request),
    check: (token: unknown, request?: VerifyRequest) => verifier.check(token, request),
    close: () => app.close(),
  });
}
