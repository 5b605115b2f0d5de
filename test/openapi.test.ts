/**
 * `GET /openapi.json` (SPEC §3, §10): a well-formed OpenAPI 3.1 document that lists every route
 * the server registers under `/tokens/`, `/scopes/`, `/analytics/` and `/admin/`, whose request
 * schemas are the zod schemas the handlers parse with, and whose verdicts on request bodies and
 * query values agree with the server's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { buildServer } from '../src/http/server.js';
import { adminCreateAccountBody, adminPatchAccountBody, adminSetPasswordBody } from '../src/services/inputs.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: object;
}
interface Operation {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, unknown>;
}
type PathItem = Record<string, unknown> & { parameters?: Parameter[] };
interface Doc {
  openapi: string;
  info: { description: string };
  components: { schemas: Record<string, Record<string, unknown>>; securitySchemes: Record<string, Record<string, unknown>> };
  paths: Record<string, PathItem>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** The surfaces the document must cover completely. */
const PREFIXES = ['/tokens/', '/scopes/', '/analytics/', '/admin/'];
const covered = (path: string) => PREFIXES.some((p) => path.startsWith(p));

function operations(doc: Doc): Array<{ method: string; path: string; op: Operation; item: PathItem }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op: op as Operation, item })),
  );
}

function operation(doc: Doc, operationId: string): { method: string; path: string; op: Operation } {
  const found = operations(doc).find((o) => o.op.operationId === operationId);
  assert.ok(found, `no operation ${operationId}`);
  return found;
}

/** Resolves a local `$ref` (`#/a/b`), or undefined when it points nowhere. */
function resolve(doc: Doc, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function refsIn(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) refsIn(item, found);
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else refsIn(value, found);
    }
  }
  return found;
}

/** The document's JSON Schema turned into a validator: the document's verdict, independent of the handlers' zod schemas. */
function validator(doc: Doc, schema: object): z.ZodType {
  const ref = (schema as { $ref?: string }).$ref;
  const target = ref === undefined ? schema : resolve(doc, ref);
  assert.ok(typeof target === 'object' && target !== null, `unresolved ${ref}`);
  return z.fromJSONSchema(target as Parameters<typeof z.fromJSONSchema>[0]);
}

function bodySchema(doc: Doc, operationId: string): z.ZodType {
  const schema = operation(doc, operationId).op.requestBody?.content['application/json']?.schema;
  assert.ok(schema, `${operationId} has no JSON request body`);
  return validator(doc, schema);
}

/**
 * Every `method path` the server registers, read as it registers them: a server built like
 * `startTestApp`'s, on the same app, with an `onRoute` hook added before its routes are.
 */
async function registeredRoutes(t: TestApp): Promise<Array<{ method: string; url: string }>> {
  const server = buildServer(t.app, { logger: false });
  const routes: Array<{ method: string; url: string }> = [];
  server.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method: method.toLowerCase(), url: route.url });
  });
  await server.ready();
  await server.close();
  return routes;
}

