/**
 * The audit log (SPEC §10): who is recorded for a change, the entries the use cases hand the
 * store (which writes each in the transaction of its change), and reading and pruning the log.
 *
 * Never a token string, a password or a hash in an entry: entries name tokens, keys and accounts
 * by id, and extra fields are built here or by the store from ids, field names and scope ids.
 */
import { isoDate, type Clock } from '../domain/clock.js';
import { invalidField } from '../domain/errors.js';
import { isAuditAction, type AuditAction, type AuditActor } from '../domain/audit.js';
import type { AuditEntry, AuditEntryInput, Store } from '../store/port.js';
import type { Grant } from './access.js';
import { listAuditQuery, parseInput } from './inputs.js';

/** Who makes a change, and from where: the actor of its entry and the client's address (null for the CLI). */
export interface Caller {
  readonly actor: AuditActor;
  readonly ip: string | null;
}

export const CLI_CALLER: Caller = Object.freeze({ actor: Object.freeze({ kind: 'cli', id: null }), ip: null });

export function adminCaller(keyId: string, ip: string | null): Caller {
  return { actor: { kind: 'admin', id: keyId }, ip };
}

/** The page: the signed-in username, or null where nobody is signed in (a failed sign-in). */
export function webCaller(username: string | null, ip: string | null): Caller {
  return { actor: { kind: 'web', id: username }, ip };
}

/** The caller a grant speaks for: a token by its root id (a tk's `p`), an admin key by id, the page by username. */
export function grantCaller(grant: Grant): Caller {
  const ip = grant.ip ?? null;
  const { actor } = grant;
  switch (actor.kind) {
    case 'token':
      return { actor: { kind: 'token', id: actor.principal.rootId }, ip };
    case 'admin':
      return adminCaller(actor.keyId, ip);
    case 'session':
      return webCaller(actor.username, ip);
    case 'operator':
      return actor.via === 'cli' ? { actor: CLI_CALLER.actor, ip } : webCaller(null, ip);
  }
}

/** An entry for the store to write with its change. */
export function auditEntry(
  caller: Caller,
  action: AuditAction,
  at: number,
  account: string | null,
  target: string | null = null,
  details: Record<string, unknown> | null = null,
): AuditEntryInput {
  return { at, actor: caller.actor, account, action, target, ip: caller.ip, details };
}

/** An entry as the API and `tokenbox audit --json` show it: SPEC §10's keys first, then its extra fields. */
export interface AuditEntryView {
  id: number;
  at: string;
  actor: { kind: AuditActor['kind']; id: string | null };
  account: string | null;
  action: AuditAction;
  target: string | null;
  ip: string | null;
  [extra: string]: unknown;
}

export interface AuditPage {
  readonly entries: AuditEntryView[];
  /** Cursor for the next page, or null when this page is the last. */
  readonly next: string | null;
}

const DEFAULT_PAGE = 100;
const DAY_MS = 86_400_000;

export class AuditService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** How long entries are kept (`auditRetentionDays`). */
    private readonly retentionDays: number,
  ) {}

  /**
   * One page, newest first. `query` holds the request's `account`, `action`, `limit` and
   * `start`, as strings.
   * @throws AppError `account is invalid`, `action is invalid`, `limit is invalid`, `start is invalid`.
   */
  async list(query: Record<string, string>): Promise<AuditPage> {
    const input = parseInput(listAuditQuery, query);
    if (input.action !== undefined && !isAuditAction(input.action)) throw invalidField('action');
    const limit = input.limit === undefined ? DEFAULT_PAGE : Number(input.limit);
    const rows = await this.store.listAudit({
      limit: limit + 1,
      ...(input.account !== undefined && { account: input.account }),
      ...(input.action !== undefined && { action: input.action }),
      ...(input.start !== undefined && { before: Number(input.start) }),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { entries: page.map(toView), next: rows.length > page.length && last !== undefined ? String(last.id) : null };
  }

  /** The periodic job: entries older than the retention go. */
  prune(): Promise<number> {
    return this.store.pruneAudit(this.clock() - this.retentionDays * DAY_MS);
  }
}

function toView(entry: AuditEntry): AuditEntryView {
  const view: AuditEntryView = {
    id: entry.id,
    at: isoDate(entry.at),
    actor: { kind: entry.actor.kind, id: entry.actor.id },
    account: entry.account,
    action: entry.action,
    target: entry.target,
    ip: entry.ip,
  };
  for (const [key, value] of Object.entries(entry.details ?? {})) if (!(key in view)) view[key] = value;
  return view;
}
