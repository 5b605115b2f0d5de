import { useState } from 'preact/hooks';
import { LIST_URL, type Api, type TokenObject } from './api.tsx';
import { ConfirmButton, RefreshButton } from './confirm-button.tsx';
import { tokenName } from './format.tsx';
import { Layout, ErrorAlert } from './layout.tsx';
import { TokenEditForm } from './token-edit-form.tsx';
import { TokenFacts, TokenString } from './token-details.tsx';
import { UsageChart } from './usage-chart.tsx';
import { useTokens } from './use-tokens.tsx';

interface Props {
  readonly api: Api;
  readonly username: string;
  readonly id: string;
}

/**
 * One token: its facts and string (pk), the edit form (pk) or the note that secret tokens change
 * only through the API, Delete (or Refresh for the default token), and the 30-day chart. The API
 * has no single-token read, so the token is found in the list.
 */
export function TokenPage({ api, username, id }: Props) {
  const { tokens, error } = useTokens(api);
  const [edited, setEdited] = useState<TokenObject | null>(null);
  const token = edited ?? tokens?.find((t) => t.id === id);
  const title = token === undefined ? 'Token' : tokenName(token);

  const remove = async (): Promise<void> => {
    await api.deleteToken(id);
    location.assign(LIST_URL);
  };

  return (
    <Layout api={api} username={username} title={title}>
      <p>
        <a href={LIST_URL}>Back to access tokens</a>
      </p>
      <ErrorAlert message={error} />
      {tokens === null ? (
        error === null && (
          <>
            <h1>Token</h1>
            <p>Loading the token…</p>
          </>
        )
      ) : token === undefined ? (
        <>
          <h1>Token not found</h1>
          <p>This account has no token with that id. It may have been deleted, or refreshed if it was the default public token.</p>
        </>
      ) : (
        <>
          <h1 class="token-title">{title}</h1>
          <TokenString token={token} id="token-string" />
          <TokenFacts token={token} listUrls />
          {token.usage === 'pk' ? (
            <TokenEditForm api={api} token={token} onSaved={setEdited} />
          ) : (
            <p class="notice">
              Secret tokens can be updated only through the Tokens API (
              <code>
                PATCH /tokens/v2/{username}/{token.id}
              </code>
              ), as on Mapbox’s page. You can delete this one here.
            </p>
          )}
          <h2>{token.default ? 'Refresh this token' : 'Delete this token'}</h2>
          {token.default ? (
            <>
              <p>The default public token cannot be deleted, but it can be refreshed: a new string replaces it.</p>
              <RefreshButton onConfirm={remove} />
            </>
          ) : (
            <ConfirmButton label="Delete" question={`Delete “${tokenName(token)}”?`} onConfirm={remove}>
              <p>The token stops working at once, and it cannot be brought back.</p>
            </ConfirmButton>
          )}
          <UsageChart api={api} tokenId={token.id} />
        </>
      )}
    </Layout>
  );
}
