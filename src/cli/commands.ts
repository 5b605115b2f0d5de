/**
 * The operator's commands (SPEC §8). Each opens tokenbox on the configured store, does one thing
 * through the services, and prints either a human line or exactly one JSON document.
 */
import { AppError } from '../domain/errors.js';
import { isoDate } from '../domain/clock.js';
import { createAdminKeyInput, createTokenBody, parseInput } from '../services/inputs.js';
import type { Tokenbox } from '../main.js';
import type { TokenObject } from '../services/token-view.js';
import { UsageError, type CliIo } from './io.js';
import { isPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../services/passwords.js';
import { splitList, type ParsedCommand } from './args.js';
import { isUsername } from '../domain/token-format.js';
import type { AuditEntryView } from '../services/audit-service.js';

export type CommandBody = (app: Tokenbox, cmd: ParsedCommand, io: CliIo) => Promise<void>;

function print(io: CliIo, cmd: ParsedCommand, json: unknown, human: () => string): void {
  io.out(cmd.values.json ? JSON.stringify(json, null, 2) : human());
}

/**
 * `--password-stdin`: one line of standard input (SPEC §8), 8–1,024 characters (SPEC §9).
 * @throws UsageError when there is no line or it is no valid password (nothing is written).
 */
async function passwordFromStdin(io: CliIo): Promise<string> {
  const line = io.readLine === undefined ? null : await io.readLine();
  if (line === null) throw new UsageError('--password-stdin found no password on standard input');
  if (!isPassword(line)) throw new UsageError(`the password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`);
  return line;
}

export const accountsCreate: CommandBody = async (app, cmd, io) => {
  const password = cmd.values['password-stdin'] === true ? await passwordFromStdin(io) : undefined;
  const { username, defaultPublicToken } = await app.accounts.create(cmd.positionals[0] as string, 'cli', password);
  print(io, cmd, { username, defaultPublicToken }, () => `created account ${username}\ndefault public token: ${defaultPublicToken.token}`);
};

/** `accounts set-password <username> --password-stdin`: also signs every session of the account out. */
export const accountsSetPassword: CommandBody = async (app, cmd, io) => {
  if (cmd.values['password-stdin'] !== true) throw new UsageError('accounts set-password reads the password from standard input: add --password-stdin');
  await app.sessions.setPassword(cmd.positionals[0] as string, await passwordFromStdin(io));
  if (cmd.values.json) io.out(JSON.stringify({ username: cmd.positionals[0] }));
};

/** `accounts disable|enable <username>` (SPEC §10): prints nothing on success. */
export const accountsDisable: CommandBody = async (app, cmd) => {
  await app.accounts.setDisabled(cmd.positionals[0] as string, true);
};

export const accountsEnable: CommandBody = async (app, cmd) => {
  await app.accounts.setDisabled(cmd.positionals[0] as string, false);
};

/** `accounts delete <username>`: the account and every token of it, in one transaction. */
export const accountsDelete: CommandBody = async (app, cmd) => {
  await app.accounts.delete(cmd.positionals[0] as string);
};

export const accountsList: CommandBody = async (app, cmd, io) => {
  const accounts = await app.accounts.list();
  print(io, cmd, accounts, () => accounts.map((a) => `${a.username}\t${a.created}`).join('\n') || '(no accounts)');
};

export const tokensCreate: CommandBody = async (app, cmd, io) => {
  const [username] = cmd.positionals as [string];
  const body: Record<string, unknown> = {};
  if (cmd.values.note !== undefined) body.note = cmd.values.note;
  const scopes = splitList(cmd.values.scopes, 'scopes');
  if (scopes) body.scopes = scopes;
  const allowedUrls = splitList(cmd.values['allowed-urls'], 'allowed-urls');
  if (allowedUrls) body.allowedUrls = allowedUrls;
  const input = parseInput(createTokenBody, body);
  const grant = await app.access.operator(username, 'cli');
  const token = await app.tokens.create(grant, input);
  print(io, cmd, token, () => `${token.usage} ${token.id}\n${token.token}${token.usage === 'sk' ? '\n(this secret token is shown only once)' : ''}`);
};

export const tokensList: CommandBody = async (app, cmd, io) => {
  const grant = await app.access.operator(cmd.positionals[0] as string, 'cli');
  const tokens: TokenObject[] = [];
  let start: string | undefined;
  do {
    const page = await app.tokens.list(grant, { sortBy: 'created', limit: 100, ...(start !== undefined && { start }) });
    tokens.push(...page.tokens);
    start = page.next ?? undefined;
  } while (start !== undefined);
  print(io, cmd, tokens, () =>
    tokens.map((t) => [t.id, t.usage, t.default ? 'default' : '-', JSON.stringify(t.note), t.scopes.join(','), t.token ?? ''].join('\t')).join('\n'),
  );
};

export const tokensDelete: CommandBody = async (app, cmd) => {
  const [username, id] = cmd.positionals as [string, string];
  const grant = await app.access.operator(username, 'cli');
  await app.tokens.delete(grant, id);
};

export const keysRotate: CommandBody = async (app, cmd, io) => {
  const key = await app.keyring.rotate();
  print(io, cmd, { id: key.id, created: isoDate(key.created) }, () => `new signing key ${key.id}; older keys verify until their tokens expire`);
};

export const keysList: CommandBody = async (app, cmd, io) => {
  const now = app.clock();
  const verifying = new Set(app.keyring.verifyingKeys(now).map((k) => k.id));
  const keys = app.keyring.list().map((k) => ({
    id: k.id,
    created: isoDate(k.created),
    retired: k.retired === null ? null : isoDate(k.retired),
    signing: k.retired === null,
    verifying: verifying.has(k.id),
  }));
  print(io, cmd, keys, () => keys.map((k) => `${k.id}\t${k.created}\t${k.signing ? 'signing' : k.verifying ? 'verifying' : 'expired'}`).join('\n'));
};

export const migrate: CommandBody = async (app, cmd, io) => {
  const applied = [...app.migration.applied];
  print(io, cmd, { applied }, () => (applied.length ? `applied ${applied.join(', ')}` : 'the store is up to date'));
};

/** `admin-keys create`: the key is printed here once, and is never shown again (SPEC §10). */
export const adminKeysCreate: CommandBody = async (app, cmd, io) => {
  const { note } = parseInput(createAdminKeyInput, cmd.values.note === undefined ? {} : { note: cmd.values.note });
  const created = await app.adminKeys.create(note);
  print(io, cmd, created, () => `admin key ${created.id}\n${created.key}\n(this admin key is shown only once)`);
};

export const adminKeysList: CommandBody = async (app, cmd, io) => {
  const keys = await app.adminKeys.list();
  print(io, cmd, keys, () => keys.map((k) => `${k.id}\t${k.created}\t${JSON.stringify(k.note)}`).join('\n') || '(no admin keys)');
};

/** `admin-keys delete <id>`: refused from the next request on, by every process (no cache). */
export const adminKeysDelete: CommandBody = async (app, cmd) => {
  await app.adminKeys.delete(cmd.positionals[0] as string);
};

/**
 * `audit [--account U] [--limit N] [--json]` (SPEC §8): the newest N entries (default 100), newest
 * first; one line each, or one JSON array of the entries as `GET /admin/v1/audit` shows them.
 */
export const audit: CommandBody = async (app, cmd, io) => {
  if (typeof cmd.values.limit === 'string' && !/^[1-9][0-9]{0,6}$/.test(cmd.values.limit)) throw new UsageError('--limit must be a whole number from 1');
  const limit = cmd.values.limit === undefined ? 100 : Number(cmd.values.limit);
  const account = cmd.values.account;
  if (typeof account === 'string' && !isUsername(account)) throw new UsageError(`${JSON.stringify(account)} is not a valid username`);
  const entries: AuditEntryView[] = [];
  let start: string | null = null;
  do {
    const query: Record<string, string> = { limit: String(Math.min(100, limit - entries.length)) };
    if (typeof account === 'string') query.account = account;
    if (start !== null) query.start = start;
    const page = await app.audit.list(query);
    entries.push(...page.entries);
    start = page.next;
  } while (start !== null && entries.length < limit);
  print(io, cmd, entries, () => entries.map(auditLine).join('\n') || '(no audit entries)');
};

function auditLine(entry: AuditEntryView): string {
  const actor = entry.actor.id === null ? entry.actor.kind : `${entry.actor.kind}:${entry.actor.id}`;
  return [entry.at, entry.action, actor, entry.account ?? '-', entry.target ?? '-', entry.ip ?? '-'].join('\t');
}

/** Re-exported so the runner can tell an operation's refusal from a crash. */
export { AppError };
