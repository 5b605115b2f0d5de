/**
 * Temporary tokens (SPEC §4.2, §4.4) and the retrieve operation, which reports on any token.
 */
import { isoDate, type Clock } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import { signTemporaryToken } from '../domain/token-format.js';
import type { Authenticator, AuthFailure, Principal } from '../verification/authenticator.js';
import type { Grant } from './access.js';
import type { Keyring } from './keyring.js';

const MAX_LIFETIME_MS = 3_600_000;

export interface TemporaryTokenInput {
  /** ISO 8601; the SDK sends `toISOString()`. */
  readonly expires: string;
  readonly scopes: readonly string[];
}

export interface TemporaryTokenResult {
  token: string;
  issued_at: string;
  expires: string;
  expires_in: number;
}

export type RetrieveCode = 'TokenValid' | 'TokenMalformed' | 'TokenInvalid' | 'TokenExpired' | 'TokenRevoked';

export type RetrievedToken =
  | { usage: 'pk' | 'sk'; user: string; authorization: string }
  | { usage: 'tk'; user: string; expires: string; created: string; scopes: string[]; client: 'api' };

export interface RetrieveResult {
  code: RetrieveCode;
  token?: RetrievedToken;
}

const FAILURE_CODES: Record<AuthFailure, RetrieveCode> = {
  malformed: 'TokenMalformed',
  invalid: 'TokenInvalid',
  expired: 'TokenExpired',
  revoked: 'TokenRevoked',
};

export class TemporaryTokensService {
  constructor(
    private readonly keyring: Keyring,
    private readonly authenticator: Authenticator,
    private readonly clock: Clock,
  ) {}

  /** Mints a tk for the grant's token caller: an sk or a tk holding `tokens:write`. */
  async create(grant: Grant, input: TemporaryTokenInput): Promise<TemporaryTokenResult> {
    const { actor } = grant;
    if (actor.kind !== 'token' || actor.principal.usage === 'pk') throw new AppError('not_found');
    const expiresMs = Date.parse(input.expires);
    if (!Number.isFinite(expiresMs)) throw invalidField('expires');
    const now = this.clock();
    if (expiresMs <= now) throw new AppError('expires_in_past');
    if (expiresMs > now + MAX_LIFETIME_MS) throw new AppError('expires_too_far');
    const exp = Math.floor(expiresMs / 1000);
    const iat = Math.floor(now / 1000);
    const { principal } = actor;
    if (principal.exp !== null && exp > principal.exp) throw new AppError('expires_after_authorizer');
    const scopes = [...new Set(input.scopes)];
    if (!scopes.every((s) => principal.scopes.includes(s))) throw new AppError('scopes_invalid');
    if (exp <= iat) throw new AppError('expires_in_past');
    const token = signTemporaryToken(this.keyring.signingKey().key, {
      u: grant.username,
      exp,
      iat,
      scopes,
      client: 'api',
      p: principal.rootId,
    });
    return { token, issued_at: isoDate(iat * 1000), expires: isoDate(exp * 1000), expires_in: exp - iat };
  }

  /** What a token is; never throws for a bad token. Synchronous when no store read is needed. */
  retrieve(raw: string): RetrieveResult | Promise<RetrieveResult> {
    const quick = this.authenticator.tryCached(raw);
    if (quick?.ok) return describe(quick.principal);
    return this.retrieveSlowly(raw);
  }

  private async retrieveSlowly(raw: string): Promise<RetrieveResult> {
    const outcome = await this.authenticator.authenticate(raw);
    if (outcome.ok) return describe(outcome.principal);
    const reason = outcome.reason === 'invalid' ? await this.authenticator.explainUnknown(raw) : outcome.reason;
    return { code: FAILURE_CODES[reason] };
  }
}

function describe(p: Principal): RetrieveResult {
  if (p.usage === 'tk') {
    return {
      code: 'TokenValid',
      token: {
        usage: 'tk',
        user: p.username,
        expires: isoDate((p.exp ?? 0) * 1000),
        created: isoDate((p.iat ?? 0) * 1000),
        scopes: [...p.scopes],
        client: 'api',
      },
    };
  }
  return { code: 'TokenValid', token: { usage: p.usage, user: p.username, authorization: p.rootId } };
}
