import { describe, expect, it } from 'vitest';
import { audit, type AuditDeps } from '../../lambdas/core/audit/audit';
import { auditMetrics } from '../../lambdas/core/audit/metrics';
import { listedSources } from '../../lambdas/core/enrolment/registry';
import type { AuditSettings } from '../../lambdas/core/audit/types';
import { type InventoryRecord, newRecord } from '../../lambdas/core/inventory';
import { silentLog } from '../../lambdas/core/ports';
import type { PulledRecord, PullRunRecord } from '../../lambdas/core/pull/types';
import { MemoryAlerts, MemoryAuditRecords, MemoryScopeDiscovery } from '../../sim/memory-audit';
import { MemoryInventory } from '../../sim/memory-aws';
import { MemoryPulledInventory } from '../../sim/memory-pull';
import { pullRunSummary } from '../support/pull-runs';

const SOURCE = '222222222222';
const OTHER = '333333333333';
const REGION = 'eu-west-1';
const NOW = new Date('2026-03-02T12:00:00.000Z');
const TAG = { 'bunker:backup': 'true' };

const settings = (over: Partial<AuditSettings> = {}): AuditSettings => ({
  prefix: 'bunker',
  backupAccount: '111111111111',
  sources: [{ account: SOURCE, regions: [REGION] }],
  kinds: { 'rds-snapshot': { rpoHours: 24, scope: { tag: { key: 'bunker:backup', value: 'true' } } } },
  stuckAfterHours: 6,
  ...over,
});

/** A first-hop copy record of `resource`'s snapshot taken at `taken`. */
function copyRecord(
  resource: string,
  snapshot: string,
  taken: string,
  status: InventoryRecord['status'],
  extra: Partial<InventoryRecord> = {},
  account = SOURCE,
): InventoryRecord {
  return {
    ...newRecord(
      {
        artifactId: `rds-snapshot:${account}:${REGION}:${snapshot}`,
        kind: 'rds-snapshot',
        status,
        sourceAccount: account,
        sourceRegion: REGION,
        sourceId: snapshot,
        sourceResourceId: resource,
        sourceSnapshotId: snapshot,
        sourceCreatedAt: taken,
        pool: `rds-snapshot@${REGION}`,
      },
      new Date(taken),
    ),
    ...extra,
  };
}

async function fixture(over: Partial<AuditSettings> = {}) {
  const inventory = new MemoryInventory();
  const discovery = new MemoryScopeDiscovery();
  const records = new MemoryAuditRecords();
  const alerts = new MemoryAlerts();
  const pulled = new MemoryPulledInventory();
  const audited = settings(over);
  const sources = listedSources(audited.sources.map(({ account, regions }) => ({ account, regions: [...regions] })));
  const deps: AuditDeps = { settings: audited, sources, discovery, inventory, pulled, records, alerts, log: silentLog };
  const add = async (record: InventoryRecord) => expect(await inventory.create(record)).toBe(true);
  const db = (id: string, account = SOURCE, tags: Record<string, string> = TAG) =>
    discovery.add('rds-snapshot', account, REGION, { id, scopeIds: [id], tags });
  return { deps, inventory, discovery, records, alerts, pulled, add, db };
}

