/**
 * The table restore over dumps pulled by the real pull into the in-memory
 * vault store, written into a second in-memory DynamoDB (the target account).
 */
import { describe, expect, it } from 'vitest';
import { pullTables } from '../../lambdas/core/pull/dynamodb/pull';
import type { Item } from '../../lambdas/core/pull/dynamodb/types';
import { restoreTable } from '../../lambdas/core/pull/restore/tables';
import type { DynamoPullSettings, PullJob } from '../../lambdas/core/pull/types';
import { silentLog } from '../../lambdas/core/ports';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryPulledInventory, MemoryVaultStore } from '../../sim/memory-pull';
import { MemoryTables } from '../../sim/memory-tables';
import { indexedOrdersSpec, orderItem } from '../support/tables';

const ACCOUNT = '222222222222';
const TARGET = '555555555555';
const REGION = 'eu-west-1';
const JOB: PullJob = { kind: 'dynamodb', account: ACCOUNT, region: REGION };
const SETTINGS: DynamoPullSettings = {
  scope: { ids: ['orders'] },
  scanReadShare: 0.5,
  scanReadUnitsPerSecond: 1000,
  scanSegments: 3,
  fullExportEveryHours: 24,
};

function world(spec = indexedOrdersSpec()) {
  const clock = new ManualClock('2026-11-01T00:00:00.000Z');
  const source = new MemoryTables(ACCOUNT, REGION, clock);
  const target = new MemoryTables(TARGET, REGION, clock);
  const store = new MemoryVaultStore();
  const records = new MemoryPulledInventory();
  source.create(spec);
  const pull = (job: PullJob = JOB) =>
    pullTables(
      {
        job,
        store,
        records,
        fingerprint: { of: () => 'unused' },
        clock,
        log: silentLog,
        deadline: Number.POSITIVE_INFINITY,
        continueLater: async () => {},
      },
      SETTINGS,
      source,
      { sleep: async (ms) => void clock.advance(ms) },
    );
  const restore = (at?: string, options = {}, rewrite?: (text: string) => string) =>
    restoreTable(
      store,
      target,
      {
        account: ACCOUNT,
        region: REGION,
        table: 'orders',
        toTable: `restored-${at ?? 'latest'}`,
        rewrite,
        ...(at ? { at: new Date(at) } : {}),
      },
      options,
    );
  return { clock, source, target, store, pull, restore };
}

const byPk = (items: Item[]) =>
  Object.fromEntries(items.map((i) => [(i.pk as { S: string }).S, (i.n as { N: string }).N]));

