import { useState } from 'preact/hooks';
import { LIST_URL, type Api } from './api.tsx';
import { Layout, ErrorAlert } from './layout.tsx';
import { describeSignInError } from './messages.tsx';

/** Username and password; on success a full navigation to the list, so the shell names the user. */
export function SignInPage({ api }: { readonly api: Api }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await api.signIn(username, password);
      location.assign(LIST_URL);
    } catch (e) {
      setError(describeSignInError(e));
      setBusy(false);
    }
  };

  return (
    <Layout api={api} username={null} title="Sign in">
      <h1>Sign in</h1>
      <p>Sign in to see and manage your account’s access tokens.</p>
      <form class="narrow" onSubmit={(e) => void submit(e)} noValidate>
        <ErrorAlert message={error} />
        <div class="field">
          <label for="username">Username</label>
          <input
            id="username"
            name="username"
            type="text"
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </Layout>
  );
}
