/**
 * KMS keys are named by id, key ARN or alias depending on which API
 * answers; compare them by key id so a copy under the right key is never
 * mistaken for one under the wrong key, and the other way round.
 */
export function kmsKeyIdOf(keyRef: string | undefined): string | undefined {
  if (!keyRef) return undefined;
  const match = /:key\/([A-Za-z0-9-]+)$/.exec(keyRef);
  if (match) return match[1];
  return /^[A-Za-z0-9-]+$/.test(keyRef) ? keyRef : undefined;
}

export function sameKmsKey(a: string | undefined, b: string | undefined): boolean {
  const left = kmsKeyIdOf(a);
  return left !== undefined && left === kmsKeyIdOf(b);
}
