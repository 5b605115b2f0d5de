/**
 * Seeded, replayable fast-check runs for the property suites.
 *
 * Every property runs from a fixed default seed (so CI sees the same cases every time), or from
 * `FC_SEED` when it is set; `FC_PATH` replays one case (and its shrinks) exactly. A failure's
 * message ends with the command that replays it.
 */
import fc from 'fast-check';

/** The default seed; each property adds its own offset so two properties never share a stream. */
export const DEFAULT_SEED = 20_261_128;

function envInteger(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return value;
}

export interface RunOptions {
  readonly name: string;
  /** The test file, for the replay command. */
  readonly file: string;
  readonly numRuns: number;
  /** Added to DEFAULT_SEED when FC_SEED is not set. */
  readonly seedOffset: number;
}

/** The seed a property runs with: `FC_SEED` as given, else the default plus the property's offset. */
export function seedFor(seedOffset: number): number {
  return envInteger('FC_SEED') ?? DEFAULT_SEED + seedOffset;
}

/** Runs `property`; on failure, rethrows with the replay command appended. */
export async function assertReplayable<T>(property: fc.IAsyncProperty<T> | fc.IProperty<T>, options: RunOptions): Promise<void> {
  const seed = seedFor(options.seedOffset);
  const path = process.env.FC_PATH;
  const params: fc.Parameters<T> = {
    seed,
    numRuns: options.numRuns,
    includeErrorInReport: true,
    ...(path !== undefined && path !== '' && { path }),
  };
  try {
    await fc.assert(property, params);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const found = /seed: (-?\d+), path: "([^"]*)"/.exec(message);
    const replay = found
      ? `\nReplay: FC_SEED=${found[1]} FC_PATH=${found[2]} node --import tsx --test --test-name-pattern=${JSON.stringify(options.name)} ${options.file}`
      : `\nReplay: FC_SEED=${seed} node --import tsx --test --test-name-pattern=${JSON.stringify(options.name)} ${options.file}`;
    throw new Error(`${message}${replay}`, { cause: error });
  }
}
