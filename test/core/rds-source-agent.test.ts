import { describe, expect, it } from 'vitest';
import { intermediateSnapshotId } from '../../lambdas/core/names';
import { parseDelivery, parseNotification } from '../../lambdas/core/notification';
import type { Receipt } from '../../lambdas/core/receipts';
import {
  type AgentStep,
  processSnapshot,
  sweepSource,
  TAG_INTERMEDIATE,
  TAG_INTERMEDIATE_OF,
  TAG_NOTIFIED_AT,
  recordReceipt,
} from '../../lambdas/core/rds-source-agent';
import type { ScopeSetting } from '../../lambdas/core/settings';
import {
  agentFixture,
  BACKUP,
  BY_TAG,
  COPY_MS,
  IN_SCOPE,
  OTHER,
  OUT_OF_SCOPE,
  REGION,
  SECOND_REGION,
  SOURCE,
  T0,
} from './support/memory-fixtures';

const HOUR = 3_600_000;

/** The vault's receipt for intermediate `id` of {@link SOURCE} in {@link REGION}. */
const receiptFor = (id: string, at: Date): Receipt => ({
  version: 1,
  kind: 'rds-snapshot',
  account: SOURCE,
  region: REGION,
  id,
  copiedAt: at.toISOString(),
});

describe('processSnapshot: scope', () => {
  const ROWS: ReadonlyArray<{
    readonly name: string;
    readonly scope: ScopeSetting;
    /** `undefined`: the instance no longer exists. */
    readonly instanceTags: Record<string, string> | undefined;
    readonly snapshotTags: Record<string, string>;
    readonly inScope: boolean;
  }> = [
    {
      name: 'an instance with the scope tag',
      scope: BY_TAG,
      instanceTags: IN_SCOPE,
      snapshotTags: {},
      inScope: true,
    },
    {
      name: 'an instance with another tag value',
      scope: BY_TAG,
      instanceTags: OUT_OF_SCOPE,
      snapshotTags: {},
      inScope: false,
    },
    {
      name: "an untagged instance, whatever the snapshot's tags",
      scope: BY_TAG,
      instanceTags: {},
      snapshotTags: IN_SCOPE,
      inScope: false,
    },
    {
      name: 'a deleted instance whose snapshot has the tag',
      scope: BY_TAG,
      instanceTags: undefined,
      snapshotTags: IN_SCOPE,
      inScope: true,
    },
    {
      name: 'a deleted instance whose snapshot lacks the tag',
      scope: BY_TAG,
      instanceTags: undefined,
      snapshotTags: OUT_OF_SCOPE,
      inScope: false,
    },
    {
      name: 'an instance listed by id',
      scope: { ids: ['orders-db'] },
      instanceTags: {},
      snapshotTags: {},
      inScope: true,
    },
    {
      name: 'an instance not listed by id, even with the tag',
      scope: { ids: ['billing-db'] },
      instanceTags: IN_SCOPE,
      snapshotTags: IN_SCOPE,
      inScope: false,
    },
  ];

  it.each(ROWS)('treats $name as in scope: $inScope', async (row) => {
    const a = agentFixture({ scope: row.scope });
    if (row.instanceTags) a.world.addInstance(SOURCE, REGION, 'orders-db', row.instanceTags);
    a.snapshot('orders-manual-1', 'orders-db', { tags: row.snapshotTags });

    const step = await processSnapshot('orders-manual-1', a.deps);

    expect(step).toBe(row.inScope ? 'rekeying' : 'out-of-scope');
    expect(a.world.copies).toHaveLength(row.inScope ? 1 : 0);
    expect(a.publisher.published).toEqual([]);
  });
});

