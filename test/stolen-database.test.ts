/**
 * A stolen database alone (SPEC §2): copy `tokenbox.db` without `secret.key` and without
 * TOKENBOX_SECRET, and show that (a) tokenbox cannot open it, (b) it holds no pk, sk or tk string,
 * no token secret, no signing key and no key-encryption secret in any form, and (c) no value in
 * it, used as an HMAC key, signs a tk the original server accepts.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../src/domain/sealer.js';
import { signTemporaryToken, type TemporaryPayload } from '../src/domain/token-format.js';

import { ensureBuilt, cli, cliJson, freePort, children, startServer, stopServer, type RunningServer } from './helpers/cli.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface TokenObject {
  id: string;
  usage: 'pk' | 'sk';
  token?: string;
}

const DB_FILES = ['tokenbox.db', 'tokenbox.db-wal', 'tokenbox.db-shm'];

async function api<T>(origin: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Every value of every table, with where it was found. */
function allValues(dbPath: string): { where: string; value: unknown }[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    const values: { where: string; value: unknown }[] = [];
    for (const table of tables) {
      const statement = db.prepare(`SELECT * FROM "${table.replace(/"/g, '""')}"`);
      const columns = statement.columns().map((c) => c.name);
      (statement.raw().all() as unknown[][]).forEach((row, r) => row.forEach((value, c) => values.push({ where: `${table}[${r}].${columns[c]}`, value })));
    }
    return values;
  } finally {
    db.close();
  }
}

/** The byte spellings an attacker would try for one stored value. */
function keyCandidates(value: unknown): Buffer[] {
  if (value === null || value === undefined) return [];
  if (Buffer.isBuffer(value)) return [value];
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const pieces = [text, ...text.split('.')].filter((p) => p.length > 0);
  const out: Buffer[] = [];
  for (const piece of pieces) {
    out.push(Buffer.from(piece, 'utf8'), Buffer.from(piece, 'base64'), Buffer.from(piece, 'base64url'));
    if (/^(?:[0-9a-f]{2})+$/i.test(piece)) out.push(Buffer.from(piece, 'hex'));
  }
  return out;
}

