/**
 * Pulled tables on the emulator, through the real path: the source's tables
 * and its export staging bucket are read through the SDK adapter as the
 * puller, the restore writes real tables in a fresh target account. The
 * vault store and the inventory are the in-memory doubles (sim/memory-pull)
 * until the integrator switches this file to the S3 store adapter.
 *
 * Export files and manifests, well-formed export ARNs, incremental exports,
 * the moving recovery window, the per-account clock and Scan's consumed
 * capacity come from Bunker's launcher (tools/moto/bunker_moto.py); the
 * test names say so where a case depends on them.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  paginateScan,
  PutItemCommand,
  UpdateContinuousBackupsCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { clientConfig } from '../../lambdas/adapters/aws-context';
import { itemFromJson, itemToJson, SdkTableSource } from '../../lambdas/adapters/pull/table-source';
import { createTableInput, SdkTableTarget } from '../../lambdas/adapters/pull/table-target';
import { exportBucketName } from '../../lambdas/core/names';
import { silentLog } from '../../lambdas/core/ports';
import { pullTables } from '../../lambdas/core/pull/dynamodb/pull';
import type { Item } from '../../lambdas/core/pull/dynamodb/types';
import { restoreTable } from '../../lambdas/core/pull/restore/tables';
import type { DynamoPullSettings, PullJob, PulledRecord } from '../../lambdas/core/pull/types';
import { MemoryPulledInventory, MemoryVaultStore } from '../../sim/memory-pull';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { indexedOrdersSpec, type NewTableSpec } from '../support/tables';
import { advanceEmulatorClock } from './support/dynamodb-clock';

const REGION = 'eu-west-1';
const endpoint = emulatorEndpoint();
const destroyers: (() => void)[] = [];
afterAll(() => {
  for (const destroy of destroyers.splice(0)) destroy();
});

const SETTINGS: DynamoPullSettings = {
  scope: { tag: { key: 'backup', value: 'daily' } },
  scanReadShare: 1,
  scanReadUnitsPerSecond: 1000,
  scanSegments: 4,
  fullExportEveryHours: 24,
};

/**
 * Read capacity enough for the scan budget (share 1 of 1,000 units a second);
 * no TTL, as `createTable` here does not turn it on.
 */
const PROVISIONED_WITH_INDEXES = indexedOrdersSpec({ provisioned: { read: 1000, write: 50 }, ttlAttribute: undefined });

const ON_DEMAND: NewTableSpec = {
  name: 'events',
  keySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  attributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'n', AttributeType: 'N' },
  ],
  billingMode: 'PAY_PER_REQUEST',
  localIndexes: [],
  globalIndexes: [
    { name: 'n-global', keySchema: [{ AttributeName: 'n', KeyType: 'HASH' }], projection: { ProjectionType: 'ALL' } },
  ],
  streamViewType: 'NEW_IMAGE',
  pointInTimeRecovery: true,
};

const item = (i: number, n = i, pad = 0): Item => ({
  pk: { S: `item-${i}` },
  sk: { N: String(i % 7) },
  n: { N: String(n) },
  tags: { SS: ['a', `t${i % 3}`] },
  blob: { B: Buffer.from(`bin-${i}`).toString('base64') },
  doc: { M: { list: { L: [{ N: '1' }, { BOOL: true }, { NULL: true }] }, note: { S: 'x'.repeat(pad) } } },
});

/** Items in a form that compares equal whatever order the service returns sets and items in. */
function normalized(items: Item[]): string[] {
  const sortSets = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortSets);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, k === 'SS' ? [...(v as string[])].sort() : sortSets(v)]),
    );
  };
  return items.map((i) => JSON.stringify(sortSets(i))).sort();
}

interface Account {
  readonly id: string;
  readonly dynamo: DynamoDBClient;
  readonly s3: S3Client;
}

async function account(role: string): Promise<Account & { context: Awaited<ReturnType<typeof localContext>> }> {
  const id = freshAccountId();
  const context = await localContext(endpoint, id, REGION, role);
  const dynamo = new DynamoDBClient(clientConfig(context));
  const s3 = new S3Client({ ...clientConfig(context), forcePathStyle: true });
  destroyers.push(
    () => dynamo.destroy(),
    () => s3.destroy(),
  );
  return { id, dynamo, s3, context };
}

