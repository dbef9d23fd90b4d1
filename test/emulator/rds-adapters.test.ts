/**
 * The SDK adapters against the emulator: the inventory table created by
 * `localUp` (the same schema the vault stack creates), the RDS family copier
 * (RDS DB snapshots and Aurora DB cluster snapshots: sources read through
 * the reader role, copies made and read in the backup account), and the
 * source agent's own RDS. One set of fresh accounts serves the file; each
 * test uses its own records and snapshots.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CopyDBSnapshotCommand, DeleteDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { sdkCopiers } from '../../lambdas/adapters/copiers';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { AgentRds } from '../../lambdas/adapters/rds';
import { CopyRefusedError } from '../../lambdas/core/errors';
import {
  applyTransition,
  type CopyStatus,
  type InventoryRecord,
  newRecord,
  type RecordKind,
} from '../../lambdas/core/inventory';
import { kmsKeyIdOf } from '../../lambdas/core/keys';
import { vaultNames } from '../../lambdas/core/names';
import { auroraClusterSnapshotCopier } from '../../lambdas/kinds/aurora-cluster-snapshot/copier';
import type { ArtifactCopier, ArtifactRef, CopyRequest, SourceView } from '../../lambdas/kinds/types';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createCluster,
  createClusterSnapshot,
  createDatabase,
  createSnapshot,
  describeSnapshot,
  IN_SCOPE_TAG,
  ownClusterSnapshots,
  ownSnapshots,
  REGION,
  restoreAttribute,
  shareClusterSnapshot,
  shareSnapshot,
  TestClients,
} from './support/bunker';

const endpoint = emulatorEndpoint();
const aws = new TestClients(endpoint);
const backup = freshAccountId();
const source = freshAccountId();
const other = freshAccountId();
const config = bunkerConfig(backup, [source]);
const sourceRds = aws.rds(source);
const backupRds = aws.rds(backup);
let env: LocalEnvironment;

/**
 * In the source account: the database `orders` (in scope) with one snapshot
 * shared with the backup account and one not; the aurora cluster `ledger`
 * (in scope) with the same pair of cluster snapshots. Another account owns
 * a snapshot of the same name and shares it with both.
 */
const arns = { shared: '', private: '', otherAccountShared: '', clusterShared: '', clusterPrivate: '' };

beforeAll(async () => {
  env = await localUp(config, endpoint);
  const shareKey = env.sources[0].shareKeyArn;
  await createDatabase(sourceRds, { id: 'orders', inScope: true, kmsKeyId: shareKey });
  // The snapshot's own tags differ from the database's: scope is judged on the database's.
  arns.shared = await createSnapshot(sourceRds, 'orders', 'orders-shared', { team: 'payments' });
  await shareSnapshot(sourceRds, 'orders-shared', backup);
  arns.private = await createSnapshot(sourceRds, 'orders', 'orders-private');
  const otherRds = aws.rds(other);
  await createDatabase(otherRds, { id: 'orders', inScope: true });
  arns.otherAccountShared = await createSnapshot(otherRds, 'orders', 'orders-shared');
  await shareSnapshot(otherRds, 'orders-shared', backup);
  await shareSnapshot(otherRds, 'orders-shared', source);

  await createCluster(sourceRds, { id: 'ledger', inScope: true, kmsKeyId: shareKey });
  arns.clusterShared = await createClusterSnapshot(sourceRds, 'ledger', 'ledger-shared');
  await shareClusterSnapshot(sourceRds, 'ledger-shared', backup);
  arns.clusterPrivate = await createClusterSnapshot(sourceRds, 'ledger', 'ledger-private');
});

afterAll(() => aws.destroy());

