/**
 * Token analytics (SPEC §5): a token's verified requests per UTC day over a period, as Mapbox's
 * Analytics API answers them. The figures are what usage flushes have written: they lag the
 * requests by up to `usageFlushMs` (and each process that verifies tokens flushes its own).
 */
import type { Clock } from '../domain/clock.js';
import { isoDate } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import { isTokenId } from '../domain/token-format.js';
import { DAY_MS, utcDay, type Store } from '../store/port.js';
import type { Grant } from './access.js';

/** The default period: the 90 UTC days ending today, today included. */
export const DEFAULT_PERIOD_DAYS = 90;
/** The longest period, in UTC days, both ends included: a year, a leap year's too. */
export const MAX_PERIOD_DAYS = 366;

export interface UsageReport {
  /** The first and last day of the period (their starts, ISO). */
  readonly period: [string, string];
  /** Every day of the period (its start, ISO), oldest first. */
  readonly timestamps: string[];
  /** Requests on each day of `timestamps`; 0 for a day without any. */
  readonly counts: number[];
}

/** One end of a period: a date (`2026-11-28`) or a date-time with a zone, read as its UTC day. */
const PERIOD_END = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** A UTC day start (ms) from one end of `period`, or null when it is no real date. */
function parseEnd(text: string): number | null {
  const match = PERIOD_END.exec(text);
  if (match === null) return null;
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  // The calendar date as written must exist (no 2026-02-30), whatever the zone does after.
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return null;
  const ms = text.length === 10 ? calendar.getTime() : Date.parse(text);
  return Number.isFinite(ms) ? utcDay(ms) : null;
}

/**
 * `period=<ISO>,<ISO>`: two dates, inclusive UTC days, the first not after the second, at most
 * MAX_PERIOD_DAYS, not ending after today. Absent: the DEFAULT_PERIOD_DAYS ending today.
 * @throws AppError 422 `period is invalid`.
 */
export function parsePeriod(text: string | undefined, now: number): { from: number; to: number } {
  const today = utcDay(now);
  if (text === undefined) return { from: today - (DEFAULT_PERIOD_DAYS - 1) * DAY_MS, to: today };
  const parts = text.split(',');
  if (parts.length !== 2) throw invalidField('period');
  const from = parseEnd(parts[0] as string);
  const to = parseEnd(parts[1] as string);
  if (from === null || to === null || from > to || to > today || (to - from) / DAY_MS + 1 > MAX_PERIOD_DAYS) throw invalidField('period');
  return { from, to };
}

export class AnalyticsService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * The token `id`'s daily requests over `period` (SPEC §5). The period is checked before the id
   * (SPEC §4.3: input before the token id).
   * @throws AppError 422 `period is invalid`; `not_found` when the account holds no token `id`.
   */
  async tokenUsage(grant: Grant, id: string, period: string | undefined): Promise<UsageReport> {
    const { from, to } = parsePeriod(period, this.clock());
    if (!isTokenId(id) || (await this.store.getToken(grant.username, id)) === null) throw new AppError('not_found');
    const rows = await this.store.usageByDay(id, from, to);
    const byDay = new Map(rows.map((r) => [r.day, r.count]));
    const timestamps: string[] = [];
    const counts: number[] = [];
    for (let day = from; day <= to; day += DAY_MS) {
      timestamps.push(isoDate(day));
      counts.push(byDay.get(day) ?? 0);
    }
    return { period: [isoDate(from), isoDate(to)], timestamps, counts };
  }
}
