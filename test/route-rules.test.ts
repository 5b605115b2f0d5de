import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../src/domain/route-rules.js';

describe('route rules', () => {
  const table = new RouteTable([
    { path: '/tiles/*/info', scope: 'tiles:info' },
    { path: '/tiles/*', methods: ['GET', 'HEAD'], scope: 'styles:tiles' },
    { path: '/tiles/*', methods: ['DELETE'], scope: 'tiles:purge' },
    { path: '/geocode/v1/*.json', scope: 'geocode:read' },
    { path: '/exact', scope: 'exact:read' },
  ]);
  const rows: ReadonlyArray<[string, string, string | null]> = [
    ['GET', '/tiles/a/info', 'tiles:info'],
    ['GET', '/tiles/a/b/info', 'styles:tiles'],
    ['GET', '/tiles/1/2/3.png', 'styles:tiles'],
    ['head', '/tiles/x', 'styles:tiles'],
    ['DELETE', '/tiles/x', 'tiles:purge'],
    ['POST', '/tiles/x', null],
    ['GET', '/tiles', 'styles:tiles'], // `/tiles/*` covers `/tiles` itself
    ['GET', '/tilesx', null],
    ['GET', '/tiles/', 'styles:tiles'],
    ['GET', '/geocode/v1/paris.json', 'geocode:read'],
    ['GET', '/geocode/v1/a/b.json', null],
    ['GET', '/geocode/v1/parisXjson', null],
    ['GET', '/exact', 'exact:read'],
    ['GET', '/exact/more', null],
    ['GET', '/other', null],
  ];
  for (const [method, path, scope] of rows) {
    it(`${method} ${path} → ${scope ?? 'no rule'}`, () => assert.equal(table.match(method, path)?.rule.scope ?? null, scope));
  }
});

describe('attack: /private slipped past a /private/* rule onto a catch-all /* (the table itself)', () => {
  const table = new RouteTable([
    { path: '/private/*', scope: 'map:read' },
    { path: '/a/*/b/*', scope: 'deep:read' },
    { path: '/*', scope: 'styles:tiles' },
  ]);
  const rows: ReadonlyArray<[string, string]> = [
    ['/private', 'map:read'],
    ['/private/', 'map:read'],
    ['/private/x/y', 'map:read'],
    ['/privateer', 'styles:tiles'],
    ['/private.json', 'styles:tiles'],
    ['/a/1/b', 'deep:read'],
    ['/a/1/b/2', 'deep:read'],
    ['/a/1/bc', 'styles:tiles'],
    ['/', 'styles:tiles'],
    ['/anything/else', 'styles:tiles'],
  ];
  for (const [path, scope] of rows) {
    it(`${path} → ${scope}`, () => assert.equal(table.match('GET', path)?.rule.scope, scope));
  }
});

describe('matchEvery: every reading of a path must pick the same rule', () => {
  const table = new RouteTable([
    { path: '/tiles/*/info', scope: 'styles:read' },
    { path: '/tiles/*', scope: 'styles:tiles' },
    { path: '/private/*', scope: 'map:read' },
    { path: '/*', scope: 'styles:tiles' },
  ]);
  it('one reading, or readings that agree: the rule', () => {
    assert.equal(table.matchEvery('GET', '/tiles/1/2', [])?.rule.scope, 'styles:tiles');
    assert.equal(table.matchEvery('GET', '/tiles/a/b', ['/tiles/a%2Fb'])?.rule.scope, 'styles:tiles');
  });
  it('readings that disagree: 400 Original URI is invalid', () => {
    assert.throws(() => table.matchEvery('GET', '/tiles/a/b/info', ['/tiles/a%2Fb/info']), { code: 'original_uri_invalid' });
    assert.throws(() => table.matchEvery('GET', '/private;x/y', ['/private/y']), { code: 'original_uri_invalid' });
  });
});
