/**
 * Every refusal in plain words. The API's messages are exact strings (docs/errors.md); the page
 * translates the ones a person can act on and falls back to a general sentence for the rest.
 */
import { ApiError } from './api.tsx';

const BY_MESSAGE: Record<string, string> = {
  'scopes are invalid':
    'One of the chosen scopes cannot be given to this token. A public token takes only public scopes, and the default public token’s scopes cannot change.',
  'allowedUrls are invalid':
    'The allowed URLs were refused. Give at most 100 URLs, one per line, each at most 2,048 characters and without wildcards (the default public token takes none).',
  'note is invalid': 'The note was refused. It may be at most 1,000 characters long and may not contain control characters.',
  'too many tokens': 'This account already holds as many tokens as it may. Delete a token you no longer need, then try again.',
};

function waitWords(seconds: number | null): string {
  if (seconds === null) return 'Wait a minute and try again.';
  return `Wait ${seconds} ${seconds === 1 ? 'second' : 'seconds'} and try again.`;
}

/** The sentence to show for `error`, thrown by an Api call. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Something went wrong in the page. Reload it and try again.';
  const known = BY_MESSAGE[error.message];
  if (known !== undefined) return known;
  switch (error.status) {
    case 0:
      return 'The server could not be reached. Check your connection and try again.';
    case 401:
      return 'Your session has ended. Sign in again.';
    case 403:
      return 'The request was refused by a security check. Reload the page and try again.';
    case 404:
      return 'That token no longer exists. It may have been deleted or refreshed.';
    case 429:
      return `Too many requests. ${waitWords(error.retryAfter)}`;
    case 503:
      return 'The service is unavailable right now. Try again in a moment.';
    default:
      return `The request was refused (${error.status}: ${error.message}).`;
  }
}

/** Sign-in has its own wording: the server's 401 text is shown exactly as it is. */
export function describeSignInError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'Invalid username or password';
    if (error.status === 429) return `Too many sign-in attempts. ${waitWords(error.retryAfter)}`;
  }
  return describeError(error);
}
