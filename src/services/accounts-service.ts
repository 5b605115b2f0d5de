/** Accounts (SPEC §1): created by the operator, each with exactly one default public token. */
import type { Clock } from '../domain/clock.js';
import { isoDate } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import type { Sealer } from '../domain/sealer.js';
import type { ScopeCatalog, ScopeDefinition } from '../domain/scopes.js';
import { isUsername } from '../domain/token-format.js';
import type { Store } from '../store/port.js';
import type { Grant } from './access.js';
import { adminCaller, auditEntry, CLI_CALLER, webCaller, type Caller } from './audit-service.js';
import { hashPassword, isPassword } from './passwords.js';
import { toTokenObject, type TokenObject } from './token-view.js';
import { DEFAULT_TOKEN_NOTE, type TokensService } from './tokens-service.js';

export interface CreatedAccount {
  username: string;
  /** ISO date; the CLI's `accounts create` does not print it (SPEC §8), the admin API does. */
  created: string;
  defaultPublicToken: TokenObject;
}

/** Who creates an account: the CLI, the page, or an admin key (`admin:<key id>`, SPEC §10). */
export type AccountCreator = 'cli' | 'web' | `admin:${string}`;

export interface AccountSummary {
  username: string;
  created: string;
}

export class AccountsService {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokensService,
    private readonly sealer: Sealer,
    private readonly catalog: ScopeCatalog,
    private readonly clock: Clock,
    /** Runs after a change to an account's tokens, so this process sees it at once (a change-log poll). */
    private readonly afterWrite: () => Promise<unknown> = async () => undefined,
  ) {}

  /**
   * Disables or enables the account (SPEC §10): every pk, sk and tk of it is refused (or works
   * again) on every process within the change log's bound, its sessions and sign-in too.
   * @throws AppError `no_such_user`.
   */
  async setDisabled(username: string, disabled: boolean, caller: Caller = CLI_CALLER): Promise<void> {
    const now = this.clock();
    const audit = auditEntry(caller, disabled ? 'account.disable' : 'account.enable', now, username);
    if (!isUsername(username) || !(await this.store.setAccountDisabled(username, disabled, now, audit))) throw new AppError('no_such_user');
    await this.afterWrite();
  }

  /**
   * Deletes the account and all of it in one transaction (SPEC §10); the username may be reused,
   * and a tk minted before stays refused (its root's delete is in the change log).
   * @throws AppError `no_such_user`.
   */
  async delete(username: string, caller: Caller = CLI_CALLER): Promise<void> {
    const now = this.clock();
    if (!isUsername(username) || !(await this.store.deleteAccount(username, now, auditEntry(caller, 'account.delete', now, username)))) {
      throw new AppError('no_such_user');
    }
    await this.afterWrite();
  }

  /**
   * Creates the account with its default public token and, when given, its page password
   * (SPEC §9), in one step, with its audit entries (`account.create`, and `account.password` when
   * a password is set). The default token records `via` as its `createdBy`; `via` may be the
   * caller itself (an admin key's, with the client's address).
   * @throws AppError `username_invalid`, `password is invalid` or `account_exists`.
   */
  async create(username: string, via: AccountCreator | Caller = 'cli', password?: string): Promise<CreatedAccount> {
    const caller = typeof via === 'string' ? callerOf(via) : via;
    if (!isUsername(username)) throw new AppError('username_invalid');
    if (password !== undefined && !isPassword(password)) throw invalidField('password');
    const passwordHash = password === undefined ? null : await hashPassword(password);
    const now = this.clock();
    const token = this.tokens.newDefaultRecord(username, DEFAULT_TOKEN_NOTE, creatorOf(caller), now);
    const audit = [auditEntry(caller, 'account.create', now, username, null, { defaultPublicToken: token.id })];
    if (passwordHash !== null) audit.push(auditEntry(caller, 'account.password', now, username));
    if (!(await this.store.createAccount({ username, created: now }, token, passwordHash, audit))) throw new AppError('account_exists');
    return { username, created: isoDate(now), defaultPublicToken: toTokenObject(token, this.sealer) };
  }

  async list(): Promise<AccountSummary[]> {
    return (await this.store.listAccounts()).map((a) => ({ username: a.username, created: isoDate(a.created) }));
  }

  /** Scopes API: the catalog, with `public: true` only on public scopes. */
  listScopes(_grant: Grant): Array<{ id: string; description: string; public?: true }> {
    return this.catalog
      .list()
      .map((s: ScopeDefinition) => (s.public ? { id: s.id, description: s.description, public: true } : { id: s.id, description: s.description }));
  }

  /** Start-up: every default token holds exactly the catalog's public scopes (SPEC §4.4). */
  async rederiveDefaultScopes(): Promise<number> {
    return this.store.setDefaultTokenScopes(this.catalog.publicScopes, this.clock());
  }
}

/** The caller an account creator names (no client address: the CLI, or a caller without one). */
function callerOf(via: AccountCreator): Caller {
  if (via === 'cli') return CLI_CALLER;
  if (via === 'web') return webCaller(null, null);
  return adminCaller(via.slice('admin:'.length), null);
}

/** The default token's `createdBy` for this caller (SPEC §10: `admin:<key id>` for an admin key). */
function creatorOf(caller: Caller): AccountCreator {
  if (caller.actor.kind === 'admin' && caller.actor.id !== null) return `admin:${caller.actor.id}`;
  return caller.actor.kind === 'web' ? 'web' : 'cli';
}
