import { describe, expect, it } from 'vitest';
import { backupSnapshotId, rdsArtifactId } from '../../lambdas/core/names';
import { handleCopyEvent, sweepCopies } from '../../lambdas/core/rds-completion';
import {
  copyTags,
  TAG_MANAGED_BY,
  TAG_SOURCE_ACCOUNT,
  TAG_SOURCE_REGION,
  TAG_SOURCE_SNAPSHOT,
} from '../../lambdas/core/rds-copy';
import { BACKUP, COPY_MS, REGION, SOURCE, vaultFixture } from './support/memory-fixtures';

describe('handleCopyEvent', () => {
  it('settles the record of a Bunker copy that finished', async () => {
    const v = vaultFixture();
    const copy = await v.announce('bunker-share-orders');
    v.clock.advance(COPY_MS);

    const outcome = await handleCopyEvent(copy.targetId, v.deps);

    expect(outcome).toEqual({
      outcome: 'settled',
      artifactId: copy.artifactId,
      step: 'available',
    });
    expect(v.inventory.peek(copy.artifactId)).toMatchObject({
      status: 'available',
      completedAt: v.clock.now().toISOString(),
    });
  });

  it('leaves a copy still in progress copying', async () => {
    const v = vaultFixture();
    const copy = await v.announce('bunker-share-orders');

    const outcome = await handleCopyEvent(copy.targetId, v.deps);

    expect(outcome).toEqual({
      outcome: 'settled',
      artifactId: copy.artifactId,
      step: 'in-progress',
    });
    expect(v.inventory.peek(copy.artifactId)?.status).toBe('copying');
  });

  it('ignores an event about a snapshot Bunker does not name', async () => {
    const v = vaultFixture();
    v.backupSnapshot('nightly-export');

    const outcome = await handleCopyEvent('nightly-export', v.deps);

    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: 'nightly-export is not a Bunker copy',
    });
    expect(v.monitor.calls).toBe(0);
  });

  it('ignores an event about a Bunker-named snapshot that does not exist', async () => {
    const v = vaultFixture();

    const outcome = await handleCopyEvent('bunker-gone-0123456789', v.deps);

    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: 'bunker-gone-0123456789 does not exist',
    });
  });

  it('ignores a Bunker-named copy that carries no Bunker source tags', async () => {
    const v = vaultFixture();
    v.backupSnapshot('bunker-by-hand', { [TAG_SOURCE_ACCOUNT]: SOURCE, [TAG_SOURCE_REGION]: REGION });

    const outcome = await handleCopyEvent('bunker-by-hand', v.deps);

    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: 'bunker-by-hand carries no Bunker source tags',
    });
  });

  it('ignores a tagged copy that has no inventory record', async () => {
    const v = vaultFixture();
    const source = v.shared('bunker-share-orders');
    const targetId = backupSnapshotId(source.arn);
    v.backupSnapshot(targetId, {
      [TAG_MANAGED_BY]: 'bunker',
      [TAG_SOURCE_ACCOUNT]: SOURCE,
      [TAG_SOURCE_REGION]: REGION,
      [TAG_SOURCE_SNAPSHOT]: 'bunker-share-orders',
    });

    const outcome = await handleCopyEvent(targetId, v.deps);

    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: `no inventory record for ${targetId}`,
    });
    expect(v.inventory.records()).toEqual([]);
  });

  it('ignores a repeated event once the record is settled', async () => {
    const v = vaultFixture();
    const copy = await v.announce('bunker-share-orders');
    v.clock.advance(COPY_MS);
    await handleCopyEvent(copy.targetId, v.deps);
    const settled = v.inventory.peek(copy.artifactId);

    const outcome = await handleCopyEvent(copy.targetId, v.deps);

    expect(outcome).toEqual({
      outcome: 'ignored',
      reason: 'record is already available',
    });
    expect(v.inventory.peek(copy.artifactId)).toEqual(settled);
  });
});

