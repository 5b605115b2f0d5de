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
    ['GET', '/tiles', null],
    ['GET', '/tiles/', 'styles:tiles'],
    ['GET', '/geocode/v1/paris.json', 'geocode:read'],
    ['GET', '/geocode/v1/a/b.json', null],
    ['GET', '/geocode/v1/parisXjson', null],
    ['GET', '/exact', 'exact:read'],
    ['GET', '/exact/more', null],
    ['GET', '/other', null],
  ];
  for (const [method, path, scope] of rows) {
    it(`${method} ${path} → ${scope ?? 'no rule'}`, () => assert.equal(table.match(method, path)?.scope ?? null, scope));
  }
});
