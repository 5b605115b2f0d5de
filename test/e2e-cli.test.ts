/**
 * The command-line contract (SPEC §8), on the compiled CLI in child processes and real SQLite
 * files: `--json` prints exactly one JSON document of the documented shape; exit codes are 0
 * (success), 1 (the operation failed) and 2 (a usage error); an error is one sentence on stderr
 * with nothing on stdout. Also: `keys rotate` against a running server, where a tk signed by the
 * old key keeps verifying while new tks are signed by the new key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../src/domain/sealer.js';
import { isMacValid } from '../src/domain/token-format.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';

import { ensureBuilt, cli, children, startServer, stopServer, type RunningServer } from './helpers/cli.js';
import type { TokenObject } from '../src/services/token-view.js';

// ---------------------------------------------------------------------------------------------
// Contract helpers
// ---------------------------------------------------------------------------------------------

interface KeyInfo {
  id: string;
  signing?: boolean;
  verifying?: boolean;
  [key: string]: unknown;
}

const PUBLIC_SCOPES = ['styles:tiles', 'styles:read', 'fonts:read', 'datasets:read', 'vision:read'];
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TOKEN_KEYS = ['client', 'created', 'default', 'id', 'modified', 'note', 'scopes', 'usage'];

/** Exit 0 and exactly one JSON document on stdout (JSON.parse refuses two), nothing on stderr. */
async function runJson<T>(args: readonly string[], env: Record<string, string> = {}): Promise<T> {
  const result = await cli([...args, '--json'], env);
  assert.equal(result.code, 0, `tokenbox ${args.join(' ')} --json exited ${result.code}: ${result.stderr}`);
  assert.equal(result.stderr, '', `tokenbox ${args.join(' ')} --json wrote to stderr`);
  let parsed: unknown;
  assert.doesNotThrow(() => (parsed = JSON.parse(result.stdout)), `not one JSON document: ${result.stdout}`);
  return parsed as T;
}

