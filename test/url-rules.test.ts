import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileAllowedUrl, isAppAllowed, isUrlAllowed, type UrlRule } from '../src/domain/url-rules.js';

/** [allowedUrls entry, referrer (undefined: none sent), allowed?] */
const ROWS: ReadonlyArray<readonly [string, string | undefined, boolean]> = [
  // Host patterns: the host and its subdomains, any scheme, port and path.
  ['example.com', 'https://example.com/', true],
  ['example.com', 'http://example.com/map?x=1', true],
  ['example.com', 'https://www.example.com/a/b', true],
  ['example.com', 'https://deep.sub.example.com/', true],
  ['example.com', 'https://example.com:8443/', true],
  ['example.com', 'wss://example.com/socket', true],
  // Look-alike hosts.
  ['example.com', 'https://example.com.evil.net/', false],
  ['example.com', 'https://notexample.com/', false],
  ['example.com', 'https://evil-example.com/', false],
  ['example.com', 'https://example.co/', false],
  ['example.com', 'https://evil.net/example.com', false],
  ['example.com', 'https://evil.net/?r=https://example.com', false],
  ['example.com', 'https://example.com@evil.net/', false],
  ['sub.example.com', 'https://example.com/', false],
  ['sub.example.com', 'https://a.sub.example.com/', true],
  // Ports on host patterns.
  ['localhost:3000', 'http://localhost:3000/', true],
  ['localhost:3000', 'http://localhost:3001/', false],
  ['localhost:3000', 'http://localhost/', false],
  ['example.com:443', 'https://example.com/', true],
  ['example.com:443', 'http://example.com/', false],
  // Entries with a scheme: exact scheme and host, no subdomains.
  ['https://example.com', 'https://example.com/anything', true],
  ['https://example.com', 'http://example.com/', false],
  ['https://example.com', 'https://www.example.com/', false],
  ['https://example.com:8443', 'https://example.com:8443/x', true],
  ['https://example.com:8443', 'https://example.com/x', false],
  ['https://example.com:443', 'https://example.com/x', true],
  ['http://localhost:3000', 'http://localhost:3000/app', true],
  // Path prefixes on segment boundaries.
  ['https://example.com/app', 'https://example.com/app', true],
  ['https://example.com/app', 'https://example.com/app/', true],
  ['https://example.com/app', 'https://example.com/app/x/y', true],
  ['https://example.com/app', 'https://example.com/application', false],
  ['https://example.com/app', 'https://example.com/', false],
  ['https://example.com/app/', 'https://example.com/app/page', true],
  ['https://example.com/app', 'https://example.com/App', false],
  ['https://example.com/', 'https://example.com/anything', true],
  // Case, punycode, trailing dots.
  ['Example.COM', 'https://EXAMPLE.com/', true],
  ['https://EXAMPLE.com/app', 'https://example.COM/app', true],
  ['münchen.de', 'https://xn--mnchen-3ya.de/', true],
  ['xn--mnchen-3ya.de', 'https://münchen.de/', true],
  ['https://bücher.example/app', 'https://xn--bcher-kva.example/app/1', true],
  ['example.com.', 'https://example.com/', true],
  ['example.com', 'https://example.com./', true],
  ['https://example.com', 'https://example.com./x', true],
  // Query and fragment are ignored.
  ['https://example.com/app', 'https://example.com/app?access=1#top', true],
  ['https://example.com/app', 'https://example.com/other?next=/app', false],
  ['https://example.com/app', 'https://example.com/other#/app', false],
  // Non-http schemes compare literally.
  ['capacitor://localhost', 'capacitor://localhost', true],
  ['capacitor://localhost', 'capacitor://localhost/index.html', true],
  ['capacitor://localhost', 'http://localhost/', false],
  ['capacitor://localhost', 'ionic://localhost/', false],
  ['localhost', 'capacitor://localhost/', true],
  // Missing or opaque referrers never pass.
  ['example.com', undefined, false],
  ['example.com', '', false],
  ['example.com', 'null', false],
  ['example.com', 'not a url', false],
  ['example.com', '/relative/path', false],
  ['example.com', 'file:///etc/passwd', false],
  ['example.com', 'data:text/html,example.com', false],
];

function rule(entry: string): UrlRule {
  const compiled = compileAllowedUrl(entry);
  assert.ok(compiled, `entry ${entry} compiles`);
  return compiled;
}

describe('allowedUrls matching (SPEC §5)', () => {
  for (const [entry, referrer, expected] of ROWS) {
    it(`${entry} ${expected ? 'allows' : 'refuses'} ${referrer === undefined ? '(no referrer)' : JSON.stringify(referrer)}`, () => {
      assert.equal(isUrlAllowed([rule(entry)], referrer), expected);
    });
  }

  it('passes when any one of several entries matches', () => {
    const rules = ['example.com', 'https://other.net/app'].map(rule);
    assert.ok(isUrlAllowed(rules, 'https://other.net/app/1'));
    assert.ok(isUrlAllowed(rules, 'https://a.example.com/'));
    assert.ok(!isUrlAllowed(rules, 'https://other.net/'));
  });

  it('does not compile entries that could never match', () => {
    for (const entry of ['example.com/path', 'example.com?x', 'user@example.com', 'https://', '://x']) {
      assert.equal(compileAllowedUrl(entry), null, entry);
    }
  });
});

describe('allowedApplications matching', () => {
  const apps = [{ platform: 'ios', bundleId: 'com.example.maps' }];
  it('matches the X-Tokenbox-App-Id bundle id exactly', () => {
    assert.ok(isAppAllowed(apps, 'com.example.maps'));
    assert.ok(!isAppAllowed(apps, 'com.example.maps.evil'));
    assert.ok(!isAppAllowed(apps, 'COM.EXAMPLE.MAPS'));
    assert.ok(!isAppAllowed(apps, undefined));
    assert.ok(!isAppAllowed(apps, ''));
  });
});
