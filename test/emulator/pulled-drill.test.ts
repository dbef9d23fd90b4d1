/**
 * Drills of the pulled kinds on the emulator, through `pulledDrillModules`:
 * a parameter and a table pulled by the real pulls (through the source
 * account's puller role) into a vault bucket and inventory made as the vault
 * stack makes them, then drilled. What the drill made and left is read with
 * boto3, which shares nothing with Bunker's adapters.
 */
import { BatchWriteItemCommand, CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { clientConfig as sdkConfig } from '../../lambdas/adapters/aws-context';
import { pulledDrillModules, SdkDrillTables } from '../../lambdas/adapters/drill/pulled';
import { ssmSourceFor } from '../../lambdas/adapters/pull/ssm-source';
import { SdkTableSource } from '../../lambdas/adapters/pull/table-source';
import { createTableInput } from '../../lambdas/adapters/pull/table-target';
import type { DrillSettings } from '../../lambdas/core/drill/settings';
import type { DrillModule, DrillModules, DrillSubject } from '../../lambdas/core/drill/types';
import { exportBucketName, sourceNames } from '../../lambdas/core/names';
import { silentLog, systemClock } from '../../lambdas/core/ports';
import { pullTables } from '../../lambdas/core/pull/dynamodb/pull';
import { loadFingerprint } from '../../lambdas/core/pull/fingerprint';
import type { DrillTables } from '../../lambdas/core/pull/restore/drill';
import { runPull } from '../../lambdas/core/pull/run';
import type { PulledConfigKey, PullContext } from '../../lambdas/core/pull/types';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryTables } from '../../sim/memory-tables';
import { freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { MemoryDrillTables } from '../support/drill-tables';
import { emulatorEndpoint } from '../support/emulator';
import { plainTableSpec } from '../support/tables';
import { boto3 } from './support/boto3';
import { createPullVault, PULL_PREFIX, type PullVault } from './support/pull';

const endpoint = emulatorEndpoint();
const REGION = 'eu-west-1';

let source: string;
let vault: PullVault;
let modules: DrillModules;
const cleanup: (() => void)[] = [];

beforeAll(async () => {
  source = freshAccountId();
  vault = await createPullVault(endpoint, freshAccountId(), REGION);
  cleanup.push(() => vault.destroy());
  const own = await localContext(endpoint, source, REGION, TEST_ROLE_NAME);
  const puller = await localContext(endpoint, source, REGION, sourceNames(PULL_PREFIX, REGION).pullerRole);
  const ssm = new SSMClient(sdkConfig(own));
  const dynamo = new DynamoDBClient(sdkConfig(own));
  cleanup.push(
    () => ssm.destroy(),
    () => dynamo.destroy(),
  );
  for (const name of ['/app/db', '/app/api']) {
    await ssm.send(new PutParameterCommand({ Name: name, Value: `drill-canary-${name}`, Type: 'SecureString' }));
  }
  await dynamo.send(new CreateTableCommand(createTableInput('orders', { ...plainTableSpec(), arn: '' })));
  await dynamo.send(
    new BatchWriteItemCommand({
      RequestItems: {
        orders: [0, 1, 2].map((i) => ({ PutRequest: { Item: { pk: { S: `item-${i}` }, n: { N: String(i) } } } })),
      },
    }),
  );
  const ctx = async (kind: PulledConfigKey): Promise<PullContext> => ({
    job: { kind, account: source, region: REGION },
    store: vault.store,
    records: vault.records,
    fingerprint: await loadFingerprint(vault.store),
    clock: systemClock,
    log: silentLog,
    deadline: Date.now() + 600_000,
    continueLater: async () => {
      throw new Error('a run this small never continues');
    },
  });
  await runPull(await ctx('ssm'), { ssm: { scope: { ids: ['/app/db', '/app/api'] } } }, { ssm: ssmSourceFor(puller) });
  await pullTables(
    await ctx('dynamodb'),
    {
      scope: { ids: ['orders'] },
      scanReadShare: 1,
      scanReadUnitsPerSecond: 1000,
      scanSegments: 1,
      fullExportEveryHours: 24,
    },
    new SdkTableSource(puller, exportBucketName(PULL_PREFIX, source, REGION), source),
  );
  const settings: DrillSettings = {
    prefix: PULL_PREFIX,
    partition: 'aws',
    backupAccount: vault.account,
    backupRegion: REGION,
    inventoryTable: vault.table,
    backupKeyArn: vault.keyArn,
    vaultBucket: vault.bucket,
    place: { vpcId: 'vpc-1', subnetIds: ['subnet-1'], securityGroupId: 'sg-1', dbSubnetGroup: 'drills' },
    targetSeconds: { rds: 1, aurora: 1, ebs: 1, ami: 1, ssm: 60, secrets: 60, dynamodb: 600 },
    olderCopies: false,
    maxAgeDays: 7,
    kinds: ['ssm', 'dynamodb'],
    alertsTopicArn: `arn:aws:sns:${REGION}:${vault.account}:alerts`,
  };
  modules = pulledDrillModules(vault.context, settings);
}, 60_000);

afterAll(() => {
  for (const destroy of cleanup.splice(0)) destroy();
});

async function subjectOf(kind: DrillSubject['kind'], artifactId: string): Promise<DrillSubject> {
  const record = await vault.records.get(artifactId);
  if (!record?.latest) throw new Error(`${artifactId} was not pulled`);
  return {
    kind,
    account: source,
    region: REGION,
    resource: record.sourceId,
    artifactId,
    copyId: record.latest.objectKey,
    copyRegion: REGION,
    pick: 'newest',
  };
}

async function drill(module: DrillModule, drillId: string, subject: DrillSubject) {
  const handle = await module.start(drillId, subject);
  let progress = await module.progress(handle, subject);
  for (let i = 0; i < 5 && progress.state === 'pending'; i += 1) progress = await module.progress(handle, subject);
  const checks = progress.state === 'usable' ? await module.validate(handle, subject) : [];
  return { handle, progress, checks };
}

const failing = (checks: readonly { name: string; ok: boolean }[]) => checks.filter((c) => !c.ok).map((c) => c.name);

describe('pulled drills on the emulator', () => {
  it('passes a parameter pulled through the puller role, and never shows its value', async () => {
    const subject = await subjectOf('ssm', `ssm-parameter:${source}:${REGION}:/app/db`);
    const result = await drill(modules.ssm as DrillModule, 'ssm-drill-1', subject);
    expect(result.progress.state).toBe('usable');
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ['engine answers', true],
      ['checksum', true],
      ['count', true],
      ['key', true],
      ['written once', true],
    ]);
    expect(JSON.stringify(result)).not.toContain('drill-canary');
  });

  it('fails the checksum of a vault object written over with other bytes under the same key', async () => {
    const subject = await subjectOf('ssm', `ssm-parameter:${source}:${REGION}:/app/api`);
    // As an attacker with the bucket would: a new version at the same key, under the backup-data key.
    await boto3(
      endpoint,
      vault.account,
      `
s3 = client('s3')
body = json.loads(s3.get_object(Bucket=ARGS['bucket'], Key=ARGS['key'])['Body'].read())
body['data'] = 'attacker-chosen'
s3.put_object(Bucket=ARGS['bucket'], Key=ARGS['key'], Body=json.dumps(body).encode(),
              ServerSideEncryption='aws:kms', SSEKMSKeyId=ARGS['keyArn'])
out('ok')
`,
      { bucket: vault.bucket, key: subject.copyId, keyArn: vault.keyArn },
      REGION,
    );
    const result = await drill(modules.ssm as DrillModule, 'ssm-drill-2', subject);
    expect(failing(result.checks)).toEqual(['checksum', 'written once']);
  });

  it('restores a table into a drill table under the backup-data key, validates it, and leaves nothing', async () => {
    const listTables = () =>
      boto3<string[]>(endpoint, vault.account, `out(client('dynamodb').list_tables()['TableNames'])`, {}, REGION);
    const before = await listTables();
    const subject = await subjectOf('dynamodb', `dynamodb-table:${source}:${REGION}:orders`);
    const module = modules.dynamodb as DrillModule;
    const drillId = `dynamodb:${source}:${REGION}:orders:2026-11-22T00:00:00.000Z`;
    const result = await drill(module, drillId, subject);
    expect(result.progress).toEqual({ state: 'usable', detail: '3 items loaded' });
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ['engine answers', true],
      ['item count', true],
      ['checksum', true],
      ['schema', true],
      ['dump key', true],
      ['written once', true],
      ['key', true],
    ]);
    const made = await boto3<{ key: string; tags: Record<string, string>; count: number }>(
      endpoint,
      vault.account,
      `
d = client('dynamodb')
t = d.describe_table(TableName=ARGS['table'])['Table']
tags = {x['Key']: x['Value'] for x in d.list_tags_of_resource(ResourceArn=t['TableArn'])['Tags']}
out({'key': t['SSEDescription']['KMSMasterKeyArn'], 'tags': tags, 'count': d.scan(TableName=ARGS['table'])['Count']})
`,
      { table: result.handle.table },
      REGION,
    );
    expect(made).toEqual({
      key: vault.keyArn,
      tags: { 'bunker:drill': drillId, 'bunker:drill-loaded': '3' },
      count: 3,
    });
    expect(before).not.toContain(result.handle.table);
    expect(await module.tearDown(result.handle, subject)).toBe(true);
    expect(await listTables()).toEqual(before);
  });
});

