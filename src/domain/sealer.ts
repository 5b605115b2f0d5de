/**
 * Seals secrets the store keeps (tk signing keys, pk strings) with a key-encryption key that never
 * enters the store (SPEC §2). The KEK is derived from `TOKENBOX_SECRET` or the data directory's
 * `secret.key` with HKDF-SHA-256; sealing is AES-256-GCM with the record's id as associated data,
 * so a sealed value cannot be moved to another record.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const HKDF_SALT = 'tokenbox';
const HKDF_INFO = 'tokenbox key-encryption key v1';

export class Sealer {
  private readonly kek: Buffer;

  /** @param secret at least 32 characters; checked by config before it gets here. */
  constructor(secret: string) {
    this.kek = Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, HKDF_INFO, 32));
  }

  /** `v1.<iv>.<ciphertext>.<tag>`, each base64url. */
  seal(plaintext: Buffer | string, recordId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.kek, iv);
    cipher.setAAD(Buffer.from(recordId, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return [VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The plaintext, or null when the value was sealed with another key or altered. */
  open(sealed: string, recordId: string): Buffer | null {
    const [version, iv, body, tag] = sealed.split('.');
    if (version !== VERSION || iv === undefined || body === undefined || tag === undefined) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.kek, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(recordId, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
    } catch {
      return null;
    }
  }
}

/** A new random secret for `secret.key`: 32 CSPRNG bytes, base64 (44 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64');
}
