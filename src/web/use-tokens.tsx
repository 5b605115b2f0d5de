import { useCallback, useEffect, useState } from 'preact/hooks';
import type { Api, TokenObject } from './api.tsx';
import { describeError } from './messages.tsx';

export interface TokensState {
  /** Null while the first load runs. */
  readonly tokens: TokenObject[] | null;
  readonly error: string | null;
  /** Loads the list again (after a refresh, an edit); resolves once it is shown. */
  readonly reload: () => Promise<void>;
}

/** The account's tokens, loaded on mount. */
export function useTokens(api: Api): TokensState {
  const [tokens, setTokens] = useState<TokenObject[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    try {
      setTokens(await api.listTokens());
      setError(null);
    } catch (e) {
      setError(describeError(e));
    }
  }, [api]);
  useEffect(() => void reload(), [reload]);
  return { tokens, error, reload };
}