describe('audit: expected versus actual', () => {
  it('judges a fresh copy ok, with its age from when production took the snapshot', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(
      copyRecord('orders', 'rds:orders-2026-03-02-06-00', '2026-03-02T06:00:00.000Z', 'available', {
        copyStartedAt: '2026-03-02T06:30:00.000Z',
        completedAt: '2026-03-02T07:00:00.000Z',
      }),
    );

    const report = await audit(f.deps, NOW);

    expect(report.resources).toEqual([
      {
        kind: 'rds-snapshot',
        account: SOURCE,
        region: REGION,
        resource: 'orders',
        rpoHours: 24,
        state: 'ok',
        newestCopy: 'rds-snapshot:222222222222:eu-west-1:rds:orders-2026-03-02-06-00',
        newestCopyAt: '2026-03-02T06:00:00.000Z',
        ageHours: 6,
        longestCopyHours: 0.5,
      },
    ]);
    expect(f.alerts.sent).toEqual([]);
  });

  it('leaves resources out of scope unjudged (tag absent or different)', async () => {
    const f = await fixture();
    f.db('scratch', SOURCE, {});
    f.db('other', SOURCE, { 'bunker:backup': 'false' });
    expect((await audit(f.deps, NOW)).resources).toEqual([]);
  });

  it('reports a late copy when the newest is older than the RPO but a newer one is under way', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 'old', '2026-03-01T06:00:00.000Z', 'available'));
    await f.add(copyRecord('orders', 'new', '2026-03-02T10:00:00.000Z', 'expected', { reason: 'waiting' }));

    const [row] = (await audit(f.deps, NOW)).resources;

    expect(row).toMatchObject({ state: 'breach', reason: 'late', ageHours: 30 });
    expect(row.detail).toBe('newest copy 30h old, beyond the RPO of 24h');
  });

  it('says nothing was shared when the source made no record within the RPO', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 'old', '2026-02-28T12:00:00.000Z', 'available'));
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ state: 'breach', reason: 'nothing shared', ageHours: 48 });
  });

  it('says nothing was shared for a resource in scope with no record at all', async () => {
    const f = await fixture();
    f.db('billing');
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ resource: 'billing', state: 'breach', reason: 'nothing shared' });
    expect(row.newestCopy).toBeUndefined();
  });

  it('reports never copied when records exist but no copy ever became available', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 'first', '2026-03-02T11:00:00.000Z', 'expected', { reason: 'waiting' }));
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ state: 'breach', reason: 'never copied' });
    expect(row.detail).toBe('no copy is available yet (1 record(s), newest expected)');
  });

  it('reports the newest record failing, with its reason', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 'old', '2026-02-28T12:00:00.000Z', 'available'));
    await f.add(copyRecord('orders', 'new', '2026-03-02T02:00:00.000Z', 'failed', { reason: 'KMS key disabled' }));
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ state: 'breach', reason: 'failed' });
    expect(row.detail).toBe('the newest copy (new) failed: KMS key disabled');
  });

  it('reports a copy in progress longer than stuckAfterHours as stuck', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(
      copyRecord('orders', 'new', '2026-03-01T02:00:00.000Z', 'copying', { copyStartedAt: '2026-03-01T03:00:00.000Z' }),
    );
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ state: 'breach', reason: 'stuck' });
    expect(row.detail).toBe('a copy has been in progress for 33h (stuck after 6h)');
  });

  it('is at risk when the longest measured copy would land after the RPO runs out', async () => {
    const f = await fixture();
    f.db('orders');
    // Newest copy 20 hours old; its copies took 1h and 5h: 20 + 5 > 24.
    await f.add(
      copyRecord('orders', 'a', '2026-03-01T06:00:00.000Z', 'available', {
        copyStartedAt: '2026-03-01T06:00:00.000Z',
        completedAt: '2026-03-01T07:00:00.000Z',
      }),
    );
    await f.add(
      copyRecord('orders', 'b', '2026-03-01T16:00:00.000Z', 'available', {
        copyStartedAt: '2026-03-01T16:00:00.000Z',
        completedAt: '2026-03-01T21:00:00.000Z',
      }),
    );
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ state: 'at-risk', ageHours: 20, longestCopyHours: 5 });
    expect(row.reason).toBeUndefined();
  });

  it('is ok when the same copies leave room: age plus the longest copy within the RPO', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(
      copyRecord('orders', 'b', '2026-03-01T16:00:00.000Z', 'available', {
        copyStartedAt: '2026-03-01T16:00:00.000Z',
        completedAt: '2026-03-01T19:00:00.000Z',
      }),
    );
    expect((await audit(f.deps, NOW)).resources[0]).toMatchObject({ state: 'ok', ageHours: 20, longestCopyHours: 3 });
  });

  it('orders breaches first, then at-risk, then ok', async () => {
    const f = await fixture({
      sources: [
        { account: SOURCE, regions: [REGION] },
        { account: OTHER, regions: [REGION] },
      ],
    });
    f.db('a-fine');
    f.db('b-risky');
    f.db('c-missing', OTHER);
    await f.add(copyRecord('a-fine', 's1', '2026-03-02T11:00:00.000Z', 'available'));
    await f.add(
      copyRecord('b-risky', 's2', '2026-03-01T14:00:00.000Z', 'available', {
        copyStartedAt: '2026-03-01T14:00:00.000Z',
        completedAt: '2026-03-01T18:00:00.000Z',
      }),
    );
    const report = await audit(f.deps, NOW);
    expect(report.resources.map((r) => `${r.state} ${r.resource}`)).toEqual([
      'breach c-missing',
      'at-risk b-risky',
      'ok a-fine',
    ]);
  });

  it('ignores second-hop records and other resources when finding the newest copy', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 'hop', '2026-03-02T11:00:00.000Z', 'available', { hop: 2 }));
    await f.add(copyRecord('billing', 'b', '2026-03-02T11:00:00.000Z', 'available'));
    expect((await audit(f.deps, NOW)).resources[0]).toMatchObject({ state: 'breach', reason: 'nothing shared' });
  });

  it('reports a source it cannot list as unreachable and judges the others', async () => {
    const f = await fixture({
      sources: [
        { account: SOURCE, regions: [REGION] },
        { account: OTHER, regions: [REGION] },
      ],
    });
    f.db('orders');
    f.discovery.failing.add(`rds-snapshot ${OTHER} ${REGION}`);
    const report = await audit(f.deps, NOW);
    expect(report.resources.map((r) => r.resource)).toEqual(['orders']);
    expect(report.unreachable).toEqual([
      'rds-snapshot 333333333333/eu-west-1: AccessDenied: cannot assume the reader role of 333333333333',
    ]);
  });
});

