/**
 * `make bench`: figures, not verdicts. Nothing here fails on a slow
 * machine; it prints what it measured so changes can be compared, and
 * writes `bench/results.json` and `bench/copies-in-flight.svg`.
 *
 * 1. The core's hot paths in process (notification parsing, naming).
 * 2. The discrete-event simulation (sim/simulation.ts): the fleet burst and
 *    the same burst under the issue's faults.
 * 3. The bundles' sizes and CPU times, from `bench/bundles.ts` when present.
 * 4. The monthly cost at 50 accounts × 2,000 artifacts a day (bench/cost.ts).
 * 5. The pipeline end to end on the local emulator (bounded by moto's speed,
 *    about 150-240 requests/s: it shows requests per copy, not AWS's speed);
 *    `BENCH_EMULATOR=0` skips it.
 *
 * `BENCH_ONLY=fleet` (or `faults`, `vault-only`) runs that one simulated
 * scenario, prints it and writes nothing: about a minute instead of five,
 * for comparing a change; `BENCH_LOOK_SECONDS` sets the pools' batched look
 * period for it (`POOL_LOOK_MS` in lambdas/core/pipeline/schedule.ts; 0: none).
 * `BENCH_SEEDS=1,2,3` runs `fleet` or `faults` at those seeds instead and
 * prints the spread of the ratio (bench/seeds.ts). `make bench` prints the
 * spread of both over seed 2026 and {@link SPREAD_SEEDS}.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { MIN_CALLS_PER_ARTIFACT } from '../lambdas/core/pipeline/calls';
import { KIND_NAMES } from '../lambdas/kinds/types';
import { performance } from 'node:perf_hooks';
import { CreateDBInstanceCommand, CreateDBSnapshotCommand, RDSClient } from '@aws-sdk/client-rds';
import { clientConfig } from '../lambdas/adapters/aws-context';
import { intermediateSnapshotId } from '../lambdas/core/names';
import { notificationOf, parseNotification } from '../lambdas/core/notification';
import { rdsSnapshot } from '../lambdas/kinds/rds-snapshot/kind';
import { parseConfig } from '../lib/config/load';
import { localContext } from '../cli/local/accounts';
import { startEmulator } from '../cli/local/emulator';
import { localRun } from '../cli/local/run';
import { LOCAL_OPERATOR_ROLE } from '../cli/local/up';
import { inFlightChart } from './chart';
import { costModel, PRICES } from './cost';
import { seedSpread, SPREAD_SEEDS, spreadLine } from './seeds';
import { benchScenario, FAULTS, FLEET, scenarioFigures } from './simulation';
import type { SimulationOptions } from '../sim/simulation';

const say = (line: string) => process.stdout.write(`${line}\n`);

function rate(label: string, iterations: number, work: (i: number) => unknown) {
  for (let i = 0; i < Math.min(1000, iterations); i++) work(i);
  const start = performance.now();
  for (let i = 0; i < iterations; i++) work(i);
  const ms = performance.now() - start;
  say(
    `  ${label.padEnd(44)} ${Math.round((iterations / ms) * 1000).toLocaleString('en')} /s  (${((ms / iterations) * 1000).toFixed(2)} µs each)`,
  );
}

function coreFigures() {
  say('Core (in process)');
  const good = JSON.stringify(
    notificationOf({
      kind: 'rds-snapshot',
      sourceAccount: '222222222222',
      sourceRegion: 'eu-west-1',
      id: 'bunker-share-payments-db-2026-11-22-01-44-4c14fac2ee',
      publishedAt: new Date(),
    }),
  );
  const oversize = 'x'.repeat(300_000);
  rate('parse a valid v2 notification', 100_000, () => parseNotification(good));
  rate('reject a malformed notification', 100_000, () => parseNotification('{"version": 1, "kind"'));
  rate('reject a 300 KB notification (size first)', 100_000, () => parseNotification(oversize));
  rate('derive a backup snapshot name', 100_000, (i) =>
    rdsSnapshot.targetName(
      { kind: 'rds-snapshot', partition: 'aws', account: '222222222222', region: 'eu-west-1', id: `db-${i}` },
      0,
    ),
  );
  rate('derive an intermediate snapshot name', 100_000, (i) => intermediateSnapshotId(`rds:db-${i}-2026-11-22-01-44`));
}

async function emulatorFigures(databases: number) {
  say(`\nPipeline on the local emulator (${databases} databases, one snapshot each, 2 source accounts)`);
  const emulator = await startEmulator();
  try {
    const config = parseConfig({
      backup: { account: '810000000001', region: 'eu-west-1' },
      sources: [
        { account: '810000000002', regions: ['eu-west-1'] },
        { account: '810000000003', regions: ['eu-west-1'] },
      ],
      artifacts: { rds: { enabled: true, scope: { tag: { key: 'bunker:backup', value: 'true' } } } },
      limits: { rdsCopiesInProgress: 20 },
    });
    for (const [n, source] of config.sources.entries()) {
      const rds = new RDSClient(
        clientConfig(await localContext(emulator.endpoint, source.account, 'eu-west-1', LOCAL_OPERATOR_ROLE)),
      );
      for (let i = n; i < databases; i += config.sources.length) {
        await rds.send(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: `bench-${i}`,
            Engine: 'postgres',
            DBInstanceClass: 'db.t4g.micro',
            AllocatedStorage: 20,
            MasterUsername: 'bench',
            MasterUserPassword: 'bench-only-not-a-secret',
            StorageEncrypted: true,
            BackupRetentionPeriod: 0,
            Tags: [{ Key: 'bunker:backup', Value: 'true' }],
          }),
        );
        await rds.send(
          new CreateDBSnapshotCommand({ DBInstanceIdentifier: `bench-${i}`, DBSnapshotIdentifier: `bench-${i}-s1` }),
        );
      }
    }
    const start = performance.now();
    const summary = await localRun(config, emulator.endpoint, { maxRounds: 50 });
    const ms = performance.now() - start;
    // moto creates an automated snapshot with each instance too, so count what was copied.
    const copies = summary.byStatus.available;
    say(
      `  copies made                                  ${copies} (${summary.byStatus.failed} failed, settled: ${summary.settled})`,
    );
    say(`  rounds                                       ${summary.rounds}`);
    say(`  wall time                                    ${(ms / 1000).toFixed(2)} s`);
    say(`  per copy                                     ${(ms / Math.max(1, copies)).toFixed(0)} ms`);
  } finally {
    await emulator.stop();
  }
}

type BundleFigures = Record<
  string,
  { bytes: number; loadCpuMs: number; sdkBaselineLoadCpuMs: number; handlerCpuMsPerMessage: number }
>;

/** `bench/bundles.ts` (built separately) measures the Lambda bundles; absent, the figures are missing, not invented. */
async function bundles(): Promise<BundleFigures> {
  const file = new URL('./bundles.ts', import.meta.url);
  say('\nBundles');
  if (!existsSync(file)) {
    say('  bundle figures are missing: bench/bundles.ts does not exist in this tree');
    return {};
  }
  const module = (await import(file.href)) as { bundleFigures?: () => Promise<BundleFigures> };
  if (!module.bundleFigures) {
    say('  bundle figures are missing: bench/bundles.ts exports no bundleFigures()');
    return {};
  }
  const figures = await module.bundleFigures();
  for (const [fn, b] of Object.entries(figures)) {
    say(
      `  ${fn.padEnd(20)} ${(b.bytes / 1024).toFixed(0)} KiB, load ${b.loadCpuMs.toFixed(1)} ms CPU (SDK alone ${b.sdkBaselineLoadCpuMs.toFixed(1)} ms), ${b.handlerCpuMsPerMessage === null ? 'no per-message driver' : `${b.handlerCpuMsPerMessage.toFixed(2)} ms CPU per message`}`,
    );
  }
  return figures;
}

