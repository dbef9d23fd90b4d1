/**
 * One scenario over several seeds: the spread of its ratio. A burst's
 * makespan turns on a few long copies and on the order the largest accounts
 * are served, so one seed's ratio can be several hundredths from another's
 * (seed 2026 against 7 differed by 0.12 with the same code): a design is
 * judged by the spread, and the headline seed's figure is one sample of it.
 *
 * Each seed runs in a child process of its own (`tsx bench/seeds.ts
 * <scenario> <seed>` prints one JSON line), two at a time: a run is about
 * 20 s of CPU.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runSimulation } from '../sim/simulation';
import { FAULTS, FLEET } from './simulation';

const SCENARIOS = { fleet: FLEET, faults: FAULTS } as const;
export type SeededScenario = keyof typeof SCENARIOS;

/** The seeds `make bench` adds to the headline seed (2026). */
export const SPREAD_SEEDS: readonly number[] = [1, 2, 3, 7, 11];

export interface SeedRun {
  readonly seed: number;
  readonly ratio: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly rpoBreaches: number;
}

export interface SeedSpread {
  readonly seeds: readonly number[];
  readonly ratios: readonly number[];
  readonly medianRatio: number;
  readonly maxRatio: number;
  /** Summed over the seeds: each should be 0. */
  readonly lost: number;
  readonly duplicated: number;
  readonly rpoBreaches: number;
}

const run = promisify(execFile);

async function oneSeed(scenario: SeededScenario, seed: number): Promise<SeedRun> {
  const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
  const self = fileURLToPath(import.meta.url);
  const { stdout } = await run(tsx, [self, scenario, String(seed)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as SeedRun;
}

/** Runs `scenario` at each seed, `parallel` at a time, and sums up the spread (the known runs are reused). */
export async function seedSpread(
  scenario: SeededScenario,
  seeds: readonly number[],
  known: readonly SeedRun[] = [],
  parallel = 2,
): Promise<SeedSpread> {
  const runs: SeedRun[] = [...known];
  const queue = seeds.filter((s) => !known.some((k) => k.seed === s));
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) runs.push(await oneSeed(scenario, seed));
    }),
  );
  runs.sort((a, b) => a.seed - b.seed);
  const ratios = runs.map((r) => r.ratio);
  const sorted = [...ratios].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const sum = (key: 'lost' | 'duplicated' | 'rpoBreaches') => runs.reduce((n, r) => n + r[key], 0);
  return {
    seeds: runs.map((r) => r.seed),
    ratios,
    medianRatio: Math.round(median * 10_000) / 10_000,
    maxRatio: Math.max(...ratios),
    lost: sum('lost'),
    duplicated: sum('duplicated'),
    rpoBreaches: sum('rpoBreaches'),
  };
}

/** Prints a spread as one line. */
export function spreadLine(name: string, spread: SeedSpread): string {
  const each = spread.seeds.map((s, i) => `${s}: ${spread.ratios[i].toFixed(3)}`).join(', ');
  return `  ${`${name} over ${spread.seeds.length} seeds`.padEnd(44)} median ${spread.medianRatio.toFixed(3)}, max ${spread.maxRatio.toFixed(3)}; lost / duplicated / RPO breaches ${spread.lost} / ${spread.duplicated} / ${spread.rpoBreaches} (${each})`;
}

// As a child: one scenario at one seed, its figures as one JSON line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [scenario, seed] = process.argv.slice(2);
  const options = SCENARIOS[scenario as SeededScenario];
  if (!options) throw new Error(`bench/seeds.ts: expected one of ${Object.keys(SCENARIOS).join(', ')}`);
  const r = await runSimulation({ ...options, seed: Number(seed) });
  const line: SeedRun = {
    seed: r.seed,
    ratio: r.ratio,
    lost: r.lost,
    duplicated: r.duplicated,
    rpoBreaches: r.rpoBreaches,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
