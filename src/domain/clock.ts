/** Milliseconds since the Unix epoch; injected so tests can move time instead of sleeping. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** ISO 8601 with milliseconds and `Z` (SPEC §3). */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}
