/**
 * The real-browser harness for the Access tokens page: Debian's chromium driven by
 * playwright-core, axe-core injected into the page, and an account made with a password through
 * the CLI, as an operator makes one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { BIN, childEnv } from './cli.js';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why the browser suite cannot run here, or undefined when it can. Outside CI a missing chromium
 * skips the suite with the reason; in CI (`CI` set) the suite runs and fails, so a CI machine
 * without chromium is never taken for a passing one.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.CI) return undefined;
  return 'chromium not installed: apt-get install chromium';
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** `tokenbox accounts create <username> --password-stdin`: the password goes in as one line. */
export function createAccountWithPassword(dataDir: string, username: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BIN, 'accounts', 'create', username, '--password-stdin', '--data', dataDir], {
      env: childEnv(),
      cwd: tmpdir(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.once('error', reject);
    proc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`accounts create exited ${code}: ${stderr}`))));
    proc.stdin.end(`${password}\n`);
  });
}

/** A fresh browser context (its own cookies), clipboard allowed so `Copy` can be checked. */
export async function newContext(browser: Browser, origin: string, viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: origin, viewport });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  return context;
}

/** Signs in through the form and waits for the list. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/account/sign-in');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/account/access-tokens');
  await page.getByRole('heading', { level: 1, name: 'Access tokens' }).waitFor();
}

/** The page's CSRF token, as the server wrote it into the shell. */
export async function csrfToken(page: Page): Promise<string> {
  const content = await page.locator('meta[name=tokenbox-page]').getAttribute('content');
  return (JSON.parse(content ?? '{}') as { csrfToken: string }).csrfToken;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * The serious and critical axe-core violations on the page as it is now. axe is evaluated as a
 * script through the DevTools protocol, which the page's CSP does not govern, so the page under
 * test keeps its real CSP.
 */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

export async function assertAccessible(page: Page, what: string): Promise<void> {
  assert.deepEqual(await seriousAxeViolations(page), [], `axe-core on ${what}`);
}

/** The page does not scroll sideways (at the context's viewport). */
export async function assertNoSideScroll(page: Page, what: string): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  assert.ok(scrollWidth <= clientWidth, `${what} scrolls sideways: scrollWidth ${scrollWidth} > clientWidth ${clientWidth}`);
}

/**
 * Records the page's CSP violations (the page must need no inline script or style) and uncaught
 * errors; `check()` asserts there were none.
 */
export function watchPage(page: Page): { check(what: string): void } {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
  });
  return {
    check(what: string) {
      assert.deepEqual(problems, [], `problems on ${what}`);
    },
  };
}

/** `GET /tokens/v2?access_token=<t>`: the retrieve code for a token string. */
export async function retrieveCode(origin: string, token: string): Promise<string> {
  const response = await fetch(`${origin}/tokens/v2?access_token=${encodeURIComponent(token)}`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { code: string }).code;
}

export interface InPageResponse<T> {
  readonly status: number;
  readonly body: T;
}

/**
 * A request from inside the signed-in page, as the page itself makes it (session cookie plus the
 * page's CSRF token): to set up a state, or to check one, through the public API.
 */
export function apiInPage<T = unknown>(page: Page, method: string, path: string, body?: unknown): Promise<InPageResponse<T>> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const meta = document.querySelector<HTMLMetaElement>('meta[name=tokenbox-page]');
      const { csrfToken } = JSON.parse(meta?.content ?? '{}') as { csrfToken: string };
      const headers: Record<string, string> = { 'X-CSRF-Token': csrfToken };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const response = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
      const text = await response.text();
      return { status: response.status, body: (text === '' ? null : JSON.parse(text)) as T };
    },
    { method, path, body },
  );
}

/**
 * Presses Tab until the focused element's description (tag, accessible label or text) matches
 * `target`; fails after `limit` presses. Only the keyboard moves the focus.
 */
export async function tabTo(page: Page, target: RegExp, limit = 80): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (el === null) return '';
      const labels = el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? [...(el.labels ?? [])].map((l) => l.textContent).join(' ') : '';
      return `${el.tagName.toLowerCase()}: ${labels || (el.textContent ?? '').trim()}`;
    });
    seen.push(focused);
    if (target.test(focused)) return;
  }
  assert.fail(`Tab never reached ${String(target)}; focus went through: ${seen.join(' | ')}`);
}
