/**
 * The optional second Region: each first copy is copied again, by the
 * vault, into a second Region of the backup account under that Region's
 * backup-data key, and tracked as a record of its own.
 */
import { describe, expect, it } from 'vitest';
import { sweepCopies } from '../../lambdas/core/pipeline/completion';
import { COPY_MS, vaultFixture } from './support/memory-fixtures';

const ID = 'bunker-share-orders';
const FIRST = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders';
const SECOND = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders@us-east-1';

describe('a second hop into another Region of the backup account', () => {
  it('copies the first copy into the second Region under that Region’s key, once, as its own record', async () => {
    const v = vaultFixture({ secondRegion: 'us-east-1' });
    const secondKey = v.world.createKey('111111111111', 'us-east-1', 'bunker-backup-data');
    await v.announce(ID);
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps);
    const started = v.inventory.peek(SECOND);
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps);
    await sweepCopies(v.deps);

    expect(started).toMatchObject({
      status: 'copying',
      hop: 2,
      targetRegion: 'us-east-1',
      pool: 'rds-snapshot@us-east-1',
      hopSourceId: 'bunker-222222222222-orders-aec5fb205d',
      hopSourceRegion: 'eu-west-1',
    });
    // Each finished by the write that did the last thing it was owed: the first by its second hop's.
    expect(v.inventory.peek(SECOND)).toMatchObject({
      status: 'available',
      kmsKeyArn: secondKey,
      finishedAt: '2026-03-01T04:50:00.000Z',
    });
    expect(v.inventory.peek(FIRST)).toMatchObject({
      status: 'available',
      secondHopAt: '2026-03-01T04:40:00.000Z',
      finishedAt: '2026-03-01T04:40:00.000Z',
    });
    expect(await v.inventory.awaitingFollowUp('rds-snapshot@eu-west-1')).toEqual([]);
    expect(await v.inventory.awaitingFollowUp('rds-snapshot@us-east-1')).toEqual([]);
    // Read from the world, not the inventory: one copy in each Region, each under its Region's key.
    const second = v.world.snapshots('111111111111', 'us-east-1');
    expect(second.map((s) => [s.id, s.kmsKeyId])).toEqual([['bunker-222222222222-orders-aec5fb205d', secondKey]]);
    expect(v.backupCopies().map((s) => s.kmsKeyId)).toEqual([v.backupKeyArn]);
    // The source agent hears once: its intermediate was copied by the first hop.
    expect(v.receipts.sent.map((r) => r.id)).toEqual([ID]);
    expect(v.inventory.records().filter((r) => r.status !== 'rejected')).toHaveLength(2);
  });

  it('records the second hop from the sweep when the first copy’s worker stopped before it could', async () => {
    const v = vaultFixture({ secondRegion: 'us-east-1' });
    await v.announce(ID);
    v.clock.advance(COPY_MS);
    // The second hop's record cannot be written: neither when the first copy settles nor by this sweep's backstop.
    v.monitor.fail({ port: 'inventory', method: 'create' }, { times: 2 });
    await sweepCopies(v.deps).catch(() => undefined);
    const lost = v.inventory.peek(SECOND);

    await sweepCopies(v.deps);

    expect(lost).toBeUndefined();
    expect(v.inventory.peek(SECOND)?.status).toBe('copying');
  });

  it('makes no second hop without the setting', async () => {
    const v = vaultFixture();
    await v.announce(ID);
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps);
    await sweepCopies(v.deps);

    expect(v.inventory.peek(SECOND)).toBeUndefined();
    expect(v.inventory.peek(FIRST)?.secondHopAt).toBeUndefined();
  });
});
