/**
 * What the snapshot kinds' drill modules share: the facts a restore is
 * checked against (the copy's inventory record), the checks they all make,
 * and how an AWS answer of "not there" reads.
 */
import type { InventoryRecord } from '../../core/inventory';
import { sameKmsKey } from '../../core/keys';
import type { DrillCheck } from '../../core/drill/types';
import { classifyAwsError } from '../aws-errors';

/** The copy's inventory record: what the pipeline read back from the copy when it finished. */
export interface CopyFacts {
  record(artifactId: string): Promise<InventoryRecord | undefined>;
}

export const check = (name: string, ok: boolean, detail: string): DrillCheck => ({ name, ok, detail });

/** Encrypted, and under the backup-data key (compared as whole key ARNs). */
export function keyCheck(encrypted: boolean | undefined, found: string | undefined, expected: string): DrillCheck {
  if (!encrypted) return check('key', false, 'not encrypted');
  return sameKmsKey(found, expected)
    ? check('key', true, 'encrypted under the backup-data key')
    : check('key', false, `encrypted under ${found ?? 'an unnamed key'}, expected the backup-data key ${expected}`);
}

/** The restore's size against the size the inventory recorded for the copy. */
export function sizeCheck(found: number | undefined, recorded: number | undefined): DrillCheck {
  if (recorded === undefined) return check('size', found !== undefined, `${found ?? '?'} GiB (no size recorded)`);
  return found === recorded
    ? check('size', true, `${found} GiB as recorded`)
    : check('size', false, `${found ?? 'no'} GiB, the copy was recorded at ${recorded} GiB`);
}

/** `undefined` for an AWS "not found"; anything else is thrown on. */
export async function orMissing<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (classifyAwsError(error) === 'not-found') return undefined;
    throw error;
  }
}

/** An error AWS answers when what a replayed step makes is already there. */
export const alreadyExists = (error: unknown) =>
  /AlreadyExists/.test((error as { name?: string })?.name ?? '') ||
  /AlreadyExists/.test((error as { Code?: string })?.Code ?? '');

/** Throttling or a quota: AWS asks the drill to wait, which it does, within its bounds. */
export function isBackPressure(error: unknown): boolean {
  const kind = classifyAwsError(error);
  return kind === 'throttled' || kind === 'quota';
}

/**
 * Whether a security group's egress rules let no packet out: none at all,
 * or only the rule CloudFormation stacks use to replace EC2's default
 * allow-all (CDK's "disallow all traffic": ICMP type 252 code 86 to
 * 255.255.255.255/32, which matches nothing). The vault stack's drill
 * group has that one; a group made by `createDrillPlace` has none.
 */
export function sendsNothing(
  egress: readonly {
    IpProtocol?: string;
    FromPort?: number;
    ToPort?: number;
    IpRanges?: readonly { CidrIp?: string }[];
    Ipv6Ranges?: readonly unknown[];
    PrefixListIds?: readonly unknown[];
    UserIdGroupPairs?: readonly unknown[];
  }[],
): boolean {
  return egress.every(
    (rule) =>
      rule.IpProtocol === 'icmp' &&
      rule.FromPort === 252 &&
      rule.ToPort === 86 &&
      (rule.IpRanges ?? []).every((range) => range.CidrIp === '255.255.255.255/32') &&
      (rule.Ipv6Ranges ?? []).length === 0 &&
      (rule.PrefixListIds ?? []).length === 0 &&
      (rule.UserIdGroupPairs ?? []).length === 0,
  );
}
