/**
 * Redaction for logs (SPEC §7: logs never hold a token). Two rules, applied to a URL and, as a
 * last line of defence, to every serialised log line:
 *
 * 1. the value of every parameter whose name reads `access_token` is replaced, however the name
 *    is spelled (any case, percent-encoded, `+` or spaces before the `=`) and whatever separates
 *    it (`?`, `&`, `;`, or those characters percent-encoded: `%3F`, `%26`, `%3B`);
 * 2. anything shaped like a token — `pk.`/`sk.`/`tk.` (any case), a payload, `.`, and at least
 *    16 secret characters — is replaced from its prefix to the end of its run of token
 *    characters, wherever it is (a path segment, a fragment, a header value inside a message);
 * 3. anything shaped like an admin key — `tba_` (any case) and at least 16 of `[A-Za-z0-9]` — is
 *    replaced from its prefix to the end of that run, wherever it is (SPEC §10: an admin key is
 *    never logged, even one a client put in a URL, where it is refused).
 *
 * Both rules look at the text as written and after each of up to {@link MAX_DECODES} rounds of
 * percent-decoding (`pk%2EeyJ…`, `%2570k.…`), and map what they find back onto the original
 * characters. Over-redaction is preferred to under-redaction.
 *
 * Cost: every round and both scans are linear in the input (no regex that can backtrack over the
 * input more than once), so a 100 KB hostile URL costs a few milliseconds. Redaction runs only
 * when something is logged: never on the forward-auth hot path.
 */

const MAX_DECODES = 4;
/** Shortest run of secret characters that still makes a token shape (a real secret has 22). */
const MIN_SECRET = 16;
const REDACTED = '[redacted]';

/** Text as one round of decoding saw it: each character with the span it came from. */
interface View {
  readonly text: string;
  /** `start[i]`/`end[i]`: the original characters `text[i]` stands for. */
  readonly start: Int32Array;
  readonly end: Int32Array;
}

function identityView(text: string): View {
  const start = new Int32Array(text.length);
  const end = new Int32Array(text.length);
  for (let i = 0; i < text.length; i++) {
    start[i] = i;
    end[i] = i + 1;
  }
  return { text, start, end };
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * One round of percent-decoding, byte by byte (`%XX` becomes the one character with code XX, so
 * ASCII lines up and indices map 1:1); invalid escapes stay literal. Null when nothing decodes.
 */
function decodeOnce(view: View): View | null {
  const { text } = view;
  if (text.indexOf('%') === -1) return null;
  const chars: string[] = [];
  const start: number[] = [];
  const end: number[] = [];
  let changed = false;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 37 && i + 2 < text.length) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi !== -1 && lo !== -1) {
        chars.push(String.fromCharCode(hi * 16 + lo));
        start.push(view.start[i] as number);
        end.push(view.end[i + 2] as number);
        i += 2;
        changed = true;
        continue;
      }
    }
    chars.push(text[i] as string);
    start.push(view.start[i] as number);
    end.push(view.end[i] as number);
  }
  return changed ? { text: chars.join(''), start: Int32Array.from(start), end: Int32Array.from(end) } : null;
}

/** Characters a token (or a mangled one) is made of: base64 and base64url, and the dots. */
function isTokenChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    ((code | 0x20) >= 97 && (code | 0x20) <= 122) || // A-Z a-z
    code === 46 || // .
    code === 95 || // _
    code === 45 || // -
    code === 43 || // +
    code === 47 || // /
    code === 61 // =
  );
}

function isSecretChar(code: number): boolean {
  return (code >= 48 && code <= 57) || ((code | 0x20) >= 97 && (code | 0x20) <= 122) || code === 95 || code === 45;
}

/** `pk.`, `sk.` or `tk.` (any case) at `i`. */
function isPrefixAt(text: string, i: number): boolean {
  const u = text.charCodeAt(i) | 0x20;
  return (u === 112 || u === 115 || u === 116) && (text.charCodeAt(i + 1) | 0x20) === 107 && text.charCodeAt(i + 2) === 46;
}

/** Index of the next `.` in [from, to), or `to` (bounded: never reads past `to`). */
function nextDot(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && text.charCodeAt(i) !== 46) i++;
  return i;
}

/**
 * Token shapes in one view, as ranges of view indices. Each maximal run of token characters is
 * scanned once; within it, a prefix ends in a dot, and a prefix only looks at the two
 * dot-separated pieces after it, so every piece is read at most twice: linear overall.
 */
function tokenRanges(text: string, out: Array<[number, number]>): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isTokenChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    let runEnd = i;
    while (runEnd < n && isTokenChar(text.charCodeAt(runEnd))) runEnd++;
    let found = false;
    // Every prefix ends in a dot: try the position two before each dot of the run.
    for (let dot = nextDot(text, i + 2, runEnd); dot < runEnd; dot = nextDot(text, dot + 1, runEnd)) {
      const p = dot - 2;
      if (!isPrefixAt(text, p)) continue;
      const payloadEnd = nextDot(text, dot + 1, runEnd);
      if (payloadEnd === dot + 1 || payloadEnd >= runEnd) continue;
      let secret = 0;
      while (payloadEnd + 1 + secret < runEnd && isSecretChar(text.charCodeAt(payloadEnd + 1 + secret))) secret++;
      if (secret < MIN_SECRET) continue;
      out.push([p, runEnd]);
      found = true;
      break;
    }
    // A token with a mangled prefix (`tkk.`, `xpk.`) or none still holds a real payload and
    // secret: a long base64 piece, a dot, a long secret piece. The whole run goes.
    if (!found && hasBarePayloadAndSecret(text, i, runEnd)) out.push([i, runEnd]);
    i = runEnd;
  }
}