describe('audit: images', () => {
  it('judges an image with a copy ok whatever its age (an image never changes), and one without a copy breaching', async () => {
    const f = await fixture({ kinds: { ami: { rpoHours: 24 } } });
    for (const id of ['ami-0aaa', 'ami-0bbb']) {
      f.discovery.add('ami', SOURCE, REGION, { id, scopeIds: [id], tags: {} });
    }
    await f.add({
      ...newRecord(
        {
          artifactId: `ami:${SOURCE}:${REGION}:ami-0share`,
          kind: 'ami',
          status: 'available',
          sourceAccount: SOURCE,
          sourceRegion: REGION,
          sourceId: 'ami-0share',
          // The copy record names the production image as the snapshot it was made from.
          sourceSnapshotId: 'ami-0aaa',
          sourceResourceId: 'bunker-share-web',
          sourceCreatedAt: '2026-01-01T00:00:00.000Z',
        },
        new Date('2026-01-01T01:00:00.000Z'),
      ),
    });

    const report = await audit(f.deps, NOW, { readOnly: true });

    expect(report.resources.map((r) => [r.resource, r.state, r.reason, r.ageHours])).toEqual([
      ['ami-0bbb', 'breach', 'nothing shared', undefined],
      ['ami-0aaa', 'ok', undefined, 1452],
    ]);
  });
});

