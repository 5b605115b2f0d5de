import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScopeCatalog, BUILT_IN_SCOPES } from '../src/domain/scopes.js';
import { isValidAllowedUrl, isValidAllowedUrls, isValidNote } from '../src/domain/rules.js';
import { Sealer } from '../src/domain/sealer.js';

describe('scope catalog', () => {
  const catalog = new ScopeCatalog([
    { id: 'geocode:read', description: 'Geocode', public: true },
    { id: 'tiles:purge', description: 'Purge', public: false },
  ]);

  it('holds the built-in catalog of SPEC §6: 5 public and 28 secret scopes', () => {
    assert.equal(BUILT_IN_SCOPES.filter((s) => s.public).length, 5);
    assert.equal(BUILT_IN_SCOPES.filter((s) => !s.public).length, 28);
    assert.deepEqual(new ScopeCatalog().publicScopes, ['styles:tiles', 'styles:read', 'fonts:read', 'datasets:read', 'vision:read']);
  });

  it('adds operator scopes, public ones to the default token set', () => {
    assert.ok(catalog.has('geocode:read') && catalog.isPublic('geocode:read'));
    assert.ok(catalog.has('tiles:purge') && !catalog.isPublic('tiles:purge'));
    assert.ok(catalog.publicScopes.includes('geocode:read'));
  });

  it('derives usage: pk for only public scopes (or none), sk with any secret one', () => {
    assert.equal(catalog.usageFor([]), 'pk');
    assert.equal(catalog.usageFor(['styles:read', 'geocode:read']), 'pk');
    assert.equal(catalog.usageFor(['styles:read', 'tiles:purge']), 'sk');
    assert.equal(catalog.usageFor(['not:in-catalog']), 'sk');
  });

  it('refuses an operator scope that clashes with a built-in one or breaks the grammar', () => {
    assert.throws(() => new ScopeCatalog([{ id: 'styles:read', description: 'x', public: true }]), /clashes/);
    assert.throws(() => new ScopeCatalog([{ id: 'Bad:Scope', description: 'x', public: true }]), /not a valid scope/);
  });
});

describe('notes', () => {
  it('welcome Unicode text up to 1,000 characters', () => {
    assert.ok(isValidNote(''));
    assert.ok(isValidNote('Café ☕ 東京 🗺️ שלום'));
    assert.ok(isValidNote('🗺'.repeat(1000)));
    assert.ok(!isValidNote('a'.repeat(1001)));
  });
  it('refuse control characters and lone surrogates', () => {
    for (const bad of ['a\nb', 'tab\there', 'nul\u0000', 'del\u007f', 'esc\u001b', 'lone\ud800', 'lone\udc00x']) {
      assert.ok(!isValidNote(bad), JSON.stringify(bad));
    }
  });
});

describe('allowedUrls entries', () => {
  const good = ['example.com', 'example.com:8080', 'https://example.com/app', 'http://localhost:3000', 'capacitor://localhost', 'https://münchen.de/app'];
  const bad = [
    '',
    '*.example.com',
    'https://*.example.com',
    'has space.com',
    'a'.repeat(2049),
    'https://',
    '/just/a/path',
    'https://exa mple.com',
    'sub.example.com/path',
    'example.com?q=1',
    'user@example.com',
  ];
  for (const entry of good) it(`accepts ${entry}`, () => assert.ok(isValidAllowedUrl(entry)));
  for (const entry of bad) it(`refuses ${JSON.stringify(entry.slice(0, 40))}`, () => assert.ok(!isValidAllowedUrl(entry)));
  it('takes 1–100 entries', () => {
    assert.ok(!isValidAllowedUrls([]));
    assert.ok(isValidAllowedUrls(Array.from({ length: 100 }, (_, i) => `h${i}.example.com`)));
    assert.ok(!isValidAllowedUrls(Array.from({ length: 101 }, (_, i) => `h${i}.example.com`)));
  });
});

describe('sealer', () => {
  const sealer = new Sealer('a-secret-of-at-least-thirty-two-characters');
  it('opens what it sealed for the same record id only', () => {
    const sealed = sealer.seal('pk.payload.secret', 'cid1');
    assert.equal(sealer.open(sealed, 'cid1')?.toString(), 'pk.payload.secret');
    assert.equal(sealer.open(sealed, 'cid2'), null);
    assert.ok(!sealed.includes('payload'));
  });
  it('cannot open with another secret, nor an altered value', () => {
    const sealed = sealer.seal('x', 'id');
    assert.equal(new Sealer('another-secret-of-at-least-thirty-two-chars').open(sealed, 'id'), null);
    const parts = sealed.split('.');
    parts[2] = parts[2] === 'AA' ? 'AB' : 'AA';
    assert.equal(sealer.open(parts.join('.'), 'id'), null);
    assert.equal(sealer.open('garbage', 'id'), null);
  });
});