describe('DynamoInventory', () => {
  const names = vaultNames(config.name);
  const inventory = new DynamoInventory(
    new DynamoDBClient(clientConfig(endpoint, backup, REGION)),
    names.inventoryTable,
    names.inventoryStatusIndex,
  );
  /** The pool of RDS DB snapshot copies into the vault's Region, where the records below copy to. */
  const POOL = 'rds-snapshot@eu-west-1';
  /** Far above anything these tests hold, for claims that must not meet the limit. */
  const NO_LIMIT = 1000;
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
  const record = (
    artifactId: string,
    status: CopyStatus,
    fields: { sourceAccount?: string; kind?: RecordKind; pool?: string; second?: number } = {},
  ): InventoryRecord =>
    newRecord(
      {
        artifactId,
        kind: fields.kind ?? 'rds-snapshot',
        status,
        sourceAccount: fields.sourceAccount,
        reason: `created ${status}`,
        pool: 'pool' in fields ? fields.pool : POOL,
      },
      at(fields.second ?? 0),
    );
  const claimOf = (r: InventoryRecord, second: number, reason?: string) =>
    applyTransition(r, 'copying', at(second), { copyAttempts: r.copyAttempts + 1, reason });
  const ids = (records: readonly InventoryRecord[]) => records.map((r) => r.artifactId).sort();

  it('creates a record once: a second create of the same id answers false and keeps the first', async () => {
    const first = record('create-once', 'expected');

    expect(await inventory.create(first)).toBe(true);
    expect(await inventory.create({ ...first, status: 'available', reason: 'a second writer' })).toBe(false);

    expect(await inventory.get('create-once')).toEqual(first);
    expect(await inventory.get('never-created')).toBeUndefined();
  });

  it('replaces a record only while it still has the expected version: a stale replace answers false', async () => {
    const created = record('stale-replace', 'expected');
    await inventory.create(created);
    const waiting = applyTransition(created, 'expected', at(1), { reason: 'waiting for capacity' });
    expect(await inventory.replace(created, waiting)).toBe(true);

    // A worker still holding the first version loses and changes nothing.
    expect(await inventory.replace(created, applyTransition(created, 'failed', at(2), { reason: 'stale' }))).toBe(
      false,
    );
    expect(await inventory.get('stale-replace')).toEqual(waiting);

    // The current version wins.
    const failed = applyTransition(waiting, 'failed', at(3), { reason: 'refused' });
    expect(await inventory.replace(waiting, failed)).toBe(true);
    expect(await inventory.get('stale-replace')).toEqual(failed);
  });

  it('never creates a record through replace', async () => {
    const ghost = record('replace-missing', 'expected');

    expect(await inventory.replace(ghost, applyTransition(ghost, 'failed', at(1)))).toBe(false);

    expect(await inventory.get('replace-missing')).toBeUndefined();
  });

  // The two races below rely on DynamoDB running each transaction atomically and in isolation.
  // moto 5.2.5 does neither under concurrent requests (a cancelled TransactWriteItems restores a
  // copy of the whole table taken when it began, erasing what other requests wrote meanwhile):
  // the launcher (tools/moto/bunker_moto.py) has to serialize the DynamoDB backend for them to hold.
  it('lets exactly one of five concurrent claims of the same record win, taking one copy slot of its pool (bunker moto launcher)', async () => {
    const created = record('concurrent-claims', 'expected');
    await inventory.create(created);
    const slotsBefore = await inventory.copiesInProgress(POOL);
    const claims = [1, 2, 3, 4, 5].map((worker) => claimOf(created, worker, `claimed by worker ${worker}`));

    const results = await Promise.all(claims.map((claim) => inventory.claimCopy(created, claim, NO_LIMIT)));

    expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r === 'conflict')).toHaveLength(4);
    expect(await inventory.get('concurrent-claims')).toEqual(claims[results.indexOf('claimed')]);
    expect(await inventory.copiesInProgress(POOL)).toBe(slotsBefore + 1);
  });

  it('starts no more copies than the limit when claims of different records race, and frees a slot when a copy leaves copying (bunker moto launcher)', async () => {
    const racers = [1, 2, 3, 4, 5].map((n) => record(`slot-race-${n}`, 'expected'));
    for (const r of racers) await inventory.create(r);
    const limit = (await inventory.copiesInProgress(POOL)) + 2;

    const results = await Promise.all(racers.map((r, i) => inventory.claimCopy(r, claimOf(r, i + 1), limit)));

    expect(results.filter((r) => r === 'claimed')).toHaveLength(2);
    expect(results.filter((r) => r === 'full')).toHaveLength(3);
    expect(await inventory.copiesInProgress(POOL)).toBe(limit);
    const stored = await Promise.all(racers.map((r) => inventory.get(r.artifactId)));
    expect(stored.filter((r) => r?.status === 'copying')).toHaveLength(2);
    // A full claim writes nothing.
    stored.forEach((r, i) => {
      if (results[i] === 'full') expect(r).toEqual(racers[i]);
    });

    const winner = racers[results.indexOf('claimed')];
    const copying = claimOf(winner, results.indexOf('claimed') + 1);
    expect(await inventory.replace(copying, applyTransition(copying, 'available', at(9)))).toBe(true);
    expect(await inventory.copiesInProgress(POOL)).toBe(limit - 1);
    const loser = racers[results.indexOf('full')];
    expect(await inventory.claimCopy(loser, claimOf(loser, 10), limit)).toBe('claimed');
  });

  it('counts copy slots per pool: a full pool holds back its own claims only, not those of another kind or Region', async () => {
    const rdsHere = record('pool-rds-here', 'expected');
    const auroraHere = record('pool-aurora-here', 'expected', {
      kind: 'aurora-cluster-snapshot',
      pool: 'aurora-cluster-snapshot@eu-west-1',
    });
    const rdsThere = record('pool-rds-there', 'expected', { pool: 'rds-snapshot@eu-central-1' });
    for (const r of [rdsHere, auroraHere, rdsThere]) await inventory.create(r);
    expect(await inventory.copiesInProgress('aurora-cluster-snapshot@eu-west-1')).toBe(0);
    expect(await inventory.copiesInProgress('rds-snapshot@eu-central-1')).toBe(0);
    const filler = record('pool-filler', 'expected');
    await inventory.create(filler);
    expect(await inventory.claimCopy(filler, claimOf(filler, 1), NO_LIMIT)).toBe('claimed');
    // One limit for all three claims, reached in the RDS pool of eu-west-1 only.
    const limit = await inventory.copiesInProgress(POOL);

    expect(await inventory.claimCopy(rdsHere, claimOf(rdsHere, 2), limit)).toBe('full');
    expect(await inventory.claimCopy(auroraHere, claimOf(auroraHere, 2), limit)).toBe('claimed');
    expect(await inventory.claimCopy(rdsThere, claimOf(rdsThere, 2), limit)).toBe('claimed');

    expect(await inventory.copiesInProgress(POOL)).toBe(limit);
    expect(await inventory.copiesInProgress('aurora-cluster-snapshot@eu-west-1')).toBe(1);
    expect(await inventory.copiesInProgress('rds-snapshot@eu-central-1')).toBe(1);
    expect(await inventory.get('pool-rds-here')).toEqual(rdsHere);
  });

  it('refuses to claim a copy slot for a record that names no pool, and writes nothing', async () => {
    const poolless = record('claim-without-pool', 'expected', { pool: undefined });
    await inventory.create(poolless);

    await expect(inventory.claimCopy(poolless, claimOf(poolless, 1), NO_LIMIT)).rejects.toThrow(
      'record claim-without-pool has no copy pool',
    );
    expect(await inventory.get('claim-without-pool')).toEqual(poolless);
  });

  it('refuses to move a record into copying without taking a copy slot', async () => {
    const created = record('copying-without-slot', 'expected');
    await inventory.create(created);

    await expect(inventory.replace(created, claimOf(created, 1))).rejects.toThrow(/claimCopy/);
    expect(await inventory.get('copying-without-slot')).toEqual(created);
  });

  it('lists records by status through the status index, following status changes', async () => {
    const account = freshAccountId();
    const waiting = record('by-status-waiting', 'expected', { sourceAccount: account });
    const first = record('by-status-first', 'expected', { sourceAccount: account, second: 1 });
    const second = record('by-status-second', 'expected', { sourceAccount: account, second: 2 });
    for (const r of [waiting, first, second]) await inventory.create(r);
    for (const r of [first, second]) expect(await inventory.claimCopy(r, claimOf(r, 3), NO_LIMIT)).toBe('claimed');
    const mine = (records: readonly InventoryRecord[]) => ids(records.filter((r) => r.sourceAccount === account));

    expect(mine(await inventory.listByStatus('copying'))).toEqual(['by-status-first', 'by-status-second']);
    expect(mine(await inventory.listByStatus('expected'))).toEqual(['by-status-waiting']);

    const copying = claimOf(first, 3);
    expect(await inventory.replace(copying, applyTransition(copying, 'available', at(5)))).toBe(true);

    expect(mine(await inventory.listByStatus('copying'))).toEqual(['by-status-second']);
    expect(mine(await inventory.listByStatus('available'))).toEqual(['by-status-first']);
    expect(mine(await inventory.listByStatus('failed'))).toEqual([]);
  });

  it('lists records filtered by account, kind and status', async () => {
    const alice = freshAccountId();
    const bob = freshAccountId();
    const records = [
      record('filter-alice-available', 'available', { sourceAccount: alice }),
      record('filter-alice-rejected', 'rejected', { sourceAccount: alice }),
      record('filter-bob-available', 'available', { sourceAccount: bob }),
      record('filter-bob-aurora', 'available', { sourceAccount: bob, kind: 'aurora-cluster-snapshot' }),
      record('filter-anonymous-rejected', 'rejected', { kind: 'unknown', pool: undefined }),
    ];
    for (const r of records) await inventory.create(r);
    const ours = new Set(records.map((r) => r.artifactId));
    const onlyOurs = (list: readonly InventoryRecord[]) => ids(list.filter((r) => ours.has(r.artifactId)));

    expect(ids(await inventory.list({ account: alice }))).toEqual(['filter-alice-available', 'filter-alice-rejected']);
    expect(ids(await inventory.list({ account: alice, status: 'rejected' }))).toEqual(['filter-alice-rejected']);
    expect(ids(await inventory.list({ account: bob, kind: 'rds-snapshot' }))).toEqual(['filter-bob-available']);
    expect(ids(await inventory.list({ account: bob, kind: 'aurora-cluster-snapshot' }))).toEqual(['filter-bob-aurora']);
    expect(ids(await inventory.list({ account: bob, kind: 'unknown' }))).toEqual([]);
    expect(onlyOurs(await inventory.list({ kind: 'unknown' }))).toEqual(['filter-anonymous-rejected']);
    expect(onlyOurs(await inventory.list({ status: 'available' }))).toEqual([
      'filter-alice-available',
      'filter-bob-aurora',
      'filter-bob-available',
    ]);
    expect(onlyOurs(await inventory.list())).toEqual([...ours].sort());
    // Only records: the copy-slot counters are not listed.
    expect((await inventory.list()).every((r) => r.artifactId && r.status && r.kind)).toBe(true);
  });
});

