/**
 * Suites that need something outside the repository (PostgreSQL, Redis, nginx, chromium). When
 * it is missing, the suite must not pass silently: under CI (`CI` set; `.ci/run` sets it) that
 * is one failing test, since CI never skips; elsewhere one skipped test whose name says why (a
 * skipped describe() counts no test as skipped in node's summary, so the skip is a test of its own).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

/**
 * Reports `missing` (why `suite` cannot run, or null) as described above. True when the suite
 * can run.
 */
export function canRun(suite: string, missing: string | null): boolean {
  if (missing === null) return true;
  if (process.env.CI) {
    test(`${suite}: required when CI is set`, () => {
      assert.fail(missing);
    });
  } else {
    test(`${suite}: skipped, ${missing}`, { skip: missing }, () => undefined);
  }
  return false;
}
