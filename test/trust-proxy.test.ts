/**
 * `trustProxy` (SPEC §4.2) in each form the config takes, observed through the server the way a
 * client meets it: `request.ip` (the key of the per-IP failed-authentication limit) and the host of
 * the list's `Link`. The request comes from 127.0.0.1 with `X-Forwarded-For: 203.0.113.9,
 * 10.0.0.2` (the left-most entry is the client's own claim) and `X-Forwarded-Host`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildServer } from '../src/http/server.js';
import { startTestApp } from './helpers/app.js';

const HEADERS = {
  host: 'tokenbox.internal',
  'x-forwarded-for': '203.0.113.9, 10.0.0.2',
  'x-forwarded-host': 'tokens.example.com',
  'x-forwarded-proto': 'https',
};

interface Seen {
  readonly ip: string;
  readonly host: string;
  readonly link: string;
}

async function observe(trustProxy: unknown): Promise<Seen> {
  const t = await startTestApp({ trustProxy });
  const probe = buildServer(t.app, { logger: false });
  probe.get('/test/whoami', async (request) => ({ ip: request.ip, host: request.host }));
  try {
    await probe.ready();
    await t.account('alice');
    const reader = await t.token('alice', ['tokens:read']);
    const who = (await probe.inject({ method: 'GET', url: '/test/whoami', headers: HEADERS, remoteAddress: '127.0.0.1' })).json<{ ip: string; host: string }>();
    const list = await t.server.inject({
      method: 'GET',
      url: '/tokens/v2/alice?limit=1',
      headers: { ...HEADERS, authorization: `Bearer ${reader.token}` },
      remoteAddress: '127.0.0.1',
    });
    assert.equal(list.statusCode, 200, list.body);
    const link = /^<([^>]+)>/.exec(String(list.headers.link))?.[1];
    assert.ok(link, 'a Link header');
    return { ip: who.ip, host: who.host, link: new URL(link).host };
  } finally {
    await probe.close();
    await t.close();
  }
}

describe('trustProxy: request.ip and the Link host follow each form', () => {
  it('false (the default): the socket address and the Host header; X-Forwarded-* ignored', async () => {
    assert.deepEqual(await observe(false), { ip: '127.0.0.1', host: 'tokenbox.internal', link: 'tokenbox.internal' });
    assert.deepEqual(await observe('0'), { ip: '127.0.0.1', host: 'tokenbox.internal', link: 'tokenbox.internal' });
  });

  it("true: the client's own left-most X-Forwarded-For entry is believed (why the docs warn against it)", async () => {
    assert.deepEqual(await observe(true), { ip: '203.0.113.9', host: 'tokens.example.com', link: 'tokens.example.com' });
    assert.deepEqual(await observe('true'), { ip: '203.0.113.9', host: 'tokens.example.com', link: 'tokens.example.com' });
  });

  it('one proxy address (as the environment gives it): the entry that proxy added, not the client’s claim', async () => {
    for (const form of ['127.0.0.1', ['127.0.0.1'], 'loopback', '127.0.0.0/8']) {
      assert.deepEqual(await observe(form), { ip: '10.0.0.2', host: 'tokens.example.com', link: 'tokens.example.com' }, JSON.stringify(form));
    }
  });

  it('two proxies, comma-separated or as an array: the first untrusted hop from the right', async () => {
    for (const form of ['127.0.0.1, 10.0.0.0/8', ['127.0.0.1', '10.0.0.0/8']]) {
      assert.deepEqual(await observe(form), { ip: '203.0.113.9', host: 'tokens.example.com', link: 'tokens.example.com' }, JSON.stringify(form));
    }
  });

  it('a hop count (SPEC §4.2) trusts that many hops from the socket, though Fastify ignores a bare number', async () => {
    assert.deepEqual(await observe(1), { ip: '10.0.0.2', host: 'tokens.example.com', link: 'tokens.example.com' });
    assert.deepEqual(await observe('2'), { ip: '203.0.113.9', host: 'tokens.example.com', link: 'tokens.example.com' });
    assert.deepEqual(await observe(0), { ip: '127.0.0.1', host: 'tokenbox.internal', link: 'tokenbox.internal' });
  });

  it('addresses that do not include the peer: nothing is trusted', async () => {
    assert.deepEqual(await observe(['10.0.0.0/8', '::1/128']), { ip: '127.0.0.1', host: 'tokenbox.internal', link: 'tokenbox.internal' });
  });
});
