/**
 * Aurora DB cluster snapshots end to end on the emulator, through the real
 * path: the source agent re-keys an automated or default-key cluster
 * snapshot into a manual intermediate under the share key, shares and
 * announces it; intake re-checks it through the reader role; the vault
 * copies it with CopyDBClusterSnapshot under the backup-data key. The copy
 * is read back with the backup account's own RDS client, not Bunker's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { localRun, type LocalRunSummary } from '../../cli/local/run';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createCluster,
  createClusterSnapshot,
  createKey,
  inventory,
  ownClusterSnapshots,
  REGION,
  tagsOf,
  TestClients,
} from './support/bunker';

describe('Aurora cluster snapshots from a source account to the vault (bunker moto launcher)', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const config = bunkerConfig(backup, [source], {
    artifacts: { rds: { enabled: true }, aurora: { enabled: true } },
  });
  let env: LocalEnvironment;
  let first: LocalRunSummary;
  let second: LocalRunSummary;
  let records: InventoryRecord[];

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    const rds = aws.rds(source);
    // In scope under the default aws/rds key (cannot be shared as is), and under a key of its own.
    await createCluster(rds, { id: 'ledger', inScope: true });
    await createClusterSnapshot(rds, 'ledger', 'ledger-before-migration');
    await createCluster(rds, { id: 'billing', inScope: true, kmsKeyId: await createKey(aws.kms(source)) });
    // Out of scope: never re-keyed, shared or copied.
    await createCluster(rds, { id: 'scratch', inScope: false });
    await createClusterSnapshot(rds, 'scratch', 'scratch-manual');
    first = await localRun(config, endpoint);
    second = await localRun(config, endpoint);
    records = (await inventory(config, endpoint)).filter((r) => r.kind === 'aurora-cluster-snapshot');
  }, 120_000);

  afterAll(() => aws.destroy());

  it('re-keys each in-scope cluster snapshot under the share key and shares only the intermediate', async () => {
    const snapshots = await ownClusterSnapshots(aws.rds(source));
    const intermediates = snapshots.filter((s) => s.DBClusterSnapshotIdentifier?.startsWith('bunker-share-'));
    const shareKey = env.sources[0].shareKeyArn;

    // ledger's automated and manual snapshots, billing's automated one.
    expect(intermediates.map((s) => tagsOf(s)['bunker:source-snapshot']).sort()).toEqual(
      snapshots
        .filter((s) => !s.DBClusterSnapshotIdentifier?.startsWith('bunker-share-'))
        .filter((s) => s.DBClusterIdentifier !== 'scratch')
        .map((s) => s.DBClusterSnapshotIdentifier)
        .sort(),
    );
    expect(intermediates).toHaveLength(3);
    for (const s of intermediates) {
      expect(s.KmsKeyId).toBe(shareKey);
      expect(s.SnapshotType).toBe('manual');
      expect((s.DBClusterSnapshotIdentifier ?? '').length).toBeLessThanOrEqual(63);
    }
  });

  it('copies each one into the backup account under the backup-data key, read back independently', async () => {
    const copies = (await ownClusterSnapshots(aws.rds(backup))).filter((s) =>
      s.DBClusterSnapshotIdentifier?.startsWith(`bunker-${source}-`),
    );

    expect(copies).toHaveLength(3);
    for (const copy of copies) {
      expect(copy.DBClusterSnapshotArn?.split(':')[4]).toBe(backup);
      expect(copy.StorageEncrypted).toBe(true);
      expect(copy.KmsKeyId).toBe(env.backupKeyArn);
      expect(tagsOf(copy)).toMatchObject({
        'bunker:managed-by': 'bunker',
        'bunker:kind': 'aurora-cluster-snapshot',
        'bunker:source-account': source,
        'bunker:source-region': REGION,
      });
    }
    expect(new Set(copies.map((c) => tagsOf(c)['bunker:source-resource']))).toEqual(new Set(['ledger', 'billing']));
  });

  it('records each copy as available in the aurora pool, and nothing of the out-of-scope cluster', () => {
    expect(records.map((r) => r.status)).toEqual(['available', 'available', 'available']);
    for (const record of records) {
      expect(record.pool).toBe(`aurora-cluster-snapshot@${REGION}`);
      expect(record.kmsKeyArn).toBe(env.backupKeyArn);
      expect(record.sourceResourceId === 'ledger' || record.sourceResourceId === 'billing').toBe(true);
    }
    expect(first.settled).toBe(true);
  });

  it("delivers the vault's receipts to the agent: each intermediate marked copied, each original backed up", async () => {
    const snapshots = await ownClusterSnapshots(aws.rds(source));
    const intermediates = snapshots.filter((s) => s.DBClusterSnapshotIdentifier?.startsWith('bunker-share-'));
    const originals = snapshots.filter(
      (s) => !s.DBClusterSnapshotIdentifier?.startsWith('bunker-share-') && s.DBClusterIdentifier !== 'scratch',
    );

    for (const s of intermediates) expect(tagsOf(s)['bunker:copied-at']).toMatch(/^\d{4}-\d\d-\d\dT/);
    for (const s of originals) expect(tagsOf(s)['bunker:backed-up-at']).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(records.every((r) => r.receiptSentAt !== undefined)).toBe(true);
  });

  it('makes no second copy when run again', () => {
    expect(second.notified).toBe(0);
    expect(second.byStatus.available).toBe(first.byStatus.available);
  });
});