async function createTable(a: Account, spec: NewTableSpec): Promise<void> {
  await a.dynamo.send(
    new CreateTableCommand({
      ...createTableInput(spec.name, { ...spec, arn: '' }),
      Tags: [{ Key: 'backup', Value: 'daily' }],
    }),
  );
  if (spec.pointInTimeRecovery) {
    await a.dynamo.send(
      new UpdateContinuousBackupsCommand({
        TableName: spec.name,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
  }
}

/** BatchWriteItem, 25 at a time, 16 calls in flight. */
async function load(a: Account, table: string, items: Item[]): Promise<void> {
  const batches: Item[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next];
      next += 1;
      await a.dynamo.send(
        new BatchWriteItemCommand({
          RequestItems: { [table]: batch.map((i) => ({ PutRequest: { Item: itemFromJson(i) } })) },
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** Every item of a table, read with the SDK directly (not through Bunker's adapters). */
async function scanAll(a: Account, table: string): Promise<Item[]> {
  const items: Item[] = [];
  for await (const page of paginateScan({ client: a.dynamo }, { TableName: table })) {
    items.push(...(page.Items ?? []).map((i) => itemToJson(i as Record<string, AttributeValue>)));
  }
  return items;
}

/** A source account with its staging bucket, a target account, the vault's doubles and a clock the test moves. */
async function world() {
  const source = await account('bunker-puller');
  const target = await account('bunker-restore');
  const staging = exportBucketName('bunker', source.id, REGION);
  await source.s3.send(
    new CreateBucketCommand({ Bucket: staging, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
  const importBucket = `bunker-import-${target.id}`;
  await target.s3.send(
    new CreateBucketCommand({ Bucket: importBucket, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
  const tables = new SdkTableSource(source.context, staging, source.id);
  const restoreTarget = new SdkTableTarget(target.context, { importBucket });
  destroyers.push(
    () => tables.destroy(),
    () => restoreTarget.destroy(),
  );
  const store = new MemoryVaultStore();
  const records = new MemoryPulledInventory();
  const continuations: { job: PullJob; delay: number }[] = [];
  let emulatorOffset = 0;
  let sleptMs = 0;
  const clock = { now: () => new Date(Date.now() + emulatorOffset * 1000 + sleptMs) };
  const job: PullJob = { kind: 'dynamodb', account: source.id, region: REGION };
  const pull = (table?: string, deadline = Number.POSITIVE_INFINITY, settings = SETTINGS, pageLimit?: number) =>
    pullTables(
      {
        job: table ? { ...job, table } : job,
        store,
        records,
        fingerprint: { of: () => 'unused' },
        clock,
        log: silentLog,
        deadline,
        continueLater: async (next, delay) => {
          continuations.push({ job: next, delay });
        },
      },
      settings,
      tables,
      { sleep: async (ms) => void (sleptMs += ms), pageLimit },
    );
  return {
    source,
    target,
    tables,
    restoreTarget,
    store,
    records,
    continuations,
    clock,
    pull,
    /** Moves the source account's DynamoDB clock and the pull's clock together. */
    async advance(seconds: number) {
      emulatorOffset += seconds;
      await advanceEmulatorClock(endpoint, source.id, emulatorOffset);
    },
    record: async (table: string) =>
      (await records.get(`dynamodb-table:${source.id}:${REGION}:${table}`)) as PulledRecord,
    restore: (table: string, toTable: string, at?: Date, importThreshold?: number) =>
      restoreTable(
        store,
        restoreTarget,
        { account: source.id, region: REGION, table, toTable, ...(at ? { at } : {}) },
        { importThreshold, concurrency: 16 },
      ),
  };
}

describe('pulled tables on the emulator', () => {
  it('a 5,000-item table dumped by parallel scan is restored equal, with its indexes and billing mode', async () => {
    const w = await world();
    await createTable(w.source, PROVISIONED_WITH_INDEXES);
    const items = Array.from({ length: 5000 }, (_, i) => item(i));
    await load(w.source, 'orders', items);

    // Pages of 1,000 items: the emulator reads the whole table for every page.
    const summary = await w.pull(undefined, Number.POSITIVE_INFINITY, SETTINGS, 1000);
    expect(summary).toMatchObject({ inScope: 1, changed: 1, continued: false, failed: 0 });
    expect(await w.record('orders')).toMatchObject({ state: 'held', count: 5000 });

    const restored = await w.restore('orders', 'orders-restored');
    expect(restored).toMatchObject({
      ok: true,
      method: 'batch-write',
      expectedCount: 5000,
      restoredCount: 5000,
      problems: [],
    });
    expect(normalized(await scanAll(w.target, 'orders-restored'))).toEqual(normalized(items));
    const { Table } = await w.target.dynamo.send(new DescribeTableCommand({ TableName: 'orders-restored' }));
    expect(Table?.BillingModeSummary?.BillingMode ?? 'PROVISIONED').toBe('PROVISIONED');
    expect(Table?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 1000, WriteCapacityUnits: 50 });
    expect(Table?.LocalSecondaryIndexes?.map((i) => [i.IndexName, i.Projection?.ProjectionType])).toEqual([
      ['by-n', 'KEYS_ONLY'],
    ]);
    expect(
      Table?.GlobalSecondaryIndexes?.map((i) => [
        i.IndexName,
        i.Projection,
        i.ProvisionedThroughput?.ReadCapacityUnits,
      ]),
    ).toEqual([['n-global', { ProjectionType: 'INCLUDE', NonKeyAttributes: ['tags'] }, 7]]);
    expect(Table?.StreamSpecification).toMatchObject({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
  });

  it('a 5,000-item table exported through the staging bucket is restored equal by import (launcher: export files and manifests)', async () => {
    const w = await world();
    await createTable(w.source, ON_DEMAND);
    // The events table has no sort key; the extra attribute is data like any other.
    const items = Array.from({ length: 5000 }, (_, i) => item(i));
    await load(w.source, 'events', items);
    await w.advance(60);

    const started = await w.pull();
    expect(started).toMatchObject({ continued: true, changed: 0 });
    expect(w.continuations).toEqual([
      { job: { kind: 'dynamodb', account: w.source.id, region: REGION, table: 'events' }, delay: 60 },
    ]);
    const copied = await w.pull('events');
    expect(copied).toMatchObject({ changed: 1, continued: false });
    const record = await w.record('events');
    expect(record).toMatchObject({ state: 'held', count: 5000 });
    expect(record.latest?.id).toMatch(/^\d{8}T\d{6}Z-export-full$/);
    const keys = (await w.store.list(`dynamodb/${w.source.id}/${REGION}/events/`)).map((o) => o.key);
    expect(keys.filter((k) => k.endsWith('manifest.json'))).toHaveLength(1);
    expect(keys.filter((k) => k.includes('/data/')).length).toBe(5);

    const restored = await w.restore('events', 'events-restored', undefined, 1000);
    expect(restored).toMatchObject({ ok: true, method: 'import', restoredCount: 5000, problems: [] });
    expect(normalized(await scanAll(w.target, 'events-restored'))).toEqual(normalized(items));
    const { Table } = await w.target.dynamo.send(new DescribeTableCommand({ TableName: 'events-restored' }));
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['n-global']);
    // ImportTable makes no stream: the target turns it on afterwards.
    expect(Table?.StreamSpecification).toMatchObject({ StreamEnabled: true, StreamViewType: 'NEW_IMAGE' });
  });

  it('a scan that runs out of time saves its checkpoint and the continuation finishes it (launcher: Scan consumed capacity)', async () => {
    const w = await world();
    await createTable(w.source, { ...ON_DEMAND, pointInTimeRecovery: false });
    const items = Array.from({ length: 1000 }, (_, i) => item(i, i, 1000));
    await load(w.source, 'events', items);
    const settings = { ...SETTINGS, scanReadUnitsPerSecond: 20 };

    const first = await w.pull(undefined, w.clock.now().getTime() + 5_000, settings);
    expect(first).toMatchObject({ continued: true, changed: 0 });
    expect(w.continuations.map((c) => c.job.table)).toEqual(['events']);
    const paused = (await w.record('events')).detail as { scan: { sum: { count: number } } };
    expect(paused.scan.sum.count).toBeGreaterThan(0);
    expect(paused.scan.sum.count).toBeLessThan(1000);

    const second = await w.pull('events', Number.POSITIVE_INFINITY, settings);
    expect(second).toMatchObject({ continued: false, changed: 1 });
    expect(await w.record('events')).toMatchObject({ state: 'held', count: 1000 });
    const restored = await w.restore('events', 'events-restored');
    expect(restored).toMatchObject({ ok: true, restoredCount: 1000 });
  });

  it('a scan keeps within its share of provisioned read capacity, measured from the responses (launcher: Scan consumed capacity)', async () => {
    const w = await world();
    await createTable(w.source, { ...PROVISIONED_WITH_INDEXES, provisioned: { read: 100, write: 50 } });
    await load(
      w.source,
      'orders',
      Array.from({ length: 1000 }, (_, i) => item(i, i, 1000)),
    );
    const pages: number[] = [];
    const scanPage = w.tables.scanPage.bind(w.tables);
    w.tables.scanPage = async (request) => {
      const page = await scanPage(request);
      pages.push(page.consumed);
      return page;
    };
    const startedAt = w.clock.now().getTime();
    await w.pull(undefined, Number.POSITIVE_INFINITY, { ...SETTINGS, scanReadShare: 0.25 });
    const elapsedSeconds = (w.clock.now().getTime() - startedAt) / 1000;
    const consumed = pages.reduce((a, b) => a + b, 0);
    const largestPage = Math.max(...pages);
    // About 1.2 KB an item: a page of 100 is some 30 units; 1,000 items some 150.
    expect(consumed).toBeGreaterThan(100);
    // 25 units/s: one second's burst, and one page per segment (4) reserved on an estimate.
    expect(consumed).toBeLessThanOrEqual(25 * elapsedSeconds + 25 + 4 * largestPage);
    expect(elapsedSeconds).toBeGreaterThanOrEqual((consumed - 25 - 4 * largestPage) / 25);
  });

  it('restore --at replays the full export and the incremental exports up to T (launcher: incremental exports, per-account clock)', async () => {
    const w = await world();
    await createTable(w.source, ON_DEMAND);
    const put = (i: number, n: number) =>
      w.source.dynamo.send(
        new PutItemCommand({
          TableName: 'events',
          Item: itemFromJson({ pk: { S: `item-${i}` }, n: { N: String(n) } }),
        }),
      );
    for (let i = 0; i < 10; i += 1) await put(i, i);
    await w.advance(60);
    await w.pull();
    await w.pull('events');
    const fullAt = w.clock.now();

    await w.advance(1800);
    await put(1, 100);
    await w.source.dynamo.send(new DeleteItemCommand({ TableName: 'events', Key: { pk: { S: 'item-2' } } }));
    await w.advance(1800);
    expect((await w.pull()).continued).toBe(true);
    expect(await w.pull('events')).toMatchObject({ changed: 1 });
    const firstIncrementalAt = w.clock.now();

    await w.advance(1800);
    await put(1, 200);
    await put(11, 11);
    await w.advance(1800);
    await w.pull();
    await w.pull('events');

    const dumps = (await w.store.list(`dynamodb/${w.source.id}/${REGION}/events/`))
      .map((o) => o.key)
      .filter((k) => k.endsWith('/manifest.json'))
      .map((k) => k.split('/')[4].replace(/^\d{8}T\d{6}Z-/, ''));
    expect(dumps).toEqual(['export-full', 'export-incremental', 'export-incremental']);

    const between = new Date((firstIncrementalAt.getTime() + firstIncrementalAt.getTime() + 1_800_000) / 2);
    const atBetween = await w.restore('events', 'at-between', between);
    expect(atBetween).toMatchObject({ ok: true, expectedCount: 9 });
    expect(atBetween.dumps).toHaveLength(2);
    const state = Object.fromEntries(
      (await scanAll(w.target, 'at-between')).map((i) => [(i.pk as { S: string }).S, (i.n as { N: string }).N]),
    );
    expect(state).toEqual({
      'item-0': '0',
      'item-1': '100',
      'item-3': '3',
      'item-4': '4',
      'item-5': '5',
      'item-6': '6',
      'item-7': '7',
      'item-8': '8',
      'item-9': '9',
    });

    const latest = await w.restore('events', 'latest');
    expect(latest).toMatchObject({ ok: true, expectedCount: 10 });
    expect(latest.dumps).toHaveLength(3);
    const latestState = Object.fromEntries(
      (await scanAll(w.target, 'latest')).map((i) => [(i.pk as { S: string }).S, (i.n as { N: string }).N]),
    );
    expect(latestState['item-1']).toBe('200');
    expect(latestState['item-11']).toBe('11');

    const atFull = await w.restore('events', 'at-full', new Date(fullAt.getTime() + 60_000));
    expect(atFull).toMatchObject({ ok: true, expectedCount: 10 });
    expect(atFull.dumps).toHaveLength(1);
  });

  it('point-in-time recovery turned off and on again is recorded as a breach with its reason (launcher: the recovery window restarts)', async () => {
    const w = await world();
    await createTable(w.source, ON_DEMAND);
    await w.source.dynamo.send(new PutItemCommand({ TableName: 'events', Item: { pk: { S: 'a' }, n: { N: '1' } } }));
    await w.advance(60);
    await w.pull();
    await w.pull('events');
    const pitr = (enabled: boolean) =>
      w.source.dynamo.send(
        new UpdateContinuousBackupsCommand({
          TableName: 'events',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: enabled },
        }),
      );
    await w.advance(1800);
    await pitr(false);
    await w.advance(1800);
    await pitr(true);
    await w.advance(1800);
    const summary = await w.pull();
    expect(summary.breaches).toHaveLength(1);
    expect(summary.breaches[0]).toMatch(
      /^events: point-in-time recovery cannot reach back to the chain's end .* its earliest restorable time is /,
    );
    const record = await w.record('events');
    expect(record.reason).toMatch(/^RPO breach: /);
    expect(record.detail).toMatchObject({ pending: { method: 'export-full' } });
    expect(await w.pull('events')).toMatchObject({ changed: 1 });
  });
});
