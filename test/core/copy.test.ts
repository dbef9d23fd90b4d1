import { describe, expect, it } from 'vitest';
import { sweepCopies } from '../../lambdas/core/pipeline/completion';
import { quotaReason, retryBackoffMs } from '../../lambdas/core/pipeline/copy';
import { handleDelivery, type IntakeDeps } from '../../lambdas/core/pipeline/intake';
import type { ArtifactCopier, CopyRequest } from '../../lambdas/kinds/types';
import { Prng } from '../../sim/memory-aws';
import {
  BACKUP,
  COPY_MS,
  delivered,
  notificationV2,
  REGION,
  SECOND_REGION,
  SOURCE,
  type VaultFixture,
  vaultFixture,
} from './support/memory-fixtures';

/** The snapshot these tests copy, and what Bunker calls it and its copies (written out, not derived). */
const ID = 'bunker-share-orders';
const ARTIFACT = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders';
/** The copy's name in generations 0, 1 and 2 (after 0, 1 and 2 failed copies). */
const TARGET = 'bunker-222222222222-orders-aec5fb205d';
const TARGET_1 = 'bunker-222222222222-orders-fe7a1126a5';
const TARGET_2 = 'bunker-222222222222-orders-f87319fd68';
const POOL = 'rds-snapshot@eu-west-1';
const GRACE_MS = 10 * 60_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const artifactOf = (id: string, region = REGION) => `rds-snapshot:${SOURCE}:${region}:${id}`;
const arnOf = (id: string) => `arn:aws:rds:${REGION}:${SOURCE}:snapshot:${id}`;

/** The vault's dependencies with the RDS copier wrapped: every copy request is logged, and `lose` ones never reach RDS. */
function watchedCopies(v: VaultFixture, options: { lose?: boolean } = {}) {
  const real = v.deps.copiers['rds-snapshot'];
  const requests: string[] = [];
  const copier: ArtifactCopier = {
    ...real,
    copy: async (request: CopyRequest) => {
      requests.push(request.targetName);
      // An accepted request whose copy never shows up stands for a worker that died before AWS had it.
      return options.lose ? { outcome: 'started', targetId: request.targetName } : real.copy(request);
    },
  };
  const deps: IntakeDeps = { ...v.deps, copiers: { ...v.deps.copiers, 'rds-snapshot': copier } };
  return { deps, requests };
}

/** A shared snapshot under a key of the source the backup account may not use: RDS refuses every copy. */
function unusableSource(v: VaultFixture) {
  return v.world.addSnapshot(SOURCE, REGION, {
    id: ID,
    dbInstanceId: 'orders-db',
    kmsKeyId: v.world.createKey(SOURCE, REGION, 'production-only'),
    sharedWith: [BACKUP],
  });
}