/** One sentence on one line: no line break, ends with . ! or ?, and no sentence boundary inside. */
function assertOneSentence(stderr: string, context: string): void {
  const text = stderr.replace(/\n$/, '');
  assert.ok(text.length > 0, `${context}: nothing on stderr`);
  assert.ok(!text.includes('\n'), `${context}: more than one line on stderr: ${JSON.stringify(stderr)}`);
  assert.match(text, /[.!?]$/, `${context}: not a sentence: ${text}`);
  // A sentence end inside the line: `. Next`, or a clause pasted after a full stop (`.;`).
  assert.doesNotMatch(text.slice(0, -1), /[.!?]["']?(\s+["']?[A-Z]|[;:,])/, `${context}: more than one sentence: ${text}`);
}

/** A failure: the given exit code, nothing on stdout, one sentence on stderr. */
async function assertFails(
  args: readonly string[],
  code: 1 | 2,
  env: Record<string, string> = {},
  mentions: readonly string[] = [],
  absent: readonly string[] = [],
): Promise<string> {
  const context = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v} `)
    .join('')}tokenbox ${args.join(' ')}`;
  const result = await cli(args, env);
  assert.equal(result.code, code, `${context}: exit ${result.code}, expected ${code}; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', `${context}: wrote to stdout: ${result.stdout}`);
  assertOneSentence(result.stderr, context);
  for (const m of mentions) assert.ok(result.stderr.includes(m), `${context}: stderr does not name ${m}: ${result.stderr}`);
  for (const m of absent) assert.ok(!result.stderr.includes(m), `${context}: stderr should not say ${m}: ${result.stderr}`);
  return result.stderr;
}

/** Runs every check and returns the failures' messages, so one report lists them all. */
async function collectFailures(checks: readonly (() => Promise<unknown>)[]): Promise<string[]> {
  const problems: string[] = [];
  for (const check of checks) {
    try {
      await check();
    } catch (error) {
      problems.push((error as Error).message.split('\n')[0] as string);
    }
  }
  return problems;
}

function assertTokenShape(token: TokenObject, extra: readonly string[] = []): void {
  assert.deepEqual(Object.keys(token).sort(), [...TOKEN_KEYS, ...extra].sort());
  assert.equal(token.client, 'api');
  assert.match(token.id, /^c[a-z0-9]{24}$/);
  assert.match(token.created, ISO_MS);
  assert.match(token.modified, ISO_MS);
  assert.equal(typeof token.note, 'string');
  assert.equal(typeof token.default, 'boolean');
  assert.ok(Array.isArray(token.scopes));
}

function assertTokenString(token: TokenObject, username: string): void {
  const match = /^(pk|sk)\.([A-Za-z0-9]+)\.[A-Za-z0-9_-]{22}$/.exec(token.token ?? '');
  assert.ok(match, `bad token string ${token.token}`);
  assert.equal(match[1], token.usage);
  assert.equal(Buffer.from(match[2] as string, 'base64').toString('utf8'), `{"u":"${username}","a":"${token.id}"}`);
}

/** Newest first by `created`, ties by id descending (SPEC §4.2). */
function assertListOrder(tokens: readonly TokenObject[]): void {
  for (let i = 1; i < tokens.length; i++) {
    const a = tokens[i - 1] as TokenObject;
    const b = tokens[i] as TokenObject;
    const ok = Date.parse(a.created) > Date.parse(b.created) || (a.created === b.created && a.id > b.id);
    assert.ok(ok, `list order broken at ${i}: ${a.created} ${a.id} before ${b.created} ${b.id}`);
  }
}

/** The raw signing keys of a data directory, opened with its secret.key (as a server would). */
function readSigningKeys(dataDir: string): Map<string, Buffer> {
  const sealer = new Sealer(readFileSync(join(dataDir, 'secret.key'), 'utf8').trim());
  const db = new Database(join(dataDir, 'tokenbox.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT id, sealed_key FROM signing_keys').all() as { id: string; sealed_key: string }[];
    const keys = new Map<string, Buffer>();
    for (const row of rows) {
      const key = sealer.open(row.sealed_key, row.id);
      assert.ok(key, `signing key ${row.id} does not open with secret.key`);
      keys.set(row.id, key);
    }
    return keys;
  } finally {
    db.close();
  }
}

/** The ids of the keys whose MAC matches this tk. */
function signersOf(tk: string, keys: Map<string, Buffer>): string[] {
  const [, payloadText, mac] = tk.split('.') as [string, string, string];
  return [...keys].filter(([, key]) => isMacValid(key, payloadText, mac)).map(([id]) => id);
}

async function mintTk(origin: string, authorizer: string, scopes: string[], lifetimeMs = 10 * 60_000): Promise<string> {
  const res = await fetch(`${origin}/tokens/v2/alice?access_token=${encodeURIComponent(authorizer)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ expires: new Date(Date.now() + lifetimeMs).toISOString(), scopes }),
  });
  const body = (await res.json()) as { token?: string; message?: string };
  assert.equal(res.status, 200, `minting a tk failed: ${JSON.stringify(body)}`);
  return body.token as string;
}

async function retrieveCode(origin: string, token: string): Promise<string> {
  const res = await fetch(`${origin}/tokens/v2?access_token=${encodeURIComponent(token)}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { code: string }).code;
}

function withoutLastUsed(tokens: readonly TokenObject[]): TokenObject[] {
  return tokens.map(({ lastUsed: _lastUsed, ...rest }) => rest);
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

const dirs: string[] = [];

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tokenbox-e2e-cli-${label}-`));
  dirs.push(dir);
  return dir;
}

