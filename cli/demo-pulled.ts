/**
 * The demo's pulled backups: parameters (one a SecureString), secrets (one
 * string with a previous version, one binary) and two DynamoDB tables (one
 * with point-in-time recovery, exported; one without, dumped by scan) in
 * the payments account. After the backup cycle the demo restores them into
 * a recovery account and compares what lands there with production, read
 * with plain SDK clients.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  ScanCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { HeadObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { clientConfig } from '../lambdas/adapters/aws-context';
import { sameKmsKey } from '../lambdas/core/keys';
import { vaultBucketName } from '../lambdas/core/names';
import type { BunkerConfig } from '../lib/config/schema';
import { localContext } from './local/accounts';
import { LOCAL_OPERATOR_ROLE } from './local/up';

/** The account the demo restores into: a new account, as after losing production. */
export const DEMO_RECOVERY_ACCOUNT = '555555555555';

const SCOPE_TAG = { Key: 'bunker:backup', Value: 'true' };

/** Values the demo plants; none may ever appear in a log line or an inventory record. */
export const DEMO_CANARIES = {
  dbPassword: 'canary-db-password-7d1e0b',
  dbPasswordRotated: 'canary-db-password-rotated-42c9aa',
  apiKey: 'canary-api-key-5f3b19',
  apiKeyPrevious: 'canary-api-key-previous-0e8d27',
} as const;

export interface DemoPulled {
  readonly account: string;
  readonly region: string;
  readonly parameters: readonly string[];
  readonly secrets: readonly string[];
  readonly tables: { readonly name: string; readonly items: number; readonly pitr: boolean }[];
}

export async function pulledClientsOf(endpoint: string, account: string, region: string) {
  const config = clientConfig(await localContext(endpoint, account, region, LOCAL_OPERATOR_ROLE));
  return {
    ssm: new SSMClient(config),
    secrets: new SecretsManagerClient(config),
    dynamodb: new DynamoDBClient(config),
  };
}

function orderItem(i: number) {
  return {
    customerId: { S: `customer-${i % 25}` },
    orderId: { S: `order-${String(i).padStart(5, '0')}` },
    placedAt: { S: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString() },
    status: { S: i % 7 === 0 ? 'refunded' : 'paid' },
    totalCents: { N: String(1000 + ((i * 37) % 9000)) },
  };
}

function sessionItem(i: number) {
  return {
    sessionId: { S: `session-${i}` },
    userId: { S: `user-${i % 40}` },
    expiresAt: { N: String(1_900_000_000 + i) },
    ...(i % 5 === 0 ? { flags: { SS: ['beta', 'mobile'] } } : {}),
  };
}

async function writeItems(dynamodb: DynamoDBClient, table: string, items: Record<string, unknown>[]) {
  for (let i = 0; i < items.length; i += 25) {
    await dynamodb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item: Item as never } })),
        },
      }),
    );
  }
}