/** The vault's copiers, acting as the intake Lambda's role in the backup account. */
async function vaultCopiers() {
  const context = await localContext(endpoint, backup, REGION, vaultNames(config.name).intakeRole);
  return {
    rds: sdkCopiers(context, config.name, 'aws')['rds-snapshot'],
    aurora: auroraClusterSnapshotCopier(context, config.name, 'aws'),
  };
}

const rdsRef = (id: string, account = source, region = REGION): ArtifactRef => ({
  kind: 'rds-snapshot',
  partition: 'aws',
  account,
  region,
  id,
});

const clusterRef = (id: string): ArtifactRef => ({
  kind: 'aurora-cluster-snapshot',
  partition: 'aws',
  account: source,
  region: REGION,
  id,
});

const COPY_TAGS = { 'bunker:managed-by': 'bunker', 'bunker:source-account': 'set-by-the-test' };

describe('RdsFamilyCopier of RDS DB snapshots', () => {
  let copier: ArtifactCopier;

  beforeAll(async () => {
    copier = (await vaultCopiers()).rds;
  });

  const request = (ref: ArtifactRef, sourceArn: string, targetName: string): CopyRequest => ({
    ref,
    sourceArn,
    sourceId: ref.id,
    sourceRegion: ref.region,
    targetName,
    targetRegion: REGION,
    kmsKeyArn: env.backupKeyArn,
    tags: COPY_TAGS,
  });

  it("describes a source snapshot through the reader role: owner from the ARN RDS returns, restore attribute, its own tags, and the DB instance's tags only when asked", async () => {
    const taken = (await describeSnapshot(sourceRds, 'orders-shared')).SnapshotCreateTime?.toISOString();

    const view = await copier.describeSource(rdsRef('orders-shared'));

    expect(view).toEqual({
      ref: rdsRef('orders-shared'),
      arn: `arn:aws:rds:eu-west-1:${source}:snapshot:orders-shared`,
      ownerAccount: source,
      state: 'available',
      detail: 'available',
      encrypted: true,
      keyArn: env.sources[0].shareKeyArn,
      sharedWith: [backup],
      producedAt: taken,
      resourceId: 'orders',
      productionId: undefined,
      scopeIds: ['orders', 'orders-shared'],
      scopeTags: { team: 'payments' },
      sizeGiB: 20,
      engine: 'postgres',
    });
    expect(taken).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await copier.resourceScopeTags?.(view as SourceView)).toEqual({ 'bunker:backup': 'true' });
  });

  it('reports an unshared source snapshot with nobody in its restore attribute', async () => {
    const view = await copier.describeSource(rdsRef('orders-private'));

    expect(view).toMatchObject({ arn: `arn:aws:rds:eu-west-1:${source}:snapshot:orders-private`, sharedWith: [] });
  });

  it("reads an intermediate's production snapshot and production time from the source agent's tags", async () => {
    await sourceRds.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: 'orders-private',
        TargetDBSnapshotIdentifier: 'bunker-share-orders-nightly-adapter',
        KmsKeyId: env.sources[0].shareKeyArn,
        Tags: [
          { Key: 'bunker:intermediate', Value: 'true' },
          { Key: 'bunker:source-snapshot', Value: 'rds:orders-2026-02-01-03-00' },
          { Key: 'bunker:source-created-at', Value: '2026-02-01T03:00:00.000Z' },
          { Key: 'bunker:scope-key', Value: 'bunker:backup' },
          { Key: 'bunker:scope-value', Value: 'true' },
        ],
      }),
    );

    const view = await copier.describeSource(rdsRef('bunker-share-orders-nightly-adapter'));

    expect(view).toMatchObject({
      arn: `arn:aws:rds:eu-west-1:${source}:snapshot:bunker-share-orders-nightly-adapter`,
      ownerAccount: source,
      resourceId: 'orders',
      productionId: 'rds:orders-2026-02-01-03-00',
      producedAt: '2026-02-01T03:00:00.000Z',
      scopeIds: ['orders', 'rds:orders-2026-02-01-03-00', 'bunker-share-orders-nightly-adapter'],
      // Its own, with the scope tag the agent carried from the DB instance.
      scopeTags: {
        'bunker:intermediate': 'true',
        'bunker:source-snapshot': 'rds:orders-2026-02-01-03-00',
        'bunker:source-created-at': '2026-02-01T03:00:00.000Z',
        'bunker:scope-key': 'bunker:backup',
        'bunker:scope-value': 'true',
      },
    });
  });

  it('judges the snapshot of a deleted DB instance on its own tags', async () => {
    await createDatabase(sourceRds, { id: 'retired', inScope: false });
    await createSnapshot(sourceRds, 'retired', 'retired-final', { 'bunker:backup': 'true' });
    await sourceRds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'retired', SkipFinalSnapshot: true }));

    const view = await copier.describeSource(rdsRef('retired-final'));

    expect(view?.resourceId).toBe('retired');
    expect(await copier.resourceScopeTags?.(view as SourceView)).toEqual({ 'bunker:backup': 'true' });
  });

  it('answers undefined for a snapshot that does not exist in the named account and Region', async () => {
    expect(await copier.describeSource(rdsRef('orders-deleted'))).toBeUndefined();
    // The same name in another Region is another snapshot.
    expect(await copier.describeSource(rdsRef('orders-shared', source, 'eu-central-1'))).toBeUndefined();
  });

  it("reads the named account's own snapshot, never another account's of the same name shared with it", async () => {
    const view = await copier.describeSource(rdsRef('orders-shared'));

    expect(view?.arn).toBe(arns.shared);
    expect(view?.ownerAccount).toBe(source);
    expect(view?.arn).not.toBe(arns.otherAccountShared);
  });

  it('copies a shared snapshot under the given key with its tags, then answers exists for the same copy (bunker moto launcher)', async () => {
    const copy = request(rdsRef('orders-shared'), arns.shared, 'bunker-adapter-copy');

    expect(await copier.copy(copy)).toEqual({ outcome: 'started', targetId: 'bunker-adapter-copy' });
    expect(await copier.copy(copy)).toEqual({ outcome: 'exists', targetId: 'bunker-adapter-copy' });

    const expected = {
      targetId: 'bunker-adapter-copy',
      arn: `arn:aws:rds:eu-west-1:${backup}:snapshot:bunker-adapter-copy`,
      region: 'eu-west-1',
      state: 'available',
      detail: 'available',
      encrypted: true,
      keyArn: env.backupKeyArn,
      sizeGiB: 20,
      tags: COPY_TAGS,
    };
    expect(await copier.describeCopy({ targetName: 'bunker-adapter-copy', region: REGION })).toEqual(expected);
    // Once known, the id is what is described.
    expect(
      await copier.describeCopy({ targetName: 'another-name', targetId: 'bunker-adapter-copy', region: REGION }),
    ).toEqual(expected);
    // Read independently, as the backup account: one copy, under the backup-data key.
    const named = (await ownSnapshots(backupRds)).filter((s) => s.DBSnapshotIdentifier === 'bunker-adapter-copy');
    expect(named).toHaveLength(1);
    expect(kmsKeyIdOf(named[0].KmsKeyId)).toBe(kmsKeyIdOf(env.backupKeyArn));
  });

  it('refuses for good the copy of a snapshot that is not shared with the backup account (bunker moto launcher)', async () => {
    const copy = copier.copy(request(rdsRef('orders-private'), arns.private, 'bunker-adapter-unshared'));

    await expect(copy).rejects.toBeInstanceOf(CopyRefusedError);
    await expect(copy).rejects.toThrow(/^RDS refused the copy: DBSnapshotNotFound/);
    expect(await copier.describeCopy({ targetName: 'bunker-adapter-unshared', region: REGION })).toBeUndefined();
    expect((await ownSnapshots(backupRds)).map((s) => s.DBSnapshotIdentifier)).not.toContain('bunker-adapter-unshared');
  });

  it('refuses for good the copy of a snapshot that does not exist', async () => {
    const copy = copier.copy(
      request(
        rdsRef('orders-deleted'),
        `arn:aws:rds:eu-west-1:${source}:snapshot:orders-deleted`,
        'bunker-adapter-missing',
      ),
    );

    await expect(copy).rejects.toBeInstanceOf(CopyRefusedError);
    expect(await copier.describeCopy({ targetName: 'bunker-adapter-missing', region: REGION })).toBeUndefined();
  });
});

