/**
 * The source agents under the issue's faults, in the seeded simulation: the
 * trace (`SourceTrace`, sim/agents.ts) follows each artifact through its
 * source account and says which invocation took each step, so "recovered
 * only by the hourly sweep" is a count, not a guess.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ISSUE_FAULTS, runSimulation, type SimulationResult } from '../../sim/simulation';

describe('the source agents under the issue faults (seeds 16, 36, 29 and 30, 300 artifacts of every kind, 20 accounts)', () => {
  let result: SimulationResult;
  let idle: SimulationResult;
  const more = new Map<number, SimulationResult>();
  beforeAll(async () => {
    const run = (seed: number) =>
      runSimulation({ seed, artifacts: 300, accounts: 20, agents: true, faults: ISSUE_FAULTS });
    // Seeds chosen because their faults reach each path: seed 16 crashes environments that held originals
    // back, seed 36 reclaims idle ones that did (13 artifacts). Rescanned over seeds 1 to 40 when the vault's
    // take-in went to one listing per kind and Region (fewer calls draw fewer faults, so every seed's run moved):
    // no crashed or idle environment's original waits for the hourly sweep in any of them; seeds 7, 11, 12, 26,
    // 36, 38 and 40 reach the idle path.
    result = await run(16);
    idle = await run(36);
    // Seeds 29 and 30 left originals a crashed environment held back to the hourly sweep while only the
    // intermediate that filled the cap said the account had a backlog (`BUSY_SHARE`, agent/memory.ts).
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
    const byCause = idle.counts.faultWaits.source?.byCause;

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

  it('still copies every artifact exactly once, and follows each through every source step', () => {
    const stages = result.counts.faultWaits.source?.stageMeanMinutes;

    expect([result.lost, result.duplicated, result.rpoBreaches, result.counts.copiesStarted]).toEqual([0, 0, 0, 300]);
    // Every stage was seen: the intermediate copies take the simulation's 8 to 15 minutes.
    expect(stages?.intermediate).toBeGreaterThan(8);
    expect(stages?.intermediate).toBeLessThan(15);
    expect(stages?.vault).toBeGreaterThan(0);
  });
});
