/**
 * The contract of the pulled tables' source port (`TableSource`): the same
 * cases against the in-memory DynamoDB (sim/memory-tables.ts), which the
 * core's tests use, and against the SDK adapter
 * (lambdas/adapters/pull/table-source.ts) on the emulator, acting as the
 * puller in a fresh source account with its own staging bucket. A case that
 * passes on one and fails on the other is drift: fix the double (or the
 * adapter), never the case.
 *
 * On the emulator, export files and manifests, well-formed export ARNs,
 * ClientToken idempotency, incremental exports, the moving recovery window
 * and Scan's consumed capacity come from Bunker's launcher
 * (tools/moto/bunker_moto.py); its per-account clock (POST
 * /moto-api/bunker/clock) stands in for waiting 15 minutes and more.
 */
import { createHash } from 'node:crypto';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { clientConfig } from '../../lambdas/adapters/aws-context';
import { itemFromJson, SdkTableSource } from '../../lambdas/adapters/pull/table-source';
import { createTableInput } from '../../lambdas/adapters/pull/table-target';
import { exportBucketName } from '../../lambdas/core/names';
import { decodeLines } from '../../lambdas/core/pull/dynamodb/manifest';
import type { Item, TableSource } from '../../lambdas/core/pull/dynamodb/types';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryTables } from '../../sim/memory-tables';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { indexedOrdersSpec, type NewTableSpec, orderItem, plainTableSpec } from '../support/tables';
import { advanceEmulatorClock } from './support/dynamodb-clock';

const REGION = 'eu-west-1';
const endpoint = emulatorEndpoint();
const destroyers: (() => void)[] = [];
afterAll(() => {
  for (const destroy of destroyers.splice(0)) destroy();
});

const SPEC = indexedOrdersSpec();

const item = (i: number, n = i): Item => ({
  ...orderItem(i, n),
  pad: { S: 'x'.repeat(2000) },
  blob: { B: Buffer.from(`bin-${i}`).toString('base64') },
});

interface Harness {
  readonly source: TableSource;
  readonly account: string;
  create(spec: NewTableSpec, tags?: Record<string, string>): Promise<void>;
  put(table: string, items: Item[]): Promise<void>;
  remove(table: string, keys: Item): Promise<void>;
  setPitr(table: string, enabled: boolean): Promise<void>;
  /** Moves the service's clock forward. */
  advance(seconds: number): Promise<void>;
  now(): Date;
}

function memoryHarness(): Harness {
  const clock = new ManualClock(new Date());
  const tables = new MemoryTables('210000000001', REGION, clock);
  return {
    source: tables,
    account: '210000000001',
    async create(spec, tags = {}) {
      tables.create(spec, tags);
    },
    async put(table, items) {
      for (const i of items) tables.putItem(table, i);
    },
    async remove(table, keys) {
      tables.deleteItem(table, keys);
    },
    async setPitr(table, enabled) {
      tables.setPitr(table, enabled);
    },
    async advance(seconds) {
      clock.advance(seconds * 1000);
    },
    now: () => clock.now(),
  };
}

