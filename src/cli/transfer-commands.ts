/**
 * `tokenbox export [--out FILE]` and `tokenbox import [--in FILE]` (SPEC §8). Unlike the other
 * commands they open the configured store bare, without the keyring: an import's target must not
 * make a signing key of its own before the source's arrive (it would no longer be empty), and an
 * export only reads. The file handling is here; what the file means is the TransferService's.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { systemClock } from '../domain/clock.js';
import { Sealer } from '../domain/sealer.js';
import { openConfiguredStore } from '../main.js';
import { loadExistingSecret, loadSecret } from '../secret-key.js';
import { TransferError, TransferService, type TransferCounts } from '../services/transfer-service.js';
import type { ParsedCommand } from './args.js';
import { UsageError, type CliIo } from './io.js';

/** A command on the bare store (see above); throws UsageError, TransferError or AppError. */
export type StoreCommandBody = (config: Config, cmd: ParsedCommand, io: CliIo) => Promise<void>;

/**
 * To standard output, or to a new file made 0600 (it holds every hash and sealed secret of the
 * store). An existing file is never overwritten: `--out` naming last week's export, or anything
 * else, by a slip should cost nothing. A failed export removes the file it began, so a file
 * that exists is whole (an import would refuse a cut one anyway: it has no end line).
 */
export const exportCommand: StoreCommandBody = async (config, cmd, io) => {
  const out = typeof cmd.values.out === 'string' ? cmd.values.out : undefined;
  if (cmd.values.json === true && out === undefined) {
    throw new UsageError('export --json needs --out FILE, as without it standard output carries the export itself');
  }
  if (out === undefined && io.stdout === undefined) throw new UsageError('export needs --out FILE here, as there is no standard output');
  const sealer = new Sealer(loadSecret(config));
  const store = openConfiguredStore(config);
  try {
    await store.migrate();
    const service = new TransferService(store, sealer, systemClock);
    if (out === undefined) {
      await service.exportTo(io.stdout as NodeJS.WritableStream);
      return;
    }
    const handle = await createExportFile(out);
    let counts: TransferCounts;
    try {
      counts = await service.exportTo(handle.createWriteStream());
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(out, { force: true });
      throw error;
    }
    io.out(cmd.values.json === true ? JSON.stringify({ counts }, null, 2) : `exported ${describeCounts(counts)} to ${out}`);
  } finally {
    await store.close();
  }
};

/**
 * From standard input or a file, into the configured store, which must be empty. The secret must
 * already be there (`TOKENBOX_SECRET`, or the source's `secret.key` copied into the data
 * directory): import never makes one, since only the source's opens what the file holds.
 */
export const importCommand: StoreCommandBody = async (config, cmd, io) => {
  const secret = loadExistingSecret(config);
  if (secret === null) {
    throw new TransferError(
      `import needs the source's secret and finds none, so set TOKENBOX_SECRET to it or copy the source's secret.key into ${config.dataDir}`,
    );
  }
  const path = typeof cmd.values.in === 'string' ? cmd.values.in : undefined;
  if (path === undefined && io.stdin === undefined) throw new UsageError('import needs --in FILE here, as there is no standard input');
  const handle = path === undefined ? null : await openImportFile(path);
  try {
    const input = handle === null ? (io.stdin as NodeJS.ReadableStream) : handle.createReadStream({ autoClose: false });
    const store = openConfiguredStore(config);
    try {
      await store.migrate();
      const counts = await new TransferService(store, new Sealer(secret), systemClock).importFrom(input);
      io.out(cmd.values.json === true ? JSON.stringify({ counts }, null, 2) : `imported ${describeCounts(counts)}`);
    } finally {
      await store.close();
    }
  } finally {
    await handle?.close();
  }
};

async function createExportFile(path: string): Promise<FileHandle> {
  try {
    // 'wx': O_CREAT | O_EXCL, so an existing file (or a link planted at the name) is refused.
    return await open(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new TransferError(`${path} exists, and export never overwrites a file: name a new one with --out or remove it first`);
    throw new TransferError(`cannot create ${path} (${code ?? (error as Error).message})`, { cause: error });
  }
}

async function openImportFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TransferError(`cannot read ${path} (${code ?? (error as Error).message})`, { cause: error });
  }
}

const NOUNS: Record<keyof TransferCounts, readonly [string, string]> = {
  account: ['account', 'accounts'],
  token: ['token', 'tokens'],
  usage: ['usage day', 'usage days'],
  session: ['session', 'sessions'],
  signingKey: ['signing key', 'signing keys'],
  adminKey: ['admin key', 'admin keys'],
  delete: ['token delete', 'token deletes'],
  audit: ['audit entry', 'audit entries'],
};

/** `2 accounts, 5 tokens, 0 usage days, …`: every kind, so a zero is visible too. */
export function describeCounts(counts: TransferCounts): string {
  return (Object.keys(NOUNS) as (keyof TransferCounts)[]).map((kind) => `${counts[kind]} ${NOUNS[kind][counts[kind] === 1 ? 0 : 1]}`).join(', ');
}