describe('processSnapshot: the scope tag its intermediate carries for the vault', () => {
  const ROWS: ReadonlyArray<{
    readonly name: string;
    readonly scope: ScopeSetting;
    readonly instanceTags: Record<string, string> | undefined;
    readonly snapshotTags: Record<string, string>;
    readonly carried: Record<string, string>;
  }> = [
    {
      name: "the instance's scope tag, under the agent's own keys, never the snapshot's tag of that key",
      scope: BY_TAG,
      instanceTags: IN_SCOPE,
      snapshotTags: OUT_OF_SCOPE,
      carried: { 'bunker:scope-key': 'backup', 'bunker:scope-value': 'daily' },
    },
    {
      name: "nothing for a deleted instance judged on the snapshot's own tags",
      scope: BY_TAG,
      instanceTags: undefined,
      snapshotTags: IN_SCOPE,
      carried: {},
    },
    {
      name: 'nothing for a scope by ids',
      scope: { ids: ['orders-db'] },
      instanceTags: IN_SCOPE,
      snapshotTags: {},
      carried: {},
    },
  ];

  it.each(ROWS)('carries $name', async (row) => {
    const a = agentFixture({ scope: row.scope });
    if (row.instanceTags) a.world.addInstance(SOURCE, REGION, 'orders-db', row.instanceTags);
    a.snapshot('orders-manual-1', 'orders-db', { tags: row.snapshotTags });

    expect(await processSnapshot('orders-manual-1', a.deps)).toBe('rekeying');

    expect(a.intermediateOf('orders-manual-1')?.tags).toEqual({
      'bunker:intermediate': 'true',
      'bunker:source-snapshot': 'orders-manual-1',
      'bunker:source-db': 'orders-db',
      'bunker:source-created-at': '2026-03-01T04:30:00.000Z',
      ...row.carried,
    });
  });

  it('keeps the scope tag for an original deferred on the copy quota, and writes it when the copy starts', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-1');
    a.snapshot('orders-2');
    a.world.setCopyQuota(SOURCE, REGION, 1);

    const steps = [await processSnapshot('orders-1', a.deps), await processSnapshot('orders-2', a.deps)];
    // The instance is retagged after orders-2 was judged: the copy carries what it was judged on.
    a.world.addInstance(SOURCE, REGION, 'orders-db', OUT_OF_SCOPE);
    a.clock.advance(COPY_MS);
    await processSnapshot(intermediateSnapshotId('orders-1'), a.deps);

    expect(steps).toEqual(['rekeying', 'waiting-for-quota']);
    expect(a.intermediateOf('orders-2')?.tags).toMatchObject({
      'bunker:scope-key': 'backup',
      'bunker:scope-value': 'daily',
    });
  });
});

