import { describe, expect, it } from 'vitest';
import { handleCopyEvent, sweepCopies } from '../../lambdas/core/pipeline/completion';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { BACKUP, COPY_MS, delivered, notificationV2, REGION, SOURCE, vaultFixture } from './support/memory-fixtures';

/** The snapshot most tests copy, and what Bunker calls it (written out, not derived). */
const ID = 'bunker-share-orders';
const ARTIFACT = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders';
const TARGET = 'bunker-222222222222-orders-aec5fb205d';
const POOL = 'rds-snapshot@eu-west-1';

const arnOf = (id: string) => `arn:aws:rds:${REGION}:${SOURCE}:snapshot:${id}`;
const artifactOf = (id: string) => `rds-snapshot:${SOURCE}:${REGION}:${id}`;

/** The EventBridge detail-type and detail of an RDS DB snapshot event about `sourceIdentifier`. */
const RDS_EVENT = 'RDS DB Snapshot Event';
const copyFinished = (sourceIdentifier: string, eventId = 'RDS-EVENT-0197') => ({
  EventID: eventId,
  SourceIdentifier: sourceIdentifier,
});

/** The tags a Bunker copy of {@link ID} carries. */
const BUNKER_TAGS = {
  'bunker:managed-by': 'bunker',
  'bunker:kind': 'rds-snapshot',
  'bunker:source-account': SOURCE,
  'bunker:source-region': REGION,
  'bunker:source-id': ID,
};

