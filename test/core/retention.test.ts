import { describe, expect, it } from 'vitest';
import type { CopyStatus, InventoryRecord } from '../../lambdas/core/inventory';
import { retentionPlan, tableRetentionPlan, valueRetentionPlan } from '../../lambdas/core/retention/plan';
import { type DumpManifest, encodeManifest } from '../../lambdas/core/pull/dynamodb/manifest';
import { prune, type PruneDeps, type RetentionPolicies } from '../../lambdas/core/retention/prune';
import { ManualClock, MemoryInventory } from '../../sim/memory-aws';
import { MemoryCopies, MemoryVaultVersions } from '../../sim/memory-retention';
import type { KindName } from '../../lambdas/kinds/types';

const SOURCE = '222222222222';
const REGION = 'eu-west-1';
const SECOND = 'eu-central-1';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

interface CopyFixture {
  readonly id: string;
  readonly kind?: KindName;
  readonly resource?: string;
  readonly takenDaysAgo: number;
  readonly status?: CopyStatus;
  readonly hop?: 2;
  readonly region?: string;
  readonly completedDaysAgo?: number;
  readonly children?: readonly string[];
}

/** An inventory record of a copy: `<kind>:<account>:<region>:<id>`, its copy `copy-<id>` in `region`. */
function copy(fixture: CopyFixture): InventoryRecord {
  const kind = fixture.kind ?? 'ebs-snapshot';
  const base = `${kind}:${SOURCE}:${REGION}:${fixture.id}`;
  const artifactId = fixture.hop === 2 ? `${base}@${fixture.region ?? SECOND}` : base;
  const completed = daysAgo(fixture.completedDaysAgo ?? fixture.takenDaysAgo);
  return {
    artifactId,
    kind,
    status: fixture.status ?? 'available',
    sourceAccount: SOURCE,
    sourceRegion: REGION,
    sourceId: fixture.id,
    sourceResourceId: fixture.resource ?? 'vol-orders',
    sourceCreatedAt: daysAgo(fixture.takenDaysAgo),
    targetName: `bunker-${fixture.id}`,
    targetId: `copy-${fixture.id}${fixture.hop === 2 ? '-2' : ''}`,
    targetRegion: fixture.region ?? (fixture.hop === 2 ? SECOND : REGION),
    ...(fixture.children ? { targetChildren: fixture.children } : {}),
    ...(fixture.hop === 2 ? { hop: 2 as const } : {}),
    createdAt: completed,
    updatedAt: completed,
    completedAt: completed,
    copyAttempts: 1,
    failures: 0,
    version: 3,
    history: [],
  };
}

const EBS_35_1 = { 'ebs-snapshot': { retentionDays: 35, minCopies: 1 } };
const ids = (plan: { record: InventoryRecord }[]) => plan.map((entry) => entry.record.artifactId);

