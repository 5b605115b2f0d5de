import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/config.js';

function file(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tokenbox-config-')), 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('config layers', () => {
  it('zero config works, with the defaults of SPEC §7', () => {
    const result = loadConfig({ env: {} });
    assert.ok(result.ok);
    assert.equal(result.config.host, '127.0.0.1');
    assert.equal(result.config.port, 8080);
    assert.equal(result.config.dataDir, './data');
    assert.equal(result.config.accountRateLimit, 100);
    assert.equal(result.config.maxTokensPerAccount, 10_000);
    assert.equal(result.config.bodyLimit, 256 * 1024);
    assert.equal(result.config.tokenRateLimit, undefined, 'no per-token ceiling by default');
  });

  it('applies defaults ← file ← environment ← flags', () => {
    const path = file({ port: 1000, host: '0.0.0.0', accountRateLimit: 5, publicUrl: 'https://t.example.com' });
    const result = loadConfig({ configPath: path, env: { TOKENBOX_PORT: '2000', TOKENBOX_ACCOUNT_RATE_LIMIT: '7' }, flags: { port: '3000' } });
    assert.ok(result.ok);
    assert.equal(result.config.port, 3000);
    assert.equal(result.config.host, '0.0.0.0');
    assert.equal(result.config.accountRateLimit, 7);
    assert.equal(result.config.publicUrl, 'https://t.example.com');
  });

  it('reads TOKENBOX_CONFIG when no --config is given', () => {
    const result = loadConfig({ env: { TOKENBOX_CONFIG: file({ maxTokensPerAccount: 9 }) } });
    assert.ok(result.ok);
    assert.equal(result.config.maxTokensPerAccount, 9);
  });

  it('reads operator scopes and routes from the file', () => {
    const path = file({
      scopes: [{ id: 'geocode:read', description: 'Geocoding', public: true }],
      routes: [{ path: '/tiles/*', methods: ['GET'], scope: 'styles:tiles' }],
    });
    const result = loadConfig({ configPath: path, env: {} });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.scopes[0]?.id, 'geocode:read');
    assert.equal(result.config.routes[0]?.path, '/tiles/*');
  });

  it('lets an explicit --data select SQLite over DATABASE_URL from the environment', () => {
    const result = loadConfig({ env: { DATABASE_URL: 'postgres://x/y' }, flags: { dataDir: '/tmp/x' } });
    assert.ok(result.ok);
    assert.equal(result.config.databaseUrl, undefined);
    assert.equal(result.config.dataDir, '/tmp/x');
  });
});

describe('auditRetentionDays', () => {
  it('defaults to 400 days and takes a positive whole number of days from the file or the environment', () => {
    const defaults = loadConfig({ env: {} });
    assert.ok(defaults.ok);
    assert.equal(defaults.config.auditRetentionDays, 400);
    const fromFile = loadConfig({ env: {}, configPath: file({ auditRetentionDays: 30 }) });
    assert.ok(fromFile.ok);
    assert.equal(fromFile.config.auditRetentionDays, 30);
    const fromEnv = loadConfig({ env: { TOKENBOX_AUDIT_RETENTION_DAYS: '7' } });
    assert.ok(fromEnv.ok);
    assert.equal(fromEnv.config.auditRetentionDays, 7);
  });

  it('refuses 0, a fraction, a word and more than 100 years, naming the key', () => {
    for (const value of [0, 1.5, 'forever', 36_501]) {
      const result = loadConfig({ env: {}, configPath: file({ auditRetentionDays: value }) });
      assert.equal(result.ok, false, String(value));
      if (!result.ok) assert.match(result.errors.join('\n'), /^auditRetentionDays: /);
    }
  });
});

