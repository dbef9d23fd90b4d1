/**
 * `make demo`: one backup account and two source accounts on the emulator,
 * a few databases, a full backup cycle, hostile messages, and a check of
 * every copy against the backup account's own key.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { clientConfig } from '../lambdas/adapters/aws-context';
import { DynamoDrillLog } from '../lambdas/adapters/drill/dynamo-drill-log';
import type { DrillSummary } from '../lambdas/core/drill/types';
import type { InventoryRecord } from '../lambdas/core/inventory';
import type { Log } from '../lambdas/core/ports';
import type { PulledRecord, PullRunSummary } from '../lambdas/core/pull/types';
import { intakeTopicArn, vaultNames } from '../lambdas/core/names';
import { notificationOf } from '../lambdas/core/notification';
import { parseConfig } from '../lib/config/load';
import type { BunkerConfig } from '../lib/config/schema';
import { type CopyCheck, checkCopies, countCopies, seedOtherKinds, sendHostileEc2Messages } from './demo-kinds';
import {
  canariesIn,
  type PulledCheck,
  restoreAndCompare,
  rotatePassword,
  seedPulled,
  vaultObjects,
} from './demo-pulled';
import { demoDrills } from './drill';
import { readInventory, readPulled } from './inventory';
import { localContext } from './local/accounts';
import { type LocalRunSummary, localRun } from './local/run';
import { LOCAL_OPERATOR_ROLE, localUp } from './local/up';

export const DEMO_CONFIG_FILE = fileURLToPath(new URL('../demo/bunker.demo.json', import.meta.url));

/** An account that is not registered anywhere in the demo configuration. */
export const DEMO_INTRUDER_ACCOUNT = '444444444444';

export function demoConfig(): BunkerConfig {
  return parseConfig(JSON.parse(readFileSync(DEMO_CONFIG_FILE, 'utf8')), DEMO_CONFIG_FILE);
}

interface DemoDatabase {
  readonly account: string;
  readonly id: string;
  readonly engine: string;
  readonly inScope: boolean;
  /** Automated snapshots (BackupRetentionPeriod > 0) are made by RDS; the agent must re-key them. */
  readonly automated: boolean;
  /** A manual snapshot to take, and under which key the database is encrypted. */
  readonly manualSnapshot?: string;
  readonly key: 'default' | 'own';
}

const PASSWORD = 'demo-only-not-a-secret';

function demoDatabases(config: BunkerConfig): DemoDatabase[] {
  const [payments, storefront] = config.sources.map((s) => s.account);
  return [
    { account: payments, id: 'payments-db', engine: 'postgres', inScope: true, automated: true, key: 'default' },
    {
      account: payments,
      id: 'payments-ledger',
      engine: 'mysql',
      inScope: true,
      automated: false,
      manualSnapshot: 'ledger-before-migration',
      key: 'own',
    },
    { account: payments, id: 'payments-scratch', engine: 'postgres', inScope: false, automated: true, key: 'default' },
    {
      account: storefront,
      id: 'storefront-db',
      engine: 'postgres',
      inScope: true,
      automated: false,
      manualSnapshot: 'storefront-db-nightly',
      key: 'default',
    },
  ];
}

async function rdsFor(endpoint: string, account: string, region: string) {
  return new RDSClient(clientConfig(await localContext(endpoint, account, region, LOCAL_OPERATOR_ROLE)));
}

async function seedDatabases(config: BunkerConfig, endpoint: string, progress: (line: string) => void) {
  const region = config.backup.region;
  for (const db of demoDatabases(config)) {
    const context = await localContext(endpoint, db.account, region, LOCAL_OPERATOR_ROLE);
    const rds = new RDSClient(clientConfig(context));
    let kmsKeyId: string | undefined;
    if (db.key === 'own') {
      const kms = new KMSClient(clientConfig(context));
      kmsKeyId = (await kms.send(new CreateKeyCommand({ Description: `${db.id} storage key` }))).KeyMetadata?.Arn;
    }
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: db.id,
        Engine: db.engine,
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        MasterUsername: 'demo',
        MasterUserPassword: PASSWORD,
        StorageEncrypted: true,
        KmsKeyId: kmsKeyId,
        BackupRetentionPeriod: db.automated ? 7 : 0,
        Tags: db.inScope ? [{ Key: 'bunker:backup', Value: 'true' }] : [{ Key: 'team', Value: 'analytics' }],
      }),
    );
    if (db.manualSnapshot) {
      await rds.send(
        new CreateDBSnapshotCommand({ DBInstanceIdentifier: db.id, DBSnapshotIdentifier: db.manualSnapshot }),
      );
    }
    const snapshots = [
      db.automated ? 'an automated snapshot' : undefined,
      db.manualSnapshot && `manual snapshot ${db.manualSnapshot}`,
    ]
      .filter(Boolean)
      .join(' and ');
    progress(
      `  ${db.account}: ${db.engine} database ${db.id} (${db.key === 'own' ? 'own CMK' : 'default aws/rds key'}), ${snapshots}${db.inScope ? '' : ', not tagged for backup'}`,
    );
  }
}