describe('restoreTable', () => {
  it('recreates a scan-dumped table with its indexes, billing, stream and TTL, and every item', async () => {
    const w = world();
    for (let i = 0; i < 1000; i += 1) w.source.putItem('orders', orderItem(i));
    await w.pull();
    const progress: string[] = [];
    const summary = await w.restore(undefined, { progress: (message: string) => progress.push(message) });
    expect(summary).toMatchObject({
      ok: true,
      method: 'batch-write',
      expectedCount: 1000,
      restoredCount: 1000,
      problems: [],
    });
    expect(summary.dumps).toEqual(['20261101T000000Z-scan']);
    const restored = await w.target.describeTable('restored-latest');
    expect(restored).toMatchObject({
      billingMode: 'PROVISIONED',
      provisioned: { read: 50, write: 10 },
      streamViewType: 'NEW_AND_OLD_IMAGES',
      ttlAttribute: 'expires',
    });
    expect(restored?.localIndexes.map((i) => i.name)).toEqual(['by-n']);
    expect(restored?.globalIndexes[0]).toMatchObject({
      name: 'n-global',
      projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['tags'] },
    });
    expect(progress[0]).toBe('replaying dumps');
    expect(progress[progress.length - 1]).toBe('restored');
  });

  it('--at replays the full export and the incremental exports up to T, and no further', async () => {
    const w = world(indexedOrdersSpec({ pointInTimeRecovery: true }));
    for (let i = 0; i < 10; i += 1) w.source.putItem('orders', orderItem(i));
    await w.pull();
    await w.pull({ ...JOB, table: 'orders' });
    w.clock.advance(30 * 60_000);
    w.source.putItem('orders', orderItem(100));
    w.source.deleteItem('orders', { pk: { S: 'item-3' }, sk: { N: '0' } });
    w.clock.advance(30 * 60_000);
    await w.pull();
    await w.pull({ ...JOB, table: 'orders' });
    w.clock.advance(30 * 60_000);
    w.source.putItem('orders', orderItem(5, 500));
    w.clock.advance(30 * 60_000);
    await w.pull();
    await w.pull({ ...JOB, table: 'orders' });

    const atHalfPastOne = await w.restore('2026-11-01T01:30:00.000Z');
    expect(atHalfPastOne).toMatchObject({ ok: true, expectedCount: 10, pointInTime: '2026-11-01T01:00:00.000Z' });
    expect(atHalfPastOne.dumps).toEqual(['20261101T000000Z-export-full', '20261101T010000Z-export-incremental']);
    expect(byPk(w.target.items('restored-2026-11-01T01:30:00.000Z'))).toEqual({
      'item-0': '0',
      'item-1': '1',
      'item-2': '2',
      'item-4': '4',
      'item-5': '5',
      'item-6': '6',
      'item-7': '7',
      'item-8': '8',
      'item-9': '9',
      'item-100': '100',
    });

    const latest = await w.restore();
    expect(latest.dumps).toEqual([
      '20261101T000000Z-export-full',
      '20261101T010000Z-export-incremental',
      '20261101T020000Z-export-incremental',
    ]);
    expect(byPk(w.target.items('restored-latest'))['item-5']).toBe('500');

    const atStart = await w.restore('2026-11-01T00:59:59.000Z');
    expect(atStart.dumps).toEqual(['20261101T000000Z-export-full']);
    expect(atStart.expectedCount).toBe(10);
    expect(byPk(w.target.items('restored-2026-11-01T00:59:59.000Z'))['item-3']).toBe('3');

    await expect(w.restore('2026-10-31T23:59:59.000Z')).rejects.toThrow(
      'no dump of orders in 222222222222/eu-west-1 at or before 2026-10-31T23:59:59.000Z',
    );
  });

  it('imports a big table without local indexes, and loads one with them itself', async () => {
    const noLsi = world(indexedOrdersSpec({ localIndexes: [] }));
    for (let i = 0; i < 30; i += 1) noLsi.source.putItem('orders', orderItem(i));
    await noLsi.pull();
    const imported = await noLsi.restore(undefined, { importThreshold: 20 });
    expect(imported).toMatchObject({ ok: true, method: 'import', restoredCount: 30 });
    expect(noLsi.target.imports).toBe(1);

    const withLsi = world();
    for (let i = 0; i < 30; i += 1) withLsi.source.putItem('orders', orderItem(i));
    await withLsi.pull();
    const loaded = await withLsi.restore(undefined, { importThreshold: 20 });
    expect(loaded).toMatchObject({ ok: true, method: 'batch-write', restoredCount: 30 });
    expect(withLsi.target.imports).toBe(0);
  });

  it('sends unprocessed items again', async () => {
    const w = world();
    for (let i = 0; i < 60; i += 1) w.source.putItem('orders', orderItem(i));
    await w.pull();
    w.target.throttleNextBatch = 30;
    const summary = await w.restore(undefined, { sleep: async () => {} });
    expect(summary).toMatchObject({ ok: true, restoredCount: 60 });
  });

  it('fails when the restored table does not hold what the dumps hold', async () => {
    const w = world();
    for (let i = 0; i < 1000; i += 1) w.source.putItem('orders', orderItem(i));
    await w.pull();
    const batchPut = w.target.batchPut.bind(w.target);
    let calls = 0;
    w.target.batchPut = async (name, items) => {
      calls += 1;
      // An item lost on the way, and nobody said so.
      return batchPut(name, calls === 7 ? items.slice(1) : items);
    };
    const summary = await w.restore();
    expect(summary.ok).toBe(false);
    expect(summary.problems).toEqual([
      '999 items restored, 1000 expected',
      'the restored items do not match the dumps (checksum)',
    ]);
  });

  it('refuses a dump file that does not match its manifest', async () => {
    const w = world();
    for (let i = 0; i < 10; i += 1) w.source.putItem('orders', orderItem(i));
    await w.pull();
    const part = [...w.store.objects.keys()].find((k) => k.includes('/parts/')) as string;
    w.store.objects.set(part, Uint8Array.from([1, 2, 3]));
    await expect(w.restore()).rejects.toThrow(`the dump file ${part} does not match its SHA-256 in the manifest`);
  });

  it('--rewrite applies to string values, and the check is against the rewritten items', async () => {
    const w = world();
    w.source.putItem('orders', {
      pk: { S: 'item-1' },
      sk: { N: '0' },
      n: { N: '1' },
      host: { S: 'db.111.example' },
      tags: { SS: ['111'] },
      nested: { M: { url: { S: 'https://111/' } } },
    });
    await w.pull();
    const summary = await w.restore(undefined, {}, (text) => text.replaceAll('111', '999'));
    expect(summary.ok).toBe(true);
    expect(w.target.items('restored-latest')).toEqual([
      {
        pk: { S: 'item-1' },
        sk: { N: '0' },
        n: { N: '1' },
        host: { S: 'db.999.example' },
        tags: { SS: ['999'] },
        nested: { M: { url: { S: 'https://999/' } } },
      },
    ]);
  });
});
