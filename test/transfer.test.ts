/**
 * Export and import (SPEC §8): the transfer contract on memory and SQLite, what only SQLite has
 * (the snapshot's own connection), and the service's file format against hostile input.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../src/domain/sealer.js';
import { TransferError, TransferService, type TransferCounts } from '../src/services/transfer-service.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { canonical, exportAll, populate, runTransferContract, type TransferStore } from './transfer-contract.js';
import { openedMemoryStore, openedSqliteStore } from './helpers/stores.js';

const T0 = 1_700_000_000_000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tokenbox-transfer-'));
}

runTransferContract('memory', openedMemoryStore);
runTransferContract('sqlite', openedSqliteStore);

describe('sqlite export: its own read transaction', () => {
  it('holds a snapshot while it runs (a full checkpoint is busy) and lets go when abandoned', async () => {
    const dir = tempDir();
    const store = openSqliteStore(dir);
    const probe = new Database(join(dir, 'tokenbox.db'));
    try {
      await store.migrate();
      await populate(store);
      const checkpointBusy = (): number => (probe.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]?.busy ?? -1;
      const records = store.exportRecords(1)[Symbol.asyncIterator]();
      await records.next();
      // A write after the snapshot: the reader still needs the WAL frames before it.
      await store.appendAudit({ at: T0, actor: { kind: 'cli', id: null }, account: null, action: 'session.sign_in_failed', target: null, ip: null });
      assert.equal(checkpointBusy(), 1, 'the export holds no snapshot');
      await records.return?.();
      assert.equal(checkpointBusy(), 0, 'the abandoned export still holds its snapshot');
    } finally {
      probe.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const SECRET = 'transfer-test-secret-0123456789abcdef';

/** The export of `store` as text. */
async function exportText(store: TransferStore, sealer = new Sealer(SECRET)): Promise<string> {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  await new TransferService(store, sealer, () => T0).exportTo(sink);
  return text;
}

/** Imports `text`, fed in `pieces`-character chunks (line breaks and UTF-8 fall anywhere). */
function importText(store: TransferStore, text: string, sealer = new Sealer(SECRET), pieces = 4096): Promise<TransferCounts> {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += pieces) chunks.push(bytes.subarray(i, i + pieces));
  return new TransferService(store, sealer, () => T0).importFrom(Readable.from(chunks));
}

async function assertEmpty(store: TransferStore): Promise<void> {
  const begun = await store.beginImport();
  assert.ok(begun.empty, 'the target is not empty');
  await begun.writer.abort();
}

