/**
 * The simulation counts AWS requests, not port calls (sim/memory-requests.ts
 * through the fault Proxy of sim/faults.ts), and for a quiet single artifact
 * of each kind it counts what the emulator counts on the Lambdas' own SDK
 * clients (`test/emulator/calls-per-artifact.test.ts`, its per-operation
 * output). The expected figures are that output per artifact, less what the
 * simulation does not run, each named beside it:
 *
 * - the reader role's `AssumeRole` (0.25 of the emulator's vault figure:
 *   one per 4 artifacts; the simulation does not model credentials);
 * - the refill's query after the completion and the agent's handling of the
 *   receipt (describe, two tags): the run stops as soon as the receipt is
 *   sent, so a single artifact's run ends before them;
 * - the lock of an EBS or AMI copy (2 and 3 requests): the simulation's
 *   vault has no immutability settings.
 *
 * The source side is held to it per operation too, and to the kind: each
 * request the agent makes is counted for the artifact it serves (an image's
 * backing snapshot and its look by name are the image's, not EBS's).
 */
import { describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { newRecord } from '../../lambdas/core/inventory';
import { CopyQuotaExceededError } from '../../lambdas/core/errors';
import { MemoryInventory } from '../../sim/memory-aws';
import { awsRequestsOf } from '../../sim/memory-requests';
import { runSimulation } from '../../sim/simulation';
import type { KindName } from '../../lambdas/kinds/types';

const SOURCE_PORTS = new Set(['source-rds', 'source-ec2', 'publisher']);

/** One artifact of `kind`, no faults, its intermediate ready in a minute, no vault sweep before it settles. */
async function quietSingle(kind: KindName) {
  const mix = { 'rds-snapshot': 0, 'aurora-cluster-snapshot': 0, 'ebs-snapshot': 0, ami: 0, [kind]: 1 };
  const result = await runSimulation({
    seed: 7,
    artifacts: 1,
    accounts: 1,
    agents: true,
    mix,
    sweepMinutes: 100_000,
    intermediateMinutes: { [kind]: 1 },
  });
  const side = (source: boolean) =>
    Object.fromEntries(
      Object.entries(result.counts.requests).filter(([key]) => SOURCE_PORTS.has(key.split('.')[0]) === source),
    );
  // The same requests as the kind's own: every one the agent made is attributed to the artifact it serves.
  const ofKind = Object.fromEntries(
    Object.entries(result.counts.requestsPerArtifact[kind] ?? {}).filter(([key]) =>
      SOURCE_PORTS.has(key.split('.')[0]),
    ),
  );
  return {
    settled: result.settled,
    source: side(true),
    vault: side(false),
    ofKind,
    indexWrites: result.counts.dynamoIndexWrites,
    writeUnits: result.counts.dynamoWriteUnits,
    indexWriteUnits: result.counts.dynamoIndexWriteUnits,
    readUnits: result.counts.dynamoReadUnits,
  };
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);

describe('AWS requests of a quiet single artifact: the simulation against the emulator', () => {
  it("RDS: the vault's minimum of 10 with intake's look at its copy, less the refill query; the source 11 less the receipt", async () => {
    const { settled, source, vault } = await quietSingle('rds-snapshot');
    expect(settled).toBe(true);
    // Emulator, per artifact: DescribeDBSnapshots 3 (the source, intake's look, completion's look at the pool),
    // DescribeDBSnapshotAttributes 1, CopyDBSnapshot 1, TransactWriteItems 2, PutItem 1, SNS 1, Query 2 (the pool's
    // copies in flight, which name the event's copy and hold its record; the refill). No GetItem, and no
    // DescribeDBInstances: the intermediate carries the instance's scope tag.
    expect(vault).toEqual({
      'copier.describeSource': 2,
      'copier.copy': 1,
      'copier.describeCopy': 1,
      'copier.describeCopies': 1,
      'inventory.claimCopy': 1,
      'inventory.replace': 2,
      'inventory.copiesInFlight': 1,
      'receipts.send': 1,
    });
    expect(total(vault)).toBe(10 + 1 - 1);
    // Emulator, per artifact: DescribeDBSnapshots 3.25 (the snapshot's and the intermediate's events, the receipt,
    // and a quarter of the count's listing), DescribeDBInstances 1, CopyDBSnapshot 1, ModifyDBSnapshotAttribute 1,
    // SNS 1, AddTagsToResource 3 (notified; the receipt's two). One artifact alone pays the whole listing.
    expect(source).toEqual({
      'source-rds.describeSnapshot': 2,
      'source-rds.listSnapshots': 1,
      'source-rds.instanceTags': 1,
      'source-rds.copySnapshot': 1,
      'source-rds.share': 1,
      'publisher.publish': 1,
      'source-rds.tag': 1,
    });
    expect(total(source)).toBe(11 - 3);
  });

  it("RDS: the indexes' entries its record's three writes put and delete, which DynamoDB bills on top of them", async () => {
    const { indexWrites } = await quietSingle('rds-snapshot');
    // The claim that creates: a status entry and a claims:<pool> entry (2). The request recorded: the status
    // entry moved, claims:<pool> deleted and copying:<pool> put (4). Settled available with nothing owed: the
    // status entry moved, copying:<pool> deleted, no followup:<pool> entry (3).
    expect(indexWrites).toBe(2 + 4 + 3);
  });

  it('RDS: the units its record bills, stored under 1 KB: one per item and index entry written, twice in a transaction; half a read', async () => {
    const { writeUnits, indexWriteUnits, readUnits } = await quietSingle('rds-snapshot');
    // The claim that creates and the settle are transactions of the record, the pool's slot counter and the
    // DB instance's slot (2 x 3 units each); the request recorded is one put (1). Each index entry is 1 unit.
    expect(writeUnits).toBe(6 + 1 + 6);
    expect(indexWriteUnits).toBe(2 + 4 + 3);
    // Its one read: the query of the pool's copies in flight, which returns its record (under 4 KB).
    expect(readUnits).toBe(0.5);
  });

  it('Aurora: the same requests on clusters', async () => {
    const { source, vault, ofKind } = await quietSingle('aurora-cluster-snapshot');
    expect(total(vault)).toBe(10 + 1 - 1);
    expect(total(source)).toBe(11 - 3);
    expect(ofKind).toEqual(source);
  });

  it('EBS: the source 13 less the receipt and the delete, every request an EBS one', async () => {
    const { source, ofKind } = await quietSingle('ebs-snapshot');
    // Emulator, per artifact: DescribeSnapshots 5.25 (the original's and the copy's events, the look by name before
    // the copy, the look for the canonical copy, the receipt, a quarter of the count), DescribeVolumes 1,
    // CopySnapshot 1, ModifySnapshotAttribute 1, SNS 1, CreateTags 3. The copy's event names the copy: the original
    // is judged once (one DescribeVolumes).
    expect(source).toEqual({
      'source-ec2.describeSnapshot': 2,
      'source-ec2.listSnapshots': 3,
      'source-ec2.volumeTags': 1,
      'source-ec2.copySnapshot': 1,
      'source-ec2.shareSnapshot': 1,
      'publisher.publish': 1,
      'source-ec2.tag': 1,
    });
    expect(ofKind).toEqual(source);
  });

  it('AMI: the source 13 less the receipt and the cleanup, the backing snapshot and the look by name its own', async () => {
    const { source, ofKind } = await quietSingle('ami');
    // Emulator, per artifact: DescribeImages 4.25 (the image's and the copy's events, the look by name, the receipt,
    // a quarter of the count), CopyImage 1, ModifySnapshotAttribute 1 (the backing snapshot), ModifyImageAttribute 1,
    // SNS 1, CreateTags 3.
    expect(source).toEqual({
      'source-ec2.describeImage': 2,
      'source-ec2.imageByName': 1,
      'source-ec2.listImages': 1,
      'source-ec2.copyImage': 1,
      'source-ec2.shareSnapshot': 1,
      'source-ec2.shareImage': 1,
      'publisher.publish': 1,
      'source-ec2.tag': 1,
    });
    expect(ofKind).toEqual(source);
  });

  it("EBS: the vault's minimum of 13 with intake's look at its copy, less the refill query and the lock", async () => {
    const { vault } = await quietSingle('ebs-snapshot');
    // Emulator: DescribeSnapshots 4 (the source, the look by name before the copy, intake's look, completion),
    // DescribeSnapshotAttribute 1, CopySnapshot 1, DescribeLockedSnapshots 1, LockSnapshot 1, TransactWriteItems 2,
    // PutItem 1, GetItem 1, SNS 1, Query 1. No DescribeVolumes: the intermediate carries the scope tag.
    expect(vault).toEqual({
      'copier.describeSource': 2,
      'copier.copy': 2,
      'copier.describeCopy': 2,
      'inventory.claimCopy': 1,
      'inventory.replace': 2,
      'inventory.get': 1,
      'receipts.send': 1,
    });
    expect(total(vault)).toBe(13 + 1 - 1 - 2);
  });

  it('AMI: the vault 19 less the refill query and the protection', async () => {
    const { vault } = await quietSingle('ami');
    // Emulator: DescribeImages 4 and DescribeSnapshots 3 (the image and its backing snapshot at intake, the look
    // by name, intake's look and completion with the copy's backing snapshot), DescribeImageAttribute 1,
    // DescribeSnapshotAttribute 1, CopyImage 1, EnableImageDeregistrationProtection 1, DescribeLockedSnapshots 1,
    // LockSnapshot 1, TransactWriteItems 2, PutItem 1, GetItem 1, SNS 1, Query 1.
    expect(vault).toEqual({
      'copier.describeSource': 4,
      'copier.copy': 2,
      'copier.describeCopy': 4,
      'inventory.claimCopy': 1,
      'inventory.replace': 2,
      'inventory.get': 1,
      'receipts.send': 1,
    });
    expect(total(vault)).toBe(19 - 1 - 3);
  });
});

describe('awsRequestsOf', () => {
  const ebsCopy = { kind: 'ebs-snapshot' as const, port: 'copier', method: 'copy', args: [] };

  it('counts an EBS copy AWS refused on its quota: the look by name and the refused request', () => {
    expect(awsRequestsOf({ ...ebsCopy, outcome: { error: new CopyQuotaExceededError('full') } }, {})).toBe(2);
    expect(awsRequestsOf({ ...ebsCopy, outcome: { result: { outcome: 'exists', targetId: 'snap-1' } } }, {})).toBe(1);
    const rds = { ...ebsCopy, kind: 'rds-snapshot' as const };
    expect(awsRequestsOf({ ...rds, outcome: { error: new CopyQuotaExceededError('full') } }, {})).toBe(1);
  });

  it("counts intake's describe without the resource's tags, and their read on demand as one request", () => {
    const view = { resourceId: 'orders-db', children: undefined };
    const call = (kind: 'rds-snapshot' | 'ebs-snapshot', method: string) =>
      awsRequestsOf({ kind, port: 'copier', method, args: [view], outcome: { result: view } }, {});

    expect([call('rds-snapshot', 'describeSource'), call('ebs-snapshot', 'describeSource')]).toEqual([2, 2]);
    expect([call('rds-snapshot', 'resourceScopeTags'), call('ebs-snapshot', 'resourceScopeTags')]).toEqual([1, 1]);
  });

  it("counts a pool's batched look as one request, whatever the copies it answers for", () => {
    const look = (found: number) =>
      awsRequestsOf(
        {
          kind: 'rds-snapshot',
          port: 'copier',
          method: 'describeCopies',
          args: [[], 'eu-west-1'],
          outcome: { result: Array.from({ length: found }, (_, n) => ({ targetId: `bunker-copy-${n}` })) },
        },
        {},
      );

    expect([look(0), look(2), look(20)]).toEqual([1, 1, 1]);
  });

  it("asks a second query of the ring walk only when the queue's first record is not past the account, or, during a backlog, when nothing is past it", async () => {
    const inventory = new MemoryInventory();
    const waiting = (account: string): InventoryRecord => ({
      ...newRecord(
        {
          artifactId: `rds-snapshot:${account}:eu-west-1:s-${account}`,
          kind: 'rds-snapshot',
          status: 'expected',
          sourceAccount: account,
          sourceRegion: 'eu-west-1',
          sourceId: `s-${account}`,
          pool: 'rds-snapshot@eu-west-1',
        },
        new Date('2026-03-01T00:00:00.000Z'),
      ),
    });
    const [low, high] = [waiting('222222222222'), waiting('444444444444')];
    await inventory.create(low);
    await inventory.create(high);
    const walk = (after: string, answer: InventoryRecord | undefined) =>
      awsRequestsOf(
        {
          port: 'inventory',
          method: 'nextWaiting',
          args: ['rds-snapshot@eu-west-1', after],
          outcome: { result: answer },
        },
        inventory,
      );
    // No backlog known: the first record is already past 111…: one query (and now the pool has a backlog).
    expect(await walk('111111111111', low)).toBe(1);
    // During the backlog the query past the account comes first: past 333… is 444…, one query.
    expect(await walk('333333333333', high)).toBe(1);
    // Nothing past 555…: that query found nothing, the walk wraps to the first.
    expect(await walk('555555555555', low)).toBe(2);
    // The queue is empty: both queries asked, and the backlog is over.
    expect(await walk('555555555555', undefined)).toBe(2);
    // No backlog known again: the first (222…) is not past 333…, so a second query.
    expect(await walk('333333333333', high)).toBe(2);
  });
});
