/**
 * The source agents under the issue's faults, in the seeded simulation: the
 * trace (`SourceTrace`, sim/agents.ts) follows each artifact through its
 * source account and says which invocation took each step, so "recovered
 * only by the hourly sweep" is a count, not a guess.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ISSUE_FAULTS, runSimulation, type SimulationResult } from '../../sim/simulation';

describe('the source agents under the issue faults (seeds 1, 29 and 30, 300 artifacts of every kind, 20 accounts)', () => {
  let result: SimulationResult;
  const more = new Map<number, SimulationResult>();
  beforeAll(async () => {
    const run = (seed: number) =>
      runSimulation({ seed, artifacts: 300, accounts: 20, agents: true, faults: ISSUE_FAULTS });
    // Seeds chosen because their faults reach each path (rescanned over seeds 1 to 40 when the vault began to
    // pass, without a claim, a snapshot of a source resource it saw holding a copy slot): seed 1 crashes
    // environments that held originals back (7 originals) and reclaims idle ones that did (14). Over seeds 1 to
    // 40, none leaves an artifact a crash interrupted, or an original a crashed environment held back, to the
    // hourly sweep; seeds 7 and 9 leave 1 original an idle environment held back to it (of 9 and 15).
    result = await run(1);
    // Seeds 30 and 29 crash environments that held originals back (21 and 15 originals; seed 31 the most, 26).
    for (const seed of [29, 30]) more.set(seed, await run(seed));
  });

  it('leaves nothing a crash interrupted, or a crashed environment held back, to the hourly sweep', () => {
    const waits = result.counts.faultWaits.source;
    const byCause = waits?.byCause;

    // The faults were there: crashed invocations, and originals held back by environments that crashed.
    expect(byCause?.crash.artifacts).toBeGreaterThan(0);
    expect(byCause?.['forgotten-crash'].artifacts).toBeGreaterThan(0);
    // Each was taken up again by an event, a receipt or a count, never first by the hourly sweep.
    expect([byCause?.crash.recoveredBySweep, byCause?.['forgotten-crash'].recoveredBySweep]).toEqual([0, 0]);
    expect(waits?.environmentsCrashed).toBeGreaterThan(0);
  });

  it('leaves nothing an environment reclaimed while idle held back to the hourly sweep', () => {
    const byCause = result.counts.faultWaits.source?.byCause;

    expect(byCause?.['forgotten-idle'].artifacts).toBeGreaterThan(0);
    expect(byCause?.['forgotten-idle'].recoveredBySweep).toBe(0);
  });

  it.each([29, 30])(
    'leaves nothing a crashed or reclaimed environment held back to the hourly sweep (seed %i)',
    (seed) => {
      const byCause = more.get(seed)?.counts.faultWaits.source?.byCause;

      expect(byCause?.['forgotten-crash'].artifacts).toBeGreaterThan(0);
      expect([byCause?.['forgotten-crash'].recoveredBySweep, byCause?.['forgotten-idle'].recoveredBySweep]).toEqual([
        0, 0,
      ]);
    },
  );

  it('finds an original or an intermediate whose event was lost within six hours, where nothing else happens', () => {
    const byCause = result.counts.faultWaits.source?.byCause;
    const lost = [byCause?.['production-event-lost'], byCause?.['ready-event-lost']];

    // Some were found by the hourly sweep in the account's own hour (`QUIET_SWEEP_HOURS`), hours later; none
    // later than six hours in this seed. Over seeds 1 to 40, five (6, 14, 24, 28 and 33) have one that waited
    // 8.3 to 11.4 hours, past one period; not traced further (a crash or a failed step in the account's sweep
    // leaves it to the next one, six hours on).
    expect(lost.map((w) => w?.recoveredBySweep)).toEqual([5, 15]);
    expect(lost.map((w) => (w?.maxMinutes ?? 0) > 60)).toEqual([true, true]);
    expect(lost.map((w) => (w?.maxMinutes ?? Infinity) <= 6 * 60)).toEqual([true, true]);
  });

  it('still copies every artifact exactly once, and follows each through every source step', () => {
    const stages = result.counts.faultWaits.source?.stageMeanMinutes;

    expect([result.lost, result.duplicated, result.rpoBreaches, result.counts.copiesStarted]).toEqual([0, 0, 0, 300]);
    // Every stage was seen: the intermediate copies take the simulation's 8 to 15 minutes.
    expect(stages?.intermediate).toBeGreaterThan(8);
    expect(stages?.intermediate).toBeLessThan(15);
    expect(stages?.vault).toBeGreaterThan(0);
  });
});
