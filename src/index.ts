/**
 * tokenbox as a library: open the same store `serve` uses and verify tokens in-process, with no
 * HTTP hop (SPEC §5, way in 1).
 *
 * ```ts
 * import { openVerifier } from 'tokenbox';
 * const tokenbox = await openVerifier({ dataDir: './data' });
 * const verdict = await tokenbox.verifier.verify(token, { scope: 'styles:tiles', referrer });
 * if (!verdict.ok) reply.code(verdict.status).send({ message: verdict.message });
 * await tokenbox.close();
 * ```
 */
import { loadConfig, type Config } from './config/config.js';
import { openTokenbox, type Tokenbox } from './main.js';

export { loadConfig, type Config } from './config/config.js';
export { openTokenbox, type Tokenbox } from './main.js';
export type { Verdict, VerdictCode, VerifyRequest, Refusal } from './verification/verifier.js';

/**
 * Opens tokenbox for verification with the same layered configuration as the CLI: `settings`
 * are the last layer (like flags), over `TOKENBOX_*` from the environment and the config file.
 * @throws Error naming every bad key when the configuration is invalid.
 */
export async function openVerifier(settings: Partial<Pick<Config, 'dataDir' | 'cacheSize' | 'tokenRateLimit'>> & { configPath?: string } = {}): Promise<Tokenbox> {
  const { configPath, ...flags } = settings;
  const loaded = loadConfig({ flags, ...(configPath !== undefined && { configPath }) });
  if (!loaded.ok) throw new Error(`invalid configuration: ${loaded.errors.join('; ')}`);
  return openTokenbox(loaded.config);
}
