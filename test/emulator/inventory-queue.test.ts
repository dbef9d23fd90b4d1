/**
 * The Inventory port's scheduling contract, run on the memory double and on
 * the DynamoDB adapter against the emulator: the round-robin walk of
 * waiting records (the queue index), the claim that creates, one slot per
 * source resource, claims whose lease ended, and the copies in flight a
 * pool's look reads. The table is made with the
 * keys and indexes the vault stack gives it.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import {
  applyTransition,
  type InventoryRecord,
  newRecord,
  QUEUE_INDEX,
  withFields,
} from '../../lambdas/core/inventory';
import type { Inventory } from '../../lambdas/core/ports';
import { IndexedInventory } from '../../sim/indexed-inventory';
import { MemoryInventory } from '../../sim/memory-aws';
import { clientConfig, DEFAULT_TEST_REGION, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';

const TABLE = 'bunker-inventory';
const STATUS_INDEX = 'by-status';
const POOL = 'rds-snapshot@eu-west-1';
const OTHER_POOL = 'ebs-snapshot@eu-west-1';
const NO_LIMIT = 1000;
const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 4, minute));

async function dynamoInventory(account = freshAccountId()): Promise<DynamoInventory> {
  const client = new DynamoDBClient(clientConfig(emulatorEndpoint(), account, DEFAULT_TEST_REGION));
  const index = (name: string, hash: string, range: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: hash, KeyType: 'HASH' as const },
      { AttributeName: range, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  await client.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
      AttributeDefinitions: ['artifactId', 'status', 'updatedAt', 'queue', 'queueKey'].map((name) => ({
        AttributeName: name,
        AttributeType: 'S' as const,
      })),
      GlobalSecondaryIndexes: [index(STATUS_INDEX, 'status', 'updatedAt'), index(QUEUE_INDEX, 'queue', 'queueKey')],
    }),
  );
  return new DynamoInventory(client, TABLE, STATUS_INDEX);
}

/** A record of `account` waiting since `minute`, of its own DB instance unless `resource` says. */
function waiting(id: string, account: string, minute: number, fields: { pool?: string; resource?: string } = {}) {
  return newRecord(
    {
      artifactId: id,
      kind: 'rds-snapshot',
      status: 'expected',
      reason: 'waiting for copy capacity',
      sourceAccount: account,
      sourceRegion: 'eu-west-1',
      sourceId: id,
      sourceResourceId: fields.resource ?? `db-${id}`,
      targetName: `copy-${id}`,
      targetRegion: 'eu-west-1',
      pool: fields.pool ?? POOL,
    },
    at(minute),
  );
}

const claimOf = (record: InventoryRecord, minute: number) =>
  applyTransition(record, 'copying', at(minute), {
    copyAttempts: record.copyAttempts + 1,
    claimedUntil: at(minute + 3).toISOString(),
  });