describe('settleCopy: a claimed copy that does not appear', () => {
  it('is left alone for the 10-minute grace, requested again after it, and failed after 5 requests', async () => {
    const v = vaultFixture();
    v.shared(ID);
    const { deps, requests } = watchedCopies(v, { lose: true });

    const outcome = await handleDelivery(delivered(notificationV2(ID)), deps);
    v.clock.advance(GRACE_MS - 1);
    const withinGrace = await sweepCopies(deps);
    const requestsWithinGrace = requests.length;
    v.clock.advance(1);
    const afterGrace = await sweepCopies(deps);
    const secondRequest = v.inventory.peek(ARTIFACT);
    for (let i = 0; i < 3; i += 1) {
      v.clock.advance(GRACE_MS);
      await sweepCopies(deps);
    }
    const fifthRequest = v.inventory.peek(ARTIFACT);
    v.clock.advance(GRACE_MS - 1);
    await sweepCopies(deps);
    const stillCopying = v.inventory.peek(ARTIFACT)?.status;
    v.clock.advance(1);
    const final = await sweepCopies(deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'started' });
    expect(withinGrace).toMatchObject({ checked: 1, stillCopying: 1, started: 0 });
    expect(requestsWithinGrace).toBe(1);
    expect(afterGrace).toMatchObject({ checked: 1, started: 1 });
    expect(secondRequest).toMatchObject({
      status: 'copying',
      copyAttempts: 2,
      copyStartedAt: '2026-03-01T04:40:00.000Z',
    });
    expect(fifthRequest).toMatchObject({
      status: 'copying',
      copyAttempts: 5,
      copyStartedAt: '2026-03-01T05:10:00.000Z',
    });
    expect(stillCopying).toBe('copying');
    expect(final).toMatchObject({ checked: 1, failed: 1, started: 0 });
    expect(requests).toEqual([TARGET, TARGET, TARGET, TARGET, TARGET]);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'failed',
      failures: 1,
      reason: 'the copy was requested 5 times and never appeared; retry 2 of 3 after a backoff',
      nextAttemptAt: '2026-03-01T05:50:00.000Z',
    });
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });

  it('requests a claimed copy lost in a crash again after the grace period, even after the quota deferred it', async () => {
    const v = vaultFixture({ maxCopies: 5 });
    v.world.setCopyQuota(BACKUP, REGION, 1);
    v.shared('bunker-share-first');
    v.shared('bunker-share-second');
    await handleDelivery(delivered(notificationV2('bunker-share-first')), v.deps);
    await handleDelivery(delivered(notificationV2('bunker-share-second')), v.deps);
    // The sweep runs while the quota is still taken by the first copy: each run asks, RDS answers "not now".
    for (let i = 0; i < 4; i += 1) {
      v.clock.advance(MINUTE);
      await sweepCopies(v.deps);
    }
    const deferred = v.inventory.peek(artifactOf('bunker-share-second'));
    v.clock.advanceTo(new Date('2026-03-01T04:40:00.000Z'));
    // This time the sweep claims the second copy and dies before RDS hears of it.
    v.monitor.fail({ port: 'backup-store', method: 'copyShared' }, { phase: 'before' });
    await sweepCopies(v.deps);
    const lost = v.inventory.peek(artifactOf('bunker-share-second'));

    v.clock.advance(GRACE_MS);
    await sweepCopies(v.deps);

    expect(deferred).toMatchObject({ status: 'expected', failures: 0 });
    expect(lost).toMatchObject({ status: 'copying', copyStartedAt: '2026-03-01T04:40:00.000Z' });
    // Only one request was ever lost: the copy is requested again, not given up on.
    expect(v.inventory.peek(artifactOf('bunker-share-second'))).toMatchObject({ status: 'copying', failures: 0 });
    expect(v.world.copies.map((copy) => copy.sourceArn)).toEqual([
      arnOf('bunker-share-first'),
      arnOf('bunker-share-second'),
    ]);
  });
});

