/**
 * What the audit log costs a write (issue 10): `store.updateToken` on the shipped SQLite store,
 * in process, with its audit entry in the same transaction (as every update through the services
 * writes it) against the same update without one. Rounds alternate; each round times `count`
 * updates of one token one after another. Goal: audited at least 0.9× the unaudited rate.
 *
 * For scale, the same update as users make it: `PATCH /tokens/v2/:user/:id` through the shipped
 * `serve`, one at a time. `serve` always audits, so there is no unaudited server to measure; the
 * printed API ratio is derived: (PATCH time − what the entry added in the store) / PATCH time.
 */
import type { BenchOptions } from './options.js';
import type { BenchApp } from './setup.js';
import { median } from './stats.js';
import { line, f0, f2 } from './print.js';

export const AUDIT_GOAL = 0.9;

export interface AuditFigures {
  /** Updates per second per round. */
  readonly plain: number[];
  readonly audited: number[];
  /** Mean time of one audited `PATCH` through `serve`, one request at a time (ms). */
  readonly patchMs: number;
}

export async function measureAuditCost(bench: BenchApp, options: BenchOptions): Promise<AuditFigures> {
  const { app } = bench;
  await app.accounts.create('audited');
  const grant = await app.access.operator('audited');
  const token = await app.tokens.create(grant, { note: 'audit bench', scopes: ['styles:read'] });
  const count = options.quick ? 300 : 1_500;
  const figures = { plain: [] as number[], audited: [] as number[] };
  let n = 0;
  const run = async (audited: boolean): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const at = Date.now();
      n += 1;
      const audit = audited
        ? {
            at,
            actor: { kind: 'cli' as const, id: null },
            account: 'audited',
            action: 'token.update' as const,
            target: token.id,
            ip: null,
            details: { changes: { fields: ['note'] } },
          }
        : undefined;
      await app.store.updateToken('audited', token.id, { note: `update ${n}` }, at, audit);
    }
    return count / ((performance.now() - started) / 1000);
  };
  for (let round = 0; round < options.retrieveRounds + 2; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const audited of order) (audited ? figures.audited : figures.plain).push(await run(audited));
  }
  const sk = (await app.tokens.create(grant, { note: 'audit bench writer', scopes: ['tokens:write'] })).token as string;
  const patch = async (i: number): Promise<void> => {
    const res = await fetch(`${bench.origin}/tokens/v2/audited/${token.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ note: `patch ${i}` }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`audit bench: PATCH answered ${res.status}`);
  };
  const patches = options.quick ? 200 : 1_000;
  for (let i = 0; i < 100; i++) await patch(i);
  const started = performance.now();
  for (let i = 0; i < patches; i++) await patch(i);
  return { ...figures, patchMs: (performance.now() - started) / patches };
}

export function printAuditCost(a: AuditFigures): boolean {
  const ratios = a.audited.map((r, i) => r / (a.plain[i] ?? Number.NaN));
  const ratio = median(ratios);
  line('9. A token update in the SQLite store with its audit entry (same transaction) vs without, in process');
  line(`  without audit: ${f0(median(a.plain))} updates/s   with audit: ${f0(median(a.audited))} updates/s`);
  const addedMs = 1000 / median(a.audited) - 1000 / median(a.plain);
  line(
    `  for scale: an audited PATCH through serve takes ${a.patchMs.toFixed(3)} ms (one at a time), of which the entry adds ${(addedMs * 1000).toFixed(0)} µs in the store: about ${f2((a.patchMs - addedMs) / a.patchMs)}x at the API (derived, not measured)`,
  );
  line(`  audited >= ${AUDIT_GOAL}x unaudited: ${f2(ratio)}x (per round ${ratios.map(f2).join(', ')})  ${ratio >= AUDIT_GOAL ? 'MET' : 'MISSED'}`);
  return ratio >= AUDIT_GOAL;
}
