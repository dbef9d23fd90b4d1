/**
 * Which copies a drill restores (the newest of each resource, and a random
 * older one within retention) and how long kinds and accounts have gone
 * without a proven restore.
 */
import { describe, expect, it } from 'vitest';
import { heldVersions } from '../../lambdas/core/drill/held';
import { copiedResources, planDrills, type PlanOptions, staleness } from '../../lambdas/core/drill/plan';
import type { DrillResult, DrillSummary } from '../../lambdas/core/drill/types';
import type { CopyStatus, InventoryRecord } from '../../lambdas/core/inventory';
import type { PulledRecord } from '../../lambdas/core/pull/types';
import { MemoryVaultStore } from '../../sim/memory-pull';

const A = '222222222222';
const B = '333333333333';
const REGION = 'eu-west-1';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

function copy(
  id: string,
  resource: string,
  takenDaysAgo: number,
  extra: Partial<InventoryRecord> & { status?: CopyStatus } = {},
): InventoryRecord {
  return {
    artifactId: `rds-snapshot:${extra.sourceAccount ?? A}:${REGION}:${id}`,
    kind: 'rds-snapshot',
    status: 'available',
    sourceAccount: A,
    sourceRegion: REGION,
    sourceId: id,
    sourceResourceId: resource,
    sourceCreatedAt: daysAgo(takenDaysAgo),
    targetName: `copy-${id}`,
    targetId: `copy-${id}`,
    targetRegion: REGION,
    createdAt: daysAgo(takenDaysAgo),
    updatedAt: daysAgo(takenDaysAgo),
    completedAt: daysAgo(takenDaysAgo),
    copyAttempts: 1,
    failures: 0,
    version: 3,
    history: [],
    ...extra,
  };
}

function secret(name: string, objectKey: string, modifiedDaysAgo: number): PulledRecord {
  return {
    artifactId: `secret:${B}:${REGION}:${name}`,
    kind: 'secret',
    pullScope: `secret:${B}:${REGION}`,
    state: 'held',
    sourceAccount: B,
    sourceRegion: REGION,
    sourceId: name,
    latest: {
      id: 'v3',
      modifiedAt: daysAgo(modifiedDaysAgo),
      pulledAt: daysAgo(modifiedDaysAgo),
      objectKey,
      checksum: 'hmac',
    },
    firstPulledAt: daysAgo(50),
    createdAt: daysAgo(50),
    updatedAt: daysAgo(modifiedDaysAgo),
    version: 4,
  };
}

const options = (extra: Partial<PlanOptions> = {}): PlanOptions => ({
  now: NOW,
  backupRegion: REGION,
  kinds: ['rds', 'secrets'],
  older: false,
  random: () => 0,
  ...extra,
});

const picks = (drills: ReturnType<typeof planDrills>) =>
  drills.map((d) => `${d.subject.kind} ${d.subject.resource} ${d.subject.pick} ${d.subject.copyId}`);

