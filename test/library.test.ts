import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openVerifier } from '../src/index.js';

it('openVerifier opens the data directory serve uses and verifies in-process', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-lib-'));
  try {
    const admin = await openVerifier({ dataDir });
    const { defaultPublicToken } = await admin.accounts.create('alice');
    await admin.close();

    // A second process-like opening of the same directory: what an operator's service does.
    const tokenbox = await openVerifier({ dataDir });
    try {
      const ok = await tokenbox.verifier.verify(defaultPublicToken.token, { scope: 'styles:tiles' });
      assert.deepEqual(ok, { ok: true, user: 'alice', tokenId: defaultPublicToken.id, usage: 'pk', scopes: defaultPublicToken.scopes });
      const missing = await tokenbox.verifier.verify(defaultPublicToken.token, { scope: 'tokens:write' });
      assert.deepEqual(missing, { ok: false, code: 'missing_scope', status: 403, message: 'This endpoint requires a token with tokens:write scope' });
      assert.equal((await tokenbox.verifier.verify(undefined)).ok, false);
    } finally {
      await tokenbox.close();
    }
    await assert.rejects(openVerifier({ dataDir, cacheSize: -1 }), /invalid configuration: cacheSize/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
