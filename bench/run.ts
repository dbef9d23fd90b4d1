/**
 * `make bench`: figures, not verdicts. Nothing here fails on a slow
 * machine; it prints what it measured so changes can be compared.
 *
 * 1. The core's hot paths in process (notification parsing, naming).
 * 2. The deterministic simulation: the whole core over an in-memory AWS.
 * 3. The pipeline end to end on the local emulator (bounded by moto's speed,
 *    about 150-240 requests/s: it shows requests per copy, not AWS's speed).
 */
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
import { benchSimulation } from './simulation';

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

coreFigures();
await benchSimulation(say);
await emulatorFigures(Number(process.env.BENCH_DATABASES ?? 20));
