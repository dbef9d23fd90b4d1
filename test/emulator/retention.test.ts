/**
 * Retention on the emulator: RDS snapshots of two databases are copied into
 * the backup account by `localRun` (the real agents, intake, completion and
 * sweep), then the pruner's use case runs with the real adapters as the
 * `bunker-retention` role, on a manual clock days later. What is left in
 * the backup account is read back with boto3, not through Bunker's code;
 * the inventory with the operator CLI's reader.
 */
import { RemoveTagsFromResourceCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalRunSummary, localRun } from '../../cli/local/run';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { pruneDeps } from '../../lambdas/adapters/retention/wiring';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { silentLog } from '../../lambdas/core/ports';
import { prune } from '../../lambdas/core/retention/prune';
import { vaultSettings } from '../../lib/config/runtime';
import { retentionSettings } from '../../lib/constructs/retention';
import { ManualClock } from '../../sim/memory-aws';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { bunkerConfig, createDatabase, createSnapshot, inventory, REGION, TestClients } from './support/bunker';

const DAY = 86_400_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The production snapshot an intermediate was made from, as the test named it:
 * `bunker-share-orders-1-<hash>` is `orders-1`; RDS's automated snapshot of a
 * database (moto takes one when the database is made) is `<database>-automated`.
 */