describe.each([
  [
    'memory',
    () => new MemoryDrillTables(new MemoryTables(vault.account, REGION, new ManualClock('2026-11-22T00:00:00Z'))),
  ],
  ['emulator', () => new SdkDrillTables(vault.context)],
] as [string, () => DrillTables][])('drill tables contract (%s)', (_name, make) => {
  it('creates once, tags, describes its key and state, and deletes idempotently', async () => {
    const tables = make();
    const spec = { ...plainTableSpec({ name: 'contract-drill' }), arn: '' };
    expect(await tables.create('contract-drill', spec, vault.keyArn, { 'bunker:drill': 'c1' })).toBe(true);
    expect(await tables.create('contract-drill', spec, vault.keyArn, { 'bunker:drill': 'c2' })).toBe(false);
    await tables.tag('contract-drill', { 'bunker:drill-loaded': '7' });
    expect(await tables.describe('contract-drill')).toEqual({
      status: 'ACTIVE',
      kmsKeyArn: vault.keyArn,
      tags: { 'bunker:drill': 'c1', 'bunker:drill-loaded': '7' },
    });
    expect((await tables.describeTable('contract-drill'))?.keySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
    ]);
    await tables.delete('contract-drill');
    await tables.delete('contract-drill');
    expect(await tables.describe('contract-drill')).toBeUndefined();
  });
});