describe('retentionPlan', () => {
  it('never deletes the newest copy of a resource, even when it is older than the retention', () => {
    const records = [copy({ id: 'a', takenDaysAgo: 100 })];

    expect(retentionPlan(records, EBS_35_1, NOW)).toEqual([]);
  });

  it('keeps the newest copy and deletes the older copies past the retention', () => {
    const records = [
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 90 }),
      copy({ id: 'c', takenDaysAgo: 80 }),
    ];

    expect(ids(retentionPlan(records, EBS_35_1, NOW))).toEqual([
      'ebs-snapshot:222222222222:eu-west-1:a',
      'ebs-snapshot:222222222222:eu-west-1:b',
    ]);
  });

  it('keeps copies younger than the retention', () => {
    const records = [
      copy({ id: 'a', takenDaysAgo: 40 }),
      copy({ id: 'b', takenDaysAgo: 34 }),
      copy({ id: 'c', takenDaysAgo: 1 }),
    ];

    expect(ids(retentionPlan(records, EBS_35_1, NOW))).toEqual(['ebs-snapshot:222222222222:eu-west-1:a']);
  });

  it('keeps the newest minCopies of a resource whatever their age', () => {
    const records = [40, 41, 42, 43, 44].map((age) => copy({ id: `d${age}`, takenDaysAgo: age }));

    const plan = retentionPlan(records, { 'ebs-snapshot': { retentionDays: 35, minCopies: 3 } }, NOW);

    expect(ids(plan)).toEqual(['ebs-snapshot:222222222222:eu-west-1:d43', 'ebs-snapshot:222222222222:eu-west-1:d44']);
    expect(plan[0].reason).toBe('older than 35 days, beyond the newest 3 copies of vol-orders');
  });

  it("measures a copy's age from when production took it, not from when the copy finished", () => {
    const records = [copy({ id: 'late', takenDaysAgo: 40, completedDaysAgo: 2 }), copy({ id: 'new', takenDaysAgo: 1 })];

    expect(ids(retentionPlan(records, EBS_35_1, NOW))).toEqual(['ebs-snapshot:222222222222:eu-west-1:late']);
  });

  it('counts copies per source resource: one old copy of each of two volumes is kept', () => {
    const records = [
      copy({ id: 'a', resource: 'vol-orders', takenDaysAgo: 100 }),
      copy({ id: 'b', resource: 'vol-billing', takenDaysAgo: 100 }),
    ];

    expect(retentionPlan(records, EBS_35_1, NOW)).toEqual([]);
  });

  it('touches no record that is not available, and does not count them as copies', () => {
    const records = (['expected', 'copying', 'failed', 'rejected', 'expired'] as const).map((status) =>
      copy({ id: status, takenDaysAgo: 200, status }),
    );
    records.push(copy({ id: 'only', takenDaysAgo: 100 }));

    expect(retentionPlan(records, EBS_35_1, NOW)).toEqual([]);
  });

  it('acts only on kinds it has a policy for', () => {
    const records = [copy({ id: 'a', takenDaysAgo: 100 }), copy({ id: 'b', takenDaysAgo: 90 })];

    expect(retentionPlan(records, { 'rds-snapshot': { retentionDays: 1, minCopies: 1 } }, NOW)).toEqual([]);
  });

  it('keeps the newest copy of each Region on the second hop, under the same rule', () => {
    const records = [
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 90 }),
      copy({ id: 'a', takenDaysAgo: 100, hop: 2 }),
      copy({ id: 'b', takenDaysAgo: 90, hop: 2 }),
      copy({ id: 'c', takenDaysAgo: 80, hop: 2 }),
    ];

    expect(ids(retentionPlan(records, EBS_35_1, NOW))).toEqual([
      'ebs-snapshot:222222222222:eu-west-1:a',
      'ebs-snapshot:222222222222:eu-west-1:a@eu-central-1',
      'ebs-snapshot:222222222222:eu-west-1:b@eu-central-1',
    ]);
  });

  it('keeps a first copy while its second hop, still in flight, copies from it', () => {
    const records = [
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 90 }),
      copy({ id: 'a', takenDaysAgo: 100, hop: 2, status: 'copying' }),
    ];

    expect(ids(retentionPlan(records, EBS_35_1, NOW))).toEqual([]);
  });
});

const key = (name: string, modified: string, version: string) =>
  `ssm/${SOURCE}/${REGION}/${encodeURIComponent(name)}/${modified}-${version}.json`;

