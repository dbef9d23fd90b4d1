/**
 * Naming helpers the kinds share. Pure: no AWS SDK.
 */
import { createHash } from 'node:crypto';
import type { ArtifactRef } from './types';

/** Partitions Bunker builds ARNs in. */
export const PARTITION = '(aws|aws-cn|aws-us-gov)';
/**
 * RDS's rule for DB and cluster snapshot identifiers beyond the characters
 * (first a letter; letters, digits and hyphens): no two hyphens in a row and
 * none at the end. RDS may answer such an id with InvalidParameterValue
 * rather than "not found", so the schema refuses it up front.
 */
export const rdsIdentifierShapeOk = (id: string): boolean => !id.includes('--') && !id.endsWith('-');

export const REGION_PATTERN = '([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\\d{1,2})';

export const hash = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/** One string per artifact and generation: what every deterministic copy name is derived from. */
export function uniqueKey(ref: ArtifactRef, generation: number): string {
  const base = `${ref.kind}:${ref.partition}:${ref.account}:${ref.region}:${ref.id}`;
  return generation === 0 ? base : `${base}#${generation}`;
}

/**
 * RDS identifiers: 1-255 characters (63 for a cluster snapshot), letters,
 * digits and single hyphens, starting with a letter and not ending with a hyphen.
 */
export function sanitizeRdsIdentifier(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** `prefix-readable-hash`, at most `max` characters, always a valid RDS identifier. */
export function boundedRdsIdentifier(prefix: string, readable: string, unique: string, max = 255): string {
  const suffix = hash(unique, 10);
  const room = max - prefix.length - suffix.length - 2;
  const middle = sanitizeRdsIdentifier(readable).slice(0, Math.max(0, room)).replace(/-+$/, '');
  return [prefix, middle, suffix].filter(Boolean).join('-');
}

/** Prefix of every copy Bunker makes in the backup account (RDS identifiers, EC2 `bunker:copy-name` tags, AMI names). */
export const COPY_PREFIX = 'bunker';

/** Prefix of the intermediates the source agent makes under the share key. */
export const INTERMEDIATE_PREFIX = 'bunker-share';

/**
 * How the source agent describes its intermediates (lambdas/core/agent/ec2-agent.ts)
 * and what the EBS copier's listing of shared snapshots looks for: the one
 * mark of an intermediate the backup account can see, since another
 * account's tags are not visible to it. It keeps the backing snapshots of a
 * shared intermediate image (described by CopyImage) out of the EBS listing.
 * Here, SDK-free, so the agent and the copier read one text.
 */
export const INTERMEDIATE_DESCRIPTION = 'Bunker intermediate of ';

/** The readable part of a copy's name: the account and the production id, without the agent's prefix. */
export function readableSource(ref: ArtifactRef): string {
  return `${ref.account}-${ref.id.replace(new RegExp(`^${INTERMEDIATE_PREFIX}-`), '')}`;
}

/** A string field of an EventBridge `detail`, or `undefined`. */
export function field(detail: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = detail[name];
  return typeof value === 'string' ? value : undefined;
}
