import { describe, expect, it } from 'vitest';
import { CopyQuotaExceededError, RetryLaterError } from '../../lambdas/core/errors';
import { backupSnapshotId, rdsArtifactId, rdsSnapshotArn, rejectionId } from '../../lambdas/core/names';
import { handleCopyEvent, sweepCopies } from '../../lambdas/core/rds-completion';
import { handleRdsNotification } from '../../lambdas/core/rds-intake';
import { SimulatedFaultError } from '../../sim/memory-aws';
import {
  BACKUP,
  COPY_MS,
  notification,
  OTHER,
  REGION,
  SECOND_REGION,
  SOURCE,
  STRANGER,
  type VaultFixture,
  vaultFixture,
} from './support/memory-fixtures';

const arnOf = (id: string, account = SOURCE, region = REGION) => rdsSnapshotArn('aws', region, account, id);

interface RejectionCase {
  readonly name: string;
  /** Prepares the world and returns the message body. */
  readonly prepare: (v: VaultFixture) => string;
  readonly reason: RegExp;
}

const REJECTIONS: readonly RejectionCase[] = [
  {
    name: 'a body that is not JSON',
    prepare: () => '{"version": 1, ',
    reason: /not JSON/,
  },
  {
    name: 'a body over the size limit',
    prepare: () => notification(arnOf('bunker-share-orders'), { padding: 'x'.repeat(5000) }),
    reason: /too large/,
  },
  {
    name: 'a body with unknown fields',
    prepare: () => notification(arnOf('bunker-share-orders'), { restoreTo: 'anywhere' }),
    reason: /unknown keys restoreTo/,
  },
  {
    name: 'an unregistered account',
    prepare: (v) => {
      v.shared('bunker-share-orders', { account: STRANGER });
      return notification(arnOf('bunker-share-orders', STRANGER), {
        sourceAccount: STRANGER,
      });
    },
    reason: /account 444444444444 is not a registered source account/,
  },
  {
    name: 'a Region not registered for the account',
    prepare: (v) => {
      v.shared('bunker-share-orders', { region: 'us-east-1' });
      return notification(arnOf('bunker-share-orders', SOURCE, 'us-east-1'), {
        sourceRegion: 'us-east-1',
      });
    },
    reason: /Region us-east-1 is not registered for account 222222222222/,
  },
  {
    name: "the ARN of another registered account's snapshot",
    prepare: (v) => {
      v.shared('bunker-share-orders', { account: OTHER });
      return notification(arnOf('bunker-share-orders', OTHER));
    },
    reason: /belongs to account 333333333333, not to the sender 222222222222/,
  },
  {
    name: "an ARN in another Region than the message's",
    prepare: (v) => {
      v.shared('bunker-share-orders', { region: SECOND_REGION });
      return notification(arnOf('bunker-share-orders', SOURCE, SECOND_REGION));
    },
    reason: /snapshot ARN is in Region eu-central-1, not eu-west-1/,
  },
  {
    name: 'a snapshot that does not exist',
    prepare: () => notification(arnOf('bunker-share-missing')),
    reason: /snapshot bunker-share-missing does not exist in account 222222222222/,
  },
  {
    name: 'a snapshot not shared with anyone',
    prepare: (v) => {
      v.shared('bunker-share-orders', { sharedWith: [] });
      return notification(arnOf('bunker-share-orders'));
    },
    reason: /not shared with the backup account 111111111111/,
  },
  {
    name: 'a snapshot shared with another account only',
    prepare: (v) => {
      v.shared('bunker-share-orders', { sharedWith: [OTHER] });
      return notification(arnOf('bunker-share-orders'));
    },
    reason: /not shared with the backup account 111111111111/,
  },
];

