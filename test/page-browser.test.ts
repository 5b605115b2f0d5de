/**
 * The Access tokens page (SPEC §9, issue 9) in a real browser: Debian's chromium driven by
 * playwright-core against the real `tokenbox serve`, with an account made by the CLI. Every test
 * opens its own browser context (its own session), so they do not lean on each other's pages.
 *
 * `TOKENBOX_SCREENSHOTS=1` also writes docs/screenshots/{list,create,reveal}.png (1280×800).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ROOT, children, ensureBuilt, startServer, stopServer, type RunningServer } from './helpers/cli.js';
import {
  apiInPage,
  assertAccessible,
  assertNoSideScroll,
  browserSkipReason,
  createAccountWithPassword,
  csrfToken,
  launchBrowser,
  newContext,
  retrieveCode,
  signIn,
  tabTo,
  watchPage,
} from './helpers/browser.js';

const USER = 'alice';
const PASSWORD = 'correct horse battery staple';
const LIST = '**/account/access-tokens';
const SCREENSHOTS = process.env.TOKENBOX_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'screenshots') : null;

interface Token {
  id: string;
  note: string;
  usage: 'pk' | 'sk';
  default: boolean;
  scopes: string[];
  allowedUrls?: string[];
  token?: string;
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS === null) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** The list's item (card) for the token whose heading link is `note`. */
const card = (page: Page, note: string) => page.getByRole('listitem').filter({ has: page.getByRole('link', { name: note, exact: true }) });