/** Parameters, secrets and tables in the first source account; a few out of scope. */
export async function seedPulled(
  config: BunkerConfig,
  endpoint: string,
  progress: (line: string) => void,
): Promise<DemoPulled> {
  const account = config.sources[0].account;
  const region = config.sources[0].regions[0];
  const { ssm, secrets, dynamodb } = await pulledClientsOf(endpoint, account, region);

  const parameters: [string, 'String' | 'StringList' | 'SecureString', string][] = [
    ['/payments/db/host', 'String', `payments-db.${account}.${region}.rds.amazonaws.com`],
    ['/payments/db/password', 'SecureString', DEMO_CANARIES.dbPassword],
    ['/payments/feature-flags', 'StringList', 'ledger-v2,instant-refunds'],
    ['/payments/queue-arn', 'String', `arn:aws:sqs:${region}:${account}:payments-events`],
    ...Array.from(
      { length: 12 },
      (_, i) => [`/payments/limits/tier-${i + 1}`, 'String', String((i + 1) * 500)] as [string, 'String', string],
    ),
  ];
  for (const [Name, Type, Value] of parameters) {
    await ssm.send(new PutParameterCommand({ Name, Type, Value, Tags: [SCOPE_TAG] }));
  }
  await ssm.send(new PutParameterCommand({ Name: '/payments/scratch', Type: 'String', Value: 'not tagged' }));
  await ssm.send(
    new PutParameterCommand({
      Name: '/analytics/token',
      Type: 'String',
      Value: 'outside the paths',
      Tags: [SCOPE_TAG],
    }),
  );
  progress(
    `  ${account}: ${parameters.length} tagged parameters under /payments/ (one SecureString), one untagged, one outside the paths`,
  );

  await secrets.send(
    new CreateSecretCommand({
      Name: 'payments/api-key',
      SecretString: DEMO_CANARIES.apiKeyPrevious,
      Tags: [SCOPE_TAG],
    }),
  );
  await secrets.send(new PutSecretValueCommand({ SecretId: 'payments/api-key', SecretString: DEMO_CANARIES.apiKey }));
  await secrets.send(
    new CreateSecretCommand({
      Name: 'payments/signing-key',
      SecretBinary: Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]),
      Tags: [SCOPE_TAG],
    }),
  );
  await secrets.send(new CreateSecretCommand({ Name: 'payments/untagged', SecretString: 'not in scope' }));
  progress(`  ${account}: secrets payments/api-key (current and previous versions), payments/signing-key (binary)`);

  await dynamodb.send(
    new CreateTableCommand({
      TableName: 'payments-orders',
      AttributeDefinitions: [
        { AttributeName: 'customerId', AttributeType: 'S' },
        { AttributeName: 'orderId', AttributeType: 'S' },
        { AttributeName: 'placedAt', AttributeType: 'S' },
        { AttributeName: 'status', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'customerId', KeyType: 'HASH' },
        { AttributeName: 'orderId', KeyType: 'RANGE' },
      ],
      LocalSecondaryIndexes: [
        {
          IndexName: 'by-placed-at',
          KeySchema: [
            { AttributeName: 'customerId', KeyType: 'HASH' },
            { AttributeName: 'placedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-status',
          KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['totalCents'] },
          ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
        },
      ],
      BillingMode: 'PROVISIONED',
      ProvisionedThroughput: { ReadCapacityUnits: 20, WriteCapacityUnits: 20 },
      Tags: [SCOPE_TAG],
    }),
  );
  await dynamodb.send(
    new CreateTableCommand({
      TableName: 'payments-sessions',
      AttributeDefinitions: [{ AttributeName: 'sessionId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'sessionId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      Tags: [SCOPE_TAG],
    }),
  );
  for (const TableName of ['payments-orders', 'payments-sessions']) {
    await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName });
  }
  await dynamodb.send(
    new UpdateContinuousBackupsCommand({
      TableName: 'payments-orders',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    }),
  );
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: 'payments-sessions',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    }),
  );
  const tables = [
    { name: 'payments-orders', items: 300, pitr: true },
    { name: 'payments-sessions', items: 200, pitr: false },
  ];
  await writeItems(
    dynamodb,
    'payments-orders',
    Array.from({ length: 300 }, (_, i) => orderItem(i)),
  );
  await writeItems(
    dynamodb,
    'payments-sessions',
    Array.from({ length: 200 }, (_, i) => sessionItem(i)),
  );
  progress(
    `  ${account}: table payments-orders (300 items, point-in-time recovery, a local and a global index), payments-sessions (200 items, on demand, TTL, no point-in-time recovery)`,
  );
  return {
    account,
    region,
    parameters: parameters.map(([name]) => name),
    secrets: ['payments/api-key', 'payments/signing-key'],
    tables,
  };
}

/** The rotation the demo makes between two pulls: the vault keeps both versions. */
export async function rotatePassword(endpoint: string, pulled: DemoPulled): Promise<void> {
  const { ssm } = await pulledClientsOf(endpoint, pulled.account, pulled.region);
  await ssm.send(
    new PutParameterCommand({
      Name: '/payments/db/password',
      Type: 'SecureString',
      Value: DEMO_CANARIES.dbPasswordRotated,
      Overwrite: true,
    }),
  );
}

export interface PulledCheck {
  readonly ok: boolean;
  readonly line: string;
}

const text = (value: Uint8Array | string | undefined) =>
  value === undefined ? undefined : typeof value === 'string' ? value : Buffer.from(value).toString('base64');

/**
 * Everything pulled, restored into the recovery account with the source
 * account's id rewritten, then compared with production, read with plain
 * SDK clients in both accounts; and one parameter restored as it was
 * before the rotation.
 */
