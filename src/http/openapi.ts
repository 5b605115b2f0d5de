/** `/openapi.json`: an OpenAPI 3.1 document generated from the schemas that validate requests. */
import { z } from 'zod';
import { createTemporaryTokenBody, createTokenBody, listTokensQuery, updateTokenBody } from '../services/inputs.js';

function schema(s: z.ZodType): unknown {
  return z.toJSONSchema(s, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
}

const error = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const auth = [{ accessToken: [] }, { bearer: [] }];
const username = { name: 'username', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' } };
const tokenId = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^c[a-z0-9]{24}$' } };
const json = (s: unknown) => ({ 'application/json': { schema: s } });
const ok = (description: string, s: unknown = { type: 'object' }) => ({ description, content: json(s) });
const errors = { 401: error, 404: error, 422: error, 429: error };

function queryParameters(): unknown[] {
  const doc = schema(listTokensQuery) as { properties: Record<string, unknown> };
  return Object.entries(doc.properties).map(([name, s]) => ({ name, in: 'query', required: false, schema: s }));
}

export function buildOpenApi(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'tokenbox', version: '2', description: 'Mapbox-compatible Tokens API v2, Scopes API and token Analytics' },
    components: {
      securitySchemes: {
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
      schemas: {
        Error: { type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
        CreateToken: schema(createTokenBody),
        CreateTemporaryToken: schema(createTemporaryTokenBody),
        UpdateToken: schema(updateTokenBody),
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
          parameters: queryParameters(),
          responses: { 200: ok('Token objects', { type: 'array' }), ...errors },
        },
        post: {
          operationId: 'createToken',
          summary: 'Create a token, or a temporary token when the body has `expires` (needs tokens:write)',
          security: auth,
          requestBody: {
            required: false,
            content: json({ oneOf: [{ $ref: '#/components/schemas/CreateToken' }, { $ref: '#/components/schemas/CreateTemporaryToken' }] }),
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
          requestBody: { content: json({ $ref: '#/components/schemas/UpdateToken' }) },
          responses: { 200: ok('The token'), 400: error, 413: error, 415: error, ...errors },
        },
        delete: {
          operationId: 'deleteToken',
          summary: 'Delete a token; the default token is refreshed (needs tokens:write)',
          security: auth,
          responses: { 204: { description: 'Deleted' }, ...errors },
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
      '/health': { get: { operationId: 'health', responses: { 200: ok('Up'), 503: ok('Store unreachable') } } },
    },
  };
}
