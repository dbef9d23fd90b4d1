/**
 * The auditor's adapters on the emulator. The audit records run one
 * contract against the in-memory double (sim/memory-audit.ts) and the
 * DynamoDB adapter; discovery through the reader role is read back against
 * what RDS and EC2 report to plain SDK calls in the source account.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSnapshotCommand, CreateVolumeCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { ReaderRoleDiscovery } from '../../lambdas/adapters/audit/discovery';
import { DynamoAuditRecords } from '../../lambdas/adapters/audit/dynamo-audit-records';
import { clientConfig as sdkConfig } from '../../lambdas/adapters/aws-context';
import type { AuditRecord, AuditRecords } from '../../lambdas/core/audit/types';
import { MemoryAuditRecords } from '../../sim/memory-audit';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { createDatabase, createSnapshot, REGION, TestClients } from './support/bunker';
import { Ec2Accounts } from './support/ec2';

const endpoint = emulatorEndpoint();
const aws = new TestClients(endpoint);
const ec2Accounts = new Ec2Accounts(endpoint);
afterAll(() => {
  aws.destroy();
  ec2Accounts.destroy();
});

const record = (over: Partial<AuditRecord> = {}): AuditRecord => ({
  artifactId: 'audit:rds-snapshot:222222222222:eu-west-1:orders',
  auditScope: 'rds-snapshot:222222222222:eu-west-1',
  kind: 'rds-snapshot',
  account: '222222222222',
  region: REGION,
  resource: 'orders',
  state: 'breach',
  reason: 'late',
  since: '2026-03-02T12:00:00.000Z',
  updatedAt: '2026-03-02T12:00:00.000Z',
  version: 1,
  ...over,
});

/** A fresh account's inventory-shaped table, and a plain document client on it for the other records. */
async function emulatorRecords(): Promise<{ records: AuditRecords; putOther(item: object): Promise<void> }> {
  const account = freshAccountId();
  const context = await localContext(endpoint, account, REGION, 'bunker-audit');
  const dynamo = new DynamoDBClient(sdkConfig(context));
  await dynamo.send(
    new CreateTableCommand({
      TableName: 'bunker-inventory',
      AttributeDefinitions: [{ AttributeName: 'artifactId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const doc = DynamoDBDocumentClient.from(dynamo);
  return {
    records: new DynamoAuditRecords(dynamo, 'bunker-inventory'),
    putOther: async (item) => {
      await doc.send(new PutCommand({ TableName: 'bunker-inventory', Item: item }));
    },
  };
}

describe.each([
  [
    'memory',
    async () => {
      const records = new MemoryAuditRecords();
      // The double holds audit records only: the others live in other doubles.
      return { records, putOther: async () => {} };
    },
  ],
  ['emulator', emulatorRecords],
])('AuditRecords contract (%s)', (_name, make) => {
  it('creates a record once: a second create answers false and keeps the first', async () => {
    const { records } = await make();
    expect(await records.create(record())).toBe(true);
    expect(await records.create(record({ reason: 'failed' }))).toBe(false);
    expect(await records.get(record().artifactId)).toEqual(record());
  });

  it('replaces only over the version it read', async () => {
    const { records } = await make();
    await records.create(record());
    const ended = record({ state: 'ok', reason: undefined, since: '2026-03-02T13:00:00.000Z', version: 2 });
    expect(await records.replace(record(), ended)).toBe(true);
    expect(await records.replace(record(), record({ version: 2, reason: 'stuck' }))).toBe(false);
    expect(await records.get(record().artifactId)).toMatchObject({ state: 'ok', version: 2 });
  });

  it('lists and gets audit records only, never a copy or pulled record of the same table', async () => {
    const { records, putOther } = await make();
    await records.create(record());
    await putOther({ artifactId: 'rds-snapshot:222222222222:eu-west-1:snap', status: 'available', version: 1 });
    await putOther({
      artifactId: 'ssm-parameter:222222222222:eu-west-1:/a',
      pullScope: 'x',
      state: 'held',
      version: 1,
    });
    expect((await records.list()).map((r) => r.artifactId)).toEqual([record().artifactId]);
    expect(await records.get('ssm-parameter:222222222222:eu-west-1:/a')).toBeUndefined();
  });
});

describe('ReaderRoleDiscovery (bunker moto launcher)', () => {
  it('lists DB instances with their tags and the time of their newest production snapshot', async () => {
    const source = freshAccountId();
    const rds = aws.rds(source);
    await createDatabase(rds, { id: 'orders', inScope: true });
    await createDatabase(rds, { id: 'scratch', inScope: false });
    await createSnapshot(rds, 'orders', 'orders-manual');
    // Bunker's re-keyed intermediate is not a production snapshot.
    await createSnapshot(rds, 'orders', 'bunker-share-orders-manual-4c2001710a', { 'bunker:intermediate': 'true' });
    // The manual one, or the automated one the emulator takes at creation: whichever RDS says is newer.
    const newestProduction = (
      await rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'orders' }))
    ).DBSnapshots?.filter((s) => !s.DBSnapshotIdentifier?.startsWith('bunker-share-'))
      .map((s) => s.SnapshotCreateTime?.toISOString() ?? '')
      .sort()
      .at(-1);

    const discovery = new ReaderRoleDiscovery(
      await localContext(endpoint, freshAccountId(), REGION, 'bunker-audit'),
      'bunker',
      'aws',
    );
    const found = await discovery.resources('rds-snapshot', source, REGION);

    expect(found.map((r) => [r.id, r.scopeIds, r.tags]).sort()).toEqual([
      ['orders', ['orders'], { 'bunker:backup': 'true' }],
      ['scratch', ['scratch'], { team: 'analytics' }],
    ]);
    expect(newestProduction).toMatch(/^\d{4}-/);
    expect(found.find((r) => r.id === 'orders')?.newestSnapshotAt).toBe(newestProduction);
  });

  it('lists volumes with their tags and their newest snapshot, not the agent intermediates', async () => {
    const source = ec2Accounts.account();
    const { VolumeId } = await source.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: `${REGION}a`,
        Size: 8,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'bunker:backup', Value: 'true' }] }],
      }),
    );
    const { SnapshotId } = await source.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    await source.ec2.send(
      new CreateSnapshotCommand({
        VolumeId,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'bunker:intermediate', Value: 'true' }] }],
      }),
    );
    const { Snapshots } = await source.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId as string] }));

    const discovery = new ReaderRoleDiscovery(
      await localContext(endpoint, freshAccountId(), REGION, 'bunker-audit'),
      'bunker',
      'aws',
    );
    const found = await discovery.resources('ebs-snapshot', source.id, REGION);

    expect(found).toEqual([
      {
        id: VolumeId,
        scopeIds: [VolumeId],
        tags: { 'bunker:backup': 'true' },
        newestSnapshotAt: Snapshots?.[0]?.StartTime?.toISOString(),
      },
    ]);
  });
});
