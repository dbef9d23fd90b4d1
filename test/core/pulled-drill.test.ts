/**
 * Drills of the pulled kinds in the core: values and tables pulled by the
 * real pulls into the in-memory vault store and inventory, then drilled
 * through the modules of `lambdas/core/pull/restore/drill.ts`.
 */
import { heldVersions } from '../../lambdas/core/drill/held';
import { describe, expect, it } from 'vitest';
import type { DrillModule, DrillSubject } from '../../lambdas/core/drill/types';
import { silentLog } from '../../lambdas/core/ports';
import { pullTables } from '../../lambdas/core/pull/dynamodb/pull';
import { hmacFingerprint } from '../../lambdas/core/pull/fingerprint';
import {
  drillTableName,
  type PulledDrillDeps,
  tableDrillModule,
  valueDrillModule,
} from '../../lambdas/core/pull/restore/drill';
import { runPull } from '../../lambdas/core/pull/run';
import type { PullContext, PulledConfigKey, PulledRecord } from '../../lambdas/core/pull/types';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryPulledInventory, MemoryVaultStore } from '../../sim/memory-pull';
import { MemorySecrets, MemorySsm } from '../../sim/memory-pull-sources';
import { MemoryTables } from '../../sim/memory-tables';
import { MemoryDrillTables, MemoryObjectInspector } from '../support/drill-tables';
import { indexedOrdersSpec, orderItem } from '../support/tables';

const ACCOUNT = '111111111111';
const BACKUP = '999999999999';
const REGION = 'eu-west-1';
const KEY = 'arn:aws:kms:eu-west-1:999999999999:key/0f0e0d0c-0000-4000-8000-000000000001';
const OTHER_KEY = 'arn:aws:kms:eu-west-1:999999999999:key/0f0e0d0c-0000-4000-8000-000000000002';
const FINGERPRINT_KEY = new Uint8Array(32).fill(9);
const CANARY = 'canary-value-7c1f';

function world(kmsKeyArn = KEY) {
  const clock = new ManualClock('2026-11-01T00:00:00.000Z');
  const store = new MemoryVaultStore();
  const records = new MemoryPulledInventory();
  const objects = new MemoryObjectInspector(store, kmsKeyArn);
  const fingerprint = hmacFingerprint(FINGERPRINT_KEY);
  const ctx = (kind: PulledConfigKey): PullContext => ({
    job: { kind, account: ACCOUNT, region: REGION },
    store,
    records,
    fingerprint,
    clock,
    log: silentLog,
    deadline: Number.POSITIVE_INFINITY,
    continueLater: async () => {},
  });
  const deps: PulledDrillDeps = {
    prefix: 'bunker',
    backupKeyArn: KEY,
    store,
    records,
    fingerprint: async () => fingerprint,
    objects,
  };
  return { clock, store, records, objects, ctx, deps };
}

const subject = (kind: DrillSubject['kind'], artifactId: string, resource: string, copyId: string): DrillSubject => ({
  kind,
  account: ACCOUNT,
  region: REGION,
  resource,
  artifactId,
  copyId,
  copyRegion: REGION,
  pick: 'newest',
});

/** Start, progress until usable (at most `steps` calls), validate: what the engine does, without its waits. */
async function drill(module: DrillModule, drillId: string, s: DrillSubject, steps = 10) {
  const handle = await module.start(drillId, s);
  const progress = [];
  for (let i = 0; i < steps; i += 1) {
    const step = await module.progress(handle, s);
    progress.push(step);
    if (step.state !== 'pending') break;
  }
  const checks = progress.at(-1)?.state === 'usable' ? await module.validate(handle, s) : [];
  return { handle, progress, checks };
}

const V1_KEY = 'ssm/111111111111/eu-west-1/%2Fapp%2Fdb/20261101T000000.000Z-1.json';
const V2_KEY = 'ssm/111111111111/eu-west-1/%2Fapp%2Fdb/20261101T010000.000Z-2.json';
const SSM_ID = 'ssm-parameter:111111111111:eu-west-1:/app/db';

async function pulledParameter() {
  const w = world();
  const ssm = new MemorySsm(w.clock, ACCOUNT, REGION);
  ssm.put('/app/db', `${CANARY}-1`, { type: 'SecureString' });
  await runPull(w.ctx('ssm'), { ssm: { scope: { ids: ['/app/db'] } } }, { ssm });
  w.clock.advance(3_600_000);
  ssm.put('/app/db', `${CANARY}-2`, { type: 'SecureString', overwrite: true });
  await runPull(w.ctx('ssm'), { ssm: { scope: { ids: ['/app/db'] } } }, { ssm });
  return w;
}