describe('handleRdsNotification: rejections', () => {
  it.each(REJECTIONS)('rejects $name, records why under the message hash and copies nothing', async (row) => {
    const v = vaultFixture();
    const body = row.prepare(v);

    const outcome = await handleRdsNotification(body, v.deps);

    expect(outcome).toEqual({
      outcome: 'rejected',
      reason: expect.stringMatching(row.reason),
      recordId: rejectionId(body),
    });
    expect(v.inventory.records()).toEqual([
      expect.objectContaining({
        artifactId: rejectionId(body),
        status: 'rejected',
        reason: expect.stringMatching(row.reason),
      }),
    ]);
    expect(v.world.copies).toEqual([]);
    expect(v.backupCopies()).toEqual([]);
  });

  it('never overwrites the record of a real copy when a message about the same snapshot is rejected', async () => {
    const v = vaultFixture();
    const snapshot = v.shared('bunker-share-orders');
    await handleRdsNotification(notification(snapshot.arn), v.deps);
    v.clock.advance(COPY_MS);
    await handleCopyEvent(backupSnapshotId(snapshot.arn), v.deps);
    const before = v.inventory.peek(rdsArtifactId(snapshot.arn));
    // The same ARN, claimed by an account that does not own it.
    const hostile = notification(snapshot.arn, { sourceAccount: OTHER });

    const outcome = await handleRdsNotification(hostile, v.deps);

    expect(outcome.outcome).toBe('rejected');
    expect(before?.status).toBe('available');
    expect(v.inventory.peek(rdsArtifactId(snapshot.arn))).toEqual(before);
    expect(v.inventory.peek(rejectionId(hostile))).toMatchObject({
      status: 'rejected',
      sourceArn: snapshot.arn,
    });
    expect(v.backupCopies()).toHaveLength(1);
  });

  it('keeps one rejection record for a message delivered twice', async () => {
    const v = vaultFixture();
    const body = notification(arnOf('bunker-share-missing'));

    const first = await handleRdsNotification(body, v.deps);
    const second = await handleRdsNotification(body, v.deps);

    expect(second).toEqual(first);
    expect(v.inventory.records()).toHaveLength(1);
  });
});

