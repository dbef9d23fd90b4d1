/**
 * KMS keys are compared by their whole ARN: partition, Region, account and
 * key id. Two keys with the same id in different accounts or Regions are
 * different keys, and a bare id or an alias proves nothing about which
 * account's key it is, so neither ever matches.
 */
const KEY_ARN = /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/;

export interface KmsKeyArn {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly keyId: string;
}

export function parseKmsKeyArn(arn: string | undefined): KmsKeyArn | undefined {
  const match = arn ? KEY_ARN.exec(arn) : null;
  if (!match) return undefined;
  const [, partition, region, account, keyId] = match;
  return { partition, region, account, keyId: keyId.toLowerCase() };
}

/** True only when both are key ARNs naming the same key in the same partition, Region and account. */
export function sameKmsKey(a: string | undefined, b: string | undefined): boolean {
  const left = parseKmsKeyArn(a);
  const right = parseKmsKeyArn(b);
  return (
    left !== undefined &&
    right !== undefined &&
    left.partition === right.partition &&
    left.region === right.region &&
    left.account === right.account &&
    left.keyId === right.keyId
  );
}

/** The key id of a key ARN or a bare id (for lookups in a store that holds one account's keys). */
export function kmsKeyIdOf(keyRef: string | undefined): string | undefined {
  if (!keyRef) return undefined;
  const parsed = parseKmsKeyArn(keyRef);
  if (parsed) return parsed.keyId;
  return /^[A-Za-z0-9-]+$/.test(keyRef) ? keyRef.toLowerCase() : undefined;
}
