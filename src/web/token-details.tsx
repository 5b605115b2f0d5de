import type { TokenObject } from './api.tsx';
import { CopyButton } from './copy-button.tsx';
import { When, kindName, plural } from './format.tsx';

/** A public token's string as page text, with `Copy`. Secret strings never get here. */
export function TokenString({ token, id }: { readonly token: TokenObject; readonly id: string }) {
  if (token.usage !== 'pk' || token.token === undefined) return null;
  return (
    <div class="token-string">
      <code id={id}>{token.token}</code>
      <CopyButton text={token.token} describedBy={id} />
    </div>
  );
}

/** What a token is: kind, scopes, URL restrictions, dates. */
export function TokenFacts({ token, listUrls = false }: { readonly token: TokenObject; readonly listUrls?: boolean }) {
  const urls = token.allowedUrls ?? [];
  return (
    <dl class="facts">
      <dt>Kind</dt>
      <dd>{token.default ? 'Public (the default public token)' : kindName(token)}</dd>
      <dt>Scopes</dt>
      <dd>{token.scopes.length === 0 ? 'none' : <span class="scope-list">{token.scopes.join(', ')}</span>}</dd>
      <dt>Allowed URLs</dt>
      <dd>
        {urls.length === 0 ? 'any (no restriction)' : plural(urls.length, 'URL', 'URLs')}
        {listUrls && urls.length > 0 && (
          <ul class="urls">
            {urls.map((url, i) => (
              <li key={i}>
                <code>{url}</code>
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Created</dt>
      <dd>
        <When iso={token.created} />
      </dd>
      <dt>Modified</dt>
      <dd>
        <When iso={token.modified} />
      </dd>
      <dt>Last used</dt>
      <dd>
        <When iso={token.lastUsed} fallback="never" />
      </dd>
    </dl>
  );
}
