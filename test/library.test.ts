import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openVerifier } from '../src/index.js';
import * as library from '../src/index.js';
import { openTokenbox } from '../src/main.js';
import { loadConfig } from '../src/config/config.js';

it('openVerifier opens the data directory serve uses and verifies in-process', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-lib-'));
  try {
    // The operator's side (serve, the CLI) with the same data directory and its secret.key.
    const loaded = loadConfig({ env: {}, flags: { dataDir } });
    assert.ok(loaded.ok);
    const admin = await openTokenbox(loaded.config);
    const { defaultPublicToken } = await admin.accounts.create('alice');
    await admin.close();

    // A second process-like opening of the same directory: what an operator's service does.
    const tokenbox = await openVerifier({ dataDir });
    try {
      const ok = await tokenbox.verify(defaultPublicToken.token, { scope: 'styles:tiles' });
      assert.deepEqual(ok, { ok: true, user: 'alice', tokenId: defaultPublicToken.id, usage: 'pk', scopes: defaultPublicToken.scopes });
      const missing = await tokenbox.verify(defaultPublicToken.token, { scope: 'tokens:write' });
      assert.deepEqual(missing, { ok: false, code: 'missing_scope', status: 403, message: 'This endpoint requires a token with tokens:write scope' });
      assert.equal((await tokenbox.verify(undefined)).ok, false);
      assert.deepEqual(tokenbox.check(defaultPublicToken.token, { scope: 'styles:tiles' }), ok, 'a cached token is judged without a promise');
      assert.deepEqual(Object.keys(tokenbox).sort(), ['check', 'close', 'verify'], 'the verifier, not the object graph');
    } finally {
      await tokenbox.close();
    }
    await assert.rejects(openVerifier({ dataDir, cacheSize: -1 }), /invalid configuration: cacheSize/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

it('the package exports only openVerifier (types aside)', () => {
  assert.deepEqual(Object.keys(library), ['openVerifier']);
});
