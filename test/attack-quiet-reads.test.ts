/**
 * Regression tests, named after the attack: a command run without the operator's configuration
 * must not rewrite the store (SPEC §4.4: only `serve` and `migrate` re-derive the default
 * tokens' scopes), and malformed arguments are usage errors that touch nothing (SPEC §8).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openVerifier } from '../src/index.js';
import { cli, ensureBuilt } from './helpers/cli.js';

const OPERATOR_SCOPES = { scopes: [{ id: 'tiles:extra', description: 'Extra tiles', public: true }] };

/** Every row that a write would touch: the tokens and the change log. */
function snapshot(dataDir: string): string {
  const db = new Database(join(dataDir, 'tokenbox.db'), { readonly: true });
  try {
    const tokens = db.prepare('SELECT id, scopes, modified FROM tokens ORDER BY id').all();
    const changes = db.prepare('SELECT seq, token_id, kind FROM token_changes ORDER BY seq').all();
    return JSON.stringify({ tokens, changes });
  } finally {
    db.close();
  }
}

describe("attack: a read-only command run without the operator's --config rewrites every default token", () => {
  let root: string;
  let dataDir: string;
  let configPath: string;

  before(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'tokenbox-quiet-'));
    dataDir = join(root, 'data');
    configPath = join(root, 'tokenbox.json');
    writeFileSync(configPath, JSON.stringify(OPERATOR_SCOPES));
    const created = await cli(['accounts', 'create', 'alice', '--data', dataDir, '--config', configPath]);
    assert.equal(created.code, 0, created.stderr);
    const migrated = await cli(['migrate', '--data', dataDir, '--config', configPath]);
    assert.equal(migrated.code, 0, migrated.stderr);
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it("the operator's migrate put the operator scope on the default token", () => {
    assert.match(snapshot(dataDir), /tiles:extra/);
  });

  for (const args of [
    ['tokens', 'list', 'alice'],
    ['accounts', 'list'],
    ['keys', 'list'],
  ]) {
    it(`tokenbox ${args.join(' ')} without --config writes nothing`, async () => {
      const before = snapshot(dataDir);
      const result = await cli([...args, '--data', dataDir]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(snapshot(dataDir), before);
    });
  }

  it('openVerifier() without the config file writes nothing', async () => {
    const before = snapshot(dataDir);
    const tokenbox = await openVerifier({ dataDir });
    assert.equal((await tokenbox.verify('pk.x.y')).ok, false);
    await tokenbox.close();
    assert.equal(snapshot(dataDir), before);
  });

  it('migrate without the operator scope re-derives (it runs with the configuration in force)', async () => {
    const result = await cli(['migrate', '--data', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(snapshot(dataDir), /tiles:extra/);
  });
});

describe('attack: malformed arguments make tokens or directories', () => {
  let root: string;
  before(() => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'tokenbox-usage-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('tokens create --scopes , is a usage error (exit 2), not a token without scopes', async () => {
    const dataDir = join(root, 'scopes');
    assert.equal((await cli(['accounts', 'create', 'alice', '--data', dataDir])).code, 0);
    const before = snapshot(dataDir);
    for (const flags of [
      ['--scopes', ','],
      ['--scopes', ' , '],
      ['--allowed-urls', ','],
    ]) {
      const result = await cli(['tokens', 'create', 'alice', ...flags, '--data', dataDir]);
      assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /needs at least one value/);
      assert.equal(result.stdout, '');
    }
    assert.equal(snapshot(dataDir), before);
  });

  for (const [args, name] of [
    [['accounts', 'create', 'Alice'], 'accounts create with an upper-case name'],
    [['accounts', 'create', '-bad'], 'accounts create with a leading dash'],
    [['tokens', 'create', 'a b'], 'tokens create with a space'],
    [['tokens', 'list', 'x'.repeat(33)], 'tokens list with 33 characters'],
    [['tokens', 'delete', '../etc', 'c0000000000000000000000000'], 'tokens delete with a path'],
  ] as const) {
    it(`${name}: usage error (exit 2), and no data directory is made`, async () => {
      const dataDir = join(root, `none-${name.replace(/\W+/g, '-')}`);
      const result = await cli([...args, '--data', dataDir]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /not a valid username|unknown option/);
      assert.equal(existsSync(dataDir), false);
    });
  }
});
