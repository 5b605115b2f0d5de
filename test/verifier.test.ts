/**
 * The in-process verifier (SPEC §5, way in 1; §7 change log and tombstones): one table of
 * verdicts in SPEC order, what each verdict costs in store reads (the hot path reads nothing for
 * malformed strings, tk tokens and cached pk/sk; an unknown pk/sk costs one read, then none),
 * how updates and deletes reach the cache, the cache bound, the per-token rate limit, and that
 * verify never throws.
 *
 * Reads are counted by `directory.stats.reads`; where it matters a closed store proves it too
 * (a read from a closed SQLite store fails, so an answer given after closing it needed no read).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newStoredToken, newTokenId } from '../src/domain/token-format.js';
import type { Verdict } from '../src/verification/verifier.js';
import { openTokenbox } from '../src/main.js';
import { startTestApp, testClock, testConfig, withOpened, type TestApp } from './helpers/app.js';
import {
  ALLOWED_SITE,
  forge,
  missingScope,
  mintTk,
  parts,
  PUBLIC_SCOPE,
  SECRET_SCOPE,
  VERDICT_ROWS,
  verdictWorld,
  type VerdictWorld,
} from './helpers/verdict-world.js';

const INVALID = { ok: false, code: 'invalid_token', status: 401, message: 'Not Authorized - Invalid Token' };
const VERDICT_CODES = new Set(['no_token', 'invalid_token', 'forbidden', 'missing_scope', 'rate_limited']);

function withWorld(fn: (w: VerdictWorld) => Promise<void>, overrides: Record<string, unknown> = {}): Promise<void> {
  return withOpened(() => verdictWorld(overrides), fn);
}

async function withApp(fn: (t: TestApp) => Promise<void>, overrides: Record<string, unknown> = {}): Promise<void> {
  const t = await startTestApp(overrides);
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/** Store reads made by `fn` (cache fills). */
async function readsDuring(t: TestApp, fn: () => Promise<unknown>): Promise<number> {
  const before = t.app.directory.stats.reads;
  await fn();
  return t.app.directory.stats.reads - before;
}

describe('verdicts, in SPEC order (401 no token → 401 invalid → 403 restriction → 403 scope)', () => {
  // One world for the whole table: verifying changes nothing but the rate-limit counts (600).
  let world: VerdictWorld;
  before(async () => {
    world = await verdictWorld();
  });
  after(() => world?.t.close());

  for (const spec of VERDICT_ROWS) {
    it(spec.name, async () => {
      const row = world.row(spec.name);
      assert.deepEqual({ ...(await world.t.app.verifier.verify(row.token, row.request)) }, row.expect);
    });
  }
});

describe('verdict details', () => {
  it('the missing-scope message names the scope the endpoint requires', () =>
    withWorld(async (w) => {
      for (const scope of ['map:read', 'uploads:write', 'vision:download']) {
        const verdict = await w.t.app.verifier.verify(w.tokens.defaultPk.token, { scope });
        assert.deepEqual({ ...verdict }, missingScope(scope));
      }
    }));

  it('a verified tk reports its parent p as tokenId, never an id of its own', () =>
    withWorld(async (w) => {
      const verdict = await w.t.app.verifier.verify(w.tokens.tk, { scope: PUBLIC_SCOPE });
      assert.equal(verdict.ok, true);
      assert.equal(verdict.ok && verdict.tokenId, w.tokens.sk.id);
      assert.equal(verdict.ok && verdict.usage, 'tk');
    }));
});

