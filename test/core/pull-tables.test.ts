/**
 * The table pull over the in-memory DynamoDB (sim/memory-tables) and the
 * in-memory vault store and inventory (sim/memory-pull). The clock is
 * manual and the read budget's sleep moves it, so rates are measured on
 * virtual time.
 */
import { describe, expect, it } from 'vitest';
import type { DumpManifest } from '../../lambdas/core/pull/dynamodb/manifest';
import { pullTables } from '../../lambdas/core/pull/dynamodb/pull';
import type { Item } from '../../lambdas/core/pull/dynamodb/types';
import type { DynamoPullSettings, PullContext, PullJob, PulledRecord } from '../../lambdas/core/pull/types';
import { silentLog } from '../../lambdas/core/ports';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryPulledInventory, MemoryVaultStore } from '../../sim/memory-pull';
import { MemoryTables } from '../../sim/memory-tables';
import { plainTableSpec } from '../support/tables';

const ACCOUNT = '222222222222';
const REGION = 'eu-west-1';
const T0 = '2026-11-01T00:00:00.000Z';
const JOB: PullJob = { kind: 'dynamodb', account: ACCOUNT, region: REGION };
const RECORD_ID = 'dynamodb-table:222222222222:eu-west-1:orders';
/** Checksums of the test items, computed outside Bunker (Python hashlib). */
const SUM_1000_SMALL = 'items-sha256-sum:3b16b88e57bc7f8b9890bea89ba4bddc3c46e62a50057293ed1bc563040031fe';
const SUM_1000_PADDED = 'items-sha256-sum:b8d9d19f20a2854bd6af73a7ed384d16714b684bf6e9010326fc159c5e2cd41b';

const SETTINGS: DynamoPullSettings = {
  scope: { tag: { key: 'backup', value: 'yes' } },
  scanReadShare: 0.2,
  scanReadUnitsPerSecond: 10,
  scanSegments: 4,
  fullExportEveryHours: 24,
};

const small = (i: number): Item => ({ pk: { S: `item-${i}` }, n: { N: String(i) } });
const padded = (i: number): Item => ({ pk: { S: `item-${i}` }, n: { N: String(i) }, pad: { S: 'x'.repeat(2000) } });

function world(spec = plainTableSpec(), items: (i: number) => Item = small, count = 1000) {
  const clock = new ManualClock(T0);
  const tables = new MemoryTables(ACCOUNT, REGION, clock);
  const store = new MemoryVaultStore();
  const records = new MemoryPulledInventory();
  const continuations: { job: PullJob; delay: number }[] = [];
  tables.create(spec, { backup: 'yes' });
  for (let i = 0; i < count; i += 1) tables.putItem(spec.name, items(i));
  const ctx = (job: PullJob = JOB, deadline = Number.POSITIVE_INFINITY): PullContext => ({
    job,
    store,
    records,
    // A readable stand-in for the HMAC: the record must hold the fingerprint of the checksum.
    fingerprint: { of: (bytes) => `fp:${Buffer.from(bytes).toString('utf8')}` },
    clock,
    log: silentLog,
    deadline,
    continueLater: async (next, delay) => {
      continuations.push({ job: next, delay });
    },
  });
  const sleep = async (ms: number) => {
    clock.advance(ms);
  };
  const pull = (job?: PullJob, deadline?: number, settings = SETTINGS) =>
    pullTables(ctx(job, deadline), settings, tables, { sleep });
  const record = async () => (await records.get(RECORD_ID)) as PulledRecord;
  const manifest = async (key: string) =>
    JSON.parse(Buffer.from((await store.get(key)) as Uint8Array).toString('utf8')) as DumpManifest;
  return { clock, tables, store, records, continuations, pull, record, manifest };
}