describe('audit: breach transitions', () => {
  it('records a breach once and publishes one message naming account, kind, resource, age and reason', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 'old', '2026-03-01T06:00:00.000Z', 'available'));
    await f.add(copyRecord('orders', 'new', '2026-03-02T10:00:00.000Z', 'expected'));

    const first = await audit(f.deps, NOW);
    const second = await audit(f.deps, new Date('2026-03-02T12:15:00.000Z'));

    expect(first.transitions.map((t) => t.change)).toEqual(['started']);
    expect(second.transitions).toEqual([]);
    expect(f.alerts.sent).toHaveLength(1);
    expect(f.alerts.sent[0].subject).toBe('Bunker: rds-snapshot orders in 222222222222 breaches its RPO (late)');
    expect(f.alerts.sent[0].message).toContain('Account:     222222222222');
    expect(f.alerts.sent[0].message).toContain('Kind:        rds-snapshot');
    expect(f.alerts.sent[0].message).toContain('Resource:    orders');
    expect(f.alerts.sent[0].message).toContain('Newest copy: rds-snapshot:222222222222:eu-west-1:old (30h old)');
    expect(f.alerts.sent[0].message).toContain('Reason:      late: newest copy 30h old, beyond the RPO of 24h');
    expect(await f.records.get('audit:rds-snapshot:222222222222:eu-west-1:orders')).toEqual({
      artifactId: 'audit:rds-snapshot:222222222222:eu-west-1:orders',
      auditScope: 'rds-snapshot:222222222222:eu-west-1',
      kind: 'rds-snapshot',
      account: SOURCE,
      region: REGION,
      resource: 'orders',
      state: 'breach',
      reason: 'late',
      since: '2026-03-02T12:00:00.000Z',
      updatedAt: '2026-03-02T12:00:00.000Z',
      version: 1,
    });
  });

  it('publishes the end of a breach once a fresh copy is available', async () => {
    const f = await fixture();
    f.db('orders');
    await audit(f.deps, NOW);
    await f.add(copyRecord('orders', 'new', '2026-03-02T12:30:00.000Z', 'available'));

    const later = await audit(f.deps, new Date('2026-03-02T13:00:00.000Z'));

    expect(later.transitions.map((t) => t.change)).toEqual(['ended']);
    expect(f.alerts.sent.map((m) => m.subject)).toEqual([
      'Bunker: rds-snapshot orders in 222222222222 breaches its RPO (nothing shared)',
      'Bunker: rds-snapshot orders in 222222222222 is back within its RPO',
    ]);
    expect(f.alerts.sent[1].message).toContain('Breaching since: 2026-03-02T12:00:00.000Z');
    expect(await f.records.get('audit:rds-snapshot:222222222222:eu-west-1:orders')).toMatchObject({
      state: 'ok',
      since: '2026-03-02T13:00:00.000Z',
      version: 2,
    });
  });

  it('does not publish when another auditor already recorded the transition', async () => {
    const f = await fixture();
    f.db('orders');
    await f.records.create({
      artifactId: 'audit:rds-snapshot:222222222222:eu-west-1:orders',
      auditScope: 'rds-snapshot:222222222222:eu-west-1',
      kind: 'rds-snapshot',
      account: SOURCE,
      region: REGION,
      resource: 'orders',
      state: 'breach',
      since: '2026-03-02T11:59:00.000Z',
      updatedAt: '2026-03-02T11:59:00.000Z',
      version: 1,
    });
    expect((await audit(f.deps, NOW)).transitions).toEqual([]);
    expect(f.alerts.sent).toEqual([]);
  });

  it('puts the record back when the publish fails, so the next audit alerts again', async () => {
    const f = await fixture();
    f.db('orders');
    f.alerts.failNext = 1;
    await expect(audit(f.deps, NOW)).rejects.toThrow('alerts topic unavailable');
    expect(await f.records.get('audit:rds-snapshot:222222222222:eu-west-1:orders')).toMatchObject({
      state: 'ok',
      version: 2,
    });
    await audit(f.deps, NOW);
    expect(f.alerts.sent).toHaveLength(1);
  });

  it('writes and publishes nothing when read-only (bunker status)', async () => {
    const f = await fixture();
    f.db('orders');
    const report = await audit(f.deps, NOW, { readOnly: true });
    expect(report.resources[0]).toMatchObject({ state: 'breach' });
    expect(f.records.records.size).toBe(0);
    expect(f.alerts.sent).toEqual([]);
  });

  it('writes nothing for a resource that is and stays ok', async () => {
    const f = await fixture();
    f.db('orders');
    await f.add(copyRecord('orders', 's', '2026-03-02T11:00:00.000Z', 'available'));
    await audit(f.deps, NOW);
    expect(f.records.records.size).toBe(0);
  });
});

