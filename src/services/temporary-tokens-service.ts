/**
 * Temporary tokens (SPEC §4.2, §4.4) and the retrieve operation, which reports on any token.
 */
import { isoDate, type Clock } from '../domain/clock.js';
import { AppError, invalidField } from '../domain/errors.js';
import { MAX_TK_LIFETIME_MS, MAX_TK_SCOPES } from '../domain/policy.js';
import type { ScopeCatalog } from '../domain/scopes.js';
import { MAX_TOKEN_LENGTH, parseToken, signTemporaryToken } from '../domain/token-format.js';
import type { Principal } from '../domain/principal.js';
import type { Authenticator, AuthFailure, AuthOutcome } from '../verification/authenticator.js';
import type { Grant } from './access.js';
import type { Keyring } from './keyring.js';

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

export interface Retrieved {
  /** The response body. */
  readonly result: RetrieveResult;
  /** The verified token's rate-limit subject (see Principal.subject); null unless TokenValid. */
  readonly subject: string | null;
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
    private readonly catalog: ScopeCatalog,
    private readonly clock: Clock,
  ) {}

  /**
   * Mints a tk for the grant's token caller: an sk or a tk holding `tokens:write`. Its scopes
   * are a subset of what the caller may do now (for a tk caller, what its root still holds), all
   * still in the catalog, and the string must be one that can verify (SPEC §4.4).
   */
  async create(grant: Grant, input: TemporaryTokenInput): Promise<TemporaryTokenResult> {
    const { actor } = grant;
    if (actor.kind !== 'token' || actor.principal.usage === 'pk') throw new AppError('not_found');
    const expiresMs = Date.parse(input.expires);
    if (!Number.isFinite(expiresMs)) throw invalidField('expires');
    const now = this.clock();
    if (expiresMs <= now) throw new AppError('expires_in_past');
    if (expiresMs > now + MAX_TK_LIFETIME_MS) throw new AppError('expires_too_far');
    const exp = Math.floor(expiresMs / 1000);
    const iat = Math.floor(now / 1000);
    const { principal } = actor;
    if (principal.exp !== null && exp > principal.exp) throw new AppError('expires_after_authorizer');
    const scopes = [...new Set(input.scopes)];
    if (scopes.length > MAX_TK_SCOPES) throw new AppError('scopes_invalid');
    if (!scopes.every((s) => this.catalog.has(s) && principal.scopes.includes(s))) throw new AppError('scopes_invalid');
    if (exp <= iat) throw new AppError('expires_in_past');
    const token = signTemporaryToken(this.keyring.signingKey().key, {
      u: grant.username,
      exp,
      iat,
      scopes,
      client: 'api',
      p: principal.rootId,
    });
    // A tk that could never verify is refused now rather than handed out (SPEC §4.4).
    if (token.length > MAX_TOKEN_LENGTH) throw new AppError('scopes_invalid');
    return { token, issued_at: isoDate(iat * 1000), expires: isoDate(exp * 1000), expires_in: exp - iat };
  }

  /** What a token is; never throws for a bad token. Synchronous when no store read is needed. */
  retrieve(raw: string): Retrieved | Promise<Retrieved> {
    const quick = this.authenticator.tryCached(raw);
    // An unknown pk/sk needs reads to tell invalid from revoked; everything else is settled.
    if (quick !== undefined && (quick.ok || quick.reason !== 'invalid' || raw.startsWith('tk.'))) return describe(raw, quick);
    return this.retrieveSlowly(raw);
  }

  private async retrieveSlowly(raw: string): Promise<Retrieved> {
    const outcome = await this.authenticator.authenticate(raw);
    if (outcome.ok || outcome.reason !== 'invalid') return describe(raw, outcome);
    const reason = await this.authenticator.explainUnknown(raw);
    return describe(raw, { ok: false, reason });
  }
}

/**
 * The retrieve answer. Every code but TokenMalformed carries `token`, read from the string's own
 * payload (SPEC §4.2); a valid tk shows the scopes it may use now (its root's narrowing applied).
 */
function describe(raw: string, outcome: AuthOutcome): Retrieved {
  if (outcome.ok) return { result: { code: 'TokenValid', token: fromPrincipal(outcome.principal) }, subject: outcome.principal.subject };
  const code = FAILURE_CODES[outcome.reason];
  const token = outcome.reason === 'malformed' ? undefined : fromPayload(raw);
  return { result: token === undefined ? { code } : { code, token }, subject: null };
}

function fromPrincipal(p: Principal): RetrievedToken {
  if (p.usage === 'tk') {
    return {
      usage: 'tk',
      user: p.username,
      expires: isoDate((p.exp ?? 0) * 1000),
      created: isoDate((p.iat ?? 0) * 1000),
      scopes: [...p.scopes],
      client: 'api',
    };
  }
  return { usage: p.usage, user: p.username, authorization: p.rootId };
}

/** What a well-formed string says of itself; undefined for a malformed one. */
function fromPayload(raw: string): RetrievedToken | undefined {
  const parsed = parseToken(raw);
  if (parsed === null) return undefined;
  if (parsed.usage !== 'tk') return { usage: parsed.usage, user: parsed.payload.u, authorization: parsed.payload.a };
  const { u, exp, iat, scopes } = parsed.payload;
  return { usage: 'tk', user: u, expires: isoDate(exp * 1000), created: isoDate(iat * 1000), scopes: [...scopes], client: 'api' };
}
