/** The token object of SPEC §4.1, built from a stored record. */
import { isoDate } from '../domain/clock.js';
import type { Sealer } from '../domain/sealer.js';
import type { AllowedApplication, TokenRecord } from '../store/port.js';

export interface TokenObject {
  client: 'api';
  note: string;
  usage: 'pk' | 'sk';
  id: string;
  default: boolean;
  scopes: string[];
  created: string;
  modified: string;
  allowedUrls?: string[];
  allowedApplications?: AllowedApplication[];
  lastUsed?: string;
  token?: string;
}

/**
 * @param secretToken the new token's string, given only in the create response (for an sk the
 *   store never has it; for a pk it saves unsealing what was just sealed).
 * @throws Error when a pk string cannot be unsealed (wrong key-encryption key): never expected
 *   once the keyring has loaded with the same sealer.
 */
export function toTokenObject(record: TokenRecord, sealer: Sealer, secretToken?: string): TokenObject {
  const view: TokenObject = {
    client: 'api',
    note: record.note,
    usage: record.usage,
    id: record.id,
    default: record.isDefault,
    scopes: [...record.scopes],
    created: isoDate(record.created),
    modified: isoDate(record.modified),
  };
  if (record.allowedUrls) view.allowedUrls = [...record.allowedUrls];
  if (record.allowedApplications) view.allowedApplications = record.allowedApplications.map((a) => ({ ...a }));
  if (record.lastUsed !== null) view.lastUsed = isoDate(record.lastUsed);
  if (secretToken !== undefined) {
    // The create response: the caller has the string it just made; no need to unseal it.
    view.token = secretToken;
  } else if (record.sealedToken !== null) {
    const token = sealer.open(record.sealedToken, record.id);
    if (!token) throw new Error(`token ${record.id} cannot be unsealed with this key-encryption key`);
    view.token = token.toString('utf8');
  }
  return view;
}
