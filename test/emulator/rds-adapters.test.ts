/**
 * The SDK adapters against the emulator: the inventory table created by
 * `localUp` (the same schema the vault stack creates), the backup account's
 * RDS, a source account's RDS through the reader role, and the source
 * agent's own RDS. One set of fresh accounts serves the file; each test uses
 * its own records and snapshots.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { AgentRds, RdsBackupSnapshotStore, ReaderRoleSnapshotReader } from '../../lambdas/adapters/rds';
import { CopyRefusedError } from '../../lambdas/core/errors';
import {
  type ArtifactType,
  applyTransition,
  type CopyStatus,
  type InventoryRecord,
  newRecord,
} from '../../lambdas/core/inventory';
import { kmsKeyIdOf } from '../../lambdas/core/keys';
import { vaultNames } from '../../lambdas/core/names';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  bunkerConfig,
  createDatabase,
  createSnapshot,
  IN_SCOPE_TAG,
  ownSnapshots,
  REGION,
  restoreAttribute,
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

/** `orders` in the source account: one snapshot shared with the backup account, one not. */
const snapshots = { shared: '', private: '', otherAccountShared: '' };

beforeAll(async () => {
  env = await localUp(config, endpoint);
  await createDatabase(sourceRds, { id: 'orders', inScope: true, kmsKeyId: env.sources[0].shareKeyArn });
  snapshots.shared = await createSnapshot(sourceRds, 'orders', 'orders-shared');
  await shareSnapshot(sourceRds, 'orders-shared', backup);
  snapshots.private = await createSnapshot(sourceRds, 'orders', 'orders-private');
  // Another account owns a snapshot of the same name and shares it with both.
  const otherRds = aws.rds(other);
  await createDatabase(otherRds, { id: 'orders', inScope: true });
  snapshots.otherAccountShared = await createSnapshot(otherRds, 'orders', 'orders-shared');
  await shareSnapshot(otherRds, 'orders-shared', backup);
  await shareSnapshot(otherRds, 'orders-shared', source);
});

afterAll(() => aws.destroy());

describe('DynamoInventory', () => {
  const names = vaultNames(config.name);
  const inventory = new DynamoInventory(
    new DynamoDBClient(clientConfig(endpoint, backup, REGION)),
    names.inventoryTable,
    names.inventoryStatusIndex,
  );
  /** Far above anything these tests hold, for claims that must not meet the limit. */
  const NO_LIMIT = 1000;
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
  const record = (
    artifactId: string,
    status: CopyStatus,
    fields: { sourceAccount?: string; kind?: ArtifactType; second?: number } = {},
  ): InventoryRecord =>
    newRecord(
      {
        artifactId,
        kind: fields.kind ?? 'rds-snapshot',
        status,
        sourceAccount: fields.sourceAccount,
        reason: `created ${status}`,
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
  it('lets exactly one of five concurrent claims of the same record win, taking one copy slot', async () => {
    const created = record('concurrent-claims', 'expected');
    await inventory.create(created);
    const slotsBefore = await inventory.copiesInProgress('rds-snapshot');
    const claims = [1, 2, 3, 4, 5].map((worker) => claimOf(created, worker, `claimed by worker ${worker}`));

    const results = await Promise.all(claims.map((claim) => inventory.claimCopy(created, claim, NO_LIMIT)));

    expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r === 'conflict')).toHaveLength(4);
    expect(await inventory.get('concurrent-claims')).toEqual(claims[results.indexOf('claimed')]);
    expect(await inventory.copiesInProgress('rds-snapshot')).toBe(slotsBefore + 1);
  });

  it('starts no more copies than the limit when claims of different records race, and frees a slot when a copy leaves copying', async () => {
    const racers = [1, 2, 3, 4, 5].map((n) => record(`slot-race-${n}`, 'expected'));
    for (const r of racers) await inventory.create(r);
    const limit = (await inventory.copiesInProgress('rds-snapshot')) + 2;

    const results = await Promise.all(racers.map((r, i) => inventory.claimCopy(r, claimOf(r, i + 1), limit)));

    expect(results.filter((r) => r === 'claimed')).toHaveLength(2);
    expect(results.filter((r) => r === 'full')).toHaveLength(3);
    expect(await inventory.copiesInProgress('rds-snapshot')).toBe(limit);
    const stored = await Promise.all(racers.map((r) => inventory.get(r.artifactId)));
    expect(stored.filter((r) => r?.status === 'copying')).toHaveLength(2);
    // A full claim writes nothing.
    stored.forEach((r, i) => {
      if (results[i] === 'full') expect(r).toEqual(racers[i]);
    });

    const winner = racers[results.indexOf('claimed')];
    const copying = claimOf(winner, results.indexOf('claimed') + 1);
    expect(await inventory.replace(copying, applyTransition(copying, 'available', at(9)))).toBe(true);
    expect(await inventory.copiesInProgress('rds-snapshot')).toBe(limit - 1);
    const loser = racers[results.indexOf('full')];
    expect(await inventory.claimCopy(loser, claimOf(loser, 10), limit)).toBe('claimed');
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
      record('filter-anonymous-rejected', 'rejected', { kind: 'unknown' }),
    ];
    for (const r of records) await inventory.create(r);
    const ours = new Set(records.map((r) => r.artifactId));
    const onlyOurs = (list: readonly InventoryRecord[]) => ids(list.filter((r) => ours.has(r.artifactId)));

    expect(ids(await inventory.list({ account: alice }))).toEqual(['filter-alice-available', 'filter-alice-rejected']);
    expect(ids(await inventory.list({ account: alice, status: 'rejected' }))).toEqual(['filter-alice-rejected']);
    expect(ids(await inventory.list({ account: bob, kind: 'rds-snapshot' }))).toEqual(['filter-bob-available']);
    expect(ids(await inventory.list({ account: bob, kind: 'unknown' }))).toEqual([]);
    expect(onlyOurs(await inventory.list({ kind: 'unknown' }))).toEqual(['filter-anonymous-rejected']);
    expect(onlyOurs(await inventory.list({ status: 'available' }))).toEqual([
      'filter-alice-available',
      'filter-bob-available',
    ]);
    expect(onlyOurs(await inventory.list())).toEqual([...ours].sort());
    // Only records: the copy-slot counters are not listed.
    expect((await inventory.list()).every((r) => r.artifactId && r.status && r.kind)).toBe(true);
  });
});

