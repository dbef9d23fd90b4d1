/**
 * Helpers for the emulator-backed tests of Bunker's pipeline: a configuration
 * on fresh accounts, production databases, clusters and snapshots in a source
 * account, notifications published on the intake topics, the intake queue
 * polled as Lambda's event source mapping polls it, and the backup account's
 * state read back with its own credentials.
 *
 * Everything here talks to the shared emulator over HTTP with the real SDK;
 * nothing is mocked. Tests isolate themselves with fresh account ids.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { readInventory } from '../../../cli/inventory';
import { localContext } from '../../../cli/local/accounts';
import { LOCAL_OPERATOR_ROLE, type LocalEnvironment } from '../../../cli/local/up';
import { vaultDeps } from '../../../lambdas/adapters/wiring';
import type { InventoryFilter, InventoryRecord } from '../../../lambdas/core/inventory';
import { vaultNames } from '../../../lambdas/core/names';
import type { VaultDeps } from '../../../lambdas/core/pipeline/copy';
import { type Clock, silentLog, systemClock } from '../../../lambdas/core/ports';
import type { KindName } from '../../../lambdas/kinds/types';
import { parseConfig } from '../../../lib/config/load';
import { vaultSettings } from '../../../lib/config/runtime';
import type { BunkerConfig, BunkerConfigInput } from '../../../lib/config/schema';
import { clientConfig, DEFAULT_TEST_REGION } from '../../support/aws';

export const REGION = DEFAULT_TEST_REGION;

/** The tag the default scope selects. */
export const IN_SCOPE_TAG = { Key: 'bunker:backup', Value: 'true' } as const;
/** The tag every out-of-scope database and cluster carries instead. */
export const OUT_OF_SCOPE_TAG = { Key: 'team', Value: 'analytics' } as const;

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

  sqs(account: string): SQSClient {
    return this.keep(new SQSClient(clientConfig(this.endpoint, account, REGION)));
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
  /** Carries the tag of the default scope ({@link IN_SCOPE_TAG}), else {@link OUT_OF_SCOPE_TAG}. */
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
      Tags: [spec.inScope ? IN_SCOPE_TAG : OUT_OF_SCOPE_TAG],
    }),
  );
}