before(() => ensureBuilt());

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('CLI --json documents', { timeout: 120_000 }, () => {
  let dataDir: string;
  const created: TokenObject[] = [];
  let defaultPk: TokenObject;

  before(() => {
    dataDir = tempDir('json');
  });

  it('migrate --json on a fresh directory lists every migration, and [] the second time', async () => {
    const first = await runJson<{ applied: string[] }>(['migrate', '--data', dataDir]);
    assert.deepEqual(first, { applied: MIGRATIONS.map((m) => m.name) });
    assert.ok(first.applied.length > 0);
    const second = await runJson<{ applied: string[] }>(['migrate', '--data', dataDir]);
    assert.deepEqual(second, { applied: [] });
  });

  it('accounts list --json on an empty store is []', async () => {
    assert.deepEqual(await runJson(['accounts', 'list', '--data', dataDir]), []);
  });

  it('accounts create --json → {username, defaultPublicToken: token object with token}', async () => {
    const doc = await runJson<{ username: string; defaultPublicToken: TokenObject }>(['accounts', 'create', 'alice', '--data', dataDir]);
    assert.deepEqual(Object.keys(doc).sort(), ['defaultPublicToken', 'username']);
    assert.equal(doc.username, 'alice');
    defaultPk = doc.defaultPublicToken;
    assertTokenShape(defaultPk, ['token']);
    assert.equal(defaultPk.usage, 'pk');
    assert.equal(defaultPk.default, true);
    assert.equal(defaultPk.note, 'Default Public Token');
    assert.deepEqual([...defaultPk.scopes].sort(), [...PUBLIC_SCOPES].sort());
    assertTokenString(defaultPk, 'alice');
  });

  it('accounts list --json → [{username, created}]', async () => {
    await runJson(['accounts', 'create', 'bob', '--data', dataDir]);
    const list = await runJson<{ username: string; created: string }[]>(['accounts', 'list', '--data', dataDir]);
    assert.equal(list.length, 2);
    for (const account of list) {
      assert.deepEqual(Object.keys(account).sort(), ['created', 'username']);
      assert.match(account.created, ISO_MS);
    }
    assert.deepEqual(list.map((a) => a.username).sort(), ['alice', 'bob']);
  });

  it('tokens create --json without --scopes → a pk without scopes', async () => {
    const token = await runJson<TokenObject>(['tokens', 'create', 'alice', '--data', dataDir]);
    assertTokenShape(token, ['token']);
    assert.equal(token.usage, 'pk');
    assert.deepEqual(token.scopes, []);
    assert.equal(token.note, '');
    assert.equal(token.default, false);
    assertTokenString(token, 'alice');
    created.push(token);
  });

  it('tokens create --json with public scopes → pk; with a secret scope → sk with its string, once', async () => {
    const pk = await runJson<TokenObject>(['tokens', 'create', 'alice', '--scopes', 'styles:read,fonts:read', '--note', 'web map', '--data', dataDir]);
    assertTokenShape(pk, ['token']);
    assert.equal(pk.usage, 'pk');
    assert.deepEqual(pk.scopes, ['styles:read', 'fonts:read']);
    assert.equal(pk.note, 'web map');
    created.push(pk);

    const sk = await runJson<TokenObject>([
      'tokens',
      'create',
      'alice',
      '--scopes',
      'tokens:read,styles:read',
      '--note',
      'ops',
      '--allowed-urls',
      'example.com,https://app.example.org/maps',
      '--data',
      dataDir,
    ]);
    assertTokenShape(sk, ['token', 'allowedUrls']);
    assert.equal(sk.usage, 'sk');
    assert.deepEqual(sk.scopes, ['tokens:read', 'styles:read']);
    assert.deepEqual(sk.allowedUrls, ['example.com', 'https://app.example.org/maps']);
    assertTokenString(sk, 'alice');
    created.push(sk);
  });

  it('tokens list --json → the token objects in API list order (pk strings, no sk strings)', async () => {
    const list = await runJson<TokenObject[]>(['tokens', 'list', 'alice', '--data', dataDir]);
    assert.deepEqual(new Set(list.map((t) => t.id)), new Set([defaultPk.id, ...created.map((t) => t.id)]));
    assert.equal(list.length, created.length + 1);
    assertListOrder(list);
    for (const token of list) {
      const made = token.id === defaultPk.id ? defaultPk : (created.find((t) => t.id === token.id) as TokenObject);
      if (token.usage === 'pk') {
        assertTokenShape(token, ['token', ...(made.allowedUrls ? ['allowedUrls'] : [])]);
        assert.equal(token.token, made.token);
      } else {
        assertTokenShape(token, made.allowedUrls ? ['allowedUrls'] : []);
      }
      const { token: _token, ...rest } = made;
      const { token: _listed, ...listed } = token;
      assert.deepEqual(listed, rest);
    }
    assert.deepEqual(await runJson(['tokens', 'list', 'bob', '--data', dataDir]).then((l) => (l as TokenObject[]).length), 1);
  });

  it('tokens delete prints nothing and exits 0; the token is gone', async () => {
    const victim = created.shift() as TokenObject;
    const result = await cli(['tokens', 'delete', 'alice', victim.id, '--data', dataDir]);
    assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
    const list = await runJson<TokenObject[]>(['tokens', 'list', 'alice', '--data', dataDir]);
    assert.ok(!list.some((t) => t.id === victim.id));
    assert.equal(list.length, created.length + 1);
  });

  it('keys list --json and keys rotate --json print one document each', async () => {
    const before = await runJson<KeyInfo[]>(['keys', 'list', '--data', dataDir]);
    assert.ok(Array.isArray(before));
    assert.equal(before.length, 1);
    assert.equal(typeof before[0]?.id, 'string');
    const rotated = await runJson<KeyInfo>(['keys', 'rotate', '--data', dataDir]);
    assert.equal(typeof rotated.id, 'string');
    assert.notEqual(rotated.id, before[0]?.id);
    const after = await runJson<KeyInfo[]>(['keys', 'list', '--data', dataDir]);
    assert.deepEqual(new Set(after.map((k) => k.id)), new Set([rotated.id, before[0]?.id]));
  });
});