describe('sweepCopies', () => {
  it('settles copies whose completion events were lost', async () => {
    const v = vaultFixture();
    const first = await v.announce('bunker-share-first');
    const second = await v.announce('bunker-share-second');
    v.clock.advance(COPY_MS);

    const summary = await sweepCopies(v.deps);

    expect(summary).toEqual({
      checked: 2,
      available: 2,
      failed: 0,
      stillCopying: 0,
      started: 0,
      waiting: 0,
    });
    expect(v.inventory.peek(first.artifactId)?.status).toBe('available');
    expect(v.inventory.peek(second.artifactId)?.status).toBe('available');
  });

  it('marks a copy RDS failed as failed, with the reason', async () => {
    const v = vaultFixture({
      world: {
        copyOutcome: (copy) => (copy.targetId.includes('broken') ? 'failed' : 'available'),
      },
    });
    const broken = await v.announce('bunker-share-broken');
    const fine = await v.announce('bunker-share-fine');
    v.clock.advance(COPY_MS);

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ checked: 2, available: 1, failed: 1 });
    expect(v.inventory.peek(broken.artifactId)).toMatchObject({
      status: 'failed',
      reason: `RDS reports the copy ${broken.targetId} as failed`,
    });
    expect(v.inventory.peek(fine.artifactId)?.status).toBe('available');
  });

  it('starts waiting records oldest first, and no more than the free capacity', async () => {
    const v = vaultFixture({ maxCopies: 3 });
    const running = await v.announce('bunker-share-running');
    const arns = ['a', 'b', 'c', 'd'].map((name) => v.shared(`bunker-share-${name}`).arn);
    // Stored out of order: the sweep must sort, not rely on the table's order.
    v.inventory.put(v.waitingSince(arns[2], '2026-03-01T04:03:00.000Z'));
    v.inventory.put(v.waitingSince(arns[0], '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(arns[3], '2026-03-01T04:04:00.000Z'));
    v.inventory.put(v.waitingSince(arns[1], '2026-03-01T04:02:00.000Z'));

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ checked: 1, stillCopying: 1, started: 2 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([running.arn, arns[0], arns[1]]);
    expect(v.world.copiesInProgress(BACKUP, REGION)).toBe(3);
    expect([arns[2], arns[3]].map((arn) => v.inventory.peek(rdsArtifactId(arn))?.status)).toEqual([
      'expected',
      'expected',
    ]);
  });

  it('keeps settling the other copies when one of them throws', async () => {
    const v = vaultFixture();
    const unlucky = await v.announce('bunker-share-unlucky');
    const lucky = await v.announce('bunker-share-lucky');
    v.clock.advance(COPY_MS);
    v.monitor.fail({
      port: 'backup-store',
      method: 'describe',
      subject: unlucky.targetId,
    });

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({
      checked: 2,
      available: 1,
      stillCopying: 1,
    });
    expect(v.inventory.peek(unlucky.artifactId)?.status).toBe('copying');
    expect(v.inventory.peek(lucky.artifactId)?.status).toBe('available');
  });

  it('keeps starting the other waiting records when one of them throws', async () => {
    const v = vaultFixture();
    const unlucky = v.shared('bunker-share-unlucky').arn;
    const lucky = v.shared('bunker-share-lucky').arn;
    v.inventory.put(v.waitingSince(unlucky, '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(lucky, '2026-03-01T04:02:00.000Z'));
    v.monitor.fail({
      port: 'backup-store',
      method: 'copyShared',
      subject: backupSnapshotId(unlucky),
    });

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ started: 1, waiting: 1 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([lucky]);
    expect(v.inventory.peek(rdsArtifactId(lucky))?.status).toBe('copying');
  });

  it('tags every copy it starts so completion can find the record from the copy alone', async () => {
    const v = vaultFixture();
    const arn = v.shared('bunker-share-orders').arn;
    const waiting = v.waitingSince(arn, '2026-03-01T04:01:00.000Z');
    v.inventory.put(waiting);

    await sweepCopies(v.deps);

    expect(v.world.snapshot(BACKUP, REGION, backupSnapshotId(arn))?.tags).toEqual(copyTags(waiting));
  });
});