describe('planDrills', () => {
  const copies = [
    copy('s1', 'payments-db', 30),
    copy('s2', 'payments-db', 2),
    copy('s3', 'payments-db', 10),
    copy('s4', 'payments-db', 1, { status: 'copying' }),
    copy('s5', 'payments-db', 0, { hop: 2, targetRegion: 'eu-central-1', artifactId: 'rds-snapshot:x@eu-central-1' }),
    copy('l1', 'ledger', 5),
    copy('x1', 'orders', 3, { sourceAccount: B }),
  ];

  it('restores the newest available copy in the backup Region of each resource, each as a fresh drill', () => {
    const drills = planDrills({ copies, pulled: [] }, options());

    // In the order of kind, account, Region and resource.
    expect(picks(drills)).toEqual([
      'rds ledger newest copy-l1',
      'rds payments-db newest copy-s2',
      'rds orders newest copy-x1',
    ]);
    expect(drills[1]).toEqual({
      drillId: `rds:${A}:${REGION}:payments-db:2026-06-01T00:00:00.000Z`,
      subject: {
        kind: 'rds',
        account: A,
        region: REGION,
        resource: 'payments-db',
        artifactId: `rds-snapshot:${A}:${REGION}:s2`,
        copyId: 'copy-s2',
        copyRegion: REGION,
        copiedFrom: '2026-05-30T00:00:00.000Z',
        pick: 'newest',
      },
      phase: 'restoring',
      startedAt: '2026-06-01T00:00:00.000Z',
      done: false,
    });
  });

  it('filters by kind, account and resource, and leaves out kinds the configuration does not enable', () => {
    const pulled = [secret('db-password', 'secrets/k1.json', 3)];
    expect(picks(planDrills({ copies, pulled }, options({ account: B, kind: 'rds' })))).toEqual([
      'rds orders newest copy-x1',
    ]);
    expect(picks(planDrills({ copies, pulled }, options({ resource: 'ledger' })))).toEqual([
      'rds ledger newest copy-l1',
    ]);
    expect(picks(planDrills({ copies, pulled }, options({ kinds: ['secrets'] })))).toEqual([
      'secrets db-password newest secrets/k1.json',
    ]);
  });

  it('adds one older copy per resource, picked by the random port, only within retention less a day', () => {
    // payments-db: s3 (10 days) and s1 (30 days) are older than s2; with 20 days' retention only s3 qualifies.
    const withRetention = planDrills(
      { copies, pulled: [] },
      options({ older: true, retentionDays: { rds: 20 }, random: () => 0.99 }),
    );
    expect(picks(withRetention)).toEqual([
      'rds ledger newest copy-l1',
      'rds payments-db newest copy-s2',
      'rds payments-db older copy-s3',
      'rds orders newest copy-x1',
    ]);
    expect(withRetention[2].drillId).toBe(`rds:${A}:${REGION}:payments-db:2026-06-01T00:00:00.000Z~older`);

    // A copy 30 days old with 31 days' retention has one day left: still picked. With 30.5, not.
    const last = (retention: number, random: number) =>
      picks(
        planDrills(
          { copies, pulled: [] },
          options({ older: true, retentionDays: { rds: retention }, random: () => random }),
        ),
      );
    expect(last(31, 0.99)).toContain('rds payments-db older copy-s1');
    expect(last(31, 0)).toContain('rds payments-db older copy-s3');
    expect(last(30.5, 0.99)).toContain('rds payments-db older copy-s3');
  });

  it('picks an older held version of a pulled resource from the store listing, never the newest again', () => {
    const pulled = [secret('db-password', 'secrets/3.json', 1)];
    const olderPulled = new Map([
      [
        `secret:${B}:${REGION}:db-password`,
        [
          { objectKey: 'secrets/1.json', modifiedAt: daysAgo(40) },
          { objectKey: 'secrets/2.json', modifiedAt: daysAgo(9) },
          { objectKey: 'secrets/3.json', modifiedAt: daysAgo(1) },
        ],
      ],
    ]);

    const drills = planDrills(
      { copies: [], pulled, olderPulled },
      options({ older: true, retentionDays: { secrets: 30 }, random: () => 0.5 }),
    );

    expect(picks(drills)).toEqual([
      'secrets db-password newest secrets/3.json',
      'secrets db-password older secrets/2.json',
    ]);
    expect(drills[1].subject).toMatchObject({ artifactId: `secret:${B}:${REGION}:db-password`, copyRegion: REGION });
  });
});

