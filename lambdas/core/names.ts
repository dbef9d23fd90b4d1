/**
 * Deterministic names. The CDK stacks, the local mode and the Lambdas all
 * derive resource names from here, so a source stack can name the vault's
 * topic and roles without a cross-account lookup, and a retried copy always
 * lands on the same target.
 */
import { createHash } from 'node:crypto';

/** Names of the vault stack's resources in the backup account. */
export function vaultNames(prefix: string) {
  return {
    stack: `${prefix}-vault`,
    inventoryTable: `${prefix}-inventory`,
    inventoryStatusIndex: 'by-status',
    intakeTopic: `${prefix}-intake`,
    intakeQueue: `${prefix}-intake`,
    intakeDeadLetterQueue: `${prefix}-intake-dlq`,
    backupKeyAlias: `alias/${prefix}-backup-data`,
    intakeKeyAlias: `alias/${prefix}-intake`,
    /** Roles of the vault Lambdas that may assume the source accounts' reader role. */
    intakeRole: `${prefix}-rds-intake`,
    completionRole: `${prefix}-rds-completion`,
    sweepRole: `${prefix}-rds-sweep`,
  } as const;
}

/** Names of a source stack's resources in a production account. */
export function sourceNames(prefix: string, region: string) {
  return {
    shareKeyAlias: `alias/${prefix}-share`,
    /** IAM is global: one reader role per account, made by the stack of the first listed Region. */
    readerRole: `${prefix}-reader`,
    agentRole: `${prefix}-rds-agent-${region}`,
  } as const;
}

/** One source stack per account and Region: two accounts may share a Region, so both are in the name. */
export function sourceStackName(prefix: string, account: string, region: string): string {
  return `${prefix}-source-${account}-${region}`;
}

export function intakeTopicArn(prefix: string, backupAccount: string, backupRegion: string): string {
  return `arn:aws:sns:${backupRegion}:${backupAccount}:${vaultNames(prefix).intakeTopic}`;
}

export function readerRoleArn(prefix: string, sourceAccount: string, region: string): string {
  return `arn:aws:iam::${sourceAccount}:role/${sourceNames(prefix, region).readerRole}`;
}

/** The vault Lambda roles trusted by the reader role, and nothing else. */
export function vaultReaderPrincipalArns(prefix: string, backupAccount: string): string[] {
  const names = vaultNames(prefix);
  return [names.intakeRole, names.completionRole, names.sweepRole].map(
    (role) => `arn:aws:iam::${backupAccount}:role/${role}`,
  );
}

const hash = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/**
 * RDS snapshot identifiers: 1-255 characters, letters, digits and single
 * hyphens, starting with a letter and not ending with a hyphen.
 */
export function sanitizeRdsIdentifier(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

function boundedRdsIdentifier(prefix: string, readable: string, unique: string): string {
  const suffix = hash(unique, 10);
  const room = 255 - prefix.length - suffix.length - 2;
  const middle = sanitizeRdsIdentifier(readable).slice(0, Math.max(0, room)).replace(/-+$/, '');
  return [prefix, middle, suffix].filter(Boolean).join('-');
}

/**
 * Name of the backup account's copy of a shared source snapshot. The same
 * source always maps to the same target, so a retried or duplicated copy
 * finds the first one instead of making a second. `generation` moves on
 * only after a copy failed, whose failed snapshot keeps the old name.
 */
export function backupSnapshotId(sourceSnapshotArn: string, generation = 0): string {
  const parsed = parseRdsSnapshotArn(sourceSnapshotArn);
  // The agent's intermediates all start with the same prefix: it says nothing in the copy's name.
  const readable = parsed
    ? `${parsed.account}-${parsed.snapshotId.replace(new RegExp(`^${INTERMEDIATE_PREFIX}-`), '')}`
    : sourceSnapshotArn;
  return boundedRdsIdentifier(
    'bunker',
    readable,
    generation === 0 ? sourceSnapshotArn : `${sourceSnapshotArn}#${generation}`,
  );
}

/** Prefix of the intermediate snapshots the source agent makes under the share key. */
export const INTERMEDIATE_PREFIX = 'bunker-share';

/** Name of the source agent's re-keyed, shareable copy of a source snapshot. */
export function intermediateSnapshotId(sourceSnapshotId: string): string {
  return boundedRdsIdentifier(INTERMEDIATE_PREFIX, sourceSnapshotId.replace(/^rds:/, ''), sourceSnapshotId);
}

/** Inventory key of an RDS snapshot copy: one per source snapshot. */
export function rdsArtifactId(sourceSnapshotArn: string): string {
  return `rds-snapshot:${sourceSnapshotArn}`;
}

/** Inventory key of a rejected message: one per distinct message body, never an artifact's key. */
export function rejectionId(body: string): string {
  return `rejected:${hash(body, 32)}`;
}

export interface RdsSnapshotArn {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly snapshotId: string;
  readonly cluster: boolean;
}

const RDS_SNAPSHOT_ARN =
  /^arn:(aws[a-z-]*):rds:([a-z0-9-]+):(\d{12}):(snapshot|cluster-snapshot):([A-Za-z0-9:-]{1,255})$/;

export function parseRdsSnapshotArn(arn: string): RdsSnapshotArn | undefined {
  const match = RDS_SNAPSHOT_ARN.exec(arn);
  if (!match) return undefined;
  const [, partition, region, account, type, snapshotId] = match;
  return { partition, region, account, snapshotId, cluster: type === 'cluster-snapshot' };
}

export function rdsSnapshotArn(partition: string, region: string, account: string, snapshotId: string): string {
  return `arn:${partition}:rds:${region}:${account}:snapshot:${snapshotId}`;
}
