import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, LIST_URL, type Api, type Scope, type TokenObject } from './api.tsx';
import { CopyButton } from './copy-button.tsx';
import { Layout, ErrorAlert } from './layout.tsx';
import { describeError } from './messages.tsx';
import { NoteField, ScopeGroup, UrlsField, isSecretChoice, toChanges, toggled, validate, type FieldErrors, type FieldValues } from './token-fields.tsx';

interface Props {
  readonly api: Api;
  readonly username: string;
}

/**
 * Create: a public token goes straight to the list; a secret one is revealed here once. The
 * secret lives only in this component's state — never in storage or the URL — so leaving or
 * reloading loses it, as the reveal says.
 */
export function CreateTokenPage({ api, username }: Props) {
  const [created, setCreated] = useState<TokenObject | null>(null);
  return (
    <Layout api={api} username={username} title={created === null ? 'Create a token' : 'Your new secret token'}>
      {created === null ? <CreateForm api={api} onSecret={setCreated} /> : <SecretReveal token={created} />}
    </Layout>
  );
}

function CreateForm({ api, onSecret }: { readonly api: Api; readonly onSecret: (token: TokenObject) => void }) {
  const [catalog, setCatalog] = useState<Scope[] | null>(null);
  const [values, setValues] = useState<FieldValues>({ note: '', scopes: new Set(), urls: '' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // One key per form instance: a double submit (or a retry after a lost answer) makes one token.
  const idempotencyKey = useRef(crypto.randomUUID());

  useEffect(() => {
    api.listScopes().then(setCatalog, (e: unknown) => setError(describeError(e)));
  }, [api]);

  const secret = catalog !== null && isSecretChoice(catalog, values.scopes);
  const change = (patch: Partial<FieldValues>): void => setValues({ ...values, ...patch });

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (busy || catalog === null) return;
    const found = validate(values);
    setErrors(found);
    if (found.note !== undefined || found.urls !== undefined) {
      setError('The token was not created: fix the fields marked below.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const token = await api.createToken(toChanges(values, catalog, false), idempotencyKey.current);
      if (token.usage === 'sk') onSecret(token);
      else location.assign(LIST_URL);
    } catch (e) {
      // A definite refusal: the next attempt is a new request, with its own key.
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) idempotencyKey.current = crypto.randomUUID();
      setError(describeError(e));
      setBusy(false);
    }
  };

  return (
    <>
      <h1>Create a token</h1>
      <p>
        <a href={LIST_URL}>Back to access tokens</a>
      </p>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <ErrorAlert message={error} />
        <NoteField value={values.note} error={errors.note} onInput={(note) => change({ note })} />
        {catalog === null ? (
          error === null && <p>Loading the scopes…</p>
        ) : (
          <>
            <ScopeGroup
              legend="Public scopes"
              scopes={catalog.filter((s) => s.public === true)}
              chosen={values.scopes}
              onToggle={(id, on) => change({ scopes: toggled(values.scopes, id, on) })}
            />
            <ScopeGroup
              legend="Secret scopes"
              scopes={catalog.filter((s) => s.public !== true)}
              chosen={values.scopes}
              onToggle={(id, on) => change({ scopes: toggled(values.scopes, id, on) })}
            />
          </>
        )}
        <UrlsField value={values.urls} error={errors.urls} onInput={(urls) => change({ urls })} />
        <p class={secret ? 'kind secret' : 'kind'} aria-live="polite">
          {secret
            ? 'This will be a secret token: it is shown only once, right after it is created.'
            : 'This will be a public token: it can be used in a browser and is always shown in the list.'}
        </p>
        <button type="submit" class="primary" disabled={busy || catalog === null}>
          Create token
        </button>
      </form>
    </>
  );
}

function SecretReveal({ token }: { readonly token: TokenObject }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const secret = token.token ?? '';
  return (
    <>
      <h1 tabIndex={-1} ref={heading}>
        Your new secret token
      </h1>
      <div class="warning">
        <p>
          <strong>This is the only time this token is shown.</strong> Copy it now and keep it somewhere safe, such as a password manager or your server’s secret
          store.
        </p>
        <p>Leaving or reloading this page loses it for good: tokenbox keeps only a hash and cannot show it again.</p>
      </div>
      <div class="token-string">
        <code id="new-secret">{secret}</code>
        <CopyButton text={secret} describedBy="new-secret" />
      </div>
      <p>
        Note: {token.note === '' ? 'none' : token.note}. Scopes: {token.scopes.join(', ')}.
      </p>
      <p>
        <a href={LIST_URL}>Back to access tokens</a>
      </p>
    </>
  );
}