describe('audit: pulled kinds', () => {
  const pulledRecord = (name: string, over: Partial<PulledRecord> = {}): PulledRecord => ({
    artifactId: `ssm-parameter:${SOURCE}:${REGION}:${name}`,
    kind: 'ssm-parameter',
    pullScope: `ssm-parameter:${SOURCE}:${REGION}`,
    state: 'held',
    sourceAccount: SOURCE,
    sourceRegion: REGION,
    sourceId: name,
    latest: {
      id: '3',
      modifiedAt: '2026-02-01T00:00:00.000Z',
      pulledAt: '2026-03-02T08:00:00.000Z',
      objectKey: 'k',
      checksum: 'c',
    },
    createdAt: '2026-02-01T00:00:00.000Z',
    updatedAt: '2026-03-02T08:00:00.000Z',
    version: 1,
    ...over,
  });
  const run = (finishedAt: string): PullRunRecord => ({
    artifactId: `pull-run:ssm:${SOURCE}:${REGION}`,
    kind: 'pull-run',
    lastRunAt: finishedAt,
    version: 1,
    summary: pullRunSummary({
      account: SOURCE,
      region: REGION,
      startedAt: finishedAt,
      finishedAt,
      inScope: 2,
      unchanged: 2,
    }),
  });

  it('ages an unchanged value from the last run that compared it; a failed pull breaches', async () => {
    const f = await fixture({ kinds: { 'ssm-parameter': { rpoHours: 2 } } });
    await f.pulled.create(pulledRecord('/app/db-url'));
    await f.pulled.create(
      pulledRecord('/app/token', { state: 'failed', reason: 'AccessDeniedException on GetParameter' }),
    );
    await f.pulled.create(pulledRecord('/app/gone', { state: 'deleted-at-source' }));
    await f.pulled.putRun(run('2026-03-02T11:30:00.000Z'));

    const report = await audit(f.deps, NOW);

    expect(report.resources.map((r) => [r.resource, r.state, r.reason, r.ageHours])).toEqual([
      ['/app/token', 'breach', 'failed', 4],
      ['/app/db-url', 'ok', undefined, 0.5],
    ]);
  });

  it('is late when no pull ran within the RPO', async () => {
    const f = await fixture({ kinds: { 'ssm-parameter': { rpoHours: 2 } } });
    await f.pulled.create(pulledRecord('/app/db-url'));
    const [row] = (await audit(f.deps, NOW)).resources;
    expect(row).toMatchObject({ state: 'breach', reason: 'late', ageHours: 4, newestCopy: '3' });
  });
});

describe('audit metrics', () => {
  it('counts breaches and at-risk per account and kind, the oldest age per kind, failures, quota waits and rejections', async () => {
    const f = await fixture({
      sources: [
        { account: SOURCE, regions: [REGION] },
        { account: OTHER, regions: [REGION] },
      ],
    });
    f.db('fine');
    f.db('missing', OTHER);
    await f.add(copyRecord('fine', 's1', '2026-03-02T09:00:00.000Z', 'available'));
    await f.add(copyRecord('fine', 's0', '2026-03-02T08:00:00.000Z', 'failed', { reason: 'x' }));
    await f.add(
      copyRecord('fine', 's2', '2026-03-02T11:00:00.000Z', 'expected', {
        reason: 'waiting on the RDS DB snapshot copy quota or throttling (Throttling); the sweep retries',
      }),
    );
    await f.add({
      ...newRecord(
        { artifactId: 'rejected:abc', kind: 'unknown', status: 'rejected' },
        new Date('2026-03-02T11:50:00.000Z'),
      ),
    });
    await f.add({
      ...newRecord(
        { artifactId: 'rejected:old', kind: 'unknown', status: 'rejected' },
        new Date('2026-03-02T10:00:00.000Z'),
      ),
    });

    const report = await audit(f.deps, NOW, { readOnly: true });

    // Per account only what is not zero (each would be a custom metric a month); per kind always, zero included.
    expect(auditMetrics(report, ['rds-snapshot'], [SOURCE, OTHER])).toEqual([
      {
        name: 'BreachingResources',
        dimensions: { Kind: 'rds-snapshot', SourceAccount: OTHER },
        value: 1,
        unit: 'Count',
      },
      { name: 'BreachingResources', dimensions: { Kind: 'rds-snapshot' }, value: 1, unit: 'Count' },
      { name: 'AtRiskResources', dimensions: { Kind: 'rds-snapshot' }, value: 0, unit: 'Count' },
      { name: 'OldestNewestCopyAgeHours', dimensions: { Kind: 'rds-snapshot' }, value: 3, unit: 'None' },
      { name: 'FailedCopies', dimensions: {}, value: 1, unit: 'Count' },
      { name: 'CopiesWaitingOnQuota', dimensions: {}, value: 1, unit: 'Count' },
      { name: 'RejectedNotifications', dimensions: {}, value: 1, unit: 'Count' },
    ]);
  });
});
