/**
 * The operators' API on accounts (SPEC §10): create (with the default public token and, for the
 * page, a password), look up, list in keyset pages, and set the page password. The caller is an
 * admin key the HTTP adapter has already accepted; inputs are parsed here, so every adapter that
 * comes later (the CLI's `accounts disable`, say) refuses alike.
 * Disable, enable and delete go through AccountsService, as the CLI's do.
 */
import { isoDate } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import { isUsername } from '../domain/token-format.js';
import type { AccountCursor, AccountOverview, Store } from '../store/port.js';
import type { AccountsService } from './accounts-service.js';
import type { Caller } from './audit-service.js';
import { adminCreateAccountBody, adminPatchAccountBody, adminSetPasswordBody, listAccountsQuery, parseInput } from './inputs.js';
import type { SessionsService } from './sessions-service.js';
import type { TokenObject } from './token-view.js';

export interface AccountView {
  username: string;
  created: string;
  disabled: boolean;
  /** pk/sk tokens the account holds, its default token included. */
  tokens: number;
}

export interface CreatedAccountView {
  username: string;
  created: string;
  disabled: boolean;
  defaultPublicToken: TokenObject;
}

export interface AccountPage {
  readonly accounts: AccountView[];
  /** Cursor for the next page, or null when this page is the last. */
  readonly next: string | null;
}

/** `<createdMs>.<username>`: URL-safe as it stands (the username grammar has no reserved character). */
const CURSOR = /^(\d{1,15})\.([a-z0-9][a-z0-9_-]{0,31})$/;
const DEFAULT_PAGE = 100;

export class AdminAccountsService {
  constructor(
    private readonly store: Store,
    private readonly accounts: AccountsService,
    private readonly sessions: SessionsService,
  ) {}

  /**
   * @throws AppError 422 `username is invalid`, `password is invalid`, `<key> is not allowed`;
   *   409 `username_taken`.
   */
  async create(caller: Caller, body: unknown): Promise<CreatedAccountView> {
    // No body at all reads as `{}`, as on the Tokens API: the missing field is named.
    const input = parseInput(adminCreateAccountBody, body ?? {});
    try {
      const created = await this.accounts.create(input.username, caller, input.password);
      return { username: created.username, created: created.created, disabled: false, defaultPublicToken: created.defaultPublicToken };
    } catch (error) {
      if (error instanceof AppError && error.code === 'account_exists') throw new AppError('username_taken');
      throw error;
    }
  }

  /** @throws AppError `no_such_user` (an invalid username included). */
  async get(username: string): Promise<AccountView> {
    const overview = isUsername(username) ? await this.store.getAccountOverview(username) : null;
    if (overview === null) throw new AppError('no_such_user');
    return toView(overview);
  }

  /**
   * One page, oldest first. `query` holds the request's `limit` and `start`, as strings.
   * @throws AppError `limit is invalid`, `start is invalid`.
   */
  async list(query: Record<string, string>): Promise<AccountPage> {
    const input = parseInput(listAccountsQuery, query);
    const limit = input.limit === undefined ? DEFAULT_PAGE : Number(input.limit);
    const after = input.start === undefined ? null : parseCursor(input.start);
    const rows = await this.store.listAccountOverviews(after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const next = rows.length > page.length && last !== undefined ? `${last.created}.${last.username}` : null;
    return { accounts: page.map(toView), next };
  }

  /**
   * `{"disabled": true|false}`: disables or enables the account; answers the account as it is now.
   * @throws AppError `no_such_user` (before the body, SPEC §4.3's order); 422 `disabled is invalid`.
   */
  async patch(username: string, body: unknown, caller: Caller): Promise<AccountView> {
    if (!isUsername(username) || (await this.store.getAccount(username)) === null) throw new AppError('no_such_user');
    const { disabled } = parseInput(adminPatchAccountBody, body ?? {});
    await this.accounts.setDisabled(username, disabled, caller);
    return this.get(username);
  }

  /** @throws AppError `no_such_user`. */
  async delete(username: string, caller: Caller): Promise<void> {
    await this.accounts.delete(username, caller);
  }

  /**
   * Sets the page password and ends the account's sessions. The path's account is checked
   * before the body (SPEC §4.3's order).
   * @throws AppError `no_such_user`; 422 `password is invalid`, `<key> is not allowed`.
   */
  async setPassword(username: string, body: unknown, caller: Caller): Promise<void> {
    if (!isUsername(username) || (await this.store.getAccount(username)) === null) throw new AppError('no_such_user');
    const { password } = parseInput(adminSetPasswordBody, body ?? {});
    await this.sessions.setPassword(username, password, caller);
  }
}

function parseCursor(start: string): AccountCursor {
  const match = CURSOR.exec(start);
  if (match === null) throw invalidField('start');
  return { created: Number(match[1]), username: match[2] as string };
}

function toView(overview: AccountOverview): AccountView {
  return { username: overview.username, created: isoDate(overview.created), disabled: overview.disabled, tokens: overview.tokenCount };
}