describe('value drills', () => {
  it('passes the newest held parameter version: checksum, count, key and one version, with nothing to wait for', async () => {
    const w = await pulledParameter();
    const result = await drill(valueDrillModule('ssm', w.deps), 'd1', subject('ssm', SSM_ID, '/app/db', V2_KEY));
    expect(result.handle).toEqual({ objectKey: V2_KEY });
    expect(result.progress.map((p) => p.state)).toEqual(['usable']);
    expect(result.checks).toEqual([
      { name: 'engine answers', ok: true, detail: 'the held object decrypts and decodes' },
      { name: 'checksum', ok: true, detail: "the value's fingerprint equals the inventory's" },
      {
        name: 'count',
        ok: true,
        detail:
          "2 versions in the store, 2 pulled by the inventory's count; version 2 is one the record holds; its labels are as recorded",
      },
      { name: 'key', ok: true, detail: 'the held object is encrypted under the backup-data key' },
      { name: 'written once', ok: true, detail: 'the held object has one version, as written by the pull' },
    ]);
    expect(JSON.stringify(result)).not.toContain(CANARY);
  });

  it("passes an older version against its object's own checksum", async () => {
    const w = await pulledParameter();
    expect(
      (await heldVersions(w.store, (await w.records.get(SSM_ID)) as PulledRecord)).map((held) => held.objectKey),
    ).toEqual([V1_KEY, V2_KEY]);
    const { checks } = await drill(valueDrillModule('ssm', w.deps), 'd2', {
      ...subject('ssm', SSM_ID, '/app/db', V1_KEY),
      pick: 'older',
    });
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(checks[1].detail).toBe(
      "the value's fingerprint equals its object's (the inventory keeps only the newest version's)",
    );
  });

  it('fails an object written over with other bytes under the same key, and one under another key', async () => {
    const w = await pulledParameter();
    const stored = JSON.parse(Buffer.from((await w.store.get(V2_KEY)) as Uint8Array).toString('utf8'));
    // The attacker keeps every field, the embedded checksum included, and swaps the value.
    w.objects.overwrite(V2_KEY, Buffer.from(JSON.stringify({ ...stored, data: 'attacker-chosen' })));
    const { checks } = await drill(valueDrillModule('ssm', w.deps), 'd3', subject('ssm', SSM_ID, '/app/db', V2_KEY));
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['checksum', 'written once']);
    expect(checks[1].detail).toBe(
      "the value's fingerprint differs from the inventory's: the held version is not what was pulled",
    );

    const elsewhere = world(OTHER_KEY);
    const ssm = new MemorySsm(elsewhere.clock, ACCOUNT, REGION);
    ssm.put('/app/db', 'x');
    await runPull(elsewhere.ctx('ssm'), { ssm: { scope: { ids: ['/app/db'] } } }, { ssm });
    const keyed = await drill(valueDrillModule('ssm', elsewhere.deps), 'd4', subject('ssm', SSM_ID, '/app/db', V1_KEY));
    expect(keyed.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['key']);
  });

  it('fails a version missing from the store, and passes a secret without ever showing its value', async () => {
    const w = await pulledParameter();
    w.store.objects.delete(V1_KEY);
    const missing = await drill(valueDrillModule('ssm', w.deps), 'd5', subject('ssm', SSM_ID, '/app/db', V1_KEY));
    expect(missing.checks).toEqual([
      { name: 'engine answers', ok: false, detail: `the vault store has no object at ${V1_KEY}` },
    ]);

    const secrets = new MemorySecrets(w.clock, ACCOUNT, REGION);
    secrets.create('prod/api', `${CANARY}-secret`);
    await runPull(w.ctx('secrets'), { secrets: { scope: { ids: ['prod/api'] } } }, { secrets });
    const record = await w.records.get('secret:111111111111:eu-west-1:prod/api');
    const result = await drill(
      valueDrillModule('secrets', w.deps),
      'd6',
      subject('secrets', 'secret:111111111111:eu-west-1:prod/api', 'prod/api', record?.latest?.objectKey ?? ''),
    );
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([
      ['engine answers', true],
      ['checksum', true],
      ['count', true],
      ['key', true],
      ['written once', true],
    ]);
    expect(JSON.stringify(result)).not.toContain(CANARY);
  });
});

const TABLE_ID = 'dynamodb-table:111111111111:eu-west-1:orders';
const SCAN_MANIFEST = 'dynamodb/111111111111/eu-west-1/orders/20261101T000000Z-scan/manifest.json';

async function pulledTable(items = 5) {
  const w = world();
  const source = new MemoryTables(ACCOUNT, REGION, w.clock);
  source.create(indexedOrdersSpec());
  for (let i = 0; i < items; i += 1) source.putItem('orders', orderItem(i));
  await pullTables(
    w.ctx('dynamodb'),
    {
      scope: { ids: ['orders'] },
      scanReadShare: 1,
      scanReadUnitsPerSecond: 1000,
      scanSegments: 2,
      fullExportEveryHours: 24,
    },
    source,
    { sleep: async (ms) => void w.clock.advance(ms) },
  );
  const tables = new MemoryDrillTables(new MemoryTables(BACKUP, REGION, w.clock));
  return { ...w, tables };
}