describe('pullTables: scan dumps (point-in-time recovery off)', () => {
  it('dumps a 1,000-item table with parallel segments into parts and a manifest', async () => {
    const w = world();
    const summary = await w.pull();
    expect(summary).toMatchObject({ inScope: 1, changed: 1, failed: 0, continued: false, breaches: [] });
    const record = await w.record();
    expect(record).toMatchObject({ state: 'held', count: 1000, checksum: `fp:${SUM_1000_SMALL}`, valueType: 'table' });
    expect(record.latest?.id).toBe('20261101T000000Z-scan');
    const manifest = await w.manifest('dynamodb/222222222222/eu-west-1/orders/20261101T000000Z-scan/manifest.json');
    expect(manifest).toMatchObject({ method: 'scan', itemCount: 1000, checksum: SUM_1000_SMALL });
    expect(manifest.pointInTime).toBe(T0);
    // 4 segments of 250 items in pages of 100: 3 parts each.
    expect(manifest.files).toHaveLength(12);
    expect(manifest.files.reduce((n, f) => n + f.count, 0)).toBe(1000);
    // Parts are named by their content (SHA-256 of the gzip body), for the table, not the dump.
    for (const file of manifest.files) {
      expect(file.key).toBe(`dynamodb/222222222222/eu-west-1/orders/parts/${file.sha256}.json.gz`);
    }
    expect(manifest.table).toMatchObject({ billingMode: 'PAY_PER_REQUEST', pointInTimeRecovery: false });
    expect(summary.dataWrites).toBe(13);
  });

  it('a second dump of an unchanged table reads it, writes nothing and says nothing changed; a change writes one part', async () => {
    const w = world();
    await w.pull();
    const writes = w.store.writes;
    w.clock.advance(3_600_000);
    const again = await w.pull();
    expect(again).toMatchObject({ changed: 0, unchanged: 1, dataWrites: 0, nothingChanged: true });
    expect(w.store.writes).toBe(writes);
    const record = await w.record();
    expect(record).toMatchObject({ state: 'held', count: 1000, checksum: `fp:${SUM_1000_SMALL}` });
    expect(record.latest?.id).toBe('20261101T000000Z-scan');
    expect(record.detail).not.toHaveProperty('scan');

    w.tables.putItem('orders', { pk: { S: 'item-7' }, n: { N: '7000' } });
    w.clock.advance(3_600_000);
    const changed = await w.pull();
    // The page holding item-7 is new; the other eleven parts are found, and the manifest is written.
    expect(changed).toMatchObject({ changed: 1, dataWrites: 2 });
    expect((await w.record()).latest?.id).toBe('20261101T020000Z-scan');
  });

  it('stops at the deadline, saves its checkpoint, continues later and ends with every item once', async () => {
    const w = world(plainTableSpec(), padded);
    // On demand at 10 units/s; a page of 100 padded items costs 25 units: 2.5 s a page.
    const first = await w.pull(JOB, Date.parse(T0) + 10_000);
    expect(first).toMatchObject({ continued: true, changed: 0 });
    expect(w.continuations).toEqual([{ job: { ...JOB, table: 'orders' }, delay: 1 }]);
    const paused = await w.record();
    expect(paused.state).toBe('pulling');
    const checkpoint = (paused.detail as { scan: { sum: { count: number }; files: unknown[] } }).scan;
    expect(checkpoint.sum.count).toBeGreaterThan(0);
    expect(checkpoint.sum.count).toBeLessThan(1000);

    const second = await w.pull({ ...JOB, table: 'orders' });
    expect(second).toMatchObject({ continued: false, changed: 1 });
    const record = await w.record();
    expect(record).toMatchObject({ state: 'held', count: 1000, checksum: `fp:${SUM_1000_PADDED}` });
    expect(record.detail).not.toHaveProperty('scan');
  });

  it('a crash after a part was written and before its checkpoint duplicates nothing', async () => {
    const w = world();
    const putOnce = w.store.putOnce.bind(w.store);
    let writes = 0;
    w.store.putOnce = async (key, body) => {
      writes += 1;
      if (writes === 6) throw new Error('the Lambda died');
      return putOnce(key, body);
    };
    const crashed = await w.pull();
    expect(crashed.failed).toBe(1);
    w.store.putOnce = putOnce;
    const resumed = await w.pull({ ...JOB, table: 'orders' });
    expect(resumed.changed).toBe(1);
    const record = await w.record();
    expect(record).toMatchObject({ count: 1000, checksum: `fp:${SUM_1000_SMALL}` });
    const parts = (await w.store.list('dynamodb/222222222222/eu-west-1/orders/')).filter((o) => o.key.includes('part'));
    expect(parts).toHaveLength(12);
  });

  it('keeps a provisioned table within its share of read capacity (measured on the virtual clock)', async () => {
    const w = world(plainTableSpec({ billingMode: 'PROVISIONED', provisioned: { read: 100, write: 5 } }), padded);
    const summary = await w.pull();
    expect(summary.changed).toBe(1);
    const elapsedSeconds = (w.clock.epochMs - Date.parse(T0)) / 1000;
    // 0.2 × 100 units = 20 units/s; one second's burst at the start; one page (25 units) per segment in flight.
    // Per segment of 250 items: pages of 100, 100 and 50 padded items cost 25.5, 25.5 and 13 units.
    expect(w.tables.consumedReads).toBe(256);
    expect(w.tables.consumedReads).toBeLessThanOrEqual(20 * elapsedSeconds + 20 + 4 * 25);
    expect(elapsedSeconds).toBeGreaterThanOrEqual(6.5);
  });

  it('an on-demand table uses the configured read rate', async () => {
    const w = world(plainTableSpec(), padded);
    await w.pull(JOB, undefined, { ...SETTINGS, scanReadUnitsPerSecond: 50 });
    const elapsedSeconds = (w.clock.epochMs - Date.parse(T0)) / 1000;
    expect(w.tables.consumedReads).toBeLessThanOrEqual(50 * elapsedSeconds + 50 + 4 * 25);
    expect(elapsedSeconds).toBeGreaterThanOrEqual(2);
    expect(elapsedSeconds).toBeLessThan(10);
  });

  it('leaves tables out of scope alone and marks a vanished table deleted at the source', async () => {
    const w = world();
    w.tables.create(plainTableSpec({ name: 'scratch' }), {});
    expect((await w.pull()).inScope).toBe(1);
    w.tables.tables.delete('orders');
    const summary = await w.pull();
    expect(summary).toMatchObject({ inScope: 0, deleted: 1 });
    expect(await w.record()).toMatchObject({ state: 'deleted-at-source', deletedAt: T0 });
    expect(await w.records.get('dynamodb-table:222222222222:eu-west-1:scratch')).toBeUndefined();
  });
});

