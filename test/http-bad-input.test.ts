/**
 * Hostile and malformed input (SPEC §3, §4.3): each answers its documented 4xx with the exact
 * catalogue message, never a 500, and changes nothing (the account's stored tokens, every field,
 * are identical before and after).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { startTestApp, type TestApp } from './helpers/app.js';

const ADMIN = ['tokens:read', 'tokens:write', 'scopes:list', 'styles:read'];
const JSON_TYPE = { 'content-type': 'application/json' };

interface Ctx {
  readonly sk: string;
  /** A pk of alice's: the id PATCH targets. */
  readonly pkId: string;
}

interface Case {
  readonly name: string;
  readonly request: (c: Ctx) => InjectOptions;
  readonly status: number;
  readonly message: string;
  readonly todo?: string;
}

const q = (c: Ctx) => `access_token=${c.sk}`;
/** The body request for each operation that takes a body: create (POST) and update (PATCH). */
const WRITES = [
  { op: 'POST', url: (c: Ctx) => `/tokens/v2/alice?${q(c)}` },
  { op: 'PATCH', url: (c: Ctx) => `/tokens/v2/alice/${c.pkId}?${q(c)}` },
] as const;

function bodyCases(name: string, payload: string, status: number, message: string, headers: Record<string, string> = JSON_TYPE): Case[] {
  return WRITES.map(({ op, url }) => ({ name: `${op} ${name}`, status, message, request: (c) => ({ method: op, url: url(c), headers, payload }) }));
}

function listCase(query: string, message: string): Case {
  return { name: `list ?${query}`, status: 422, message, request: (c) => ({ method: 'GET', url: `/tokens/v2/alice?${query}&${q(c)}` }) };
}

function tokenCase(name: string, token: (c: Ctx) => string): Case {
  return {
    name,
    status: 401,
    message: 'Unauthorized',
    request: (c) => ({ method: 'POST', url: `/tokens/v2/alice?access_token=${encodeURIComponent(token(c))}`, payload: {} }),
  };
}

const secretOf = (c: Ctx) => c.sk.split('.')[2] as string;
const json = (value: unknown) => JSON.stringify(value);
const deep = (open: string, close: string, n: number) => `${open.repeat(n)}${close.repeat(n)}`;
const emoji1000 = '🚀'.repeat(1000);