describe.each([
  { name: 'memory double', make: async () => new MemoryInventory() as Inventory },
  { name: "the simulation's indexed double", make: async () => new IndexedInventory() as Inventory },
  { name: 'DynamoDB adapter on the emulator', make: dynamoInventory },
])('Inventory scheduling contract: $name', ({ make }) => {
  let inventory: Inventory;
  beforeAll(async () => {
    inventory = await make();
  });

  it('walks the waiting records of a pool round-robin over accounts, oldest first within each, wrapping round', async () => {
    const records = [
      waiting('a-2', '100000000001', 2),
      waiting('a-1', '100000000001', 1),
      waiting('b-1', '100000000002', 5),
      waiting('c-1', '100000000003', 0),
      waiting('elsewhere', '100000000002', 0, { pool: OTHER_POOL }),
    ];
    for (const record of records) expect(await inventory.create(record)).toBe(true);
    const busy = waiting('copying', '100000000002', 0);
    await inventory.create(busy);
    expect(await inventory.claimCopy(busy, claimOf(busy, 1), NO_LIMIT)).toBe('claimed');

    const walk = [
      await inventory.nextWaiting(POOL),
      await inventory.nextWaiting(POOL, '100000000001'),
      await inventory.nextWaiting(POOL, '100000000002'),
      await inventory.nextWaiting(POOL, '100000000003'),
      await inventory.nextWaiting(OTHER_POOL, '100000000003'),
      await inventory.nextWaiting('ami@eu-west-1'),
    ];

    expect(walk.map((r) => r?.artifactId)).toEqual(['a-1', 'b-1', 'c-1', 'a-1', 'elsewhere', undefined]);
    // Read back exactly as written: the index's attributes never leak into a record.
    expect(walk[0]).toEqual(records[1]);
    expect(await inventory.get('a-1')).toEqual(records[1]);
  });

  it('creates a record by claiming it: once, and only while the pool has a slot', async () => {
    const fresh = waiting('new-claimed', '200000000001', 0);
    const claimed = claimOf(fresh, 0);

    expect(await inventory.claimCopy(undefined, claimed, NO_LIMIT)).toBe('claimed');
    expect(await inventory.claimCopy(undefined, claimOf(fresh, 1), NO_LIMIT)).toBe('conflict');
    expect(await inventory.get('new-claimed')).toEqual(claimed);

    const filler = waiting('new-filler', '200000000001', 0, { pool: 'ami@eu-west-1' });
    expect(await inventory.claimCopy(undefined, claimOf(filler, 0), NO_LIMIT)).toBe('claimed');
    const full = waiting('new-full', '200000000001', 0, { pool: 'ami@eu-west-1' });
    const limit = await inventory.copiesInProgress('ami@eu-west-1');
    expect(await inventory.claimCopy(undefined, claimOf(full, 0), limit)).toBe('full');
    expect(await inventory.get('new-full')).toBeUndefined();
  });

  it('lets a source resource hold one slot: a second claim is busy and writes nothing until the first leaves copying', async () => {
    const monday = waiting('monday', '300000000001', 0, { resource: 'orders-db' });
    const tuesday = waiting('tuesday', '300000000001', 1, { resource: 'orders-db' });
    const elsewhere = waiting('other-account', '300000000002', 1, { resource: 'orders-db' });
    for (const record of [monday, tuesday, elsewhere]) await inventory.create(record);
    const copying = claimOf(monday, 2);
    expect(await inventory.claimCopy(monday, copying, NO_LIMIT)).toBe('claimed');
    const slots = await inventory.copiesInProgress(POOL);

    expect(await inventory.claimCopy(tuesday, claimOf(tuesday, 2), NO_LIMIT)).toBe('busy');
    expect(await inventory.get('tuesday')).toEqual(tuesday);
    expect(await inventory.copiesInProgress(POOL)).toBe(slots);
    // The same database name in another account is another resource.
    expect(await inventory.claimCopy(elsewhere, claimOf(elsewhere, 2), NO_LIMIT)).toBe('claimed');

    expect(await inventory.replace(copying, applyTransition(copying, 'available', at(9)))).toBe(true);
    expect(await inventory.claimCopy(tuesday, claimOf(tuesday, 10), NO_LIMIT)).toBe('claimed');
  });

  it('finds a claim whose lease ended, and none once its copy request is recorded', async () => {
    const pool = 'aurora-cluster-snapshot@eu-west-1';
    const record = waiting('leased', '400000000001', 0, { pool });
    await inventory.create(record);
    const claimed = claimOf(record, 10);
    expect(await inventory.claimCopy(record, claimed, NO_LIMIT)).toBe('claimed');

    const live = await inventory.expiredClaim(pool, at(12));
    const ended = await inventory.expiredClaim(pool, at(13));
    const confirmed = withFields(claimed, at(11), { claimedUntil: undefined });
    expect(await inventory.replace(claimed, confirmed)).toBe(true);

    expect(live).toBeUndefined();
    expect(ended).toEqual(claimed);
    expect(await inventory.expiredClaim(pool, at(59))).toBeUndefined();
    expect(await inventory.nextWaiting(pool)).toBeUndefined();
  });

  it('names a pool’s copies in flight, oldest request first, whoever requested them: not a claim, not a settled copy', async () => {
    const pool = 'rds-snapshot@us-east-2';
    const records = [4, 2, 3, 1].map((minute) => waiting(`flight-${minute}`, '600000000001', 0, { pool }));
    for (const record of records) await inventory.create(record);
    const confirmed: InventoryRecord[] = [];
    for (const record of records) {
      const minute = Number(record.artifactId.slice('flight-'.length));
      const claimed = claimOf(record, minute);
      expect(await inventory.claimCopy(record, claimed, NO_LIMIT)).toBe('claimed');
      // flight-4's request is not recorded yet: its claim is still on its lease.
      if (minute === 4) continue;
      const requested = applyTransition(claimed, 'copying', at(minute), {
        copyStartedAt: at(minute).toISOString(),
        claimedUntil: undefined,
      });
      expect(await inventory.replace(claimed, requested)).toBe(true);
      confirmed.push(requested);
    }
    const settled = confirmed.find((r) => r.artifactId === 'flight-3') as InventoryRecord;
    expect(await inventory.replace(settled, applyTransition(settled, 'available', at(20)))).toBe(true);

    const all = await inventory.copiesInFlight(pool, 10);
    const first = await inventory.copiesInFlight(pool, 1);

    expect(all.map((r) => r.artifactId)).toEqual(['flight-1', 'flight-2']);
    // Read back exactly as written: the index's attributes never leak into a record.
    expect(all[0]).toEqual(confirmed.find((r) => r.artifactId === 'flight-1'));
    expect(first.map((r) => r.artifactId)).toEqual(['flight-1']);
    expect(await inventory.copiesInFlight('rds-snapshot@ap-south-1', 10)).toEqual([]);
  });

  it('names a pool’s available copies not yet finished, oldest write first, until the write that finishes them', async () => {
    const pool = 'ebs-snapshot@us-west-2';
    const settle = async (id: string, minute: number, fields: { finished?: boolean; pool?: string } = {}) => {
      const record = waiting(id, '800000000001', 0, { pool: fields.pool ?? pool });
      await inventory.create(record);
      const claimed = claimOf(record, minute);
      expect(await inventory.claimCopy(record, claimed, NO_LIMIT)).toBe('claimed');
      const available = applyTransition(claimed, 'available', at(minute + 1), { claimedUntil: undefined });
      const stored = fields.finished ? { ...available, finishedAt: available.updatedAt } : available;
      expect(await inventory.replace(claimed, stored)).toBe(true);
      return stored;
    };
    const late = await settle('follow-late', 20);
    const early = await settle('follow-early', 10);
    await settle('follow-finished', 5, { finished: true });
    await settle('follow-elsewhere', 5, { pool: 'ebs-snapshot@eu-north-1' });
    const still = waiting('follow-waiting', '800000000001', 0, { pool });
    await inventory.create(still);

    const before = await inventory.awaitingFollowUp(pool);
    expect(await inventory.replace(early, withFields(early, at(30), { finishedAt: at(30).toISOString() }))).toBe(true);
    const after = await inventory.awaitingFollowUp(pool);

    expect(before.map((r) => r.artifactId)).toEqual(['follow-early', 'follow-late']);
    // Read back exactly as written: the index's attributes never leak into a record.
    expect(before[1]).toEqual(late);
    expect(after.map((r) => r.artifactId)).toEqual(['follow-late']);
    expect(await inventory.awaitingFollowUp('ami@us-west-2')).toEqual([]);
  });

  it('tells which of many ids have a record, past one batch read of 100', async () => {
    const ids = Array.from({ length: 130 }, (_, n) => `existing-${String(n).padStart(3, '0')}`);
    for (const id of [ids[0], ids[99], ids[100], ids[129]]) await inventory.create(waiting(id, '500000000001', 0));

    const found = await inventory.existing([...ids, ids[0], 'never-recorded']);

    expect([...found].sort()).toEqual(['existing-000', 'existing-099', 'existing-100', 'existing-129']);
    expect(await inventory.existing([])).toEqual(new Set());
  });
});