describe('processSnapshot: share and announce', () => {
  it.each([
    {
      kind: 'an automated snapshot',
      id: 'rds:orders-db-2026-03-01-04-10',
      extra: { type: 'automated' },
    },
    {
      kind: 'a manual snapshot under the default key',
      id: 'orders-manual-1',
      extra: {},
    },
    {
      kind: 'an unencrypted manual snapshot',
      id: 'orders-plain-1',
      extra: { encrypted: false },
    },
  ] as const)(
    'copies $kind under the share key, shares the copy with the backup account only and announces it once',
    async ({ id, extra }) => {
      const a = agentFixture();
      a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
      const original = a.snapshot(id, 'orders-db', extra);
      const intermediateId = intermediateSnapshotId(id);

      const first = await processSnapshot(id, a.deps);
      a.clock.advance(COPY_MS);
      const finished = await processSnapshot(intermediateId, a.deps);
      const repeated = await processSnapshot(intermediateId, a.deps);
      const originalAgain = await processSnapshot(id, a.deps);

      expect([first, finished, repeated, originalAgain]).toEqual([
        'rekeying',
        'notified',
        'already-notified',
        'already-notified',
      ]);
      expect(a.world.copies).toEqual([
        expect.objectContaining({
          sourceArn: original.arn,
          targetId: intermediateId,
          kmsKeyArn: a.shareKeyArn,
        }),
      ]);
      const intermediate = a.intermediateOf(id);
      expect(intermediate).toMatchObject({
        kmsKeyId: a.shareKeyArn,
        tags: expect.objectContaining({
          [TAG_INTERMEDIATE]: 'true',
          [TAG_INTERMEDIATE_OF]: id,
          [TAG_NOTIFIED_AT]: expect.any(String),
        }),
      });
      expect(a.world.sharedWithOf(SOURCE, REGION, intermediateId)).toEqual([BACKUP]);
      expect(a.world.sharedWithOf(SOURCE, REGION, id)).toEqual([]);
      expect(a.publisher.published).toHaveLength(1);
      const delivery = parseDelivery(a.publisher.peekBodies()[0]);
      expect(delivery).toMatchObject({ ok: true, topicArn: `arn:aws:sns:${REGION}:${BACKUP}:bunker-intake-${SOURCE}` });
      const message = delivery.ok ? delivery.message : '';
      expect(JSON.parse(message)).toEqual({
        version: 2,
        kind: 'rds-snapshot',
        sourceAccount: SOURCE,
        sourceRegion: REGION,
        id: intermediate?.id,
        publishedAt: a.clock.now().toISOString(),
      });
      expect(parseNotification(message).ok).toBe(true);
    },
  );

  it('announces nothing while the intermediate is being copied, then announces it when the copy finishes', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');
    const intermediateId = intermediateSnapshotId('orders-manual-1');

    const steps: AgentStep[] = [];
    steps.push(await processSnapshot('orders-manual-1', a.deps));
    steps.push(await processSnapshot(intermediateId, a.deps));
    steps.push(await processSnapshot('orders-manual-1', a.deps));
    const publishedWhileCopying = a.publisher.published.length;
    a.clock.advance(COPY_MS);
    steps.push(await processSnapshot(intermediateId, a.deps));

    expect(steps).toEqual(['rekeying', 'pending', 'rekeying', 'notified']);
    expect(publishedWhileCopying).toBe(0);
    expect(a.world.copies).toHaveLength(1);
    expect(a.publisher.published).toHaveLength(1);
  });

  it('waits for a production snapshot that is still being created', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1', 'orders-db', { readyInMs: COPY_MS });

    const step = await processSnapshot('orders-manual-1', a.deps);

    expect(step).toBe('pending');
    expect(a.world.copies).toEqual([]);
  });

  it('answers gone for a snapshot deleted before its event arrived', async () => {
    const a = agentFixture();

    expect(await processSnapshot('orders-manual-1', a.deps)).toBe('gone');
  });

  it('waits without deleting or copying when the intermediate snapshot limit is reached', async () => {
    const a = agentFixture({ maxIntermediates: 2 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    for (const id of ['orders-1', 'orders-2', 'orders-3']) a.snapshot(id);
    await a.announce('orders-1');
    await a.announce('orders-2');

    const step = await processSnapshot('orders-3', a.deps);
    const sweep = await sweepSource(a.deps);

    expect(step).toBe('waiting-for-room');
    expect(sweep.steps['waiting-for-room']).toBe(1);
    expect(sweep.deleted).toBe(0);
    expect(a.world.deletions).toEqual([]);
    expect(a.world.copies).toHaveLength(2);
    expect(a.intermediateOf('orders-3')).toBeUndefined();
  });

  it('waits, without throwing, when the RDS copy quota is reached, and the sweep copies it once there is room', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');
    a.world.setCopyQuota(SOURCE, REGION, 0);

    const step = await processSnapshot('orders-manual-1', a.deps);
    const blocked = await sweepSource(a.deps);
    a.world.setCopyQuota(SOURCE, REGION, 20);
    const freed = await sweepSource(a.deps);

    expect(step).toBe('waiting-for-quota');
    expect(blocked.steps).toEqual({ 'waiting-for-quota': 1 });
    expect(freed.steps).toEqual({ rekeying: 1 });
    expect(a.world.copies).toHaveLength(1);
  });
});