/**
 * The minimum AWS requests per artifact of each kind (docs/performance.md):
 * the whole pipeline's with the source agents, the vault's alone without.
 */
const minimumOf = (side: 'total' | 'vault') =>
  Object.fromEntries(KIND_NAMES.map((kind) => [kind, MIN_CALLS_PER_ARTIFACT[kind][side]]));

const only = process.env.BENCH_ONLY;
if (only) {
  // `BENCH_LOOK_SECONDS=30`: the pools' batched look every 30 s instead of the default (0: none), to compare periods.
  const look = process.env.BENCH_LOOK_SECONDS;
  const period = (options: SimulationOptions) =>
    look === undefined ? options : { ...options, poolLookSeconds: Number(look) };
  const scenarios: Record<string, () => Promise<unknown>> = {
    fleet: () => benchScenario('Fleet (simulated)', period(FLEET), minimumOf('total'), say),
    faults: () => benchScenario('Faults (simulated)', period(FAULTS), minimumOf('total'), say),
    'vault-only': () =>
      benchScenario('Fleet, vault only (simulated)', period({ ...FLEET, agents: false }), minimumOf('vault'), say),
  };
  const seeds = process.env.BENCH_SEEDS;
  if (seeds && (only === 'fleet' || only === 'faults')) {
    say(spreadLine(only, await seedSpread(only, seeds.split(',').map(Number))));
    process.exit(0);
  }
  const run = scenarios[only];
  if (!run) throw new Error(`BENCH_ONLY=${only}: expected one of ${Object.keys(scenarios).join(', ')}`);
  await run();
  process.exit(0);
}

