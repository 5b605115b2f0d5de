/**
 * Page passwords (SPEC §9): argon2id with 19 MiB of memory, 2 passes and 1 lane (OWASP's
 * first choice), through @node-rs/argon2, whose hashing runs on libuv's thread pool, so a
 * sign-in never holds the event loop for the ~40 ms a hash takes.
 */
import { hash, verify } from '@node-rs/argon2';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;

/** @node-rs/argon2's default algorithm is argon2id; the hash string says so (`$argon2id$`). */
const OPTIONS = { memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

/** 8 to 1,024 characters (code points), as SPEC §9 sets. */
export function isPassword(value: unknown): value is string {
  if (typeof value !== 'string' || value.length < PASSWORD_MIN_LENGTH || value.length > 2 * PASSWORD_MAX_LENGTH) return false;
  const length = [...value].length;
  return length >= PASSWORD_MIN_LENGTH && length <= PASSWORD_MAX_LENGTH;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

/** False for a wrong password and for a stored value that is no argon2 hash. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}
