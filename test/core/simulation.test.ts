import { describe, expect, it } from 'vitest';
import { runSimulation, type SimulationOptions, type SimulationResult } from '../../sim/simulation';

/**
 * Duplicates, reordering, lost events, crashes, throttling, and an RDS quota
 * just above the vault's own limit, so that the vault's limit, not the
 * quota, is what keeps copies in progress down.
 */
const HOSTILE: Omit<SimulationOptions, 'seed'> = {
  sources: 3,
  databasesPerSource: 4,
  snapshotsPerDatabase: 3,
  maxCopiesInProgress: 4,
  copyDurationMs: 5 * 60_000,
  duplicateRate: 0.25,
  crashRate: 0.3,
  quotaLimit: 5,
  rounds: 500,
  eventLossRate: 0.3,
  throttleRate: 0.05,
};

const SEEDS = Array.from({ length: 10 }, (_, i) => i + 1);

/** One run per seed, shared by the tests that only read it. */
const runs = new Map<number, Promise<SimulationResult>>();
function hostileRun(seed: number): Promise<SimulationResult> {
  let run = runs.get(seed);
  if (!run) {
    run = runSimulation({ seed, ...HOSTILE });
    runs.set(seed, run);
  }
  return run;
}

/** In-scope snapshots that do not have exactly one copy and one available record, with what they have. */
function unsettled(result: SimulationResult) {
  return Object.keys(result.copiesPerSourceSnapshot)
    .filter((arn) => result.copiesPerSourceSnapshot[arn] !== 1 || result.recordPerSourceSnapshot[arn] !== 'available')
    .map((arn) => ({
      arn,
      copies: result.copiesPerSourceSnapshot[arn],
      record: result.recordPerSourceSnapshot[arn],
    }));
}

describe('runSimulation', () => {
  describe.each(SEEDS)('seed %i, with duplicates, reordering, crashes and quota errors', (seed) => {
    it('ends quiescent with exactly one copy and one available record per in-scope snapshot, within capacity', async () => {
      const result = await hostileRun(seed);

      expect(result.quiescent).toBe(true);
      expect(result.snapshotsInScope).toBeGreaterThan(0);
      expect(unsettled(result)).toEqual([]);
      expect(Object.keys(result.copiesPerSourceSnapshot)).toHaveLength(result.snapshotsInScope);
      expect(result.strayCopies).toBe(0);
      expect(result.recordsByStatus).toEqual({
        expected: 0,
        copying: 0,
        available: result.snapshotsInScope,
        failed: 0,
        rejected: 0,
        expired: 0,
      });
      expect(result.maxCopiesInProgressObserved).toBeLessThanOrEqual(HOSTILE.maxCopiesInProgress);
      expect(result.deadLetters).toBe(0);
    });
  });

  it('really injects the faults it claims to survive', async () => {
    const results = await Promise.all(SEEDS.map(hostileRun));

    const total = (pick: (r: SimulationResult) => number) => results.reduce((sum, r) => sum + pick(r), 0);
    expect(total((r) => r.crashes)).toBeGreaterThan(50);
    expect(total((r) => r.quotaErrors)).toBeGreaterThan(10);
    // A crash between publishing and tagging makes the agent announce again.
    expect(total((r) => r.notificationsPublished)).toBeGreaterThan(total((r) => r.snapshotsInScope));
    expect(total((r) => r.eventsLost)).toBeGreaterThan(10);
    // More deliveries than announcements: duplicates and redeliveries happened.
    expect(total((r) => r.messagesDelivered)).toBeGreaterThan(total((r) => r.snapshotsInScope));
    expect(total((r) => r.snapshotsOutOfScope)).toBeGreaterThan(0);
    // The vault's limit was reached, so staying within it was a real constraint.
    expect(results.some((r) => r.maxCopiesInProgressObserved === HOSTILE.maxCopiesInProgress)).toBe(true);
  });

  it('gives the same result for the same seed, and another for another seed', async () => {
    const first = await hostileRun(7);
    const again = await runSimulation({ seed: 7, ...HOSTILE });
    const other = await hostileRun(8);

    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('stops after the given rounds and says it did not settle', async () => {
    const result = await runSimulation({ seed: 1, ...HOSTILE, rounds: 3 });

    expect(result.rounds).toBe(3);
    expect(result.quiescent).toBe(false);
  });

  it.each([1, 2, 3, 4, 5])(
    'never has more copies in progress than the limit when intake handles a batch concurrently (seed %i)',
    async (seed) => {
      // Powertools' BatchProcessor handles a batch's records in parallel by default.
      const result = await runSimulation({
        seed,
        ...HOSTILE,
        parallelIntake: true,
      });

      expect(unsettled(result)).toEqual([]);
      expect(result.maxCopiesInProgressObserved).toBeLessThanOrEqual(HOSTILE.maxCopiesInProgress);
    },
  );
});

describe('a burst longer than a three-day backlog, with the shipped source agent defaults', () => {
  it('copies every in-scope snapshot exactly once, and no intermediate is deleted before the vault holds its copy', async () => {
    // 20 accounts x 17 databases x 3 snapshots arriving within half an hour; at most 20 intermediates per
    // account and Region (the default), copies of 2 hours with 20 in progress: a backlog of days.
    const result = await runSimulation({
      seed: 11,
      sources: 20,
      databasesPerSource: 17,
      snapshotsPerDatabase: 3,
      maxCopiesInProgress: 20,
      copyDurationMs: 2 * 3_600_000,
      duplicateRate: 0,
      crashRate: 0,
      quotaLimit: 20,
      rounds: 1_500,
      roundMs: 10 * 60_000,
      eventLossRate: 0.2,
      snapshotIntervalMs: 10 * 60_000,
      sourceSweepEveryRounds: 6,
      vaultSweepEveryRounds: 2,
      intermediateRetentionHours: 1,
      intermediateHorizonHours: 14 * 24,
      maxIntermediateSnapshots: 20,
    });

    expect(result.snapshotsInScope + result.snapshotsOutOfScope).toBe(1_020);
    expect(unsettled(result)).toEqual([]);
    expect(result.recordsByStatus.failed).toBe(0);
    expect(result.expiredUncopied).toBe(0);
    expect(result.quiescent).toBe(true);
    // The backlog really was longer than the old 72-hour retention window.
    expect(result.simulatedMs).toBeGreaterThan(72 * 3_600_000);
  }, 240_000);
});
