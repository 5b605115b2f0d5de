/**
 * Query parameters, normalised in one place (SPEC §3, §4.2): the raw string is split into name →
 * values, so a repeated parameter is never silently an array somewhere else.
 */
import { invalidField } from '../domain/errors.js';

export type QueryValues = ReadonlyMap<string, readonly string[]>;

/** Fastify `querystringParser`: every parameter's values in order. Invalid escapes stay literal. */
export function parseQuery(raw: string): QueryValues {
  const values = new Map<string, string[]>();
  // Walked with indexOf rather than split('&'): V8 runs split in its runtime, and a check parses
  // two queries (the auth URL's and the original URI's), most of them one parameter long.
  for (let start = 0; start < raw.length;) {
    let end = raw.indexOf('&', start);
    if (end === -1) end = raw.length;
    if (end > start) {
      const eq = raw.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const name = decodeComponent(raw.slice(start, hasValue ? eq : end));
      const value = hasValue ? decodeComponent(raw.slice(eq + 1, end)) : '';
      const list = values.get(name);
      if (list) list.push(value);
      else values.set(name, [value]);
    }
    start = end + 1;
  }
  return values;
}

/** Decodes one query component as the parser does: `+` is a space, invalid escapes stay literal. */
function decodeComponent(text: string): string {
  // Most names and values (tokens included) have nothing to decode: skip the copies.
  if (text.indexOf('%') === -1 && text.indexOf('+') === -1) return text;
  const spaced = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/**
 * One list parameter: a value repeated identically counts once (the SDK's `nextPage()` can
 * re-append the first request's query); different values are `<field> is invalid`.
 */
export function single(query: QueryValues, name: string): string | undefined {
  const list = query.get(name);
  if (!list) return undefined;
  const first = list[0] as string;
  if (list.some((v) => v !== first)) throw invalidField(name);
  return first;
}

/**
 * The list parameters a request gives, each as its one value (`single`'s rule), in `names`
 * order: what a list route validates and what its `Link` repeats.
 */
export function givenParams(query: QueryValues, names: readonly string[]): Array<[string, string]> {
  return names.flatMap((name): Array<[string, string]> => {
    const value = single(query, name);
    return value === undefined ? [] : [[name, value]];
  });
}

/** Serialises parameters for a URL, in the given order. */
export function formatQuery(params: ReadonlyArray<readonly [string, string]>): string {
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}
