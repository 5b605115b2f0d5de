/**
 * Who may act on an account (SPEC §4.3 order: the path's account, then ownership and scope).
 * A Grant is the proof that this check passed; every token operation takes one.
 */
import { AppError } from '../domain/errors.js';
import { isUsername } from '../domain/token-format.js';
import type { Principal } from '../domain/principal.js';
import type { Store } from '../store/port.js';

export type Actor =
  | { readonly kind: 'token'; readonly principal: Principal }
  /** The operator (CLI): skips the no-escalation check, keeps every other rule. */
  | { readonly kind: 'operator'; readonly via: 'cli' | 'web' }
  /**
   * A signed-in page session (SPEC §9): its own account only, with every catalog scope. Like a
   * pk/sk it may grant any catalog scope it holds (all of them); it mints no tk (no root token).
   */
  | { readonly kind: 'session'; readonly username: string }
  /**
   * An operator's admin key (SPEC §10): any account, with every catalog scope. Like a session it
   * may grant any catalog scope and mints no tk (no root token); what it creates records
   * `createdBy: admin:<key id>`.
   */
  | { readonly kind: 'admin'; readonly keyId: string };

export interface Grant {
  readonly username: string;
  readonly actor: Actor;
  /** The client's address when the grant came from an HTTP request (the audit log's `ip`). */
  readonly ip?: string | null;
}

export class AccessService {
  constructor(private readonly store: Store) {}

  /**
   * @throws AppError `no_such_user` when the path's account does not exist; `not_found` when the
   *   caller is another account or lacks `scope` (404, never 403: existence is not revealed).
   */
  async authorize(principal: Principal, username: string, scope: string): Promise<Grant> {
    if (!isUsername(username) || !(await this.store.getAccount(username))) throw new AppError('no_such_user');
    if (principal.username !== username || !principal.scopes.includes(scope)) throw new AppError('not_found');
    return { username, actor: { kind: 'token', principal } };
  }

  /**
   * A page session acting on the path's account (SPEC §4.3 order, as for a token).
   * @throws AppError `no_such_user`; `not_found` when the path names another account.
   */
  async authorizeSession(sessionUsername: string, username: string): Promise<Grant> {
    if (!isUsername(username) || !(await this.store.getAccount(username))) throw new AppError('no_such_user');
    if (sessionUsername !== username) throw new AppError('not_found');
    return { username, actor: { kind: 'session', username } };
  }

  /**
   * An admin key acting on the path's account: any existing account.
   * @throws AppError `no_such_user`.
   */
  async authorizeAdmin(keyId: string, username: string): Promise<Grant> {
    if (!isUsername(username) || !(await this.store.getAccount(username))) throw new AppError('no_such_user');
    return { username, actor: { kind: 'admin', keyId } };
  }

  /** The operator's grant on an existing account. */
  async operator(username: string, via: 'cli' | 'web' = 'cli'): Promise<Grant> {
    if (!isUsername(username) || !(await this.store.getAccount(username))) throw new AppError('no_such_user');
    return { username, actor: { kind: 'operator', via } };
  }
}

/**
 * A temporary token leaves nothing permanent behind (SPEC §4.4): it never creates, updates or
 * deletes a pk or sk. Refused as a missing scope is: 404 `Not found`.
 * @throws AppError `not_found` for a tk caller.
 */
export function assertMayWritePermanent(grant: Grant): void {
  if (grant.actor.kind === 'token' && grant.actor.principal.usage === 'tk') throw new AppError('not_found');
}

/** The id recorded as `createdBy` for tokens this actor makes. */
export function creatorId(actor: Actor): string {
  switch (actor.kind) {
    case 'token':
      return actor.principal.rootId;
    case 'operator':
      return actor.via;
    case 'session':
      return 'web';
    case 'admin':
      return adminCreatorId(actor.keyId);
  }
}

/** `createdBy` of what an admin key creates (SPEC §10). */
export function adminCreatorId(keyId: string): `admin:${string}` {
  return `admin:${keyId}`;
}

/**
 * Scopes this actor may grant: a token only those it holds (no escalation); the operator, a page
 * session and an admin key (which hold every catalog scope) any.
 */
export function mayGrant(actor: Actor, scope: string): boolean {
  return actor.kind !== 'token' || actor.principal.scopes.includes(scope);
}