/** Shortest base64 run before a dot that reads as a payload (a real one has about 48). */
const MIN_PAYLOAD = 16;

function isBase64Char(code: number): boolean {
  return (code >= 48 && code <= 57) || ((code | 0x20) >= 97 && (code | 0x20) <= 122) || code === 43 || code === 47 || code === 61;
}

/** Whether [from, to) holds `<MIN_PAYLOAD base64 chars>.<MIN_SECRET secret chars>`; one pass. */
function hasBarePayloadAndSecret(text: string, from: number, to: number): boolean {
  let base64Run = 0;
  for (let k = from; k < to; k++) {
    const code = text.charCodeAt(k);
    if (code === 46) {
      if (base64Run >= MIN_PAYLOAD) {
        let secret = 0;
        while (k + 1 + secret < to && isSecretChar(text.charCodeAt(k + 1 + secret))) secret++;
        if (secret >= MIN_SECRET) return true;
      }
      base64Run = 0;
    } else {
      base64Run = isBase64Char(code) ? base64Run + 1 : 0;
    }
  }
  return false;
}

/** Characters that end a parameter's value: separators, whitespace, and a JSON string's end. */
function endsValue(code: number): boolean {
  return code === 38 || code === 59 || code === 35 || code === 34 || code === 92 || code <= 32;
}

const NAME = 'access_token';

/** `access_token` (any case) at `i`. */
function isNameAt(text: string, i: number): boolean {
  for (let k = 0; k < NAME.length; k++) {
    const code = text.charCodeAt(i + k);
    const want = NAME.charCodeAt(k);
    if (code !== want && !(want >= 97 && want <= 122 && (code | 0x20) === want)) return false;
  }
  return true;
}

/** Values of `access_token` parameters in one view, as ranges of view indices. */
function parameterRanges(text: string, out: Array<[number, number]>): void {
  const n = text.length;
  let i = 0;
  while (i + NAME.length < n) {
    // Cheap skip: the name starts with `a`/`A`.
    if ((text.charCodeAt(i) | 0x20) !== 97 || !isNameAt(text, i)) {
      i++;
      continue;
    }
    let j = i + NAME.length;
    // Spaces, `+` and control characters (`access_token%00=`) between the name and the `=`.
    while (j < n && (text.charCodeAt(j) <= 32 || text.charCodeAt(j) === 43)) j++;
    if (text.charCodeAt(j) !== 61) {
      i = j;
      continue;
    }
    let end = j + 1;
    while (end < n && !endsValue(text.charCodeAt(end))) end++;
    if (end > j + 1) out.push([j + 1, end]);
    i = end;
  }
}

/** `tba_` (any case) at `i`. */
function isAdminPrefixAt(text: string, i: number): boolean {
  return (
    (text.charCodeAt(i) | 0x20) === 116 && (text.charCodeAt(i + 1) | 0x20) === 98 && (text.charCodeAt(i + 2) | 0x20) === 97 && text.charCodeAt(i + 3) === 95
  );
}

function isAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || ((code | 0x20) >= 97 && (code | 0x20) <= 122);
}

/** Admin key shapes in one view, as ranges of view indices; one pass (each run is read once). */
function adminKeyRanges(text: string, out: Array<[number, number]>): void {
  const n = text.length;
  let i = 0;
  while (i + 4 <= n) {
    if (!isAdminPrefixAt(text, i)) {
      i++;
      continue;
    }
    let end = i + 4;
    while (end < n && isAlphanumeric(text.charCodeAt(end))) end++;
    if (end - (i + 4) >= MIN_SECRET) out.push([i, end]);
    i = end;
  }
}

/** Every range one view holds: token shapes, admin key shapes, `access_token` values. */
function scan(text: string, out: Array<[number, number]>): void {
  tokenRanges(text, out);
  adminKeyRanges(text, out);
  parameterRanges(text, out);
}

/** Ranges of `text` to redact, merged and sorted. */
function rangesToRedact(text: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  scan(text, ranges);
  let view: View | null = text.indexOf('%') === -1 ? null : identityView(text);
  for (let round = 0; view !== null && round < MAX_DECODES; round++) {
    view = decodeOnce(view);
    if (view === null) break;
    const found: Array<[number, number]> = [];
    scan(view.text, found);
    for (const [from, to] of found) ranges.push([view.start[from] as number, view.end[to - 1] as number]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([range[0], range[1]]);
  }
  return merged;
}

/**
 * Quick test for text that can hold no match, so most log lines skip the scan: a match needs a
 * `%` (something encoded), the parameter's name, a dot followed by 16 secret characters (every
 * token shape, prefixed or not, ends so), or `tba_`. A `responseTime` of `0.56` or an address does not.
 */
const MAY_HOLD_SECRETS = /%|access_token|\.[A-Za-z0-9_-]{16}|tba_/i;

function mayHoldSecrets(text: string): boolean {
  return MAY_HOLD_SECRETS.test(text);
}

/** `text` with every access_token value, token shape and admin key shape replaced by `[redacted]`. */
export function redactText(text: string): string {
  if (!mayHoldSecrets(text)) return text;
  const ranges = rangesToRedact(text);
  if (ranges.length === 0) return text;
  let out = '';
  let at = 0;
  for (const [from, to] of ranges) {
    out += text.slice(at, from) + REDACTED;
    at = to;
  }
  return out + text.slice(at);
}

/** A request URL for logs: see the module comment. */
export function redactUrl(url: string): string {
  return redactText(url);
}