describe('valueRetentionPlan', () => {
  const versions = [
    { key: key('/app/db', '20260222T000000.000Z', '1'), versionId: 'v1' },
    { key: key('/app/db', '20260402T000000.000Z', '2'), versionId: 'v2' },
    { key: key('/app/db', '20260412T000000.000Z', '3'), versionId: 'v3' },
    { key: key('/app/db', '20260531T000000.000Z', '4'), versionId: 'v4' },
    { key: key('/app/old', '20250101T000000.000Z', '1'), versionId: 'o1' },
    { key: 'keys/fingerprint-v1', versionId: 'f1' },
    { key: `dynamodb/${SOURCE}/${REGION}/orders/20250101T000000Z-scan/manifest.json`, versionId: 'm1' },
  ];

  it('deletes versions superseded longer ago than the retention, never the newest, nothing but value objects', () => {
    const plan = valueRetentionPlan('ssm', versions, { retentionDays: 35, minCopies: 1 }, NOW);

    expect(plan).toEqual([
      {
        key: 'ssm/222222222222/eu-west-1/%2Fapp%2Fdb/20260222T000000.000Z-1.json',
        versionId: 'v1',
        resource: '/app/db',
        reason: 'superseded more than 35 days ago, beyond the newest 1 version',
      },
      {
        key: 'ssm/222222222222/eu-west-1/%2Fapp%2Fdb/20260402T000000.000Z-2.json',
        versionId: 'v2',
        resource: '/app/db',
        reason: 'superseded more than 35 days ago, beyond the newest 1 version',
      },
    ]);
  });

  it('keeps the newest minCopies versions whatever their age', () => {
    const plan = valueRetentionPlan('ssm', versions, { retentionDays: 35, minCopies: 3 }, NOW);

    expect(plan.map((entry) => entry.versionId)).toEqual(['v1']);
  });

  it('reads only its own kind', () => {
    expect(valueRetentionPlan('secrets', versions, { retentionDays: 1, minCopies: 1 }, NOW)).toEqual([]);
  });
});

const MANAGED = (kind: string) => ({
  'bunker:managed-by': 'bunker',
  'bunker:kind': kind,
  'bunker:source-account': SOURCE,
});

async function world(records: InventoryRecord[], policies: Partial<RetentionPolicies> = {}) {
  const clock = new ManualClock(NOW);
  const inventory = new MemoryInventory();
  for (const record of records) await inventory.create(record);
  const copies = new MemoryCopies();
  for (const record of records) {
    copies.add({
      kind: record.kind as KindName,
      targetId: record.targetId as string,
      region: record.targetRegion as string,
      tags: MANAGED(record.kind),
      ...(record.targetChildren ? { children: record.targetChildren } : {}),
    });
    for (const child of record.targetChildren ?? []) {
      copies.add({ kind: 'ebs-snapshot', targetId: child, region: record.targetRegion as string, tags: {} });
    }
  }
  const values = new MemoryVaultVersions(() => clock.now());
  const deps: PruneDeps = {
    policies: { copies: EBS_35_1, values: {}, ...policies },
    inventory,
    readers: copies.readers(),
    deleters: copies.deleters(),
    values,
    clock,
    log: { info() {}, warn() {}, error() {} },
  };
  return { deps, inventory, copies, values, clock };
}

