/**
 * Copy pools under a flood: three times the copy limit of artifacts of every
 * kind announced at once, through the real pipeline (intake, completion
 * events, the sweep) over the MemoryInventory and one MemoryCopier test
 * double per kind, whose copies take time (some are slow) and sometimes fail.
 *
 * Invariants checked after every step (each delivery, each copy event, each
 * sweep, each slot claim or release): no pool's slot counter above its limit
 * or below zero, and never more copies in progress at AWS than slots taken.
 * At the end: every artifact `available` with exactly one available copy,
 * failed copies retried under a new name, and every slot given back.
 */
import { describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { handleCopyEvent, sweepCopies } from '../../lambdas/core/pipeline/completion';
import type { VaultDeps } from '../../lambdas/core/pipeline/copy';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { type Inventory, silentLog } from '../../lambdas/core/ports';
import type { KindsSettings } from '../../lambdas/core/settings';
import { artifactId, KIND_NAMES, KINDS, poolOf } from '../../lambdas/kinds/registry';
import type { ArtifactRef, KindName } from '../../lambdas/kinds/types';
import { ManualClock, MemoryInventory, MemoryReceipts, PortMonitor, Prng } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import { BACKUP, delivered, OTHER, REGION, SECOND_REGION, SOURCE, T0 } from './support/memory-fixtures';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Simulated time between rounds. */
const ROUND_MS = 10 * MINUTE;
/** The run gives up after this many rounds: a liveness failure, not a hang. */
const MAX_ROUNDS = 1_000;
/** Bunker's copy limit per kind: AWS's default quotas, written out (the registry's `defaultCopyLimit`). */
const LIMITS: Record<KindName, number> = {
  'rds-snapshot': 20,
  'aurora-cluster-snapshot': 5,
  'ebs-snapshot': 20,
  ami: 100,
};
/**
 * The production resource of an artifact: one each, since copies of one
 * resource hold one slot between them (those are tested in schedule.test.ts).
 */
function resourceOf(ref: ArtifactRef): string {
  return `${RESOURCE[ref.kind]}-${ref.id}`;
}
const resourcesOf = (kind: KindName) => Array.from({ length: ARRIVING[kind] }, (_, n) => resourceOf(refOf(kind, n)));

/** Artifacts announced per kind: three times its limit. */
const ARRIVING: Record<KindName, number> = {
  'rds-snapshot': 60,
  'aurora-cluster-snapshot': 15,
  'ebs-snapshot': 60,
  ami: 300,
};
/** The production resource of every artifact of a kind: the vault's scope lists these four. */
const RESOURCE: Record<KindName, string> = {
  'rds-snapshot': 'orders-db',
  'aurora-cluster-snapshot': 'orders-cluster',
  'ebs-snapshot': 'vol-0a1b2c3d4e5f60718',
  ami: 'orders-web',
};
const BACKUP_KEY = `arn:aws:kms:${REGION}:${BACKUP}:key/0b0e2a4c-1111-4222-8333-944455556666`;

interface Scenario {
  readonly seed: number;
  /** AWS's quota of copies in progress per kind, when it is not Bunker's limit. */
  readonly awsQuota?: Partial<Record<KindName, number>>;
  /** Probability that a copy fails, for an artifact with fewer than two failed copies. */
  readonly failureRate: number;
  /** Probability that a copy event is never delivered. */
  readonly eventLossRate: number;
}

/** The `n`th artifact of a kind, alternating source accounts and, for {@link SOURCE}, Regions. */
function refOf(kind: KindName, n: number): ArtifactRef {
  const account = n % 2 === 0 ? SOURCE : OTHER;
  const region = account === SOURCE && n % 4 === 2 ? SECOND_REGION : REGION;
  const hex = n.toString(16).padStart(17, '0');
  const id =
    kind === 'rds-snapshot'
      ? `bunker-share-orders-${n}`
      : kind === 'aurora-cluster-snapshot'
        ? `bunker-share-cluster-${n}`
        : kind === 'ebs-snapshot'
          ? `snap-${hex}`
          : `ami-${hex}`;
  return { kind, partition: 'aws', account, region, id };
}

/** What one run saw; every figure a test asserts. */
interface PoolsRun {
  readonly accepted: number;
  readonly rounds: number;
  /** Invariants broken during the run, with where: empty when none. */
  readonly violations: string[];
  /** Highest slot counter seen per pool (MemoryInventory). */
  readonly counterPeak: Record<string, number>;
  /** Slot counter per pool at the end. */
  readonly counterEnd: Record<string, number>;
  /** Most copies in progress at AWS at once per kind (the copier double). */
  readonly awsPeak: Record<string, number>;
  readonly quotaErrors: Record<string, number>;
  readonly recordsByStatus: Record<string, number>;
  /** Artifacts with exactly one available copy. */
  readonly oneAvailableCopy: number;
  /** Failed copies at AWS, every kind. */
  readonly failedCopies: number;
  /** Failures the inventory records counted, every kind. */
  readonly recordFailures: number;
  /** Artifacts with one and with two failed copies. */
  readonly failedOnce: number;
  readonly failedTwice: number;
  /** Copy requests, every kind, and how they were answered. */
  readonly requests: number;
  readonly started: number;
  readonly exists: number;
  readonly quotaAnswers: number;
  readonly refused: number;
  readonly eventsDelivered: number;
  readonly eventsLost: number;
}

/**
 * The vault's inventory with a watch on the slot counters: after every
 * claim and every write that can release a slot, the pool's counter is read
 * and checked against its limit and against the copies AWS has in progress.
 */
function watchedInventory(
  inner: MemoryInventory,
  check: (pool: string, counter: number, where: string) => void,
): Inventory {
  const watch = async (pool: string | undefined, where: string) => {
    if (pool) check(pool, await inner.copiesInProgress(pool), where);
  };
  return {
    get: (id) => inner.get(id),
    existing: (ids) => inner.existing(ids),
    create: (record) => inner.create(record),
    replace: async (expected, next) => {
      const written = await inner.replace(expected, next);
      await watch(expected.pool, `replace ${expected.status}->${next.status} of ${next.artifactId}`);
      return written;
    },
    claimCopy: async (expected, next, limit) => {
      const claimed = await inner.claimCopy(expected, next, limit);
      await watch(next.pool, `claimCopy (${claimed}) of ${next.artifactId}`);
      return claimed;
    },
    copiesInProgress: (pool) => inner.copiesInProgress(pool),
    nextWaiting: (pool, after) => inner.nextWaiting(pool, after),
    expiredClaim: (pool, now) => inner.expiredClaim(pool, now),
    copiesInFlight: (pool, limit) => inner.copiesInFlight(pool, limit),
    awaitingFollowUp: (pool) => inner.awaitingFollowUp(pool),
    listByStatus: (status) => inner.listByStatus(status),
    list: (filter) => inner.list(filter),
  };
}

async function runPools(scenario: Scenario): Promise<PoolsRun> {
  const root = new Prng(scenario.seed);
  const behaviour = root.fork();
  const delivery = root.fork();
  const schedule = root.fork();
  const clock = new ManualClock(T0);
  const copiers = Object.fromEntries(
    KIND_NAMES.map((kind) => [
      kind,
      new MemoryCopier(kind, clock, root.fork(), {
        backupAccount: BACKUP,
        quota: scenario.awsQuota?.[kind] ?? KINDS[kind].defaultCopyLimit,
        // Most copies take 10 to 30 minutes; one in six takes 1 to 3 hours.
        copyDurationMs: (_copy, prng) =>
          prng.chance(1 / 6) ? HOUR + prng.int(2 * HOUR) : 10 * MINUTE + prng.int(20 * MINUTE),
        // At most two failed copies per artifact: the pipeline gives up after three.
        copyFails: (copy) => copy.failedBefore < 2 && behaviour.chance(scenario.failureRate),
      }),
    ]),
  ) as Record<KindName, MemoryCopier>;
  const pools = KIND_NAMES.map((kind) => poolOf(kind, REGION));
  const kindOfPool = new Map(KIND_NAMES.map((kind) => [poolOf(kind, REGION), kind]));

  const violations: string[] = [];
  const counterPeak: Record<string, number> = Object.fromEntries(pools.map((p) => [p, 0]));
  const check = (pool: string, counter: number, where: string) => {
    const kind = kindOfPool.get(pool) as KindName;
    counterPeak[pool] = Math.max(counterPeak[pool], counter);
    if (counter > LIMITS[kind]) violations.push(`${where}: ${pool} counter ${counter} above its limit ${LIMITS[kind]}`);
    if (counter < 0) violations.push(`${where}: ${pool} counter ${counter} below zero`);
    const atAws = copiers[kind].inProgress(REGION);
    if (atAws > counter)
      violations.push(`${where}: ${atAws} ${kind} copies in progress at AWS, ${counter} slots taken`);
  };
  // Concurrent use cases interleave at inventory calls, in a seeded order.
  const monitor = new PortMonitor();
  monitor.scheduler = () => schedule.int(4);
  const inventory = new MemoryInventory(monitor);
  const checkAll = async (where: string) => {
    for (const pool of pools) check(pool, await inventory.copiesInProgress(pool), where);
  };

  const kinds = Object.fromEntries(
    KIND_NAMES.map((kind) => [
      kind,
      { enabled: true, scope: { ids: KIND_NAMES.flatMap(resourcesOf) }, copyLimit: LIMITS[kind] },
    ]),
  ) as unknown as KindsSettings;
  const deps: VaultDeps = {
    settings: {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      backupRegion: REGION,
      backupKeyArn: BACKUP_KEY,
      sources: [
        { account: SOURCE, regions: [REGION, SECOND_REGION] },
        { account: OTHER, regions: [REGION] },
      ],
      kinds,
    },
    inventory: watchedInventory(inventory, check),
    copiers,
    receipts: new MemoryReceipts(),
    clock,
    log: silentLog,
  };

  // Every artifact of every kind shared, then announced at once, in a seeded order.
  const refs = KIND_NAMES.flatMap((kind) => Array.from({ length: ARRIVING[kind] }, (_, n) => refOf(kind, n)));
  for (const ref of refs) copiers[ref.kind].addSource(ref, { resourceId: resourceOf(ref) });
  const outcomes = await Promise.all(
    delivery.shuffle(refs).map(async (ref) => {
      const message = JSON.stringify({
        version: 2,
        kind: ref.kind,
        sourceAccount: ref.account,
        sourceRegion: ref.region,
        id: ref.id,
        publishedAt: T0,
      });
      const outcome = await handleDelivery(delivered(message, ref.account), deps);
      await checkAll(`after the delivery of ${ref.id}`);
      return outcome;
    }),
  );

  let rounds = 0;
  let eventsDelivered = 0;
  let eventsLost = 0;
  let busy = true;
  while (busy && rounds < MAX_ROUNDS) {
    rounds += 1;
    clock.advance(ROUND_MS);
    // Copy events are best-effort: some never arrive; the rest arrive in any order, at once.
    const events = KIND_NAMES.flatMap((kind) =>
      copiers[kind].takeFinished().map((finished) => KINDS[kind].finishedCopyEvent(finished.targetId, REGION, 'aws')),
    ).filter(() => {
      const lost = delivery.chance(scenario.eventLossRate);
      if (lost) eventsLost += 1;
      return !lost;
    });
    eventsDelivered += events.length;
    await Promise.all(
      delivery.shuffle(events).map(async (event) => {
        await handleCopyEvent(event.detailType, event.detail, deps);
        await checkAll(`round ${rounds}, after a ${event.detailType}`);
      }),
    );
    await sweepCopies(deps);
    await checkAll(`round ${rounds}, after the sweep`);
    const records = inventory.records();
    for (const pool of pools) {
      const counter = await inventory.copiesInProgress(pool);
      const copying = records.filter((r) => r.pool === pool && r.status === 'copying').length;
      if (counter !== copying) violations.push(`round ${rounds}: ${pool} counter ${counter}, ${copying} copying`);
    }
    busy = records.some((r) => r.status === 'expected' || r.status === 'copying');
  }

  const records = new Map(inventory.records().map((r) => [r.artifactId, r]));
  let oneAvailableCopy = 0;
  let failedCopies = 0;
  let recordFailures = 0;
  let failedOnce = 0;
  let failedTwice = 0;
  const totals = { requests: 0, started: 0, exists: 0, quotaAnswers: 0, refused: 0 };
  for (const ref of refs) {
    const copier = copiers[ref.kind];
    const record = records.get(artifactId(ref)) as InventoryRecord;
    const copies = copier.copiesOf(ref);
    const available = copies.filter((c) => copier.stateOf(c) === 'available');
    const failed = copies.filter((c) => copier.stateOf(c) === 'failed');
    const names = new Set(copies.map((c) => c.targetName));
    const requests = copier.requestsFor(ref);
    if (available.length === 1) oneAvailableCopy += 1;
    else violations.push(`${ref.id}: ${available.length} available copies`);
    if (names.size !== copies.length) violations.push(`${ref.id}: ${copies.length} copies under ${names.size} names`);
    if (record.failures !== failed.length) {
      violations.push(`${ref.id}: record counts ${record.failures} failures, AWS failed ${failed.length} copies`);
    }
    if (requests.started !== failed.length + 1) {
      violations.push(`${ref.id}: ${requests.started} copies started for ${failed.length} failed`);
    }
    if (requests.requests > failed.length + 1 + requests.quotaAnswers) {
      violations.push(
        `${ref.id}: ${requests.requests} requests for ${failed.length} failures, ${requests.quotaAnswers} quota answers`,
      );
    }
    if (record.status === 'available' && available[0] && record.targetId !== available[0].targetId) {
      violations.push(`${ref.id}: the record names ${record.targetId}, the available copy is ${available[0].targetId}`);
    }
    failedCopies += failed.length;
    recordFailures += record.failures;
    if (failed.length === 1) failedOnce += 1;
    if (failed.length === 2) failedTwice += 1;
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += requests[key];
  }
  const counterEnd: Record<string, number> = {};
  for (const pool of pools) counterEnd[pool] = await inventory.copiesInProgress(pool);
  const recordsByStatus: Record<string, number> = {};
  for (const record of records.values()) recordsByStatus[record.status] = (recordsByStatus[record.status] ?? 0) + 1;

  return {
    accepted: outcomes.filter((o) => o.outcome === 'accepted').length,
    rounds,
    violations,
    counterPeak,
    counterEnd,
    awsPeak: Object.fromEntries(KIND_NAMES.map((kind) => [kind, copiers[kind].peakInProgress(REGION)])),
    quotaErrors: Object.fromEntries(KIND_NAMES.map((kind) => [kind, copiers[kind].quotaErrors])),
    recordsByStatus,
    oneAvailableCopy,
    failedCopies,
    recordFailures,
    failedOnce,
    failedTwice,
    ...totals,
    eventsDelivered,
    eventsLost,
  };
}

describe('copy pools under three times the quota of every kind at once', () => {
  it('takes Bunker limits equal to the AWS quotas of the registry', () => {
    expect(Object.fromEntries(KIND_NAMES.map((kind) => [kind, KINDS[kind].defaultCopyLimit]))).toEqual(LIMITS);
  });

  it('never exceeds a pool limit, and ends with exactly one available copy of every artifact, slow and failed copies included', async () => {
    const run = await runPools({ seed: 20260301, failureRate: 0.1, eventLossRate: 0.3 });

    expect(run.violations).toEqual([]);
    expect(run.accepted).toBe(435);
    expect(run.recordsByStatus).toEqual({ available: 435 });
    expect(run.oneAvailableCopy).toBe(435);
    expect(run.counterPeak).toEqual({
      'rds-snapshot@eu-west-1': 20,
      'aurora-cluster-snapshot@eu-west-1': 5,
      'ebs-snapshot@eu-west-1': 20,
      'ami@eu-west-1': 100,
    });
    expect(run.awsPeak).toEqual({ 'rds-snapshot': 20, 'aurora-cluster-snapshot': 5, 'ebs-snapshot': 20, ami: 100 });
    expect(run.counterEnd).toEqual({
      'rds-snapshot@eu-west-1': 0,
      'aurora-cluster-snapshot@eu-west-1': 0,
      'ebs-snapshot@eu-west-1': 0,
      'ami@eu-west-1': 0,
    });
    // With Bunker's limits equal to AWS's quotas, AWS never has to say "not now".
    expect(run.quotaErrors).toEqual({ 'rds-snapshot': 0, 'aurora-cluster-snapshot': 0, 'ebs-snapshot': 0, ami: 0 });
    // 46 copies failed (40 artifacts once, 3 twice) and were retried under a new name: 435 + 46 copies started.
    expect({
      failedCopies: run.failedCopies,
      recordFailures: run.recordFailures,
      failedOnce: run.failedOnce,
      failedTwice: run.failedTwice,
      requests: run.requests,
      started: run.started,
      exists: run.exists,
      quotaAnswers: run.quotaAnswers,
      refused: run.refused,
    }).toEqual({
      failedCopies: 46,
      recordFailures: 46,
      failedOnce: 40,
      failedTwice: 3,
      requests: 481,
      started: 481,
      exists: 0,
      quotaAnswers: 0,
      refused: 0,
    });
    expect({ rounds: run.rounds, eventsDelivered: run.eventsDelivered, eventsLost: run.eventsLost }).toEqual({
      rounds: 41,
      eventsDelivered: 365,
      eventsLost: 116,
    });
  });

  it('waits, without failing or dropping any, when AWS allows fewer copies of a kind than the Bunker limit', async () => {
    const run = await runPools({
      seed: 7,
      awsQuota: { 'ebs-snapshot': 8 },
      failureRate: 0,
      eventLossRate: 0.3,
    });

    expect(run.violations).toEqual([]);
    expect(run.accepted).toBe(435);
    expect(run.recordsByStatus).toEqual({ available: 435 });
    expect(run.oneAvailableCopy).toBe(435);
    expect({ failedCopies: run.failedCopies, recordFailures: run.recordFailures }).toEqual({
      failedCopies: 0,
      recordFailures: 0,
    });
    // AWS said "not now" 40 times to EBS copies, never let more than 8 run, and every EBS snapshot still got its copy.
    expect(run.awsPeak).toEqual({ 'rds-snapshot': 20, 'aurora-cluster-snapshot': 5, 'ebs-snapshot': 8, ami: 100 });
    expect(run.quotaErrors).toEqual({ 'rds-snapshot': 0, 'aurora-cluster-snapshot': 0, 'ebs-snapshot': 40, ami: 0 });
    expect(run.counterPeak).toEqual({
      'rds-snapshot@eu-west-1': 20,
      'aurora-cluster-snapshot@eu-west-1': 5,
      'ebs-snapshot@eu-west-1': 20,
      'ami@eu-west-1': 100,
    });
    expect(run.counterEnd).toEqual({
      'rds-snapshot@eu-west-1': 0,
      'aurora-cluster-snapshot@eu-west-1': 0,
      'ebs-snapshot@eu-west-1': 0,
      'ami@eu-west-1': 0,
    });
    expect({
      requests: run.requests,
      started: run.started,
      exists: run.exists,
      quotaAnswers: run.quotaAnswers,
    }).toEqual({ requests: 475, started: 435, exists: 0, quotaAnswers: 40 });
    expect(run.rounds).toBe(42);
  });
});
