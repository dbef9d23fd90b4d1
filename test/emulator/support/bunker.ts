/**
 * Helpers for the emulator-backed tests of Bunker's pipeline: a configuration
 * on fresh accounts, production databases and snapshots in a source account,
 * and the backup account's state read back with its own credentials.
 *
 * Everything here talks to the shared emulator over HTTP with the real SDK;
 * nothing is mocked. Tests isolate themselves with fresh account ids.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  type DBSnapshot,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { readInventory } from '../../../cli/inventory';
import { localContext } from '../../../cli/local/accounts';
import { LOCAL_OPERATOR_ROLE, type LocalEnvironment } from '../../../cli/local/up';
import { vaultDeps } from '../../../lambdas/adapters/wiring';
import type { InventoryFilter, InventoryRecord } from '../../../lambdas/core/inventory';
import { vaultNames } from '../../../lambdas/core/names';
import { rdsSnapshotNotification } from '../../../lambdas/core/notification';
import { silentLog } from '../../../lambdas/core/ports';
import type { IntakeDeps } from '../../../lambdas/core/rds-intake';
import { parseConfig } from '../../../lib/config/load';
import { vaultSettings } from '../../../lib/config/runtime';
import type { BunkerConfig, BunkerConfigInput } from '../../../lib/config/schema';
import { clientConfig, DEFAULT_TEST_REGION } from '../../support/aws';

export const REGION = DEFAULT_TEST_REGION;

/** The tag the default RDS scope selects. */
export const IN_SCOPE_TAG = { Key: 'bunker:backup', Value: 'true' } as const;

/**
 * A validated configuration with RDS enabled (default tag scope) for one
 * backup account and the given source accounts, all in {@link REGION}.
 */
export function bunkerConfig(
  backup: string,
  sources: readonly string[],
  extra: Partial<BunkerConfigInput> = {},
): BunkerConfig {
  return parseConfig({
    name: 'bunker',
    backup: { account: backup, region: REGION },
    sources: sources.map((account) => ({ account, regions: [REGION] })),
    artifacts: { rds: { enabled: true } },
    ...extra,
  });
}

/** SDK clients acting as one account each (real STS AssumeRole), destroyed together. */
export class TestClients {
  private readonly clients: { destroy(): void }[] = [];

  constructor(readonly endpoint: string) {}

  private keep<T extends { destroy(): void }>(client: T): T {
    this.clients.push(client);
    return client;
  }

  rds(account: string): RDSClient {
    return this.keep(new RDSClient(clientConfig(this.endpoint, account, REGION)));
  }

  kms(account: string): KMSClient {
    return this.keep(new KMSClient(clientConfig(this.endpoint, account, REGION)));
  }

  sns(account: string): SNSClient {
    return this.keep(new SNSClient(clientConfig(this.endpoint, account, REGION)));
  }

  destroy(): void {
    for (const client of this.clients.splice(0)) client.destroy();
  }
}

export async function createKey(kms: KMSClient, description = 'a database storage key'): Promise<string> {
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: description }));
  if (!KeyMetadata?.Arn) throw new Error('CreateKey returned no key ARN');
  return KeyMetadata.Arn;
}

export interface DatabaseSpec {
  readonly id: string;
  /** Carries the tag of the default scope. */
  readonly inScope: boolean;
  /** RDS takes automated snapshots (BackupRetentionPeriod 7). @default false */
  readonly automated?: boolean;
  /** Storage key; the default `aws/rds` key when omitted. */
  readonly kmsKeyId?: string;
}

/**
 * An encrypted DB instance. Note: the emulator takes one automated snapshot
 * at creation even with BackupRetentionPeriod 0 (AWS would not).
 */
export async function createDatabase(rds: RDSClient, spec: DatabaseSpec): Promise<void> {
  await rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: spec.id,
      Engine: 'postgres',
      DBInstanceClass: 'db.t4g.micro',
      AllocatedStorage: 20,
      MasterUsername: 'bunker',
      MasterUserPassword: 'test-only-not-a-secret',
      StorageEncrypted: true,
      KmsKeyId: spec.kmsKeyId,
      BackupRetentionPeriod: spec.automated ? 7 : 0,
      Tags: spec.inScope ? [IN_SCOPE_TAG] : [{ Key: 'team', Value: 'analytics' }],
    }),
  );
}