async function emulatorHarness(): Promise<Harness> {
  const account = freshAccountId();
  const context = await localContext(endpoint, account, REGION, 'bunker-puller');
  const dynamo = new DynamoDBClient(clientConfig(context));
  const s3 = new S3Client({ ...clientConfig(context), forcePathStyle: true });
  const bucket = exportBucketName('bunker', account, REGION);
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));
  const source = new SdkTableSource(context, bucket, account);
  destroyers.push(
    () => dynamo.destroy(),
    () => s3.destroy(),
    () => source.destroy(),
  );
  let offset = 0;
  const setPitr = async (table: string, enabled: boolean) => {
    await dynamo.send(
      new UpdateContinuousBackupsCommand({
        TableName: table,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: enabled },
      }),
    );
  };
  return {
    source,
    account,
    async create(spec, tags = {}) {
      await dynamo.send(
        new CreateTableCommand({
          ...createTableInput(spec.name, { ...spec, arn: '' }),
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      if (spec.ttlAttribute) {
        await dynamo.send(
          new UpdateTimeToLiveCommand({
            TableName: spec.name,
            TimeToLiveSpecification: { Enabled: true, AttributeName: spec.ttlAttribute },
          }),
        );
      }
      if (spec.pointInTimeRecovery) await setPitr(spec.name, true);
    },
    async put(table, items) {
      const batches = [];
      for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
      await Promise.all(
        batches.map((batch) =>
          dynamo.send(
            new BatchWriteItemCommand({
              RequestItems: { [table]: batch.map((i) => ({ PutRequest: { Item: itemFromJson(i) } })) },
            }),
          ),
        ),
      );
    },
    async remove(table, keys) {
      await dynamo.send(new DeleteItemCommand({ TableName: table, Key: itemFromJson(keys) }));
    },
    setPitr,
    async advance(seconds) {
      offset += seconds;
      await advanceEmulatorClock(endpoint, account, offset);
    },
    now: () => new Date(Date.now() + offset * 1000),
  };
}

async function completed(source: TableSource, arn: string) {
  for (let i = 0; i < 20; i += 1) {
    const status = await source.describeExport(arn);
    if (status.status !== 'IN_PROGRESS') return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`export ${arn} did not finish`);
}

/** Every line of a completed export, with each data file checked against manifest-files.json. */
async function exportLines(source: TableSource, manifestKey: string): Promise<Record<string, unknown>[]> {
  const summary = JSON.parse(Buffer.from((await source.readStaging(manifestKey)) as Uint8Array).toString()) as {
    manifestFilesS3Key: string;
    itemCount: number;
  };
  const entries = Buffer.from((await source.readStaging(summary.manifestFilesS3Key)) as Uint8Array)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { dataFileS3Key: string; itemCount: number; md5Checksum: string });
  const lines: Record<string, unknown>[] = [];
  for (const entry of entries) {
    const body = (await source.readStaging(entry.dataFileS3Key)) as Uint8Array;
    expect(createHash('md5').update(body).digest('base64')).toBe(entry.md5Checksum);
    const decoded = decodeLines(body);
    expect(decoded).toHaveLength(entry.itemCount);
    lines.push(...decoded);
  }
  expect(lines).toHaveLength(summary.itemCount);
  return lines;
}

const pkOf = (value: unknown) => ((value as Item).pk as { S: string }).S;

describe.each([
  ['memory', memoryHarness],
  ['emulator', emulatorHarness],
] as const)('TableSource contract (%s)', (_name, makeHarness) => {
  it('lists tables with their ARNs and tags, and describes one as a restore needs it', async () => {
    const h = await makeHarness();
    await h.create(SPEC, { backup: 'yes' });
    await h.create(plainTableSpec({ name: 'scratch' }));
    const listed = (await h.source.listTables()).sort((a, b) => a.name.localeCompare(b.name));
    expect(listed).toEqual([
      { name: 'orders', arn: `arn:aws:dynamodb:eu-west-1:${h.account}:table/orders`, tags: { backup: 'yes' } },
      { name: 'scratch', arn: `arn:aws:dynamodb:eu-west-1:${h.account}:table/scratch`, tags: {} },
    ]);
    expect(await h.source.describeTable('orders')).toEqual({
      ...SPEC,
      arn: `arn:aws:dynamodb:eu-west-1:${h.account}:table/orders`,
    });
    expect(await h.source.describeTable('scratch')).toMatchObject({
      billingMode: 'PAY_PER_REQUEST',
      localIndexes: [],
      globalIndexes: [],
    });
    expect(await h.source.describeTable('missing')).toBeUndefined();
  });

  it('parallel scan segments read every item exactly once, with the read units each page consumed', async () => {
    const h = await makeHarness();
    await h.create(SPEC);
    await h.put(
      'orders',
      Array.from({ length: 150 }, (_, i) => item(i)),
    );
    const seen: string[] = [];
    const pages: number[] = [];
    for (let segment = 0; segment < 3; segment += 1) {
      let startKey: Item | undefined;
      do {
        const page = await h.source.scanPage({ table: 'orders', segment, totalSegments: 3, limit: 40, startKey });
        seen.push(...page.items.map(pkOf));
        if (page.items.length === 40) pages.push(page.consumed);
        startKey = page.lastKey;
      } while (startKey);
    }
    expect(seen.sort()).toEqual(Array.from({ length: 150 }, (_, i) => `item-${i}`).sort());
    // 40 items of a little over 2 KB: 80-something KB, half a unit per 4 KB.
    for (const consumed of pages) {
      expect(consumed).toBeGreaterThanOrEqual(10);
      expect(consumed).toBeLessThanOrEqual(12);
    }
  });

  it('point-in-time recovery: off, on from now, and off and on again starts its window anew', async () => {
    const h = await makeHarness();
    await h.create(SPEC);
    expect(await h.source.pitr('orders')).toEqual({ enabled: false });
    await h.setPitr('orders', true);
    const first = await h.source.pitr('orders');
    expect(first.enabled).toBe(true);
    expect(Math.abs((first.earliestRestorable?.getTime() ?? 0) - h.now().getTime())).toBeLessThan(5_000);
    await h.advance(3600);
    await h.setPitr('orders', false);
    await h.advance(600);
    await h.setPitr('orders', true);
    const again = await h.source.pitr('orders');
    expect(
      (again.earliestRestorable?.getTime() ?? 0) - (first.earliestRestorable?.getTime() ?? 0),
    ).toBeGreaterThanOrEqual(4_200_000);
  });

  it('a full export writes manifest-summary.json, manifest-files.json and data files to the staging bucket', async () => {
    const h = await makeHarness();
    await h.create(indexedOrdersSpec({ pointInTimeRecovery: true }));
    await h.put(
      'orders',
      Array.from({ length: 30 }, (_, i) => item(i)),
    );
    await h.advance(60);
    const at = h.now();
    await h.advance(1);
    await h.remove('orders', { pk: { S: 'item-0' }, sk: { N: '0' } });
    const request = {
      tableArn: `arn:aws:dynamodb:eu-west-1:${h.account}:table/orders`,
      prefix: 'bunker/orders/full-1',
      type: 'FULL_EXPORT' as const,
      exportTime: at,
      clientToken: 'token-full-1',
    };
    const { arn } = await h.source.startExport(request);
    expect(arn).toMatch(new RegExp(`^arn:aws:dynamodb:eu-west-1:${h.account}:table/orders/export/[\\w-]+$`));
    expect((await h.source.startExport(request)).arn).toBe(arn);
    const status = await completed(h.source, arn);
    expect(status.status).toBe('COMPLETED');
    expect(status.manifestKey).toMatch(/^bunker\/orders\/full-1\/AWSDynamoDB\/[\w-]+\/manifest-summary\.json$/);
    const lines = await exportLines(h.source, status.manifestKey as string);
    // As of the export time: the item deleted afterwards is in it.
    expect(lines.map((l) => pkOf(l.Item)).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `item-${i}`).sort());
    expect(lines.find((l) => pkOf(l.Item) === 'item-7')?.Item).toEqual(item(7));
    expect(await h.source.readStaging('bunker/orders/full-1/nothing-here')).toBeUndefined();
  });

  it('an incremental export holds one record per changed key with its images before and after', async () => {
    const h = await makeHarness();
    await h.create(indexedOrdersSpec({ pointInTimeRecovery: true }));
    await h.put(
      'orders',
      Array.from({ length: 5 }, (_, i) => item(i)),
    );
    await h.advance(60);
    const from = h.now();
    await h.advance(60);
    await h.put('orders', [item(1, 100), item(9)]);
    await h.remove('orders', { pk: { S: 'item-2' }, sk: { N: '0' } });
    await h.advance(1800);
    const to = h.now();
    const { arn } = await h.source.startExport({
      tableArn: `arn:aws:dynamodb:eu-west-1:${h.account}:table/orders`,
      prefix: 'bunker/orders/inc-1',
      type: 'INCREMENTAL_EXPORT',
      from,
      to,
      clientToken: 'token-inc-1',
    });
    const status = await completed(h.source, arn);
    const lines = await exportLines(h.source, status.manifestKey as string);
    const byPk = Object.fromEntries(lines.map((l) => [pkOf(l.Keys), l]));
    expect(Object.keys(byPk).sort()).toEqual(['item-1', 'item-2', 'item-9']);
    expect(byPk['item-1']).toMatchObject({
      Keys: { pk: { S: 'item-1' }, sk: { N: '0' } },
      NewImage: item(1, 100),
      OldImage: item(1),
    });
    expect(byPk['item-2']).toMatchObject({ OldImage: item(2) });
    expect(byPk['item-2']).not.toHaveProperty('NewImage');
    expect(byPk['item-9']).toMatchObject({ NewImage: item(9) });
    expect(byPk['item-9']).not.toHaveProperty('OldImage');
  });

  it('refuses an export from before the earliest restorable time', async () => {
    const h = await makeHarness();
    await h.create(indexedOrdersSpec({ pointInTimeRecovery: true }));
    const before = new Date(h.now().getTime() - 3_600_000);
    await expect(
      h.source.startExport({
        tableArn: `arn:aws:dynamodb:eu-west-1:${h.account}:table/orders`,
        prefix: 'bunker/orders/old',
        type: 'FULL_EXPORT',
        exportTime: before,
        clientToken: 'token-old',
      }),
    ).rejects.toMatchObject({ name: 'InvalidExportTimeException' });
  });
});