describe('pullTables: export chains (point-in-time recovery on)', () => {
  const pitrSpec = plainTableSpec({ pointInTimeRecovery: true });

  it('starts a full export, records it and continues; the continuation copies the verified files', async () => {
    const w = world(pitrSpec);
    w.tables.holdExports = true;
    const started = await w.pull();
    expect(started).toMatchObject({ continued: true, changed: 0 });
    expect(w.continuations).toEqual([{ job: { ...JOB, table: 'orders' }, delay: 60 }]);
    const pending = await w.record();
    expect(pending.state).toBe('pulling');
    const arn = (pending.detail as { pending: { exportArn: string } }).pending.exportArn;
    expect(arn).toMatch(/^arn:aws:dynamodb:eu-west-1:222222222222:table\/orders\/export\//);

    expect((await w.pull({ ...JOB, table: 'orders' })).continued).toBe(true);
    w.tables.holdExports = false;
    const copied = await w.pull({ ...JOB, table: 'orders' });
    expect(copied).toMatchObject({ changed: 1, continued: false });
    const record = await w.record();
    expect(record).toMatchObject({ state: 'held', count: 1000, checksum: `fp:${SUM_1000_SMALL}` });
    const prefix = 'dynamodb/222222222222/eu-west-1/orders/20261101T000000Z-export-full/';
    const manifest = await w.manifest(`${prefix}manifest.json`);
    expect(manifest).toMatchObject({ method: 'export-full', pointInTime: T0, itemCount: 1000, exportArn: arn });
    expect((await w.store.list(prefix)).map((o) => o.key)).toEqual([
      `${prefix}data/file-0000.json.gz`,
      `${prefix}export/manifest-files.json`,
      `${prefix}export/manifest-summary.json`,
      `${prefix}manifest.json`,
    ]);
  });

  it('waits for the next second when recovery was turned on within this one, instead of asking for an export before it', async () => {
    const w = world(plainTableSpec());
    w.clock.advance(400);
    w.tables.setPitr('orders', true); // earliest restorable: T0 + 0.4 s; an export time in whole seconds would be T0
    const waiting = await w.pull();
    expect(waiting).toMatchObject({ continued: true, failed: 0, changed: 0 });
    expect(w.continuations).toEqual([{ job: { ...JOB, table: 'orders' }, delay: 2 }]);
    w.clock.advance(2000);
    expect(await w.pull({ ...JOB, table: 'orders' })).toMatchObject({ continued: true, failed: 0 });
    expect((await w.record()).state).toBe('pulling');
    expect(w.continuations.at(-1)).toEqual({ job: { ...JOB, table: 'orders' }, delay: 60 });
    expect(await w.pull({ ...JOB, table: 'orders' })).toMatchObject({ changed: 1, failed: 0 });
    expect((await w.record()).state).toBe('held');
  });

  it('chains incremental exports after the full one, skips windows under 15 minutes, and a full one when due', async () => {
    const w = world(pitrSpec, small, 10);
    await w.pull();
    await w.pull({ ...JOB, table: 'orders' });
    w.clock.advance(10 * 60_000);
    w.tables.putItem('orders', small(100));
    expect(await w.pull()).toMatchObject({ unchanged: 1, nothingChanged: true });

    w.clock.advance(50 * 60_000);
    w.tables.deleteItem('orders', { pk: { S: 'item-3' } });
    await w.pull();
    expect(await w.pull({ ...JOB, table: 'orders' })).toMatchObject({ changed: 1 });
    const incremental = await w.manifest(
      'dynamodb/222222222222/eu-west-1/orders/20261101T010000Z-export-incremental/manifest.json',
    );
    expect(incremental).toMatchObject({
      method: 'export-incremental',
      from: T0,
      to: '2026-11-01T01:00:00.000Z',
      after: '20261101T000000Z-export-full',
      itemCount: 2,
    });
    const record = await w.record();
    expect(record.count).toBe(10);
    expect(record.latest?.id).toBe('20261101T010000Z-export-incremental');
    expect(record.detail).toMatchObject({
      chain: { fullDumpId: '20261101T000000Z-export-full', end: '2026-11-01T01:00:00.000Z' },
    });

    w.clock.advance(23 * 3_600_000);
    await w.pull();
    expect((await w.record()).detail).toMatchObject({ pending: { method: 'export-full' } });
  });

  it('a window over 24 hours starts a new full export', async () => {
    const w = world(pitrSpec, small, 10);
    await w.pull(JOB, undefined, { ...SETTINGS, fullExportEveryHours: 100 });
    await w.pull({ ...JOB, table: 'orders' });
    w.clock.advance(25 * 3_600_000);
    await w.pull(JOB, undefined, { ...SETTINGS, fullExportEveryHours: 100 });
    expect((await w.record()).detail).toMatchObject({
      pending: { method: 'export-full', dumpId: '20261102T010000Z-export-full' },
    });
  });

  it('point-in-time recovery turned off and on again is a breach with its reason, and a new full export', async () => {
    const w = world(pitrSpec, small, 10);
    await w.pull();
    await w.pull({ ...JOB, table: 'orders' });
    w.clock.advance(30 * 60_000);
    w.tables.setPitr('orders', false);
    w.clock.advance(30 * 60_000);
    w.tables.setPitr('orders', true);
    w.clock.advance(30 * 60_000);
    const summary = await w.pull();
    expect(summary.breaches).toEqual([
      "orders: point-in-time recovery cannot reach back to the chain's end 2026-11-01T00:00:00.000Z: its earliest " +
        'restorable time is 2026-11-01T01:00:00.000Z (it was turned off meanwhile, or its window is shorter than the ' +
        'backlog); the changes in between are lost to the backup, a new full export starts the chain again',
    ]);
    const record = await w.record();
    expect(record.reason).toMatch(/^RPO breach: point-in-time recovery cannot reach back/);
    expect(record.detail).toMatchObject({
      pending: { method: 'export-full', pointInTime: '2026-11-01T01:30:00.000Z' },
    });
    expect(record.detail).not.toHaveProperty('chain');
  });

  it('turning point-in-time recovery on after scan dumps starts an export chain without a breach', async () => {
    const w = world(plainTableSpec(), small, 10);
    await w.pull();
    w.clock.advance(3_600_000);
    w.tables.setPitr('orders', true);
    w.clock.advance(60_000);
    const summary = await w.pull();
    expect(summary).toMatchObject({ breaches: [], continued: true });
    expect((await w.record()).detail).toMatchObject({
      pending: { method: 'export-full', pointInTime: '2026-11-01T01:01:00.000Z' },
    });
  });

  it('a failed export leaves the record failed with the failure message', async () => {
    const w = world(pitrSpec, small, 10);
    w.tables.failNextExport = 'S3 access denied';
    await w.pull();
    const summary = await w.pull({ ...JOB, table: 'orders' });
    expect(summary.failed).toBe(1);
    const record = await w.record();
    expect(record.state).toBe('failed');
    expect(record.reason).toMatch(
      /^export arn:aws:dynamodb:eu-west-1:222222222222:table\/orders\/export\/\w+ failed: S3 access denied$/,
    );
  });

  it('an export file that does not match manifest-files.json fails the copy and writes no manifest', async () => {
    const w = world(pitrSpec, small, 10);
    await w.pull();
    const dataKey = [...w.tables.staging.keys()].find((k) => k.includes('/data/')) as string;
    w.tables.staging.set(dataKey, Uint8Array.from([31, 139, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    const summary = await w.pull({ ...JOB, table: 'orders' });
    expect(summary.failed).toBe(1);
    expect((await w.store.list('dynamodb/')).filter((o) => o.key.endsWith('manifest.json'))).toEqual([]);
    const record = await w.record();
    expect(record.state).toBe('failed');
    expect(record.reason).toBe(`export file ${dataKey} does not match its MD5 in manifest-files.json`);
    // The next run does not copy the bad export again: it starts a new one.
    w.clock.advance(60_000);
    await w.pull();
    expect((await w.record()).detail).toMatchObject({ pending: { dumpId: '20261101T000100Z-export-full' } });
  });
});
