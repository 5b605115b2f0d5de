/**
 * The operators' API (SPEC §10), its own encapsulated scope: SPEC §3's wire rules (JSON only,
 * CORS `*` without credentials), `Cache-Control: no-store` on every answer (they carry token
 * strings and account data), and admin keys as the only credential, checked per route before
 * the body is read: 401 → 429 → the body → 404 / 409 / 422.
 */
import type { FastifyInstance } from 'fastify';
import { API_METHODS, applyApiWireRules, preflightRoute } from '../api-wire.js';
import type { HttpDeps } from '../context.js';
import { createAccountRoute } from './create-account.js';
import { getAccountRoute } from './get-account.js';
import { listAccountsRoute } from './list-accounts.js';
import { setPasswordRoute } from './set-password.js';
import { patchAccountRoute } from './patch-account.js';
import { deleteAccountRoute } from './delete-account.js';
import { listAuditRoute } from './list-audit.js';

export function adminSurface(admin: FastifyInstance, deps: HttpDeps): void {
  applyApiWireRules(admin);
  admin.addHook('onRequest', (_request, reply, done) => {
    reply.header('Cache-Control', 'no-store');
    done();
  });
  // PUT too: the password endpoint (SPEC §9) is the one PUT tokenbox has.
  preflightRoute(admin, '/admin/*', `${API_METHODS}, PUT`);
  createAccountRoute(admin, deps);
  listAccountsRoute(admin, deps);
  getAccountRoute(admin, deps);
  setPasswordRoute(admin, deps);
  patchAccountRoute(admin, deps);
  deleteAccountRoute(admin, deps);
  listAuditRoute(admin, deps);
}
