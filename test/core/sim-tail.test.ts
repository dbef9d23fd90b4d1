/**
 * The simulation's account of each pool's last copies (`tail`): where the
 * copies that decide the makespan spent their time, from production to the
 * end of their copy, so a late end can be told from a late start.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runSimulation, type SimulationResult } from '../../sim/simulation';

describe("the simulation's tail of each pool", () => {
  let result: SimulationResult;
  beforeAll(async () => {
    result = await runSimulation({ seed: 5, artifacts: 120, accounts: 8, agents: true, tailCopies: 3 });
  });

  it('names the last three copies of every pool, the last to end last, the makespan’s among them', () => {
    expect(Object.keys(result.tail).sort()).toEqual([
      'ami@eu-west-1',
      'aurora-cluster-snapshot@eu-west-1',
      'ebs-snapshot@eu-west-1',
      'rds-snapshot@eu-west-1',
    ]);
    for (const copies of Object.values(result.tail)) {
      expect(copies).toHaveLength(3);
      expect(copies.map((c) => c.ends)).toEqual([...copies.map((c) => c.ends)].sort((a, b) => a - b));
    }
    const lastEnd = Math.max(...Object.values(result.tail).map((copies) => copies[2].ends));
    // The makespan runs to the copy recorded available: its event comes after AWS ends it.
    expect(lastEnd).toBeLessThanOrEqual(result.makespanSeconds);
    expect(result.makespanSeconds - lastEnd).toBeLessThan(600);
  });

  it("follows each copy from production through its agent and the vault's queue to its end, in order", () => {
    for (const copy of Object.values(result.tail).flat()) {
      const steps = [
        copy.produced,
        copy.requested,
        copy.ready,
        copy.announced,
        copy.recorded,
        copy.claimed,
        copy.accepted,
        copy.starts,
        copy.ends,
      ];
      expect(steps.every((step) => typeof step === 'number')).toBe(true);
      expect(steps).toEqual([...(steps as number[])].sort((a, b) => a - b));
      expect(copy.artifact.startsWith(`${copy.artifact.split(':')[0]}:${copy.account}:`)).toBe(true);
      expect(copy.sizeGiB).toBeGreaterThan(0);
    }
  });
});
