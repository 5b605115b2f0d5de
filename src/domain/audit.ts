/**
 * The audit log's vocabulary (SPEC §10): the actions it records and who can make a change.
 * Pure: the entries themselves are written by the store, in the transaction of their change.
 */

/** Every action an entry may name, exactly as SPEC §10 spells them. */
export const AUDIT_ACTIONS = [
  'account.create',
  'account.disable',
  'account.enable',
  'account.delete',
  'account.password',
  'token.create',
  'token.update',
  'token.delete',
  'token.refresh',
  'key.rotate',
  'admin_key.create',
  'admin_key.delete',
  'session.sign_in',
  'session.sign_in_failed',
  'session.sign_out',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export function isAuditAction(value: string): value is AuditAction {
  return (AUDIT_ACTIONS as readonly string[]).includes(value);
}

/**
 * Who made a change: a token (`id` = its root pk/sk id, a tk's `p`), an admin key (`id` = the
 * key's id), the CLI (`id` null), or the Access tokens page (`id` = the signed-in username, null
 * for a failed sign-in, where nobody was proven).
 */
export interface AuditActor {
  readonly kind: 'token' | 'admin' | 'cli' | 'web';
  readonly id: string | null;
}