describe('store reads on the hot path', () => {
  it('malformed strings cost zero reads', () =>
    withWorld(async (w) => {
      const [, payload, secret] = parts(w.tokens.defaultPk.token);
      const malformed = [
        `pk.${payload}.${payload}.${secret}`,
        `pk.${'A'.repeat(10 * 1024)}.${secret}`,
        `pk.eyJ1Ijoi*!~.${secret}`,
        `pk.${payload}.${secret}x`,
        `xx.${payload}.${secret}`,
        'not a token',
      ];
      const reads = await readsDuring(w.t, async () => {
        for (const token of malformed) assert.deepEqual({ ...(await w.t.app.verifier.verify(token, { scope: PUBLIC_SCOPE })) }, INVALID);
      });
      assert.equal(reads, 0);
    }));

  it('a forged tk, an expired tk and a tk whose parent was deleted cost zero reads', () =>
    withWorld(async (w) => {
      const reads = await readsDuring(w.t, async () => {
        for (const token of [forge(w.tokens.tk), w.tokens.expiredTk, w.tokens.orphanTk]) {
          assert.deepEqual({ ...(await w.t.app.verifier.verify(token, { scope: PUBLIC_SCOPE })) }, INVALID);
        }
      });
      assert.equal(reads, 0);
    }));

  it('a live tk costs zero reads', () =>
    withWorld(async (w) => {
      const reads = await readsDuring(w.t, async () => {
        for (let i = 0; i < 5; i++) assert.equal((await w.t.app.verifier.verify(w.tokens.tk, { scope: PUBLIC_SCOPE })).ok, true);
      });
      assert.equal(reads, 0);
    }));

  it('a well-formed pk/sk with an unknown id costs one read the first time, none on repeats', () =>
    withWorld(async (w) => {
      for (const usage of ['pk', 'sk'] as const) {
        const unknown = newStoredToken(usage, 'alice', newTokenId());
        assert.equal(await readsDuring(w.t, () => w.t.app.verifier.verify(unknown, { scope: PUBLIC_SCOPE })), 1, `${usage}: first`);
        const repeats = await readsDuring(w.t, async () => {
          for (let i = 0; i < 10; i++) assert.deepEqual({ ...(await w.t.app.verifier.verify(unknown, { scope: PUBLIC_SCOPE })) }, INVALID);
        });
        assert.equal(repeats, 0, `${usage}: repeats`);
      }
    }));

  it('a forged secret for a live id costs one read the first time, none on repeats', () =>
    withWorld(async (w) => {
      const forged = forge(w.tokens.sk.token);
      assert.equal(await readsDuring(w.t, () => w.t.app.verifier.verify(forged, { scope: SECRET_SCOPE })), 1);
      assert.equal(await readsDuring(w.t, () => w.t.app.verifier.verify(forged, { scope: SECRET_SCOPE })), 0);
      // The real token is not tarred by its forgery.
      assert.equal((await w.t.app.verifier.verify(w.tokens.sk.token, { scope: SECRET_SCOPE })).ok, true);
    }));

  it('a cached pk costs zero reads', () =>
    withWorld(async (w) => {
      const first = await readsDuring(w.t, () => w.t.app.verifier.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE }));
      assert.ok(first <= 1, `the first verify read ${first} times`);
      const repeats = await readsDuring(w.t, async () => {
        for (let i = 0; i < 50; i++) assert.equal((await w.t.app.verifier.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE })).ok, true);
      });
      assert.equal(repeats, 0);
    }));

  it('with the store closed, the hot path still answers (it needed no read)', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      // Warm the pk cache and the negative cache, then take the store away.
      assert.equal((await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE })).ok, true);
      const unknown = newStoredToken('pk', 'alice', newTokenId());
      await v.verify(unknown);
      w.t.app.directory.follower.stop();
      await w.t.app.store.close();
      assert.equal((await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE })).ok, true, 'cached pk');
      assert.equal((await v.verify(w.tokens.tk, { scope: PUBLIC_SCOPE })).ok, true, 'live tk');
      assert.deepEqual({ ...(await v.verify(unknown)) }, INVALID, 'negative cache');
      assert.deepEqual({ ...(await v.verify(w.tokens.orphanTk, { scope: PUBLIC_SCOPE })) }, INVALID, 'tk of a deleted parent (tombstone)');
      assert.deepEqual({ ...(await v.verify(w.tokens.expiredTk, { scope: PUBLIC_SCOPE })) }, INVALID, 'expired tk');
      assert.deepEqual({ ...(await v.verify(forge(w.tokens.tk), { scope: PUBLIC_SCOPE })) }, INVALID, 'forged tk');
      assert.deepEqual({ ...(await v.verify('pk.x.y')) }, INVALID, 'malformed');
    }));
});

