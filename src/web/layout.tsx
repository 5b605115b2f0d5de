import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { SIGN_IN_URL, type Api } from './api.tsx';
import { describeError } from './messages.tsx';

interface LayoutProps {
  readonly api: Api;
  /** Null on the sign-in page: no Sign out button there. */
  readonly username: string | null;
  /** The page's title, also the document title. */
  readonly title: string;
  readonly children: ComponentChildren;
}

/** The frame of every page: a banner with the account and `Sign out`, one `<main>`. */
export function Layout({ api, username, title, children }: LayoutProps) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = `${title} · tokenbox`;
  }, [title]);

  const signOut = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api.signOut();
      location.assign(SIGN_IN_URL);
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  };

  return (
    <>
      <header class="banner">
        <a class="brand" href={username === null ? SIGN_IN_URL : '/account/access-tokens'}>
          tokenbox
        </a>
        {username !== null && (
          <div class="account">
            <span>
              Signed in as <strong>{username}</strong>
            </span>
            <button type="button" onClick={() => void signOut()} disabled={busy}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main id="main">
        <ErrorAlert message={error} />
        {children}
      </main>
    </>
  );
}

/** A refusal in plain words, announced to screen readers; nothing when there is none. */
export function ErrorAlert({ message }: { readonly message: string | null }) {
  return message === null ? null : (
    <p class="error" role="alert">
      {message}
    </p>
  );
}
