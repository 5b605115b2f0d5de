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
  /**
   * Every comparison of servers side by side (sections 5 to 8 and 10; `SlicedJob`): each side's
   * warm-up, the length of one slice, and the cycles (each runs every side twice).
   */
  readonly sliceWarmupS: number;
  readonly sliceS: number;
  readonly cycles: number;
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
  sliceWarmupS: 1,
  sliceS: 1,
  cycles: 9,
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
  sliceWarmupS: 0.5,
  sliceS: 0.5,
  cycles: 2,
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

/** The load of a sliced comparison (`compareInSlices`) under these options. */
export function sliceLoad(options: BenchOptions): { connections: number; warmupS: number; sliceS: number; cycles: number } {
  return { connections: options.connections, warmupS: options.sliceWarmupS, sliceS: options.sliceS, cycles: options.cycles };
}