describe('RdsFamilyCopier of Aurora DB cluster snapshots', () => {
  let copier: ArtifactCopier;

  beforeAll(async () => {
    copier = (await vaultCopiers()).aurora;
  });

  const request = (ref: ArtifactRef, sourceArn: string, targetName: string): CopyRequest => ({
    ref,
    sourceArn,
    sourceId: ref.id,
    sourceRegion: ref.region,
    targetName,
    targetRegion: REGION,
    kmsKeyArn: env.backupKeyArn,
    tags: COPY_TAGS,
  });

  it("describes a source cluster snapshot through the reader role: owner, restore attribute, its own tags, and the DB cluster's tags only when asked", async () => {
    const taken = (await ownClusterSnapshots(sourceRds))
      .find((s) => s.DBClusterSnapshotIdentifier === 'ledger-shared')
      ?.SnapshotCreateTime?.toISOString();

    const view = await copier.describeSource(clusterRef('ledger-shared'));

    expect(view).toEqual({
      ref: clusterRef('ledger-shared'),
      arn: `arn:aws:rds:eu-west-1:${source}:cluster-snapshot:ledger-shared`,
      ownerAccount: source,
      state: 'available',
      detail: 'available',
      encrypted: true,
      keyArn: env.sources[0].shareKeyArn,
      sharedWith: [backup],
      producedAt: taken,
      resourceId: 'ledger',
      productionId: undefined,
      scopeIds: ['ledger', 'ledger-shared'],
      scopeTags: {},
      sizeGiB: 1,
      engine: 'aurora-postgresql',
    });
    expect(await copier.resourceScopeTags?.(view as SourceView)).toEqual({ 'bunker:backup': 'true' });
    expect(taken).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await copier.describeSource(clusterRef('ledger-private')))?.sharedWith).toEqual([]);
  });

  it("reads an intermediate cluster snapshot's production snapshot from the source agent's tag", async () => {
    await createClusterSnapshot(sourceRds, 'ledger', 'bunker-share-ledger-nightly-adapter', {
      'bunker:intermediate': 'true',
      'bunker:source-snapshot': 'ledger-nightly',
    });

    const view = await copier.describeSource(clusterRef('bunker-share-ledger-nightly-adapter'));

    expect(view).toMatchObject({
      ownerAccount: source,
      resourceId: 'ledger',
      productionId: 'ledger-nightly',
      scopeIds: ['ledger', 'ledger-nightly', 'bunker-share-ledger-nightly-adapter'],
    });
  });

  it('answers undefined for a cluster snapshot that does not exist, or a DB snapshot of the same name', async () => {
    expect(await copier.describeSource(clusterRef('ledger-deleted'))).toBeUndefined();
    expect(await copier.describeSource(clusterRef('orders-shared'))).toBeUndefined();
  });

  it('copies a shared cluster snapshot under the given key with its tags, then answers exists for the same copy (bunker moto launcher)', async () => {
    const copy = request(clusterRef('ledger-shared'), arns.clusterShared, 'bunker-adapter-cluster-copy');

    expect(await copier.copy(copy)).toEqual({ outcome: 'started', targetId: 'bunker-adapter-cluster-copy' });
    expect(await copier.copy(copy)).toEqual({ outcome: 'exists', targetId: 'bunker-adapter-cluster-copy' });

    expect(await copier.describeCopy({ targetName: 'bunker-adapter-cluster-copy', region: REGION })).toEqual({
      targetId: 'bunker-adapter-cluster-copy',
      arn: `arn:aws:rds:eu-west-1:${backup}:cluster-snapshot:bunker-adapter-cluster-copy`,
      region: 'eu-west-1',
      state: 'available',
      detail: 'available',
      encrypted: true,
      keyArn: env.backupKeyArn,
      sizeGiB: 1,
      tags: COPY_TAGS,
    });
    const named = (await ownClusterSnapshots(backupRds)).filter(
      (s) => s.DBClusterSnapshotIdentifier === 'bunker-adapter-cluster-copy',
    );
    expect(named).toHaveLength(1);
    expect(kmsKeyIdOf(named[0].KmsKeyId)).toBe(kmsKeyIdOf(env.backupKeyArn));
  });

  it('refuses for good the copy of a cluster snapshot that is not shared with the backup account (bunker moto launcher)', async () => {
    const copy = copier.copy(
      request(clusterRef('ledger-private'), arns.clusterPrivate, 'bunker-adapter-cluster-unshared'),
    );

    await expect(copy).rejects.toBeInstanceOf(CopyRefusedError);
    await expect(copy).rejects.toThrow(/^RDS refused the copy: DBClusterSnapshotNotFound/);
    expect(
      await copier.describeCopy({ targetName: 'bunker-adapter-cluster-unshared', region: REGION }),
    ).toBeUndefined();
    expect((await ownClusterSnapshots(backupRds)).map((s) => s.DBClusterSnapshotIdentifier)).not.toContain(
      'bunker-adapter-cluster-unshared',
    );
  });

  it('answers undefined for a copy that was never made', async () => {
    expect(await copier.describeCopy({ targetName: 'bunker-never-copied', region: REGION })).toBeUndefined();
  });
});

