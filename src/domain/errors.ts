/**
 * The one error catalogue: every refusal tokenbox gives, with its status and exact message
 * (SPEC §4.3 for the APIs, §5 for verification verdicts). `docs/errors.md` is kept in step with
 * this table by a test.
 */
export const CATALOGUE = {
  body_not_json: { status: 400, message: 'Body is not valid JSON' },
  /** Any other request the framework cannot read (a malformed request line, header or query). */
  bad_request: { status: 400, message: 'Bad Request' },
  unauthorized: { status: 401, message: 'Unauthorized' },
  /** The page's sign-in (SPEC §9): one message for an unknown user and a wrong password alike. */
  sign_in_failed: { status: 401, message: 'Invalid username or password' },
  not_found: { status: 404, message: 'Not found' },
  no_such_user: { status: 404, message: 'No such user' },
  /** `admin-keys delete` with an id no admin key has (CLI). */
  no_such_admin_key: { status: 404, message: 'No such admin key' },
  /** [ext] The operators' API (SPEC §10): `POST /admin/v1/accounts` with a username that exists. */
  username_taken: { status: 409, message: 'Username is taken' },
  body_too_large: { status: 413, message: 'Request body is too large' },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json' },
  scopes_invalid: { status: 422, message: 'scopes are invalid' },
  allowed_urls_invalid: { status: 422, message: 'allowedUrls are invalid' },
  usage_invalid: { status: 422, message: 'usage must be pk or sk' },
  expires_in_past: { status: 422, message: 'expires is in the past' },
  expires_too_far: { status: 422, message: 'expires is more than one hour in the future' },
  expires_after_authorizer: {
    status: 422,
    message: 'expires may not be greater than the expiration of the authorizing token',
  },
  resources_invalid: { status: 422, message: 'resources are invalid' },
  too_many_tokens: { status: 422, message: 'too many tokens' },
  /** [ext] A create's `Idempotency-Key` seen before on the account with a different body. */
  idempotency_key_reused: { status: 422, message: 'Idempotency-Key was used with a different request' },
  access_token_required: { status: 422, message: 'access token is required' },
  account_exists: { status: 422, message: 'username is taken' },
  username_invalid: { status: 422, message: 'username is invalid' },
  /** `<field> is invalid`, `<field> are invalid`, `<field> is not allowed`: message built per field. */
  field_invalid: { status: 422, message: '<field> is invalid' },
  rate_limited: { status: 429, message: 'Too Many Requests' },
  internal: { status: 500, message: 'Internal Server Error' },
  unavailable: { status: 503, message: 'Service Unavailable' },
  // The gateway: its upstream failed (refused the connection, broke the answer, or timed out).
  bad_gateway: { status: 502, message: 'Bad Gateway' },
  gateway_timeout: { status: 504, message: 'Gateway Timeout' },
  // Forward auth: the proxy's request is wrong (a configuration error, never the client's token).
  original_uri_required: { status: 400, message: 'Original URI is required' },
  original_uri_invalid: { status: 400, message: 'Original URI is invalid' },
  scope_param_invalid: { status: 400, message: 'scope is invalid' },
  // Verification verdicts (SPEC §5): the answers of the resource APIs tokens unlock.
  no_token: { status: 401, message: 'Not Authorized - No Token' },
  invalid_token: { status: 401, message: 'Not Authorized - Invalid Token' },
  forbidden: { status: 403, message: 'Forbidden' },
  missing_scope: { status: 403, message: 'This endpoint requires a token with <scope> scope' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof CATALOGUE;

/**
 * A refusal with a catalogue code. Thrown by services and by store adapters (which translate
 * their driver's errors, e.g. to `unavailable`), mapped to HTTP by one mapper. The message is
 * what a client may read; `cause` keeps the internal error for the log only.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string = CATALOGUE[code].message, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = CATALOGUE[code].status;
  }
}

/** Field names that take the plural verb (`scopes are invalid`). */
const PLURAL_FIELDS = new Set(['scopes', 'allowedUrls', 'allowedApplications', 'resources']);

/** 422 `<field> is invalid` or `<field> are invalid`, by the field's grammatical number. */
export function invalidField(field: string): AppError {
  if (field === 'scopes') return new AppError('scopes_invalid');
  if (field === 'allowedUrls') return new AppError('allowed_urls_invalid');
  if (field === 'resources') return new AppError('resources_invalid');
  const verb = PLURAL_FIELDS.has(field) ? 'are' : 'is';
  return new AppError('field_invalid', `${field} ${verb} invalid`);
}

/** 422 `<field> is not allowed`, for a key the operation does not take. */
export function fieldNotAllowed(field: string): AppError {
  return new AppError('field_invalid', `${printableField(field)} is not allowed`);
}

/** Keeps a client-chosen key printable and short before it is echoed in a message. */
function printableField(field: string): string {
  const clean = field.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}