describe('table drills', () => {
  it('loads the held dump into a tagged table under the backup-data key in chunks, validates it and deletes it', async () => {
    const w = await pulledTable(5);
    w.tables.creatingFor = 1;
    const module = tableDrillModule({ ...w.deps, tables: w.tables, itemsPerStep: 2 });
    const s = subject('dynamodb', TABLE_ID, 'orders', SCAN_MANIFEST);
    const drillId = 'dynamodb:111111111111:eu-west-1:orders:2026-11-01T02:00:00.000Z';
    const result = await drill(module, drillId, s);
    expect(
      (await heldVersions(w.store, (await w.records.get(TABLE_ID)) as PulledRecord)).map((held) => held.objectKey),
    ).toEqual([SCAN_MANIFEST]);

    expect(drillTableName('bunker', drillId)).toBe('bunker-drill-6b2b53d4c28b');
    expect(result.handle).toEqual({ table: 'bunker-drill-6b2b53d4c28b', drillId });
    expect(result.progress).toEqual([
      { state: 'pending', detail: 'the drill table is CREATING' },
      { state: 'pending', detail: '2 of 5 items loaded' },
      { state: 'pending', detail: '4 of 5 items loaded' },
      { state: 'usable', detail: '5 items loaded' },
    ]);
    expect(result.checks).toEqual([
      { name: 'engine answers', ok: true, detail: 'DynamoDB scans the drill table (ACTIVE)' },
      { name: 'item count', ok: true, detail: '5 items read back, 5 in the held dump, 5 by the inventory' },
      {
        name: 'checksum',
        ok: true,
        detail: "the items read back equal the held dump; the dump's checksum is the inventory's",
      },
      { name: 'schema', ok: true, detail: 'keys and indexes as the manifest describes' },
      { name: 'dump key', ok: true, detail: "the dump's manifest is encrypted under the backup-data key" },
      { name: 'written once', ok: true, detail: "the dump's manifest has one version, as written by the pull" },
      { name: 'key', ok: true, detail: 'the drill table is encrypted under the backup-data key' },
    ]);
    expect((await w.tables.describe(result.handle.table))?.tags).toEqual({
      'bunker:drill': drillId,
      'bunker:drill-loaded': '5',
    });
    // A retried start finds its own table and makes nothing twice.
    expect(await module.start(drillId, s)).toEqual(result.handle);
    expect(w.tables.dynamo.tables.size).toBe(1);
    expect(await module.tearDown(result.handle, s)).toBe(true);
    expect(w.tables.dynamo.tables.size).toBe(0);
    expect(await module.tearDown(result.handle, s)).toBe(true);
  });

  it('waits out throttling: a chunk still unprocessed after the resends is loaded again by the next call', async () => {
    const w = await pulledTable(5);
    const module = tableDrillModule({ ...w.deps, tables: w.tables, sleep: async () => {} });
    const s = subject('dynamodb', TABLE_ID, 'orders', SCAN_MANIFEST);
    const handle = await module.start('d9', s);
    // Six attempts (one send, five resends) of five items each, all refused.
    w.tables.dynamo.throttleNextBatch = 30;
    expect(await module.progress(handle, s)).toEqual({ state: 'pending', detail: 'throttled: 0 of 5 items loaded' });
    expect(await module.progress(handle, s)).toEqual({ state: 'usable', detail: '5 items loaded' });
    expect((await module.validate(handle, s)).every((c) => c.ok)).toBe(true);
  });

  it('fails a dump whose file was replaced, and never deletes a table that is not its own', async () => {
    const w = await pulledTable(3);
    const part = [...w.store.objects.keys()].find((key) => key.includes('/parts/')) as string;
    w.objects.overwrite(part, Buffer.from('not the part'));
    const module = tableDrillModule({ ...w.deps, tables: w.tables });
    const s = subject('dynamodb', TABLE_ID, 'orders', SCAN_MANIFEST);
    const result = await drill(module, 'd7', s);
    expect(result.progress.at(-1)?.state).toBe('failed');
    expect(result.progress.at(-1)?.detail).toMatch(
      /^the held dump cannot be read: Error: the dump file .* does not match/,
    );
    expect(await module.tearDown(result.handle, s)).toBe(true);

    const name = drillTableName('bunker', 'd8');
    await w.tables.create(name, { ...indexedOrdersSpec({ name }), arn: 'x' }, KEY, { 'bunker:drill': 'other' });
    await expect(module.start('d8', s)).rejects.toThrow(`a table named ${name} exists and is not this drill's`);
    await expect(module.tearDown({ table: name, drillId: 'd8' }, s)).rejects.toThrow(/left alone/);
    expect(w.tables.dynamo.tables.has(name)).toBe(true);
  });
});
