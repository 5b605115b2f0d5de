/**
 * End to end with the official client: the real `tokenbox` CLI (compiled, in child processes),
 * driven by the unmodified `@mapbox/mapbox-sdk` tokens service, on each store: a real SQLite data
 * directory, and a real PostgreSQL (a schema of its own). On SQLite, TOKENBOX_SECRET is unset, so
 * the generated `secret.key` path is the one exercised; PostgreSQL requires the shared secret.
 * The server is stopped with SIGTERM, restarted on the same store, and finally stopped with two
 * quick SIGINTs (SPEC §8). Without PostgreSQL its run is reported as skipped with the reason,
 * except under CI, where that is a failure.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mbxClient from '@mapbox/mapbox-sdk';
import mbxTokens, { type MapiError, type MapiRequest, type MapiResponse } from '@mapbox/mapbox-sdk/services/tokens.js';

import { ensureBuilt, cli, cliJson, children, startServer, stopServer, storeArgs, type RunningServer, type StoreLocation } from './helpers/cli.js';
import { TEST_SECRET } from './helpers/app.js';
import { createTestSchema, postgresMissing } from './helpers/postgres.js';
import type { TokenObject } from '../src/services/token-view.js';
import { canRun } from './helpers/requirements.js';

// ---------------------------------------------------------------------------------------------
// SDK helpers
// ---------------------------------------------------------------------------------------------

interface GenericClient {
  createRequest(options: { method: string; path: string; query?: Record<string, string | number> }): MapiRequest;
}

interface TemporaryToken {
  token: string;
  issued_at: string;
  expires: string;
  expires_in: number;
}

interface Retrieved {
  code: string;
  token?: Record<string, unknown>;
}

const PUBLIC_SCOPES = ['styles:tiles', 'styles:read', 'fonts:read', 'datasets:read', 'vision:read'];
const SECRET_SCOPE_COUNT = 28;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const STORED_TOKEN = /^(pk|sk)\.([A-Za-z0-9]+)\.([A-Za-z0-9_-]{22})$/;
const TEMPORARY_TOKEN = /^tk\.([A-Za-z0-9]+)\.([A-Za-z0-9_-]{22})$/;

async function send<T>(request: MapiRequest): Promise<{ body: T; response: MapiResponse }> {
  const response = await request.send();
  return { body: response.body as T, response };
}

/** The request rejects with a MapiError carrying the spec's exact status and message. */
async function rejectsWith(request: MapiRequest, status: number, message: string): Promise<void> {
  await assert.rejects(request.send(), (error: MapiError) => {
    assert.equal(error.type, 'HttpError');
    assert.equal(error.statusCode, status);
    assert.deepEqual(typeof error.body === 'object' && error.body !== null ? error.body.message : error.body, message);
    assert.equal(error.message, message);
    return true;
  });
}

function decodePayload(payloadText: string): string {
  return Buffer.from(payloadText, 'base64').toString('utf8');
}

function withoutLastUsed(tokens: readonly TokenObject[]): TokenObject[] {
  return tokens.map(({ lastUsed: _lastUsed, ...rest }) => rest);
}

/** Follows `nextPage()` from a first request until null; every page's body and Link header. */
async function collectPages(first: MapiRequest, origin: string, maxPages = 100): Promise<{ pages: TokenObject[][]; links: string[] }> {
  const pages: TokenObject[][] = [];
  const links: string[] = [];
  let request: MapiRequest | null = first;
  while (request) {
    assert.ok(pages.length < maxPages, 'pagination does not end');
    const response: MapiResponse = await request.send();
    pages.push(response.body as TokenObject[]);
    const link: string | undefined = response.headers.link;
    if (link !== undefined) {
      links.push(link);
      assert.ok(!link.includes('access_token'), `Link carries a token: ${link}`);
      assert.ok(link.startsWith(`<${origin}/tokens/v2/alice?`), `Link points elsewhere: ${link}`);
      assert.match(link, /; rel="next"$/);
    }
    assert.equal(response.hasNextPage(), link !== undefined);
    request = response.nextPage();
  }
  return { pages, links };
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/** A store for one run of the suite: where it is, the environment its commands need, and its removal. */
interface Backend {
  readonly name: 'sqlite' | 'postgres';
  open(): Promise<{ where: StoreLocation; env: Record<string, string>; remove: () => Promise<void> }>;
}

const sqlite: Backend = {
  name: 'sqlite',
  open: async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-e2e-sdk-'));
    return { where: dataDir, env: {}, remove: async () => rmSync(dataDir, { recursive: true, force: true }) };
  },
};