describe('prune', () => {
  it('deletes what the plan says, records each deletion as expired with its reason, and keeps the newest', async () => {
    const { deps, inventory, copies } = await world([
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 50 }),
      copy({ id: 'c', takenDaysAgo: 10 }),
    ]);

    const summary = await prune(deps);

    expect(summary).toEqual({
      expired: 2,
      locked: 0,
      refused: 0,
      notBunkers: 0,
      versionsDeleted: 0,
      versionsKept: 0,
      dumpsDeleted: 0,
      dumpObjectsKept: 0,
    });
    expect(copies.ids(REGION)).toEqual(['copy-c']);
    const a = await inventory.get('ebs-snapshot:222222222222:eu-west-1:a');
    expect(a?.status).toBe('expired');
    expect(a?.expiredAt).toBe('2026-06-01T00:00:00.000Z');
    expect(a?.reason).toBe('older than 35 days, beyond the newest 1 copy of vol-orders');
    expect(a?.history.at(-1)).toEqual({
      status: 'expired',
      at: '2026-06-01T00:00:00.000Z',
      reason: 'older than 35 days, beyond the newest 1 copy of vol-orders',
    });
    expect((await inventory.get('ebs-snapshot:222222222222:eu-west-1:c'))?.status).toBe('available');
  });

  it('refuses a copy whose own tags do not say Bunker made it, and leaves its record available', async () => {
    const { deps, inventory, copies } = await world([
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 10 }),
    ]);
    copies.add({ kind: 'ebs-snapshot', targetId: 'copy-a', region: REGION, tags: { owner: 'someone-else' } });

    const summary = await prune(deps);

    expect(summary.notBunkers).toBe(1);
    expect(summary.expired).toBe(0);
    expect(copies.deleteCalls).toEqual([]);
    expect(copies.ids(REGION)).toEqual(['copy-a', 'copy-b']);
    expect((await inventory.get('ebs-snapshot:222222222222:eu-west-1:a'))?.status).toBe('available');
  });

  it('refuses a copy tagged by Bunker for another source account', async () => {
    const { deps, copies } = await world([copy({ id: 'a', takenDaysAgo: 100 }), copy({ id: 'b', takenDaysAgo: 10 })]);
    copies.add({
      kind: 'ebs-snapshot',
      targetId: 'copy-a',
      region: REGION,
      tags: { ...MANAGED('ebs-snapshot'), 'bunker:source-account': '999999999999' },
    });

    expect((await prune(deps)).notBunkers).toBe(1);
    expect(copies.deleteCalls).toEqual([]);
  });

  it('reports a locked copy once per run, never retries it in a loop, and leaves its record available', async () => {
    const { deps, inventory, copies } = await world([
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 10 }),
    ]);
    copies.add({
      kind: 'ebs-snapshot',
      targetId: 'copy-a',
      region: REGION,
      tags: MANAGED('ebs-snapshot'),
      lockedBecause: 'SnapshotLocked: the snapshot is locked in compliance mode',
    });

    expect((await prune(deps)).locked).toBe(1);
    expect((await prune(deps)).locked).toBe(1);

    expect(copies.deleteCalls).toEqual(['ebs-snapshot:eu-west-1:copy-a', 'ebs-snapshot:eu-west-1:copy-a']);
    expect(copies.ids(REGION)).toEqual(['copy-a', 'copy-b']);
    expect((await inventory.get('ebs-snapshot:222222222222:eu-west-1:a'))?.status).toBe('available');
  });

  it('deregisters an AMI copy, then deletes its backing snapshots', async () => {
    const { deps, copies } = await world(
      [
        copy({ id: 'ami-old', kind: 'ami', resource: 'web', takenDaysAgo: 100, children: ['snap-1', 'snap-2'] }),
        copy({ id: 'ami-new', kind: 'ami', resource: 'web', takenDaysAgo: 1, children: ['snap-3'] }),
      ],
      { copies: { ami: { retentionDays: 35, minCopies: 1 } } },
    );

    expect((await prune(deps)).expired).toBe(1);

    expect(copies.deleteCalls).toEqual([
      'ami:eu-west-1:copy-ami-old',
      'ebs-snapshot:eu-west-1:snap-1',
      'ebs-snapshot:eu-west-1:snap-2',
    ]);
    expect(copies.ids(REGION)).toEqual(['copy-ami-new', 'snap-3']);
  });

  it('records a copy that was gone already as expired, saying so', async () => {
    const { deps, inventory, copies } = await world([
      copy({ id: 'a', takenDaysAgo: 100 }),
      copy({ id: 'b', takenDaysAgo: 10 }),
    ]);
    await copies.deleters()['ebs-snapshot'].delete({ targetId: 'copy-a', region: REGION });

    expect((await prune(deps)).expired).toBe(1);
    expect((await inventory.get('ebs-snapshot:222222222222:eu-west-1:a'))?.reason).toBe(
      'older than 35 days, beyond the newest 1 copy of vol-orders; the copy was gone already',
    );
  });

  it('deletes expired value versions, keeps those Object Lock still holds, and never lists the fingerprint key', async () => {
    const { deps, values } = await world([], { copies: {}, values: { ssm: { retentionDays: 35, minCopies: 1 } } });
    values.put(key('/app/db', '20260222T000000.000Z', '1'), 'v1', '2026-03-29T00:00:00.000Z');
    // Pulled late (its first pull imported an old version): Object Lock holds it until July.
    values.put(key('/app/db', '20260402T000000.000Z', '2'), 'v2', '2026-07-01T00:00:00.000Z');
    values.put(key('/app/db', '20260412T000000.000Z', '3'), 'v3', '2026-05-17T00:00:00.000Z');
    values.put(key('/app/db', '20260531T000000.000Z', '4'), 'v4', '2026-07-05T00:00:00.000Z');
    values.put('keys/fingerprint-v1', 'f1', '2026-01-01T00:00:00.000Z');

    const summary = await prune(deps);

    expect(summary).toEqual({
      expired: 0,
      locked: 0,
      refused: 0,
      notBunkers: 0,
      versionsDeleted: 1,
      versionsKept: 1,
      dumpsDeleted: 0,
      dumpObjectsKept: 0,
    });
    expect(values.held()).toEqual([
      'keys/fingerprint-v1@f1',
      'ssm/222222222222/eu-west-1/%2Fapp%2Fdb/20260402T000000.000Z-2.json@v2',
      'ssm/222222222222/eu-west-1/%2Fapp%2Fdb/20260412T000000.000Z-3.json@v3',
      'ssm/222222222222/eu-west-1/%2Fapp%2Fdb/20260531T000000.000Z-4.json@v4',
    ]);
  });
});