describe('handleRdsNotification: copies', () => {
  it('copies a shared snapshot once, under the backup key, and records it copying then available', async () => {
    const v = vaultFixture();
    const snapshot = v.shared('bunker-share-orders');
    const artifactId = rdsArtifactId(snapshot.arn);
    const targetId = backupSnapshotId(snapshot.arn);

    const outcome = await handleRdsNotification(notification(snapshot.arn), v.deps);
    const whileCopying = v.inventory.peek(artifactId);
    v.clock.advance(COPY_MS);
    const completion = await handleCopyEvent(targetId, v.deps);

    expect(outcome).toEqual({
      outcome: 'accepted',
      artifactId,
      step: 'started',
    });
    expect(whileCopying).toMatchObject({
      status: 'copying',
      targetId,
      copyAttempts: 1,
      sourceResourceId: 'orders-db',
    });
    expect(completion).toEqual({
      outcome: 'settled',
      artifactId,
      step: 'available',
    });
    expect(v.world.copies).toEqual([
      expect.objectContaining({
        sourceArn: snapshot.arn,
        targetId,
        kmsKeyArn: v.backupKeyArn,
        crossAccount: true,
      }),
    ]);
    expect(v.inventory.peek(artifactId)).toMatchObject({
      status: 'available',
      kmsKeyId: v.backupKeyArn,
      targetArn: arnOf(targetId, BACKUP),
      history: [
        expect.objectContaining({ status: 'expected' }),
        expect.objectContaining({ status: 'copying' }),
        expect.objectContaining({ status: 'available' }),
      ],
    });
  });

  it('makes one copy and one record when the same snapshot is announced twice', async () => {
    const v = vaultFixture();
    const snapshot = v.shared('bunker-share-orders');

    await handleRdsNotification(notification(snapshot.arn), v.deps);
    // A re-publication (the agent crashed before tagging) has another publishedAt: another body.
    const again = await handleRdsNotification(
      notification(snapshot.arn, { publishedAt: '2026-03-01T05:25:00.000Z' }),
      v.deps,
    );
    v.clock.advance(COPY_MS);
    const late = await handleRdsNotification(notification(snapshot.arn), v.deps);

    expect(again).toMatchObject({ outcome: 'accepted', step: 'in-progress' });
    expect(late).toMatchObject({ outcome: 'accepted', step: 'available' });
    expect(v.world.copies).toHaveLength(1);
    expect(v.backupCopies()).toHaveLength(1);
    expect(v.inventory.records()).toEqual([expect.objectContaining({ status: 'available', copyAttempts: 1 })]);
  });

  it('asks for a retry, and records nothing, while the snapshot is still being created', async () => {
    const v = vaultFixture();
    const snapshot = v.world.addSnapshot(SOURCE, REGION, {
      id: 'bunker-share-orders',
      dbInstanceId: 'orders-db',
      kmsKeyId: v.shareKeyArn,
      sharedWith: [BACKUP],
      readyInMs: COPY_MS,
    });

    const attempt = handleRdsNotification(notification(snapshot.arn), v.deps);

    await expect(attempt).rejects.toBeInstanceOf(RetryLaterError);
    await expect(attempt).rejects.toThrow(/is creating, not yet available/);
    expect(v.inventory.records()).toEqual([]);
    expect(v.world.copies).toEqual([]);
  });

  it('keeps a notification waiting as expected when copy capacity is used up, and the sweep starts it later', async () => {
    const v = vaultFixture({ maxCopies: 1 });
    const first = v.shared('bunker-share-first');
    const second = v.shared('bunker-share-second');
    await handleRdsNotification(notification(first.arn), v.deps);

    const outcome = await handleRdsNotification(notification(second.arn), v.deps);
    const waiting = v.inventory.peek(rdsArtifactId(second.arn));
    const copiesWhileFull = v.world.copies.length;
    v.clock.advance(COPY_MS);
    const sweep = await sweepCopies(v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(waiting).toMatchObject({
      status: 'expected',
      reason: expect.stringMatching(/waiting for copy capacity/),
    });
    expect(copiesWhileFull).toBe(1);
    expect(sweep).toMatchObject({ available: 1, started: 1 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([first.arn, second.arn]);
    expect(v.inventory.peek(rdsArtifactId(second.arn))?.status).toBe('copying');
  });

  it('keeps a copy refused by the RDS quota as expected, never failed or dropped, and the sweep retries it', async () => {
    const v = vaultFixture();
    const snapshot = v.shared('bunker-share-orders');
    v.world.setCopyQuota(BACKUP, REGION, 0);

    const outcome = await handleRdsNotification(notification(snapshot.arn), v.deps);
    const waiting = v.inventory.peek(rdsArtifactId(snapshot.arn));
    v.world.setCopyQuota(BACKUP, REGION, 20);
    const sweep = await sweepCopies(v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(waiting).toMatchObject({
      status: 'expected',
      reason: expect.stringMatching(/quota/),
    });
    expect(sweep).toMatchObject({ started: 1 });
    expect(v.world.copies).toHaveLength(1);
    expect(v.inventory.peek(rdsArtifactId(snapshot.arn))).toMatchObject({
      status: 'copying',
      copyAttempts: 2,
    });
  });

  it('treats throttling like the quota: the record waits as expected', async () => {
    const v = vaultFixture();
    const snapshot = v.shared('bunker-share-orders');
    v.monitor.fail(
      { port: 'backup-store', method: 'copyShared' },
      {
        error: new CopyQuotaExceededError('ThrottlingException: Rate exceeded'),
      },
    );

    const outcome = await handleRdsNotification(notification(snapshot.arn), v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'deferred' });
    expect(v.inventory.peek(rdsArtifactId(snapshot.arn))).toMatchObject({
      status: 'expected',
      reason: expect.stringMatching(/Rate exceeded/),
    });
  });

  it('marks a copy RDS refuses for good as failed, with the reason', async () => {
    const v = vaultFixture();
    // Shared, but under a key the backup account may not use.
    const snapshot = v.world.addSnapshot(SOURCE, REGION, {
      id: 'bunker-share-orders',
      dbInstanceId: 'orders-db',
      kmsKeyId: v.world.createKey(SOURCE, REGION, 'production-only'),
      sharedWith: [BACKUP],
    });

    const outcome = await handleRdsNotification(notification(snapshot.arn), v.deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'failed' });
    expect(v.inventory.peek(rdsArtifactId(snapshot.arn))).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/RDS refused the copy: KMSKeyNotAccessible/),
    });
    expect(v.backupCopies()).toEqual([]);
  });

  it('ends with one available copy when it crashed after RDS started the copy and the message is redelivered', async () => {
    const v = vaultFixture();
    const snapshot = v.shared('bunker-share-orders');
    const body = notification(snapshot.arn);
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'after' });

    const crashed = handleRdsNotification(body, v.deps);
    await expect(crashed).rejects.toBeInstanceOf(SimulatedFaultError);
    const redelivered = await handleRdsNotification(body, v.deps);
    v.clock.advance(COPY_MS);
    await handleCopyEvent(backupSnapshotId(snapshot.arn), v.deps);

    expect(redelivered).toMatchObject({
      outcome: 'accepted',
      step: 'in-progress',
    });
    expect(v.world.copies).toHaveLength(1);
    expect(v.backupCopies()).toHaveLength(1);
    expect(v.inventory.peek(rdsArtifactId(snapshot.arn))?.status).toBe('available');
  });

  it.each([
    {
      by: 'the redelivered message',
      recover: (v: VaultFixture, body: string) => handleRdsNotification(body, v.deps),
    },
    { by: 'the sweep', recover: (v: VaultFixture) => sweepCopies(v.deps) },
  ])(
    'requests the copy once, through $by, when it crashed after the claim and before the request',
    async ({ recover }) => {
      const v = vaultFixture();
      const snapshot = v.shared('bunker-share-orders');
      const body = notification(snapshot.arn);
      v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });

      await expect(handleRdsNotification(body, v.deps)).rejects.toBeInstanceOf(SimulatedFaultError);
      const claimed = v.inventory.peek(rdsArtifactId(snapshot.arn));
      await recover(v, body);
      v.clock.advance(COPY_MS);
      await handleCopyEvent(backupSnapshotId(snapshot.arn), v.deps);

      expect(claimed?.status).toBe('copying');
      expect(v.world.copies).toHaveLength(1);
      expect(v.inventory.peek(rdsArtifactId(snapshot.arn))).toMatchObject({
        status: 'available',
        copyAttempts: 2,
      });
    },
  );

  it('marks a copy that ended up under another key than the backup key as failed, naming that key', async () => {
    let wrongKey = '';
    const v = vaultFixture({ world: { copyKmsKey: () => wrongKey } });
    // The classic bug: the copy keeps the source's key.
    wrongKey = v.shareKeyArn;
    const snapshot = v.shared('bunker-share-orders');
    await handleRdsNotification(notification(snapshot.arn), v.deps);
    v.clock.advance(COPY_MS);

    const completion = await handleCopyEvent(backupSnapshotId(snapshot.arn), v.deps);

    expect(completion).toMatchObject({ outcome: 'settled', step: 'failed' });
    expect(v.inventory.peek(rdsArtifactId(snapshot.arn))).toMatchObject({
      status: 'failed',
      reason: `copy ${backupSnapshotId(snapshot.arn)} is encrypted with ${wrongKey}, not the backup-data key`,
    });
  });

  it('never starts more copies than the capacity when two notifications are handled at the same time', async () => {
    // The intake Lambda handles a batch's records concurrently (BatchProcessor's default).
    const v = vaultFixture({ maxCopies: 1 });
    const first = v.shared('bunker-share-first');
    const second = v.shared('bunker-share-second');

    const outcomes = await Promise.all([
      handleRdsNotification(notification(first.arn), v.deps),
      handleRdsNotification(notification(second.arn), v.deps),
    ]);

    expect(outcomes.map((o) => (o.outcome === 'accepted' ? o.step : o.outcome)).sort()).toEqual([
      'deferred',
      'started',
    ]);
    expect(v.world.copiesInProgress(BACKUP, REGION)).toBe(1);
  });
});
