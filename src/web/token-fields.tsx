/**
 * The fields a token is made of — Note, scopes grouped public/secret, Allowed URLs — shared by
 * the create form and the edit form of a public token, with the same checks the API makes on
 * lengths and counts (the server is still the authority and has the last word).
 */
import { useId } from 'preact/hooks';
import type { Scope, TokenChanges } from './api.tsx';

export const MAX_NOTE = 1000;
export const MAX_URLS = 100;
export const MAX_URL_LENGTH = 2048;

export interface FieldValues {
  readonly note: string;
  readonly scopes: ReadonlySet<string>;
  /** The textarea's text: one URL per line. */
  readonly urls: string;
}

export interface FieldErrors {
  readonly note?: string;
  readonly urls?: string;
}

/** The non-empty lines, trimmed. */
export function parseUrls(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

// Control characters are refused in notes by the API (U+0000–U+001F, U+007F).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function validate(values: FieldValues): FieldErrors {
  const errors: { note?: string; urls?: string } = {};
  const noteLength = [...values.note].length;
  if (noteLength > MAX_NOTE) errors.note = `The note is ${noteLength.toLocaleString('en')} characters long; it may be at most 1,000.`;
  else if (CONTROL.test(values.note)) errors.note = 'The note may not contain control characters (such as tabs).';
  const urls = parseUrls(values.urls);
  const long = urls.findIndex((url) => url.length > MAX_URL_LENGTH);
  if (urls.length > MAX_URLS) errors.urls = `There are ${urls.length} URLs; a token may have at most 100.`;
  else if (long !== -1) errors.urls = `URL ${long + 1} is longer than 2,048 characters.`;
  return errors;
}

/** Whether the chosen scopes make a secret token: any scope that is not public. */
export function isSecretChoice(catalog: readonly Scope[], chosen: ReadonlySet<string>): boolean {
  const publicIds = new Set(catalog.filter((scope) => scope.public === true).map((scope) => scope.id));
  return [...chosen].some((id) => !publicIds.has(id));
}

/** The request body for these values; `forUpdate` sends `allowedUrls: null` to lift the restriction. */
export function toChanges(values: FieldValues, catalog: readonly Scope[], forUpdate: boolean): TokenChanges {
  const order = catalog.map((scope) => scope.id);
  const scopes = [...values.scopes].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const urls = parseUrls(values.urls);
  const changes: TokenChanges = { note: values.note, scopes };
  if (urls.length > 0) changes.allowedUrls = urls;
  else if (forUpdate) changes.allowedUrls = null;
  return changes;
}

/** A text field of the token form: its value, its validation message, and who hears of input. */
interface TextFieldProps {
  readonly value: string;
  readonly error: string | undefined;
  readonly onInput: (value: string) => void;
}

export function NoteField({ value, error, onInput }: TextFieldProps) {
  const id = useId();
  return (
    <div class="field">
      <label for={`${id}-note`}>Note</label>
      <input
        id={`${id}-note`}
        name="note"
        type="text"
        autocomplete="off"
        value={value}
        aria-invalid={error !== undefined}
        aria-describedby={`${id}-note-hint`}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      <p id={`${id}-note-hint`} class={error === undefined ? 'hint' : 'field-error'}>
        {error ?? 'A name that says where the token is used. At most 1,000 characters.'}
      </p>
    </div>
  );
}

export function UrlsField({ value, error, onInput }: TextFieldProps) {
  const id = useId();
  return (
    <div class="field">
      <label for={`${id}-urls`}>Allowed URLs</label>
      <textarea
        id={`${id}-urls`}
        name="allowedUrls"
        rows={4}
        spellcheck={false}
        autocomplete="off"
        value={value}
        aria-invalid={error !== undefined}
        aria-describedby={`${id}-urls-hint`}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      <p id={`${id}-urls-hint`} class={error === undefined ? 'hint' : 'field-error'}>
        {error ??
          'One URL or host per line (such as https://maps.example.com or example.com), at most 100. Requests from other sites are refused. Leave it empty to allow every URL.'}
      </p>
    </div>
  );
}

interface ScopeGroupProps {
  readonly legend: string;
  readonly scopes: readonly Scope[];
  readonly chosen: ReadonlySet<string>;
  readonly onToggle: (id: string, on: boolean) => void;
}

/** A fieldset of checkboxes, each labelled with the scope id and described by its description. */
export function ScopeGroup({ legend, scopes, chosen, onToggle }: ScopeGroupProps) {
  const id = useId();
  if (scopes.length === 0) return null;
  return (
    <fieldset class="scopes">
      <legend>{legend}</legend>
      <ul>
        {scopes.map((scope, i) => (
          <li key={scope.id}>
            <input
              type="checkbox"
              id={`${id}-${i}`}
              name="scopes"
              value={scope.id}
              checked={chosen.has(scope.id)}
              aria-describedby={`${id}-${i}-d`}
              onChange={(e) => onToggle(scope.id, e.currentTarget.checked)}
            />
            <label for={`${id}-${i}`}>{scope.id}</label>
            <span id={`${id}-${i}-d`} class="description">
              {scope.description}
            </span>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

/** `chosen` with `id` added or removed. */
export function toggled(chosen: ReadonlySet<string>, id: string, on: boolean): Set<string> {
  const next = new Set(chosen);
  if (on) next.add(id);
  else next.delete(id);
  return next;
}
