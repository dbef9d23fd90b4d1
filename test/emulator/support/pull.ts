/**
 * The backup account's side of pulled backups on the emulator, made the way
 * the vault stack makes it: the vault bucket (Object Lock with a default
 * retention, so versioned; SSE-KMS under a backup-data key) and the
 * inventory table with both indexes (`by-status` for copies,
 * `by-pull-scope` for pulled records), and the adapters over them.
 */
import {
  BillingMode,
  CreateTableCommand,
  DynamoDBClient,
  ProjectionType,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  PutBucketEncryptionCommand,
  PutObjectLockConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { localContext } from '../../../cli/local/accounts';
import type { AwsContext } from '../../../lambdas/adapters/aws-context';
import { clientConfig as sdkConfig } from '../../../lambdas/adapters/aws-context';
import { DynamoPulledInventory } from '../../../lambdas/adapters/pull/dynamo-pulled';
import { S3VaultStore, vaultS3Client } from '../../../lambdas/adapters/pull/s3-vault-store';
import { vaultBucketName, vaultNames } from '../../../lambdas/core/names';
import { DEFAULT_TEST_REGION, TEST_ROLE_NAME } from '../../support/aws';

export const PULL_PREFIX = 'bunker';

export interface PullVault {
  readonly account: string;
  readonly region: string;
  readonly context: AwsContext;
  readonly bucket: string;
  readonly table: string;
  readonly keyArn: string;
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  readonly store: S3VaultStore;
  readonly records: DynamoPulledInventory;
  destroy(): void;
}

/** Makes the vault bucket, the backup-data key and the inventory table in `account`, and the adapters over them. */
export async function createPullVault(
  endpoint: string,
  account: string,
  region: string = DEFAULT_TEST_REGION,
  retentionDays = 1,
): Promise<PullVault> {
  const context = await localContext(endpoint, account, region, TEST_ROLE_NAME);
  const names = vaultNames(PULL_PREFIX);
  const kms = new KMSClient(sdkConfig(context));
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'bunker backup-data key (test)' }));
  const keyArn = KeyMetadata?.Arn;
  if (!keyArn) throw new Error('CreateKey returned no key ARN');
  await kms.send(new CreateAliasCommand({ AliasName: names.backupKeyAlias, TargetKeyId: keyArn }));
  kms.destroy();

  const bucket = vaultBucketName(PULL_PREFIX, account, region);
  const s3 = vaultS3Client(context);
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      ObjectLockEnabledForBucket: true,
      ...(region === 'us-east-1'
        ? {}
        : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
    }),
  );
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket: bucket,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: retentionDays } },
      },
    }),
  );
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [
          {
            ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn },
            BucketKeyEnabled: true,
          },
        ],
      },
    }),
  );

  const table = names.inventoryTable;
  const dynamo = new DynamoDBClient(sdkConfig(context));
  await dynamo.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: BillingMode.PAY_PER_REQUEST,
      AttributeDefinitions: [
        { AttributeName: 'artifactId', AttributeType: 'S' },
        { AttributeName: 'status', AttributeType: 'S' },
        { AttributeName: 'updatedAt', AttributeType: 'S' },
        { AttributeName: 'pullScope', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: names.inventoryStatusIndex,
          KeySchema: [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'updatedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: ProjectionType.ALL },
        },
        {
          IndexName: names.inventoryPullScopeIndex,
          KeySchema: [
            { AttributeName: 'pullScope', KeyType: 'HASH' },
            { AttributeName: 'artifactId', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: ProjectionType.ALL },
        },
      ],
    }),
  );
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: table });

  return {
    account,
    region,
    context,
    bucket,
    table,
    keyArn,
    s3,
    dynamo,
    store: new S3VaultStore(s3, bucket, keyArn),
    records: new DynamoPulledInventory(dynamo, table, names.inventoryPullScopeIndex),
    destroy: () => {
      s3.destroy();
      dynamo.destroy();
    },
  };
}
