import type { TokenObject } from './api.tsx';

const DATE_TIME = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });

/** A `<time>` in the reader's own time zone, or `fallback` when there is no date. */
export function When({ iso, fallback = '' }: { readonly iso: string | undefined; readonly fallback?: string }) {
  if (iso === undefined) return <>{fallback}</>;
  return <time dateTime={iso}>{DATE_TIME.format(new Date(iso))}</time>;
}

export const kindName = (token: TokenObject): string => (token.usage === 'pk' ? 'Public' : 'Secret');

/** The token's note, or words for a token without one. */
export const tokenName = (token: TokenObject): string => (token.note.trim() === '' ? 'Token without a note' : token.note);

export function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

/** The default public token first, then the API's order (newest first). */
export function defaultFirst(tokens: readonly TokenObject[]): TokenObject[] {
  return [...tokens.filter((t) => t.default), ...tokens.filter((t) => !t.default)];
}