function productionName(sourceId: string): string {
  const name = sourceId.replace(/^bunker-share-/, '').replace(/-[0-9a-f]{10}$/, '');
  const automated = /^([a-z]+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$/.exec(name);
  return automated ? `${automated[1]}-automated` : name;
}

/** The production snapshots whose copies Bunker holds in the backup account, read with boto3, sorted. */
async function heldCopies(endpoint: string, backup: string): Promise<string[]> {
  return (await bunkerCopies(endpoint, backup)).map((copy) => productionName(copy.sourceId)).sort();
}

/** The backup account's RDS snapshots Bunker made, as `{ id, sourceId }`, read with boto3. */
async function bunkerCopies(endpoint: string, backup: string): Promise<{ id: string; sourceId: string }[]> {
  const copies = await boto3<{ id: string; sourceId: string }[]>(
    endpoint,
    backup,
    `
rds = client('rds')
found = []
for page in rds.get_paginator('describe_db_snapshots').paginate(SnapshotType='manual'):
    for s in page['DBSnapshots']:
        tags = {t['Key']: t['Value'] for t in rds.list_tags_for_resource(ResourceName=s['DBSnapshotArn'])['TagList']}
        if tags.get('bunker:managed-by') == 'bunker':
            found.append({'id': s['DBSnapshotIdentifier'], 'sourceId': tags.get('bunker:source-id')})
out(found)
`,
  );
  return copies.sort((a, b) => (a.sourceId < b.sourceId ? -1 : 1));
}

describe('the pruner on the emulator (bunker moto launcher)', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const config = bunkerConfig(backup, [source], {
    artifacts: { rds: { enabled: true, retentionDays: 30, minCopies: 2 } },
  });
  const sourceRds = aws.rds(source);
  let env: LocalEnvironment;
  let madeAt: number;
  let firstRun: LocalRunSummary;
  let pruneLines: string[];

  /** The pruner's dependencies as the retention role, on a clock `days` after the copies were made. */
  async function pruner(days: number) {
    const context = await localContext(endpoint, backup, REGION, 'bunker-retention');
    const clock = new ManualClock(madeAt + days * DAY);
    return pruneDeps(vaultSettings(config, env.backupKeyArn), retentionSettings(config), context, silentLog, clock);
  }

  const recordOf = async (name: string): Promise<InventoryRecord | undefined> =>
    (await inventory(config, endpoint)).find((record) => productionName(record.sourceId ?? '') === name);

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    await createDatabase(sourceRds, { id: 'orders', inScope: true });
    await createDatabase(sourceRds, { id: 'billing', inScope: true });
    // Apart in time, so "oldest" is a fact of the service's own timestamps.
    for (const id of ['orders-1', 'orders-2', 'orders-3']) {
      await createSnapshot(sourceRds, 'orders', id);
      await sleep(1100);
    }
    await createSnapshot(sourceRds, 'billing', 'billing-1');
    madeAt = Date.now();
    const progress: string[] = [];
    firstRun = await localRun(config, endpoint, { progress: (line) => progress.push(line) });
    expect(firstRun.settled).toBe(true);
    pruneLines = progress.filter((line) => line.startsWith('pruner'));
  }, 120_000);

  afterAll(() => aws.destroy());

  it('starts from one available copy per production snapshot', async () => {
    expect(await heldCopies(endpoint, backup)).toEqual([
      'billing-1',
      'billing-automated',
      'orders-1',
      'orders-2',
      'orders-3',
      'orders-automated',
    ]);
    expect(await inventory(config, endpoint, { status: 'available' })).toHaveLength(6);
  });

  it('is run by `local run` after the copies settle: nothing is due yet, and it says so', () => {
    expect(firstRun.prune).toEqual({
      expired: 0,
      locked: 0,
      refused: 0,
      notBunkers: 0,
      versionsDeleted: 0,
      versionsKept: 0,
      dumpsDeleted: 0,
      dumpObjectsKept: 0,
    });
    expect(pruneLines).toEqual([
      "pruner: 0 copy(ies) expired, 0 due but kept (0 locked, 0 refused, 0 not Bunker's), 0 value version(s) and 0 table dump(s) expired",
    ]);
  });

  it('deletes nothing while every copy is within its retention', async () => {
    const summary = await prune(await pruner(10));

    expect(summary).toEqual({
      expired: 0,
      locked: 0,
      refused: 0,
      notBunkers: 0,
      versionsDeleted: 0,
      versionsKept: 0,
      dumpsDeleted: 0,
      dumpObjectsKept: 0,
    });
    expect(await heldCopies(endpoint, backup)).toHaveLength(6);
  });

  it('past the retention, refuses a copy whose Bunker tags were taken off and deletes the other one due', async () => {
    const [orders1] = (await bunkerCopies(endpoint, backup)).filter(
      (copy) => productionName(copy.sourceId) === 'orders-1',
    );
    const arn = `arn:aws:rds:${REGION}:${backup}:snapshot:${orders1.id}`;
    await aws
      .rds(backup)
      .send(new RemoveTagsFromResourceCommand({ ResourceName: arn, TagKeys: ['bunker:managed-by'] }));

    const summary = await prune(await pruner(40));

    expect(summary).toEqual({
      expired: 1,
      locked: 0,
      refused: 0,
      notBunkers: 1,
      versionsDeleted: 0,
      versionsKept: 0,
      dumpsDeleted: 0,
      dumpObjectsKept: 0,
    });
    const left = await boto3<string[]>(
      endpoint,
      backup,
      `out([s['DBSnapshotIdentifier'] for s in client('rds').describe_db_snapshots(DBSnapshotIdentifier=ARGS['id'])['DBSnapshots']])`,
      { id: orders1.id },
    );
    expect(left).toEqual([orders1.id]);
    expect((await recordOf('orders-1'))?.status).toBe('available');
    expect(await heldCopies(endpoint, backup)).toEqual(['billing-1', 'billing-automated', 'orders-2', 'orders-3']);
    // Put back as Bunker tagged it, for the next case.
    await boto3(
      endpoint,
      backup,
      `client('rds').add_tags_to_resource(ResourceName=ARGS['arn'], Tags=[{'Key': 'bunker:managed-by', 'Value': 'bunker'}])
out(True)`,
      { arn },
    );
  });

  it('deletes exactly the copies beyond the newest minCopies of each database, and records each deletion', async () => {
    const summary = await prune(await pruner(40));

    expect(summary).toEqual({
      expired: 1,
      locked: 0,
      refused: 0,
      notBunkers: 0,
      versionsDeleted: 0,
      versionsKept: 0,
      dumpsDeleted: 0,
      dumpObjectsKept: 0,
    });
    // orders keeps its newest two; billing has only two, both kept whatever their age.
    expect(await heldCopies(endpoint, backup)).toEqual(['billing-1', 'billing-automated', 'orders-2', 'orders-3']);
    const records = await inventory(config, endpoint);
    const byName = new Map(records.map((record) => [productionName(record.sourceId ?? ''), record]));
    for (const name of ['orders-automated', 'orders-1']) {
      expect(byName.get(name)?.status, name).toBe('expired');
      expect(byName.get(name)?.reason, name).toBe('older than 30 days, beyond the newest 2 copies of orders');
    }
    expect(byName.get('orders-1')?.expiredAt).toBe(new Date(madeAt + 40 * DAY).toISOString());
    for (const name of ['orders-2', 'orders-3', 'billing-1', 'billing-automated']) {
      expect(byName.get(name)?.status, name).toBe('available');
    }
  });

  it('deletes nothing more a year later: the newest copies of each database stay whatever their age', async () => {
    const summary = await prune(await pruner(400));

    expect(summary.expired).toBe(0);
    expect(await heldCopies(endpoint, backup)).toEqual(['billing-1', 'billing-automated', 'orders-2', 'orders-3']);
  });
});