describe('sweepSource', () => {
  it('handles the snapshots whose events were missed, and announces each only once', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.world.addInstance(SOURCE, REGION, 'scratch-db', OUT_OF_SCOPE);
    a.snapshot('rds:orders-db-2026-03-01-04-10', 'orders-db', {
      type: 'automated',
    });
    a.snapshot('orders-manual-1');
    a.snapshot('scratch-manual-1', 'scratch-db');

    const first = await sweepSource(a.deps);
    a.clock.advance(COPY_MS);
    const second = await sweepSource(a.deps);
    const third = await sweepSource(a.deps);

    expect(first.steps).toEqual({ rekeying: 2, 'out-of-scope': 1 });
    expect(second.steps).toEqual({ notified: 2, 'out-of-scope': 1 });
    expect(third.steps).toEqual({ 'already-notified': 2, 'out-of-scope': 1 });
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined)).sort()).toEqual(
      [a.intermediateOf('rds:orders-db-2026-03-01-04-10')?.id, a.intermediateOf('orders-manual-1')?.id].sort(),
    );
    expect(a.world.copies.map((c) => c.targetId)).not.toContain(intermediateSnapshotId('scratch-manual-1'));
  });

  it("deletes an intermediate only once the vault's receipt says it holds the copy, never production's own", async () => {
    const a = agentFixture({ retentionHours: 24 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-old');
    await a.announce('orders-old');
    expect(await recordReceipt(receiptFor(intermediateSnapshotId('orders-old'), a.clock.now()), a.deps)).toBe(
      'recorded',
    );
    // Production's own, as old as the expired intermediate; one even carries Bunker's prefix.
    a.snapshot('rds:orders-db-2026-03-01-04-10', 'orders-db', {
      type: 'automated',
      createdAt: new Date(T0),
    });
    a.snapshot('bunker-share-made-by-hand', 'orders-db', {
      createdAt: new Date(T0),
    });
    // Announced before the old one's retention ends: an event after it would delete the old one itself.
    a.snapshot('orders-new');
    await a.announce('orders-new');
    a.clock.advance(25 * HOUR);
    const before = a.world.snapshots(SOURCE, REGION).map((s) => s.id);

    const sweep = await sweepSource(a.deps);

    expect(sweep).toMatchObject({ deleted: 1, expiredUncopied: 0 });
    expect(a.world.deletions.map((d) => d.snapshotId)).toEqual([intermediateSnapshotId('orders-old')]);
    // Everything else is still there (the sweep may have added intermediates of older originals).
    const after = a.world.snapshots(SOURCE, REGION).map((s) => s.id);
    expect(before.filter((id) => !after.includes(id))).toEqual([intermediateSnapshotId('orders-old')]);
    expect(a.intermediateOf('orders-new')).toBeDefined();
  });

  it('keeps an expired intermediate that was never announced, and announces it', async () => {
    const a = agentFixture({ retentionHours: 24 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');
    await processSnapshot('orders-manual-1', a.deps);
    // Publishing fails for a whole retention window (say, a broken topic policy), then recovers.
    a.monitor.fail({ port: 'publisher', method: 'publish' }, { times: 24 });
    for (let hour = 1; hour <= 24; hour += 1) {
      a.clock.advance(HOUR);
      await sweepSource(a.deps);
    }
    a.clock.advance(HOUR);

    const sweep = await sweepSource(a.deps);

    expect(a.world.deletions).toEqual([]);
    expect(sweep.deleted).toBe(0);
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined))).toEqual([
      a.intermediateOf('orders-manual-1')?.id,
    ]);
  });

  it('keeps announcing when deleting a copied intermediate fails', async () => {
    const a = agentFixture({ retentionHours: 24 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-old');
    await a.announce('orders-old');
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-old'), a.clock.now()), a.deps);
    a.clock.advance(25 * HOUR);
    a.snapshot('orders-new');
    await processSnapshot('orders-new', a.deps);
    a.clock.advance(COPY_MS);
    a.monitor.fail({ port: 'source-rds', method: 'deleteSnapshot' });

    const sweep = sweepSource(a.deps);

    await expect(sweep).resolves.toMatchObject({ steps: { notified: 1 } });
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined))).toContain(
      a.intermediateOf('orders-new')?.id,
    );
  });

  it('never makes a second intermediate of an original once the vault holds its copy and the intermediate is gone', async () => {
    const a = agentFixture({ retentionHours: 1 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');
    await a.announce('orders-manual-1');
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-manual-1'), a.clock.now()), a.deps);
    a.clock.advance(2 * HOUR);

    const deleting = await sweepSource(a.deps);
    a.clock.advance(HOUR);
    const after = await sweepSource(a.deps);
    const event = await processSnapshot('orders-manual-1', a.deps);

    expect(deleting.deleted).toBe(1);
    expect(after.steps).toEqual({});
    expect(event).toBe('already-notified');
    expect(a.world.copies).toHaveLength(1);
    expect(a.publisher.published).toHaveLength(1);
    expect(a.world.snapshot(SOURCE, REGION, 'orders-manual-1')?.tags['bunker:backed-up-at']).toBe(
      '2026-03-01T04:40:00.000Z',
    );
  });

  it('keeps an intermediate with no receipt until the hard horizon, then deletes it and says so loudly', async () => {
    const errors: string[] = [];
    const a = agentFixture({ retentionHours: 1, horizonHours: 48 });
    const deps = { ...a.deps, log: { info() {}, warn() {}, error: (message: string) => errors.push(message) } };
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');
    await a.announce('orders-manual-1');
    a.clock.advance(47 * HOUR);

    const before = await sweepSource(deps);
    a.clock.advance(2 * HOUR);
    const after = await sweepSource(deps);

    expect(before).toMatchObject({ deleted: 0, expiredUncopied: 0 });
    expect(after).toMatchObject({ deleted: 0, expiredUncopied: 1 });
    expect(a.world.deletions.map((d) => d.snapshotId)).toEqual([intermediateSnapshotId('orders-manual-1')]);
    expect(errors).toEqual(['intermediate deleted past the hard horizon with no receipt from the vault']);
  });

  it('counts and logs an in-scope snapshot that aged past the horizon uncopied, never an out-of-scope or backed-up one', async () => {
    const errors: string[] = [];
    const a = agentFixture({ maxIntermediates: 1, horizonHours: 48 });
    const deps = { ...a.deps, log: { info() {}, warn() {}, error: (message: string) => errors.push(message) } };
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.world.addInstance(SOURCE, REGION, 'scratch-db', OUT_OF_SCOPE);
    a.snapshot('orders-first');
    a.snapshot('orders-waiting');
    a.snapshot('scratch-old', 'scratch-db');
    await sweepSource(deps);
    a.clock.advance(COPY_MS);
    await sweepSource(deps);
    // The cap stays full (no receipt: the vault never copies) until the horizon passes.
    a.clock.advance(49 * HOUR);

    const sweep = await sweepSource(deps);

    expect(sweep.agedOutUncopied).toBe(1);
    expect(errors).toEqual([
      'intermediate deleted past the hard horizon with no receipt from the vault',
      'an in-scope snapshot is older than the horizon and was never copied to the vault',
    ]);
  });

  it('picks up a production snapshot that waited on the cap for longer than a day, within the horizon', async () => {
    const a = agentFixture({ maxIntermediates: 1, retentionHours: 1, horizonHours: 24 * 14 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-first');
    a.snapshot('orders-second');
    await sweepSource(a.deps);
    a.clock.advance(COPY_MS);
    await sweepSource(a.deps);
    // Three days pass with the cap full: the vault is slow to copy.
    a.clock.advance(72 * HOUR);
    const waiting = await sweepSource(a.deps);
    await recordReceipt(receiptFor(intermediateSnapshotId('orders-first'), a.clock.now()), a.deps);
    a.clock.advance(2 * HOUR);
    await sweepSource(a.deps);
    a.clock.advance(COPY_MS);
    await sweepSource(a.deps);

    expect(waiting.steps['waiting-for-room']).toBe(1);
    expect(a.publisher.published.map((n) => ('id' in n ? n.id : undefined))).toEqual([
      intermediateSnapshotId('orders-first'),
      intermediateSnapshotId('orders-second'),
    ]);
  });

  it.each([
    { name: "a production snapshot, never the agent's to delete", id: 'orders-manual-1', step: 'not-an-intermediate' },
    { name: 'a snapshot that is gone', id: 'bunker-share-gone-0123456789', step: 'gone' },
  ])('marks nothing for a receipt naming $name', async ({ id, step }) => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');

    expect(await recordReceipt(receiptFor(id, a.clock.now()), a.deps)).toBe(step);
    expect(a.world.snapshot(SOURCE, REGION, 'orders-manual-1')?.tags['bunker:copied-at']).toBeUndefined();
  });

  it("ignores a receipt for another account's or Region's snapshot", async () => {
    const a = agentFixture();

    expect(await recordReceipt({ ...receiptFor('x', a.clock.now()), account: OTHER }, a.deps)).toBe('not-handled');
    expect(await recordReceipt({ ...receiptFor('x', a.clock.now()), region: SECOND_REGION }, a.deps)).toBe(
      'not-handled',
    );
  });

  it('announces again after a crash between publishing and tagging, never zero times', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('orders-manual-1');
    await processSnapshot('orders-manual-1', a.deps);
    a.clock.advance(COPY_MS);
    a.monitor.fail({ port: 'source-rds', method: 'tag' });

    const crashed = processSnapshot(intermediateSnapshotId('orders-manual-1'), a.deps);
    await expect(crashed).rejects.toThrow(/simulated fault before source-rds.tag/);
    const sweep = await sweepSource(a.deps);

    expect(sweep.steps).toEqual({ notified: 1 });
    expect(a.publisher.published).toHaveLength(2);
    expect(a.intermediateOf('orders-manual-1')?.tags[TAG_NOTIFIED_AT]).toBeDefined();
  });
});