describe('changes reach the verifier (SPEC §4.4: at once on this node; §7 change log)', () => {
  it('an update through the API (scope removed) holds from the very next verify', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      const { sk } = w.tokens;
      const target = await w.t.token('alice', [PUBLIC_SCOPE, 'styles:read']);
      assert.equal((await v.verify(target.token, { scope: 'styles:read' })).ok, true);
      // Cached now: the next verify would answer from memory unless the update reached it.
      assert.equal(await readsDuring(w.t, () => v.verify(target.token, { scope: 'styles:read' })), 0);
      const res = await w.t.server.inject({
        method: 'PATCH',
        url: `/tokens/v2/alice/${target.id}`,
        headers: { authorization: `Bearer ${sk.token}` },
        payload: { scopes: [PUBLIC_SCOPE] },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual({ ...(await v.verify(target.token, { scope: 'styles:read' })) }, missingScope('styles:read'));
      assert.equal((await v.verify(target.token, { scope: PUBLIC_SCOPE })).ok, true);
    }));

  it('an update through the API adding a URL restriction holds from the very next verify', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      const target = await w.t.token('alice', [PUBLIC_SCOPE]);
      assert.equal((await v.verify(target.token, { scope: PUBLIC_SCOPE })).ok, true);
      const res = await w.t.server.inject({
        method: 'PATCH',
        url: `/tokens/v2/alice/${target.id}`,
        headers: { authorization: `Bearer ${w.tokens.sk.token}` },
        payload: { allowedUrls: [ALLOWED_SITE] },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await v.verify(target.token, { scope: PUBLIC_SCOPE })).ok, false);
      assert.equal((await v.verify(target.token, { scope: PUBLIC_SCOPE, referrer: `${ALLOWED_SITE}/` })).ok, true);
    }));

  it('a delete through the API holds from the very next verify, for the pk and for tks of a deleted sk', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      const { sk } = w.tokens;
      const target = await w.t.token('alice', [PUBLIC_SCOPE]);
      const parent = await w.t.token('alice', [PUBLIC_SCOPE, 'tokens:write']);
      const child = await mintTk(w.t, parent.token, [PUBLIC_SCOPE], 10 * 60_000);
      for (const token of [target.token, parent.token, child]) assert.equal((await v.verify(token, { scope: PUBLIC_SCOPE })).ok, true);
      for (const id of [target.id, parent.id]) {
        const res = await w.t.server.inject({ method: 'DELETE', url: `/tokens/v2/alice/${id}`, headers: { authorization: `Bearer ${sk.token}` } });
        assert.equal(res.statusCode, 204, res.body);
      }
      for (const token of [target.token, parent.token, child]) assert.deepEqual({ ...(await v.verify(token, { scope: PUBLIC_SCOPE })) }, INVALID);
    }));

  it('a busy pk (its hash remembered, not recomputed) still sees a scope removal and a delete from the very next verify', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      const target = await w.t.token('alice', [PUBLIC_SCOPE, 'styles:read']);
      for (let i = 0; i < 5; i++) assert.equal((await v.verify(target.token, { scope: 'styles:read' })).ok, true);
      const auth = { authorization: `Bearer ${w.tokens.sk.token}` };
      const patched = await w.t.server.inject({ method: 'PATCH', url: `/tokens/v2/alice/${target.id}`, headers: auth, payload: { scopes: [PUBLIC_SCOPE] } });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal((await v.verify(target.token, { scope: 'styles:read' })).ok, false);
      assert.equal((await v.verify(target.token, { scope: PUBLIC_SCOPE })).ok, true);
      const deleted = await w.t.server.inject({ method: 'DELETE', url: `/tokens/v2/alice/${target.id}`, headers: auth });
      assert.equal(deleted.statusCode, 204, deleted.body);
      for (let i = 0; i < 3; i++) assert.deepEqual({ ...(await v.verify(target.token, { scope: PUBLIC_SCOPE })) }, INVALID);
      // One character changed: a different string, never mistaken for the remembered one.
      const last = target.token.at(-1) === 'A' ? 'B' : 'A';
      assert.deepEqual({ ...(await v.verify(`${target.token.slice(0, -1)}${last}`, { scope: PUBLIC_SCOPE })) }, INVALID);
    }));

  it('refreshing the default token (DELETE) refuses the old string from the very next verify', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      const old = w.tokens.defaultPk;
      assert.equal((await v.verify(old.token, { scope: PUBLIC_SCOPE })).ok, true);
      const res = await w.t.server.inject({ method: 'DELETE', url: `/tokens/v2/alice/${old.id}`, headers: { authorization: `Bearer ${w.tokens.sk.token}` } });
      assert.equal(res.statusCode, 204, res.body);
      assert.deepEqual({ ...(await v.verify(old.token, { scope: PUBLIC_SCOPE })) }, INVALID);
    }));

  it('a delete made directly in the store holds once the change log is polled, for the pk and its tks, with no read for the tk', () =>
    withWorld(async (w) => {
      const v = w.t.app.verifier;
      const target = await w.t.token('alice', [PUBLIC_SCOPE, 'tokens:write']);
      const child = await mintTk(w.t, target.token, [PUBLIC_SCOPE], 10 * 60_000);
      assert.equal((await v.verify(target.token, { scope: PUBLIC_SCOPE })).ok, true);
      assert.equal((await v.verify(child, { scope: PUBLIC_SCOPE })).ok, true);
      // Another process's delete: only the store and its change log know.
      assert.equal(await w.t.app.store.deleteToken('alice', target.id, w.t.clock()), true);
      await w.t.app.directory.follower.poll();
      assert.deepEqual({ ...(await v.verify(target.token, { scope: PUBLIC_SCOPE })) }, INVALID);
      assert.equal(await readsDuring(w.t, () => v.verify(child, { scope: PUBLIC_SCOPE })), 0);
      assert.deepEqual({ ...(await v.verify(child, { scope: PUBLIC_SCOPE })) }, INVALID);
    }));

  it('a tk whose parent was deleted is refused with no store read', () =>
    withWorld(async (w) => {
      const reads = await readsDuring(w.t, async () => {
        for (let i = 0; i < 5; i++) assert.deepEqual({ ...(await w.t.app.verifier.verify(w.tokens.orphanTk, { scope: PUBLIC_SCOPE })) }, INVALID);
      });
      assert.equal(reads, 0);
    }));

  it('a process started after the delete refuses the orphan tk too (tombstones loaded at start)', async () => {
    const w = await verdictWorld();
    try {
      // A second tokenbox on the same file, as another process would open it.
      const other = await openTokenbox(testConfig(w.t.dataDir), { clock: w.t.clock, changePollMs: 0 });
      try {
        const before = other.directory.stats.reads;
        assert.deepEqual({ ...(await other.verifier.verify(w.tokens.orphanTk, { scope: PUBLIC_SCOPE })) }, INVALID);
        assert.equal(other.directory.stats.reads, before);
        assert.deepEqual({ ...(await other.verifier.verify(w.tokens.orphanTk, { scope: PUBLIC_SCOPE })) }, INVALID);
        assert.equal((await other.verifier.verify(w.tokens.tk, { scope: PUBLIC_SCOPE })).ok, true);
      } finally {
        await other.close();
      }
    } finally {
      await w.t.close();
    }
  });
});