const CASES: Case[] = [
  // 400
  ...bodyCases('invalid JSON', '{"note": "x",}', 400, 'Body is not valid JSON'),
  ...bodyCases('a truncated JSON body', '{"note": "x"', 400, 'Body is not valid JSON'),
  ...bodyCases('an empty body with content-type json', '', 400, 'Body is not valid JSON'),
  // 401
  {
    name: 'a repeated access_token (same valid token twice)',
    status: 401,
    message: 'Unauthorized',
    request: (c) => ({ method: 'POST', url: `/tokens/v2/alice?${q(c)}&${q(c)}`, payload: {} }),
  },
  tokenCase('a token with 4 dot-parts', (c) => c.sk.replace(/\.(?=[^.]*$)/, '.x.')),
  tokenCase('a 10 KB token', (c) => `sk.${'A'.repeat(10 * 1024)}.${secretOf(c)}`),
  tokenCase('a non-base64 payload', (c) => `sk.%%%***.${secretOf(c)}`),
  tokenCase('a payload of valid base64 that is not JSON', (c) => `sk.${Buffer.from('hello world!').toString('base64')}.${secretOf(c)}`),
  tokenCase('an access_token with an invalid percent-escape', () => 'sk.%E0%A4%A'),
  // 404: usernames in the path. `..` is resolved by URL normalisation before routing, so it
  // lands on an unknown route (`Not found`); every other odd name is `No such user`.
  ...[
    ['a%2Fb', 'No such user'],
    ['alice%2F..%2Fbob', 'No such user'],
    ['..', 'Not found'],
    ['%2E%2E', 'Not found'],
    ['Alice', 'No such user'],
    ['ALICE', 'No such user'],
    ['alice%00', 'No such user'],
    ['%C3%A9', 'No such user'],
    ['a'.repeat(33), 'No such user'],
  ].map(([user, message]): Case => ({
    name: `username ${String(user).slice(0, 40)} in the path`,
    status: 404,
    message: message as string,
    request: (c) => ({ method: 'POST', url: `/tokens/v2/${user}?${q(c)}`, payload: {} }),
  })),
  {
    name: 'username of 101 characters in the path',
    status: 404,
    message: 'No such user',
    request: (c) => ({ method: 'POST', url: `/tokens/v2/${'a'.repeat(101)}?${q(c)}`, payload: {} }),
  },
  {
    name: 'a path with an invalid percent-escape (matches no route)',
    status: 404,
    message: 'Not found',
    request: (c) => ({ method: 'POST', url: `/tokens/v2/%zz?${q(c)}`, payload: {} }),
  },
  {
    name: 'PATCH an id of 101 characters',
    status: 404,
    message: 'Not found',
    request: (c) => ({ method: 'PATCH', url: `/tokens/v2/alice/c${'a'.repeat(100)}?${q(c)}`, payload: { note: 'x' } }),
  },
  {
    name: 'no token and a username of 101 characters',
    status: 401,
    message: 'Unauthorized',
    request: () => ({ method: 'POST', url: `/tokens/v2/${'a'.repeat(101)}`, payload: {} }),
  },
  {
    name: 'PATCH an id of unknown format',
    status: 404,
    message: 'Not found',
    request: (c) => ({ method: 'PATCH', url: `/tokens/v2/alice/not-an-id?${q(c)}`, payload: { note: 'x' } }),
  },
  {
    name: 'PATCH an id with uppercase letters',
    status: 404,
    message: 'Not found',
    request: (c) => ({ method: 'PATCH', url: `/tokens/v2/alice/${c.pkId.toUpperCase()}?${q(c)}`, payload: { note: 'x' } }),
  },
  {
    name: 'PATCH a path-traversal id',
    status: 404,
    message: 'Not found',
    request: (c) => ({ method: 'PATCH', url: `/tokens/v2/alice/..%2F..%2Fbob?${q(c)}`, payload: { note: 'x' } }),
  },
  // 413, 415
  ...bodyCases('a 5 MB body', json({ note: 'a'.repeat(5 * 1024 * 1024) }), 413, 'Request body is too large'),
  ...bodyCases('a body one byte over 256 KiB', `{"note":"x"}${' '.repeat(256 * 1024 - 11)}`, 413, 'Request body is too large'),
  ...bodyCases('a text/plain body', '{}', 415, 'Content-Type must be application/json', { 'content-type': 'text/plain' }),
  ...bodyCases('an application/x-www-form-urlencoded body', 'note=x', 415, 'Content-Type must be application/json', {
    'content-type': 'application/x-www-form-urlencoded',
  }),
  ...bodyCases('a body with content-type application/jsonx', '{}', 415, 'Content-Type must be application/json', { 'content-type': 'application/jsonx' }),
  // 422: the body's shape
  ...bodyCases('a JSON array body', '[]', 422, 'body is invalid'),
  ...bodyCases('a null body', 'null', 422, 'body is invalid'),
  ...bodyCases('a JSON string body', '"note"', 422, 'body is invalid'),
  ...bodyCases('a number for note', json({ note: 5 }), 422, 'note is invalid'),
  ...bodyCases('an object for note', json({ note: { text: 'x' } }), 422, 'note is invalid'),
  ...bodyCases('a 100,000-deep array for note', `{"note":${deep('[', ']', 100_000)}}`, 422, 'note is invalid'),
  ...bodyCases('a note of 1,001 code points', json({ note: `${emoji1000}x` }), 422, 'note is invalid'),
  ...['\u0000', '\n', '\t', '\u001f', '\u007f', '\ud800', 'x\udc00'].flatMap((ch) =>
    bodyCases(`a note with ${json(ch)}`, json({ note: `a${ch}b` }), 422, 'note is invalid'),
  ),
  ...bodyCases('a string for scopes', json({ scopes: 'styles:read' }), 422, 'scopes are invalid'),
  ...bodyCases('nested arrays in scopes', json({ scopes: [['styles:read']] }), 422, 'scopes are invalid'),
  ...bodyCases('objects in scopes', json({ scopes: [{ id: 'styles:read' }] }), 422, 'scopes are invalid'),
  ...bodyCases('10,000 scopes', json({ scopes: Array.from({ length: 10_000 }, () => 'styles:read') }), 422, 'scopes are invalid'),
  ...bodyCases('a scope outside the grammar', json({ scopes: ['Styles:Read'] }), 422, 'scopes are invalid'),
  ...bodyCases('an object for allowedUrls', json({ allowedUrls: { a: 'example.com' } }), 422, 'allowedUrls are invalid'),
  ...bodyCases('a wildcard in allowedUrls', json({ allowedUrls: ['*.example.com'] }), 422, 'allowedUrls are invalid'),
  ...bodyCases('101 allowedUrls', json({ allowedUrls: Array.from({ length: 101 }, (_, i) => `h${i}.example.com`) }), 422, 'allowedUrls are invalid'),
  ...bodyCases('a 2,049-character allowedUrl', json({ allowedUrls: [`${'a'.repeat(2037)}.example.com`] }), 422, 'allowedUrls are invalid'),
  ...bodyCases('a string for allowedApplications', json({ allowedApplications: 'ios' }), 422, 'allowedApplications are invalid'),
  ...bodyCases('resources: []', json({ resources: [] }), 422, 'resources are invalid'),
  ...bodyCases('an unknown field', json({ color: 'red' }), 422, 'color is not allowed'),
  ...bodyCases('createdBy from the wire', json({ createdBy: 'cli' }), 422, 'createdBy is not allowed'),
  ...bodyCases('a __proto__ key', '{"__proto__": {"note": "polluted"}}', 422, '__proto__ is not allowed'),
  ...bodyCases('a constructor key', '{"constructor": {"prototype": {"note": "polluted"}}}', 422, 'constructor is not allowed'),
  ...bodyCases('an unknown key with control characters', '{"a\\u0000b\\nc": 1}', 422, 'a?b?c is not allowed'),
  // 422: list parameters
  listCase('limit=-1', 'limit is invalid'),
  listCase('limit=abc', 'limit is invalid'),
  listCase('limit=100000', 'limit is invalid'),
  listCase('limit=0', 'limit is invalid'),
  listCase('limit=', 'limit is invalid'),
  listCase('limit=1.5', 'limit is invalid'),
  listCase('start=garbage', 'start is invalid'),
  listCase('start=', 'start is invalid'),
  listCase(`start=${'9'.repeat(80)}`, 'start is invalid'),
  listCase('start=-1.c000000000000000000000000', 'start is invalid'),
  listCase('start=c000000000000000000000000', 'start is invalid'),
  listCase('sortby=name', 'sortby is invalid'),
  listCase('default=yes', 'default is invalid'),
  listCase('usage=tk', 'usage must be pk or sk'),
];