describe('processSnapshot: the backlog announced with an intermediate', () => {
  it('is left out when the container last counted ten minutes ago, and sent after a fresh count', async () => {
    const a = agentFixture({ maxIntermediates: 2 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    // Counted at 04:30: two intermediates fill the cap, two originals are held back.
    for (const id of ['orders-1', 'orders-2', 'orders-3', 'orders-4']) {
      a.snapshot(id, 'orders-db');
      await processSnapshot(id, a.deps);
    }
    a.clock.advance(COPY_MS);
    // 04:40: the first intermediate is ready, and the count is ten minutes old.
    await processSnapshot(intermediateSnapshotId('orders-1'), a.deps);
    // A new original's event counts again (and holds it back too); the second intermediate follows.
    a.snapshot('orders-5', 'orders-db');
    await processSnapshot('orders-5', a.deps);
    await processSnapshot(intermediateSnapshotId('orders-2'), a.deps);

    const announced = a.publisher.published.map((n) => ('id' in n ? [n.id, n.sourceBacklog] : []));
    expect(announced).toEqual([
      [intermediateSnapshotId('orders-1'), undefined],
      [intermediateSnapshotId('orders-2'), 3],
    ]);
  });
});

describe('sweepSource: remembered scope verdicts', () => {
  it('reuses an in-scope database’s tags for ten minutes from their read, and reads them afresh after, or after an out-of-scope verdict', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    const reads = () => a.monitor.byMethod.get('source-rds.instanceTags') ?? 0;
    const steps: AgentStep[] = [];
    const readsAfter: number[] = [];
    const event = async (id: string) => {
      a.snapshot(id, 'orders-db');
      steps.push(await processSnapshot(id, a.deps));
      readsAfter.push(reads());
    };

    await event('orders-1');
    a.clock.advance(9 * 60_000);
    // Nine minutes on: the tags read for orders-1 are reused, even though they changed since.
    a.world.addInstance(SOURCE, REGION, 'orders-db', OUT_OF_SCOPE);
    await event('orders-2');
    // Ten minutes from the read (not from the reuse): read again, and the change is seen.
    a.clock.advance(60_000);
    await event('orders-3');
    // Back in scope: an out-of-scope verdict left nothing to reuse, so the next event reads.
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    await event('orders-4');

    expect(readsAfter).toEqual([1, 1, 2, 3]);
    expect(steps).toEqual(['rekeying', 'rekeying', 'out-of-scope', 'rekeying']);
  });

  it('reads an out-of-scope database’s tags once per six hours, not at every hourly sweep, and an event still reads them afresh', async () => {
    const a = agentFixture();
    a.world.addInstance(SOURCE, REGION, 'analytics-db', OUT_OF_SCOPE);
    a.world.addInstance(SOURCE, REGION, 'reports-db', OUT_OF_SCOPE);
    for (const id of ['analytics-1', 'analytics-2', 'analytics-3']) a.snapshot(id, 'analytics-db');
    for (const id of ['reports-1', 'reports-2']) a.snapshot(id, 'reports-db');
    const reads = () => a.monitor.byMethod.get('source-rds.instanceTags') ?? 0;

    const perSweep: number[] = [];
    for (let hour = 0; hour < 7; hour += 1) {
      const before = reads();
      const sweep = await sweepSource(a.deps);
      expect(sweep.steps).toEqual({ 'out-of-scope': 5 });
      perSweep.push(reads() - before);
      a.clock.advance(3_600_000);
    }
    // Tagged into scope: the next snapshot's event reads the tags, whatever the sweep remembers.
    a.world.addInstance(SOURCE, REGION, 'analytics-db', IN_SCOPE);
    a.snapshot('analytics-4', 'analytics-db');
    const step = await processSnapshot('analytics-4', a.deps);

    // One read per database at the first sweep and again once six hours have passed; none in between.
    expect(perSweep).toEqual([2, 0, 0, 0, 0, 0, 2]);
    expect(step).toBe('rekeying');
  });
});