describe('the cache stays bounded (cacheSize: 5)', () => {
  it('20 distinct tokens all verify correctly, twice; the second pass has to read again; deletes still hold', () =>
    withApp(
      async (t) => {
        await t.account('alice');
        const tokens: { token: string; id: string }[] = [];
        for (let i = 0; i < 20; i++) tokens.push(await t.token('alice', [PUBLIC_SCOPE]));
        const pass = async () => {
          for (const tok of tokens) {
            const verdict = await t.app.verifier.verify(tok.token, { scope: PUBLIC_SCOPE });
            assert.deepEqual({ ...verdict }, { ok: true, user: 'alice', tokenId: tok.id, usage: 'pk', scopes: [PUBLIC_SCOPE] });
          }
        };
        await pass();
        const secondPassReads = await readsDuring(t, pass);
        // Any cache holding at most 5 entries hits at most 5 of the 20: at least 15 reads.
        assert.ok(secondPassReads >= 15, `the second pass read only ${secondPassReads} times: the cache holds more than 5`);
        // Unknown tokens are bounded the same way, and answer correctly.
        const unknown = Array.from({ length: 20 }, () => newStoredToken('pk', 'alice', newTokenId()));
        for (const u of unknown) assert.deepEqual({ ...(await t.app.verifier.verify(u)) }, INVALID);
        for (const u of unknown) assert.deepEqual({ ...(await t.app.verifier.verify(u)) }, INVALID);
        await pass();
        // Eviction keeps invalidation working: the newest (cached) and the oldest (evicted).
        const grant = await t.app.access.operator('alice');
        const victims = new Set([19, 0, 7]);
        for (const i of victims) {
          const victim = tokens[i] as { token: string; id: string };
          await t.app.tokens.delete(grant, victim.id);
          assert.deepEqual({ ...(await t.app.verifier.verify(victim.token, { scope: PUBLIC_SCOPE })) }, INVALID, `deleted token ${i}`);
        }
        for (const [i, tok] of tokens.entries()) {
          const verdict = await t.app.verifier.verify(tok.token, { scope: PUBLIC_SCOPE });
          assert.equal(verdict.ok, !victims.has(i), `token ${i}`);
        }
      },
      { cacheSize: 5 },
    ));
});

