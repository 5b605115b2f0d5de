/** `/openapi.json`: an OpenAPI 3.1 document generated from the schemas that validate requests. */
import { z } from 'zod';
import { AUDIT_ACTIONS } from '../domain/audit.js';
import {
  adminCreateAccountBody,
  adminPatchAccountBody,
  adminSetPasswordBody,
  createTemporaryTokenBody,
  createTokenBody,
  listAccountsQuery,
  listAuditQuery,
  listTokensQuery,
  updateTokenBody,
} from '../services/inputs.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../services/passwords.js';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };

function schema(s: z.ZodType): JsonSchema {
  return z.toJSONSchema(s, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** `s` with `extra` merged into some of its properties: for rules a service checks by hand after the zod parse. */
function refined(s: JsonSchema, extra: Record<string, Record<string, unknown>>): JsonSchema {
  const properties = { ...s.properties };
  for (const [name, more] of Object.entries(extra)) properties[name] = { ...properties[name], ...more };
  return { ...s, properties };
}

const USERNAME = '^[a-z0-9][a-z0-9_-]{0,31}$';
/** What every account object on the admin API shows first. */
const ACCOUNT_FIELDS = { username: { type: 'string' }, created: { type: 'string', format: 'date-time' } };
// Checked by hand (isPassword, in code points, as JSON Schema counts them), not by the zod schemas.
const PASSWORD = { minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH };

const error = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
/** An error answer with what causes it, e.g. its message. */
const refusal = (description: string) => ({ ...error, description });
const auth = [{ accessToken: [] }, { bearer: [] }, { adminKey: [] }];
const adminAuth = [{ adminKey: [] }];
const username = { name: 'username', in: 'path', required: true, schema: { type: 'string', pattern: USERNAME } };
const tokenId = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^c[a-z0-9]{24}$' } };
const json = (s: unknown) => ({ 'application/json': { schema: s } });
const ok = (description: string, s: unknown = { type: 'object' }) => ({ description, content: json(s) });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** Every operation that needs the store: PostgreSQL unreachable, or SQLite's lock held past the wait. */
const unavailable = { 503: refusal('`Service Unavailable`: the store cannot be reached now (retry later)') };
const errors = { 401: error, 404: error, 422: error, 429: error, ...unavailable };

/** A keyset page (SPEC §4.2): the items, and `Link: <…>; rel="next"` while more remain. */
const page = (description: string, item: string) => ({
  description,
  headers: {
    Link: {
      description: 'While more remain: `<url>; rel="next"`, the next page with every list parameter repeated and `start` set',
      schema: { type: 'string' },
    },
  },
  content: json({ type: 'array', items: ref(item) }),
});

/** The refusals every admin operation can give before it reads the body (SPEC §10: 401 → 429). */
const adminRefusals = {
  401: refusal('`Unauthorized`: no admin key as `Authorization: Bearer`, or a malformed, unknown or deleted one (a key in `access_token` included)'),
  429: refusal("`Too Many Requests`: the key's bucket (`accountRateLimit` per 60 s) is spent; `Retry-After` says when to retry"),
  ...unavailable,
};
/** What the JSON wire rules refuse, on any operation that reads a body (a DELETE reads one if it is sent). */
const bodyRefusals = {
  400: refusal('`Body is not valid JSON`'),
  413: refusal('`Request body is too large`'),
  415: refusal('`Content-Type must be application/json`: a body of another type'),
};
const noSuchUser = { 404: refusal('`No such user`: the account in the path does not exist') };

function queryParameters(s: JsonSchema): unknown[] {
  return Object.entries(s.properties ?? {}).map(([name, p]) => ({ name, in: 'query', required: false, schema: p }));
}

export function buildOpenApi(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'tokenbox',
      version: '2',
      description:
        "Mapbox-compatible Tokens API v2, Scopes API and token Analytics, and the operators' admin API (`/admin/v1`: accounts and the audit log, admin keys only)",
    },
    components: {
      securitySchemes: {
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token' },
        bearer: { type: 'http', scheme: 'bearer' },
        adminKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An admin key (`tba_…`, made by `tokenbox admin-keys create`), accepted only as `Authorization: Bearer`: one in the `access_token` query parameter is refused (401). On the Tokens, Scopes and Analytics APIs it acts for every account with every catalog scope',
        },
      },
      schemas: {
        Error: { type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
        CreateToken: schema(createTokenBody),
        CreateTemporaryToken: schema(createTemporaryTokenBody),
        UpdateToken: schema(updateTokenBody),
        // The services check the username (isUsername) and the password (isPassword) by hand
        // after the zod parse; their rules are added here so the schema says what is accepted.
        CreateAccount: refined(schema(adminCreateAccountBody), { username: { pattern: USERNAME }, password: PASSWORD }),
        UpdateAccount: schema(adminPatchAccountBody),
        SetAccountPassword: refined(schema(adminSetPasswordBody), { password: PASSWORD }),
        // Response shapes: TypeScript interfaces in the services (AccountView, CreatedAccountView,
        // AuditEntryView), with no zod schema to generate them from.
        Account: {
          type: 'object',
          required: ['username', 'created', 'disabled', 'tokens'],
          properties: {
            ...ACCOUNT_FIELDS,
            disabled: { type: 'boolean' },
            tokens: { type: 'integer', minimum: 0, description: 'Stored pk and sk tokens, the default token included' },
          },
        },
        CreatedAccount: {
          type: 'object',
          required: ['username', 'created', 'disabled', 'defaultPublicToken'],
          properties: {
            ...ACCOUNT_FIELDS,
            disabled: { const: false },
            defaultPublicToken: { type: 'object', description: 'The default public token object, with `token`' },
          },
        },
        AuditEntry: {
          type: 'object',
          required: ['id', 'at', 'actor', 'account', 'action', 'target', 'ip'],
          description: 'Some actions add fields after these (`changes`, `replacement`, `defaultPublicToken`)',
          properties: {
            id: { type: 'integer', description: 'Grows with every entry' },
            at: { type: 'string', format: 'date-time' },
            actor: {
              type: 'object',
              required: ['kind', 'id'],
              properties: { kind: { enum: ['token', 'admin', 'cli', 'web'] }, id: { type: ['string', 'null'] } },
            },
            account: { type: ['string', 'null'] },
            action: { enum: [...AUDIT_ACTIONS] },
            target: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
          },
        },
      },
    },
    paths: {
      '/tokens/v2': {
        get: {
          operationId: 'retrieveToken',
          summary: 'Retrieve the presented token',
          security: [{ accessToken: [] }],
          responses: { 200: ok('Token status'), 422: error, 429: error },
        },
      },
      '/tokens/v2/{username}': {
        parameters: [username],
        get: {
          operationId: 'listTokens',
          summary: 'List tokens (needs tokens:read)',
          security: auth,
          parameters: queryParameters(schema(listTokensQuery)),
          responses: { 200: ok('Token objects', { type: 'array' }), ...errors },
        },
        post: {
          operationId: 'createToken',
          summary: 'Create a token, or a temporary token when the body has `expires` (needs tokens:write)',
          security: auth,
          requestBody: {
            required: false,
            content: json({ oneOf: [ref('CreateToken'), ref('CreateTemporaryToken')] }),
          },
          responses: { 200: ok('The new token'), 400: error, 413: error, 415: error, ...errors },
        },
      },
      '/tokens/v2/{username}/{id}': {
        parameters: [username, tokenId],
        patch: {
          operationId: 'updateToken',
          summary: 'Update a token (needs tokens:write)',
          security: auth,
          requestBody: { content: json(ref('UpdateToken')) },
          responses: { 200: ok('The token'), 400: error, 413: error, 415: error, ...errors },
        },
        delete: {
          operationId: 'deleteToken',
          summary: 'Delete a token; the default token is refreshed (needs tokens:write)',
          security: auth,
          responses: { 204: { description: 'Deleted' }, ...bodyRefusals, ...errors },
        },
      },
      '/scopes/v1/{username}': {
        parameters: [username],
        get: {
          operationId: 'listScopes',
          summary: 'List scopes (needs scopes:list)',
          security: auth,
          responses: { 200: ok('Scopes', { type: 'array' }), ...errors },
        },
      },
      '/analytics/v1/tokens/{username}/{id}': {
        parameters: [username, tokenId],
        get: {
          operationId: 'tokenAnalytics',
          summary: "A token's verified requests per UTC day (needs analytics:read); takes the token id, never the token",
          security: auth,
          parameters: [
            {
              name: 'period',
              in: 'query',
              required: false,
              description: 'Two ISO 8601 dates, comma-separated: inclusive UTC days, at most 366, not after today. Default: the 90 days ending today',
              schema: { type: 'string' },
            },
          ],
          responses: {
            200: ok('Requests per day', {
              type: 'object',
              required: ['period', 'timestamps', 'counts'],
              properties: {
                period: { type: 'array', items: { type: 'string', format: 'date-time' }, minItems: 2, maxItems: 2 },
                timestamps: { type: 'array', items: { type: 'string', format: 'date-time' } },
                counts: { type: 'array', items: { type: 'integer', minimum: 0 } },
              },
            }),
            ...errors,
          },
        },
      },
      '/admin/v1/accounts': {
        post: {
          operationId: 'createAccount',
          summary: 'Create an account with its default public token and, optionally, a password for the Access tokens page',
          security: adminAuth,
          requestBody: { required: true, description: 'A request with no body reads as `{}` (422 `username is invalid`)', content: json(ref('CreateAccount')) },
          responses: {
            201: ok('The account, with its default public token (`token` included)', ref('CreatedAccount')),
            ...bodyRefusals,
            ...adminRefusals,
            409: refusal('`Username is taken`'),
            422: refusal('`username is invalid` (also missing or not a string), `password is invalid`, `body is invalid`, `<key> is not allowed`'),
          },
        },
        get: {
          operationId: 'listAccounts',
          summary: 'List accounts, oldest first (ties by username), in keyset pages',
          security: adminAuth,
          parameters: queryParameters(
            // `start` is `<createdMs>.<username>`, parsed by hand in AdminAccountsService.
            refined(schema(listAccountsQuery), { start: { description: 'The opaque cursor from a `Link` header; anything else is 422 `start is invalid`' } }),
          ),
          responses: {
            200: page('One page of accounts', 'Account'),
            ...adminRefusals,
            422: refusal('`limit is invalid` (outside 1–100), `start is invalid`'),
          },
        },
      },
      '/admin/v1/accounts/{username}': {
        parameters: [username],
        get: {
          operationId: 'getAccount',
          summary: 'Look an account up',
          security: adminAuth,
          responses: { 200: ok('The account', ref('Account')), ...adminRefusals, ...noSuchUser },
        },
        patch: {
          operationId: 'updateAccount',
          summary: 'Disable or enable an account: disabling refuses every token, session and sign-in of it; enabling restores them',
          security: adminAuth,
          requestBody: { required: true, content: json(ref('UpdateAccount')) },
          responses: {
            200: ok('The account as it is now', ref('Account')),
            ...bodyRefusals,
            ...adminRefusals,
            ...noSuchUser,
            422: refusal('`disabled is invalid` (anything but a boolean), `body is invalid`, `<key> is not allowed`'),
          },
        },
        delete: {
          operationId: 'deleteAccount',
          summary: 'Delete an account, every token of it and its sessions, in one transaction; the username may be reused',
          security: adminAuth,
          responses: { 204: { description: 'Deleted' }, ...bodyRefusals, ...adminRefusals, ...noSuchUser },
        },
      },
      '/admin/v1/accounts/{username}/password': {
        parameters: [username],
        put: {
          operationId: 'setAccountPassword',
          summary: "Set the account's password for the Access tokens page; its signed-in sessions end",
          security: adminAuth,
          requestBody: { required: true, content: json(ref('SetAccountPassword')) },
          responses: {
            204: { description: 'Set' },
            ...bodyRefusals,
            ...adminRefusals,
            ...noSuchUser,
            422: refusal('`password is invalid`, `body is invalid`, `<key> is not allowed`'),
          },
        },
      },
      '/admin/v1/audit': {
        get: {
          operationId: 'listAudit',
          summary: 'Read the audit log, newest first, in keyset pages',
          security: adminAuth,
          parameters: queryParameters(
            // The zod schema takes any `action` of up to 64 characters; AuditService then refuses
            // one that is not in AUDIT_ACTIONS (422 `action is invalid`).
            refined(schema(listAuditQuery), { action: { enum: [...AUDIT_ACTIONS] } }),
          ),
          responses: {
            200: page('One page of entries', 'AuditEntry'),
            ...adminRefusals,
            422: refusal('`limit is invalid`, `start is invalid`, `action is invalid`, `account is invalid`'),
          },
        },
      },
      '/health': { get: { operationId: 'health', responses: { 200: ok('Up'), 503: ok('Store unreachable') } } },
    },
  };
}
