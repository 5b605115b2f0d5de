/**
 * Sign-in and sessions of the Access tokens page (SPEC §9). A session id is 32 CSPRNG bytes
 * (base64url) held only by the browser; the store keeps its SHA-256. Sessions last
 * SESSION_TTL_MS from sign-in and end earlier on sign-out or a password change.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import { isUsername } from '../domain/token-format.js';
import type { PruneResult, SessionRecord, Store } from '../store/port.js';
import { hashPassword, isPassword, verifyPassword } from './passwords.js';
import { SignInThrottle } from './sign-in-throttle.js';
import { auditEntry, CLI_CALLER, webCaller, type Caller } from './audit-service.js';

export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** How long a create's Idempotency-Key is remembered (SPEC §9). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000;

const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export type SignInOutcome =
  | { readonly ok: true; readonly sessionId: string; readonly session: SessionRecord }
  | { readonly ok: false; readonly reason: 'invalid' }
  | { readonly ok: false; readonly reason: 'throttled'; readonly retryAfterS: number };

export function sessionIdHash(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}

export class SessionsService {
  /** A hash of no one's password: unknown users are checked against it, so they take as long. */
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly throttle: SignInThrottle = new SignInThrottle(clock),
  ) {}

  /**
   * Checks the password and opens a session. Every refusal but throttling is the same value
   * after the same work (one argon2id verification), whether the username exists, has no
   * password, or the password is wrong.
   */
  async signIn(username: string, password: string, clientIp: string): Promise<SignInOutcome> {
    const started = this.throttle.begin([`user:${username}`, `ip:${clientIp}`]);
    if ('waitMs' in started) return { ok: false, reason: 'throttled', retryAfterS: Math.ceil(started.waitMs / 1000) };
    const stored = isUsername(username) ? await this.store.getPasswordHash(username) : null;
    const checkable = stored !== null && isPassword(password);
    const matches = await verifyPassword(checkable ? stored : await this.dummy(), checkable ? password : 'not the password');
    if (!(checkable && matches)) {
      await this.recordFailure(username, clientIp);
      return { ok: false, reason: 'invalid' };
    }
    this.throttle.succeeded(started.attempt);
    const sessionId = randomBytes(32).toString('base64url');
    const now = this.clock();
    const session: SessionRecord = { idHash: sessionIdHash(sessionId), username, created: now, expires: now + SESSION_TTL_MS };
    const audit = auditEntry(webCaller(username, clientIp), 'session.sign_in', now, username);
    // The account went between the check and here (deleted): a refusal like any other.
    if (!(await this.store.createSession(session, audit))) return { ok: false, reason: 'invalid' };
    return { ok: true, sessionId, session };
  }

  /** The live session a cookie names, or null (malformed, unknown, ended or expired). */
  async resolve(sessionId: string): Promise<SessionRecord | null> {
    if (!SESSION_ID_PATTERN.test(sessionId)) return null;
    return this.store.findSession(sessionIdHash(sessionId), this.clock());
  }

  /**
   * Ends the session. With `by` (the session's own account and the client's address), a
   * `session.sign_out` entry is written with it, if the session was still there to end.
   */
  async signOut(sessionId: string, by?: { readonly username: string; readonly ip: string }): Promise<void> {
    if (!SESSION_ID_PATTERN.test(sessionId)) return;
    const audit = by === undefined ? undefined : auditEntry(webCaller(by.username, by.ip), 'session.sign_out', this.clock(), by.username);
    await this.store.deleteSession(sessionIdHash(sessionId), audit);
  }

  /**
   * Sets the account's password and ends all its sessions.
   * @throws AppError 422 `password is invalid` (not 8–1,024 characters); `no_such_user`.
   */
  async setPassword(username: string, password: unknown, caller: Caller = CLI_CALLER): Promise<void> {
    if (!isPassword(password)) throw invalidField('password');
    const hash = await hashPassword(password);
    if (!(await this.store.setPasswordHash(username, hash, auditEntry(caller, 'account.password', this.clock(), username)))) throw new AppError('no_such_user');
  }

  /** The periodic job: ended sessions and day-old Idempotency-Keys go. */
  prune(): Promise<PruneResult> {
    const now = this.clock();
    return this.store.pruneExpired(now, now - IDEMPOTENCY_TTL_MS);
  }

  /**
   * `session.sign_in_failed`: by nobody (`web`, id null), from the client's address. The entry
   * names the account only when one by that name exists: what was typed as a username may be
   * someone's password, and an entry never holds one.
   */
  private async recordFailure(username: string, clientIp: string): Promise<void> {
    const known = isUsername(username) && (await this.store.getAccount(username)) !== null;
    await this.store.appendAudit(auditEntry(webCaller(null, clientIp), 'session.sign_in_failed', this.clock(), known ? username : null));
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword(randomBytes(16).toString('base64url'));
    return this.dummyHash;
  }
}