function unique(buffers: readonly Buffer[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  for (const b of buffers) seen.set(b.toString('hex'), b);
  return [...seen.values()];
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

describe('a stolen database alone yields no usable token and no way to mint one', { timeout: 180_000 }, () => {
  const dirs: string[] = [];
  let original: string;
  /** The copy tokenbox is pointed at. */
  let stolen: string;
  /** A second, untouched copy that is scanned. */
  let pristine: string;
  let server: RunningServer;
  let sk: TokenObject & { token: string };
  /** Every pk, sk and tk string made, deleted ones included. */
  const tokenStrings: string[] = [];
  /** The real signing keys, opened with the original secret.key (the control). */
  let realKeys: Buffer[] = [];
  let secretKeyText: string;
  /** The copied files' bytes, read before anything opened the copy. */
  const copiedFiles = new Map<string, Buffer>();

  function tempDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `tokenbox-stolen-${label}-`));
    dirs.push(dir);
    return dir;
  }

  before(async () => {
    ensureBuilt();
    original = tempDir('original');
    const account = await cliJson<{ defaultPublicToken: TokenObject & { token: string } }>(['accounts', 'create', 'alice', '--data', original]);
    tokenStrings.push(account.defaultPublicToken.token);
    sk = await cliJson<TokenObject & { token: string }>(['tokens', 'create', 'alice', '--scopes', 'tokens:read,tokens:write,scopes:list', '--data', original]);
    const pk = await cliJson<TokenObject & { token: string }>(['tokens', 'create', 'alice', '--scopes', 'styles:read', '--data', original]);
    const doomed = await cliJson<TokenObject & { token: string }>(['tokens', 'create', 'alice', '--data', original]);
    tokenStrings.push(sk.token, pk.token, doomed.token);
    assert.equal((await cli(['tokens', 'delete', 'alice', doomed.id, '--data', original])).code, 0);
    await cliJson(['keys', 'rotate', '--data', original]);

    // Raise the per-IP limit: part (c) sends a few hundred forged tokens from one address.
    server = await startServer(original, { TOKENBOX_ACCOUNT_RATE_LIMIT: '100000' });
    const apiSk = await api<TokenObject & { token: string }>(server.origin, 'POST', '/tokens/v2/alice', sk.token, { scopes: ['tokens:read'] });
    const apiPk = await api<TokenObject & { token: string }>(server.origin, 'POST', '/tokens/v2/alice', sk.token, { note: 'api pk' });
    const tk = await api<{ token: string }>(server.origin, 'POST', '/tokens/v2/alice', sk.token, {
      expires: new Date(Date.now() + 30 * 60_000).toISOString(),
      scopes: ['tokens:read'],
    });
    assert.deepEqual([apiSk.status, apiPk.status, tk.status], [200, 200, 200]);
    tokenStrings.push(apiSk.body.token, apiPk.body.token, tk.body.token);

    // Stop everything, so the database is checkpointed, then copy the database files alone.
    const exit = await stopServer(server, ['SIGTERM']);
    assert.equal(exit.code, 0, server.output());
    stolen = tempDir('copy');
    pristine = tempDir('scan');
    for (const name of DB_FILES) {
      if (!existsSync(join(original, name))) continue;
      copyFileSync(join(original, name), join(stolen, name));
      copyFileSync(join(original, name), join(pristine, name));
      copiedFiles.set(name, readFileSync(join(pristine, name)));
    }
    assert.ok(existsSync(join(stolen, 'tokenbox.db')));
    assert.ok(!existsSync(join(stolen, 'secret.key')));

    secretKeyText = readFileSync(join(original, 'secret.key'), 'utf8').trim();
    const sealer = new Sealer(secretKeyText);
    const db = new Database(join(pristine, 'tokenbox.db'), { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT id, sealed_key FROM signing_keys').all() as { id: string; sealed_key: string }[];
    db.close();
    realKeys = rows.map((r) => sealer.open(r.sealed_key, r.id) as Buffer);
    assert.equal(realKeys.length, 2);
    assert.ok(realKeys.every((k) => Buffer.isBuffer(k) && k.length > 0));

    server = await startServer(original, { TOKENBOX_ACCOUNT_RATE_LIMIT: '100000' });
  });

  after(() => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('(a) tokenbox refuses to open the copy: exit 1, one sentence about the key', async () => {
    const commands = [
      ['tokens', 'list', 'alice'],
      ['tokens', 'list', 'alice', '--json'],
      ['accounts', 'list', '--json'],
      ['accounts', 'create', 'mallory'],
      ['tokens', 'create', 'alice', '--scopes', 'tokens:write'],
      ['keys', 'list', '--json'],
      ['keys', 'rotate'],
      ['migrate', '--json'],
    ];
    const guessed = { TOKENBOX_SECRET: 'a-guessed-secret-of-at-least-32-characters' };
    for (const env of [{}, guessed]) {
      for (const args of commands) {
        const result = await cli([...args, '--data', stolen], env);
        const context = `tokenbox ${args.join(' ')} on the copy${env === guessed ? ' with a guessed TOKENBOX_SECRET' : ''}`;
        assert.equal(result.code, 1, `${context}: exit ${result.code}\n${result.stdout}${result.stderr}`);
        assert.equal(result.stdout, '', `${context}: wrote to stdout`);
        const line = result.stderr.replace(/\n$/, '');
        assert.ok(!line.includes('\n'), `${context}: more than one line: ${result.stderr}`);
        assert.match(line, /[.!?]$/, context);
        assert.match(line, /signing keys?/i, `${context}: not about the signing keys: ${line}`);
        assert.match(line, /cannot be opened|secret/i, `${context}: ${line}`);
      }
    }
    // serve refuses too, before it listens.
    const port = await freePort();
    const started = Date.now();
    const served = await cli(['serve', '--data', stolen, '--port', String(port)]);
    assert.equal(served.code, 1, `serve on the copy: exit ${served.code}\n${served.stdout}${served.stderr}`);
    assert.ok(Date.now() - started < 10_000);
    assert.match(served.stderr, /signing keys?/i);
    // The refusals changed nothing in the copy.
    const db = new Database(join(stolen, 'tokenbox.db'), { readonly: true, fileMustExist: true });
    try {
      assert.equal(db.prepare('SELECT count(*) FROM signing_keys').pluck().get(), 2);
      assert.deepEqual(db.prepare('SELECT username FROM accounts').pluck().all(), ['alice']);
    } finally {
      db.close();
    }
  });

  it('(b) no value in any table, and no byte of the files, holds a token, a secret or a key', () => {
    const stringNeedles = new Map<string, string>();
    for (const token of tokenStrings) {
      stringNeedles.set(token, `token ${token.slice(0, 12)}…`);
      stringNeedles.set(token.slice(token.lastIndexOf('.') + 1), `secret of ${token.slice(0, 12)}…`);
    }
    stringNeedles.set(secretKeyText, 'secret.key');
    realKeys.forEach((key, i) => {
      for (const encoding of ['base64', 'base64url', 'hex'] as const) stringNeedles.set(key.toString(encoding), `signing key ${i} (${encoding})`);
    });
    const byteNeedles = new Map<string, Buffer>();
    realKeys.forEach((key, i) => byteNeedles.set(`signing key ${i} (raw)`, key));
    for (const token of tokenStrings) {
      byteNeedles.set(`secret bytes of ${token.slice(0, 12)}…`, Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url'));
    }

    const values = allValues(join(pristine, 'tokenbox.db'));
    // Control: the scan sees the data (ids and usernames are stored in the clear).
    assert.ok(values.some((v) => v.value === sk.id));
    assert.ok(values.some((v) => v.value === 'alice'));
    const found: string[] = [];
    for (const { where, value } of values) {
      if (typeof value === 'string') {
        for (const [needle, label] of stringNeedles) if (value.includes(needle)) found.push(`${label} in ${where}`);
      } else if (Buffer.isBuffer(value)) {
        for (const [needle, label] of stringNeedles) if (value.includes(Buffer.from(needle))) found.push(`${label} in ${where}`);
        for (const [label, needle] of byteNeedles) if (value.includes(needle)) found.push(`${label} in ${where}`);
      }
    }
    // The whole files too: free pages and the WAL keep what a table no longer shows.
    assert.ok(copiedFiles.get('tokenbox.db')?.includes(Buffer.from(sk.id)), 'control: the file scan sees the data');
    for (const [name, bytes] of copiedFiles) {
      for (const [needle, label] of stringNeedles) if (bytes.includes(Buffer.from(needle))) found.push(`${label} in the bytes of ${name}`);
      for (const [label, needle] of byteNeedles) if (bytes.includes(needle)) found.push(`${label} in the bytes of ${name}`);
    }
    assert.deepEqual(found, []);
  });

  it('(c) no stored value, as an HMAC key, signs a tk the original server accepts', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload: TemporaryPayload = { u: 'alice', exp: now + 600, iat: now, scopes: ['tokens:read', 'tokens:write'], client: 'api', p: sk.id };

    // Control: signed with a real key (which needs secret.key), the same payload is accepted.
    for (const key of realKeys) {
      const genuine = signTemporaryToken(key, payload);
      const retrieved = await api<{ code: string }>(server.origin, 'GET', `/tokens/v2?access_token=${encodeURIComponent(genuine)}`, genuine);
      assert.equal(retrieved.body.code, 'TokenValid', 'control: a tk signed with the real key must verify');
    }

    const values = allValues(join(pristine, 'tokenbox.db'));
    const fromSigningKeys = values.filter((v) => v.where.startsWith('signing_keys['));
    assert.ok(fromSigningKeys.length >= 8, 'the signing_keys table has rows');
    const candidates = unique([...fromSigningKeys, ...values].flatMap((v) => keyCandidates(v.value)));
    assert.ok(candidates.length > 20);
    const accepted: string[] = [];
    for (const key of candidates) {
      const forged = signTemporaryToken(key, payload);
      const retrieved = await api<{ code: string }>(server.origin, 'GET', `/tokens/v2?access_token=${encodeURIComponent(forged)}`, forged);
      assert.equal(retrieved.status, 200);
      if (retrieved.body.code !== 'TokenInvalid') accepted.push(`${key.toString('hex')} → ${retrieved.body.code}`);
      const used = await api<{ message: string }>(server.origin, 'GET', '/tokens/v2/alice', forged);
      if (used.status !== 401) accepted.push(`${key.toString('hex')} → list ${used.status}`);
    }
    assert.deepEqual(accepted, []);
  });
});