describe('planDrills with drills.maxPerRun', () => {
  /** `r000` … `r119`: 120 databases, one copy each. */
  const names = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `r${String(from + i).padStart(3, '0')}`);
  const copies = names(0, 120).map((name) => copy(`${name}-s`, name, 1));
  /** What the drill log says after a run that finished at `at`: each drilled resource's latest drill. */
  const logAfter = (runs: { drills: ReturnType<typeof planDrills>; at: string }[]): DrillSummary[] => {
    const latest = new Map<string, DrillSummary>();
    for (const { drills, at } of runs) {
      for (const drill of drills) {
        const { kind, account, region, resource } = drill.subject;
        const last: DrillResult = {
          drillId: drill.drillId,
          subject: drill.subject,
          outcome: 'passed',
          startedAt: at,
          finishedAt: at,
          targetSeconds: 3600,
          checks: [],
          tornDown: true,
        };
        latest.set(resource, { kind, account, region, resource, last, lastPassed: last });
      }
    }
    return [...latest.values()];
  };
  const resources = (drills: ReturnType<typeof planDrills>) => drills.map((d) => d.subject.resource);

  it('goes round 120 resources at 50 a run: never drilled first, then the longest ago, all covered in three runs', () => {
    const first = planDrills({ copies, pulled: [] }, options({ maxPerRun: 50 }));
    expect(resources(first)).toEqual(names(0, 50));
    const second = planDrills(
      { copies, pulled: [], drilled: logAfter([{ drills: first, at: '2026-06-01T01:00:00.000Z' }]) },
      options({ maxPerRun: 50 }),
    );
    expect(resources(second)).toEqual(names(50, 100));
    const third = planDrills(
      {
        copies,
        pulled: [],
        drilled: logAfter([
          { drills: first, at: '2026-06-01T01:00:00.000Z' },
          { drills: second, at: '2026-06-08T01:00:00.000Z' },
        ]),
      },
      options({ maxPerRun: 50 }),
    );
    expect(resources(third)).toEqual([...names(100, 120), ...names(0, 30)]);
    expect(new Set([...first, ...second, ...third].map((d) => d.subject.resource)).size).toBe(120);
  });

  it('counts an older copy as a drill: the newest of each resource first, its older copy only while it fits', () => {
    const two = [copy('a1', 'alpha', 1), copy('a2', 'alpha', 3), copy('b1', 'beta', 1), copy('b2', 'beta', 3)];
    expect(picks(planDrills({ copies: two, pulled: [] }, options({ older: true, maxPerRun: 3 })))).toEqual([
      'rds alpha newest copy-a1',
      'rds alpha older copy-a2',
      'rds beta newest copy-b1',
    ]);
  });

  it('keeps the plan of a full run (50 drills, the most maxPerRun allows) under a quarter of Step Functions’ 256 KB', () => {
    // The longest names a run is likely to carry: 255-character table names, 63-character RDS copy identifiers.
    const long = (i: number) => `${'t'.repeat(250)}${String(i).padStart(5, '0')}`;
    const big = Array.from({ length: 60 }, (_, i) =>
      copy(`${long(i)}-snapshot`, long(i), 1, {
        targetId: `bunker-${long(i)}`.slice(0, 58) + String(i).padStart(5, '0'),
      }),
    );
    const drills = planDrills({ copies: big, pulled: [] }, options({ maxPerRun: 50 }));
    expect(drills).toHaveLength(50);
    // The Map's input is the Plan state's output; the Map discards its result (lib/constructs/drills.ts).
    expect(Buffer.byteLength(JSON.stringify({ drills }))).toBeLessThan(65_536);
  });
});

