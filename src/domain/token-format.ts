/**
 * Token strings (SPEC §2): `<usage>.<payload>.<secret>`.
 *
 * pk/sk payload: `{"u":"<username>","a":"<id>"}`; tk payload:
 * `{"u","exp","iat","scopes","client":"api","p"}`. Payloads are standard base64 without padding,
 * and the username, id and scope grammars keep them to `[A-Za-z0-9]` so `@mapbox/parse-mapbox-token`
 * reads them. Pure functions, no I/O; the signing key is passed in.
 */
import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { MAX_TK_SCOPES } from './policy.js';
import { isScopeId } from './scopes.js';

export type Usage = 'pk' | 'sk' | 'tk';
export type StoredUsage = 'pk' | 'sk';

export const MAX_TOKEN_LENGTH = 4096;
const USERNAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const TOKEN_ID_PATTERN = /^c[a-z0-9]{24}$/;

const SECRET_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const PAYLOAD_PATTERN = /^[A-Za-z0-9]+$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface StoredPayload {
  readonly u: string;
  readonly a: string;
}

export interface TemporaryPayload {
  readonly u: string;
  readonly exp: number;
  readonly iat: number;
  readonly scopes: readonly string[];
  readonly client: 'api';
  readonly p: string;
}

export type ParsedToken =
  | { readonly usage: StoredUsage; readonly payload: StoredPayload; readonly payloadText: string; readonly secret: string }
  | { readonly usage: 'tk'; readonly payload: TemporaryPayload; readonly payloadText: string; readonly secret: string };

export function isUsername(value: unknown): value is string {
  return typeof value === 'string' && USERNAME_PATTERN.test(value);
}

export function isTokenId(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_ID_PATTERN.test(value);
}

/** A new unguessable id: `c` + 24 characters of `[a-z0-9]` (about 124 bits) from the CSPRNG. */
export function newTokenId(): string {
  let id = 'c';
  while (id.length < 25) {
    for (const byte of randomBytes(32)) {
      // 252 = 7 * 36: rejecting the top 4 values keeps every character equally likely.
      if (byte < 252 && id.length < 25) id += ID_ALPHABET[byte % 36];
    }
  }
  return id;
}

/** Standard base64 without padding; throws if the text would leave `[A-Za-z0-9]`. */
export function encodePayload(payload: StoredPayload | TemporaryPayload): string {
  const text = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64').replace(/=+$/, '');
  if (!PAYLOAD_PATTERN.test(text)) throw new Error('token payload would contain + or /');
  return text;
}

/** A new pk/sk string with 16 CSPRNG bytes as its secret. */
export function newStoredToken(usage: StoredUsage, username: string, id: string): string {
  const payload = encodePayload({ u: username, a: id });
  return `${usage}.${payload}.${randomBytes(16).toString('base64url')}`;
}

/** The 22-character MAC of a tk: the first 16 bytes of HMAC-SHA256(key, `tk.` + payload). */
export function temporaryMac(key: Buffer, payloadText: string): string {
  return createHmac('sha256', key).update(`tk.${payloadText}`).digest().subarray(0, 16).toString('base64url');
}

export function signTemporaryToken(key: Buffer, payload: TemporaryPayload): string {
  const payloadText = encodePayload(payload);
  return `tk.${payloadText}.${temporaryMac(key, payloadText)}`;
}

/** Compares the encoded MACs, so only one spelling of a MAC is ever accepted. */
export function isMacValid(key: Buffer, payloadText: string, presented: string): boolean {
  const expected = Buffer.from(temporaryMac(key, payloadText), 'latin1');
  const given = Buffer.from(presented, 'latin1');
  return given.length === expected.length && timingSafeEqual(expected, given);
}

/** What the store keeps for a pk/sk: SHA-256 of the whole string. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'base64');
}

/**
 * Parses a token string's shape. Returns null for anything malformed; says nothing about
 * whether the token is genuine (the MAC, the store and the clock decide that).
 */
export function parseToken(raw: string): ParsedToken | null {
  if (raw.length > MAX_TOKEN_LENGTH) return null;
  const first = raw.indexOf('.');
  const last = raw.lastIndexOf('.');
  if (first !== 2 || last === first) return null;
  const usage = raw.slice(0, 2);
  const payloadText = raw.slice(3, last);
  const secret = raw.slice(last + 1);
  // The secret is checked before anything else is done (SPEC §2).
  if (!SECRET_PATTERN.test(secret)) return null;
  if (usage !== 'pk' && usage !== 'sk' && usage !== 'tk') return null;
  if (!PAYLOAD_PATTERN.test(payloadText)) return null;
  const decoded = decodeJson(payloadText);
  if (usage === 'tk') {
    const payload = asTemporaryPayload(decoded);
    return payload ? { usage, payload, payloadText, secret } : null;
  }
  const payload = asStoredPayload(decoded);
  return payload ? { usage, payload, payloadText, secret } : null;
}

function decodeJson(payloadText: string): unknown {
  // base64 length 4n+1 can never come from whole bytes.
  if (payloadText.length % 4 === 1) return undefined;
  try {
    return JSON.parse(Buffer.from(payloadText, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

function hasExactKeys(value: object, keys: readonly string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(value, k));
}

function asStoredPayload(value: unknown): StoredPayload | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  if (!hasExactKeys(value, ['u', 'a'])) return null;
  const { u, a } = value as Record<string, unknown>;
  return isUsername(u) && isTokenId(a) ? { u, a } : null;
}

/** Last second of year 9999: beyond it no date prints as ISO 8601, and no tk was ever minted there. */
const MAX_UNIX_S = 253_402_300_799;

function isUnixSeconds(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_UNIX_S;
}

function asTemporaryPayload(value: unknown): TemporaryPayload | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  // A tk without `p` is invalid (SPEC §2): exact keys, `p` included.
  if (!hasExactKeys(value, ['u', 'exp', 'iat', 'scopes', 'client', 'p'])) return null;
  const { u, exp, iat, scopes, client, p } = value as Record<string, unknown>;
  if (!isUsername(u) || !isTokenId(p) || client !== 'api') return null;
  if (!isUnixSeconds(exp) || !isUnixSeconds(iat)) return null;
  if (!Array.isArray(scopes) || scopes.length > MAX_TK_SCOPES || !scopes.every(isScopeId)) return null;
  return { u, exp: exp, iat: iat, scopes: scopes, client, p };
}
