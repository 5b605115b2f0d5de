/**
 * The Access tokens page. Every page URL gets the same HTML shell; this picks the view from the
 * path. Pages link to each other with plain links (full navigations), so each page starts from
 * the server's current state and the browser's back button needs no help.
 */
import { render } from 'preact';
import { Api, LIST_URL, SIGN_IN_URL } from './api.tsx';
import { CreateTokenPage } from './create-token.tsx';
import { Layout } from './layout.tsx';
import { readPageData } from './page-data.tsx';
import { SignInPage } from './sign-in.tsx';
import { TokenListPage } from './token-list.tsx';
import { TokenPage } from './token-page.tsx';
import './style.css';

function view() {
  const page = readPageData();
  const api = new Api(page);
  const path = location.pathname.replace(/\/+$/, '');
  const username = page.username;
  if (username === null) return <SignInPage api={api} />;
  if (path === SIGN_IN_URL) {
    // The server sends a signed-in browser to the list; this covers a shell served anyway.
    location.replace(LIST_URL);
    return null;
  }
  if (path === LIST_URL) return <TokenListPage api={api} username={username} />;
  if (path === `${LIST_URL}/create`) return <CreateTokenPage api={api} username={username} />;
  const match = /^\/account\/access-tokens\/([a-z0-9]+)$/.exec(path);
  if (match?.[1] !== undefined) return <TokenPage api={api} username={username} id={match[1]} />;
  return (
    <Layout api={api} username={username} title="Page not found">
      <h1>Page not found</h1>
      <p>
        <a href={LIST_URL}>Go to your access tokens</a>
      </p>
    </Layout>
  );
}

const root = document.getElementById('app');
if (root !== null) render(view(), root);
