/**
 * What the server writes into the HTML shell: `<meta name="tokenbox-page" content="…">` holds the
 * HTML-escaped JSON `{"csrfToken", "username"}` (`username` is null when no one is signed in).
 * Read once at start; nothing here is ever written to storage or to a URL.
 */
export interface PageData {
  readonly csrfToken: string;
  readonly username: string | null;
}

export function readPageData(): PageData {
  const meta = document.querySelector<HTMLMetaElement>('meta[name=tokenbox-page]');
  try {
    const data = JSON.parse(meta?.content ?? '') as Partial<PageData>;
    return Object.freeze({
      csrfToken: typeof data.csrfToken === 'string' ? data.csrfToken : '',
      username: typeof data.username === 'string' ? data.username : null,
    });
  } catch {
    // The shell served without the server's substitution (e.g. `vite preview`): nobody signed in.
    return Object.freeze({ csrfToken: '', username: null });
  }
}
