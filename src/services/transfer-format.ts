/**
 * The export file (SPEC §8): JSON lines. A header first, then one line per `TransferRecord` in
 * TRANSFER_ORDER, then an end line with the number of records of each kind, so a file cut short
 * anywhere (a full disk, an interrupted copy) is told from a whole one.
 *
 *   {"kind":"header","format":"tokenbox-export","version":1,"exportedAt":"…","secretCheck":"v1.…"}
 *   {"kind":"account","username":"alice",…}
 *   …
 *   {"kind":"end","counts":{"account":1,"token":3,…}}
 *
 * An import reads a file it did not write as hostile: every line is checked against these
 * schemas before anything of it reaches the store.
 */
import { z } from 'zod';
import { AUDIT_ACTIONS } from '../domain/audit.js';
import type { Sealer } from '../domain/sealer.js';
import { isTokenId, isUsername } from '../domain/token-format.js';
import { TRANSFER_ORDER, type TransferKind, type TransferRecord } from '../store/transfer.js';

export const EXPORT_FORMAT = 'tokenbox-export';
export const EXPORT_VERSION = 1;
/**
 * The longest line an import reads, in characters. The longest real record is a token with 100
 * allowed URLs of 2,048 characters (about 210 KB); anything longer is refused before it is held
 * whole, so a file with no line breaks cannot fill the memory.
 */
export const MAX_LINE_LENGTH = 1024 * 1024;

/**
 * The header's `secretCheck`: this text sealed under this record id with the exporting store's
 * key-encryption key. An import opens it before it writes anything: the sealed signing keys and
 * pk strings in the file open only with the same secret, so a target with another secret is
 * refused up front instead of starting and then refusing every tk and every pk listing.
 */
const SECRET_CHECK_TEXT = 'tokenbox export secret check';
const SECRET_CHECK_ID = 'tokenbox-export-header';

export function sealSecretCheck(sealer: Sealer): string {
  return sealer.seal(SECRET_CHECK_TEXT, SECRET_CHECK_ID);
}

export function opensSecretCheck(sealer: Sealer, sealed: string): boolean {
  return sealer.open(sealed, SECRET_CHECK_ID)?.toString('utf8') === SECRET_CHECK_TEXT;
}

export type TransferCounts = Record<TransferKind, number>;

export function zeroCounts(): TransferCounts {
  return Object.fromEntries(TRANSFER_ORDER.map((kind) => [kind, 0])) as TransferCounts;
}

const time = z.int().min(0);
const username = z.string().refine(isUsername, 'is not a username');
const tokenId = z.string().refine(isTokenId, 'is not a token id');
const text = (max: number): z.ZodString => z.string().max(max);
/** Hashes and ids tokenbox makes are short; these bounds only stop a hostile line early. */
const hash = text(256);
const id = text(128);

export const headerSchema = z.strictObject({
  kind: z.literal('header'),
  format: z.literal(EXPORT_FORMAT),
  version: z.int(),
  exportedAt: text(64),
  secretCheck: text(1024),
});

export const endSchema = z.strictObject({
  kind: z.literal('end'),
  counts: z.strictObject(Object.fromEntries(TRANSFER_ORDER.map((kind) => [kind, z.int().min(0)])) as Record<TransferKind, z.ZodInt>),
});

const RECORD_SCHEMAS = {
  account: z.strictObject({ kind: z.literal('account'), username, created: time, passwordHash: text(1024).nullable(), disabled: z.boolean() }),
  token: z.strictObject({
    kind: z.literal('token'),
    id: tokenId,
    username,
    usage: z.enum(['pk', 'sk']),
    note: text(4000),
    scopes: z.array(text(256)).max(1000),
    allowedUrls: z.array(text(2048)).max(100).nullable(),
    allowedApplications: z
      .array(z.strictObject({ platform: text(64), bundleId: text(255) }))
      .max(100)
      .nullable(),
    isDefault: z.boolean(),
    tokenHash: hash,
    sealedToken: text(8192).nullable(),
    created: time,
    modified: time,
    createdBy: id,
    lastUsed: time.nullable(),
  }),
  usage: z.strictObject({ kind: z.literal('usage'), tokenId, day: time.multipleOf(86_400_000), count: z.int().min(1) }),
  session: z.strictObject({ kind: z.literal('session'), idHash: hash, username, created: time, expires: time }),
  signingKey: z.strictObject({ kind: z.literal('signingKey'), id, sealedKey: text(1024), created: time, retired: time.nullable() }),
  adminKey: z.strictObject({ kind: z.literal('adminKey'), id, note: text(4000), keyHash: hash, created: time }),
  delete: z.strictObject({ kind: z.literal('delete'), tokenId: id, at: time, tokenHash: hash }),
  audit: z.strictObject({
    kind: z.literal('audit'),
    id: z.int().min(1),
    at: time,
    actor: z.strictObject({ kind: z.enum(['token', 'admin', 'cli', 'web']), id: id.nullable() }),
    account: username.nullable(),
    action: z.enum(AUDIT_ACTIONS),
    target: id.nullable(),
    ip: text(256).nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
  }),
} satisfies Record<TransferKind, z.ZodType<TransferRecord>>;

export function isTransferKind(kind: unknown): kind is TransferKind {
  return typeof kind === 'string' && (TRANSFER_ORDER as readonly string[]).includes(kind);
}

/** The record, or the first problem as a phrase (`scopes: expected array, received string`). */
export function parseRecord(kind: TransferKind, value: unknown): { ok: true; record: TransferRecord } | { ok: false; problem: string } {
  const result = RECORD_SCHEMAS[kind].safeParse(value);
  return result.success ? { ok: true, record: result.data } : { ok: false, problem: firstProblem(result.error) };
}

/** One issue as a lower-case phrase, so it fits inside the CLI's one sentence. */
export function firstProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'it is invalid';
  const where = issue.path.length === 0 ? '' : `${issue.path.join('.')} `;
  const message = issue.message.replace(/^Invalid input: /, '').replace(/\.$/, '');
  return `${where}${message.charAt(0).toLowerCase()}${message.slice(1)}`;
}