export async function restoreAndCompare(
  config: BunkerConfig,
  endpoint: string,
  pulled: DemoPulled,
  beforeRotation: string,
  progress: (line: string) => void,
): Promise<PulledCheck[]> {
  const { restoreTableCommand, restoreValuesCommand } = await import('./restore');
  const say = (line: string) => progress(`  ${line}`);
  const base = {
    account: pulled.account,
    region: pulled.region,
    toAccount: DEMO_RECOVERY_ACCOUNT,
    toRegion: pulled.region,
    endpoint,
    rewrites: [`${pulled.account}=${DEMO_RECOVERY_ACCOUNT}`],
  };
  const ssmRestore = await restoreValuesCommand(config, { ...base, kind: 'ssm' }, say);
  const secretsRestore = await restoreValuesCommand(config, { ...base, kind: 'secrets' }, say);
  const earlier = await restoreValuesCommand(
    config,
    {
      ...base,
      kind: 'ssm',
      namePrefix: '/payments/db/password',
      at: beforeRotation,
      targetPrefix: '/before-rotation',
      rewrites: [],
    },
    say,
  );
  const tableRestores = [];
  for (const table of pulled.tables) {
    tableRestores.push(
      await restoreTableCommand(config, { ...base, table: table.name, toTable: table.name, rewrites: [] }, say),
    );
  }

  const source = await pulledClientsOf(endpoint, pulled.account, pulled.region);
  const target = await pulledClientsOf(endpoint, DEMO_RECOVERY_ACCOUNT, pulled.region);
  const rewrite = (value: string) => value.split(pulled.account).join(DEMO_RECOVERY_ACCOUNT);
  let parametersEqual = 0;
  for (const name of pulled.parameters) {
    const [a, b] = await Promise.all(
      [source, target].map(
        async (c) => (await c.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter,
      ),
    );
    if (a?.Value !== undefined && b?.Value === rewrite(a.Value) && a.Type === b.Type) parametersEqual += 1;
  }
  let secretsEqual = 0;
  for (const name of pulled.secrets) {
    const [a, b] = await Promise.all(
      [source, target].map((c) => c.secrets.send(new GetSecretValueCommand({ SecretId: name }))),
    );
    const aText = a.SecretString !== undefined ? rewrite(a.SecretString) : text(a.SecretBinary);
    if (aText !== undefined && aText === (b.SecretString ?? text(b.SecretBinary))) secretsEqual += 1;
  }
  let tablesEqual = 0;
  for (const table of pulled.tables) {
    const [a, b] = await Promise.all(
      [source, target].map(async (c) => {
        const { Table } = await c.dynamodb.send(new DescribeTableCommand({ TableName: table.name }));
        const { Count } = await c.dynamodb.send(new ScanCommand({ TableName: table.name, Select: 'COUNT' }));
        return {
          count: Count,
          keys: JSON.stringify(Table?.KeySchema),
          billing: Table?.BillingModeSummary?.BillingMode ?? 'PROVISIONED',
          lsi: JSON.stringify((Table?.LocalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.Projection])),
          gsi: JSON.stringify((Table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.Projection])),
        };
      }),
    );
    if (JSON.stringify(a) === JSON.stringify(b) && a.count === table.items) tablesEqual += 1;
  }
  const { Parameter: old } = await target.ssm.send(
    new GetParameterCommand({ Name: '/before-rotation/payments/db/password', WithDecryption: true }),
  );
  return [
    {
      ok: ssmRestore.ok && secretsRestore.ok && parametersEqual === pulled.parameters.length,
      line: `${parametersEqual} of ${pulled.parameters.length} parameter(s) restored into ${DEMO_RECOVERY_ACCOUNT} equal to production, account id rewritten (read back with GetParameter)`,
    },
    {
      ok: secretsRestore.ok && secretsEqual === pulled.secrets.length,
      line: `${secretsEqual} of ${pulled.secrets.length} secret(s) (text and binary) restored equal to production`,
    },
    {
      ok: tableRestores.every((r) => r.ok) && tablesEqual === pulled.tables.length,
      line: `${tablesEqual} of ${pulled.tables.length} table(s) restored with their keys, indexes, billing mode and every item (count and checksum checked)`,
    },
    {
      ok: earlier.ok && old?.Value === DEMO_CANARIES.dbPassword,
      line: `restore --at ${beforeRotation} brought back the password as it was before the rotation`,
    },
  ];
}

/** The canary values the demo planted that appear in `texts` (log lines, inventory records): none, or the demo fails. */
export function canariesIn(texts: readonly string[]): string[] {
  return Object.values(DEMO_CANARIES).filter((canary) => texts.some((t) => t.includes(canary)));
}

/**
 * Every object in the vault bucket, read back with a plain S3 client in the
 * backup account: how many there are, and how many are encrypted under the
 * backup-data key and locked.
 */
export async function vaultObjects(
  config: BunkerConfig,
  endpoint: string,
  backupKeyArn: string,
): Promise<{ objects: number; underBackupKey: number; locked: number }> {
  const context = await localContext(endpoint, config.backup.account, config.backup.region, LOCAL_OPERATOR_ROLE);
  const s3 = new S3Client({ ...clientConfig(context), forcePathStyle: true });
  const Bucket = vaultBucketName(config.name, config.backup.account, config.backup.region);
  let objects = 0;
  let underBackupKey = 0;
  let locked = 0;
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket })) {
    for (const { Key } of page.Contents ?? []) {
      const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
      objects += 1;
      if (head.ServerSideEncryption === 'aws:kms' && head.SSEKMSKeyId && sameKmsKey(head.SSEKMSKeyId, backupKeyArn)) {
        underBackupKey += 1;
      }
      if (head.ObjectLockMode && head.ObjectLockRetainUntilDate && head.ObjectLockRetainUntilDate > new Date()) {
        locked += 1;
      }
    }
  }
  return { objects, underBackupKey, locked };
}
