import { useEffect, useState } from 'preact/hooks';
import type { Api, Scope, TokenObject } from './api.tsx';
import { describeError } from './messages.tsx';
import { NoteField, ScopeGroup, UrlsField, toChanges, toggled, validate, type FieldErrors, type FieldValues } from './token-fields.tsx';
import { ErrorAlert } from './layout.tsx';

interface Props {
  readonly api: Api;
  readonly token: TokenObject;
  readonly onSaved: (token: TokenObject) => void;
}

/**
 * Edit a public token: note, public scopes, allowed URLs. The default public token holds every
 * public scope and no restriction by rule, so only its note is offered.
 */
export function TokenEditForm({ api, token, onSaved }: Props) {
  const [catalog, setCatalog] = useState<Scope[] | null>(null);
  const [values, setValues] = useState<FieldValues>(() => ({
    note: token.note,
    scopes: new Set(token.scopes),
    urls: (token.allowedUrls ?? []).join('\n'),
  }));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!token.default) api.listScopes().then(setCatalog, (e: unknown) => setError(describeError(e)));
  }, [api, token.default]);

  // A pk takes only public scopes; one it holds that has left the catalog stays offered, so
  // saving does not drop it unasked.
  const publicScopes: Scope[] = catalog === null ? [] : catalog.filter((s) => s.public === true);
  for (const id of token.scopes) {
    if (catalog !== null && !catalog.some((s) => s.id === id)) publicScopes.push({ id, description: 'No longer in the catalog; it cannot be given again.' });
  }
  const change = (patch: Partial<FieldValues>): void => {
    setStatus('');
    setValues({ ...values, ...patch });
  };

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (busy) return;
    const found = validate(values);
    setErrors(found);
    if (found.note !== undefined || found.urls !== undefined) {
      setError('Nothing was saved: fix the fields marked below.');
      return;
    }
    if (!token.default && catalog === null) return;
    setBusy(true);
    setError(null);
    try {
      const changes = token.default ? { note: values.note } : toChanges(values, publicScopes, true);
      onSaved(await api.updateToken(token.id, changes));
      setStatus('Saved.');
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="edit">
      <h2 id="edit">Edit this token</h2>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <ErrorAlert message={error} />
        <NoteField value={values.note} error={errors.note} onInput={(note) => change({ note })} />
        {token.default ? (
          <p class="hint">The default public token always holds every public scope and takes no URL restriction, so only its note can change.</p>
        ) : (
          <>
            {catalog === null && error === null && <p>Loading the scopes…</p>}
            <ScopeGroup
              legend="Public scopes"
              scopes={publicScopes}
              chosen={values.scopes}
              onToggle={(id, on) => change({ scopes: toggled(values.scopes, id, on) })}
            />
            <p class="hint">A public token can hold only public scopes. For secret scopes, create a secret token.</p>
            <UrlsField value={values.urls} error={errors.urls} onInput={(urls) => change({ urls })} />
          </>
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
          <span role="status">{status}</span>
        </div>
      </form>
    </section>
  );
}