describe('the queue index as DynamoDB holds it (read back with boto3)', () => {
  /** The `by-queue` index's entries of one partition, as boto3 reads them: `[artifactId, queueKey, status]`. */
  const partition = (endpoint: string, account: string, queue: string) =>
    boto3<string[][]>(
      endpoint,
      account,
      `
pages = client('dynamodb').get_paginator('query').paginate(
    TableName=ARGS['table'], IndexName=ARGS['index'],
    KeyConditionExpression='#q = :q', ExpressionAttributeNames={'#q': 'queue'},
    ExpressionAttributeValues={':q': {'S': ARGS['queue']}})
out([[i['artifactId']['S'], i['queueKey']['S'], i['status']['S']] for p in pages for i in p['Items']])
`,
      { table: TABLE, index: QUEUE_INDEX, queue },
    );

  it('moves a copy from the claims partition to copying:<pool> when its request is recorded, and out when it settles', async () => {
    const endpoint = emulatorEndpoint();
    const account = freshAccountId();
    const inventory = await dynamoInventory(account);
    const record = waiting('boto-1', '700000000001', 0);
    await inventory.create(record);
    const claimed = claimOf(record, 5);
    expect(await inventory.claimCopy(record, claimed, NO_LIMIT)).toBe('claimed');

    const onLease = await partition(endpoint, account, `claims:${POOL}`);
    const copyingOnLease = await partition(endpoint, account, `copying:${POOL}`);
    const requested = applyTransition(claimed, 'copying', at(6), {
      copyStartedAt: at(6).toISOString(),
      claimedUntil: undefined,
    });
    expect(await inventory.replace(claimed, requested)).toBe(true);
    const inFlight = await partition(endpoint, account, `copying:${POOL}`);
    const claimsAfter = await partition(endpoint, account, `claims:${POOL}`);
    expect(await inventory.replace(requested, applyTransition(requested, 'available', at(12)))).toBe(true);
    const settled = await partition(endpoint, account, `copying:${POOL}`);

    expect(onLease).toEqual([['boto-1', '2026-03-01T04:08:00.000Z#boto-1', 'copying']]);
    expect(copyingOnLease).toEqual([]);
    expect(inFlight).toEqual([['boto-1', '2026-03-01T04:06:00.000Z#boto-1', 'copying']]);
    expect(claimsAfter).toEqual([]);
    expect(settled).toEqual([]);
    expect(await partition(endpoint, account, `waiting:${POOL}`)).toEqual([]);
  });

  it('holds an available copy in followup:<pool> while it owes something, and drops it from the index once finished', async () => {
    const endpoint = emulatorEndpoint();
    const account = freshAccountId();
    const inventory = await dynamoInventory(account);
    const record = waiting('boto-2', '700000000002', 0);
    await inventory.create(record);
    const claimed = claimOf(record, 5);
    expect(await inventory.claimCopy(record, claimed, NO_LIMIT)).toBe('claimed');
    const available = applyTransition(claimed, 'available', at(12), { claimedUntil: undefined });
    expect(await inventory.replace(claimed, available)).toBe(true);
    const owing = await partition(endpoint, account, `followup:${POOL}`);

    const finished = withFields(available, at(40), {
      receiptSentAt: at(40).toISOString(),
      finishedAt: at(40).toISOString(),
    });
    expect(await inventory.replace(available, finished)).toBe(true);
    // The item itself, as boto3 reads it: no queue attributes left behind for the index to hold.
    const item = await boto3<Record<string, unknown>>(
      endpoint,
      account,
      `
item = client('dynamodb').get_item(TableName=ARGS['table'], Key={'artifactId': {'S': 'boto-2'}})['Item']
out({k: list(v.values())[0] for k, v in item.items() if k in ('status', 'finishedAt', 'queue', 'queueKey')})
`,
      { table: TABLE },
    );

    expect(owing).toEqual([['boto-2', '2026-03-01T04:12:00.000Z#boto-2', 'available']]);
    expect(await partition(endpoint, account, `followup:${POOL}`)).toEqual([]);
    expect(item).toEqual({ status: 'available', finishedAt: '2026-03-01T04:40:00.000Z' });
  });
});