describe('handleCopyEvent', () => {
  it('settles the record of a Bunker copy that finished', async () => {
    const v = vaultFixture();
    const copy = await v.announce(ID);
    v.clock.advance(COPY_MS);

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps);

    expect(copy.targetId).toBe(TARGET);
    expect(outcome).toEqual({ outcome: 'settled', artifactId: ARTIFACT, step: 'available' });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'available',
      completedAt: '2026-03-01T04:40:00.000Z',
      targetArn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${TARGET}`,
      kmsKeyArn: v.backupKeyArn,
    });
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });

  it('settles a copy AWS failed as failed, whatever event announced it', async () => {
    const v = vaultFixture({ world: { copyOutcome: () => 'failed' } });
    await v.announce(ID);
    v.clock.advance(COPY_MS);

    // An event saying the copy finished is only a hint: the copy is re-read.
    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps);

    expect(outcome).toEqual({ outcome: 'settled', artifactId: ARTIFACT, step: 'failed' });
    expect(v.inventory.peek(ARTIFACT)).toMatchObject({
      status: 'failed',
      reason: `AWS reports the copy ${TARGET} as failed; retry 2 of 3 after a backoff`,
    });
  });

  it('leaves a copy still in progress copying', async () => {
    const v = vaultFixture();
    await v.announce(ID);

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps);

    expect(outcome).toEqual({ outcome: 'settled', artifactId: ARTIFACT, step: 'in-progress' });
    expect(v.inventory.peek(ARTIFACT)?.status).toBe('copying');
  });

  it.each([
    { name: 'an event of another detail-type', detailType: 'RDS DB Instance Event', detail: copyFinished(TARGET) },
    {
      name: 'an RDS snapshot event that is not about a copy',
      detailType: RDS_EVENT,
      detail: copyFinished(TARGET, 'RDS-EVENT-0091'),
    },
    { name: 'an RDS snapshot event naming no snapshot', detailType: RDS_EVENT, detail: { EventID: 'RDS-EVENT-0197' } },
  ])('ignores $name without a single port call', async ({ detailType, detail }) => {
    const v = vaultFixture();
    await v.announce(ID);
    v.clock.advance(COPY_MS);
    const callsBefore = v.monitor.calls;

    const outcome = await handleCopyEvent(detailType, detail, v.deps);

    expect(outcome).toEqual({ outcome: 'ignored', reason: `not a copy event of any kind (${detailType})` });
    expect(v.monitor.calls).toBe(callsBefore);
    expect(v.inventory.peek(ARTIFACT)?.status).toBe('copying');
  });

  it('ignores an event about a snapshot Bunker did not make', async () => {
    const v = vaultFixture();
    v.backupSnapshot('nightly-export');

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished('nightly-export'), v.deps);

    expect(outcome).toEqual({ outcome: 'ignored', reason: 'nightly-export carries no Bunker source tags' });
    expect(v.inventory.records()).toEqual([]);
  });

  it('ignores an event about a snapshot that does not exist', async () => {
    const v = vaultFixture();

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished('bunker-gone-0123456789'), v.deps);

    expect(outcome).toEqual({ outcome: 'ignored', reason: 'bunker-gone-0123456789 does not exist' });
  });

  it.each([
    { name: 'without the managed-by tag', tags: { ...BUNKER_TAGS, 'bunker:managed-by': 'someone-else' } },
    { name: 'without the source id', tags: { ...BUNKER_TAGS, 'bunker:source-id': '' } },
    { name: 'of an unknown kind', tags: { ...BUNKER_TAGS, 'bunker:kind': 'dynamodb-backup' } },
    { name: "of another kind than the event's", tags: { ...BUNKER_TAGS, 'bunker:kind': 'ebs-snapshot' } },
  ])('ignores a Bunker-named copy tagged $name', async ({ tags }) => {
    const v = vaultFixture();
    v.backupSnapshot('bunker-by-hand', tags);

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished('bunker-by-hand'), v.deps);

    expect(outcome).toEqual({ outcome: 'ignored', reason: 'bunker-by-hand carries no Bunker source tags' });
  });

  it('ignores a tagged copy that has no inventory record', async () => {
    const v = vaultFixture();
    v.shared(ID);
    v.backupSnapshot(TARGET, BUNKER_TAGS);

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps);

    expect(outcome).toEqual({ outcome: 'ignored', reason: `no inventory record for ${TARGET}` });
    expect(v.inventory.records()).toEqual([]);
  });

  it('ignores a repeated event once the record is settled', async () => {
    const v = vaultFixture();
    await v.announce(ID);
    v.clock.advance(COPY_MS);
    await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps);
    const settled = v.inventory.peek(ARTIFACT);

    const outcome = await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps);

    expect(outcome).toEqual({ outcome: 'ignored', reason: 'record is already available' });
    expect(v.inventory.peek(ARTIFACT)).toEqual(settled);
  });

  it('settles one copy once when its event is delivered twice at the same time', async () => {
    const v = vaultFixture();
    await v.announce(ID);
    v.clock.advance(COPY_MS);

    const outcomes = await Promise.all([
      handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps),
      handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps),
    ]);

    expect(outcomes.filter((o) => o.outcome === 'settled' && o.step === 'available')).toHaveLength(1);
    expect(v.inventory.peek(ARTIFACT)?.history.filter((change) => change.status === 'available')).toHaveLength(1);
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });
});

describe('sweepCopies', () => {
  it('settles copies whose completion events were lost', async () => {
    const v = vaultFixture({ oneDatabaseEach: true });
    await v.announce('bunker-share-first');
    await v.announce('bunker-share-second');
    v.clock.advance(COPY_MS);

    const summary = await sweepCopies(v.deps);

    expect(summary).toEqual({
      checked: 2,
      available: 2,
      failed: 0,
      stillCopying: 0,
      started: 0,
      waiting: 0,
      receiptsResent: 0,
      takenIn: 0,
    });
    expect(v.inventory.peek(artifactOf('bunker-share-first'))?.status).toBe('available');
    expect(v.inventory.peek(artifactOf('bunker-share-second'))?.status).toBe('available');
    expect(await v.inventory.copiesInProgress(POOL)).toBe(0);
  });

  it('marks a copy AWS failed as failed, with the reason', async () => {
    const v = vaultFixture({
      oneDatabaseEach: true,
      world: { copyOutcome: (copy) => (copy.sourceArn.endsWith('broken') ? 'failed' : 'available') },
    });
    const broken = await v.announce('bunker-share-broken');
    await v.announce('bunker-share-fine');
    v.clock.advance(COPY_MS);

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ checked: 2, available: 1, failed: 1 });
    expect(v.inventory.peek(artifactOf('bunker-share-broken'))).toMatchObject({
      status: 'failed',
      failures: 1,
      reason: `AWS reports the copy ${broken.targetId} as failed; retry 2 of 3 after a backoff`,
      nextAttemptAt: '2026-03-01T05:10:00.000Z',
    });
    expect(v.inventory.peek(artifactOf('bunker-share-fine'))?.status).toBe('available');
  });

  it('starts waiting records oldest first, and no more than the free slots of the pool', async () => {
    const v = vaultFixture({ maxCopies: 3, oneDatabaseEach: true });
    await v.announce('bunker-share-running');
    const arns = ['a', 'b', 'c', 'd'].map((name) => v.shared(`bunker-share-${name}`).arn);
    // Stored out of order: the sweep must sort, not rely on the table's order.
    v.inventory.put(v.waitingSince(arns[2], '2026-03-01T04:03:00.000Z'));
    v.inventory.put(v.waitingSince(arns[0], '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(arns[3], '2026-03-01T04:04:00.000Z'));
    v.inventory.put(v.waitingSince(arns[1], '2026-03-01T04:02:00.000Z'));

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ checked: 1, stillCopying: 1, started: 2, waiting: 2 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([
      arnOf('bunker-share-running'),
      arnOf('bunker-share-a'),
      arnOf('bunker-share-b'),
    ]);
    expect(v.world.copiesInProgress(BACKUP, REGION)).toBe(3);
    expect(await v.inventory.copiesInProgress(POOL)).toBe(3);
    expect(['c', 'd'].map((name) => v.inventory.peek(artifactOf(`bunker-share-${name}`))?.status)).toEqual([
      'expected',
      'expected',
    ]);
  });

  it('starts a failed copy due for a retry and a waiting one in the order they have waited', async () => {
    const v = vaultFixture({ maxCopies: 1 });
    const waitingArn = v.shared('bunker-share-waiting').arn;
    const failedArn = v.shared('bunker-share-retried').arn;
    v.inventory.put(v.waitingSince(waitingArn, '2026-03-01T04:20:00.000Z'));
    v.inventory.put({
      ...v.waitingSince(failedArn, '2026-03-01T04:10:00.000Z'),
      status: 'failed',
      reason: 'AWS reports the copy as failed; retry 2 of 3 after a backoff',
      failures: 1,
      nextAttemptAt: '2026-03-01T04:29:00.000Z',
    });

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ started: 1, waiting: 1 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([failedArn]);
    expect(v.inventory.peek(artifactOf('bunker-share-retried'))).toMatchObject({
      status: 'copying',
      targetName: 'bunker-222222222222-retried-6fb26597bf',
    });
    expect(v.inventory.peek(artifactOf('bunker-share-waiting'))?.status).toBe('expected');
  });

  it('leaves alone a failed copy whose backoff is not over, and records that are rejected or available', async () => {
    const v = vaultFixture();
    const failedArn = v.shared('bunker-share-retried').arn;
    await handleDelivery(delivered(notificationV2('bunker-share-missing')), v.deps);
    const done = await v.announce(ID);
    v.clock.advance(COPY_MS);
    // Recorded before any sweep, which would otherwise take the shared snapshot in as never announced.
    // The clock reads 04:40:00.000: the backoff ends a millisecond later.
    v.inventory.put({
      ...v.waitingSince(failedArn, '2026-03-01T04:10:00.000Z'),
      status: 'failed',
      failures: 1,
      nextAttemptAt: '2026-03-01T04:40:00.001Z',
    });
    await sweepCopies(v.deps);
    const before = v.inventory.records();

    const summary = await sweepCopies(v.deps);

    expect(summary).toEqual({
      checked: 0,
      available: 0,
      failed: 0,
      stillCopying: 0,
      started: 0,
      waiting: 0,
      receiptsResent: 0,
      takenIn: 0,
    });
    expect(v.inventory.records()).toEqual(before);
    expect(v.world.copies.map((c) => c.targetId)).toEqual([done.targetId]);
  });

  it('keeps settling the other copies when one of them throws', async () => {
    const v = vaultFixture({ oneDatabaseEach: true });
    const unlucky = await v.announce('bunker-share-unlucky');
    const lucky = await v.announce('bunker-share-lucky');
    v.clock.advance(COPY_MS);
    v.monitor.fail({ port: 'backup-store', method: 'describe', subject: unlucky.targetId });

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ checked: 2, available: 1, stillCopying: 1 });
    expect(v.inventory.peek(unlucky.artifactId)?.status).toBe('copying');
    expect(v.inventory.peek(lucky.artifactId)?.status).toBe('available');
  });

  it('keeps starting the other waiting records when one of them throws', async () => {
    const v = vaultFixture({ oneDatabaseEach: true });
    const unlucky = v.shared('bunker-share-unlucky').arn;
    const lucky = v.shared('bunker-share-lucky').arn;
    v.inventory.put(v.waitingSince(unlucky, '2026-03-01T04:01:00.000Z'));
    v.inventory.put(v.waitingSince(lucky, '2026-03-01T04:02:00.000Z'));
    v.monitor.fail({ port: 'backup-store', method: 'copyShared', subject: 'bunker-222222222222-unlucky-50f0b28a65' });

    const summary = await sweepCopies(v.deps);

    expect(summary).toMatchObject({ started: 1, waiting: 1 });
    expect(v.world.copies.map((c) => c.sourceArn)).toEqual([lucky]);
    expect(v.inventory.peek(artifactOf('bunker-share-lucky'))?.status).toBe('copying');
  });

  it('tags every copy it starts so completion can find the record from the copy alone', async () => {
    const v = vaultFixture();
    const arn = v.shared(ID).arn;
    v.inventory.put(v.waitingSince(arn, '2026-03-01T04:01:00.000Z'));

    await sweepCopies(v.deps);

    expect(v.world.snapshot(BACKUP, REGION, TARGET)?.tags).toEqual({
      ...BUNKER_TAGS,
      'bunker:source-resource': 'orders-db',
      'bunker:copy-name': TARGET,
    });
    v.clock.advance(COPY_MS);
    expect(await handleCopyEvent(RDS_EVENT, copyFinished(TARGET), v.deps)).toEqual({
      outcome: 'settled',
      artifactId: ARTIFACT,
      step: 'available',
    });
  });
});
