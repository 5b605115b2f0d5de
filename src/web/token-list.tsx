import { useState } from 'preact/hooks';
import { CREATE_URL, tokenUrl, type Api, type TokenObject } from './api.tsx';
import { RefreshButton } from './confirm-button.tsx';
import { defaultFirst, tokenName } from './format.tsx';
import { Layout, ErrorAlert } from './layout.tsx';
import { TokenFacts, TokenString } from './token-details.tsx';
import { useTokens } from './use-tokens.tsx';

interface Props {
  readonly api: Api;
  readonly username: string;
}

/** The list: the default public token first, every token's facts, example code. */
export function TokenListPage({ api, username }: Props) {
  const { tokens, error, reload } = useTokens(api);
  const [notice, setNotice] = useState<string | null>(null);
  const sorted = tokens === null ? null : defaultFirst(tokens);
  const defaultToken = sorted?.find((t) => t.default);

  const refresh = async (token: TokenObject): Promise<void> => {
    await api.deleteToken(token.id);
    await reload();
    setNotice('The default public token was refreshed: it has a new string, shown below. The old string no longer works.');
  };

  return (
    <Layout api={api} username={username} title="Access tokens">
      <h1>Access tokens</h1>
      <p>
        Tokens let apps and sites use the APIs as <strong>{username}</strong>. Public tokens (<code>pk</code>) are safe in a browser; secret tokens (
        <code>sk</code>) belong on servers.
      </p>
      <p>
        <a class="button primary" href={CREATE_URL}>
          Create a token
        </a>
      </p>
      <p class="notice" role="status">
        {notice}
      </p>
      <ErrorAlert message={error} />
      {sorted === null ? (
        error === null && <p>Loading your tokens…</p>
      ) : (
        <>
          <h2>Your tokens</h2>
          {sorted.length <= 1 && (
            <p class="empty">
              You have only the default public token so far. Create a token for each app or site: it can have just the scopes and URLs it needs, and you can
              delete it without touching the others.
            </p>
          )}
          <ul class="tokens">
            {sorted.map((token) => (
              <TokenCard key={token.id} token={token} onRefresh={() => refresh(token)} />
            ))}
          </ul>
          {defaultToken?.token !== undefined && <ExampleCode pk={defaultToken.token} />}
        </>
      )}
    </Layout>
  );
}

function TokenCard({ token, onRefresh }: { readonly token: TokenObject; readonly onRefresh: () => Promise<void> }) {
  return (
    <li class="card">
      <h3>
        <a href={tokenUrl(token.id)}>{tokenName(token)}</a>
        {token.default && <span class="badge">Default</span>}
      </h3>
      <TokenString token={token} id={`token-${token.id}`} />
      <TokenFacts token={token} />
      {token.default && <RefreshButton onConfirm={onRefresh} />}
    </li>
  );
}

/** Ready-to-run examples with the account's current default public token in them. */
function ExampleCode({ pk }: { readonly pk: string }) {
  const origin = location.origin;
  const curl = `curl "${origin}/tokens/v2?access_token=${pk}"`;
  const sdk = [
    `import mbxTokens from '@mapbox/mapbox-sdk/services/tokens.js';`,
    ``,
    `const tokens = mbxTokens({ accessToken: '${pk}', origin: '${origin}' });`,
    `const { body } = await tokens.getToken().send();`,
    `console.log(body.code); // "TokenValid"`,
  ].join('\n');
  return (
    <section aria-labelledby="examples">
      <h2 id="examples">Try your default public token</h2>
      <p>Check the token with curl:</p>
      <pre>
        <code>{curl}</code>
      </pre>
      <p>
        Or with the official <code>@mapbox/mapbox-sdk</code> (Node 20, as an ES module):
      </p>
      <pre>
        <code>{sdk}</code>
      </pre>
    </section>
  );
}