const postgres: Backend = {
  name: 'postgres',
  open: async () => {
    const schema = await createTestSchema();
    return { where: { databaseUrl: schema.url }, env: { TOKENBOX_SECRET: TEST_SECRET }, remove: () => schema.drop() };
  },
};

runSdkSuite(sqlite);
if (canRun('e2e: the official SDK on postgres', await postgresMissing())) runSdkSuite(postgres);

function runSdkSuite(backend: Backend): void {
  describe(`e2e: the official SDK against the real CLI and server (${backend.name})`, { timeout: 180_000 }, () => {
    let where: StoreLocation;
    let env: Record<string, string>;
    let remove: (() => Promise<void>) | undefined;
    let server: RunningServer;
    let sk: TokenObject & { token: string };
    let defaultPk: TokenObject & { token: string };
    let tokens: ReturnType<typeof mbxTokens>;
    /** A tk minted before the restart, valid for ten minutes. */
    let tkBeforeRestart: string;
    /** The token list (API order) just before the SIGTERM. */
    let listBeforeStop: TokenObject[];
    /** A deleted sk's string, which must keep answering 401 after the restart. */
    let deletedSk: string;

    before(async () => {
      ensureBuilt();
      ({ where, env, remove } = await backend.open());
      const account = await cliJson<{ username: string; defaultPublicToken: TokenObject & { token: string } }>(
        ['accounts', 'create', 'alice', ...storeArgs(where)],
        env,
      );
      defaultPk = account.defaultPublicToken;
      sk = await cliJson<TokenObject & { token: string }>(
        ['tokens', 'create', 'alice', '--scopes', 'tokens:read,tokens:write,scopes:list,styles:read', ...storeArgs(where)],
        env,
      );
      server = await startServer(where, env);
      tokens = mbxTokens({ accessToken: sk.token, origin: server.origin });
    });

    after(async () => {
      for (const child of children) child.kill('SIGKILL');
      await remove?.();
    });

    if (backend.name === 'sqlite') {
      it('generates secret.key with mode 0600 when TOKENBOX_SECRET is unset', () => {
        const path = join(where as string, 'secret.key');
        assert.ok(existsSync(path));
        assert.equal(statSync(path).mode & 0o777, 0o600);
      });
    } else {
      it('with a database URL, serve refuses to start without TOKENBOX_SECRET (exit 2), generating none', async () => {
        const result = await cli(['serve', ...storeArgs(where), '--port', '0']);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /TOKENBOX_SECRET must be set with a database URL/);
      });
    }

    it('listTokens: the CLI-made tokens, newest first; pk strings shown, sk strings never', async () => {
      const { body, response } = await send<TokenObject[]>(tokens.listTokens());
      assert.equal(response.statusCode, 200);
      assert.deepEqual(
        body.map((t) => t.id),
        [sk.id, defaultPk.id],
      );
      const [listedSk, listedPk] = body as [TokenObject, TokenObject];
      assert.equal(listedSk.usage, 'sk');
      assert.equal(listedSk.token, undefined);
      assert.deepEqual(listedSk.scopes, ['tokens:read', 'tokens:write', 'scopes:list', 'styles:read']);
      assert.equal(listedPk.token, defaultPk.token);
      assert.equal(listedPk.default, true);
      assert.equal(listedPk.note, 'Default Public Token');
      assert.deepEqual([...listedPk.scopes].sort(), [...PUBLIC_SCOPES].sort());
      assert.equal(response.headers['cache-control'], 'no-store');
    });

    it('createToken: a pk and an sk, with the token string and the spec payload', async () => {
      const { body: pk } = await send<TokenObject>(tokens.createToken({ note: 'sdk pk', scopes: ['styles:read'] }));
      assert.deepEqual(Object.keys(pk).sort(), ['client', 'created', 'default', 'id', 'modified', 'note', 'scopes', 'token', 'usage']);
      assert.equal(pk.client, 'api');
      assert.equal(pk.usage, 'pk');
      assert.equal(pk.note, 'sdk pk');
      assert.equal(pk.default, false);
      assert.deepEqual(pk.scopes, ['styles:read']);
      assert.match(pk.created, ISO_MS);
      assert.match(pk.modified, ISO_MS);
      assert.match(pk.id, /^c[a-z0-9]{24}$/);
      const match = STORED_TOKEN.exec(pk.token ?? '');
      assert.ok(match, `bad pk string ${pk.token}`);
      assert.equal(match[1], 'pk');
      assert.equal(decodePayload(match[2] as string), `{"u":"alice","a":"${pk.id}"}`);

      const { body: created } = await send<TokenObject>(
        tokens.createToken({ note: 'sdk sk', scopes: ['tokens:read', 'styles:read'], allowedUrls: ['example.com'] }),
      );
      assert.equal(created.usage, 'sk');
      assert.deepEqual(created.allowedUrls, ['example.com']);
      assert.match(created.token ?? '', /^sk\./);
      // An sk string is shown once: the list never has it.
      const { body: list } = await send<TokenObject[]>(tokens.listTokens());
      const listed = list.find((t) => t.id === created.id);
      assert.ok(listed);
      assert.equal(listed.token, undefined);
      // Newest first (the two may share a millisecond, and then the larger id comes first).
      assert.deepEqual(new Set(list.map((t) => t.id).slice(0, 2)), new Set([created.id, pk.id]));
    });

    it('createToken errors surface as MapiError with the exact messages', async () => {
      // A scope the caller lacks, an unknown scope, and resources that are not null.
      await rejectsWith(tokens.createToken({ scopes: ['map:write'] }), 422, 'scopes are invalid');
      await rejectsWith(tokens.createToken({ scopes: ['nosuch:scope'] }), 422, 'scopes are invalid');
      await rejectsWith(tokens.createToken({ scopes: ['styles:read'], resources: ['x'] }), 422, 'resources are invalid');
      // The default pk lacks tokens:read / tokens:write / scopes:list: 404, never 403.
      const pkClient = mbxTokens({ accessToken: defaultPk.token, origin: server.origin });
      await rejectsWith(pkClient.listTokens(), 404, 'Not found');
      await rejectsWith(pkClient.createToken({ note: 'x' }), 404, 'Not found');
      await rejectsWith(pkClient.listScopes(), 404, 'Not found');
      // A forged secret: 401.
      const forged = `${sk.token.slice(0, -22)}${sk.token.endsWith('A'.repeat(22)) ? 'B' : 'A'}${'A'.repeat(21)}`;
      await rejectsWith(mbxTokens({ accessToken: forged, origin: server.origin }).listTokens(), 401, 'Unauthorized');
    });

    it('updateToken: note, allowedUrls set and removed with null; the default token keeps its scopes', async () => {
      const { body: pk } = await send<TokenObject>(tokens.createToken({ note: 'to update', scopes: ['styles:read'] }));
      const { body: updated } = await send<TokenObject>(tokens.updateToken({ tokenId: pk.id, note: 'updated', allowedUrls: ['https://app.example.com/maps'] }));
      assert.equal(updated.id, pk.id);
      assert.equal(updated.note, 'updated');
      assert.deepEqual(updated.allowedUrls, ['https://app.example.com/maps']);
      assert.equal(updated.token, pk.token, 'a pk keeps its string and shows it');
      assert.ok(Date.parse(updated.modified) >= Date.parse(pk.modified));
      const { body: cleared } = await send<TokenObject>(tokens.updateToken({ tokenId: pk.id, allowedUrls: null, resources: null }));
      assert.equal(Object.hasOwn(cleared, 'allowedUrls'), false);
      assert.equal(cleared.note, 'updated');

      await rejectsWith(tokens.updateToken({ tokenId: pk.id, scopes: ['tokens:read'] }), 422, 'scopes are invalid');
      await rejectsWith(tokens.updateToken({ tokenId: defaultPk.id, scopes: ['styles:read'] }), 422, 'scopes are invalid');
      await rejectsWith(tokens.updateToken({ tokenId: `c${'0'.repeat(24)}`, note: 'x' }), 404, 'Not found');
      const { body: renamed } = await send<TokenObject>(tokens.updateToken({ tokenId: defaultPk.id, note: 'Renamed default' }));
      assert.equal(renamed.note, 'Renamed default');
      assert.equal(renamed.default, true);
      const { body: back } = await send<TokenObject>(tokens.updateToken({ tokenId: defaultPk.id, note: 'Default Public Token' }));
      assert.equal(back.note, 'Default Public Token');
    });

    it('listScopes: the whole catalog, public:true only on public scopes', async () => {
      const { body } = await send<{ id: string; description: string; public?: boolean }[]>(tokens.listScopes());
      assert.equal(body.length, PUBLIC_SCOPES.length + SECRET_SCOPE_COUNT);
      for (const scope of body) {
        assert.equal(typeof scope.description, 'string');
        assert.ok(scope.description.length > 0);
        if (PUBLIC_SCOPES.includes(scope.id)) assert.equal(scope.public, true, scope.id);
        else assert.equal(Object.hasOwn(scope, 'public'), false, `${scope.id} must not carry "public"`);
      }
      assert.deepEqual(
        body
          .filter((s) => s.public)
          .map((s) => s.id)
          .sort(),
        [...PUBLIC_SCOPES].sort(),
      );
    });

    it('createTemporaryToken and getToken: a tk the server verifies, minting rules enforced', async () => {
      const expires = new Date(Date.now() + 10 * 60_000);
      const { body } = await send<TemporaryToken>(tokens.createTemporaryToken({ expires, scopes: ['tokens:read', 'tokens:write', 'styles:read'] }));
      assert.deepEqual(Object.keys(body).sort(), ['expires', 'expires_in', 'issued_at', 'token']);
      const match = TEMPORARY_TOKEN.exec(body.token);
      assert.ok(match, `bad tk ${body.token}`);
      const payload = JSON.parse(decodePayload(match[1] as string)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(payload), ['u', 'exp', 'iat', 'scopes', 'client', 'p']);
      assert.equal(payload.u, 'alice');
      assert.equal(payload.p, sk.id);
      assert.equal(payload.client, 'api');
      assert.equal(payload.exp, Math.floor(expires.getTime() / 1000));
      assert.equal(body.expires_in, payload.exp - (payload.iat as number));
      assert.equal(body.expires, new Date(payload.exp * 1000).toISOString());
      assert.match(body.issued_at, ISO_MS);
      tkBeforeRestart = body.token;

      const tkClient = mbxTokens({ accessToken: body.token, origin: server.origin });
      const { body: retrieved } = await send<Retrieved>(tkClient.getToken());
      assert.equal(retrieved.code, 'TokenValid');
      assert.deepEqual(retrieved.token, {
        usage: 'tk',
        user: 'alice',
        expires: body.expires,
        created: body.issued_at,
        scopes: ['tokens:read', 'tokens:write', 'styles:read'],
        client: 'api',
      });
      // The tk acts with its scopes.
      const { body: viaTk } = await send<TokenObject[]>(tkClient.listTokens());
      assert.ok(viaTk.some((t) => t.id === sk.id));

      const { body: skRetrieved } = await send<Retrieved>(tokens.getToken());
      assert.deepEqual(skRetrieved, { code: 'TokenValid', token: { usage: 'sk', user: 'alice', authorization: sk.id } });

      await rejectsWith(tokens.createTemporaryToken({ expires: new Date(Date.now() - 60_000), scopes: ['styles:read'] }), 422, 'expires is in the past');
      await rejectsWith(
        tokens.createTemporaryToken({ expires: new Date(Date.now() + 2 * 3_600_000), scopes: ['styles:read'] }),
        422,
        'expires is more than one hour in the future',
      );
      await rejectsWith(tokens.createTemporaryToken({ expires: new Date(Date.now() + 60_000), scopes: ['map:read'] }), 422, 'scopes are invalid');
      await rejectsWith(
        tkClient.createTemporaryToken({ expires: new Date(expires.getTime() + 5 * 60_000), scopes: ['styles:read'] }),
        422,
        'expires may not be greater than the expiration of the authorizing token',
      );
      const { body: child } = await send<TemporaryToken>(tkClient.createTemporaryToken({ expires: new Date(Date.now() + 60_000), scopes: ['styles:read'] }));
      const childPayload = JSON.parse(decodePayload(TEMPORARY_TOKEN.exec(child.token)?.[1] ?? '')) as { p: string };
      assert.equal(childPayload.p, sk.id, 'a tk minted by a tk inherits p');
      // A pk may not mint a tk.
      await rejectsWith(
        mbxTokens({ accessToken: defaultPk.token, origin: server.origin }).createTemporaryToken({
          expires: new Date(Date.now() + 60_000),
          scopes: ['styles:read'],
        }),
        404,
        'Not found',
      );
    });

    it('deleteToken: 204, then the token answers 401 (and TokenRevoked on retrieve), its tks too', async () => {
      const { body: reader } = await send<TokenObject & { token: string }>(tokens.createToken({ note: 'reader', scopes: ['tokens:read', 'tokens:write'] }));
      const readerClient = mbxTokens({ accessToken: reader.token, origin: server.origin });
      // It can list, but it lacks scopes:list: 404 Not found.
      await send(readerClient.listTokens());
      await rejectsWith(readerClient.listScopes(), 404, 'Not found');
      const { body: readerTk } = await send<TemporaryToken>(
        readerClient.createTemporaryToken({ expires: new Date(Date.now() + 10 * 60_000), scopes: ['tokens:read'] }),
      );
      const readerTkClient = mbxTokens({ accessToken: readerTk.token, origin: server.origin });
      assert.equal((await send<Retrieved>(readerTkClient.getToken())).body.code, 'TokenValid');

      const { response } = await send<unknown>(tokens.deleteToken({ tokenId: reader.id }));
      assert.equal(response.statusCode, 204);
      assert.equal((response as MapiResponse & { rawBody?: string }).rawBody ?? '', '');

      await rejectsWith(readerClient.listTokens(), 401, 'Unauthorized');
      await rejectsWith(readerTkClient.listTokens(), 401, 'Unauthorized');
      assert.equal((await send<Retrieved>(readerClient.getToken())).body.code, 'TokenRevoked');
      assert.equal((await send<Retrieved>(readerTkClient.getToken())).body.code, 'TokenRevoked');
      await rejectsWith(tokens.deleteToken({ tokenId: reader.id }), 404, 'Not found');
      const { body: list } = await send<TokenObject[]>(tokens.listTokens());
      assert.ok(!list.some((t) => t.id === reader.id));
      deletedSk = reader.token;
    });

    it('deleteToken on the default token refreshes it: new id and string, same note', async () => {
      const { response } = await send<unknown>(tokens.deleteToken({ tokenId: defaultPk.id }));
      assert.equal(response.statusCode, 204);
      const { body: list } = await send<TokenObject[]>(tokens.listTokens());
      const defaults = list.filter((t) => t.default);
      assert.equal(defaults.length, 1);
      const fresh = defaults[0] as TokenObject;
      assert.notEqual(fresh.id, defaultPk.id);
      assert.notEqual(fresh.token, defaultPk.token);
      assert.equal(fresh.note, 'Default Public Token');
      assert.deepEqual([...fresh.scopes].sort(), [...PUBLIC_SCOPES].sort());
      const old = mbxTokens({ accessToken: defaultPk.token, origin: server.origin });
      assert.equal((await send<Retrieved>(old.getToken())).body.code, 'TokenRevoked');
      defaultPk = fresh as TokenObject & { token: string };
    });

    it('nextPage(): limit=2 pages through every token exactly once, in list order', async () => {
      for (let i = 0; i < 5; i++) await send(tokens.createToken({ note: `page ${i}`, scopes: i % 2 ? ['styles:read'] : ['tokens:read'] }));
      const { body: all } = await send<TokenObject[]>(tokens.listTokens());
      assert.ok(all.length >= 9, `only ${all.length} tokens`);
      assert.equal(new Set(all.map((t) => t.id)).size, all.length);

      const client = mbxClient({ accessToken: sk.token, origin: server.origin }) as GenericClient;
      const { pages, links } = await collectPages(client.createRequest({ method: 'GET', path: '/tokens/v2/:ownerId', query: { limit: 2 } }), server.origin);
      assert.equal(pages.length, Math.ceil(all.length / 2));
      assert.equal(links.length, pages.length - 1);
      for (const page of pages.slice(0, -1)) assert.equal(page.length, 2);
      for (const link of links) assert.match(link, /[?&]limit=2(&|>)/);
      assert.deepEqual(
        pages.flat().map((t) => t.id),
        all.map((t) => t.id),
      );
      assert.deepEqual(withoutLastUsed(pages.flat()), withoutLastUsed(all));

      // Filters repeat in every Link and survive the SDK re-appending the first query.
      const pkPages = await collectPages(client.createRequest({ method: 'GET', path: '/tokens/v2/:ownerId', query: { limit: 1, usage: 'pk' } }), server.origin);
      assert.deepEqual(
        pkPages.pages.flat().map((t) => t.id),
        all.filter((t) => t.usage === 'pk').map((t) => t.id),
      );
      for (const link of pkPages.links) assert.match(link, /[?&]usage=pk(&|>)/);

      const { body: byModified } = await send<TokenObject[]>(
        client.createRequest({ method: 'GET', path: '/tokens/v2/:ownerId', query: { sortby: 'modified' } }),
      );
      const modPages = await collectPages(
        client.createRequest({ method: 'GET', path: '/tokens/v2/:ownerId', query: { limit: 3, sortby: 'modified' } }),
        server.origin,
      );
      assert.deepEqual(
        modPages.pages.flat().map((t) => t.id),
        byModified.map((t) => t.id),
      );
      assert.equal(new Set(byModified.map((t) => t.id)).size, all.length);
    });

    it('SIGTERM stops serve with exit 0 within 10 s', async () => {
      const { body } = await send<TokenObject[]>(tokens.listTokens());
      listBeforeStop = body;
      const exit = await stopServer(server, ['SIGTERM']);
      assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, server.output());
      assert.ok(exit.ms < 10_000);
    });

    it('a restart on the same data directory loses nothing', async () => {
      server = await startServer(where, env);
      tokens = mbxTokens({ accessToken: sk.token, origin: server.origin });
      const { body: list } = await send<TokenObject[]>(tokens.listTokens());
      assert.deepEqual(
        list.map((t) => ({ id: t.id, note: t.note, scopes: t.scopes })),
        listBeforeStop.map((t) => ({ id: t.id, note: t.note, scopes: t.scopes })),
      );
      assert.deepEqual(withoutLastUsed(list), withoutLastUsed(listBeforeStop));
      // The sk still works, a tk minted before the restart still verifies, the deleted sk stays dead.
      const { body: skRetrieved } = await send<Retrieved>(tokens.getToken());
      assert.equal(skRetrieved.code, 'TokenValid');
      const res = await fetch(`${server.origin}/tokens/v2?access_token=${encodeURIComponent(tkBeforeRestart)}`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as Retrieved).code, 'TokenValid');
      await send(mbxTokens({ accessToken: tkBeforeRestart, origin: server.origin }).listTokens());
      await rejectsWith(mbxTokens({ accessToken: deletedSk, origin: server.origin }).listTokens(), 401, 'Unauthorized');
      // The pk strings in the list still verify.
      const pk = list.find((t) => t.default);
      assert.equal((await send<Retrieved>(mbxTokens({ accessToken: pk?.token ?? '', origin: server.origin }).getToken())).body.code, 'TokenValid');
    });

    it('SIGINT sent twice quickly still exits cleanly within 10 s, with the data intact', async () => {
      const exit = await stopServer(server, ['SIGINT', 'SIGINT'], 20);
      assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, server.output());
      assert.ok(exit.ms < 10_000);
      const list = await cliJson<TokenObject[]>(['tokens', 'list', 'alice', ...storeArgs(where)], env);
      assert.deepEqual(
        list.map((t) => t.id),
        listBeforeStop.map((t) => t.id),
      );
    });
  });
}