describe('redisUrl', () => {
  it('is taken from TOKENBOX_REDIS_URL, else REDIS_URL (cluster-wide rate limits, SPEC §7)', () => {
    const cases: ReadonlyArray<[Record<string, string>, string]> = [
      [{ REDIS_URL: 'redis://a:6379' }, 'redis://a:6379'],
      [{ REDIS_URL: 'redis://a:6379', TOKENBOX_REDIS_URL: 'redis://b:6379' }, 'redis://b:6379'],
    ];
    for (const [env, expected] of cases) {
      const result = loadConfig({ env });
      assert.ok(result.ok, JSON.stringify(env));
      assert.equal(result.config.redisUrl, expected);
    }
  });

  it('must be a redis:// or rediss:// URL: a typo is a config error, not a node that limits alone', () => {
    for (const bad of ['localhost:6379', 'http://cache:6379', 'redis://']) {
      const result = loadConfig({ env: { REDIS_URL: bad } });
      assert.ok(!result.ok, bad);
      assert.match(result.errors.join('\n'), /^redisUrl: must be a Redis URL/);
    }
    assert.ok(loadConfig({ env: { REDIS_URL: 'rediss://:pw@cache:6380/2' } }).ok);
  });
});

describe('invalid config', () => {
  it('databaseUrl: DATABASE_URL or TOKENBOX_DATABASE_URL (which wins), a PostgreSQL URL, with TOKENBOX_SECRET required', () => {
    const secret = 'a-secret-that-is-at-least-32-characters-long';
    const fallback = loadConfig({ env: { DATABASE_URL: 'postgres://db/a', TOKENBOX_SECRET: secret } });
    assert.ok(fallback.ok);
    assert.equal(fallback.config.databaseUrl, 'postgres://db/a');
    assert.equal(fallback.config.databasePoolSize, 10);
    const own = loadConfig({ env: { DATABASE_URL: 'postgres://db/a', TOKENBOX_DATABASE_URL: 'postgresql://db/b', TOKENBOX_SECRET: secret } });
    assert.ok(own.ok);
    assert.equal(own.config.databaseUrl, 'postgresql://db/b');
    const noSecret = loadConfig({ env: { DATABASE_URL: 'postgres://db/a' } });
    assert.ok(!noSecret.ok);
    assert.match(noSecret.errors.join('\n'), /^secret: TOKENBOX_SECRET must be set with a database URL/);
    const notPostgres = loadConfig({ env: { DATABASE_URL: 'mysql://db/a', TOKENBOX_SECRET: secret } });
    assert.ok(!notPostgres.ok);
    assert.match(notPostgres.errors.join('\n'), /^databaseUrl: must be a PostgreSQL URL/);
    for (const bad of ['1', '0', 'ten', '1001']) {
      const result = loadConfig({ env: { DATABASE_URL: 'postgres://db/a', TOKENBOX_SECRET: secret, TOKENBOX_DATABASE_POOL_SIZE: bad } });
      assert.ok(!result.ok, bad);
      assert.match(result.errors.join('\n'), /^databasePoolSize: /);
    }
  });

  it('metricsPort is a port number', () => {
    const ok = loadConfig({ env: { TOKENBOX_METRICS_PORT: '9100' } });
    assert.ok(ok.ok);
    assert.equal(ok.config.metricsPort, 9100);
    for (const bad of ['-1', '70000', 'ninety']) assert.ok(!loadConfig({ env: { TOKENBOX_METRICS_PORT: bad } }).ok, bad);
  });

  it('names every bad key', () => {
    const path = file({ port: 'http', bodyLimit: -1, surprise: true });
    const result = loadConfig({ configPath: path, env: { TOKENBOX_TRUST_PROXY: 'maybe', TOKENBOX_SECRET: 'short' } });
    assert.ok(!result.ok);
    const text = result.errors.join('\n');
    for (const key of ['port', 'bodyLimit', 'surprise', 'trustProxy', 'secret']) assert.match(text, new RegExp(key), key);
  });

  it('refuses an operator scope clashing with a built-in one', () => {
    const result = loadConfig({ configPath: file({ scopes: [{ id: 'styles:read', description: 'x', public: true }] }), env: {} });
    assert.ok(!result.ok);
    assert.match(result.errors.join(), /scopes: .*clashes/);
  });

  it('refuses routes on reserved prefixes', () => {
    for (const path of ['/tokens/*', '/health', '/auth/v1/check', '/tok*', '/account', '/admin/v1/*']) {
      const result = loadConfig({ configPath: file({ routes: [{ path, scope: 'styles:read' }] }), env: {} });
      assert.ok(!result.ok, path);
      assert.match(result.errors.join(), /routes\.0\.path/);
    }
  });

  it('allows a catch-all route, which only takes what tokenbox does not serve', () => {
    assert.ok(loadConfig({ configPath: file({ routes: [{ path: '/*', scope: 'styles:read' }] }), env: {} }).ok);
  });

  it('refuses a missing or non-JSON file with a sentence naming it', () => {
    const missing = loadConfig({ configPath: '/nonexistent/tokenbox.json', env: {} });
    assert.ok(!missing.ok);
    assert.match(missing.errors[0] ?? '', /cannot read \/nonexistent\/tokenbox\.json/);
    const broken = loadConfig({ configPath: file('{not json'), env: {} });
    assert.ok(!broken.ok);
    assert.match(broken.errors[0] ?? '', /not valid JSON/);
  });

  it('keeps the secret out of files', () => {
    const result = loadConfig({ configPath: file({ secret: 'x'.repeat(40) }), env: {} });
    assert.ok(!result.ok);
    assert.match(result.errors[0] ?? '', /TOKENBOX_SECRET/);
  });
});