const TABLE = `dynamodb/${SOURCE}/${REGION}/orders/`;

/** A dump of `orders`: a full one at `pointInTime`, or an incremental `after` another, listing `files`. */
function dump(
  dumpId: string,
  files: string[],
  chain: { pointInTime?: string; after?: string } = {},
): { key: string; manifest: DumpManifest } {
  return {
    key: `${TABLE}${dumpId}/manifest.json`,
    manifest: {
      format: 1,
      dumpId,
      account: SOURCE,
      region: REGION,
      table: { name: 'orders' } as DumpManifest['table'],
      method: chain.after ? 'export-incremental' : dumpId.endsWith('scan') ? 'scan' : 'export-full',
      ...(chain.pointInTime ? { pointInTime: chain.pointInTime } : {}),
      ...(chain.after ? { after: chain.after, from: '', to: '' } : {}),
      itemCount: 1,
      checksum: 'c',
      files: files.map((file) => ({ key: `${TABLE}${file}`, count: 1, sha256: 's' })),
      createdAt: chain.pointInTime ?? '',
    },
  };
}

const DUMPS = [
  // A scan in March; its parts are shared by content with the April scan.
  dump('20260301T000000Z-scan', ['parts/aaa.json.gz', 'parts/bbb.json.gz'], {
    pointInTime: '2026-03-01T00:00:00.000Z',
  }),
  // A full export in April, with an incremental after it.
  dump('20260401T000000Z-export-full', ['20260401T000000Z-export-full/data/f1.json.gz'], {
    pointInTime: '2026-04-01T00:00:00.000Z',
  }),
  dump('20260402T000000Z-export-incremental', ['20260402T000000Z-export-incremental/data/i1.json.gz'], {
    after: '20260401T000000Z-export-full',
  }),
  // A scan in mid April sharing one part with March.
  dump('20260415T000000Z-scan', ['parts/bbb.json.gz', 'parts/ccc.json.gz'], {
    pointInTime: '2026-04-15T00:00:00.000Z',
  }),
  // The newest, in May.
  dump('20260520T000000Z-scan', ['parts/ccc.json.gz', 'parts/ddd.json.gz'], {
    pointInTime: '2026-05-20T00:00:00.000Z',
  }),
];

