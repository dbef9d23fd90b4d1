/**
 * The deterministic simulation as a benchmark: the real core over the
 * in-memory AWS of sim/, at a scale the emulator cannot reach. It shows the
 * core's own cost (wall time, port calls per copy) and how long copies wait
 * in simulated time when the copy limit is the bottleneck.
 */
import { performance } from 'node:perf_hooks';
import { runSimulation } from '../sim/simulation';

export async function benchSimulation(say: (line: string) => void): Promise<void> {
  const scenarios = [
    { label: 'calm: no faults', duplicateRate: 0, crashRate: 0, eventLossRate: 0, throttleRate: 0 },
    {
      label: 'hostile: 20% duplicates, 10% crashes, 20% lost events',
      duplicateRate: 0.2,
      crashRate: 0.1,
      eventLossRate: 0.2,
      throttleRate: 0.05,
    },
  ];
  say(
    '\nDeterministic simulation (core over the in-memory AWS; 4 sources x 25 databases x 2 snapshots; limit 5 copies)',
  );
  for (const scenario of scenarios) {
    const start = performance.now();
    const result = await runSimulation({
      seed: 7,
      sources: 4,
      databasesPerSource: 25,
      snapshotsPerDatabase: 2,
      maxCopiesInProgress: 5,
      copyDurationMs: 10 * 60_000,
      quotaLimit: 20,
      rounds: 5000,
      ...scenario,
    });
    const ms = performance.now() - start;
    const copies = Object.values(result.copiesPerSourceSnapshot).reduce((a, b) => a + b, 0);
    const oneEach = Object.values(result.copiesPerSourceSnapshot).every((n) => n === 1);
    say(`  ${scenario.label}`);
    say(
      `    in-scope snapshots / copies                ${result.snapshotsInScope} / ${copies} (exactly one each: ${oneEach})`,
    );
    say(
      `    wall time                                  ${ms.toFixed(0)} ms (${(ms / Math.max(1, copies)).toFixed(2)} ms per copy)`,
    );
    say(`    port calls per copy                        ${(result.portCalls / Math.max(1, copies)).toFixed(1)}`);
    say(
      `    simulated time to settle                   ${(result.simulatedMs / 3_600_000).toFixed(1)} h (settled: ${result.quiescent})`,
    );
    say(
      `    most copies in progress / crashes / quota  ${result.maxCopiesInProgressObserved} / ${result.crashes} / ${result.quotaErrors}`,
    );
  }
}