/** Hostile or broken messages, each published to an intake topic as an attacker or a bug would. */
async function sendHostileMessages(config: BunkerConfig, endpoint: string, progress: (line: string) => void) {
  const region = config.backup.region;
  const [payments, storefront] = config.sources.map((s) => s.account);
  const topicOf = (account: string) => intakeTopicArn(config.name, config.backup.account, region, account);
  const publish = async (account: string, topicAccount: string, message: string, what: string) => {
    const sns = new SNSClient(clientConfig(await localContext(endpoint, account, region, LOCAL_OPERATOR_ROLE)));
    await sns.send(new PublishCommand({ TopicArn: topicOf(topicAccount), Message: message }));
    progress(`  ${what}`);
  };
  const notify = (sourceAccount: string, id: string) =>
    JSON.stringify(
      notificationOf({ kind: 'rds-snapshot', sourceAccount, sourceRegion: region, id, publishedAt: new Date() }),
    );

  // An unregistered account shares a real snapshot and announces it on a registered account's topic
  // (AWS's topic policy would refuse the publish; the emulator does not enforce it, so intake must).
  const intruder = await rdsFor(endpoint, DEMO_INTRUDER_ACCOUNT, region);
  await intruder.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'intruder-db',
      Engine: 'postgres',
      DBInstanceClass: 'db.t4g.micro',
      AllocatedStorage: 20,
      MasterUsername: 'demo',
      MasterUserPassword: PASSWORD,
      BackupRetentionPeriod: 0,
    }),
  );
  await intruder.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'intruder-db', DBSnapshotIdentifier: 'planted' }),
  );
  await intruder.send(
    new ModifyDBSnapshotAttributeCommand({
      DBSnapshotIdentifier: 'planted',
      AttributeName: 'restore',
      ValuesToAdd: [config.backup.account],
    }),
  );
  await publish(
    DEMO_INTRUDER_ACCOUNT,
    payments,
    notify(DEMO_INTRUDER_ACCOUNT, 'planted'),
    `${DEMO_INTRUDER_ACCOUNT} (not registered) announces a snapshot it shared, on ${payments}'s topic`,
  );

  // A registered account announces a snapshot it never shared.
  const paymentsRds = await rdsFor(endpoint, payments, region);
  await paymentsRds.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'payments-scratch', DBSnapshotIdentifier: 'scratch-unshared' }),
  );
  await publish(
    payments,
    payments,
    notify(payments, 'scratch-unshared'),
    `${payments} announces a snapshot it never shared`,
  );

  // A registered account shares a snapshot of an untagged database by hand and announces it.
  await paymentsRds.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'payments-scratch', DBSnapshotIdentifier: 'scratch-by-hand' }),
  );
  await paymentsRds.send(
    new ModifyDBSnapshotAttributeCommand({
      DBSnapshotIdentifier: 'scratch-by-hand',
      AttributeName: 'restore',
      ValuesToAdd: [config.backup.account],
    }),
  );
  await publish(
    payments,
    payments,
    notify(payments, 'scratch-by-hand'),
    `${payments} shares a snapshot of an untagged database by hand and announces it`,
  );

  // A registered account speaks for another: on its own topic, naming the other account.
  await publish(
    payments,
    payments,
    notify(storefront, 'storefront-db-nightly'),
    `${payments} announces a snapshot of ${storefront} in ${storefront}'s name`,
  );
  await publish(payments, payments, '{"version": 2, "kind": "rds-snapshot", ', 'a truncated, malformed message');
  await publish(payments, payments, JSON.stringify({ version: 2, padding: 'x'.repeat(10_000) }), 'a 10 KB message');
  await publish(
    payments,
    payments,
    JSON.stringify({ ...JSON.parse(notify(payments, 'scratch-unshared')), version: 3 }),
    'a message in an unknown format version',
  );
  await publish(
    payments,
    payments,
    JSON.stringify({ ...JSON.parse(notify(payments, 'scratch-unshared')), '\u001b]0;pwned\u0007\u001b[2J': 1 }),
    'a message with an unknown key made of terminal control characters',
  );
}

export type { CopyCheck };