describe('AgentRds', () => {
  const agent = new AgentRds(new RDSClient(clientConfig(endpoint, source, REGION)));

  beforeAll(async () => {
    await createDatabase(sourceRds, { id: 'reports', inScope: false, automated: true });
    await createSnapshot(sourceRds, 'reports', 'reports-manual');
  });

  it("lists the account's own automated and manual snapshots, not those others shared with it", async () => {
    const listed = await agent.listSnapshots();

    const reports = listed.filter((s) => s.dbInstanceId === 'reports');
    expect(reports.map((s) => s.type).sort()).toEqual(['automated', 'manual']);
    expect(reports.find((s) => s.type === 'automated')?.id).toMatch(/^rds:reports-/);
    expect(reports.find((s) => s.type === 'manual')).toMatchObject({
      id: 'reports-manual',
      arn: `arn:aws:rds:eu-west-1:${source}:snapshot:reports-manual`,
      status: 'available',
      encrypted: true,
    });
    expect(listed.map((s) => s.id)).toEqual(expect.arrayContaining(['orders-shared', 'orders-private']));
    expect(listed.map((s) => s.arn)).not.toContain(arns.otherAccountShared);
    expect(listed.every((s) => s.arn.split(':')[4] === source)).toBe(true);
  });

  it("reads a database's tags, and undefined for a database that does not exist", async () => {
    expect(await agent.instanceTags('orders')).toEqual({ [IN_SCOPE_TAG.Key]: IN_SCOPE_TAG.Value });
    expect(await agent.instanceTags('orders-decommissioned')).toBeUndefined();
    expect(await agent.describeSnapshot('orders-deleted')).toBeUndefined();
  });

  it('copies under a key with tags (exists the second time), shares, tags and deletes its own snapshot', async () => {
    const request = {
      sourceId: 'reports-manual',
      targetId: 'bunker-share-reports-manual-adapter',
      kmsKeyArn: env.sources[0].shareKeyArn,
      tags: { 'bunker:intermediate': 'true' },
    };
    expect(await agent.copySnapshot(request)).toBe('started');
    expect(await agent.copySnapshot(request)).toBe('exists');
    const copy = await agent.describeSnapshot(request.targetId);
    expect(copy?.tags).toEqual({ 'bunker:intermediate': 'true' });
    expect(kmsKeyIdOf(copy?.kmsKeyId)).toBe(kmsKeyIdOf(env.sources[0].shareKeyArn));

    expect(await agent.sharedWith(request.targetId)).toEqual([]);
    await agent.share(request.targetId, backup);
    expect(await agent.sharedWith(request.targetId)).toEqual([backup]);
    expect(await restoreAttribute(sourceRds, request.targetId)).toEqual([backup]);

    await agent.tag(copy?.arn ?? '', { 'bunker:notified-at': '2026-01-01T00:00:00.000Z' });
    expect((await agent.describeSnapshot(request.targetId))?.tags).toEqual({
      'bunker:intermediate': 'true',
      'bunker:notified-at': '2026-01-01T00:00:00.000Z',
    });

    await agent.deleteSnapshot(request.targetId);
    expect(await agent.describeSnapshot(request.targetId)).toBeUndefined();
    await expect(agent.deleteSnapshot(request.targetId)).resolves.toBeUndefined();
  });
});
