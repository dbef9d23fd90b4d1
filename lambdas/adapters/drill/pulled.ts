/**
 * The drill modules of the pulled kinds (SSM parameters, secrets, DynamoDB
 * tables) on AWS: the vault store and the pulled records as the pull wrote
 * them, S3's own word on each held object (its key, its versions), and the
 * backup account's DynamoDB for drill tables. The decisions are in
 * `lambdas/core/pull/restore/drill.ts`; the drill handler spreads these
 * modules next to the snapshot kinds' (`drillModules`).
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTagsOfResourceCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  TagResourceCommand,
} from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DrillModules } from '../../core/drill/types';
import type { DrillSettings } from '../../core/drill/settings';
import { vaultNames } from '../../core/names';
import { readFingerprint } from '../../core/pull/fingerprint';
import type { TableSpec } from '../../core/pull/dynamodb/types';
import {
  type DrillTable,
  type DrillTables,
  tableDrillModule,
  valueDrillModule,
  type VaultObjectFacts,
  type VaultObjectInspector,
} from '../../core/pull/restore/drill';
import type { Fingerprint } from '../../core/pull/types';
import { type AwsContext, clientConfig } from '../aws-context';
import { tagList, tagsOf } from '../reader-role';
import { DynamoPulledInventory } from '../pull/dynamo-pulled';
import { S3VaultStore, vaultS3Client } from '../pull/s3-vault-store';
import { createTableInput, SdkTableTarget } from '../pull/table-target';

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;

/** HeadObject for the key, ListObjectVersions for the versions of exactly that key. */
export class S3ObjectInspector implements VaultObjectInspector {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async facts(key: string): Promise<VaultObjectFacts | undefined> {
    let kmsKeyId: string | undefined;
    try {
      kmsKeyId = (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).SSEKMSKeyId;
    } catch (error) {
      if ((error as { name?: string })?.name === 'NotFound' || statusOf(error) === 404) return undefined;
      throw error;
    }
    // One page (S3 has no paginator for versions): a count above one fails the check whatever it is. The prefix
    // also matches longer keys, so only this key's versions count.
    const page = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: key }));
    const versions = (page.Versions ?? []).filter((v) => v.Key === key).length;
    return { ...(kmsKeyId ? { kmsKeyId } : {}), versions };
  }
}

/** Drill tables in the backup account: made from a manifest's spec by the restore's own CreateTable input. */
export class SdkDrillTables extends SdkTableTarget implements DrillTables {
  private readonly client: DynamoDBClient;

  constructor(context: AwsContext) {
    super(context);
    this.client = new DynamoDBClient(clientConfig(context));
  }

  async create(name: string, spec: TableSpec, kmsKeyArn: string, tags: Readonly<Record<string, string>>) {
    try {
      await this.client.send(
        new CreateTableCommand({
          ...createTableInput(name, spec),
          SSESpecification: { Enabled: true, SSEType: 'KMS', KMSMasterKeyId: kmsKeyArn },
          Tags: tagList(tags),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ResourceInUseException) return false;
      throw error;
    }
  }

  async describe(name: string): Promise<DrillTable | undefined> {
    try {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: name }));
      if (!Table?.TableArn) return undefined;
      const { Tags } = await this.client.send(new ListTagsOfResourceCommand({ ResourceArn: Table.TableArn }));
      return {
        status: Table.TableStatus ?? 'UNKNOWN',
        ...(Table.SSEDescription?.KMSMasterKeyArn ? { kmsKeyArn: Table.SSEDescription.KMSMasterKeyArn } : {}),
        tags: tagsOf(Tags),
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async tag(name: string, tags: Readonly<Record<string, string>>): Promise<void> {
    const { Table } = await this.client.send(new DescribeTableCommand({ TableName: name }));
    await this.client.send(new TagResourceCommand({ ResourceArn: Table?.TableArn, Tags: tagList(tags) }));
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteTableCommand({ TableName: name }));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return;
      throw error;
    }
  }

  override destroy(): void {
    super.destroy();
    this.client.destroy();
  }
}

/**
 * The drill modules of `ssm`, `secrets` and `dynamodb`, acting as the drill
 * function (`ctx`: its Region, and on the emulator its endpoint and
 * credentials) in the backup account.
 */
export function pulledDrillModules(ctx: AwsContext, settings: DrillSettings): DrillModules {
  const s3 = vaultS3Client(ctx);
  const store = new S3VaultStore(s3, settings.vaultBucket, settings.backupKeyArn);
  const records = new DynamoPulledInventory(
    new DynamoDBClient(clientConfig(ctx)),
    settings.inventoryTable,
    vaultNames(settings.prefix).inventoryPullScopeIndex,
  );
  let fingerprint: Promise<Fingerprint> | undefined;
  const deps = {
    prefix: settings.prefix,
    backupKeyArn: settings.backupKeyArn,
    store,
    records,
    // Read once per container; a failed read is tried again by the next drill.
    fingerprint: () =>
      (fingerprint ??= readFingerprint(store).catch((error: unknown) => {
        fingerprint = undefined;
        throw error;
      })),
    objects: new S3ObjectInspector(s3, settings.vaultBucket),
  };
  return {
    ssm: valueDrillModule('ssm', deps),
    secrets: valueDrillModule('secrets', deps),
    dynamodb: tableDrillModule({ ...deps, tables: new SdkDrillTables(ctx) }),
  };
}
