// The yardstick, in its own process like the tokenbox it is compared with: a bare Fastify
// instance (no logger, default options) answering what tokenbox answers on the measured routes,
// with no work behind it. Plain JavaScript, so no TypeScript loader runs in the measured process.
//
// argv[2]: JSON {"retrieveBody": <JSON body>, "retrieveHeaders"?: {…}, "checkHeaders": {…}}
// Prints `listening <origin>` on stdout when ready; exits on SIGTERM.
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';

const spec = JSON.parse(process.argv[2] ?? '{}');
const app = Fastify({ logger: false });

if (spec.upstreamBody !== undefined) {
  // An upstream: any path, 200 and a fixed body (a tile server's answer, small).
  app.all('/*', async (_request, reply) => reply.type('application/octet-stream').send(spec.upstreamBody));
}
if (spec.proxyTo !== undefined) {
  // A plain proxy built from the same library as tokenbox's gateway, with no token checks.
  await app.register(replyFrom, { base: spec.proxyTo });
  app.all('/*', (request, reply) => reply.from(request.url));
}

if (spec.retrieveBody !== undefined) {
  const headers = spec.retrieveHeaders;
  app.get('/tokens/v2', async (_request, reply) => {
    if (headers !== undefined) reply.headers(headers);
    return spec.retrieveBody;
  });
}
if (spec.checkHeaders !== undefined) {
  app.get('/auth/v1/check', async (_request, reply) => reply.code(200).headers(spec.checkHeaders).send());
}

// PORT: a fixed port (bench/instructions.sh), else any free one.
const origin = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`listening ${origin}\n`);
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
