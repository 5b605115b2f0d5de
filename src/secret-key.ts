/**
 * The key-encryption secret (SPEC §2): `TOKENBOX_SECRET` when set, else `secret.key` in the data
 * directory, generated on first start. It never enters the store.
 *
 * The file is the only way to open the store's sealed keys, so it is handled with care:
 * - it is written whole or not at all: a temporary file in the same directory is written and
 *   fsynced, then hard-linked to `secret.key`, which fails if the name exists; a crash leaves at
 *   most a stray temporary file, never a short `secret.key`;
 * - an existing `secret.key` is never replaced: processes that start together on a fresh data
 *   directory all end up reading the one key the first of them linked;
 * - a key that is empty, short, or open to other users is a start-up error, never silently
 *   regenerated (a new key would leave every sealed key unopenable) or silently used.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Config } from './config/config.js';
import { newSecret } from './domain/sealer.js';

const SECRET_KEY_FILE = 'secret.key';
/** The same minimum as `TOKENBOX_SECRET` (config.ts). */
const MIN_SECRET_LENGTH = 32;

/** A `secret.key` tokenbox refuses to use; the message names the file and the fix, as one sentence. */
export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/**
 * `config.secret` (from `TOKENBOX_SECRET`) if set, without touching the data directory. Else
 * the trimmed contents of `<dataDir>/secret.key`, creating the directory (0700) and the file
 * (0600) if missing. Throws SecretKeyError for a file that is empty, shorter than 32 characters
 * after trimming, or readable or writable by group or others.
 */
export function loadSecret(config: Pick<Config, 'dataDir' | 'secret'>): string {
  if (config.secret !== undefined) return config.secret;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const path = join(config.dataDir, SECRET_KEY_FILE);
  if (!existsSync(path)) writeFileOnce(path, `${newSecret()}\n`);
  return readSecretKey(path);
}

/**
 * Like `loadSecret`, but never creates anything: null when `TOKENBOX_SECRET` is not set and the
 * data directory has no `secret.key`. For `import`, whose target must use the source's secret: a
 * new random one would only be refused, and would be left behind in the way of the right one.
 */
export function loadExistingSecret(config: Pick<Config, 'dataDir' | 'secret'>): string | null {
  if (config.secret !== undefined) return config.secret;
  const path = join(config.dataDir, SECRET_KEY_FILE);
  return existsSync(path) ? readSecretKey(path) : null;
}

/**
 * Creates `path` with mode 0600 holding `content`, atomically and without replacing anything:
 * true if this call created it, false if `path` already existed (the file is then untouched).
 */
export function writeFileOnce(path: string, content: string): boolean {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      const bytes = Buffer.from(content, 'utf8');
      for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    syncDirectory(dirname(path));
    return true;
  } finally {
    unlinkQuietly(temp);
  }
}

/** The trimmed key, after checking who may read the file and that it holds a whole key. */
function readSecretKey(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new SecretKeyError(`${path} is not a regular file: restore secret.key from your backup`);
    // Windows has no POSIX modes (Node reports 0666 for every writable file): nothing to check.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new SecretKeyError(`${path} can be read or written by other users (mode ${mode}): run chmod 600 ${path}`);
    }
    const secret = readFileSync(fd, 'utf8').trim();
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new SecretKeyError(
        `${path} is empty or shorter than ${MIN_SECRET_LENGTH} characters: restore it from your backup, or remove it only if the data directory holds no tokens yet`,
      );
    }
    return secret;
  } finally {
    closeSync(fd);
  }
}

/** Makes the new directory entry durable; best effort where directories cannot be fsynced. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms and file systems refuse to open or fsync a directory; the link still stands.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
