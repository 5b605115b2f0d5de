/** How much work each phase does: the full run (about a minute) or `--quick` (a smoke run). */

export interface BenchOptions {
  readonly quick: boolean;
  /**
   * `--only=cluster`, `--only=audit` or `--only=check`: only section 10 (many machines), 9 (the
   * audit log) or 4 to 6 (verification, `/auth/v1/check`, refusals), for working on it.
   */
  readonly only: Only | null;
  /** Concurrent connections for the throughput runs (creates, retrieve, baseline). */
  readonly connections: number;
  /** Creates into a fresh account: an untimed run first, then a timed one (seconds). */
  readonly createWarmupS: number;
  readonly createDurationS: number;
  /** Tokens the big account holds in all (default token and the bench's sk included). */
  readonly bigAccountTokens: number;
  readonly listWarmupRounds: number;
  readonly listRounds: number;
  /**
   * Retrieve vs bare Fastify: rounds of (bare, bare + headers, tokenbox), each run preceded by a
   * warm-up. Several short rounds rather than one long one: the machine is shared, and ratios
   * paired within a round shrug off load that comes and goes.
   */
  readonly retrieveRounds: number;
  readonly retrieveDurationS: number;
  readonly retrieveWarmupS: number;
  /** In-process creates timed per account size by the create-cost probe. */
  readonly probeCreates: number;
}

const FULL: Omit<BenchOptions, 'quick' | 'only'> = {
  connections: 32,
  createWarmupS: 1,
  createDurationS: 5,
  bigAccountTokens: 100_000,
  listWarmupRounds: 200,
  listRounds: 2_000,
  retrieveRounds: 5,
  retrieveDurationS: 3,
  retrieveWarmupS: 0.5,
  probeCreates: 300,
};

const QUICK: Omit<BenchOptions, 'quick' | 'only'> = {
  ...FULL,
  createWarmupS: 0.5,
  createDurationS: 2,
  listWarmupRounds: 50,
  listRounds: 200,
  retrieveRounds: 1,
  retrieveDurationS: 2,
  retrieveWarmupS: 0.5,
  probeCreates: 50,
};

const ONLY = ['cluster', 'audit', 'check'] as const;
type Only = (typeof ONLY)[number];

export function parseOptions(argv: readonly string[]): BenchOptions {
  const only = ONLY.find((name) => argv.includes(`--only=${name}`)) ?? null;
  const accepted = ['--quick', ...ONLY.map((name) => `--only=${name}`)];
  const unknown = argv.filter((a) => !accepted.includes(a));
  if (unknown.length > 0) throw new Error(`unknown argument(s): ${unknown.join(' ')} (accepted: ${accepted.join(', ')})`);
  const quick = argv.includes('--quick');
  return { quick, only, ...(quick ? QUICK : FULL) };
}