describe('CLI exit codes and error sentences', { timeout: 120_000 }, () => {
  let dataDir: string;

  before(async () => {
    dataDir = tempDir('errors');
    await runJson(['accounts', 'create', 'alice', '--data', dataDir]);
  });

  it('a PostgreSQL that cannot be reached: exit 1, one sentence saying why, for serve and any command', async () => {
    const env = { TOKENBOX_SECRET: 'a-secret-that-is-at-least-32-characters-long' };
    for (const args of [
      ['serve', '--port', '0'],
      ['accounts', 'list'],
    ]) {
      const result = await cli([...args, '--database-url', 'postgres://postgres@127.0.0.1:1/test'], env);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^cannot open the store: Service Unavailable \(connect ECONNREFUSED 127\.0\.0\.1:1\)\.\n$/);
    }
  });

  it('exit 1 when the operation fails, with one sentence on stderr and nothing on stdout', async () => {
    const missingId = `c${'0'.repeat(24)}`;
    const cases: string[][] = [
      ['accounts', 'create', 'alice'], // duplicate account
      ['tokens', 'list', 'nobody'], // unknown user
      ['tokens', 'create', 'nobody'],
      ['tokens', 'delete', 'nobody', missingId],
      ['tokens', 'create', 'alice', '--scopes', 'nosuch:scope'], // invalid scope
      ['tokens', 'create', 'alice', '--scopes', 'styles:read,Bad Scope'],
      ['tokens', 'delete', 'alice', missingId], // unknown token id
    ];
    const problems = await collectFailures(
      cases.flatMap((args) => [() => assertFails([...args, '--data', dataDir], 1), () => assertFails([...args, '--json', '--data', dataDir], 1)]),
    );
    assert.deepEqual(problems, []);
    // Nothing was made by the failures.
    const list = await runJson<TokenObject[]>(['tokens', 'list', 'alice', '--data', dataDir]);
    assert.equal(list.length, 1);
  });

  it('exit 2 on a usage error: unknown command, missing or extra argument, unknown flag', async () => {
    const data = ['--data', dataDir];
    const cases: { args: string[]; mentions?: string[]; absent?: string[] }[] = [
      // An unknown command is named as typed, not run together with the flag that follows it.
      { args: ['frobnicate', ...data], mentions: ['"frobnicate"'], absent: ['--data'] },
      { args: ['accounts', 'frobnicate', ...data], mentions: ['frobnicate'] },
      { args: ['keys', ...data] },
      { args: ['accounts', 'create', ...data] }, // missing argument
      { args: ['tokens', 'list', ...data] },
      { args: ['tokens', 'delete', 'alice', ...data] },
      { args: ['tokens', 'list', 'alice', 'extra', ...data] }, // extra argument
      { args: ['accounts', 'list', '--bogus', ...data], mentions: ['--bogus'] }, // unknown flag
      { args: ['tokens', 'create', 'alice', '--scope', 'styles:read', ...data], mentions: ['--scope'] },
      { args: ['tokens', 'create', 'alice', ...data, '--scopes'], mentions: ['--scopes'] }, // flag without its value
      { args: ['tokens', 'create', 'alice', '--scopes', ...data], mentions: ['--scopes'] },
    ];
    const problems = await collectFailures(
      cases.map(
        ({ args, mentions, absent }) =>
          () =>
            assertFails(args, 2, {}, mentions, absent),
      ),
    );
    assert.deepEqual(problems, []);
  });

  it('exit 2 on invalid configuration, naming every bad key', async () => {
    await assertFails(['accounts', 'list', '--data', dataDir], 2, { TOKENBOX_PORT: 'abc' }, ['port']);
    await assertFails(['tokens', 'list', 'alice', '--json', '--data', dataDir], 2, { TOKENBOX_PORT: 'abc' }, ['port']);
    await assertFails(['accounts', 'list', '--data', dataDir], 2, { TOKENBOX_PORT: 'abc', TOKENBOX_BODY_LIMIT: '0' }, ['port', 'bodyLimit']);
    await assertFails(['accounts', 'list', '--data', dataDir], 2, { TOKENBOX_SECRET: 'too short' }, ['secret']);
    await assertFails(['serve', '--port', 'abc', '--data', dataDir], 2, {}, ['port']);
    await assertFails(['accounts', 'list', '--data', dataDir, '--config', join(dataDir, 'no-such-config.json')], 2);
  });
});