type Snapshot = unknown;

async function snapshot(t: TestApp): Promise<Snapshot> {
  const [alice, accounts] = await Promise.all([t.app.store.listTokens('alice', { sortBy: 'created', after: null, limit: 1000 }), t.app.store.listAccounts()]);
  return { alice, accounts };
}

async function run(c: Case): Promise<void> {
  const t = await startTestApp();
  try {
    await t.account('alice');
    await t.account('bob');
    const sk = await t.token('alice', ADMIN);
    const pk = await t.token('alice', ['styles:read'], { note: 'original' });
    const ctx: Ctx = { sk: sk.token, pkId: pk.id };
    const before = await snapshot(t);
    t.clock.advance(1000); // an accidental write would carry a new `modified`
    const res: LightMyRequestResponse = await t.server.inject(c.request(ctx));
    assert.notEqual(res.statusCode, 500, res.body);
    assert.equal(res.statusCode, c.status, res.body.slice(0, 300));
    assert.deepEqual(res.json(), { message: c.message });
    assert.equal(res.headers['access-control-allow-origin'], '*', 'the wire rules hold on every refusal');
    assert.ok(!res.body.includes(sk.token), 'a refusal never echoes the token');
    assert.deepEqual(await snapshot(t), before, 'nothing changed');
  } finally {
    await t.close();
  }
}

const byStatus = new Map<number, Case[]>();
for (const c of CASES) byStatus.set(c.status, [...(byStatus.get(c.status) ?? []), c]);

for (const [status, cases] of [...byStatus].sort(([a], [b]) => a - b)) {
  describe(`${status}`, () => {
    for (const c of cases) it(`${c.name}: ${c.message}`, c.todo === undefined ? {} : { todo: c.todo }, () => run(c));
  });
}

describe('what must still succeed next to the refusals above', () => {
  it('a body of exactly 256 KiB is accepted', async () => {
    const t = await startTestApp();
    try {
      await t.account('alice');
      const sk = await t.token('alice', ADMIN);
      const payload = `{"note":"x"}${' '.repeat(256 * 1024 - 12)}`;
      assert.equal(Buffer.byteLength(payload), 256 * 1024);
      const res = await t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${sk.token}`, headers: JSON_TYPE, payload });
      assert.equal(res.statusCode, 200, res.body);
    } finally {
      await t.close();
    }
  });

  it('Unicode notes (1,000 emoji, CJK, RTL, combining marks, U+0080) round-trip through create and update', async () => {
    const t = await startTestApp();
    try {
      await t.account('alice');
      const sk = await t.token('alice', ADMIN);
      for (const note of [emoji1000, '東京タワー', 'שלום עולם', 'e\u0301te\u0301', '\u0080\u00a0\u2028', '']) {
        const created = await t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${sk.token}`, payload: { note } });
        assert.equal(created.statusCode, 200, created.body);
        const { id } = created.json<{ id: string }>();
        assert.equal(created.json<{ note: string }>().note, note);
        const reversed = [...note].reverse().join(''); // by code point: still valid, and different
        const updated = await t.server.inject({ method: 'PATCH', url: `/tokens/v2/alice/${id}?access_token=${sk.token}`, payload: { note: reversed } });
        assert.equal(updated.json<{ note: string }>().note, reversed);
        assert.equal((await t.app.store.getToken('alice', id))?.note, reversed);
      }
    } finally {
      await t.close();
    }
  });
});