/** A manual snapshot of `dbId`; returns its ARN. */
export async function createSnapshot(rds: RDSClient, dbId: string, snapshotId: string): Promise<string> {
  const { DBSnapshot } = await rds.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: dbId, DBSnapshotIdentifier: snapshotId }),
  );
  if (!DBSnapshot?.DBSnapshotArn) throw new Error(`CreateDBSnapshot ${snapshotId} returned no ARN`);
  return DBSnapshot.DBSnapshotArn;
}

export async function shareSnapshot(rds: RDSClient, snapshotId: string, account: string): Promise<void> {
  await rds.send(
    new ModifyDBSnapshotAttributeCommand({
      DBSnapshotIdentifier: snapshotId,
      AttributeName: 'restore',
      ValuesToAdd: [account],
    }),
  );
}

export async function unshareSnapshot(rds: RDSClient, snapshotId: string, account: string): Promise<void> {
  await rds.send(
    new ModifyDBSnapshotAttributeCommand({
      DBSnapshotIdentifier: snapshotId,
      AttributeName: 'restore',
      ValuesToRemove: [account],
    }),
  );
}

/** The account ids in a snapshot's `restore` attribute, as its owner sees them. */
export async function restoreAttribute(rds: RDSClient, snapshotId: string): Promise<string[]> {
  const { DBSnapshotAttributesResult } = await rds.send(
    new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: snapshotId }),
  );
  return (
    DBSnapshotAttributesResult?.DBSnapshotAttributes?.find((a) => a.AttributeName === 'restore')?.AttributeValues ?? []
  );
}

/** Every DB snapshot the account owns (manual and automated), not those shared with it. */
export async function ownSnapshots(rds: RDSClient): Promise<DBSnapshot[]> {
  const { DBSnapshots } = await rds.send(new DescribeDBSnapshotsCommand({}));
  return DBSnapshots ?? [];
}

export async function describeSnapshot(rds: RDSClient, snapshotId: string): Promise<DBSnapshot> {
  const { DBSnapshots } = await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId }));
  const found = DBSnapshots?.[0];
  if (!found) throw new Error(`snapshot ${snapshotId} not found`);
  return found;
}

export function tagsOf(snapshot: DBSnapshot): Record<string, string> {
  return Object.fromEntries((snapshot.TagList ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

/** A v1 notification body, as a source agent publishes it. */
export function notificationBody(sourceAccount: string, snapshotArn: string, publishedAt = new Date()): string {
  return JSON.stringify(rdsSnapshotNotification({ sourceAccount, sourceRegion: REGION, snapshotArn, publishedAt }));
}

/** Publishes `message` to the intake topic as `account` would (the emulator does not check who publishes). */
export async function publish(sns: SNSClient, topicArn: string, message: string): Promise<void> {
  await sns.send(new PublishCommand({ TopicArn: topicArn, Message: message }));
}

/** An SQS event of one record per body, as Lambda's event source mapping delivers it. */
export function sqsEvent(bodies: readonly string[], queueArn = 'arn:aws:sqs:eu-west-1:000000000000:test'): SQSEvent {
  return {
    Records: bodies.map((body, index): SQSRecord => ({
      messageId: `message-${index}-${Math.random().toString(36).slice(2)}`,
      receiptHandle: `receipt-${index}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'AIDATEST',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: REGION,
    })),
  };
}

/** The inventory as the operator CLI reads it, with the backup account's credentials. */
export async function inventory(
  config: BunkerConfig,
  endpoint: string,
  filter: InventoryFilter = {},
): Promise<InventoryRecord[]> {
  const context = await localContext(endpoint, config.backup.account, config.backup.region, LOCAL_OPERATOR_ROLE);
  return readInventory(context, config.name, filter);
}

/** The real vault dependencies (SDK adapters) acting as the intake Lambda's role in the backup account. */
export async function realVaultDeps(
  config: BunkerConfig,
  env: LocalEnvironment,
  endpoint: string,
): Promise<IntakeDeps> {
  const context = await localContext(
    endpoint,
    config.backup.account,
    config.backup.region,
    vaultNames(config.name).intakeRole,
  );
  return vaultDeps(vaultSettings(config, env.backupKeyArn), context, silentLog);
}
