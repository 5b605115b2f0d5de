import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import parseMapboxToken from '@mapbox/parse-mapbox-token';
import {
  encodePayload,
  hashToken,
  isMacValid,
  newStoredToken,
  newTokenId,
  parseToken,
  signTemporaryToken,
  temporaryMac,
  type TemporaryPayload,
} from '../src/domain/token-format.js';

const key = randomBytes(32);
const USERNAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-';

/** Seeded, so a failure replays: FC_SEED overrides the fixed seed, and the message prints it. */
const SEED = Number(process.env.FC_SEED ?? 20261201);
const usernameArb = fc
  .tuple(fc.constantFrom(...USERNAME_CHARS.slice(0, 36)), fc.array(fc.constantFrom(...USERNAME_CHARS), { maxLength: 31 }))
  .map(([first, rest]) => first + rest.join(''));
const SCOPE_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789._-';
const scopeArb = fc
  .tuple(
    fc.constantFrom(...SCOPE_CHARS.slice(0, 36)),
    fc.array(fc.constantFrom(...SCOPE_CHARS), { maxLength: 12 }),
    fc.constantFrom(...SCOPE_CHARS.slice(0, 36)),
    fc.array(fc.constantFrom(...SCOPE_CHARS), { maxLength: 12 }),
  )
  .map(([a, b, c, d]) => `${a}${b.join('')}:${c}${d.join('')}`);

function tkPayload(overrides: Partial<TemporaryPayload> = {}): TemporaryPayload {
  return { u: 'alice', exp: 1_800_003_600, iat: 1_800_000_000, scopes: ['styles:read', 'tokens:write'], client: 'api', p: newTokenId(), ...overrides };
}

describe('token ids', () => {
  it('are c + 24 of [a-z0-9] and do not repeat', () => {
    const ids = new Set(Array.from({ length: 2000 }, newTokenId));
    assert.equal(ids.size, 2000);
    for (const id of ids) assert.match(id, /^c[a-z0-9]{24}$/);
  });
});

describe('pk/sk strings', () => {
  it('round-trip through parseToken', () => {
    const id = newTokenId();
    const token = newStoredToken('sk', 'alice', id);
    const parsed = parseToken(token);
    assert.ok(parsed && parsed.usage === 'sk');
    assert.deepEqual(parsed.payload, { u: 'alice', a: id });
    assert.equal(parsed.secret.length, 22);
  });

  it('have a payload of only [A-Za-z0-9] that @mapbox/parse-mapbox-token reads, for any username (seeded)', () => {
    fc.assert(
      fc.property(usernameArb, fc.boolean(), (username, pk) => {
        const id = newTokenId();
        const token = newStoredToken(pk ? 'pk' : 'sk', username, id);
        assert.match(token.split('.')[1] as string, /^[A-Za-z0-9]+$/);
        const parsed = parseMapboxToken(token);
        assert.equal(parsed.user, username);
        assert.equal(parsed.authorization, id);
      }),
      { numRuns: 1000, seed: SEED },
    );
  });

  it('hash to a stable SHA-256', () => {
    const token = newStoredToken('pk', 'bob', newTokenId());
    assert.equal(hashToken(token), hashToken(token));
    assert.equal(Buffer.from(hashToken(token), 'base64').length, 32);
    assert.notEqual(hashToken(token), hashToken(`${token.slice(0, -1)}x`));
  });
});