const templated = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('GET /openapi.json', () => {
  let t: TestApp;
  let doc: Doc;
  let key: string;
  before(async () => {
    t = await startTestApp();
    await t.account('alice');
    key = (await t.app.adminKeys.create('openapi test')).key;
    const res = await t.server.inject({ url: '/openapi.json' });
    assert.equal(res.statusCode, 200, res.body);
    doc = res.json<Doc>();
  });
  after(async () => {
    await t?.close();
  });

  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    t.server.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload !== undefined && { payload }) });

  it('is OpenAPI 3.1 whose every $ref resolves inside the document', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.match(doc.info.description, /admin API/);
    const refs = refsIn(doc);
    assert.ok(refs.length > 0);
    for (const ref of refs) assert.notEqual(resolve(doc, ref), undefined, `${ref} does not resolve`);
  });

  it("every operation has a unique operationId, a 2xx answer, and only defined security schemes; every path's {param} is a path parameter", () => {
    const ids = operations(doc).map(({ op }) => op.operationId);
    for (const id of ids) assert.match(String(id), /^[a-z][A-Za-z0-9]*$/);
    assert.equal(new Set(ids).size, ids.length, `duplicate operationIds: ${ids.join(', ')}`);
    for (const { method, path, op, item } of operations(doc)) {
      const name = `${method} ${path}`;
      const inPath = [...(item.parameters ?? []), ...(op.parameters ?? [])].filter((p) => p.in === 'path');
      const templateNames = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      assert.deepEqual(inPath.map((p) => p.name).sort(), templateNames.sort(), name);
      for (const p of inPath) assert.equal(p.required, true, `${name}: path parameter ${p.name}`);
      for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])]) assert.ok(['path', 'query', 'header'].includes(p.in), name);
      assert.ok(
        Object.keys(op.responses).some((status) => /^2\d\d$/.test(status)),
        `${name} answers no 2xx`,
      );
      for (const status of Object.keys(op.responses)) assert.match(status, /^[1-5]\d\d$/, name);
      for (const requirement of op.security ?? []) {
        for (const scheme of Object.keys(requirement)) assert.ok(doc.components.securitySchemes[scheme], `${name}: ${scheme}`);
      }
    }
  });

  it('lists every route the server registers under /tokens/, /scopes/, /analytics/ and /admin/, and nothing it does not serve', async () => {
    const routes = await registeredRoutes(t);
    const gets = new Set(routes.filter((r) => r.method === 'get').map((r) => r.url));
    const served = routes
      .filter((r) => covered(r.url))
      // OPTIONS: the CORS preflights (`/tokens/*`, `/admin/*`), answered 204 without auth.
      // HEAD: the one Fastify adds beside each GET; a HEAD route of its own is listed.
      .filter((r) => r.method !== 'options' && !(r.method === 'head' && gets.has(r.url)))
      .map((r) => `${r.method} ${templated(r.url)}`)
      .sort();
    assert.ok(served.length >= 13, served.join('\n'));
    const documented = operations(doc)
      .filter(({ path }) => covered(path))
      .map(({ method, path }) => `${method} ${path}`)
      .sort();
    assert.deepEqual(documented, served);
    // And the running server answers every documented operation (`/health` included).
    for (const { method, path } of operations(doc)) {
      const url = path.replace(/\{([^}]+)\}/g, ':$1');
      assert.ok(t.server.hasRoute({ method: method.toUpperCase(), url }), `${method} ${path} is not registered`);
    }
  });

  it('lists the admin operations, with their parameters, documented status codes and admin keys as Bearer only', () => {
    const expected: Record<string, [string, string, string[]]> = {
      createAccount: ['post', '/admin/v1/accounts', ['201', '400', '401', '409', '413', '415', '422', '429', '503']],
      listAccounts: ['get', '/admin/v1/accounts', ['200', '401', '422', '429', '503']],
      getAccount: ['get', '/admin/v1/accounts/{username}', ['200', '401', '404', '429', '503']],
      updateAccount: ['patch', '/admin/v1/accounts/{username}', ['200', '400', '401', '404', '413', '415', '422', '429', '503']],
      deleteAccount: ['delete', '/admin/v1/accounts/{username}', ['204', '400', '401', '404', '413', '415', '429', '503']],
      setAccountPassword: ['put', '/admin/v1/accounts/{username}/password', ['204', '400', '401', '404', '413', '415', '422', '429', '503']],
      listAudit: ['get', '/admin/v1/audit', ['200', '401', '422', '429', '503']],
    };
    const adminOps = operations(doc).filter(({ path }) => path.startsWith('/admin/'));
    assert.deepEqual(adminOps.map(({ op }) => op.operationId).sort(), Object.keys(expected).sort());
    for (const [id, [method, path, statuses]] of Object.entries(expected)) {
      const found = operation(doc, id);
      assert.deepEqual([found.method, found.path], [method, path], id);
      assert.deepEqual(Object.keys(found.op.responses).sort(), statuses, id);
      assert.deepEqual(found.op.security, [{ adminKey: [] }], id);
    }
    const query = (id: string) => (operation(doc, id).op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    assert.deepEqual(query('listAccounts'), ['limit', 'start']);
    assert.deepEqual(query('listAudit'), ['account', 'action', 'limit', 'start']);
    assert.deepEqual(doc.components.securitySchemes.adminKey, { ...doc.components.securitySchemes.adminKey, type: 'http', scheme: 'bearer' });
  });

  it("admin request bodies are the handlers' zod schemas", () => {
    for (const [name, source] of [
      ['CreateAccount', adminCreateAccountBody],
      ['UpdateAccount', adminPatchAccountBody],
      ['SetAccountPassword', adminSetPasswordBody],
    ] as const) {
      const generated = z.toJSONSchema(source, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown> & { properties: object };
      const documented = doc.components.schemas[name] as Record<string, unknown> & { properties: object };
      assert.deepEqual(Object.keys(documented.properties), Object.keys(generated.properties), name);
      assert.deepEqual(documented.required, generated.required, name);
      assert.equal(documented.additionalProperties, false, name);
    }
  });

  it("the document's request body schemas accept exactly what the server accepts, and its refusals are the documented ones", async () => {
    const cases: Array<[operationId: string, method: 'POST' | 'PATCH' | 'PUT', url: string, body: object, status: number, message?: string]> = [
      ['createAccount', 'POST', '/admin/v1/accounts', { username: 'carol', password: 'correct horse battery staple' }, 201],
      ['createAccount', 'POST', '/admin/v1/accounts', { username: 'dave' }, 201],
      ['createAccount', 'POST', '/admin/v1/accounts', { username: 'erin', admin: true }, 422, 'admin is not allowed'],
      ['createAccount', 'POST', '/admin/v1/accounts', { username: 'Frank' }, 422, 'username is invalid'],
      ['createAccount', 'POST', '/admin/v1/accounts', { username: 'gina', password: 'short' }, 422, 'password is invalid'],
      ['createAccount', 'POST', '/admin/v1/accounts', {}, 422, 'username is invalid'],
      ['updateAccount', 'PATCH', '/admin/v1/accounts/alice', { disabled: true }, 200],
      ['updateAccount', 'PATCH', '/admin/v1/accounts/alice', { disabled: 'yes' }, 422, 'disabled is invalid'],
      ['updateAccount', 'PATCH', '/admin/v1/accounts/alice', { disabled: false, note: 'x' }, 422, 'note is not allowed'],
      ['setAccountPassword', 'PUT', '/admin/v1/accounts/alice/password', { password: 'a new password' }, 204],
      ['setAccountPassword', 'PUT', '/admin/v1/accounts/alice/password', { password: 'short' }, 422, 'password is invalid'],
    ];
    for (const [id, method, url, body, status, message] of cases) {
      const name = `${id} ${JSON.stringify(body)}`;
      const accepted = bodySchema(doc, id).safeParse(body).success;
      const res = await admin(method, url, body);
      assert.equal(res.statusCode, status, `${name}: ${res.body}`);
      assert.equal(accepted, status < 300, `${name}: the document ${accepted ? 'accepts' : 'refuses'} it, the server answers ${status}`);
      assert.ok(Object.hasOwn(operation(doc, id).op.responses, String(status)), `${name}: ${status} is not documented`);
      if (message !== undefined) assert.deepEqual(res.json(), { message });
    }
    assert.equal((await admin('GET', '/admin/v1/accounts/carol')).statusCode, 200);
    assert.equal((await admin('GET', '/admin/v1/accounts/erin')).statusCode, 404, 'a refused create creates nothing');
  });

  it("the document's query parameter schemas agree with the server on the audit log's action and the lists' limit", async () => {
    const param = (id: string, name: string) => {
      const found = operation(doc, id).op.parameters?.find((p) => p.name === name);
      assert.ok(found, `${id} ${name}`);
      return validator(doc, found.schema);
    };
    const cases: Array<[operationId: string, path: string, name: string, value: string, status: number]> = [
      ['listAudit', '/admin/v1/audit', 'action', 'token.update', 200],
      ['listAudit', '/admin/v1/audit', 'action', 'token.explode', 422],
      ['listAudit', '/admin/v1/audit', 'account', 'alice', 200],
      ['listAudit', '/admin/v1/audit', 'account', 'Alice', 422],
      ['listAccounts', '/admin/v1/accounts', 'limit', '100', 200],
      ['listAccounts', '/admin/v1/accounts', 'limit', '0', 422],
    ];
    for (const [id, path, name, value, status] of cases) {
      const res = await admin('GET', `${path}?${name}=${encodeURIComponent(value)}`);
      assert.equal(res.statusCode, status, `${id} ${name}=${value}: ${res.body}`);
      assert.equal(param(id, name).safeParse(value).success, status === 200, `${id} ${name}=${value}`);
      if (status === 422) assert.deepEqual(res.json(), { message: `${name} is invalid` });
    }
  });

  it('an admin key in the query string is refused, as the security scheme says', async () => {
    const res = await t.server.inject({ url: `/admin/v1/accounts?access_token=${key}` });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { message: 'Unauthorized' });
  });
});