describe('transfer service', () => {
  let source: MemoryStore;
  let text: string;
  let lines: string[];

  beforeEach(async () => {
    source = new MemoryStore();
    const sealer = new Sealer(SECRET);
    await populate(source, (id) => sealer.seal(randomBytes(32), id));
    await source.updateToken(
      'alice',
      (await source.listTokens('alice', { sortBy: 'created', after: null, limit: 1 }))[0]?.id ?? '',
      { note: 'café 地図 🗺' },
      T0 + 70,
    );
    text = await exportText(source);
    lines = text.split('\n').slice(0, -1);
  });

  it('writes a header, one line per record and an end line whose counts match', () => {
    const header = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(header), ['kind', 'format', 'version', 'exportedAt', 'secretCheck']);
    assert.equal(header.format, 'tokenbox-export');
    assert.equal(header.version, 1);
    assert.equal(header.exportedAt, new Date(T0).toISOString());
    const end = JSON.parse(lines.at(-1) ?? '') as { kind: string; counts: Record<string, number> };
    assert.equal(end.kind, 'end');
    assert.equal(
      Object.values(end.counts).reduce((a, b) => a + b, 0),
      lines.length - 2,
    );
    assert.deepEqual(end.counts, { account: 2, token: 4, usage: 3, session: 1, signingKey: 2, adminKey: 1, delete: 1, audit: 9 });
  });

  it('a round trip through the text gives the same records, fed in 7-byte pieces, with CRLF line ends too', async () => {
    for (const [input, pieces] of [
      [text, 7],
      [text.replaceAll('\n', '\r\n'), 5],
    ] as const) {
      const target = new MemoryStore();
      const counts = await importText(target, input, undefined, pieces);
      assert.equal(counts.token, 4);
      assert.deepEqual(canonical(await exportAll(target)), canonical(await exportAll(source)));
    }
  });

  it('a file exported again from the target is the same file but for its header', async () => {
    const target = new MemoryStore();
    await importText(target, text);
    const again = (await exportText(target)).split('\n');
    assert.deepEqual(canonicalLines(again.slice(1)), canonicalLines(lines.slice(1).concat('')));
  });

  it('another secret is refused before the store is touched', async () => {
    const target = new MemoryStore();
    let began = 0;
    const watched = new Proxy(target, {
      get(store, property, receiver) {
        if (property === 'beginImport') began += 1;
        return Reflect.get(store, property, receiver) as unknown;
      },
    });
    await assert.rejects(importText(watched, text, new Sealer('another-secret-0123456789abcdefghij')), (error: Error) => {
      assert.ok(error instanceof TransferError);
      assert.match(error.message, /another secret/);
      return true;
    });
    assert.equal(began, 0);
    await assertEmpty(target);
  });

  it('an export refuses a store whose signing keys do not open with its secret', async () => {
    await assert.rejects(exportText(source, new Sealer('another-secret-0123456789abcdefghij')), /signing key .* does not open/);
  });

  /** Each hostile file: refused with TransferError naming what is wrong, the target left empty. */
  const hostile: readonly (readonly [string, (lines: string[]) => string, RegExp])[] = [
    ['an empty input', () => '', /the input is empty/],
    ['a header that is not JSON', (l) => ['{"kind":"header"', ...l.slice(1)].join('\n'), /^line 1 is not valid JSON$/],
    ['no header', (l) => l.slice(1).join('\n'), /^line 1 is not a tokenbox export header/],
    ['another format version', (l) => [l[0]?.replace('"version":1', '"version":2'), ...l.slice(1)].join('\n'), /version 2/],
    ['a malformed line', (l) => replaceLine(l, 3, '{"kind":"token",'), /^line 3 is not valid JSON$/],
    ['an unknown kind', (l) => replaceLine(l, 4, '{"kind":"bogus"}'), /^line 4 has an unknown kind "bogus"$/],
    ['a line that is not an object', (l) => replaceLine(l, 4, '[1,2]'), /^line 4 has no kind$/],
    ['a kind out of order', (l) => [l[0], l[3], l[1], ...l.slice(2, 3), ...l.slice(4)].join('\n'), /^line 3 holds an account record after token records/],
    [
      'a record with a bad field',
      (l) => replaceLine(l, 4, (l[3] ?? '').replace(/"scopes":\[[^\]]*\]/, '"scopes":"all"')),
      /^line 4 is not a valid token record \(scopes /,
    ],
    ['a record with an extra field', (l) => replaceLine(l, 2, (l[1] ?? '').replace('{', '{"admin":true,')), /^line 2 is not a valid account record/],
    ['an oversized line', (l) => replaceLine(l, 5, `{"kind":"token","note":"${'x'.repeat(1024 * 1024)}"}`), /^line 5 is longer than 1048576 characters$/],
    ['an oversized last line with no line break', (l) => [...l.slice(0, 5), 'x'.repeat(1024 * 1024 + 1)].join('\n'), /^line 6 is longer than/],
    ['a missing end line', (l) => l.slice(0, -1).join('\n'), /^the input ends at line \d+ without its end line/],
    ['a file cut mid-way', (l) => l.slice(0, 6).join('\n'), /^the input ends at line 6 without its end line/],
    ['a missing record', (l) => [...l.slice(0, 4), ...l.slice(5)].join('\n'), /^the end line counts 4 token records where the file holds 3/],
    ['a line after the end line', (l) => [...l, l[1]].join('\n'), /comes after the end line$/],
    ['a second header', (l) => replaceLine(l, 2, l[0] ?? ''), /^line 2 is a second header$/],
    [
      'a record the store refuses',
      (l) => replaceLine(l, 2, (l[1] ?? '').replace('"alice"', '"zed"')),
      /^the target store refused a record on lines 2 to \d+ \(/,
    ],
  ];
  for (const [what, make, message] of hostile) {
    it(`refuses ${what}, committing nothing`, async () => {
      const target = new MemoryStore();
      await assert.rejects(importText(target, make(lines)), (error: Error) => {
        assert.ok(error instanceof TransferError, `not a TransferError: ${error.stack}`);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
      await assertEmpty(target);
    });
  }

  it('refuses a target that holds anything, saying what it holds', async () => {
    const target = new MemoryStore();
    await target.appendAudit({ at: T0, actor: { kind: 'cli', id: null }, account: null, action: 'session.sign_in_failed', target: null, ip: null });
    await assert.rejects(importText(target, text), { message: /^the target store is not empty \(it holds 1 audit entry\)/ });
  });
});

/** Lines as a multiset, ignoring the header (its time and sealed check differ per export). */
function canonicalLines(lines: readonly string[]): string[] {
  return lines.map((line) => (line === '' ? '' : JSON.stringify(JSON.parse(line), null, 0))).sort();
}

/** `lines` with line `number` (1-based) replaced, joined into a file. */
function replaceLine(lines: readonly string[], number: number, line: string): string {
  return lines.map((l, i) => (i === number - 1 ? line : l)).join('\n');
}