describe('tk strings', () => {
  it('have a payload of only [A-Za-z0-9] for any username and scopes the grammars allow (seeded)', () => {
    fc.assert(
      fc.property(usernameArb, fc.array(scopeArb, { maxLength: 20 }), (u, scopes) => {
        const token = signTemporaryToken(key, tkPayload({ u, scopes }));
        assert.match(token.split('.')[1] as string, /^[A-Za-z0-9]+$/);
        assert.equal(parseMapboxToken(token).user, u);
      }),
      { numRuns: 1000, seed: SEED },
    );
  });

  it('round-trip, verify with their key and parse with @mapbox/parse-mapbox-token', () => {
    const payload = tkPayload({ u: 'alice-map_2' });
    const token = signTemporaryToken(key, payload);
    const parsed = parseToken(token);
    assert.ok(parsed && parsed.usage === 'tk');
    assert.deepEqual(parsed.payload, payload);
    assert.ok(isMacValid(key, parsed.payloadText, parsed.secret));
    assert.ok(!isMacValid(randomBytes(32), parsed.payloadText, parsed.secret));
    const mapbox = parseMapboxToken(token);
    assert.equal(mapbox.usage, 'tk');
    assert.equal(mapbox.user, payload.u);
    assert.deepEqual(mapbox.scopes, payload.scopes);
  });

  it('refuse a MAC with any one of its 22 characters changed (the 22nd included)', () => {
    const token = signTemporaryToken(key, tkPayload());
    const parsed = parseToken(token)!;
    for (let i = 0; i < 22; i++) {
      const original = parsed.secret[i] as string;
      const replacement = original === 'A' ? 'B' : 'A';
      const forged = parsed.secret.slice(0, i) + replacement + parsed.secret.slice(i + 1);
      assert.ok(!isMacValid(key, parsed.payloadText, forged), `character ${i + 1} changed`);
    }
  });

  it('compare the encoded MAC, so the other spellings of the last character are refused', () => {
    // 16 bytes encode to 22 characters whose last one carries 2 bits of padding: several
    // characters decode to the same bytes. Only the canonical one is accepted.
    const payloadText = encodePayload(tkPayload());
    const mac = temporaryMac(key, payloadText);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = [...alphabet].filter((c) => {
      const variant = mac.slice(0, 21) + c;
      return c !== mac[21] && Buffer.from(variant, 'base64url').equals(Buffer.from(mac, 'base64url'));
    });
    assert.ok(sameBytes.length > 0, 'the encoding has alternative spellings');
    for (const c of sameBytes) assert.ok(!isMacValid(key, payloadText, mac.slice(0, 21) + c));
  });

  it('is refused by the parser without p, with extra keys, or with a bad client', () => {
    const { p: _p, ...noP } = tkPayload();
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64').replace(/=+$/, '');
    const mac = 'A'.repeat(22);
    assert.equal(parseToken(`tk.${b64(noP)}.${mac}`), null);
    assert.equal(parseToken(`tk.${b64({ ...tkPayload(), extra: 1 })}.${mac}`), null);
    assert.equal(parseToken(`tk.${b64({ ...tkPayload(), client: 'web' })}.${mac}`), null);
  });
});

describe('malformed strings', () => {
  const good = newStoredToken('pk', 'alice', newTokenId());
  const [usage, payload, secret] = good.split('.') as [string, string, string];
  const cases: Record<string, string> = {
    empty: '',
    'four dot-parts': `${good}.x`,
    'two dot-parts': `${usage}.${payload}`,
    'unknown usage': `xk.${payload}.${secret}`,
    'short secret': `${usage}.${payload}.${secret.slice(1)}`,
    'secret with =': `${usage}.${payload}.${secret.slice(1)}=`,
    'non-base64 payload': `${usage}.${payload.slice(0, -2)}$%.${secret}`,
    'url-safe payload characters': `${usage}.${payload}-_.${secret}`,
    'payload of garbage': `${usage}.AAAAAAAA.${secret}`,
    '10 KB token': `${usage}.${'A'.repeat(10_000)}.${secret}`,
    'uppercase username': `${usage}.${Buffer.from('{"u":"Alice","a":"c0123456789abcdefghijklmn"}').toString('base64').replace(/=+$/, '')}.${secret}`,
  };
  for (const [name, token] of Object.entries(cases)) {
    it(`refuses ${name}`, () => assert.equal(parseToken(token), null));
  }
});