describe('RdsBackupSnapshotStore', () => {
  const store = new RdsBackupSnapshotStore(backupRds);
  const tags = { 'bunker:managed-by': 'bunker', 'bunker:source-account': source };

  it('copies a shared snapshot under the given key with its tags, and answers exists for the same copy again', async () => {
    const request = { sourceArn: snapshots.shared, targetId: 'bunker-adapter-copy', kmsKeyArn: env.backupKeyArn, tags };

    expect(await store.copyShared(request)).toBe('started');
    expect(await store.copyShared(request)).toBe('exists');

    const copy = await store.describe('bunker-adapter-copy');
    expect(copy).toMatchObject({
      arn: `arn:aws:rds:${REGION}:${backup}:snapshot:bunker-adapter-copy`,
      id: 'bunker-adapter-copy',
      dbInstanceId: 'orders',
      status: 'available',
      encrypted: true,
      tags,
    });
    expect(kmsKeyIdOf(copy?.kmsKeyId)).toBe(kmsKeyIdOf(env.backupKeyArn));
    const named = (await ownSnapshots(backupRds)).filter((s) => s.DBSnapshotIdentifier === 'bunker-adapter-copy');
    expect(named).toHaveLength(1);
  });

  it('refuses for good the copy of a snapshot that is not shared with the backup account', async () => {
    const copy = store.copyShared({
      sourceArn: snapshots.private,
      targetId: 'bunker-adapter-unshared',
      kmsKeyArn: env.backupKeyArn,
      tags,
    });

    await expect(copy).rejects.toBeInstanceOf(CopyRefusedError);
    await expect(copy).rejects.toThrow(/DBSnapshotNotFound/);
    expect(await store.describe('bunker-adapter-unshared')).toBeUndefined();
  });

  it('refuses for good the copy of a snapshot that does not exist', async () => {
    const copy = store.copyShared({
      sourceArn: `arn:aws:rds:${REGION}:${source}:snapshot:orders-deleted`,
      targetId: 'bunker-adapter-missing',
      kmsKeyArn: env.backupKeyArn,
      tags,
    });

    await expect(copy).rejects.toBeInstanceOf(CopyRefusedError);
    expect(await store.describe('bunker-adapter-missing')).toBeUndefined();
  });
});

describe('ReaderRoleSnapshotReader', () => {
  let reader: ReaderRoleSnapshotReader;

  beforeAll(async () => {
    const context = await localContext(endpoint, backup, REGION, vaultNames(config.name).intakeRole);
    reader = new ReaderRoleSnapshotReader(context, config.name);
  });

  it('reads a source snapshot through the reader role, with the accounts in its restore attribute', async () => {
    const shared = await reader.describe(source, REGION, snapshots.shared);
    expect(shared?.snapshot).toMatchObject({
      arn: snapshots.shared,
      id: 'orders-shared',
      dbInstanceId: 'orders',
      status: 'available',
      type: 'manual',
      encrypted: true,
    });
    expect(shared?.sharedWith).toEqual([backup]);

    const unshared = await reader.describe(source, REGION, snapshots.private);
    expect(unshared?.snapshot.arn).toBe(snapshots.private);
    expect(unshared?.sharedWith).toEqual([]);
  });

  it('answers undefined for a snapshot that does not exist', async () => {
    expect(
      await reader.describe(source, REGION, `arn:aws:rds:${REGION}:${source}:snapshot:orders-deleted`),
    ).toBeUndefined();
  });

  it('answers undefined for the ARN of another account, even one shared with the backup account under the same name', async () => {
    expect(await reader.describe(source, REGION, snapshots.otherAccountShared)).toBeUndefined();
    // The same name in another Region is another snapshot, too.
    const otherRegionArn = snapshots.shared.replace(`:${REGION}:`, ':eu-central-1:');
    expect(await reader.describe(source, REGION, otherRegionArn)).toBeUndefined();
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
      arn: `arn:aws:rds:${REGION}:${source}:snapshot:reports-manual`,
      status: 'available',
      encrypted: true,
    });
    expect(listed.map((s) => s.id)).toEqual(expect.arrayContaining(['orders-shared', 'orders-private']));
    expect(listed.map((s) => s.arn)).not.toContain(snapshots.otherAccountShared);
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
