/**
 * How a record is stored: the item leaves out what it can derive, reading
 * derives it again, and DynamoDB's billing size of what is left.
 */
import { describe, expect, it } from 'vitest';
import { type InventoryRecord, newRecord } from '../../lambdas/core/inventory';
import { itemBytes, itemOf, recordOf, writeUnitsOf } from '../../lambdas/core/inventory-item';

const SOURCE = '222222222222';
const BACKUP = '111111111111';
const KEY = `arn:aws:kms:eu-west-1:${BACKUP}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const SHARED = 'bunker-share-orders-db-2026-03-01-04-10-2a694754ee';
const COPY = `bunker-${SOURCE}-orders-db-2026-03-01-04-10-2a694754ee-f5841ee494`;
const AT = '2026-03-01T04:30:00.000Z';
const WAIT = 'waiting for copy capacity: 20 RDS DB snapshot copies already in progress in eu-west-1';

/** A copy of an RDS DB snapshot made, recorded available, everything a real record holds. */
const available: InventoryRecord = {
  artifactId: `rds-snapshot:${SOURCE}:eu-central-1:${SHARED}`,
  kind: 'rds-snapshot',
  status: 'available',
  sourceAccount: SOURCE,
  sourceRegion: 'eu-central-1',
  sourceId: SHARED,
  sourceArn: `arn:aws:rds:eu-central-1:${SOURCE}:snapshot:${SHARED}`,
  sourceResourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0',
  sourceSnapshotId: 'rds:orders-db-2026-03-01-04-10',
  sourceCreatedAt: '2026-03-01T04:10:02.513Z',
  engine: 'postgres',
  sizeGiB: 915,
  targetName: COPY,
  targetId: COPY,
  targetArn: `arn:aws:rds:eu-west-1:${BACKUP}:snapshot:${COPY}`,
  targetRegion: 'eu-west-1',
  pool: 'rds-snapshot@eu-west-1',
  kmsKeyArn: KEY,
  copyAttempts: 1,
  claimRequests: 1,
  failures: 0,
  version: 4,
  createdAt: '2026-03-01T04:16:26.587Z',
  updatedAt: '2026-03-01T05:36:45.356Z',
  copyStartedAt: '2026-03-01T04:30:18.465Z',
  completedAt: '2026-03-01T05:36:45.356Z',
  receiptSentAt: '2026-03-01T05:36:45.356Z',
  finishedAt: '2026-03-01T05:36:45.356Z',
  history: [
    { status: 'expected', at: '2026-03-01T04:16:26.587Z', reason: WAIT },
    { status: 'copying', at: '2026-03-01T04:30:18.465Z' },
    { status: 'available', at: '2026-03-01T05:36:45.356Z' },
  ],
};

describe('the item stored for a record', () => {
  it("leaves out the source's account, Region, id and ARN, the copy's id and ARN, and names them in `derived`", () => {
    const item = itemOf(available);

    expect(item).toEqual({
      artifactId: `rds-snapshot:${SOURCE}:eu-central-1:${SHARED}`,
      kind: 'rds-snapshot',
      status: 'available',
      sourceResourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0',
      sourceSnapshotId: 'rds:orders-db-2026-03-01-04-10',
      sourceCreatedAt: '2026-03-01T04:10:02.513Z',
      engine: 'postgres',
      sizeGiB: 915,
      targetName: COPY,
      targetRegion: 'eu-west-1',
      pool: 'rds-snapshot@eu-west-1',
      kmsKeyArn: KEY,
      copyAttempts: 1,
      claimRequests: 1,
      failures: 0,
      version: 4,
      createdAt: '2026-03-01T04:16:26.587Z',
      updatedAt: '2026-03-01T05:36:45.356Z',
      copyStartedAt: '2026-03-01T04:30:18.465Z',
      completedAt: '2026-03-01T05:36:45.356Z',
      receiptSentAt: '2026-03-01T05:36:45.356Z',
      finishedAt: '2026-03-01T05:36:45.356Z',
      history: available.history,
      derived: 'ARItsa',
    });
    expect(recordOf(item)).toEqual(available);
  });

  it('is one write unit where the whole record would be two', () => {
    expect(itemBytes(available)).toBeGreaterThan(1024);
    expect(writeUnitsOf(available)).toBe(2);
    expect(itemBytes(itemOf(available))).toBeLessThanOrEqual(1024);
    expect(writeUnitsOf(itemOf(available))).toBe(1);
  });

  it("leaves out the newest status change's reason when it is the record's, with the waiting queue's attributes added", () => {
    const waiting = newRecord(
      {
        artifactId: `rds-snapshot:${SOURCE}:eu-central-1:${SHARED}`,
        kind: 'rds-snapshot',
        status: 'expected',
        reason: WAIT,
        sourceAccount: SOURCE,
        sourceRegion: 'eu-central-1',
        sourceId: SHARED,
        sourceArn: `arn:aws:rds:eu-central-1:${SOURCE}:snapshot:${SHARED}`,
        targetName: COPY,
        targetRegion: 'eu-west-1',
        pool: 'rds-snapshot@eu-west-1',
      },
      new Date(AT),
    );
    const item = itemOf(waiting);

    expect(item.history).toEqual([{ status: 'expected', at: AT }]);
    expect(item.reason).toBe(WAIT);
    expect(item.derived).toBe('ARIsh');
    expect(item.queue).toBe('waiting:rds-snapshot@eu-west-1');
    expect(item.queueKey).toBe(`${SOURCE}#${AT}#rds-snapshot:${SOURCE}:eu-central-1:${SHARED}`);
    expect(recordOf(item)).toEqual(waiting);
  });

  it("keeps an EBS copy's id, which EC2 assigned, and derives its ARN, which carries no account", () => {
    const ebs: InventoryRecord = {
      ...available,
      artifactId: `ebs-snapshot:${SOURCE}:eu-central-1:snap-0123456789abcdef0`,
      kind: 'ebs-snapshot',
      sourceId: 'snap-0123456789abcdef0',
      sourceArn: 'arn:aws:ec2:eu-central-1::snapshot/snap-0123456789abcdef0',
      targetName: 'bunker-copy-of-snap-0123456789abcdef0',
      targetId: 'snap-0fedcba9876543210',
      targetArn: 'arn:aws:ec2:eu-west-1::snapshot/snap-0fedcba9876543210',
      pool: 'ebs-snapshot@eu-west-1',
    };
    const item = itemOf(ebs);

    expect(item.derived).toBe('ARIsa');
    expect(item.targetId).toBe('snap-0fedcba9876543210');
    expect(item).not.toHaveProperty('targetArn');
    expect(item).not.toHaveProperty('sourceArn');
    expect(recordOf(item)).toEqual(ebs);
  });

  it("stores a second hop's source ARN, the first copy's, and derives its source from a key that ends @<Region>", () => {
    const hop: InventoryRecord = {
      ...available,
      artifactId: `rds-snapshot:${SOURCE}:eu-central-1:${SHARED}@eu-north-1`,
      sourceArn: `arn:aws:rds:eu-west-1:${BACKUP}:snapshot:${COPY}`,
      targetRegion: 'eu-north-1',
      targetArn: `arn:aws:rds:eu-north-1:${BACKUP}:snapshot:${COPY}`,
      kmsKeyArn: `arn:aws:kms:eu-north-1:${BACKUP}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
      pool: 'rds-snapshot@eu-north-1',
      hop: 2,
      hopSourceId: COPY,
      hopSourceRegion: 'eu-west-1',
    };
    const item = itemOf(hop);

    expect(item.derived).toBe('ARIta');
    expect(item.sourceArn).toBe(`arn:aws:rds:eu-west-1:${BACKUP}:snapshot:${COPY}`);
    expect(recordOf(item)).toEqual(hop);
  });

  it('stores what differs from its derivation as it is: a copy ARN of another account than its key, an id that is not the key', () => {
    const odd: InventoryRecord = {
      ...available,
      sourceId: 'bunker-share-other',
      targetArn: `arn:aws:rds:eu-west-1:333333333333:snapshot:${COPY}`,
    };
    const item = itemOf(odd);

    expect(item.derived).toBe('ARt');
    expect(item.sourceId).toBe('bunker-share-other');
    expect(item.sourceArn).toBe(`arn:aws:rds:eu-central-1:${SOURCE}:snapshot:${SHARED}`);
    expect(item.targetArn).toBe(`arn:aws:rds:eu-west-1:333333333333:snapshot:${COPY}`);
    expect(recordOf(item)).toEqual(odd);
  });

  it("derives no field of a rejection, whose key names no artifact: only its newest change's reason", () => {
    const rejected = newRecord(
      { artifactId: 'rejected:0123456789abcdef', kind: 'unknown', status: 'rejected', reason: 'message is not JSON' },
      new Date(AT),
    );
    const item = itemOf(rejected);

    expect(item).toEqual({
      artifactId: 'rejected:0123456789abcdef',
      kind: 'unknown',
      status: 'rejected',
      reason: 'message is not JSON',
      copyAttempts: 0,
      failures: 0,
      version: 1,
      createdAt: AT,
      updatedAt: AT,
      history: [{ status: 'rejected', at: AT }],
      derived: 'h',
    });
    expect(recordOf(item)).toEqual(rejected);
  });

  it('reads an item written whole, before this encoding, as it was', () => {
    expect(recordOf({ ...available, queue: 'followup:rds-snapshot@eu-west-1', queueKey: AT })).toEqual(available);
  });

  it('refuses an item that says it derives a field it has nothing to derive it from', () => {
    const item = itemOf(available);
    delete item.kmsKeyArn;

    expect(() => recordOf(item)).toThrow(
      `inventory item rds-snapshot:${SOURCE}:eu-central-1:${SHARED} cannot derive its targetArn`,
    );
  });
});

describe("an item's billed size", () => {
  it('counts names and values in UTF-8, numbers by their digits, lists and maps with their overhead', () => {
    // artifactId 10 + 2; version 7 + 2 (two digits: 1 byte, plus 1); history 7 + 3 + (1 + 3 + status 6 + x 1 + 1);
    // ok 2 + 1; "é" 2 bytes under a 1-byte name.
    expect(itemBytes({ artifactId: 'ab', version: 12, history: [{ status: 'x' }], ok: true, n: 'é' })).toBe(
      12 + 9 + 22 + 3 + 3,
    );
  });

  it('bills one write unit per KB begun', () => {
    expect(writeUnitsOf({ artifactId: 'a'.repeat(1014) })).toBe(1);
    expect(writeUnitsOf({ artifactId: 'a'.repeat(1015) })).toBe(2);
    expect(writeUnitsOf({ artifactId: 'a'.repeat(2038) })).toBe(2);
    expect(writeUnitsOf({ artifactId: 'a'.repeat(2039) })).toBe(3);
  });
});
