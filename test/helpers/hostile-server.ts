/**
 * The target of the hostile-request suite: the compiled `tokenbox serve` in its own process with
 * its default logger, on a store seeded through the CLI (accounts, a pk with allowedUrls, sks with
 * and without `tokens:write`, a deleted sk) plus tks minted through the API. Only the limits are
 * raised (`TOKENBOX_ACCOUNT_RATE_LIMIT`), so requests are judged rather than all refused with 429.
 *
 * Gives the test: a keep-alive HTTP client with full control of method, raw path and headers; a
 * read-only view of the SQLite file for store snapshots; the server's log with a way to wait for
 * a line (no sleeps); and the world the generators draw from.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BUILT_IN_SCOPES } from '../../src/domain/scopes.js';
import { cli, startServer, stopServer, type RunningServer } from './cli.js';
import { OPERATOR_SCOPE, ROUTES, type HostileWorld, type SeededToken, type StoredId } from './hostile-world.js';
import type { Reply } from './hostile-oracle.js';

const SECRET = 'hostile-suite-secret-that-is-long-enough-0123456789';
const TABLES = ['accounts', 'tokens', 'token_changes', 'signing_keys', 'sessions', 'idempotency_keys'] as const;
/** How each table is read in a stable order (the page's tables have no rowid). */
const ORDER: Record<(typeof TABLES)[number], string> = {
  accounts: 'rowid',
  tokens: 'rowid',
  token_changes: 'rowid',
  signing_keys: 'rowid',
  sessions: 'id_hash',
  idempotency_keys: 'username, key',
};

export type Snapshot = Record<(typeof TABLES)[number], Record<string, unknown>[]>;

interface CreatedToken {
  readonly id: string;
  readonly token: string;
  readonly scopes: string[];
}