describe('staleness', () => {
  const result = (resource: string, outcome: 'passed' | 'failed', finishedDaysAgo: number): DrillResult => ({
    drillId: `rds:${A}:${REGION}:${resource}:${daysAgo(finishedDaysAgo)}`,
    subject: {
      kind: 'rds',
      account: A,
      region: REGION,
      resource,
      artifactId: 'x',
      copyId: 'y',
      copyRegion: REGION,
      pick: 'newest',
    },
    outcome,
    startedAt: daysAgo(finishedDaysAgo),
    finishedAt: daysAgo(finishedDaysAgo),
    targetSeconds: 3600,
    checks: [],
    tornDown: true,
  });
  const summary = (resource: string, last: DrillResult, lastPassed?: DrillResult): DrillSummary => ({
    kind: 'rds',
    account: A,
    region: REGION,
    resource,
    last,
    ...(lastPassed ? { lastPassed } : {}),
  });

  it('counts days per kind and account from the last passed drill, or from the oldest copy when never proven', () => {
    const copies = copiedResources(
      {
        copies: [copy('s1', 'payments-db', 60), copy('s2', 'payments-db', 2), copy('l1', 'ledger', 12)],
        pulled: [secret('db-password', 'secrets/1.json', 3)],
      },
      REGION,
    );
    const summaries = [
      // Proven 40 days ago, failed since: the failure does not reset the count.
      summary('payments-db', result('payments-db', 'failed', 1), result('payments-db', 'passed', 40)),
    ];

    const report = staleness(summaries, copies, { maxAgeDays: 30 }, NOW);

    expect(report.byKind).toEqual([
      { by: 'kind', key: 'rds', days: 40, resource: `rds:${A}:${REGION}:payments-db`, stale: true },
      // Never drilled: counts from its first pull, 50 days ago.
      { by: 'kind', key: 'secrets', days: 50, resource: `secrets:${B}:${REGION}:db-password`, stale: true },
    ]);
    expect(report.byAccount).toEqual([
      { by: 'account', key: A, days: 40, resource: `rds:${A}:${REGION}:payments-db`, stale: true },
      { by: 'account', key: B, days: 50, resource: `secrets:${B}:${REGION}:db-password`, stale: true },
    ]);
    expect(report.stale).toHaveLength(4);
  });

  it('is not stale at maxAgeDays exactly, and a never-drilled resource copied recently is not stale yet', () => {
    const copies = copiedResources(
      { copies: [copy('l1', 'ledger', 3), copy('p1', 'payments-db', 90)], pulled: [] },
      REGION,
    );
    const summaries = [
      summary('payments-db', result('payments-db', 'passed', 30), result('payments-db', 'passed', 30)),
    ];

    const report = staleness(summaries, copies, { maxAgeDays: 30 }, NOW);

    expect(report.byKind).toEqual([
      { by: 'kind', key: 'rds', days: 30, resource: `rds:${A}:${REGION}:payments-db`, stale: false },
    ]);
    expect(report.stale).toEqual([]);
  });
});

describe('heldVersions', () => {
  const body = new Uint8Array([1]);

  it('lists every stored version of a secret, and only the full dumps of a table', async () => {
    const store = new MemoryVaultStore();
    const name = 'db/password';
    const base = `secrets/${B}/${REGION}/${encodeURIComponent(name)}/`;
    await store.putOnce(`${base}20260501T000000.000Z-v1.json`, body);
    await store.putOnce(`${base}20260530T120000.000Z-v2.json`, body);
    await store.putOnce(`secrets/${B}/${REGION}/other/20260530T120000.000Z-v9.json`, body);
    const table = `dynamodb/${B}/${REGION}/orders/`;
    await store.putOnce(`${table}20260501T000000Z-scan/manifest.json`, body);
    await store.putOnce(`${table}20260502T000000Z-export-incremental/manifest.json`, body);
    await store.putOnce(`${table}20260503T000000Z-export-full/manifest.json`, body);
    await store.putOnce(`${table}20260503T000000Z-export-full/data/1.json.gz`, body);
    await store.putOnce(`${table}parts/abc.json.gz`, body);

    const secretVersions = await heldVersions(store, secret(name, `${base}20260530T120000.000Z-v2.json`, 2));
    const tableRecord: PulledRecord = {
      ...secret('orders', `${table}20260503T000000Z-export-full/manifest.json`, 1),
      kind: 'dynamodb-table',
    };

    expect(secretVersions).toEqual([
      { objectKey: `${base}20260501T000000.000Z-v1.json`, modifiedAt: '2026-05-01T00:00:00.000Z' },
      { objectKey: `${base}20260530T120000.000Z-v2.json`, modifiedAt: '2026-05-30T12:00:00.000Z' },
    ]);
    expect(await heldVersions(store, tableRecord)).toEqual([
      { objectKey: `${table}20260501T000000Z-scan/manifest.json`, modifiedAt: '2026-05-01T00:00:00.000Z' },
      { objectKey: `${table}20260503T000000Z-export-full/manifest.json`, modifiedAt: '2026-05-03T00:00:00.000Z' },
    ]);
  });
});
