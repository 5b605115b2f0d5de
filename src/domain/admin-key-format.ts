/**
 * Admin key strings (SPEC §10): `tba_` (so secret scanners can match them) and 40 characters of
 * `[A-Za-z0-9]` from the CSPRNG, about 238 bits. Only the SHA-256 of the whole string is stored.
 */
import { hash, randomBytes } from 'node:crypto';

export const ADMIN_KEY_PREFIX = 'tba_';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_LENGTH = 40;
/** What a presented key may be: the prefix and 32–128 of `[A-Za-z0-9]` (SPEC: at least 32). */
const ADMIN_KEY_PATTERN = /^tba_[A-Za-z0-9]{32,128}$/;

/** A new admin key string. */
export function newAdminKey(): string {
  let key = ADMIN_KEY_PREFIX;
  while (key.length < ADMIN_KEY_PREFIX.length + SECRET_LENGTH) {
    for (const byte of randomBytes(64)) {
      // 248 = 4 * 62: rejecting the top 8 values keeps every character equally likely.
      if (byte < 248 && key.length < ADMIN_KEY_PREFIX.length + SECRET_LENGTH) key += ALPHABET[byte % 62];
    }
  }
  return key;
}

/** Whether a presented Bearer value is meant as an admin key (it is judged as one, never as a token). */
export function isAdminKeyAttempt(raw: string): boolean {
  return raw.startsWith(ADMIN_KEY_PREFIX);
}

export function isAdminKey(value: unknown): value is string {
  return typeof value === 'string' && ADMIN_KEY_PATTERN.test(value);
}

/** What the store keeps: SHA-256 of the whole string, base64url. */
export function hashAdminKey(key: string): string {
  return hash('sha256', key, 'base64url');
}