export interface HostileServer {
  readonly world: HostileWorld;
  readonly server: RunningServer;
  /** Sends one request exactly as given; resolves with the whole answer. */
  send(method: string, path: string, headers: Readonly<Record<string, string | string[]>>, body?: Buffer): Promise<Reply>;
  snapshot(): Snapshot;
  /** Everything the server has written to stdout and stderr so far. */
  log(): string;
  /**
   * Waits until `needle` is in the log, then returns the log from where the previous call stopped
   * up to the end of `needle`'s line.
   */
  logThrough(needle: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startHostileServer(): Promise<HostileServer> {
  const root = mkdtempSync(join(tmpdir(), 'tokenbox-hostile-'));
  const dataDir = join(root, 'data');
  const configPath = join(root, 'config.json');
  writeFileSync(configPath, JSON.stringify({ scopes: [{ id: OPERATOR_SCOPE, description: 'Internal reads', public: false }], routes: ROUTES }));
  const env = { TOKENBOX_SECRET: SECRET, TOKENBOX_CONFIG: configPath, TOKENBOX_ACCOUNT_RATE_LIMIT: '1000000000' };
  const cleanup = () => rmSync(root, { recursive: true, force: true });

  const tokenbox = async <T>(...args: string[]): Promise<T> => {
    const result = await cli([...args, '--data', dataDir, '--json'], env);
    assert.equal(result.code, 0, `tokenbox ${args.join(' ')} failed: ${result.stderr}`);
    return (result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout)) as T;
  };
  const seedAlice = async (account: { defaultPublicToken: CreatedToken }) => {
    const pkUrls = await tokenbox<CreatedToken>(
      'tokens',
      'create',
      'alice',
      '--scopes',
      'styles:read,fonts:read',
      '--allowed-urls',
      'https://maps.example.com,example.org',
    );
    const skWrite = await tokenbox<CreatedToken>(
      'tokens',
      'create',
      'alice',
      '--scopes',
      `tokens:read,tokens:write,scopes:list,styles:read,map:read,${OPERATOR_SCOPE}`,
    );
    const skRead = await tokenbox<CreatedToken>('tokens', 'create', 'alice', '--scopes', 'tokens:read,scopes:list,styles:tiles');
    const skGone = await tokenbox<CreatedToken>('tokens', 'create', 'alice', '--scopes', 'tokens:read,tokens:write');
    await tokenbox('tokens', 'delete', 'alice', skGone.id);
    return { pk: account.defaultPublicToken, pkUrls, skWrite, skRead, skGone };
  };
  const seedBob = async () => {
    const account = await tokenbox<{ defaultPublicToken: CreatedToken }>('accounts', 'create', 'bob');
    const sk = await tokenbox<CreatedToken>('tokens', 'create', 'bob', '--scopes', 'tokens:read,tokens:write,scopes:list');
    return { pk: account.defaultPublicToken, sk };
  };
  let server: RunningServer;
  let a: Awaited<ReturnType<typeof seedAlice>>;
  let b: Awaited<ReturnType<typeof seedBob>>;
  try {
    // One command first (it makes the store); then the two accounts side by side.
    const alice = await tokenbox<{ defaultPublicToken: CreatedToken }>('accounts', 'create', 'alice');
    [a, b] = await Promise.all([seedAlice(alice), seedBob()]);
    server = await startServer(dataDir, env);
  } catch (error) {
    cleanup();
    throw error;
  }

  const port = Number(new URL(server.origin).port);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const sendOnce = (method: string, path: string, headers: Readonly<Record<string, string | string[]>>, body?: Buffer) =>
    new Promise<Reply & { reused: boolean }>((resolve, reject) => {
      const all = body === undefined ? headers : { ...headers, 'content-length': String(body.length) };
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: all, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), reused: req.reusedSocket }),
        );
      });
      req.on('error', (error) => reject(Object.assign(error, { reused: req.reusedSocket })));
      req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
      req.end(body);
    });
  const send: HostileServer['send'] = async (method, path, headers, body) => {
    try {
      return await sendOnce(method, path, headers, body);
    } catch (error) {
      // A kept-alive socket the server closed after its last answer: Node's documented retry.
      if ((error as { reused?: boolean }).reused) return sendOnce(method, path, headers, body);
      throw error;
    }
  };

  let db: Database.Database;
  let world: HostileWorld;
  try {
    const mint = async (authorizer: string, scopes: string[], minutes: number): Promise<string> => {
      const expires = new Date(Date.now() + minutes * 60_000).toISOString();
      const res = await send(
        'POST',
        '/tokens/v2/' + (authorizer === b.sk.token ? 'bob' : 'alice'),
        { authorization: `Bearer ${authorizer}`, 'content-type': 'application/json' },
        Buffer.from(JSON.stringify({ expires, scopes })),
      );
      assert.equal(res.status, 200, `minting a tk failed: ${res.body}`);
      return (JSON.parse(res.body) as { token: string }).token;
    };
    const tkWrite = await mint(a.skWrite.token, ['tokens:read', 'tokens:write', 'scopes:list', 'styles:read'], 50);
    const tkRead = await mint(a.skWrite.token, ['styles:read', 'map:read', OPERATOR_SCOPE], 50);
    const tkFromTk = await mint(tkWrite, ['tokens:write', 'styles:read'], 40);
    const bobTk = await mint(b.sk.token, ['tokens:read', 'tokens:write'], 50);

    const stored = (name: string, user: string, t: CreatedToken, extra: Partial<SeededToken> = {}): SeededToken => ({
      name: `${user}/${name}`,
      token: t.token,
      user,
      usage: t.token.startsWith('pk.') ? 'pk' : 'sk',
      rootId: t.id,
      live: true,
      writes: t.scopes.includes('tokens:write') ? user : null,
      scopes: t.scopes,
      ...extra,
    });
    const temporary = (name: string, user: string, token: string, root: CreatedToken, scopes: string[]): SeededToken => ({
      name: `${user}/${name}`,
      token,
      user,
      usage: 'tk',
      rootId: root.id,
      live: true,
      writes: null,
      scopes,
    });
    const ids: StoredId[] = [
      { user: 'alice', id: a.pk.id, isDefault: true },
      ...[a.pkUrls, a.skWrite, a.skRead, a.skGone].map((t) => ({ user: 'alice', id: t.id, isDefault: false })),
      { user: 'bob', id: b.pk.id, isDefault: true },
      { user: 'bob', id: b.sk.id, isDefault: false },
    ];
    world = {
      users: ['alice', 'bob'],
      tokens: [
        stored('default-pk', 'alice', a.pk),
        stored('pk-urls', 'alice', a.pkUrls),
        stored('sk-write', 'alice', a.skWrite),
        stored('sk-read', 'alice', a.skRead),
        stored('sk-deleted', 'alice', a.skGone, { live: false, writes: null }),
        temporary('tk-write', 'alice', tkWrite, a.skWrite, ['tokens:read', 'tokens:write', 'scopes:list', 'styles:read']),
        temporary('tk-read', 'alice', tkRead, a.skWrite, ['styles:read', 'map:read', OPERATOR_SCOPE]),
        temporary('tk-from-tk', 'alice', tkFromTk, a.skWrite, ['tokens:write', 'styles:read']),
        stored('default-pk', 'bob', b.pk),
        stored('sk-write', 'bob', b.sk),
        temporary('tk', 'bob', bobTk, b.sk, ['tokens:read', 'tokens:write']),
      ],
      ids,
      scopes: [...BUILT_IN_SCOPES.map((s) => s.id), OPERATOR_SCOPE],
      now: Date.now(),
    };
    db = new Database(join(dataDir, 'tokenbox.db'), { readonly: true, fileMustExist: true });
  } catch (error) {
    server.proc.kill('SIGKILL');
    agent.destroy();
    cleanup();
    throw error;
  }
  const reads = TABLES.map((table) => [table, db.prepare(`SELECT * FROM ${table} ORDER BY ${ORDER[table]}`)] as const);

  // The log since the last `logThrough`, kept apart from the whole log so each wait scans only
  // what is new (the whole log grows to megabytes over a run).
  let pending = '';
  const waiters = new Set<() => void>();
  const take = (chunk: Buffer) => {
    pending += chunk.toString();
    for (const w of waiters) w();
  };
  server.proc.stdout?.on('data', take);
  server.proc.stderr?.on('data', take);
  server.proc.once('exit', () => {
    for (const w of waiters) w();
  });

  let stopped = false;
  return {
    world,
    server,
    send,
    snapshot: () => Object.fromEntries(reads.map(([table, stmt]) => [table, stmt.all() as Record<string, unknown>[]])) as Snapshot,
    log: () => server.output(),
    logThrough(needle, timeoutMs = 10_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const at = pending.indexOf(needle);
          if (at !== -1) {
            const lineEnd = pending.indexOf('\n', at);
            const end = lineEnd === -1 ? pending.length : lineEnd + 1;
            // A copy, so the caller never holds on to the larger string it was cut from.
            const text = Buffer.from(pending.slice(0, end)).toString();
            pending = pending.slice(end);
            finish();
            resolve(text);
          } else if (server.proc.exitCode !== null || server.proc.signalCode !== null) {
            finish();
            reject(new Error(`serve exited while waiting for ${JSON.stringify(needle)} in its log`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${JSON.stringify(needle)} did not reach the log within ${timeoutMs} ms (is request logging off?)`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      agent.destroy();
      const exit = await stopServer(server, ['SIGTERM']);
      assert.equal(exit.code, 0, `serve exited with ${JSON.stringify(exit)} on SIGTERM`);
    },
    async close() {
      agent.destroy();
      if (server.proc.exitCode === null && server.proc.signalCode === null) {
        server.proc.kill('SIGKILL');
        await server.exited;
      }
      db.close();
      cleanup();
    },
  };
}

/** Rows that differ between two snapshots, as short sentences; `last_used` may only move forward. */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const table of TABLES) {
    const strip = (row: Record<string, unknown>) => JSON.stringify({ ...row, last_used: undefined });
    const was = before[table].map(strip);
    const now = after[table].map(strip);
    const gone = was.filter((r) => !now.includes(r));
    const added = now.filter((r) => !was.includes(r));
    const cut = (r: string) => (r.length > 300 ? `${r.slice(0, 300)}…` : r);
    for (const r of gone.slice(0, 3)) out.push(`${table}: row gone or changed: ${cut(r)}`);
    for (const r of added.slice(0, 3)) out.push(`${table}: row added or changed: ${cut(r)}`);
    if (table === 'tokens' && gone.length === 0 && added.length === 0) {
      // Usage counting (SPEC §5) may record lastUsed for a verified request: forward only.
      for (const [i, row] of before.tokens.entries()) {
        const then = row.last_used as number | null;
        const later = after.tokens[i]?.last_used as number | null;
        if (then !== later && (later === null || (then !== null && later < then)))
          out.push(`tokens: last_used of ${String(row.id)} went from ${then} to ${later}`);
      }
    }
  }
  return out;
}