export interface DemoResult {
  readonly config: BunkerConfig;
  readonly backupKeyArn: string;
  readonly firstRun: LocalRunSummary;
  readonly secondRun: LocalRunSummary;
  readonly records: readonly InventoryRecord[];
  readonly checks: readonly CopyCheck[];
  /** Backup copies counted before and after every notification was delivered a second time. */
  readonly copiesBeforeReplay: number;
  readonly copiesAfterReplay: number;
  /** Parameters, secrets and tables in the inventory after every pull. */
  readonly pulled: readonly PulledRecord[];
  /** The pulls after a password was rotated: only what changed is written. */
  readonly repull: readonly PullRunSummary[];
  /** The restore into the recovery account, compared with production. */
  readonly pulledChecks: readonly PulledCheck[];
  /** The vault bucket's objects, read back with a plain S3 client. */
  readonly vault: { readonly objects: number; readonly underBackupKey: number; readonly locked: number };
  /** Canary values found in a log line or an inventory record (none, or the demo fails). */
  readonly canaryLeaks: readonly string[];
  /** The drill log after the demo's drills: each resource's latest drill. */
  readonly drills: readonly DrillSummary[];
}

/** The whole demo scenario on an emulator that is already running. */
export async function runDemo(endpoint: string, progress: (line: string) => void = () => {}): Promise<DemoResult> {
  const config = demoConfig();
  // Every log line of the Lambdas' code, kept to look for the planted secret values in afterwards.
  const logLines: string[] = [];
  const keep =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      logLines.push(JSON.stringify({ level, message, ...fields }));
    };
  const log: Log = { info: keep('info'), warn: keep('warn'), error: keep('error') };
  progress('1. Setting up the backup account and the source accounts (what `cdk deploy` creates)');
  const env = await localUp(config, endpoint, progress);
  progress('2. Production databases, clusters, volumes and images, and their snapshots');
  await seedDatabases(config, endpoint, progress);
  await seedOtherKinds(config, endpoint, progress);
  const seeded = await seedPulled(config, endpoint, progress);
  progress('3. Hostile and broken messages sent to the intake topics');
  await sendHostileMessages(config, endpoint, progress);
  await sendHostileEc2Messages(config, endpoint, progress);
  progress(
    '4. A full backup cycle (pulls of parameters, secrets and tables; source agents, intake, copies, completion)',
  );
  const firstRun = await localRun(config, endpoint, { progress: (line) => progress(`  ${line}`), pullNow: true, log });
  const beforeRotation = new Date().toISOString();

  progress('5. Every announced snapshot delivered again (duplicate notifications)');
  const copiesBeforeReplay = await countCopies(config, endpoint);
  const backupContext = await localContext(endpoint, config.backup.account, config.backup.region, LOCAL_OPERATOR_ROLE);
  const before = await readInventory(backupContext, config.name, { status: 'available' });
  for (const record of before) {
    if (!record.sourceId || !record.sourceAccount || !record.sourceRegion || record.kind === 'unknown') continue;
    const sns = new SNSClient(
      clientConfig(await localContext(endpoint, record.sourceAccount, config.backup.region, LOCAL_OPERATOR_ROLE)),
    );
    await sns.send(
      new PublishCommand({
        TopicArn: env.topicArns[record.sourceAccount],
        Message: JSON.stringify(
          notificationOf({
            kind: record.kind,
            sourceAccount: record.sourceAccount,
            sourceRegion: record.sourceRegion,
            id: record.sourceId,
            publishedAt: new Date(),
          }),
        ),
      }),
    );
  }
  const secondRun = await localRun(config, endpoint, { progress: (line) => progress(`  ${line}`), log });
  const copiesAfterReplay = await countCopies(config, endpoint);
  progress(
    `  ${before.length} duplicate(s) delivered: ${copiesBeforeReplay} copies before, ${copiesAfterReplay} after`,
  );

  progress('6. A password rotated in production, then every pull run again: only the change is written');
  await rotatePassword(endpoint, seeded);
  const thirdRun = await localRun(config, endpoint, { progress: (line) => progress(`  ${line}`), pullNow: true, log });

  progress(
    `7. Parameters, secrets and tables restored into a new account, and one password as it was at ${beforeRotation}`,
  );
  const pulledChecks = await restoreAndCompare(config, endpoint, seeded, beforeRotation, progress);
  await demoDrills(config, backupContext, progress);
  const drills = await new DynamoDrillLog(
    new DynamoDBClient(clientConfig(backupContext)),
    vaultNames(config.name).inventoryTable,
  ).latest();

  await (await import('./runbook')).demoRunbook(config, backupContext, progress);
  await (await import('./coverage')).demoCoverage(config, endpoint, progress);
  const records = await readInventory(backupContext, config.name, {});
  const pulled = await readPulled(backupContext, config.name, {});
  const checks = await checkCopies(config, endpoint, env.backupKeyArn, records);
  const vault = await vaultObjects(config, endpoint, env.backupKeyArn);
  const canaryLeaks = canariesIn([...logLines, JSON.stringify(records), JSON.stringify(pulled)]);
  return {
    config,
    backupKeyArn: env.backupKeyArn,
    firstRun,
    secondRun,
    records,
    checks,
    copiesBeforeReplay,
    copiesAfterReplay,
    pulled,
    repull: thirdRun.pulls,
    pulledChecks,
    vault,
    canaryLeaks,
    drills,
  };
}
