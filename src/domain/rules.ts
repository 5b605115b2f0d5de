/**
 * Shape rules for client-supplied values (SPEC §3, §4.3, §5). Pure predicates, used by the request
 * schemas (HTTP) and the CLI alike, so both refuse the same input.
 */
import { compileAllowedUrl } from './url-rules.js';

const MAX_NOTE_LENGTH = 1000;
const MAX_ALLOWED_URLS = 100;
const MAX_URL_LENGTH = 2048;
export const MAX_SCOPES_PER_TOKEN = 1000;

// Control characters (U+0000–U+001F, U+007F) and lone surrogates are refused in notes.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** At most 1,000 characters (code points) of Unicode text without control characters. */
export function isValidNote(note: string): boolean {
  if (note.length > MAX_NOTE_LENGTH * 2) return false;
  if (CONTROL.test(note) || LONE_SURROGATE.test(note)) return false;
  let codePoints = 0;
  for (const _ of note) codePoints++;
  return codePoints <= MAX_NOTE_LENGTH;
}

/**
 * One `allowedUrls` entry: 1–2,048 characters, no wildcard, whitespace or control character, and
 * either a host pattern (`example.com`, `example.com:8080`) or a URL whose scheme matches
 * `^[a-z][a-z0-9+.-]*://` and which has a host. Anything the matcher could not compile is refused
 * here, at write time, rather than silently never matching.
 */
export function isValidAllowedUrl(entry: string): boolean {
  if (entry.length < 1 || entry.length > MAX_URL_LENGTH) return false;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\s*\u0000-\u001f\u007f]/.test(entry)) return false;
  return compileAllowedUrl(entry) !== null;
}

export function isValidAllowedUrls(value: readonly string[]): boolean {
  return value.length >= 1 && value.length <= MAX_ALLOWED_URLS && value.every(isValidAllowedUrl);
}

/**
 * Platforms as the Mapbox SDK documents them (`iOS`, `android`, `macOS`), compared without
 * regard to case (`ios` is `iOS`) and stored and returned as the client wrote them.
 */
const PLATFORMS = new Set(['ios', 'android', 'macos']);
const BUNDLE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export function isValidAllowedApplication(value: { platform: string; bundleId: string }): boolean {
  return PLATFORMS.has(value.platform.toLowerCase()) && BUNDLE_ID.test(value.bundleId);
}
