/**
 * Fingerprints of pulled values: HMAC-SHA256 under the vault's fingerprint
 * key (32 random bytes kept in the vault store, under the backup-data key).
 * A plain hash of a short password in the inventory could be tested against
 * guesses by anyone who reads the inventory; an HMAC cannot without the key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Fingerprint, VaultStore } from './types';

export const FINGERPRINT_KEY_OBJECT = 'keys/fingerprint-v1';

export function hmacFingerprint(key: Uint8Array): Fingerprint {
  if (key.length < 32) throw new Error('the fingerprint key must be at least 32 bytes');
  return { of: (bytes) => `hmac-sha256:${createHmac('sha256', key).update(bytes).digest('hex')}` };
}

/** The vault's fingerprint key for a reader (a restore): it never makes one, and says so when there is none. */
export async function readFingerprint(store: VaultStore): Promise<Fingerprint> {
  const key = await store.get(FINGERPRINT_KEY_OBJECT);
  if (!key) throw new Error(`the vault store has no ${FINGERPRINT_KEY_OBJECT}: nothing was ever pulled into it`);
  return hmacFingerprint(key);
}

/** The vault's fingerprint key: made once (the first writer wins), read by every later run and restore. */
export async function loadFingerprint(store: VaultStore): Promise<Fingerprint> {
  const existing = await store.get(FINGERPRINT_KEY_OBJECT);
  if (existing) return hmacFingerprint(existing);
  await store.putOnce(FINGERPRINT_KEY_OBJECT, randomBytes(32), 'application/octet-stream');
  const key = await store.get(FINGERPRINT_KEY_OBJECT);
  if (!key) throw new Error(`the vault store lost ${FINGERPRINT_KEY_OBJECT} right after writing it`);
  return hmacFingerprint(key);
}
