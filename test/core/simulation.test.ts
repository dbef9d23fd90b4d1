import { beforeAll, describe, expect, it } from 'vitest';
import {
  ISSUE_FAULTS,
  makespanBound,
  runSimulation,
  type SimulationOptions,
  type SimulationResult,
} from '../../sim/simulation';

/** A small burst of every kind from a few accounts, arriving shared and announced: a run takes well under a second. */
const SMALL: SimulationOptions = { seed: 5, artifacts: 120, accounts: 8 };
/** The same with the real source agents making, sharing and announcing the intermediates. */
const WITH_AGENTS: SimulationOptions = { ...SMALL, agents: true };

const peak = (points: readonly (readonly [number, number])[] | undefined) =>
  Math.max(0, ...(points ?? []).map(([, n]) => n));

describe('runSimulation', () => {
  it('gives the same result for the same seed, and another for another seed', async () => {
    const first = await runSimulation({ ...WITH_AGENTS, faults: ISSUE_FAULTS });
    const again = await runSimulation({ ...WITH_AGENTS, faults: ISSUE_FAULTS });
    const other = await runSimulation({ ...WITH_AGENTS, seed: 6, faults: ISSUE_FAULTS });

    expect(JSON.stringify(again)).toBe(JSON.stringify(first));
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(first));
  });

  describe('under the issue faults (10% throttling, 5% 5xx, 2% crashes, 10% duplicates, 5% lost events)', () => {
    let result: SimulationResult;
    beforeAll(async () => {
      result = await runSimulation({ seed: 11, artifacts: 300, accounts: 20, agents: true, faults: ISSUE_FAULTS });
    });

    it('copies every artifact exactly once, within its RPO, from production snapshot to receipt', () => {
      expect(result.settled).toBe(true);
      expect(result.agents).toBe(true);
      expect(result.artifacts).toBe(300);
      expect(result.counts.receipts).toBeGreaterThanOrEqual(300);
      expect(result.lost).toBe(0);
      expect(result.duplicated).toBe(0);
      expect(result.rpoBreaches).toBe(0);
      expect(result.counts.copiesStarted).toBe(300);
      expect(result.counts.deadLetters).toBe(0);
    });

    it('really injected the faults it survived', () => {
      expect(result.counts.crashes).toBeGreaterThan(0);
      expect(result.counts.retriedAttempts).toBeGreaterThan(100);
      expect(result.counts.copyEventsLost).toBeGreaterThan(0);
      expect(result.counts.sourceEventsLost).toBeGreaterThan(0);
      expect(result.counts.invocations['source-agent']).toBeGreaterThan(300);
      expect(result.counts.copyEventsDuplicated).toBeGreaterThan(0);
      // Duplicated messages and redelivered batches: more receives than announcements.
      expect(result.counts.messagesReceived).toBeGreaterThan(result.counts.notifications);
    });
  });

  it('settles by the sweep alone when every copy event is lost', async () => {
    const result = await runSimulation({
      ...SMALL,
      faults: { throttle: 0, serverError: 0, crash: 0, duplicate: 0, lostEvents: 1 },
    });

    expect(result.counts.copyEventsLost).toBe(120);
    expect(result.counts.invocations.completion).toBeUndefined();
    expect(result.lost).toBe(0);
    expect(result.duplicated).toBe(0);
  });

  it('never has more copies in progress in a pool than its limit, at any time', async () => {
    // The vault's limit (3) below AWS's quota (20), so AWS's refusal is not what holds the line.
    const result = await runSimulation({ ...SMALL, copyLimits: { 'rds-snapshot': 3 } });

    expect(peak(result.slots['rds-snapshot@eu-west-1'])).toBe(3);
    expect(peak(result.inFlight['rds-snapshot@eu-west-1'])).toBe(3);
    expect(peak(result.inFlight['aurora-cluster-snapshot@eu-west-1'])).toBeLessThanOrEqual(5);
    expect(peak(result.inFlight['ebs-snapshot@eu-west-1'])).toBeLessThanOrEqual(20);
    expect(peak(result.inFlight['ami@eu-west-1'])).toBeLessThanOrEqual(100);
    expect(result.lost).toBe(0);
  });

  it('runs the copies of one source resource one after another', async () => {
    const result = await runSimulation({ ...SMALL, sameResource: 0.8 });

    // Several copies of one resource really were asked for...
    expect(Object.values(result.resourceCopies).filter((copies) => copies.length > 1).length).toBeGreaterThan(0);
    // ...and the vault, holding one slot per source resource, never asked AWS for one while another ran:
    // no copy was accepted only to wait in AWS's own queue.
    const queued = Object.values(result.resourceCopies).filter((copies) =>
      copies.some(([accepted, starts]) => starts > accepted),
    );
    expect(queued).toEqual([]);
    for (const copies of Object.values(result.resourceCopies)) {
      const ordered = [...copies].sort((a, b) => a[1] - b[1]);
      for (let i = 1; i < ordered.length; i += 1) expect(ordered[i][1]).toBeGreaterThanOrEqual(ordered[i - 1][2]);
    }
  });

  it('does not lose an artifact whose intake crashed between claiming the slot and asking for the copy', async () => {
    const result = await runSimulation({
      seed: 1,
      artifacts: 1,
      accounts: 1,
      mix: { 'rds-snapshot': 1, 'aurora-cluster-snapshot': 0, 'ebs-snapshot': 0, ami: 0 },
      crashAfter: { port: 'inventory', method: 'claimCopy' },
    });

    expect(result.counts.crashes).toBe(1);
    expect(result.lost).toBe(0);
    expect(result.counts.copiesStarted).toBe(1);
    // Requested again by the sweep after the claim's 10-minute grace, not at once.
    expect(result.makespanSeconds).toBeGreaterThan(600);
  });
});

describe('makespanBound', () => {
  it('is the largest of the longest copy, each pool spread over its quota and each resource end to end', () => {
    const bound = makespanBound(
      [
        { pool: 'a', resource: 'r1', seconds: 100 },
        { pool: 'a', resource: 'r2', seconds: 200 },
        { pool: 'a', resource: 'r1', seconds: 300 },
        { pool: 'b', resource: 'r3', seconds: 150 },
        { pool: 'b', resource: 'r4', seconds: 120 },
      ],
      (pool) => (pool === 'a' ? 2 : 1),
    );

    expect(bound).toEqual({
      boundSeconds: 400,
      maxSeconds: 300,
      perPool: { a: 300, b: 270 },
      longestResourceSeconds: 400,
    });
  });

  it('is the pool load when the quota is the bottleneck', () => {
    const copies = Array.from({ length: 10 }, (_, i) => ({ pool: 'p', resource: `r${i}`, seconds: 60 }));

    expect(makespanBound(copies, () => 2).boundSeconds).toBe(300);
  });
});