describe('per-token rate limit (tokenRateLimit), keyed only after verification', () => {
  const LIMIT = 3;

  function secondsToWindowEnd(t: TestApp): number {
    const nowS = Math.floor(t.clock() / 1000);
    return 60 - (nowS % 60);
  }

  it(`${LIMIT} pass, the next is 429 Too Many Requests with retryAfter; the next window passes again`, () =>
    withWorld(
      async (w) => {
        const v = w.t.app.verifier;
        w.t.clock.advance(17_000); // not on a window boundary, so retryAfter is not simply 60
        for (let i = 0; i < LIMIT; i++) assert.equal((await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE })).ok, true, `request ${i + 1}`);
        const limited = await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE });
        assert.deepEqual({ ...limited }, { ok: false, code: 'rate_limited', status: 429, message: 'Too Many Requests', retryAfter: secondsToWindowEnd(w.t) });
        assert.ok(secondsToWindowEnd(w.t) < 60);
        // Other tokens have budgets of their own.
        assert.equal((await v.verify(w.tokens.bobPk.token, { scope: PUBLIC_SCOPE })).ok, true);
        w.t.clock.advance(secondsToWindowEnd(w.t) * 1000);
        assert.equal((await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE })).ok, true);
      },
      { tokenRateLimit: LIMIT },
    ));

  it("forged strings naming the token's id do not spend its budget", () =>
    withWorld(
      async (w) => {
        const v = w.t.app.verifier;
        for (let i = 0; i < 50; i++) {
          const forged = `${forge(w.tokens.sk.token).slice(0, -4)}${String(i).padStart(4, '0')}`;
          assert.deepEqual({ ...(await v.verify(forged, { scope: SECRET_SCOPE })) }, INVALID);
        }
        for (let i = 0; i < LIMIT; i++) assert.equal((await v.verify(w.tokens.sk.token, { scope: SECRET_SCOPE })).ok, true, `request ${i + 1}`);
        assert.equal((await v.verify(w.tokens.sk.token, { scope: SECRET_SCOPE })).ok, false);
      },
      { tokenRateLimit: LIMIT },
    ));

  it('a tk counts toward its parent p, and the parent toward the tk', () =>
    withWorld(
      async (w) => {
        const v = w.t.app.verifier;
        assert.equal((await v.verify(w.tokens.sk.token, { scope: PUBLIC_SCOPE })).ok, true);
        assert.equal((await v.verify(w.tokens.tk, { scope: PUBLIC_SCOPE })).ok, true);
        assert.equal((await v.verify(w.tokens.sk.token, { scope: PUBLIC_SCOPE })).ok, true);
        const tkLimited = await v.verify(w.tokens.tk, { scope: PUBLIC_SCOPE });
        assert.equal(!tkLimited.ok && tkLimited.code, 'rate_limited');
        const skLimited = await v.verify(w.tokens.sk.token, { scope: PUBLIC_SCOPE });
        assert.equal(!skLimited.ok && skLimited.code, 'rate_limited');
      },
      { tokenRateLimit: LIMIT },
    ));

  it('over the limit, a request that misses the scope still gets the earlier verdict (403 scope, not 429)', () =>
    withWorld(
      async (w) => {
        const v = w.t.app.verifier;
        for (let i = 0; i <= LIMIT; i++) await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE });
        assert.equal((await v.verify(w.tokens.defaultPk.token, { scope: PUBLIC_SCOPE })).ok, false);
        assert.deepEqual({ ...(await v.verify(w.tokens.defaultPk.token, { scope: SECRET_SCOPE })) }, missingScope(SECRET_SCOPE));
      },
      { tokenRateLimit: LIMIT },
    ));
});