coreFigures();
const minimum = minimumOf('total');
const fleet = await benchScenario(
  'Fleet: 10,000 artifacts of all kinds from 200 accounts, one burst (simulated)',
  FLEET,
  minimum,
  say,
);
const faults = await benchScenario(
  'Faults: the same burst, 10% throttling, 5% 5xx, 2% crashes, 10% duplicates, 5% lost events (simulated)',
  FAULTS,
  minimum,
  say,
);
// The vault alone (sources arrive shared): what the vault's scheduling does against the bound, without the agents' cap.
const vaultOnly = await benchScenario(
  'Fleet, vault only: the same burst arriving shared and announced (no source agents)',
  { ...FLEET, agents: false },
  minimumOf('vault'),
  say,
);
say(`\nThe ratio over seeds (the same code; a burst turns on a few long copies, so one seed is one sample)`);
const seedRun = (r: typeof fleet.result) => ({
  seed: r.seed,
  ratio: r.ratio,
  lost: r.lost,
  duplicated: r.duplicated,
  rpoBreaches: r.rpoBreaches,
});
const fleetSeeds = await seedSpread('fleet', [FLEET.seed, ...SPREAD_SEEDS], [seedRun(fleet.result)]);
say(spreadLine('fleet', fleetSeeds));
const faultsSeeds = await seedSpread('faults', [FAULTS.seed, ...SPREAD_SEEDS], [seedRun(faults.result)]);
say(spreadLine('faults', faultsSeeds));
const bundleFigures = await bundles();
const cost = costModel(fleet.result);
say(`\nCost a month at 50 accounts x 2,000 artifacts a day (prices ${PRICES.region}, ${PRICES.date})`);
for (const line of cost.lines)
  say(`  ${line.item.padEnd(22)} $${line.usdPerMonth.toFixed(2).padStart(8)}  ${line.basis}`);
say(`  ${'orchestration'.padEnd(22)} $${cost.usdPerMonth.toFixed(2).padStart(8)}`);
say(`  ${'observability'.padEnd(22)} $${cost.observabilityUsdPerMonth.toFixed(2).padStart(8)}  (CloudWatch, apart)`);
say(`  ${'KMS keys'.padEnd(22)} $${cost.keysUsdPerMonth.toFixed(2).padStart(8)}  (apart)`);
say(
  `  ${'floor of any design'.padEnd(22)} $${cost.floor.usdPerMonth.toFixed(2).padStart(8)}  (${cost.floor.arithmetic})`,
);
say(
  `  ${'snapshot storage'.padEnd(22)} excluded: $${cost.storageUsdPerTiBMonth.ebs}/TiB-month EBS, $${cost.storageUsdPerTiBMonth.rds}/TiB-month RDS`,
);

const results = {
  fleet: {
    ...scenarioFigures(fleet.result),
    vaultOnly: {
      makespanSeconds: vaultOnly.result.makespanSeconds,
      boundSeconds: vaultOnly.result.boundSeconds,
      ratio: vaultOnly.result.ratio,
      lost: vaultOnly.result.lost,
      duplicated: vaultOnly.result.duplicated,
      rpoBreaches: vaultOnly.result.rpoBreaches,
      callsPerArtifact: vaultOnly.result.callsPerArtifact,
    },
    overSeeds: fleetSeeds,
  },
  faults: { ...scenarioFigures(faults.result), overSeeds: faultsSeeds },
  bundles: bundleFigures,
  cost: {
    usdPerMonth: cost.usdPerMonth,
    observabilityUsdPerMonth: cost.observabilityUsdPerMonth,
    keysUsdPerMonth: cost.keysUsdPerMonth,
    storageUsdPerTiBMonth: cost.storageUsdPerTiBMonth,
    floor: cost.floor,
    lines: cost.lines,
    assumptions: cost.assumptions,
  },
  simulator: {
    fleet: { cpuSeconds: fleet.cpuSeconds, wallSeconds: fleet.wallSeconds },
    faults: { cpuSeconds: faults.cpuSeconds, wallSeconds: faults.wallSeconds },
    vaultOnly: { cpuSeconds: vaultOnly.cpuSeconds, wallSeconds: vaultOnly.wallSeconds },
  },
};
const resultsFile = new URL('./results.json', import.meta.url);
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
const chartFile = new URL('./copies-in-flight.svg', import.meta.url);
writeFileSync(
  chartFile,
  inFlightChart(
    `Copies in flight per pool, fleet burst of ${fleet.result.artifacts.toLocaleString('en')} artifacts (seed ${fleet.result.seed})`,
    Object.entries(fleet.result.pools).map(([pool, figures]) => ({
      pool,
      quota: figures.quota,
      points: fleet.result.inFlight[pool] ?? [],
    })),
    fleet.result.makespanSeconds,
  ),
);
say(`\nWrote ${resultsFile.pathname} and ${chartFile.pathname}`);

if (process.env.BENCH_EMULATOR !== '0') await emulatorFigures(Number(process.env.BENCH_DATABASES ?? 20));
