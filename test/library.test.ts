import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openVerifier } from '../src/index.js';
import * as library from '../src/index.js';
import { openTokenbox } from '../src/main.js';
import { loadConfig } from '../src/config/config.js';
import { createTestSchema, postgresMissing } from './helpers/postgres.js';

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

const postgres = await postgresMissing();
it(
  'openVerifier on the PostgreSQL the serve nodes use: verifies, and sees a delete made elsewhere',
  { skip: postgres !== null && !process.env.CI ? postgres : false },
  async () => {
    assert.equal(postgres, null, 'PostgreSQL is required when CI is set');
    const schema = await createTestSchema();
    const secret = 'a-secret-that-is-at-least-32-characters-long';
    const saved = process.env.TOKENBOX_SECRET;
    process.env.TOKENBOX_SECRET = secret;
    try {
      const loaded = loadConfig({ env: { TOKENBOX_SECRET: secret }, flags: { databaseUrl: schema.url } });
      assert.ok(loaded.ok);
      const admin = await openTokenbox(loaded.config);
      try {
        const { defaultPublicToken } = await admin.accounts.create('alice');
        const tokenbox = await openVerifier({ databaseUrl: schema.url });
        try {
          assert.equal((await tokenbox.verify(defaultPublicToken.token, { scope: 'styles:tiles' })).ok, true);
          await admin.tokens.delete(await admin.access.operator('alice'), defaultPublicToken.id);
          // NOTIFY wakes the verifier's follower; the poll (50 ms) is the guarantee. Ask until it refuses.
          const started = performance.now();
          while ((await tokenbox.verify(defaultPublicToken.token, { scope: 'styles:tiles' })).ok && performance.now() - started < 10_000) {
            await new Promise((resolve) => setImmediate(resolve));
          }
          assert.equal((await tokenbox.verify(defaultPublicToken.token, { scope: 'styles:tiles' })).ok, false);
        } finally {
          await tokenbox.close();
        }
      } finally {
        await admin.close();
      }
    } finally {
      if (saved === undefined) delete process.env.TOKENBOX_SECRET;
      else process.env.TOKENBOX_SECRET = saved;
      await schema.drop();
    }
  },
);

it('the package exports only openVerifier (types aside)', () => {
  assert.deepEqual(Object.keys(library), ['openVerifier']);
});