describe('keys rotate under a running server', { timeout: 120_000 }, () => {
  let dataDir: string;
  let server: RunningServer;
  let sk: TokenObject & { token: string };

  before(async () => {
    dataDir = tempDir('rotate');
    await runJson(['accounts', 'create', 'alice', '--data', dataDir]);
    sk = await runJson<TokenObject & { token: string }>(['tokens', 'create', 'alice', '--scopes', 'tokens:read,tokens:write', '--data', dataDir]);
    server = await startServer(dataDir);
  });

  after(async () => {
    if (server && children.has(server.proc)) await stopServer(server, ['SIGTERM']);
  });

  it('tokens list --json is exactly what the API lists', async () => {
    for (const scopes of ['styles:read', 'tokens:read', '']) {
      await runJson(['tokens', 'create', 'alice', ...(scopes ? ['--scopes', scopes] : []), '--data', dataDir]);
    }
    const res = await fetch(`${server.origin}/tokens/v2/alice`, { headers: { authorization: `Bearer ${sk.token}` } });
    assert.equal(res.status, 200);
    const api = (await res.json()) as TokenObject[];
    const viaCli = await runJson<TokenObject[]>(['tokens', 'list', 'alice', '--data', dataDir]);
    assert.equal(viaCli.length, 5);
    assert.deepEqual(withoutLastUsed(viaCli), withoutLastUsed(api));
  });

  it('an old tk keeps verifying after the rotation; new tks are signed by the new key', async () => {
    const oldTk = await mintTk(server.origin, sk.token, ['tokens:read']);
    const keysBefore = readSigningKeys(dataDir);
    assert.equal(keysBefore.size, 1);
    const [oldKeyId] = [...keysBefore.keys()] as [string];
    assert.deepEqual(signersOf(oldTk, keysBefore), [oldKeyId]);

    const rotated = await runJson<KeyInfo>(['keys', 'rotate', '--data', dataDir]);
    assert.notEqual(rotated.id, oldKeyId);
    const keys = readSigningKeys(dataDir);
    assert.deepEqual(new Set(keys.keys()), new Set([oldKeyId, rotated.id]));
    const listed = await runJson<KeyInfo[]>(['keys', 'list', '--data', dataDir]);
    const newInfo = listed.find((k) => k.id === rotated.id);
    const oldInfo = listed.find((k) => k.id === oldKeyId);
    assert.ok(newInfo && oldInfo);
    assert.equal(newInfo.signing, true);
    assert.equal(oldInfo.signing, false);
    assert.equal(oldInfo.verifying, true);

    // The running server picks the new key up (it re-reads keys on a timer); meanwhile and
    // afterwards the old tk keeps verifying.
    const deadline = Date.now() + 30_000;
    let newTk: string | null = null;
    while (Date.now() < deadline) {
      assert.equal(await retrieveCode(server.origin, oldTk), 'TokenValid');
      const tk = await mintTk(server.origin, sk.token, ['tokens:read']);
      const signers = signersOf(tk, keys);
      assert.equal(signers.length, 1, 'every tk is signed by exactly one known key');
      if (signers[0] === rotated.id) {
        newTk = tk;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(newTk, 'the running server never signed with the rotated key');
    assert.equal(await retrieveCode(server.origin, newTk), 'TokenValid');
    assert.equal(await retrieveCode(server.origin, oldTk), 'TokenValid');
    const viaOld = await fetch(`${server.origin}/tokens/v2/alice?access_token=${encodeURIComponent(oldTk)}`);
    assert.equal(viaOld.status, 200);

    // A fresh process signs with the new key at once and still accepts the old tk.
    const exit = await stopServer(server, ['SIGTERM']);
    assert.equal(exit.code, 0);
    server = await startServer(dataDir);
    assert.equal(await retrieveCode(server.origin, oldTk), 'TokenValid');
    assert.equal(await retrieveCode(server.origin, newTk), 'TokenValid');
    assert.deepEqual(signersOf(await mintTk(server.origin, sk.token, ['tokens:read']), keys), [rotated.id]);
  });
});