describe("trustProxy takes true/false or the proxies' addresses, from the file, the environment and flags", () => {
  it('accepts booleans, addresses and CIDR ranges (comma-separated or an array), trimmed', () => {
    const cases: ReadonlyArray<[ConfigSourcesLike, unknown]> = [
      [{ env: { TOKENBOX_TRUST_PROXY: 'true' } }, true],
      [{ env: { TOKENBOX_TRUST_PROXY: 'false' } }, false],
      [{ env: { TOKENBOX_TRUST_PROXY: '0' } }, false],
      [{ env: { TOKENBOX_TRUST_PROXY: '10.0.0.1' } }, ['10.0.0.1']],
      [{ env: { TOKENBOX_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1 ,::1/128' } }, ['10.0.0.0/8', '127.0.0.1', '::1/128']],
      [{ env: { TOKENBOX_TRUST_PROXY: 'loopback,uniquelocal' } }, ['loopback', 'uniquelocal']],
      [{ configPath: file({ trustProxy: ['192.168.0.0/16', 'fe80::/10'] }), env: {} }, ['192.168.0.0/16', 'fe80::/10']],
      [{ configPath: file({ trustProxy: true }), env: {} }, true],
      [{ configPath: file({ trustProxy: true }), env: {}, flags: { trustProxy: '10.0.0.1' } }, ['10.0.0.1']],
    ];
    for (const [sources, expected] of cases) {
      const result = loadConfig(sources);
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(result.config.trustProxy, expected, JSON.stringify(sources));
    }
  });

  it('takes a hop count from the file, the environment and flags; 0 is off; beyond 32 or fractional is refused', () => {
    assert.deepEqual((loadConfig({ env: { TOKENBOX_TRUST_PROXY: '1' } }) as { config: { trustProxy: unknown } }).config.trustProxy, 1);
    assert.deepEqual((loadConfig({ configPath: file({ trustProxy: 2 }), env: {} }) as { config: { trustProxy: unknown } }).config.trustProxy, 2);
    assert.deepEqual((loadConfig({ env: { TOKENBOX_TRUST_PROXY: '0' } }) as { config: { trustProxy: unknown } }).config.trustProxy, false);
    for (const value of [33, 1.5, -1]) {
      const result = loadConfig({ configPath: file({ trustProxy: value }), env: {} });
      assert.ok(!result.ok, String(value));
      assert.match(result.errors.join(), /^trustProxy: /);
    }
  });

  it('names the bad key for a bad address, prefix or type', () => {
    const bad: ReadonlyArray<[unknown, RegExp]> = [
      ['maybe', /trustProxy\.0: must be an IP address/],
      ['10.0.0.0/33', /trustProxy\.0: /],
      ['::1/129', /trustProxy\.0: /],
      ['10.0.0.1,10.0.0.256', /trustProxy\.1: /],
      ['10.0.0.0/ 8', /trustProxy\.0: /],
      [['10.0.0.1', 'x'], /trustProxy\.1: /],
      [[], /trustProxy: /],
      [{}, /trustProxy: /],
      [-1, /trustProxy: /],
    ];
    for (const [value, pattern] of bad) {
      const result = loadConfig({ configPath: file({ trustProxy: value }), env: {} });
      assert.ok(!result.ok, JSON.stringify(value));
      assert.match(result.errors.join('\n'), pattern, JSON.stringify(value));
    }
  });
});

describe('route rules for the gateway: upstream and rateLimit', () => {
  const load = (route: Record<string, unknown>): ReturnType<typeof loadConfig> =>
    loadConfig({
      configPath: file({
        routes: [
          { path: '/ok/*', scope: 'styles:read' },
          { scope: 'styles:tiles', path: '/tiles/*', ...route },
        ],
      }),
      env: {},
    });

  it('accepts an http(s) origin as upstream (kept as its origin) and a positive integer rateLimit', () => {
    const result = load({ upstream: 'http://127.0.0.1:9000/', rateLimit: 100_000 });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.routes[1]?.upstream, 'http://127.0.0.1:9000');
    assert.equal(result.config.routes[1]?.rateLimit, 100_000);
    const https = load({ upstream: 'https://tiles.internal.example' });
    assert.ok(https.ok, JSON.stringify(https));
    assert.equal(https.config.routes[1]?.upstream, 'https://tiles.internal.example');
    assert.equal(https.config.upstreamTimeoutMs, 30_000, 'the default upstream timeout');
  });

  it('names the key of a bad upstream: not a URL, not http(s), or more than an origin', () => {
    for (const upstream of [
      'not a url',
      '127.0.0.1:9000',
      'ftp://files.example',
      'file:///etc/passwd',
      'http://h:1/base',
      'http://h:1/?x=1',
      'http://user:pw@h:1',
      42,
    ]) {
      const result = load({ upstream });
      assert.ok(!result.ok, JSON.stringify(upstream));
      assert.match(result.errors.join('\n'), /^routes\.1\.upstream: /m, JSON.stringify(upstream));
    }
  });

  it('names the key of a bad rateLimit: 0, negative, fractional, a string', () => {
    for (const rateLimit of [0, -1, 1.5, '100', null]) {
      const result = load({ rateLimit });
      assert.ok(!result.ok, JSON.stringify(rateLimit));
      assert.match(result.errors.join('\n'), /^routes\.1\.rateLimit: /m, JSON.stringify(rateLimit));
    }
  });

  it('names the key of an invalid glob or a reserved prefix, with or without upstream', () => {
    for (const path of ['/tiles/**', '/tiles/?x', '/tiles/%2F', '/a//b', '/a/../b', '/a/./b', '/a b', 'tiles/*', '/admin/*', '/analytics/v1/*', '/health']) {
      const result = load({ path, upstream: 'http://127.0.0.1:9000' });
      assert.ok(!result.ok, path);
      assert.match(result.errors.join('\n'), /^routes\.1\.path: /m, path);
    }
  });

  it('takes upstreamTimeoutMs from the file or TOKENBOX_UPSTREAM_TIMEOUT_MS; refuses 0', () => {
    const fromEnv = loadConfig({ env: { TOKENBOX_UPSTREAM_TIMEOUT_MS: '1500' } });
    assert.ok(fromEnv.ok);
    assert.equal(fromEnv.config.upstreamTimeoutMs, 1500);
    const zero = loadConfig({ configPath: file({ upstreamTimeoutMs: 0 }), env: {} });
    assert.ok(!zero.ok);
    assert.match(zero.errors.join(), /^upstreamTimeoutMs: /);
  });
});

describe('route methods', () => {
  it('accept every method Node parses (PROPFIND, M-SEARCH, PURGE…), and nothing else', () => {
    const ok = loadConfig({
      configPath: file({ routes: [{ path: '/dav/*', methods: ['PROPFIND', 'MKCOL', 'M-SEARCH', 'PURGE', 'GET'], scope: 'map:read' }] }),
      env: {},
    });
    assert.ok(ok.ok, JSON.stringify(ok));
    const bad = loadConfig({ configPath: file({ routes: [{ path: '/dav/*', methods: ['FETCH'], scope: 'map:read' }] }), env: {} });
    assert.ok(!bad.ok);
    assert.match(bad.errors.join(), /routes\.0\.methods\.0/);
  });
});

type ConfigSourcesLike = Parameters<typeof loadConfig>[0] & object;
