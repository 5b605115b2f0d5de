/** What the HTTP adapter is given by the composition root, and what it adds to a request. */
import type { Config } from '../config/config.js';
import type { Clock } from '../domain/clock.js';
import type { AccessService, Grant } from '../services/access.js';
import type { AdminAccountsService } from '../services/admin-accounts-service.js';
import type { AdminKeysService } from '../services/admin-keys-service.js';
import type { AnalyticsService } from '../services/analytics-service.js';
import type { AuditService } from '../services/audit-service.js';
import type { AccountsService } from '../services/accounts-service.js';
import type { RateLimiter } from '../verification/rate-limiter.js';
import type { TemporaryTokensService } from '../services/temporary-tokens-service.js';
import type { TokensService } from '../services/tokens-service.js';
import type { SessionsService } from '../services/sessions-service.js';
import type { Store } from '../store/port.js';
import type { Authenticator } from '../verification/authenticator.js';
import type { FollowerStatus } from '../verification/change-follower.js';
import type { Verifier } from '../verification/verifier.js';
import type { QueryValues } from './query.js';

export interface HttpDeps {
  readonly config: Config;
  readonly store: Store;
  readonly access: AccessService;
  readonly accounts: AccountsService;
  readonly tokens: TokensService;
  readonly analytics: AnalyticsService;
  readonly temporary: TemporaryTokensService;
  readonly sessions: SessionsService;
  readonly adminKeys: AdminKeysService;
  readonly adminAccounts: AdminAccountsService;
  readonly audit: AuditService;
  readonly authenticator: Authenticator;
  readonly limiter: RateLimiter;
  readonly verifier: Verifier;
  readonly clock: Clock;
  /** The change follower, for `/health`. */
  readonly changes: { status(): FollowerStatus };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on protected routes: the proof that the caller may act here. */
    grant: Grant | null;
    /** Set by the operators' API auth hook: the id of the admin key that was accepted. */
    adminKeyId: string | null;
  }
}

export type Query = QueryValues;