describe('refused and failed copies: backoff and retries', () => {
  it('backs off 30 minutes, then 2 hours, then 8', () => {
    expect([1, 2, 3].map(retryBackoffMs)).toEqual([1_800_000, 7_200_000, 28_800_000]);
  });

  it('fails a refused copy with a backoff, retries it only when the backoff is over, under the next generation name', async () => {
    const v = vaultFixture();
    unusableSource(v);
    const { deps, requests } = watchedCopies(v);

    const outcome = await handleDelivery(delivered(notificationV2(ID)), deps);
    const refused = v.inventory.peek(ARTIFACT);
    v.clock.advanceTo(new Date('2026-03-01T04:59:59.999Z'));
    const early = await sweepCopies(deps);
    const requestsBeforeBackoff = requests.length;
    // The source account fixes its key policy in the meantime.
    v.world.createKey(SOURCE, REGION, 'production-only', [BACKUP]);
    v.clock.advance(1);
    const due = await sweepCopies(deps);
    const retried = v.inventory.peek(ARTIFACT);
    v.clock.advance(COPY_MS);
    await sweepCopies(deps);

    expect(outcome).toMatchObject({ outcome: 'accepted', step: 'failed' });
    expect(refused).toMatchObject({
      status: 'failed',
      failures: 1,
      nextAttemptAt: '2026-03-01T05:00:00.000Z',
      reason: expect.stringMatching(/^RDS refused the copy: KMSKeyNotAccessible: .*; retry 2 of 3 after a backoff$/),
    });
    expect(early).toMatchObject({ started: 0, failed: 0 });
    expect(requestsBeforeBackoff).toBe(1);
    expect(due).toMatchObject({ started: 1 });
    expect(retried).toMatchObject({ status: 'copying', targetName: TARGET_1, failures: 1, copyAttempts: 2 });
    expect(requests).toEqual([TARGET, TARGET_1]);
    expect(v.world.copies).toEqual([expect.objectContaining({ targetId: TARGET_1 })]);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({ status: 'available', targetId: TARGET_1, failures: 1 });
  });

  it('gives up after 3 attempts and then stays failed, whatever the sweep or a redelivery does', async () => {
    const v = vaultFixture();
    unusableSource(v);
    const { deps, requests } = watchedCopies(v);
    const body = delivered(notificationV2(ID));

    await handleDelivery(body, deps);
    v.clock.advanceTo(new Date('2026-03-01T05:00:00.000Z'));
    await sweepCopies(deps);
    const second = v.inventory.peek(ARTIFACT);
    v.clock.advanceTo(new Date('2026-03-01T06:59:59.999Z'));
    await sweepCopies(deps);
    const requestsBeforeBackoff = requests.length;
    v.clock.advance(1);
    await sweepCopies(deps);
    const third = v.inventory.peek(ARTIFACT);
    v.clock.advance(7 * 24 * HOUR);
    const weekLater = await sweepCopies(deps);
    const redelivered = await handleDelivery(body, deps);

    expect(second).toMatchObject({
      status: 'failed',
      failures: 2,
      nextAttemptAt: '2026-03-01T07:00:00.000Z',
      reason: expect.stringMatching(/; retry 3 of 3 after a backoff$/),
    });
    expect(requestsBeforeBackoff).toBe(2);
    expect(third).toMatchObject({ status: 'failed', failures: 3 });
    expect(third?.reason).toMatch(/^RDS refused the copy: KMSKeyNotAccessible: .*; gave up after 3 attempts$/);
    expect(third?.nextAttemptAt).toBeUndefined();
    expect(weekLater).toMatchObject({ started: 0, failed: 0, waiting: 0 });
    expect(redelivered).toMatchObject({ outcome: 'accepted', step: 'unchanged' });
    expect(requests).toEqual([TARGET, TARGET_1, TARGET_2]);
    expect(v.inventory.peek(ARTIFACT)).toEqual(third);
  });

  it('retries a copy AWS failed under a new name, leaving the failed copy where it is', async () => {
    const v = vaultFixture({ world: { copyOutcome: (copy) => (copy.targetId === TARGET ? 'failed' : 'available') } });
    v.shared(ID);

    await handleDelivery(delivered(notificationV2(ID)), v.deps);
    v.clock.advance(COPY_MS);
    const settled = await sweepCopies(v.deps);
    const failed = v.inventory.peek(ARTIFACT);
    v.clock.advanceTo(new Date('2026-03-01T05:10:00.000Z'));
    const retried = await sweepCopies(v.deps);
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps);

    expect(settled).toMatchObject({ checked: 1, failed: 1, started: 0 });
    expect(failed).toMatchObject({
      status: 'failed',
      failures: 1,
      reason: `AWS reports the copy ${TARGET} as failed; retry 2 of 3 after a backoff`,
      nextAttemptAt: '2026-03-01T05:10:00.000Z',
    });
    expect(retried).toMatchObject({ started: 1 });
    expect(v.world.copies.map((copy) => copy.targetId)).toEqual([TARGET, TARGET_1]);
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'available',
      targetId: TARGET_1,
      targetArn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${TARGET_1}`,
    });
  });
});

describe('settleCopy: the key a copy is under, compared by whole ARN', () => {
  const keyIdOf = (arn: string) => arn.split('/')[1];
  const WRONG_KEYS: readonly { readonly name: string; readonly key: (backup: string, share: string) => string }[] = [
    {
      name: "the backup key's id in another account",
      key: (b) => `arn:aws:kms:eu-west-1:999999999999:key/${keyIdOf(b)}`,
    },
    {
      name: "the backup key's id in another Region",
      key: (b) => `arn:aws:kms:eu-central-1:111111111111:key/${keyIdOf(b)}`,
    },
    {
      name: "the backup key's id in another partition",
      key: (b) => `arn:aws-us-gov:kms:eu-west-1:111111111111:key/${keyIdOf(b)}`,
    },
    { name: "the backup key's bare id", key: (b) => keyIdOf(b) },
    {
      name: "an alias of the backup key's name",
      key: () => 'arn:aws:kms:eu-west-1:111111111111:alias/bunker-backup-data',
    },
    { name: "the source's share key", key: (_b, share) => share },
  ];

  it.each(WRONG_KEYS)('fails a copy under $name, naming the key', async ({ key }) => {
    let wrongKey = '';
    const v = vaultFixture({ world: { copyKmsKey: () => wrongKey } });
    wrongKey = key(v.backupKeyArn, v.shareKeyArn);
    v.shared(ID);
    await handleDelivery(delivered(notificationV2(ID)), v.deps);
    v.clock.advance(COPY_MS);

    const summary = await sweepCopies(v.deps);

    expect(wrongKey).not.toBe(v.backupKeyArn);
    expect(summary).toMatchObject({ checked: 1, failed: 1, available: 0 });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'failed',
      failures: 1,
      reason: `copy ${TARGET} is encrypted with ${wrongKey}, not the backup-data key; retry 2 of 3 after a backoff`,
    });
    expect(v.inventory.peek(ARTIFACT)?.kmsKeyArn).toBeUndefined();
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });

  it('accepts a copy under exactly the backup key', async () => {
    let key = '';
    const v = vaultFixture({ world: { copyKmsKey: () => key } });
    key = v.backupKeyArn;
    v.shared(ID);
    await handleDelivery(delivered(notificationV2(ID)), v.deps);
    v.clock.advance(COPY_MS);

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ checked: 1, available: 1, failed: 0 });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({ status: 'available', kmsKeyArn: v.backupKeyArn });
  });
});

describe('pools: copy slots per kind and destination Region', () => {
  it('counts the slots of RDS DB snapshot copies into eu-west-1 in pool rds-snapshot@eu-west-1, whatever the source Region', async () => {
    const v = vaultFixture();
    v.shared(ID);
    v.shared(ID, { region: SECOND_REGION });

    await handleDelivery(delivered(notificationV2(ID)), v.deps);
    await handleDelivery(delivered(notificationV2(ID, { sourceRegion: SECOND_REGION })), v.deps);
    const whileCopying = [
      await v.inventory.copiesInProgress('rds-snapshot@eu-west-1'),
      await v.inventory.copiesInProgress('rds-snapshot@eu-central-1'),
      await v.inventory.copiesInProgress('eu-west-1'),
    ];
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps);

    expect(whileCopying).toEqual([2, 0, 0]);
    expect(v.inventory.peek(artifactOf(ID, SECOND_REGION))?.pool).toBe('rds-snapshot@eu-west-1');
    expect(await v.inventory.copiesInProgress('rds-snapshot@eu-west-1')).toBe(0);
  });

  it('never exceeds the pool limit with four times the limit announced at once, and copies each artifact exactly once', async () => {
    const limit = 3;
    const v = vaultFixture({ maxCopies: limit, oneDatabaseEach: true });
    const prng = new Prng(20260301);
    // Interleave the concurrent invocations at their port calls, as Lambdas running side by side would.
    v.monitor.scheduler = () => prng.int(4);
    const ids = Array.from({ length: 4 * limit }, (_, i) => `bunker-share-db${String(i).padStart(2, '0')}`);
    for (const id of ids) v.shared(id);

    const outcomes = await Promise.all(ids.map((id) => handleDelivery(delivered(notificationV2(id)), v.deps)));
    const slotsSeen = [await v.inventory.copiesInProgress(POOL)];
    for (let round = 0; round < 8; round += 1) {
      v.clock.advance(COPY_MS);
      // Two sweeps at once: a scheduled run overlapping a slow one.
      await Promise.all([sweepCopies(v.deps), sweepCopies(v.deps)]);
      slotsSeen.push(await v.inventory.copiesInProgress(POOL));
    }

    expect(outcomes.map((o) => (o.outcome === 'accepted' ? o.step : o.outcome)).sort()).toEqual([
      ...Array(9).fill('deferred'),
      ...Array(3).fill('started'),
    ]);
    expect(Math.max(...slotsSeen)).toBe(3);
    expect(v.world.maxCopiesInProgress(BACKUP, REGION)).toBe(3);
    expect(v.world.copies.map((copy) => copy.sourceArn).sort()).toEqual(ids.map(arnOf));
    expect(v.backupCopies()).toHaveLength(12);
    expect(v.inventory.records().map((r) => r.status)).toEqual(Array(12).fill('available'));
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });
});

describe('quotaReason', () => {
  it('says a copy waits on the copy quota or throttling when AWS says too many copies are in progress', () => {
    expect(quotaReason('RDS DB snapshot', 'SnapshotQuotaExceeded: too many DB snapshot copies in progress')).toBe(
      'waiting on the RDS DB snapshot copy quota or throttling (SnapshotQuotaExceeded: too many DB snapshot copies in progress); the sweep retries',
    );
  });

  it('says a copy waits on the manual snapshot quota when the account holds too many snapshots', () => {
    expect(quotaReason('RDS DB snapshot', 'SnapshotQuotaExceeded: maximum number of manual snapshots reached')).toBe(
      'waiting on the manual snapshot quota of the backup account (SnapshotQuotaExceeded: maximum number of manual snapshots reached); copies resume when room frees',
    );
  });

  it("shows AWS's message escaped and cut", () => {
    const reason = quotaReason('RDS DB snapshot', `ThrottlingException\u001b[2J${'x'.repeat(400)}`);

    expect([...reason].filter((c) => c.charCodeAt(0) < 0x20)).toEqual([]);
    expect(reason).toContain('ThrottlingException\\u001b[2J');
    expect(reason.length).toBeLessThan(260);
  });
});