describe('verify never throws', () => {
  /** mulberry32: a small seeded PRNG, so a failure is reproducible. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let x = a;
      x = Math.imul(x ^ (x >>> 15), x | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
  }

  const ALPHABETS = [
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.',
    '.....pkstk',
    '\u0000\u0001\u001f\u007f\ud800\udfff\u00e9\u4e2d\ud83d\ude00 \t\r\n%+/=',
  ];

  function randomString(next: () => number, maxLength: number): string {
    const alphabet = ALPHABETS[Math.floor(next() * ALPHABETS.length)] as string;
    const length = Math.floor(next() * maxLength);
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)];
    return s;
  }

  function assertVerdictShape(verdict: Verdict, input: string): void {
    if (verdict.ok) return;
    assert.ok(VERDICT_CODES.has(verdict.code), `unknown code for ${JSON.stringify(input).slice(0, 80)}`);
    assert.ok(verdict.status === 401 || verdict.status === 403 || verdict.status === 429);
    assert.equal(typeof verdict.message, 'string');
  }

  it('a few hundred random, huge, unicode and null-ish strings each get a verdict', () =>
    withWorld(async (w) => {
      const next = rng(20261128);
      const [, payload, secret] = parts(w.tokens.defaultPk.token);
      const inputs: (string | null | undefined)[] = [
        null,
        undefined,
        '',
        ' ',
        '.',
        '..',
        'pk..',
        'pk.' + '.'.repeat(30),
        'x'.repeat(1024 * 1024),
        `pk.${payload}.${secret}`.repeat(100),
        `tk.${'A'.repeat(4000)}.${secret}`,
        `pk.${payload}.${'\ud800'.repeat(22)}`,
        `pk.${payload}.\u0000${secret.slice(1)}`,
        `tk.${Buffer.from('{"u":"alice","exp":1e400,"iat":0,"scopes":[],"client":"api","p":"c000000000000000000000000"}').toString('base64').replace(/=+$/, '')}.${secret}`,
        `pk.${Buffer.from('{"u":"alice","a":"c000000000000000000000000","__proto__":{}}').toString('base64').replace(/=+$/, '')}.${secret}`,
        `pk.${Buffer.from('[]').toString('base64').replace(/=+$/, '')}.${secret}`,
        `pk.${Buffer.from('null').toString('base64').replace(/=+$/, '')}.${secret}`,
      ];
      for (let i = 0; i < 300; i++) {
        const prefix = ['', 'pk.', 'sk.', 'tk.'][Math.floor(next() * 4)] as string;
        inputs.push(prefix + randomString(next, i % 50 === 0 ? 6000 : 120));
      }
      for (const input of inputs) {
        const request = { scope: randomString(next, 20), referrer: randomString(next, 40), origin: randomString(next, 10), appId: randomString(next, 10) };
        let verdict: Verdict;
        try {
          verdict = await w.t.app.verifier.verify(input, request);
        } catch (error) {
          assert.fail(`verify threw for ${JSON.stringify(input)?.slice(0, 80)}: ${(error as Error).message}`);
        }
        assertVerdictShape(verdict, String(input));
        assert.equal(verdict.ok, false, `accepted ${JSON.stringify(input)?.slice(0, 80)}`);
      }
    }));

  it('random Referer, Origin and app id values on restricted tokens get a verdict, never a throw', () =>
    withWorld(async (w) => {
      const next = rng(99);
      const odd = ['null', 'http://', '//maps.example.com', 'https://[::1', 'https://maps.example.com:99999/', 'capacitor://', '\ud800', 'x'.repeat(100_000)];
      for (let i = 0; i < 300; i++) {
        const pick = () => (next() < 0.3 ? (odd[Math.floor(next() * odd.length)] as string) : randomString(next, 60));
        for (const token of [w.tokens.urlPk.token, w.tokens.appPk.token, w.tokens.bothPk.token]) {
          const verdict = await w.t.app.verifier.verify(token, { scope: PUBLIC_SCOPE, referrer: pick(), origin: pick(), appId: pick() });
          assert.deepEqual({ ...verdict }, { ok: false, code: 'forbidden', status: 403, message: 'Forbidden' });
        }
      }
    }));

  it('every single-character change to a real token is refused, without throwing', () =>
    withWorld(async (w) => {
      const next = rng(7);
      const CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=%\u00e9';
      let tried = 0;
      for (const real of [w.tokens.defaultPk.token, w.tokens.sk.token, w.tokens.tk]) {
        for (let i = 0; i < real.length; i++) {
          const c = CHARS[Math.floor(next() * CHARS.length)] as string;
          const mutated = real.slice(0, i) + c + real.slice(i + 1);
          if (mutated === real) continue;
          tried++;
          const verdict = await w.t.app.verifier.verify(mutated, { scope: PUBLIC_SCOPE });
          assert.equal(verdict.ok, false, `accepted ${mutated}`);
          assertVerdictShape(verdict, mutated);
        }
      }
      assert.ok(tried > 150);
    }));

  it('a non-string token from an untyped caller (e.g. a parsed query object) is a refusal, not a throw', () =>
    withWorld(async (w) => {
      for (const input of [{}, { access_token: 'x' }, 5, true, ['pk.a.b']] as unknown[]) {
        const verdict = await w.t.app.verifier.verify(input, { scope: PUBLIC_SCOPE });
        assert.equal(verdict.ok, false);
      }
    }));
});

describe('the verifier uses the injected clock', () => {
  it('a tk passes until just before exp and is refused at exp', async () => {
    const clock = testClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const t = await startTestApp({}, clock);
    try {
      await t.account('alice');
      const sk = await t.token('alice', [PUBLIC_SCOPE, 'tokens:write']);
      const tk = await mintTk(t, sk.token, [PUBLIC_SCOPE], 10 * 60_000);
      clock.advance(10 * 60_000 - 1);
      assert.equal((await t.app.verifier.verify(tk, { scope: PUBLIC_SCOPE })).ok, true);
      clock.advance(1);
      assert.deepEqual({ ...(await t.app.verifier.verify(tk, { scope: PUBLIC_SCOPE })) }, INVALID);
    } finally {
      await t.close();
    }
  });
});