describe('a record as DynamoDB stores it (read back with boto3)', () => {
  const SOURCE = '700000000003';
  const SHARED = 'bunker-share-orders-1';
  const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  /** The item's attributes, as boto3 reads them, by name: `[type, value]`. */
  const stored = (endpoint: string, account: string, artifactId: string) =>
    boto3<Record<string, [string, unknown]>>(
      endpoint,
      account,
      `
item = client('dynamodb').get_item(TableName=ARGS['table'], Key={'artifactId': {'S': ARGS['id']}})['Item']
out({k: list(v.items())[0] for k, v in item.items()})
`,
      { table: TABLE, id: artifactId },
    );

  it('leaves out what the record derives, and the adapter reads the whole record back', async () => {
    const endpoint = emulatorEndpoint();
    const account = freshAccountId();
    const inventory = await dynamoInventory(account);
    const id = `rds-snapshot:${SOURCE}:eu-central-1:${SHARED}`;
    const record = newRecord(
      {
        artifactId: id,
        kind: 'rds-snapshot',
        status: 'expected',
        reason: 'waiting for copy capacity',
        sourceAccount: SOURCE,
        sourceRegion: 'eu-central-1',
        sourceId: SHARED,
        sourceArn: `arn:aws:rds:eu-central-1:${SOURCE}:snapshot:${SHARED}`,
        targetName: 'bunker-copy-orders-1',
        targetRegion: 'eu-west-1',
        pool: POOL,
      },
      at(0),
    );
    await inventory.create(record);
    const claimed = claimOf(record, 5);
    expect(await inventory.claimCopy(record, claimed, NO_LIMIT)).toBe('claimed');
    const available = applyTransition(claimed, 'available', at(12), {
      claimedUntil: undefined,
      targetId: 'bunker-copy-orders-1',
      targetArn: 'arn:aws:rds:eu-west-1:111111111111:snapshot:bunker-copy-orders-1',
      kmsKeyArn: KEY,
    });
    expect(await inventory.replace(claimed, available)).toBe(true);

    const item = await stored(endpoint, account, id);

    expect(Object.keys(item).sort()).toEqual([
      'artifactId',
      'copyAttempts',
      'createdAt',
      'derived',
      'failures',
      'history',
      'kind',
      'kmsKeyArn',
      'pool',
      'queue',
      'queueKey',
      'status',
      'targetName',
      'targetRegion',
      'updatedAt',
      'version',
    ]);
    expect(item.derived).toEqual(['S', 'ARItsa']);
    expect(await inventory.get(id)).toEqual(available);
    expect(await inventory.awaitingFollowUp(POOL)).toEqual([available]);
  });

  it('reads an item written whole, as an earlier version wrote it, unchanged', async () => {
    const endpoint = emulatorEndpoint();
    const account = freshAccountId();
    const inventory = await dynamoInventory(account);
    const id = `rds-snapshot:${SOURCE}:eu-central-1:bunker-share-orders-2`;
    await boto3(
      endpoint,
      account,
      `
client('dynamodb').put_item(TableName=ARGS['table'], Item={
    'artifactId': {'S': ARGS['id']}, 'kind': {'S': 'rds-snapshot'}, 'status': {'S': 'available'},
    'sourceAccount': {'S': ARGS['source']}, 'sourceRegion': {'S': 'eu-central-1'},
    'sourceId': {'S': 'bunker-share-orders-2'},
    'sourceArn': {'S': 'arn:aws:rds:eu-central-1:' + ARGS['source'] + ':snapshot:bunker-share-orders-2'},
    'targetName': {'S': 'bunker-copy-orders-2'}, 'targetId': {'S': 'bunker-copy-orders-2'},
    'targetArn': {'S': 'arn:aws:rds:eu-west-1:111111111111:snapshot:bunker-copy-orders-2'},
    'targetRegion': {'S': 'eu-west-1'}, 'copyAttempts': {'N': '1'}, 'failures': {'N': '0'}, 'version': {'N': '3'},
    'createdAt': {'S': '2026-03-01T04:00:00.000Z'}, 'updatedAt': {'S': '2026-03-01T04:12:00.000Z'},
    'history': {'L': [{'M': {'status': {'S': 'available'}, 'at': {'S': '2026-03-01T04:12:00.000Z'}}}]}})
out(True)
`,
      { table: TABLE, id, source: SOURCE },
    );

    expect(await inventory.get(id)).toEqual({
      artifactId: id,
      kind: 'rds-snapshot',
      status: 'available',
      sourceAccount: SOURCE,
      sourceRegion: 'eu-central-1',
      sourceId: 'bunker-share-orders-2',
      sourceArn: `arn:aws:rds:eu-central-1:${SOURCE}:snapshot:bunker-share-orders-2`,
      targetName: 'bunker-copy-orders-2',
      targetId: 'bunker-copy-orders-2',
      targetArn: 'arn:aws:rds:eu-west-1:111111111111:snapshot:bunker-copy-orders-2',
      targetRegion: 'eu-west-1',
      copyAttempts: 1,
      failures: 0,
      version: 3,
      createdAt: '2026-03-01T04:00:00.000Z',
      updatedAt: '2026-03-01T04:12:00.000Z',
      history: [{ status: 'available', at: '2026-03-01T04:12:00.000Z' }],
    });
  });
});