describe('tableRetentionPlan', () => {
  it('deletes whole chains superseded before the retention, and only the files no kept dump lists', () => {
    // Cutoff 2026-04-27: March's scan was superseded on 04-01, April's export chain on 04-15; mid April's on 05-20.
    expect(tableRetentionPlan(DUMPS, { retentionDays: 35, minCopies: 1 }, NOW)).toEqual({
      dumps: [
        'dynamodb/222222222222/eu-west-1/orders/20260301T000000Z-scan/manifest.json',
        'dynamodb/222222222222/eu-west-1/orders/20260401T000000Z-export-full/manifest.json',
        'dynamodb/222222222222/eu-west-1/orders/20260402T000000Z-export-incremental/manifest.json',
      ],
      keys: [
        'dynamodb/222222222222/eu-west-1/orders/20260401T000000Z-export-full/data/f1.json.gz',
        'dynamodb/222222222222/eu-west-1/orders/20260402T000000Z-export-incremental/data/i1.json.gz',
        'dynamodb/222222222222/eu-west-1/orders/parts/aaa.json.gz',
        'dynamodb/222222222222/eu-west-1/orders/20260301T000000Z-scan/manifest.json',
        'dynamodb/222222222222/eu-west-1/orders/20260401T000000Z-export-full/manifest.json',
        'dynamodb/222222222222/eu-west-1/orders/20260402T000000Z-export-incremental/manifest.json',
      ],
    });
  });

  it('keeps the newest minCopies chains whatever their age', () => {
    const plan = tableRetentionPlan(DUMPS, { retentionDays: 35, minCopies: 3 }, NOW);

    expect(plan.dumps).toEqual(['dynamodb/222222222222/eu-west-1/orders/20260301T000000Z-scan/manifest.json']);
    expect(plan.keys).toEqual([
      'dynamodb/222222222222/eu-west-1/orders/parts/aaa.json.gz',
      'dynamodb/222222222222/eu-west-1/orders/20260301T000000Z-scan/manifest.json',
    ]);
  });

  it('never deletes the only dump of a table, however old', () => {
    expect(tableRetentionPlan([DUMPS[0]], { retentionDays: 1, minCopies: 1 }, NOW)).toEqual({ dumps: [], keys: [] });
  });
});

describe('prune of table dumps', () => {
  it('deletes every version of the planned keys, files before manifests, and counts what Object Lock kept', async () => {
    const { deps, values } = await world([], { copies: {}, tables: { retentionDays: 35, minCopies: 1 } });
    for (const stored of DUMPS) {
      values.put(stored.key, 'm', '2026-01-01T00:00:00.000Z', encodeManifest(stored.manifest));
      for (const file of stored.manifest.files) values.put(file.key, 'v', '2026-01-01T00:00:00.000Z');
    }
    // The April export's data file is still under Object Lock.
    values.put(`${TABLE}20260401T000000Z-export-full/data/f1.json.gz`, 'v', '2026-07-01T00:00:00.000Z');

    const summary = await prune(deps);

    expect(summary.dumpsDeleted).toBe(3);
    expect(summary.dumpObjectsKept).toBe(1);
    expect(values.held()).toEqual([
      'dynamodb/222222222222/eu-west-1/orders/20260401T000000Z-export-full/data/f1.json.gz@v',
      'dynamodb/222222222222/eu-west-1/orders/20260415T000000Z-scan/manifest.json@m',
      'dynamodb/222222222222/eu-west-1/orders/20260520T000000Z-scan/manifest.json@m',
      'dynamodb/222222222222/eu-west-1/orders/parts/bbb.json.gz@v',
      'dynamodb/222222222222/eu-west-1/orders/parts/ccc.json.gz@v',
      'dynamodb/222222222222/eu-west-1/orders/parts/ddd.json.gz@v',
    ]);
  });
});