/** A manual snapshot of `dbId`, tagged with `tags`; returns its ARN. */
export async function createSnapshot(
  rds: RDSClient,
  dbId: string,
  snapshotId: string,
  tags: Readonly<Record<string, string>> = {},
): Promise<string> {
  const { DBSnapshot } = await rds.send(
    new CreateDBSnapshotCommand({
      DBInstanceIdentifier: dbId,
      DBSnapshotIdentifier: snapshotId,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
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

export interface ClusterSpec {
  readonly id: string;
  /** Carries the tag of the default scope ({@link IN_SCOPE_TAG}), else {@link OUT_OF_SCOPE_TAG}. */
  readonly inScope: boolean;
  /** Storage key; the default `aws/rds` key when omitted. */
  readonly kmsKeyId?: string;
}

/** An encrypted aurora-postgresql DB cluster. */
export async function createCluster(rds: RDSClient, spec: ClusterSpec): Promise<void> {
  await rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: spec.id,
      Engine: 'aurora-postgresql',
      MasterUsername: 'bunker',
      MasterUserPassword: 'test-only-not-a-secret',
      StorageEncrypted: true,
      KmsKeyId: spec.kmsKeyId,
      Tags: [spec.inScope ? IN_SCOPE_TAG : OUT_OF_SCOPE_TAG],
    }),
  );
}

/** A manual snapshot of the DB cluster `clusterId`, tagged with `tags`; returns its ARN. */
export async function createClusterSnapshot(
  rds: RDSClient,
  clusterId: string,
  snapshotId: string,
  tags: Readonly<Record<string, string>> = {},
): Promise<string> {
  const { DBClusterSnapshot } = await rds.send(
    new CreateDBClusterSnapshotCommand({
      DBClusterIdentifier: clusterId,
      DBClusterSnapshotIdentifier: snapshotId,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  if (!DBClusterSnapshot?.DBClusterSnapshotArn)
    throw new Error(`CreateDBClusterSnapshot ${snapshotId} returned no ARN`);
  return DBClusterSnapshot.DBClusterSnapshotArn;
}

export async function shareClusterSnapshot(rds: RDSClient, snapshotId: string, account: string): Promise<void> {
  await rds.send(
    new ModifyDBClusterSnapshotAttributeCommand({
      DBClusterSnapshotIdentifier: snapshotId,
      AttributeName: 'restore',
      ValuesToAdd: [account],
    }),
  );
}

/** Every DB cluster snapshot the account owns, not those shared with it. */
export async function ownClusterSnapshots(rds: RDSClient): Promise<DBClusterSnapshot[]> {
  const { DBClusterSnapshots } = await rds.send(new DescribeDBClusterSnapshotsCommand({}));
  return DBClusterSnapshots ?? [];
}

export function tagsOf(snapshot: { TagList?: { Key?: string; Value?: string }[] }): Record<string, string> {
  return Object.fromEntries((snapshot.TagList ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

/** When the notifications below say they were published, unless told otherwise. */
export const PUBLISHED_AT = '2026-03-01T04:25:00.000Z';

/**
 * A v2 notification, written out field by field as docs/notification-format.md
 * specifies it and a source agent publishes it.
 */
export function notificationV2(
  sourceAccount: string,
  id: string,
  options: { kind?: KindName; sourceRegion?: string; publishedAt?: string } = {},
): string {
  return JSON.stringify({
    version: 2,
    kind: options.kind ?? 'rds-snapshot',
    sourceAccount,
    sourceRegion: options.sourceRegion ?? REGION,
    id,
    publishedAt: options.publishedAt ?? PUBLISHED_AT,
  });
}

/** A v1 notification (Bunker 0.1's format, RDS DB snapshots by ARN, still accepted). */
export function notificationV1(sourceAccount: string, snapshotArn: string, publishedAt = PUBLISHED_AT): string {
  return JSON.stringify({
    version: 1,
    kind: 'rds-snapshot',
    sourceAccount,
    sourceRegion: REGION,
    snapshotArn,
    publishedAt,
  });
}

/**
 * Publishes `message` on an intake topic with `sns`'s credentials. The
 * emulator does not enforce topic policies, so any account can publish on
 * any topic: what an attacker could do if a policy were wrong. SNS delivers
 * it to the intake queue in its envelope, which names the topic.
 */
export async function publish(sns: SNSClient, topicArn: string, message: string): Promise<void> {
  await sns.send(new PublishCommand({ TopicArn: topicArn, Message: message }));
}

/** The message an SNS envelope carries, or `undefined` when `body` is not one. */
export function envelopedMessage(body: string): string | undefined {
  try {
    const envelope = JSON.parse(body) as { Type?: unknown; Message?: unknown };
    return envelope.Type === 'Notification' && typeof envelope.Message === 'string' ? envelope.Message : undefined;
  } catch {
    return undefined;
  }
}

export type IntakeHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/**
 * The vault's intake queue, polled the way Lambda's event source mapping
 * with ReportBatchItemFailures polls it: a batch of received messages goes
 * to the handler, the ones it did not report as failed are deleted, and the
 * failed ones come back after the visibility timeout (1 s in the local mode).
 */
export class IntakeQueue {
  constructor(
    private readonly sqs: SQSClient,
    readonly url: string,
    private readonly arn: string,
  ) {}

  /** Sends `body` to the queue with SQS SendMessage, not through SNS: it arrives without an envelope. */
  async sendDirectly(body: string): Promise<void> {
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.url, MessageBody: body }));
  }

  /**
   * The next `count` messages as one SQS event, waiting up to `timeoutMs`
   * for them (a failed message becomes visible again after the visibility
   * timeout). Fails when fewer arrive.
   */
  async receive(count: number, timeoutMs = 15_000): Promise<SQSEvent> {
    const records: SQSRecord[] = [];
    const deadline = Date.now() + timeoutMs;
    while (records.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} message(s) on the intake queue, received ${records.length}`);
      }
      const { Messages } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.url,
          MaxNumberOfMessages: Math.min(10, count - records.length),
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      for (const m of Messages ?? []) {
        records.push({
          messageId: m.MessageId ?? '',
          receiptHandle: m.ReceiptHandle ?? '',
          body: m.Body ?? '',
          attributes: (m.Attributes ?? {}) as unknown as SQSRecord['attributes'],
          messageAttributes: {},
          md5OfBody: m.MD5OfBody ?? '',
          eventSource: 'aws:sqs',
          eventSourceARN: this.arn,
          awsRegion: this.arn.split(':')[3] ?? '',
        });
      }
    }
    return { Records: records };
  }

  /** Hands the next `count` messages to `handler` in one batch and deletes the ones it consumed. */
  async deliver(handler: IntakeHandler, count: number): Promise<{ event: SQSEvent; response: SQSBatchResponse }> {
    const event = await this.receive(count);
    const response = await handler(event);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = event.Records.filter((r) => !failed.has(r.messageId));
    if (done.length > 0) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.url,
          Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
    }
    return { event, response };
  }
}

/** The intake queue of `config`'s vault, read as the backup account. */
export function intakeQueue(config: BunkerConfig, env: LocalEnvironment, sqs: SQSClient): IntakeQueue {
  const { account, region } = config.backup;
  return new IntakeQueue(sqs, env.queueUrl, `arn:aws:sqs:${region}:${account}:${vaultNames(config.name).intakeQueue}`);
}

/** The record of `event` whose body is SNS's envelope around `message`. */
export function deliveryOf(event: SQSEvent, message: string): SQSRecord {
  const found = event.Records.find((r) => envelopedMessage(r.body) === message);
  if (!found) throw new Error(`no delivery carries ${message.slice(0, 80)}`);
  return found;
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
  clock: Clock = systemClock,
): Promise<VaultDeps> {
  const context = await localContext(
    endpoint,
    config.backup.account,
    config.backup.region,
    vaultNames(config.name).intakeRole,
  );
  return vaultDeps(vaultSettings(config, env.backupKeyArn), context, silentLog, clock);
}
