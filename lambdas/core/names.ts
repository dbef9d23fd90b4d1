/**
 * Deterministic names. The CDK stacks, the local mode and the Lambdas all
 * derive resource names from here, so a source stack can name the vault's
 * topic and roles without a cross-account lookup. Copy names are per kind
 * (`lambdas/kinds/<kind>/kind.ts`).
 */
import { boundedRdsIdentifier, hash, INTERMEDIATE_PREFIX } from '../kinds/shared';

export { INTERMEDIATE_PREFIX, sanitizeRdsIdentifier } from '../kinds/shared';

/** Names of the vault stack's resources in the backup account. */
export function vaultNames(prefix: string) {
  return {
    stack: `${prefix}-vault`,
    inventoryTable: `${prefix}-inventory`,
    inventoryStatusIndex: 'by-status',
    /** One intake topic per source account: the topic a message came through says who sent it. */
    intakeTopicPrefix: `${prefix}-intake-`,
    intakeQueue: `${prefix}-intake`,
    intakeDeadLetterQueue: `${prefix}-intake-dlq`,
    backupKeyAlias: `alias/${prefix}-backup-data`,
    intakeKeyAlias: `alias/${prefix}-intake`,
    /** Roles of the vault Lambdas that may assume the source accounts' reader role. */
    intakeRole: `${prefix}-intake`,
    completionRole: `${prefix}-completion`,
    sweepRole: `${prefix}-sweep`,
    /** The auditor: reads sources through the reader roles (what is in scope) and the inventory. */
    auditRole: `${prefix}-audit`,
    /**
     * The operator's read-only role for `bunker status`, `inventory` and
     * `report`: trusted by the backup account (its own IAM decides who may
     * assume it), and trusted in turn by the reader roles.
     */
    operatorRole: `${prefix}-operator`,
    /** Pulled backups: the pull function's role (the only principal the puller roles trust) and its queue. */
    pullRole: `${prefix}-pull`,
    pullQueue: `${prefix}-pull`,
    pullDeadLetterQueue: `${prefix}-pull-dlq`,
    /** The index listing one run's pulled records: partition key `pullScope`, sort key `artifactId`. */
    inventoryPullScopeIndex: 'by-pull-scope',
  } as const;
}

/** The vault's bucket for pulled data (S3 names are global, so the account and Region are in it). */
export function vaultBucketName(prefix: string, backupAccount: string, backupRegion: string): string {
  return `${prefix}-vault-${backupAccount}-${backupRegion}`;
}

/** The pull function's role in the backup account: the one principal a puller role trusts. */
export function pullRoleArn(prefix: string, backupAccount: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${backupAccount}:role/${vaultNames(prefix).pullRole}`;
}

/** The read-only puller role of a source account (IAM is global: one per account). */
export function pullerRoleArn(prefix: string, sourceAccount: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${sourceAccount}:role/${prefix}-puller`;
}

/**
 * A source account's staging bucket for DynamoDB exports, in the source
 * account and Region: DynamoDB writes an export where the caller may write,
 * and the vault must grant no source principal a write in the backup
 * account, so the export lands here and the vault pulls it.
 */
export function exportBucketName(prefix: string, sourceAccount: string, region: string): string {
  return `${prefix}-exports-${sourceAccount}-${region}`;
}

/** Names of a source stack's resources in a production account. */
export function sourceNames(prefix: string, region: string) {
  return {
    shareKeyAlias: `alias/${prefix}-share`,
    /** IAM is global: one reader role per account, made by the stack of the first listed Region. */
    readerRole: `${prefix}-reader`,
    agentRole: `${prefix}-source-agent-${region}`,
    /** Where the vault's receipts arrive in this account and Region, and the queue the agent reads them from. */
    receiptsTopic: `${prefix}-receipts`,
    receiptsQueue: `${prefix}-receipts`,
    receiptsDeadLetterQueue: `${prefix}-receipts-dlq`,
    receiptsKeyAlias: `alias/${prefix}-receipts`,
    /** Read-only role the vault's pull function assumes to read parameters, secrets and tables. */
    pullerRole: `${prefix}-puller`,
  } as const;
}

/** One source stack per account and Region: two accounts may share a Region, so both are in the name. */
export function sourceStackName(prefix: string, account: string, region: string): string {
  return `${prefix}-source-${account}-${region}`;
}

/** The intake topic of one source account, in the backup account. */
export function intakeTopicName(prefix: string, sourceAccount: string): string {
  return `${vaultNames(prefix).intakeTopicPrefix}${sourceAccount}`;
}

export function intakeTopicArn(
  prefix: string,
  backupAccount: string,
  backupRegion: string,
  sourceAccount: string,
  partition = 'aws',
): string {
  return `arn:${partition}:sns:${backupRegion}:${backupAccount}:${intakeTopicName(prefix, sourceAccount)}`;
}

/**
 * The source account whose intake topic `topicArn` is, if it is one of this
 * vault's: in the backup account and Region, named for a source account.
 */
export function sourceAccountOfTopic(
  prefix: string,
  backupAccount: string,
  backupRegion: string,
  topicArn: string,
): string | undefined {
  const match = /^arn:[a-z-]+:sns:([a-z0-9-]+):(\d{12}):(.+)$/.exec(topicArn);
  if (!match || match[1] !== backupRegion || match[2] !== backupAccount) return undefined;
  const topicPrefix = vaultNames(prefix).intakeTopicPrefix;
  const account = match[3].startsWith(topicPrefix) ? match[3].slice(topicPrefix.length) : '';
  return /^\d{12}$/.test(account) ? account : undefined;
}

/** The receipts topic of a source account in one Region: the vault publishes there when a copy is done. */
export function receiptsTopicArn(prefix: string, sourceAccount: string, region: string, partition = 'aws'): string {
  return `arn:${partition}:sns:${region}:${sourceAccount}:${sourceNames(prefix, region).receiptsTopic}`;
}

export function readerRoleArn(prefix: string, sourceAccount: string, region: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${sourceAccount}:role/${sourceNames(prefix, region).readerRole}`;
}

/** The operator's read-only role in the backup account (`bunker status --operator` assumes it). */
export function operatorRoleArn(prefix: string, backupAccount: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${backupAccount}:role/${vaultNames(prefix).operatorRole}`;
}

/** The vault's Lambda roles (intake, completion, sweep, audit); of them only intake and audit may assume reader roles. */
export function vaultRoleArns(prefix: string, backupAccount: string, partition = 'aws'): string[] {
  const names = vaultNames(prefix);
  return [names.intakeRole, names.completionRole, names.sweepRole, names.auditRole].map(
    (role) => `arn:${partition}:iam::${backupAccount}:role/${role}`,
  );
}

/**
 * Name of the source agent's re-keyed, shareable copy of a source snapshot
 * (RDS: 255 characters at most; Aurora cluster snapshots: 63).
 */
export function intermediateSnapshotId(sourceSnapshotId: string, max = 255): string {
  return boundedRdsIdentifier(INTERMEDIATE_PREFIX, sourceSnapshotId.replace(/^rds:/, ''), sourceSnapshotId, max);
}

/** Inventory key of a rejected message: one per distinct message body, never an artifact's key. */
export function rejectionId(body: string): string {
  return `rejected:${hash(body, 32)}`;
}

export function rdsSnapshotArn(partition: string, region: string, account: string, snapshotId: string): string {
  return `arn:${partition}:rds:${region}:${account}:snapshot:${snapshotId}`;
}
