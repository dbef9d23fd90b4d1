/**
 * The batched look's period against the fleet's ratio and vault requests:
 * `tsx bench/look-sweep.ts 0 15 30 60` runs the fleet (or `BENCH_SCENARIO=faults`)
 * once per period in seconds (0: no look) and prints one line each.
 */
import { MIN_CALLS_PER_ARTIFACT } from '../lambdas/core/pipeline/calls';
import { KIND_NAMES } from '../lambdas/kinds/types';
import { runSimulation } from '../sim/simulation';
import { FAULTS, FLEET } from './simulation';

const base = process.env.BENCH_SCENARIO === 'faults' ? FAULTS : FLEET;
for (const seconds of process.argv.slice(2).map(Number)) {
  const minimumVaultCalls = Object.fromEntries(KIND_NAMES.map((k) => [k, MIN_CALLS_PER_ARTIFACT[k].vault]));
  const result = await runSimulation({ ...base, poolLookSeconds: seconds, minimumVaultCalls });
  const vault = Object.entries(result.callsPerArtifact)
    .map(([kind, calls]) => `${kind} ${calls.vault.measured}`)
    .join('; ');
  console.log(
    `T=${seconds}s ratio ${result.ratio} makespan ${(result.makespanSeconds / 3600).toFixed(2)} h lost ${result.lost} dup ${result.duplicated} rpo ${result.rpoBreaches} | ${vault}`,
  );
}
