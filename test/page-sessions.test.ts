/**
 * The page's session rules over HTTP (SPEC §9): sign-in, the cookie and CSRF rules on the APIs,
 * sign-out, throttling, password changes, Idempotency-Key, and the page's own headers. The real
 * app on a real SQLite file, driven with `inject`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { SESSION_TTL_MS, sessionIdHash } from '../src/services/sessions-service.js';
import { startTestApp, useForSuite, withOpened, type TestApp } from './helpers/app.js';

const ORIGIN = 'http://localhost:80';
const PASSWORD = 'correct horse battery staple';

/** A browser of one origin: its cookies, and the CSRF value the page gave it. */
class Browser {
  readonly cookies = new Map<string, string>();
  csrf = '';
  readonly responses: LightMyRequestResponse[] = [];

  constructor(private readonly t: TestApp) {}

  async request(options: InjectOptions & { csrf?: boolean; origin?: string | null }): Promise<LightMyRequestResponse> {
    const { csrf = true, origin = ORIGIN, ...rest } = options;
    const headers: Record<string, string> = { host: 'localhost:80', ...(rest.headers as Record<string, string> | undefined) };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (csrf) headers['x-csrf-token'] = this.csrf;
    if (origin !== null) headers.origin = origin;
    const res = await this.t.server.inject({ ...rest, headers });
    this.responses.push(res);
    for (const line of [res.headers['set-cookie'] ?? []].flat()) {
      const [pair] = line.split(';') as [string];
      const [name, value] = pair.split('=') as [string, string];
      if (/Max-Age=0/.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Opens the sign-in page, as a browser would first: it sets the CSRF cookie and carries its value. */
  async open(): Promise<void> {
    const res = await this.request({ method: 'GET', url: '/account/sign-in', csrf: false, origin: null });
    assert.equal(res.statusCode, 200);
    const content = /<meta name="tokenbox-page" content="([^"]*)"/.exec(res.body)?.[1] ?? '';
    this.csrf = (JSON.parse(content.replace(/&quot;/g, '"')) as { csrfToken: string }).csrfToken;
  }

  signIn(username: string, password: string, extra: { csrf?: boolean; origin?: string | null } = {}): Promise<LightMyRequestResponse> {
    return this.request({ method: 'POST', url: '/account/sign-in', payload: { username, password }, ...extra });
  }
}

/** A fresh app (its own throttle and clock) where `username` has PASSWORD, and a browser that opened its page. */
function withFreshBrowser(username: string, fn: (browser: Browser, t: TestApp) => Promise<void>): Promise<void> {
  return withOpened(
    async () => {
      const t = await startTestApp();
      await t.app.accounts.create(username, 'cli', PASSWORD);
      const browser = new Browser(t);
      await browser.open();
      return { t, browser };
    },
    ({ t, browser }) => fn(browser, t),
  );
}

async function signedIn(t: TestApp, username = 'alice'): Promise<Browser> {
  const browser = new Browser(t);
  await browser.open();
  assert.equal((await browser.signIn(username, PASSWORD)).statusCode, 200);
  return browser;
}

async function world(): Promise<TestApp> {
  const t = await startTestApp();
  await t.app.accounts.create('alice', 'cli', PASSWORD);
  await t.app.accounts.create('bob', 'cli', PASSWORD);
  await t.account('nopass');
  return t;
}

function assertNoCredentialsCors(browser: Browser): void {
  for (const res of browser.responses) assert.equal(res.headers['access-control-allow-credentials'], undefined, `${res.statusCode} ${res.body}`);
}

describe('page sessions', () => {
  let t: TestApp;
  useForSuite(
    world,
    (w) => w.close(),
    (w) => (t = w),
  );

  describe('sign-in', () => {
    it('a wrong password, an unknown user and an account without a password get the one 401 message', async () => {
      const browser = new Browser(t);
      await browser.open();
      for (const [user, password] of [
        ['alice', 'wrong password'],
        ['nobody', PASSWORD],
        ['nopass', PASSWORD],
        ['Not A Username', PASSWORD],
      ] as const) {
        const res = await browser.signIn(user, password);
        assert.equal(res.statusCode, 401, user);
        assert.deepEqual(res.json(), { message: 'Invalid username or password' });
        assert.equal(res.headers['set-cookie'], undefined);
      }
      assertNoCredentialsCors(browser);
    });

    it('the right password sets an HttpOnly SameSite=Lax session cookie; no answer allows credentials', async () => {
      const browser = new Browser(t);
      await browser.open();
      const res = await browser.signIn('bob', PASSWORD);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { username: 'bob' });
      const cookie = String(res.headers['set-cookie']);
      assert.match(cookie, /^tokenbox_session=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assertNoCredentialsCors(browser);
    });

    it('needs the CSRF header and a same-origin request, like every cookie request (403)', async () => {
      const browser = new Browser(t);
      await browser.open();
      assert.equal((await browser.signIn('alice', PASSWORD, { csrf: false })).statusCode, 403);
      assert.equal((await browser.signIn('alice', PASSWORD, { origin: 'https://evil.example' })).statusCode, 403);
      assert.equal((await browser.signIn('alice', PASSWORD, { origin: null })).statusCode, 403);
      const crossSite = await browser.request({
        method: 'POST',
        url: '/account/sign-in',
        payload: { username: 'alice', password: PASSWORD },
        origin: null,
        headers: { 'sec-fetch-site': 'cross-site' },
      });
      assert.deepEqual([crossSite.statusCode, crossSite.json()], [403, { message: 'Forbidden' }]);
      const stranger = new Browser(t);
      stranger.csrf = 'A'.repeat(43);
      assert.equal((await stranger.signIn('alice', PASSWORD)).statusCode, 403, 'a CSRF header with no cookie to match');
      assert.equal(browser.cookies.has('tokenbox_session'), false);
      // Without Origin, Sec-Fetch-Site: same-origin stands in for it.
      const sameSite = await browser.request({
        method: 'POST',
        url: '/account/sign-in',
        payload: { username: 'alice', password: PASSWORD },
        origin: null,
        headers: { 'sec-fetch-site': 'same-origin' },
      });
      assert.equal(sameSite.statusCode, 200);
    });

    it('malformed bodies get the API answers and sign nobody in', async () => {
      const browser = new Browser(t);
      await browser.open();
      const cases: [InjectOptions, number, string][] = [
        [{ payload: 'username=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'Content-Type must be application/json'],
        [{ payload: '{"username":', headers: { 'content-type': 'application/json' } }, 400, 'Body is not valid JSON'],
        [{ payload: { username: 'alice' } }, 422, 'password is invalid'],
        [{ payload: { username: ['alice'], password: PASSWORD } }, 422, 'username is invalid'],
        [{ payload: [] }, 422, 'username is invalid'],
      ];
      for (const [options, status, message] of cases) {
        const res = await browser.request({ method: 'POST', url: '/account/sign-in', ...options });
        assert.deepEqual([res.statusCode, res.json()], [status, { message }]);
      }
      assert.equal(browser.cookies.has('tokenbox_session'), false);
    });
  });

  describe('the APIs with a session cookie', () => {
    it('act for the own account with every catalog scope; tokens made there are createdBy web', async () => {
      const browser = await signedIn(t);
      const list = await browser.request({ method: 'GET', url: '/tokens/v2/alice' });
      assert.equal(list.statusCode, 200);
      assert.ok(list.json<unknown[]>().length >= 1);
      const created = await browser.request({
        method: 'POST',
        url: '/tokens/v2/alice',
        payload: { note: 'from the page', scopes: ['tokens:read', 'styles:read'] },
      });
      assert.equal(created.statusCode, 200);
      const body = created.json<{ id: string; usage: string; token: string }>();
      assert.equal(body.usage, 'sk');
      assert.equal((await t.app.store.findTokenById(body.id))?.createdBy, 'web');
      assert.equal((await browser.request({ method: 'GET', url: '/scopes/v1/alice' })).statusCode, 200);
      // No tk from a session: it has no root token to bind one to.
      const tk = await browser.request({
        method: 'POST',
        url: '/tokens/v2/alice',
        payload: { expires: new Date(t.clock() + 60_000).toISOString(), scopes: ['styles:read'] },
      });
      assert.equal(tk.statusCode, 404);
      assertNoCredentialsCors(browser);
    });

    it("another account's path is 404 Not found; an unknown one 404 No such user", async () => {
      const browser = await signedIn(t);
      assert.deepEqual((await browser.request({ method: 'GET', url: '/tokens/v2/bob' })).json(), { message: 'Not found' });
      assert.deepEqual((await browser.request({ method: 'GET', url: '/tokens/v2/nobody' })).json(), { message: 'No such user' });
    });

    it('without the CSRF header, or from a foreign Origin, a cookie is refused 403 and nothing changes', async () => {
      const browser = await signedIn(t);
      const before = (await t.app.store.listTokens('alice', { sortBy: 'created', after: null, limit: 1000 })).length;
      const post = (extra: { csrf?: boolean; origin?: string | null }) =>
        browser.request({ method: 'POST', url: '/tokens/v2/alice', payload: { note: 'csrf' }, ...extra });
      for (const res of [await post({ csrf: false }), await post({ origin: 'https://evil.example' }), await post({ origin: 'null' })]) {
        assert.deepEqual([res.statusCode, res.json()], [403, { message: 'Forbidden' }]);
      }
      const wrongValue = await browser.request({
        method: 'DELETE',
        url: '/tokens/v2/alice/cxxxxxxxxxxxxxxxxxxxxxxxx',
        headers: { 'x-csrf-token': 'B'.repeat(43) },
        csrf: false,
      });
      assert.equal(wrongValue.statusCode, 403);
      assert.equal((await t.app.store.listTokens('alice', { sortBy: 'created', after: null, limit: 1000 })).length, before);
    });

    it('no cookie is 401; a cookie naming no live session is 401 before CSRF is looked at', async () => {
      const browser = new Browser(t);
      assert.equal((await browser.request({ method: 'GET', url: '/tokens/v2/alice' })).statusCode, 401);
      browser.cookies.set('tokenbox_session', 'A'.repeat(43));
      const res = await browser.request({ method: 'GET', url: '/tokens/v2/alice', csrf: false });
      assert.deepEqual([res.statusCode, res.json()], [401, { message: 'Unauthorized' }]);
      browser.cookies.set('tokenbox_session', 'not-even-shaped-right');
      assert.equal((await browser.request({ method: 'GET', url: '/tokens/v2/alice', csrf: false })).statusCode, 401);
    });

    it('a token in the request wins over the cookie', async () => {
      const browser = await signedIn(t);
      const bobs = await t.token('bob', ['tokens:read']);
      const res = await browser.request({ method: 'GET', url: `/tokens/v2/bob?access_token=${bobs.token}` });
      assert.equal(res.statusCode, 200);
      const forged = await browser.request({ method: 'GET', url: '/tokens/v2/alice?access_token=sk.forged' });
      assert.equal(forged.statusCode, 401);
    });

    it('a session ends with sign-out, a password change, and after 12 hours', async () => {
      const one = await signedIn(t);
      const cookie = one.cookies.get('tokenbox_session');
      const out = await one.request({ method: 'POST', url: '/account/sign-out' });
      assert.equal(out.statusCode, 204);
      assert.match(String(out.headers['set-cookie']), /^tokenbox_session=; Max-Age=0/);
      one.cookies.set('tokenbox_session', cookie as string);
      assert.equal((await one.request({ method: 'GET', url: '/tokens/v2/alice' })).statusCode, 401, 'the old cookie after sign-out');
      assert.equal((await one.request({ method: 'POST', url: '/account/sign-out' })).statusCode, 401);

      const two = await signedIn(t, 'bob');
      const three = await signedIn(t, 'bob');
      await t.app.sessions.setPassword('bob', PASSWORD);
      assert.equal((await two.request({ method: 'GET', url: '/tokens/v2/bob' })).statusCode, 401);
      assert.equal((await three.request({ method: 'GET', url: '/tokens/v2/bob' })).statusCode, 401);

      const four = await signedIn(t, 'bob');
      t.clock.advance(SESSION_TTL_MS - 1);
      assert.equal((await four.request({ method: 'GET', url: '/tokens/v2/bob' })).statusCode, 200);
      t.clock.advance(1);
      assert.equal((await four.request({ method: 'GET', url: '/tokens/v2/bob' })).statusCode, 401);
      assert.ok((await t.app.sessions.prune()).sessions >= 1);
      // Gone from the store, not only refused: even a clock set back cannot find it.
      assert.equal(await t.app.store.findSession(sessionIdHash(four.cookies.get('tokenbox_session') ?? ''), 0), null);
    });

    it('sign-out needs CSRF too: without it the session lives on', async () => {
      const browser = await signedIn(t);
      assert.equal((await browser.request({ method: 'POST', url: '/account/sign-out', csrf: false })).statusCode, 403);
      assert.equal((await browser.request({ method: 'GET', url: '/tokens/v2/alice' })).statusCode, 200);
    });
  });

  describe('throttling', () => {
    it('5 failures in a row, then 429 with Retry-After and backoff; never a permanent lockout', () =>
      withFreshBrowser('carol', async (browser, t2) => {
        for (let i = 0; i < 5; i++) assert.equal((await browser.signIn('carol', `wrong ${i}`)).statusCode, 401);
        const limited = await browser.signIn('carol', PASSWORD);
        assert.deepEqual([limited.statusCode, limited.json(), limited.headers['retry-after']], [429, { message: 'Too Many Requests' }, '1']);
        t2.clock.advance(1_000);
        assert.equal((await browser.signIn('carol', 'wrong again')).statusCode, 401);
        assert.equal((await browser.signIn('carol', PASSWORD)).headers['retry-after'], '2', 'the wait doubles');
        // However long an attacker keeps on, the wait stays at most 15 minutes.
        for (let i = 0; i < 30; i++) {
          const res = await browser.signIn('carol', 'wrong');
          t2.clock.advance(Number(res.headers['retry-after'] ?? 0) * 1000);
          assert.ok(Number(res.headers['retry-after'] ?? 0) <= 900);
        }
        t2.clock.advance(15 * 60_000);
        assert.equal((await browser.signIn('carol', PASSWORD)).statusCode, 200, 'the owner gets in once the wait is over');
      }));

    it('a burst of concurrent guesses gets 5 password checks, not as many as it sends', () =>
      withFreshBrowser('erin', async (browser) => {
        const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => browser.signIn('erin', `guess ${i}`)));
        const statuses = answers.map((res) => res.statusCode).sort();
        assert.deepEqual(statuses, [...Array<number>(5).fill(401), ...Array<number>(15).fill(429)]);
      }));

    it("an owner's own sign-ins never add up to a wait", () =>
      withFreshBrowser('frank', async (browser) => {
        for (let i = 0; i < 12; i++) assert.equal((await browser.signIn('frank', PASSWORD)).statusCode, 200, `sign-in ${i + 1}`);
      }));

    it('one address failing against many usernames is throttled too', () =>
      withFreshBrowser('dave', async (browser, t2) => {
        for (let i = 0; i < 5; i++) assert.equal((await browser.signIn(`user${i}`, 'wrong password')).statusCode, 401);
        assert.equal((await browser.signIn('dave', PASSWORD)).statusCode, 429);
        const elsewhere = await t2.server.inject({
          method: 'POST',
          url: '/account/sign-in',
          remoteAddress: '10.9.8.7',
          headers: { host: 'localhost:80', origin: ORIGIN, 'x-csrf-token': browser.csrf, cookie: `tokenbox_csrf=${browser.csrf}` },
          payload: { username: 'dave', password: PASSWORD },
        });
        assert.equal(elsewhere.statusCode, 200, 'the owner, from another address');
      }));
  });

  describe('Idempotency-Key on create', () => {
    it('a double submit makes one token and answers both with it', async () => {
      const browser = await signedIn(t);
      const create = () =>
        browser.request({
          method: 'POST',
          url: '/tokens/v2/alice',
          headers: { 'idempotency-key': 'form-1' },
          payload: { note: 'twice', scopes: ['styles:read', 'tokens:read'] },
        });
      const [a, b] = await Promise.all([create(), create()]);
      assert.equal(a.statusCode, 200);
      assert.equal(b.statusCode, 200);
      assert.deepEqual(a.json(), b.json());
      const third = await create();
      assert.deepEqual(third.json(), a.json());
      const all = await t.app.store.listTokens('alice', { sortBy: 'created', after: null, limit: 1000 });
      assert.equal(all.filter((token) => token.note === 'twice').length, 1);
    });

    it('the same key with another body is 422; a malformed key is 422; nothing is created', async () => {
      const sk = await t.token('alice', ['tokens:write', 'styles:read']);
      const post = (key: string, note: string) =>
        t.server.inject({ method: 'POST', url: `/tokens/v2/alice?access_token=${sk.token}`, headers: { 'idempotency-key': key }, payload: { note } });
      assert.equal((await post('k-1', 'first')).statusCode, 200);
      assert.deepEqual((await post('k-1', 'second')).json(), { message: 'Idempotency-Key was used with a different request' });
      assert.deepEqual((await post('has space', 'x')).json(), { message: 'Idempotency-Key is invalid' });
      assert.deepEqual((await post('k'.repeat(256), 'x')).json(), { message: 'Idempotency-Key is invalid' });
      const notes = (await t.app.store.listTokens('alice', { sortBy: 'created', after: null, limit: 1000 })).map((r) => r.note);
      assert.equal(notes.filter((n) => n === 'first').length, 1);
      assert.ok(!notes.includes('second') && !notes.includes('x'));
    });
  });

  describe('page loads', () => {
    it('without a session every page sends the browser to the sign-in page', async () => {
      const browser = new Browser(t);
      for (const url of ['/account', '/account/access-tokens', '/account/access-tokens/create', '/account/access-tokens/cabc']) {
        const res = await browser.request({ method: 'GET', url, csrf: false, origin: null });
        assert.deepEqual([res.statusCode, res.headers.location], [303, '/account/sign-in'], url);
      }
    });

    it('a signed-in browser gets the page with its username and CSRF value; the sign-in page sends it on', async () => {
      const browser = await signedIn(t);
      const res = await browser.request({ method: 'GET', url: '/account/access-tokens', csrf: false, origin: null });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] as string, /^text\/html/);
      assert.match(res.body, new RegExp(`content="\\{&quot;csrfToken&quot;:&quot;${browser.csrf}&quot;,&quot;username&quot;:&quot;alice&quot;\\}"`));
      const again = await browser.request({ method: 'GET', url: '/account/sign-in', csrf: false, origin: null });
      assert.deepEqual([again.statusCode, again.headers.location], [303, '/account/access-tokens']);
    });

    it('pages carry a strict CSP, Referrer-Policy same-origin and no-store, and no CORS', async () => {
      const browser = new Browser(t);
      const res = await browser.request({ method: 'GET', url: '/account/sign-in', csrf: false, origin: null });
      const csp = res.headers['content-security-policy'] as string;
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(res.headers['referrer-policy'], 'same-origin');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.match(String(res.headers['set-cookie']), /^tokenbox_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      const missing = await browser.request({ method: 'GET', url: '/account/nothing-here', csrf: false, origin: null });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.headers['access-control-allow-origin'], undefined);
    });

    it("the page's assets come from /account/assets with year-long immutable caching; the shell has nothing inline", async () => {
      const browser = new Browser(t);
      const shell = await browser.request({ method: 'GET', url: '/account/sign-in', csrf: false, origin: null });
      assert.doesNotMatch(shell.body, /<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
      const assets = [...shell.body.matchAll(/(?:src|href)="(\/account\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
      assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), assets.join(', '));
      for (const url of assets) {
        const res = await browser.request({ method: 'GET', url, csrf: false, origin: null });
        assert.equal(res.statusCode, 200, url);
        assert.match(res.headers['cache-control'] as string, /max-age=31536000/);
        assert.match(res.headers['cache-control'] as string, /immutable/);
        assert.match(res.headers['content-type'] as string, url.endsWith('.js') ? /javascript/ : /text\/css/);
      }
      assert.equal((await browser.request({ method: 'GET', url: '/account/assets/nothing.js', csrf: false, origin: null })).statusCode, 404);
    });

    it('over TLS (behind a trusted proxy) the cookies are __Host- prefixed and Secure', async () => {
      const t2 = await startTestApp({ trustProxy: true });
      try {
        const res = await t2.server.inject({ method: 'GET', url: '/account/sign-in', headers: { host: 'tokens.example', 'x-forwarded-proto': 'https' } });
        assert.match(String(res.headers['set-cookie']), /^__Host-tokenbox_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      } finally {
        await t2.close();
      }
    });
  });
});
