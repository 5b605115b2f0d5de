/**
 * The use cases' input schemas: every adapter (the HTTP API, the CLI, the page) validates what it
 * is given with these, so all refuse the same input with the same message, and the OpenAPI
 * document is generated from them, so it cannot drift. A failed parse becomes the catalogue's
 * message for the first bad field.
 */
import { z } from 'zod';
import { AppError, fieldNotAllowed, invalidField } from '../domain/errors.js';
import { isValidAllowedApplication, isValidAllowedUrls, isValidNote, MAX_SCOPES_PER_TOKEN } from '../domain/rules.js';
import { isScopeId } from '../domain/scopes.js';

/** ISO 8601 date-time with an explicit zone (`Z` or `±hh:mm`), as `toISOString()` writes it. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

const note = z.string().refine(isValidNote).meta({ description: 'At most 1,000 characters, no control characters' });
const scopes = z.array(z.string().refine(isScopeId)).max(MAX_SCOPES_PER_TOKEN).meta({ description: 'Scope ids, e.g. `styles:read`' });
const allowedUrls = z.array(z.string()).refine(isValidAllowedUrls).meta({ description: '1–100 URLs or host patterns of 1–2,048 characters; no wildcards' });
const allowedApplications = z
  .array(z.strictObject({ platform: z.string(), bundleId: z.string() }).refine(isValidAllowedApplication))
  .min(1)
  .max(100)
  .meta({ description: 'Apps allowed to use the token, matched against `X-Tokenbox-App-Id`' });
const resources = z.null().meta({ description: 'Accepted for Mapbox compatibility when null; ignored' });

export const createTokenBody = z.strictObject({
  note: note.optional(),
  scopes: scopes.optional(),
  allowedUrls: allowedUrls.optional(),
  allowedApplications: allowedApplications.optional(),
  resources: resources.optional(),
});

export const createTemporaryTokenBody = z.strictObject({
  expires: z.string().regex(ISO_8601).meta({ description: 'ISO 8601 with a time zone; at most one hour from now' }),
  scopes,
});

export const updateTokenBody = z.strictObject({
  note: note.optional(),
  scopes: scopes.optional(),
  allowedUrls: allowedUrls.nullable().optional(),
  allowedApplications: allowedApplications.nullable().optional(),
  resources: resources.optional(),
});

export const listTokensQuery = z.object({
  default: z.enum(['true', 'false']).optional(),
  limit: z
    .string()
    .regex(/^(?:[1-9]|[1-9][0-9]|100)$/)
    .optional()
    .meta({ description: '1–100, default 100' }),
  sortby: z.enum(['created', 'modified']).optional(),
  start: z.string().max(64).optional().meta({ description: 'The cursor from a `Link` header, or a token id' }),
  usage: z.enum(['pk', 'sk']).optional(),
});

/** `admin-keys create --note` (SPEC §10): the same note rule as a token's. */
export const createAdminKeyInput = z.strictObject({ note: note.optional() });

/** `POST /admin/v1/accounts` (SPEC §10, §9): the password is checked for length by the service. */
export const adminCreateAccountBody = z.strictObject({
  username: z.string().meta({ description: '`^[a-z0-9][a-z0-9_-]{0,31}$`' }),
  password: z.string().optional().meta({ description: 'For the Access tokens page: 8–1,024 characters' }),
});

/** `PUT /admin/v1/accounts/{username}/password`. */
export const adminSetPasswordBody = z.strictObject({
  password: z.string().meta({ description: '8–1,024 characters' }),
});

/** `PATCH /admin/v1/accounts/{username}` (SPEC §10). */
export const adminPatchAccountBody = z.strictObject({
  disabled: z.boolean().meta({ description: 'true disables every token, session and sign-in of the account; false restores them' }),
});

/** `GET /admin/v1/accounts`. */
export const listAccountsQuery = z.object({
  limit: listTokensQuery.shape.limit,
  start: z.string().max(64).optional().meta({ description: 'The cursor from a `Link` header' }),
});

/** `GET /admin/v1/audit` (SPEC §10): each filter exact; `start` is the id the next page starts below. */
export const listAuditQuery = z.object({
  account: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)
    .optional()
    .meta({ description: 'Only entries about this account' }),
  action: z.string().max(64).optional().meta({ description: 'Only entries of this action, e.g. `token.update`' }),
  limit: listTokensQuery.shape.limit,
  start: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/)
    .optional()
    .meta({ description: 'The cursor from a `Link` header' }),
});

/** Fields whose failure has its own catalogue message rather than `<field> is invalid`. */
const SPECIAL: Record<string, () => AppError> = {
  usage: () => new AppError('usage_invalid'),
  username: () => new AppError('username_invalid'),
};

/**
 * Parses `value` or throws the catalogue error for its first problem: an unknown key is
 * `<key> is not allowed`, any other problem `<field> is invalid` / `are invalid`.
 * `onUnknownKey` lets an operation say a key is wrong rather than unknown.
 */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, onUnknownKey?: (key: string) => AppError | undefined): z.infer<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidField('body');
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const key = unknown.keys[0] ?? 'body';
    throw onUnknownKey?.(key) ?? fieldNotAllowed(key);
  }
  const field = String(issues[0]?.path[0] ?? 'body');
  throw SPECIAL[field]?.() ?? invalidField(field);
}

const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * A create's `Idempotency-Key` header (SPEC §9 [ext]): absent, or 1–255 visible ASCII characters
 * (a UUID, say). A repeated header is refused, not merged.
 * @throws AppError 422 `Idempotency-Key is invalid`.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(header)) throw invalidField('Idempotency-Key');
  return header;
}
