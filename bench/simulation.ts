/**
 * The issue's two scenarios, run through the discrete-event simulation
 * (sim/simulation.ts): the real core over in-memory AWS at fleet scale.
 *
 * - fleet: 10,000 artifacts of all four snapshot kinds from 200 accounts
 *   (skewed: Zipf, a few accounts hold most), announced as a burst;
 * - faults: the same burst under 10% throttling, 5% 5xx, 2% crashes
 *   between steps, 10% duplicate deliveries and 5% lost events.
 *
 * Wall time is printed, never asserted: it is the simulator's speed on this
 * machine, not Bunker's.
 */
import { performance } from 'node:perf_hooks';
import { ISSUE_FAULTS, runSimulation, type SimulationOptions, type SimulationResult } from '../sim/simulation';
import { KIND_NAMES, type KindName } from '../lambdas/kinds/types';
import { MIN_CALLS_PER_ARTIFACT } from '../lambdas/core/pipeline/calls';

/** The vault's ports in the simulation: the side `callsPerArtifact[kind].vault` counts. */
const VAULT_PORTS = ['inventory', 'copier', 'receipts', 'backlogs'];

export const FLEET: SimulationOptions = {
  seed: 2026,
  artifacts: 10_000,
  accounts: 200,
  skew: 1,
  rpoHours: 24,
  agents: true,
};
export const FAULTS: SimulationOptions = { ...FLEET, faults: ISSUE_FAULTS };

/** The figures `bench/results.json` holds per scenario, as the issue lists them, plus what explains them. */
export function scenarioFigures(result: SimulationResult) {
  return {
    artifacts: result.artifacts,
    accounts: result.accounts,
    makespanSeconds: result.makespanSeconds,
    boundSeconds: result.boundSeconds,
    ratio: result.ratio,
    lost: result.lost,
    duplicated: result.duplicated,
    rpoBreaches: result.rpoBreaches,
    callsPerArtifact: result.callsPerArtifact,
    pools: result.pools,
    slotTime: result.slotTime,
    tail: result.tail,
    counts: result.counts,
    settled: result.settled,
    seed: result.seed,
  };
}

export interface BenchRun {
  readonly result: SimulationResult;
  readonly wallSeconds: number;
  /** CPU time of this process during the run: what "on one core" means on a shared machine. */
  readonly cpuSeconds: number;
}

const hours = (s: number) => `${(s / 3600).toFixed(2)} h`;

/** Runs one scenario and prints its figures. */
export async function benchScenario(
  label: string,
  options: SimulationOptions,
  minimumCalls: Partial<Record<KindName, number>> | undefined,
  say: (line: string) => void,
): Promise<BenchRun> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const minimumVaultCalls = Object.fromEntries(KIND_NAMES.map((k) => [k, MIN_CALLS_PER_ARTIFACT[k].vault]));
  const result = await runSimulation({ ...options, ...(minimumCalls ? { minimumCalls } : {}), minimumVaultCalls });
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const wallSeconds = (performance.now() - start) / 1000;
  const f = (name: string, value: string) => say(`  ${name.padEnd(44)} ${value}`);
  say(`\n${label}`);
  f('artifacts / accounts', `${result.artifacts.toLocaleString('en')} / ${result.accounts}`);
  f('makespan / bound / ratio', `${hours(result.makespanSeconds)} / ${hours(result.boundSeconds)} / ${result.ratio}`);
  f('lost / duplicated / RPO breaches', `${result.lost} / ${result.duplicated} / ${result.rpoBreaches}`);
  f('source agents', result.agents ? 'real (memory RDS and EC2 doubles)' : 'none: sources arrive shared and announced');
  for (const [pool, p] of Object.entries(result.pools)) {
    f(
      `  ${pool}`,
      `${p.artifacts} copies, load ${hours(p.loadSeconds)} at quota ${p.quota}, peak in flight ${p.peakInFlight}`,
    );
  }
  // Where each pool's slot time went, to its last copy: slot-hours by cause (while records waited).
  for (const [pool, t] of Object.entries(result.slotTime)) {
    f(
      `  slot-hours ${pool.split('@')[0]}, to ${hours(t.endSeconds)}`,
      Object.entries(t.hours)
        .map(([cause, h]) => `${cause} ${h.toFixed(2)} (${t.waiting[cause as keyof typeof t.waiting].toFixed(2)})`)
        .join(', '),
    );
  }
  for (const [kind, calls] of Object.entries(result.callsPerArtifact)) {
    f(
      `requests per artifact, ${kind}`,
      `${calls.measured}${calls.minimum ? ` (minimum ${calls.minimum})` : ''}, vault ${calls.vault.measured}${calls.vault.minimum ? ` (minimum ${calls.vault.minimum}, ${(calls.vault.measured / calls.vault.minimum).toFixed(2)}x; in a burst ${calls.vault.burstMinimum}, ${(calls.vault.measured / (calls.vault.burstMinimum ?? calls.vault.minimum)).toFixed(2)}x)` : ''}`,
    );
  }
  // Where the vault's requests go, per kind: what to cut next.
  const perKind = result.counts.requestsPerArtifact;
  const kinds = Object.keys(perKind);
  const methods = [...new Set(kinds.flatMap((k) => Object.keys(perKind[k])))]
    .filter((m) => VAULT_PORTS.some((port) => m.startsWith(`${port}.`)))
    .sort();
  say(
    `  ${'vault requests per artifact, by call'.padEnd(44)} ${kinds.map((k) => k.split('-')[0].padStart(8)).join('')}`,
  );
  for (const m of methods) {
    say(`    ${m.padEnd(42)} ${kinds.map((k) => (perKind[k][m] ?? 0).toFixed(2).padStart(8)).join('')}`);
  }
  const c = result.counts;
  f(
    'invocations (intake / completion / sweep)',
    `${c.invocations.intake ?? 0} / ${c.invocations.completion ?? 0} / ${c.invocations.sweep ?? 0}`,
  );
  const cold = c.vaultEnvironments;
  f('vault environments started (same)', `${cold.intake ?? 0} / ${cold.completion ?? 0} / ${cold.sweep ?? 0}`);
  f('crashes / SDK retries / dead letters', `${c.crashes} / ${c.retriedAttempts} / ${c.deadLetters}`);
  f('copy events lost / duplicated', `${c.copyEventsLost} / ${c.copyEventsDuplicated}`);
  f('source events lost / agent invocations', `${c.sourceEventsLost} / ${c.invocations['source-agent'] ?? 0}`);
  f(
    'simulator CPU / wall time (this machine)',
    `${cpuSeconds.toFixed(1)} s / ${wallSeconds.toFixed(1)} s${result.settled ? '' : ' (did NOT settle)'}`,
  );
  return { result, wallSeconds, cpuSeconds };
}