describe('the Access tokens page in a real browser', { skip: browserSkipReason(), timeout: 300_000 }, () => {
  let dataDir: string | undefined;
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  let origin = '';

  before(async () => {
    ensureBuilt();
    assert.ok(existsSync(join(ROOT, 'dist', 'web', 'index.html')), 'dist/web is missing: run `npx vite build` (npm run build does)');
    dataDir = mkdtempSync(join(tmpdir(), 'tokenbox-page-'));
    await createAccountWithPassword(dataDir, USER, PASSWORD);
    // The page makes a few API calls per view; the per-token rate limit is not under test here.
    server = await startServer(dataDir, { TOKENBOX_ACCOUNT_RATE_LIMIT: '100000' });
    origin = server.origin;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    if (server !== undefined) await stopServer(server, ['SIGTERM']);
    for (const child of children) child.kill('SIGKILL');
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  /** A page in a fresh context (no session yet), watched for CSP violations and errors. */
  async function openPage(viewport?: { width: number; height: number }) {
    assert.ok(browser);
    const context = await newContext(browser, origin, viewport);
    const page = await context.newPage();
    const watch = watchPage(page);
    return { context, page, watch };
  }

  async function signedInPage(viewport?: { width: number; height: number }) {
    const opened = await openPage(viewport);
    await signIn(opened.page, USER, PASSWORD);
    return opened;
  }

  const listTokens = async (page: Page): Promise<Token[]> => {
    const response = await apiInPage<Token[]>(page, 'GET', `/tokens/v2/${USER}?limit=100`);
    assert.equal(response.status, 200);
    return response.body;
  };

  const createToken = async (page: Page, body: object): Promise<Token> => {
    const response = await apiInPage<Token>(page, 'POST', `/tokens/v2/${USER}`, body);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };

  it('sign-in: a wrong password shows "Invalid username or password"; the right one lands on the list', async () => {
    const { context, page, watch } = await openPage();
    await page.goto('/account/access-tokens');
    await page.waitForURL('**/account/sign-in');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor());
    assert.match(page.url(), /\/account\/sign-in$/);

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(LIST);
    await page.getByRole('heading', { level: 1, name: 'Access tokens' }).waitFor();
    assert.match(await page.getByRole('banner').innerText(), /Signed in as\s+alice/);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    watch.check('sign-in');
    await context.close();
  });

  it('the list: default public token first with Copy and Refresh, facts of every token, example code with the default pk', async () => {
    const { context, page, watch } = await signedInPage();
    const tokens = await listTokens(page);
    const defaultToken = tokens.find((t) => t.default);
    assert.ok(defaultToken?.token);
    const first = page
      .getByRole('listitem')
      .filter({ has: page.getByRole('heading', { level: 3 }) })
      .first();
    await assert.doesNotReject(first.getByRole('button', { name: 'Refresh' }).waitFor());
    assert.equal(await first.locator('code').first().innerText(), defaultToken.token);
    assert.match(await first.innerText(), /Last used\s+never/);

    await first.getByRole('button', { name: 'Copy' }).click();
    await first.getByText('Copied', { exact: true }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), defaultToken.token);

    const examples = await page.locator('pre code').allInnerTexts();
    assert.ok(
      examples.some((text) => text === `curl "${origin}/tokens/v2?access_token=${defaultToken.token}"`),
      examples.join('\n'),
    );
    assert.ok(examples.some((text) => text.includes(`mbxTokens({ accessToken: '${defaultToken.token}', origin: '${origin}' })`)));
    await page.getByRole('link', { name: 'Create a token' }).waitFor();
    watch.check('the list');
    await context.close();
  });

  it('creates a public token with allowed URLs and lists it', async () => {
    const { context, page, watch } = await signedInPage();
    await page.getByRole('link', { name: 'Create a token' }).click();
    await page.waitForURL('**/account/access-tokens/create');
    await page.getByLabel('Note').fill('web map');
    await page.getByRole('checkbox', { name: 'styles:read', exact: true }).check();
    await page.getByLabel('Allowed URLs').fill('https://maps.example.com\nexample.org\n');
    await page.getByText('This will be a public token').waitFor();
    await screenshot(page, 'create');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.waitForURL(LIST);

    const item = card(page, 'web map');
    await item.waitFor();
    const text = await item.innerText();
    assert.match(text, /Public/);
    assert.match(text, /styles:read/);
    assert.match(text, /2 URLs/);
    assert.match(await item.locator('code').first().innerText(), /^pk\./);
    const created = (await listTokens(page)).find((t) => t.note === 'web map');
    assert.deepEqual(created?.allowedUrls, ['https://maps.example.com', 'example.org']);
    await screenshot(page, 'list');
    watch.check('create a pk');
    await context.close();
  });

  it('creates a secret token and shows it exactly once (gone after reload); the API says it works', async () => {
    const { context, page, watch } = await signedInPage();
    await page.goto('/account/access-tokens/create');
    await page.getByLabel('Note').fill('deploy server');
    await page.getByRole('checkbox', { name: 'styles:read', exact: true }).check();
    await page.getByText('This will be a public token').waitFor();
    await page.getByRole('checkbox', { name: 'tokens:read', exact: true }).check();
    await page.getByText('This will be a secret token').waitFor();
    await page.getByRole('button', { name: 'Create token' }).click();

    await page.getByRole('heading', { level: 1, name: 'Your new secret token' }).waitFor();
    const secret = await page.locator('main code').first().innerText();
    assert.match(secret, /^sk\./);
    assert.match(await page.locator('main').innerText(), /only time this token is shown[\s\S]*reloading this page loses it/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied', { exact: true }).waitFor();
    await screenshot(page, 'reveal');
    assert.equal(await retrieveCode(origin, secret), 'TokenValid');

    // Nothing of it is kept anywhere the page could find it again.
    assert.ok(!page.url().includes(secret));
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
    assert.ok(!stored.includes(secret.slice(3)));
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Create a token' }).waitFor();
    assert.ok(!(await page.content()).includes(secret.slice(3)), 'the secret is gone after a reload');
    await page.goto('/account/access-tokens');
    const item = card(page, 'deploy server');
    await item.waitFor();
    assert.match(await item.innerText(), /Secret/);
    assert.ok(!(await page.content()).includes(secret.slice(3)), 'the list never shows a secret string');
    watch.check('create an sk');
    await context.close();
  });

  it('edits a public token (note and scopes) and the page shows the change; secret tokens point to the API', async () => {
    const { context, page, watch } = await signedInPage();
    const pk = await createToken(page, { note: 'to rename', scopes: ['styles:read'] });
    const sk = await createToken(page, { note: 'a secret one', scopes: ['tokens:read'] });
    await page.goto(`/account/access-tokens/${pk.id}`);
    await page.getByRole('heading', { level: 1, name: 'to rename' }).waitFor();
    // Only public scopes are offered for a pk.
    assert.equal(await page.getByRole('checkbox', { name: 'tokens:read', exact: true }).count(), 0);
    await page.getByLabel('Note').fill('renamed');
    await page.getByRole('checkbox', { name: 'styles:read', exact: true }).uncheck();
    await page.getByRole('checkbox', { name: 'fonts:read', exact: true }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    await page.getByRole('heading', { level: 1, name: 'renamed' }).waitFor();
    await page.getByText(/requests? in the last 30 days/).waitFor();
    assert.equal(await page.locator('.plot canvas').count(), 1, 'the chart is drawn');

    await page.goto('/account/access-tokens');
    const item = card(page, 'renamed');
    await item.waitFor();
    assert.match(await item.innerText(), /fonts:read/);
    assert.doesNotMatch(await item.innerText(), /styles:read/);

    await page.goto(`/account/access-tokens/${sk.id}`);
    await page.getByRole('heading', { level: 1, name: 'a secret one' }).waitFor();
    await page.getByText('Secret tokens can be updated only through the Tokens API').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save' }).count(), 0);
    watch.check('edit');
    await context.close();
  });

  it('deletes a token after the confirmation', async () => {
    const { context, page, watch } = await signedInPage();
    const doomed = await createToken(page, { note: 'to delete', scopes: [] });
    await page.goto(`/account/access-tokens/${doomed.id}`);
    await page.getByRole('heading', { level: 1, name: 'to delete' }).waitFor();

    await page.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.ok(
      (await listTokens(page)).some((t) => t.id === doomed.id),
      'Cancel keeps the token',
    );

    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(LIST);
    await page.getByRole('heading', { level: 3 }).first().waitFor();
    assert.equal(await card(page, 'to delete').count(), 0);
    assert.ok(!(await listTokens(page)).some((t) => t.id === doomed.id));
    watch.check('delete');
    await context.close();
  });

  it('refreshes the default token after a warning; the old string is revoked at once and the list shows the new one', async () => {
    const { context, page, watch } = await signedInPage();
    const before = (await listTokens(page)).find((t) => t.default);
    assert.ok(before?.token);
    assert.equal(await retrieveCode(origin, before.token), 'TokenValid');

    const item = page.getByRole('listitem').filter({ has: page.getByRole('button', { name: 'Refresh' }) });
    await item.getByRole('button', { name: 'Refresh' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.innerText(), /old string stops working at once/);
    await dialog.getByRole('button', { name: 'Refresh' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText('The default public token was refreshed').waitFor();

    const after = (await listTokens(page)).find((t) => t.default);
    assert.ok(after?.token);
    assert.notEqual(after.token, before.token);
    assert.equal(await item.locator('code').first().innerText(), after.token);
    assert.ok(
      (await page.locator('pre code').allInnerTexts()).every((code) => code.includes(after.token ?? '?')),
      'examples carry the new pk',
    );
    assert.equal(await retrieveCode(origin, before.token), 'TokenRevoked');
    const refused = await fetch(`${origin}/tokens/v2/${USER}?access_token=${before.token}`);
    assert.equal(refused.status, 401);
    assert.equal(await retrieveCode(origin, after.token), 'TokenValid');
    watch.check('refresh');
    await context.close();
  });

  it('sign out ends the session: the old cookie is refused afterwards', async () => {
    const { context, page, watch } = await signedInPage();
    const csrf = await csrfToken(page);
    const cookie = (await context.cookies(origin)).map((c) => `${c.name}=${c.value}`).join('; ');
    const withSession = () => fetch(`${origin}/tokens/v2/${USER}`, { headers: { cookie, 'X-CSRF-Token': csrf, Origin: origin } });
    assert.equal((await withSession()).status, 200, 'the cookie works while signed in');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/account/sign-in');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal((await withSession()).status, 401);
    await page.goto('/account/access-tokens');
    await page.waitForURL('**/account/sign-in');
    watch.check('sign out');
    await context.close();
  });

  it('a note with a script is shown as text and never runs', async () => {
    const { context, page, watch } = await signedInPage();
    const note = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">';
    await page.goto('/account/access-tokens/create');
    await page.getByLabel('Note').fill(note);
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.waitForURL(LIST);
    const item = card(page, note);
    await item.waitFor();
    const link = item.getByRole('link', { name: note, exact: true });
    assert.equal(await link.innerText(), note);
    await link.click();
    await page.getByRole('heading', { level: 1, name: note, exact: true }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned), undefined);
    assert.equal(await page.locator('main script, main img').count(), 0);
    watch.check('a hostile note');
    await context.close();
  });

  it('a double-clicked Create token makes one token', async () => {
    const { context, page, watch } = await signedInPage();
    await page.goto('/account/access-tokens/create');
    await page.getByLabel('Note').fill('clicked twice');
    await page.getByRole('button', { name: 'Create token' }).dblclick();
    await page.waitForURL(LIST);
    await card(page, 'clicked twice').waitFor();
    assert.equal((await listTokens(page)).filter((t) => t.note === 'clicked twice').length, 1);
    watch.check('double submit');
    await context.close();
  });

  it('too long a note and too many URLs are refused next to the field, in plain words', async () => {
    const { context, page, watch } = await signedInPage();
    await page.goto('/account/access-tokens/create');
    await page.getByLabel('Note').fill('x'.repeat(10_000));
    await page.getByLabel('Allowed URLs').fill(Array.from({ length: 101 }, (_, i) => `https://site${i}.example.com`).join('\n'));
    const before = (await listTokens(page)).length;
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('alert').filter({ hasText: 'not created' }).waitFor();
    await page.getByText('it may be at most 1,000').waitFor();
    await page.getByText('a token may have at most 100').waitFor();
    assert.equal(await page.getByLabel('Note').getAttribute('aria-invalid'), 'true');
    assert.equal((await listTokens(page)).length, before);
    watch.check('bad input');
    await context.close();
  });

  it('keyboard only: sign in, create a token, and delete it with Tab, Enter and typing', async () => {
    const { context, page, watch } = await openPage();
    await page.goto('/account/sign-in');
    await tabTo(page, /^input: Username/);
    await page.keyboard.type(USER);
    await tabTo(page, /^input: Password/);
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(LIST);

    await page.getByRole('heading', { level: 3 }).first().waitFor();
    await tabTo(page, /^a: Create a token$/);
    await page.keyboard.press('Enter');
    await page.waitForURL('**/account/access-tokens/create');
    await page.getByRole('checkbox', { name: 'styles:read', exact: true }).waitFor();
    await tabTo(page, /^input: Note/);
    await page.keyboard.type('typed by keyboard');
    await tabTo(page, /^input: styles:read$/);
    await page.keyboard.press('Space');
    await tabTo(page, /^button: Create token$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(LIST);
    await card(page, 'typed by keyboard').waitFor();
    assert.deepEqual((await listTokens(page)).find((t) => t.note === 'typed by keyboard')?.scopes, ['styles:read']);

    await tabTo(page, /^a: typed by keyboard$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'typed by keyboard' }).waitFor();
    await tabTo(page, /^button: Delete$/);
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await tabTo(page, /^button: Delete$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(LIST);
    await page.getByRole('heading', { level: 3 }).first().waitFor();
    assert.equal(await card(page, 'typed by keyboard').count(), 0);
    watch.check('keyboard');
    await context.close();
  });

  it('no page scrolls sideways at 375×667, long tokens, notes and URLs included', async () => {
    const signedOut = await openPage({ width: 375, height: 667 });
    await signedOut.page.goto('/account/sign-in');
    await signedOut.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await assertNoSideScroll(signedOut.page, 'sign-in');
    await signedOut.context.close();

    const { context, page, watch } = await signedInPage({ width: 375, height: 667 });
    const long = await createToken(page, {
      note: 'a-very-long-note-without-any-space-'.repeat(8),
      scopes: ['styles:read'],
      allowedUrls: ['https://a-very-long-host-name-for-a-map-viewer.example.com/path/that/goes/on/and/on/and/on'],
    });
    await page.goto('/account/access-tokens');
    await page.getByRole('heading', { level: 3 }).first().waitFor();
    await page.locator('pre code').first().waitFor();
    await assertNoSideScroll(page, 'the list');

    await page.goto(`/account/access-tokens/${long.id}`);
    await page.locator('.plot canvas').waitFor();
    await assertNoSideScroll(page, 'a token page');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').waitFor();
    await assertNoSideScroll(page, 'the delete dialog');

    await page.goto('/account/access-tokens/create');
    await page.getByRole('checkbox', { name: 'tokens:read', exact: true }).check();
    await assertNoSideScroll(page, 'the create form');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your new secret token' }).waitFor();
    await assertNoSideScroll(page, 'the secret reveal');
    watch.check('375 wide');
    await context.close();
  });

  it('axe-core finds no serious or critical violation on any page', async () => {
    const signedOut = await openPage();
    await signedOut.page.goto('/account/sign-in');
    await signedOut.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await assertAccessible(signedOut.page, 'the sign-in page');
    await signedOut.page.getByLabel('Username').fill(USER);
    await signedOut.page.getByLabel('Password').fill('not the password');
    await signedOut.page.getByRole('button', { name: 'Sign in' }).click();
    await signedOut.page.getByRole('alert').waitFor();
    await assertAccessible(signedOut.page, 'the sign-in page with its error');
    await signedOut.context.close();

    const { context, page, watch } = await signedInPage();
    const pk = await createToken(page, { note: 'axe pk', scopes: ['styles:read'], allowedUrls: ['example.com'] });
    const sk = await createToken(page, { note: 'axe sk', scopes: ['tokens:read'] });
    await page.goto('/account/access-tokens');
    await page.locator('pre code').first().waitFor();
    await assertAccessible(page, 'the list');

    await page.goto(`/account/access-tokens/${pk.id}`);
    await page.locator('.plot canvas').waitFor();
    await page.getByRole('checkbox', { name: 'styles:read', exact: true }).waitFor();
    await assertAccessible(page, 'a public token page');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').waitFor();
    await assertAccessible(page, 'the delete dialog');

    await page.goto(`/account/access-tokens/${sk.id}`);
    await page.locator('.plot canvas').waitFor();
    await assertAccessible(page, 'a secret token page');

    await page.goto('/account/access-tokens/create');
    await page.getByRole('checkbox', { name: 'tokens:read', exact: true }).check();
    await assertAccessible(page, 'the create form');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your new secret token' }).waitFor();
    await assertAccessible(page, 'the secret reveal');
    watch.check('axe');
    await context.close();
  });
});
