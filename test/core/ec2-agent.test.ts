/**
 * The EC2 source agent (EBS snapshots and AMIs) over the in-memory EC2
 * double (sim/memory-ec2.ts), whose behaviour the contract test
 * (test/emulator/source-ec2-contract.test.ts) holds to the SDK adapter's.
 */
import { describe, expect, it } from 'vitest';
import {
  carriedTags,
  type Ec2AgentDeps,
  intermediateEc2Name,
  processEbsSnapshot,
  processImage,
  recordEc2Receipt,
  sweepEc2Source,
} from '../../lambdas/core/agent/ec2-agent';
import type { Ec2Image, Ec2Snapshot } from '../../lambdas/core/agent/ec2-ports';
import { AgentMemory, TAG_BACKLOG } from '../../lambdas/core/agent/memory';
import { parseDelivery, parseNotification } from '../../lambdas/core/notification';
import type { Log } from '../../lambdas/core/ports';
import type { Receipt } from '../../lambdas/core/receipts';
import type { AgentStep } from '../../lambdas/core/rds-source-agent';
import type { ScopeSetting, SourceSettings } from '../../lambdas/core/settings';
import { ManualClock, MemoryPublisher, PortMonitor } from '../../sim/memory-aws';
import { type Ec2WorldOptions, MemoryEc2World, type NewEc2Snapshot, type NewVolume } from '../../sim/memory-ec2';
import {
  BACKUP,
  BY_TAG,
  IN_SCOPE,
  OTHER,
  OUT_OF_SCOPE,
  REGION,
  SECOND_REGION,
  SOURCE,
  T0,
  topicOf,
} from './support/memory-fixtures';

const HOUR = 3_600_000;
/** How long a CopySnapshot takes in the double here. */
const COPY_MS = 10 * 60_000;
/** How long a CopyImage takes in the double here. */
const IMAGE_COPY_MS = 20 * 60_000;
const AT_T0 = '2026-03-01T04:30:00.000Z';
const AFTER_COPY = '2026-03-01T04:40:00.000Z';
const AFTER_IMAGE_COPY = '2026-03-01T04:50:00.000Z';

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields?: Record<string, unknown>;
}

interface FixtureOptions {
  /** @default BY_TAG for both kinds */
  readonly scopes?: SourceSettings['scopes'];
  /** @default 10 */
  readonly maxIntermediates?: number;
  /** Kept this long after the vault's receipt. @default 24 */
  readonly retentionHours?: number;
  /** Kept this long with no receipt. @default 336 */
  readonly horizonHours?: number;
  readonly world?: Partial<Omit<Ec2WorldOptions, 'clock'>>;
}

/**
 * A source agent for EBS snapshots and AMIs in {@link SOURCE}/{@link REGION}
 * over a fresh EC2 double and publisher, its clock at {@link T0}, sharing
 * with {@link BACKUP}.
 */
function ec2Fixture(options: FixtureOptions = {}) {
  const clock = new ManualClock(T0);
  const world = new MemoryEc2World({ clock, snapshotCopyMs: COPY_MS, imageCopyMs: IMAGE_COPY_MS, ...options.world });
  const monitor = new PortMonitor();
  const publisher = new MemoryPublisher({ monitor });
  const shareKeyArn = world.createKey(SOURCE, REGION, 'bunker-share', [BACKUP]);
  const lines: LogLine[] = [];
  const log: Log = {
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
  };
  let scopes: SourceSettings['scopes'] = options.scopes ?? { 'ebs-snapshot': BY_TAG, ami: BY_TAG };
  const settings = (): SourceSettings => ({
    prefix: 'bunker',
    partition: 'aws',
    backupAccount: BACKUP,
    sourceAccount: SOURCE,
    sourceRegion: REGION,
    shareKeyArn,
    intakeTopicArn: topicOf(SOURCE),
    scopes,
    intermediateRetentionHours: options.retentionHours ?? 24,
    intermediateHorizonHours: options.horizonHours ?? 24 * 14,
    maxIntermediateSnapshots: options.maxIntermediates ?? 10,
    rpoHours: {},
  });
  const ec2 = world.sourceEc2(SOURCE, REGION);
  const topic = publisher.topic(topicOf(SOURCE));
  const volume = (tags: Record<string, string> = IN_SCOPE, extra: NewVolume = {}) =>
    world.addVolume(SOURCE, REGION, { tags, ...extra });
  return {
    clock,
    world,
    monitor,
    publisher,
    shareKeyArn,
    lines,
    get deps(): Ec2AgentDeps {
      return { settings: settings(), ec2, publisher: topic, clock, log };
    },
    setScopes(next: SourceSettings['scopes']) {
      scopes = next;
    },
    volume,
    /** A completed production snapshot of a new volume with `volumeTags`. */
    snapshot(volumeTags: Record<string, string> = IN_SCOPE, extra: Partial<NewEc2Snapshot> = {}) {
      return world.addSnapshot(SOURCE, REGION, { volumeId: volume(volumeTags), ...extra });
    },
    /**
     * `orders-server`, an available production image with `tags`, backed by
     * a root snapshot under the default `aws/ebs` key and an unencrypted data
     * snapshot, both of untagged volumes.
     */
    image(tags: Record<string, string> = { ...IN_SCOPE, Name: 'orders-server' }, createdAt?: Date) {
      const root = world.addSnapshot(SOURCE, REGION, { volumeId: volume({}) });
      const data = world.addSnapshot(SOURCE, REGION, { volumeId: volume({}, { encrypted: false, sizeGiB: 20 }) });
      return world.addImage(SOURCE, REGION, {
        name: 'orders-server',
        snapshotIds: [root.id, data.id],
        tags,
        ...(createdAt ? { createdAt } : {}),
      });
    },
    /** The agent's EBS intermediates of a production snapshot. */
    intermediatesOf(productionId: string): Ec2Snapshot[] {
      return world
        .snapshots(SOURCE, REGION)
        .filter((s) => s.tags['bunker:source-snapshot'] === productionId && !s.tags['bunker:source-image']);
    },
    intermediateImageOf(productionId: string): Ec2Image | undefined {
      return world.images(SOURCE, REGION).find((i) => i.tags['bunker:source-image'] === productionId);
    },
    publishedIds(): string[] {
      return publisher.published.map((n) => ('id' in n ? n.id : n.snapshotArn));
    },
  };
}

type Fixture = ReturnType<typeof ec2Fixture>;

/** The vault's receipt for intermediate `id` of {@link SOURCE} in {@link REGION}. */
const receiptFor = (kind: Receipt['kind'], id: string, at: Date): Receipt => ({
  version: 1,
  kind,
  account: SOURCE,
  region: REGION,
  id,
  copiedAt: at.toISOString(),
});

/** The production snapshot's two events: created (copied), then the copy finished (announced). */
async function announceSnapshot(a: Fixture, productionId: string): Promise<AgentStep> {
  await processEbsSnapshot(productionId, a.deps);
  a.clock.advance(COPY_MS);
  return processEbsSnapshot(a.intermediatesOf(productionId)[0]?.id ?? 'snap-00000000', a.deps);
}

async function announceImage(a: Fixture, productionId: string): Promise<AgentStep> {
  await processImage(productionId, a.deps);
  a.clock.advance(IMAGE_COPY_MS);
  return processImage(a.intermediateImageOf(productionId)?.id ?? 'ami-00000000', a.deps);
}

describe('processEbsSnapshot: scope', () => {
  const ROWS: ReadonlyArray<{
    readonly name: string;
    readonly scope: (ids: { volumeId: string; snapshotId: string }) => ScopeSetting | undefined;
    /** `undefined`: the volume was deleted after the snapshot was taken. */
    readonly volumeTags: Record<string, string> | undefined;
    readonly snapshotTags: Record<string, string>;
    readonly inScope: boolean;
  }> = [
    {
      name: 'a snapshot of a volume with the scope tag',
      scope: () => BY_TAG,
      volumeTags: IN_SCOPE,
      snapshotTags: {},
      inScope: true,
    },
    {
      name: 'a snapshot with the scope tag of an untagged volume',
      scope: () => BY_TAG,
      volumeTags: {},
      snapshotTags: IN_SCOPE,
      inScope: true,
    },
    {
      name: 'a snapshot of a volume with another tag value',
      scope: () => BY_TAG,
      volumeTags: OUT_OF_SCOPE,
      snapshotTags: {},
      inScope: false,
    },
    {
      name: "a snapshot whose own tag overrides its volume's, as the vault judges it",
      scope: () => BY_TAG,
      volumeTags: IN_SCOPE,
      snapshotTags: OUT_OF_SCOPE,
      inScope: false,
    },
    {
      name: 'a tagged snapshot of a deleted volume',
      scope: () => BY_TAG,
      volumeTags: undefined,
      snapshotTags: IN_SCOPE,
      inScope: true,
    },
    {
      name: 'an untagged snapshot of a deleted volume',
      scope: () => BY_TAG,
      volumeTags: undefined,
      snapshotTags: {},
      inScope: false,
    },
    {
      name: 'a snapshot of a volume listed by id',
      scope: ({ volumeId }) => ({ ids: [volumeId] }),
      volumeTags: {},
      snapshotTags: {},
      inScope: true,
    },
    {
      name: 'a snapshot listed by id',
      scope: ({ snapshotId }) => ({ ids: [snapshotId] }),
      volumeTags: {},
      snapshotTags: {},
      inScope: true,
    },
    {
      name: 'a snapshot whose volume and id are not listed, even with the tag',
      scope: () => ({ ids: ['vol-0aaaabbbbccccdddd', 'snap-0aaaabbbbccccdddd'] }),
      volumeTags: IN_SCOPE,
      snapshotTags: IN_SCOPE,
      inScope: false,
    },
    {
      name: 'any snapshot when EBS snapshots have no scope',
      scope: () => undefined,
      volumeTags: IN_SCOPE,
      snapshotTags: IN_SCOPE,
      inScope: false,
    },
  ];

  it.each(ROWS)('treats $name as in scope: $inScope', async (row) => {
    const a = ec2Fixture();
    const volumeId = a.volume(row.volumeTags ?? {});
    const snapshot = a.world.addSnapshot(SOURCE, REGION, { volumeId, tags: row.snapshotTags });
    if (row.volumeTags === undefined) a.world.removeVolume(SOURCE, REGION, volumeId);
    a.setScopes({ 'ebs-snapshot': row.scope({ volumeId, snapshotId: snapshot.id }) });

    const step = await processEbsSnapshot(snapshot.id, a.deps);

    expect(step).toBe(row.inScope ? 'rekeying' : 'out-of-scope');
    expect(a.world.copies).toHaveLength(row.inScope ? 1 : 0);
    expect(a.publisher.published).toEqual([]);
  });
});

describe('processEbsSnapshot: an in-scope volume’s tags reused', () => {
  it('reads a volume’s tags once for its snapshots within ten minutes of the read, and still applies each snapshot’s own tags', async () => {
    const a = ec2Fixture();
    const volumeId = a.volume(IN_SCOPE);
    const steps: AgentStep[] = [];
    const readsAfter: number[] = [];
    const event = async (tags: Record<string, string> = {}) => {
      const snapshot = a.world.addSnapshot(SOURCE, REGION, { volumeId, tags });
      steps.push(await processEbsSnapshot(snapshot.id, a.deps));
      readsAfter.push(a.world.calls.get('volumeTags') ?? 0);
    };

    await event();
    a.clock.advance(9 * 60_000);
    await event();
    // Ten minutes from the read: read again.
    a.clock.advance(60_000);
    await event();
    // Reused, and the snapshot's own tag still overrides the volume's.
    a.clock.advance(60_000);
    await event(OUT_OF_SCOPE);

    expect(readsAfter).toEqual([1, 1, 2, 2]);
    expect(steps).toEqual(['rekeying', 'rekeying', 'rekeying', 'out-of-scope']);
  });
});

describe('processEbsSnapshot: re-key, share and announce', () => {
  it.each([
    {
      kind: 'an automated snapshot (Data Lifecycle Manager) under the default aws/ebs key',
      volume: {},
      tags: { 'aws:dlm:lifecycle-policy-id': 'policy-0123456789abcdef0', team: 'payments' },
      carried: { team: 'payments' },
    },
    { kind: 'a manual snapshot under the default aws/ebs key', volume: {}, tags: {}, carried: {} },
    { kind: 'an unencrypted snapshot', volume: { encrypted: false }, tags: {}, carried: {} },
  ] as ReadonlyArray<{
    kind: string;
    volume: NewVolume;
    tags: Record<string, string>;
    carried: Record<string, string>;
  }>)(
    'copies $kind under the share key, shares the copy with the backup account only and announces it once',
    async ({ volume, tags, carried }) => {
      const a = ec2Fixture();
      const volumeId = a.volume(IN_SCOPE, volume);
      const production = a.world.addSnapshot(SOURCE, REGION, { volumeId, tags });

      const first = await processEbsSnapshot(production.id, a.deps);
      a.clock.advance(COPY_MS);
      const [copy] = a.intermediatesOf(production.id);
      const finished = await processEbsSnapshot(copy.id, a.deps);
      const repeated = await processEbsSnapshot(copy.id, a.deps);
      const originalAgain = await processEbsSnapshot(production.id, a.deps);

      expect([first, finished, repeated, originalAgain]).toEqual([
        'rekeying',
        'notified',
        'already-notified',
        'already-notified',
      ]);
      expect(a.world.copies).toEqual([
        {
          kind: 'snapshot',
          account: SOURCE,
          region: REGION,
          sourceId: production.id,
          kmsKeyArn: a.shareKeyArn,
          targetId: copy.id,
          at: new Date(AT_T0),
        },
      ]);
      expect(a.intermediatesOf(production.id)).toEqual([
        {
          id: copy.id,
          state: 'completed',
          encrypted: true,
          kmsKeyId: a.shareKeyArn,
          startTime: AT_T0,
          sizeGiB: 8,
          tags: {
            ...carried,
            backup: 'daily',
            'bunker:intermediate': 'true',
            'bunker:source-snapshot': production.id,
            'bunker:source-volume': volumeId,
            'bunker:source-created-at': AT_T0,
            'bunker:copy-name': `bunker-share-${production.id}`,
            // The scope it was judged in, for the vault: under the agent's own keys.
            'bunker:scope-key': 'backup',
            'bunker:scope-value': 'daily',
            'bunker:notified-at': AFTER_COPY,
          },
        },
      ]);
      expect(a.world.snapshotSharedWith(SOURCE, REGION, copy.id)).toEqual([BACKUP]);
      expect(a.world.snapshotSharedWith(SOURCE, REGION, production.id)).toEqual([]);
      expect(a.world.snapshot(SOURCE, REGION, production.id)?.tags).toEqual(tags);
      expect(a.publisher.published).toHaveLength(1);
      const delivery = parseDelivery(a.publisher.peekBodies()[0]);
      expect(delivery).toMatchObject({ ok: true, topicArn: `arn:aws:sns:eu-west-1:${BACKUP}:bunker-intake-${SOURCE}` });
      const message = delivery.ok ? delivery.message : '';
      expect(JSON.parse(message)).toEqual({
        version: 2,
        kind: 'ebs-snapshot',
        sourceAccount: SOURCE,
        sourceRegion: REGION,
        id: copy.id,
        publishedAt: AFTER_COPY,
      });
      expect(parseNotification(message).ok).toBe(true);
    },
  );

  it('announces nothing while the intermediate is being copied, then announces it when the copy completes', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();

    const steps: AgentStep[] = [];
    steps.push(await processEbsSnapshot(production.id, a.deps));
    const [copy] = a.intermediatesOf(production.id);
    steps.push(await processEbsSnapshot(copy.id, a.deps));
    steps.push(await processEbsSnapshot(production.id, a.deps));
    const publishedWhileCopying = a.publisher.published.length;
    a.clock.advance(COPY_MS);
    steps.push(await processEbsSnapshot(copy.id, a.deps));

    expect(steps).toEqual(['rekeying', 'pending', 'rekeying', 'notified']);
    expect(publishedWhileCopying).toBe(0);
    expect(a.world.copies).toHaveLength(1);
    expect(a.publishedIds()).toEqual([copy.id]);
  });

  it('makes one intermediate and one notification when every event arrives twice', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();

    await processEbsSnapshot(production.id, a.deps);
    await processEbsSnapshot(production.id, a.deps);
    a.clock.advance(COPY_MS);
    const [copy] = a.intermediatesOf(production.id);
    const steps = [await processEbsSnapshot(copy.id, a.deps), await processEbsSnapshot(copy.id, a.deps)];

    expect(steps).toEqual(['notified', 'already-notified']);
    expect(a.intermediatesOf(production.id).map((s) => s.id)).toEqual([copy.id]);
    expect(a.publishedIds()).toEqual([copy.id]);
  });

  it('announces only the canonical copy when two agents copy the same snapshot at once, and the sweep deletes the other', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();

    // Both look for the copy before either has made it: CopySnapshot has no idempotency token.
    const racing = await Promise.all([
      processEbsSnapshot(production.id, a.deps),
      processEbsSnapshot(production.id, a.deps),
    ]);
    a.clock.advance(COPY_MS);
    const copies = a.intermediatesOf(production.id).map((s) => s.id);
    const [canonical, duplicate] = [...copies].sort();
    const events = [await processEbsSnapshot(duplicate, a.deps), await processEbsSnapshot(canonical, a.deps)];
    const sweep = await sweepEc2Source(a.deps);

    expect(racing).toEqual(['rekeying', 'rekeying']);
    expect(copies).toHaveLength(2);
    expect(events).toEqual(['notified', 'already-notified']);
    expect(a.publishedIds()).toEqual([canonical]);
    // Not counted as deleted: only copies the vault confirmed, or the horizon took, are.
    expect(sweep).toMatchObject({ deleted: 0, expiredUncopied: 0, steps: { 'already-notified': 1 } });
    expect(a.world.deletions.map((d) => d.id)).toEqual([duplicate]);
  });

  it('waits for a production snapshot that is still being taken', async () => {
    const a = ec2Fixture();
    const production = a.snapshot(IN_SCOPE, { readyInMs: COPY_MS });

    expect(await processEbsSnapshot(production.id, a.deps)).toBe('pending');
    expect(a.world.copies).toEqual([]);
  });

  it('answers gone for a snapshot deleted before its event arrived', async () => {
    const a = ec2Fixture();

    expect(await processEbsSnapshot('snap-0123456789abcdef0', a.deps)).toBe('gone');
  });

  it('never treats the backing snapshot of an intermediate image as a production snapshot', async () => {
    const a = ec2Fixture();
    const production = a.image();
    await processImage(production.id, a.deps);
    const storage = a.intermediateImageOf(production.id)?.snapshotIds ?? [];

    const steps = [];
    for (const id of storage) steps.push(await processEbsSnapshot(id, a.deps));

    expect(steps).toEqual(['out-of-scope', 'out-of-scope']);
    expect(a.world.copies.map((c) => c.kind)).toEqual(['image']);
  });

  it('waits without copying or deleting when the cap on intermediates is reached', async () => {
    const a = ec2Fixture({ maxIntermediates: 2 });
    const [one, two, three] = [a.snapshot(), a.snapshot(), a.snapshot()];
    await announceSnapshot(a, one.id);
    await announceSnapshot(a, two.id);

    const step = await processEbsSnapshot(three.id, a.deps);
    const sweep = await sweepEc2Source(a.deps);

    expect(step).toBe('waiting-for-room');
    expect(sweep).toMatchObject({ deleted: 0, steps: { 'waiting-for-room': 1, 'already-notified': 2 } });
    expect(a.world.deletions).toEqual([]);
    expect(a.world.copies).toHaveLength(2);
    expect(a.intermediatesOf(three.id)).toEqual([]);
  });

  it.each([
    {
      answer: 'the copies-in-progress quota',
      world: {},
      block: (a: Fixture) => a.world.setSnapshotCopyQuota(SOURCE, REGION, 0),
    },
    { answer: 'throttling', world: { throttle: (() => true) as Ec2WorldOptions['throttle'] }, block: () => undefined },
  ])('waits, without throwing, on $answer', async ({ world, block }) => {
    const a = ec2Fixture({ world });
    const production = a.snapshot();
    block(a);

    const step = await processEbsSnapshot(production.id, a.deps);
    const sweep = await sweepEc2Source(a.deps);

    expect(step).toBe('waiting-for-quota');
    expect(sweep.steps).toEqual({ 'waiting-for-quota': 1 });
    expect(a.world.copies).toEqual([]);
    expect(a.world.quotaErrors).toBe(2);
  });

  it('copies once the copy quota has room again, at the next sweep', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();
    a.world.setSnapshotCopyQuota(SOURCE, REGION, 0);
    await processEbsSnapshot(production.id, a.deps);
    a.world.setSnapshotCopyQuota(SOURCE, REGION, 20);

    const sweep = await sweepEc2Source(a.deps);

    expect(sweep.steps).toEqual({ rekeying: 1 });
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([production.id]);
  });
});

describe('processImage', () => {
  it('copies an in-scope image under the share key, shares the copy and every backing snapshot with the backup account only, and announces it once', async () => {
    const a = ec2Fixture();
    const production = a.image();

    const first = await processImage(production.id, a.deps);
    a.clock.advance(IMAGE_COPY_MS);
    const copy = a.intermediateImageOf(production.id);
    const finished = await processImage(copy?.id ?? '', a.deps);
    const repeated = await processImage(copy?.id ?? '', a.deps);
    const originalAgain = await processImage(production.id, a.deps);

    expect([first, finished, repeated, originalAgain]).toEqual([
      'rekeying',
      'notified',
      'already-notified',
      'already-notified',
    ]);
    expect(a.world.copies).toEqual([
      {
        kind: 'image',
        account: SOURCE,
        region: REGION,
        sourceId: production.id,
        kmsKeyArn: a.shareKeyArn,
        targetId: copy?.id,
        at: new Date(AT_T0),
      },
    ]);
    expect(a.world.image(SOURCE, REGION, copy?.id ?? '')).toEqual({
      id: copy?.id,
      name: `bunker-share-${production.id}`,
      state: 'available',
      createdAt: AT_T0,
      snapshotIds: [expect.stringMatching(/^snap-/), expect.stringMatching(/^snap-/)],
      sizeGiB: 28,
      tags: {
        backup: 'daily',
        Name: 'orders-server',
        'bunker:intermediate': 'true',
        'bunker:source-image': production.id,
        'bunker:source-snapshot': production.id,
        'bunker:source-created-at': AT_T0,
        'bunker:notified-at': AFTER_IMAGE_COPY,
      },
    });
    const storage = (copy?.snapshotIds ?? []).map((id) => a.world.snapshot(SOURCE, REGION, id));
    expect(storage).toEqual([
      expect.objectContaining({ state: 'completed', encrypted: true, kmsKeyId: a.shareKeyArn, sizeGiB: 8 }),
      expect.objectContaining({ state: 'completed', encrypted: true, kmsKeyId: a.shareKeyArn, sizeGiB: 20 }),
    ]);
    for (const snapshot of storage) {
      expect(snapshot?.tags).toEqual({
        'bunker:intermediate': 'true',
        'bunker:source-image': production.id,
        'bunker:copy-name': `bunker-share-${production.id}`,
      });
      expect(a.world.snapshotSharedWith(SOURCE, REGION, snapshot?.id ?? '')).toEqual([BACKUP]);
    }
    expect(a.world.imageSharedWith(SOURCE, REGION, copy?.id ?? '')).toEqual([BACKUP]);
    expect(a.world.imageSharedWith(SOURCE, REGION, production.id)).toEqual([]);
    for (const id of production.snapshotIds) expect(a.world.snapshotSharedWith(SOURCE, REGION, id)).toEqual([]);
    expect(a.publisher.published.map((n) => ({ ...n }))).toEqual([
      {
        version: 2,
        kind: 'ami',
        sourceAccount: SOURCE,
        sourceRegion: REGION,
        id: copy?.id,
        publishedAt: AFTER_IMAGE_COPY,
      },
    ]);
  });

  it.each([
    { name: 'an image with the scope tag', scope: () => BY_TAG, tags: IN_SCOPE, inScope: true },
    { name: 'an image with another tag value', scope: () => BY_TAG, tags: OUT_OF_SCOPE, inScope: false },
    { name: 'an image listed by id', scope: (id: string) => ({ ids: [id] }), tags: {}, inScope: true },
    {
      name: 'an image not listed by id, even with the tag',
      scope: () => ({ ids: ['ami-0aaaabbbbccccdddd'] }),
      tags: IN_SCOPE,
      inScope: false,
    },
    { name: 'any image when AMIs have no scope', scope: () => undefined, tags: IN_SCOPE, inScope: false },
  ])('treats $name as in scope: $inScope', async (row) => {
    const a = ec2Fixture();
    const production = a.image(row.tags);
    a.setScopes({ ami: row.scope(production.id) });

    const step = await processImage(production.id, a.deps);

    expect(step).toBe(row.inScope ? 'rekeying' : 'out-of-scope');
    expect(a.world.copies).toHaveLength(row.inScope ? 1 : 0);
  });

  it('makes one intermediate image and one notification when every event arrives twice', async () => {
    const a = ec2Fixture();
    const production = a.image();

    await Promise.all([processImage(production.id, a.deps), processImage(production.id, a.deps)]);
    a.clock.advance(IMAGE_COPY_MS);
    const copy = a.intermediateImageOf(production.id)?.id ?? '';
    const steps = [await processImage(copy, a.deps), await processImage(copy, a.deps)];

    expect(steps).toEqual(['notified', 'already-notified']);
    expect(a.world.images(SOURCE, REGION).map((i) => i.id)).toEqual([production.id, copy]);
    expect(a.publishedIds()).toEqual([copy]);
  });

  it('waits for a production image that is not available yet', async () => {
    const a = ec2Fixture();
    const root = a.snapshot({});
    const production = a.world.addImage(SOURCE, REGION, {
      name: 'orders-server',
      snapshotIds: [root.id],
      tags: IN_SCOPE,
      readyInMs: IMAGE_COPY_MS,
    });

    expect(await processImage(production.id, a.deps)).toBe('pending');
    expect(a.world.copies).toEqual([]);
  });

  it('answers gone for an image deregistered before its event arrived', async () => {
    const a = ec2Fixture();

    expect(await processImage('ami-0123456789abcdef0', a.deps)).toBe('gone');
  });

  it('waits without copying when the cap on intermediate images is reached', async () => {
    const a = ec2Fixture({ maxIntermediates: 1 });
    const [one, two] = [a.image(), a.image()];
    await announceImage(a, one.id);

    const step = await processImage(two.id, a.deps);

    expect(step).toBe('waiting-for-room');
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([one.id]);
    expect(a.world.deregistrations).toEqual([]);
  });

  it('waits, without throwing, when the image copy quota is reached', async () => {
    const a = ec2Fixture();
    const production = a.image();
    a.world.setImageCopyQuota(SOURCE, REGION, 0);

    const step = await processImage(production.id, a.deps);

    expect(step).toBe('waiting-for-quota');
    expect(a.world.copies).toEqual([]);
  });
});

describe('sweepEc2Source', () => {
  it('handles the snapshots and images whose events were missed, and announces each only once', async () => {
    const a = ec2Fixture();
    const snapshot = a.snapshot();
    a.snapshot(OUT_OF_SCOPE);
    // Its two backing snapshots are the image's storage: the sweep leaves them to the image.
    const image = a.image();

    const first = await sweepEc2Source(a.deps);
    a.clock.advance(IMAGE_COPY_MS);
    const second = await sweepEc2Source(a.deps);
    const third = await sweepEc2Source(a.deps);

    const none = { deleted: 0, expiredUncopied: 0, agedOutUncopied: 0 };
    expect(first).toEqual({ examined: 3, ...none, steps: { rekeying: 2, 'out-of-scope': 1 } });
    expect(second).toEqual({ examined: 3, ...none, steps: { notified: 2, 'out-of-scope': 1 } });
    expect(third).toEqual({ examined: 3, ...none, steps: { 'already-notified': 2, 'out-of-scope': 1 } });
    expect(a.world.calls.get('volumeTags')).toBe(2);
    expect(a.publishedIds()).toEqual([a.intermediatesOf(snapshot.id)[0].id, a.intermediateImageOf(image.id)?.id]);
  });

  it("deletes intermediates only once the vault's receipt says it holds the copy and the retention has passed, never production's snapshots or images", async () => {
    const a = ec2Fixture({ retentionHours: 24 });
    const oldSnapshot = a.snapshot();
    const oldImage = a.image();
    await announceSnapshot(a, oldSnapshot.id);
    await announceImage(a, oldImage.id);
    const oldCopy = a.intermediatesOf(oldSnapshot.id)[0].id;
    const oldImageCopy = a.intermediateImageOf(oldImage.id);
    const receipts = [
      await recordEc2Receipt(receiptFor('ebs-snapshot', oldCopy, a.clock.now()), a.deps),
      await recordEc2Receipt(receiptFor('ami', oldImageCopy?.id ?? '', a.clock.now()), a.deps),
    ];
    // Announced as long ago, but with no receipt: kept.
    const unconfirmed = a.snapshot();
    await announceSnapshot(a, unconfirmed.id);
    // Production's own (out of scope, so the sweep copies none of them), some even looking like Bunker's.
    a.snapshot(OUT_OF_SCOPE, { tags: { 'bunker:copy-name': 'bunker-share-snap-0123456789abcdef0' } });
    const root = a.snapshot({});
    a.world.addImage(SOURCE, REGION, { name: 'bunker-share-made-by-hand', snapshotIds: [root.id] });
    // Announced before the old ones' retention ends: an event after it would delete them itself.
    const newSnapshot = a.snapshot();
    await announceSnapshot(a, newSnapshot.id);
    a.clock.advance(25 * HOUR);
    const snapshotsBefore = a.world.snapshots(SOURCE, REGION).map((s) => s.id);
    const imagesBefore = a.world.images(SOURCE, REGION).map((i) => i.id);

    const sweep = await sweepEc2Source(a.deps);

    expect(receipts).toEqual(['recorded', 'recorded']);
    expect(sweep).toMatchObject({ deleted: 2, expiredUncopied: 0 });
    expect(a.intermediatesOf(unconfirmed.id)).toHaveLength(1);
    expect(a.world.deregistrations.map((d) => d.id)).toEqual([oldImageCopy?.id]);
    const removed = [oldCopy, ...(oldImageCopy?.snapshotIds ?? [])];
    expect(a.world.deletions.map((d) => d.id)).toEqual(removed);
    // Nothing else is gone (the sweep may have made intermediates of originals within the horizon).
    const snapshotsAfter = a.world.snapshots(SOURCE, REGION).map((s) => s.id);
    const imagesAfter = a.world.images(SOURCE, REGION).map((i) => i.id);
    expect(snapshotsBefore.filter((id) => !snapshotsAfter.includes(id))).toEqual(removed);
    expect(imagesBefore.filter((id) => !imagesAfter.includes(id))).toEqual([oldImageCopy?.id]);
    expect(a.intermediatesOf(newSnapshot.id)).toHaveLength(1);
  });

  it('keeps an expired intermediate that was never announced, and announces it', async () => {
    const a = ec2Fixture({ retentionHours: 24 });
    const production = a.snapshot();
    await processEbsSnapshot(production.id, a.deps);
    // Publishing fails for a whole retention window (say, a broken topic policy), then recovers.
    a.monitor.fail({ port: 'publisher', method: 'publish' }, { times: 24 });
    for (let hour = 1; hour <= 24; hour += 1) {
      a.clock.advance(HOUR);
      await sweepEc2Source(a.deps);
    }
    a.clock.advance(HOUR);

    const sweep = await sweepEc2Source(a.deps);

    expect(sweep).toMatchObject({ deleted: 0, expiredUncopied: 0, steps: { notified: 1 } });
    expect(a.world.deletions).toEqual([]);
    expect(a.publishedIds()).toEqual([a.intermediatesOf(production.id)[0].id]);
  });

  it('keeps copying and announcing when one snapshot cannot be handled, and logs the failure', async () => {
    const a = ec2Fixture();
    const failing = a.snapshot();
    const healthy = a.snapshot();
    a.world.fail({ method: 'copySnapshot', subject: failing.id });

    const sweep = await sweepEc2Source(a.deps);

    expect(sweep.steps).toEqual({ pending: 1, rekeying: 1 });
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([healthy.id]);
    expect(a.lines.filter((line) => line.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'snapshot or image could not be handled; the next sweep retries',
        fields: {
          id: failing.id,
          error: `SimulatedEc2Fault: simulated fault before source-ec2.copySnapshot (${failing.id})`,
        },
      },
    ]);
  });

  it('keeps announcing when deleting a copied intermediate fails', async () => {
    const a = ec2Fixture({ retentionHours: 24 });
    const old = a.snapshot();
    await announceSnapshot(a, old.id);
    await recordEc2Receipt(receiptFor('ebs-snapshot', a.intermediatesOf(old.id)[0].id, a.clock.now()), a.deps);
    // Its copy started before the old one's retention ends: an event after it would delete the old one itself.
    const fresh = a.snapshot();
    await processEbsSnapshot(fresh.id, a.deps);
    a.clock.advance(25 * HOUR);
    a.world.fail({ method: 'deleteSnapshot' });

    const sweep = await sweepEc2Source(a.deps);

    expect(sweep).toMatchObject({ deleted: 0, steps: { notified: 1 } });
    expect(a.publishedIds()).toEqual([a.intermediatesOf(old.id)[0].id, a.intermediatesOf(fresh.id)[0].id]);
  });

  it('deregisters a copied intermediate image even when a backing snapshot cannot be deleted yet, and deletes that snapshot at a later sweep', async () => {
    const a = ec2Fixture({ retentionHours: 24 });
    const production = a.image();
    await announceImage(a, production.id);
    const copy = a.intermediateImageOf(production.id);
    await recordEc2Receipt(receiptFor('ami', copy?.id ?? '', a.clock.now()), a.deps);
    const [stuck, freed] = copy?.snapshotIds ?? [];
    a.clock.advance(25 * HOUR);
    a.world.fail({ method: 'deleteSnapshot', subject: stuck });

    const first = await sweepEc2Source(a.deps);
    const deletedFirst = a.world.deletions.map((d) => d.id);
    const second = await sweepEc2Source(a.deps);

    expect(first.deleted).toBe(1);
    expect(a.world.deregistrations.map((d) => d.id)).toEqual([copy?.id]);
    expect(deletedFirst).toEqual([freed]);
    expect(second.deleted).toBe(0);
    expect(a.world.deletions.map((d) => d.id)).toEqual([freed, stuck]);
    expect(
      a.world
        .snapshots(SOURCE, REGION)
        .map((s) => s.id)
        .sort(),
    ).toEqual([...production.snapshotIds].sort());
  });

  it('deletes a failed intermediate copy that was never announced, and copies again', async () => {
    let copiesMade = 0;
    const a = ec2Fixture({ world: { copyOutcome: () => (copiesMade++ === 0 ? 'failed' : 'succeeded') } });
    const production = a.snapshot();
    await processEbsSnapshot(production.id, a.deps);
    a.clock.advance(COPY_MS);
    const [failed] = a.intermediatesOf(production.id);

    const event = await processEbsSnapshot(failed.id, a.deps);
    const sweep = await sweepEc2Source(a.deps);
    a.clock.advance(COPY_MS);
    const after = await sweepEc2Source(a.deps);

    expect(failed.state).toBe('error');
    expect(event).toBe('pending');
    expect(sweep).toMatchObject({ deleted: 0, expiredUncopied: 0, steps: { rekeying: 1 } });
    expect(a.world.deletions.map((d) => d.id)).toEqual([failed.id]);
    expect(after.steps).toEqual({ notified: 1 });
    expect(a.publishedIds()).toEqual(a.intermediatesOf(production.id).map((s) => s.id));
    expect(a.publishedIds()).not.toContain(failed.id);
  });

  it('announces again after a crash between publishing and tagging, never zero times', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();
    await processEbsSnapshot(production.id, a.deps);
    a.clock.advance(COPY_MS);
    const [copy] = a.intermediatesOf(production.id);
    a.world.fail({ method: 'tag' });

    const crashed = processEbsSnapshot(copy.id, a.deps);
    await expect(crashed).rejects.toThrow(/simulated fault before source-ec2.tag/);
    const sweep = await sweepEc2Source(a.deps);

    expect(sweep.steps).toEqual({ notified: 1 });
    expect(a.publishedIds()).toEqual([copy.id, copy.id]);
    expect(a.intermediatesOf(production.id)[0].tags['bunker:notified-at']).toBe(AFTER_COPY);
  });

  it.each([
    { kind: 'an EBS intermediate', make: (a: Fixture) => a.snapshot(), announce: announceSnapshot },
    { kind: 'an intermediate image', make: (a: Fixture) => a.image(), announce: announceImage },
  ])(
    'keeps $kind with no receipt until the hard horizon, then deletes it and says so loudly',
    async ({ make, announce }) => {
      const a = ec2Fixture({ retentionHours: 1, horizonHours: 48 });
      await announce(a, make(a).id);
      a.clock.advance(47 * HOUR);

      const before = await sweepEc2Source(a.deps);
      a.clock.advance(2 * HOUR);
      const after = await sweepEc2Source(a.deps);

      expect(before).toMatchObject({ deleted: 0, expiredUncopied: 0 });
      // Its original, never copied and now past the horizon too, is counted and logged as well.
      expect(after).toMatchObject({ deleted: 0, expiredUncopied: 1, agedOutUncopied: 1 });
      expect(a.lines.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
        expect.stringMatching(/^intermediate (snapshot deleted|image deregistered past the hard horizon)/),
        expect.stringMatching(
          /^an in-scope (EBS snapshot|AMI) is older than the horizon and was never copied to the vault$/,
        ),
      ]);
      expect(a.world.snapshots(SOURCE, REGION).filter((s) => s.tags['bunker:intermediate'])).toEqual([]);
      expect(a.world.images(SOURCE, REGION).filter((i) => i.tags['bunker:intermediate'])).toEqual([]);
    },
  );

  it('names every intermediate after the production id it was copied from', () => {
    expect(intermediateEc2Name('snap-0123456789abcdef0')).toBe('bunker-share-snap-0123456789abcdef0');
    expect(intermediateEc2Name('ami-0123456789abcdef0')).toBe('bunker-share-ami-0123456789abcdef0');
  });
});

describe('recordEc2Receipt', () => {
  it('marks an EBS intermediate and an intermediate image as copied by the vault, once', async () => {
    const a = ec2Fixture();
    const snapshot = a.snapshot();
    const image = a.image();
    await announceSnapshot(a, snapshot.id);
    await announceImage(a, image.id);
    const copy = a.intermediatesOf(snapshot.id)[0].id;
    const imageCopy = a.intermediateImageOf(image.id)?.id ?? '';
    const at = new Date('2026-03-01T06:00:00.000Z');

    const steps = [
      await recordEc2Receipt(receiptFor('ebs-snapshot', copy, at), a.deps),
      await recordEc2Receipt(receiptFor('ami', imageCopy, at), a.deps),
      await recordEc2Receipt(receiptFor('ebs-snapshot', copy, new Date('2026-03-02T00:00:00.000Z')), a.deps),
    ];

    expect(steps).toEqual(['recorded', 'recorded', 'already-recorded']);
    expect(a.world.snapshot(SOURCE, REGION, copy)?.tags['bunker:copied-at']).toBe('2026-03-01T06:00:00.000Z');
    expect(a.world.image(SOURCE, REGION, imageCopy)?.tags['bunker:copied-at']).toBe('2026-03-01T06:00:00.000Z');
  });

  it.each([
    { name: "a production snapshot, never the agent's to delete", kind: 'ebs-snapshot', step: 'not-an-intermediate' },
    { name: "a production image, never the agent's to delete", kind: 'ami', step: 'not-an-intermediate' },
  ] as const)('marks nothing for a receipt naming $name', async ({ kind, step }) => {
    const a = ec2Fixture();
    const id = kind === 'ami' ? a.image().id : a.snapshot().id;

    expect(await recordEc2Receipt(receiptFor(kind, id, a.clock.now()), a.deps)).toBe(step);
    expect(a.world.snapshots(SOURCE, REGION).filter((s) => s.tags['bunker:copied-at'])).toEqual([]);
    expect(a.world.images(SOURCE, REGION).filter((i) => i.tags['bunker:copied-at'])).toEqual([]);
  });

  it('answers gone for a receipt naming an intermediate that no longer exists', async () => {
    const a = ec2Fixture();

    expect(await recordEc2Receipt(receiptFor('ebs-snapshot', 'snap-0123456789abcdef0', a.clock.now()), a.deps)).toBe(
      'gone',
    );
    expect(await recordEc2Receipt(receiptFor('ami', 'ami-0123456789abcdef0', a.clock.now()), a.deps)).toBe('gone');
  });

  it("ignores a receipt for another account's or Region's intermediate, or for an RDS kind", async () => {
    const a = ec2Fixture();
    const receipt = receiptFor('ebs-snapshot', 'snap-0123456789abcdef0', a.clock.now());

    expect(await recordEc2Receipt({ ...receipt, account: OTHER }, a.deps)).toBe('not-handled');
    expect(await recordEc2Receipt({ ...receipt, region: SECOND_REGION }, a.deps)).toBe('not-handled');
    expect(await recordEc2Receipt({ ...receipt, kind: 'rds-snapshot' }, a.deps)).toBe('not-handled');
    expect(a.world.calls.get('describeSnapshot')).toBeUndefined();
  });
});

describe('carriedTags', () => {
  it("carries the scope tag even when it is a bunker: key, and none of the agent's own bunker: tags", () => {
    expect(
      carriedTags(
        { 'bunker:backup': 'true', 'bunker:notified-at': 'x', 'aws:backup:source': 'y', team: 'web' },
        { 'bunker:intermediate': 'true' },
        { tag: { key: 'bunker:backup', value: 'true' } },
      ),
    ).toEqual({ 'bunker:backup': 'true', team: 'web', 'bunker:intermediate': 'true' });
  });
});

describe('fewer requests', () => {
  it('reads an out-of-scope volume’s tags once per six hours, not at every hourly sweep', async () => {
    const a = ec2Fixture();
    const [analytics, reports] = [a.volume(OUT_OF_SCOPE), a.volume(OUT_OF_SCOPE)];
    for (let i = 0; i < 3; i += 1) a.world.addSnapshot(SOURCE, REGION, { volumeId: analytics });
    for (let i = 0; i < 2; i += 1) a.world.addSnapshot(SOURCE, REGION, { volumeId: reports });
    const reads = () => a.world.calls.get('volumeTags') ?? 0;

    const perSweep: number[] = [];
    for (let hour = 0; hour < 7; hour += 1) {
      const before = reads();
      const sweep = await sweepEc2Source(a.deps);
      expect(sweep.steps).toEqual({ 'out-of-scope': 5 });
      perSweep.push(reads() - before);
      a.clock.advance(HOUR);
    }

    expect(perSweep).toEqual([2, 0, 0, 0, 0, 0, 2]);
  });

  it('starts a copy deferred on the copy quota as soon as an intermediate copy finishes, not at the next sweep', async () => {
    const a = ec2Fixture();
    const [first, second] = [a.snapshot(), a.snapshot()];
    a.world.setSnapshotCopyQuota(SOURCE, REGION, 1);

    const steps = [await processEbsSnapshot(first.id, a.deps), await processEbsSnapshot(second.id, a.deps)];
    a.clock.advance(COPY_MS);
    const finished = await processEbsSnapshot(a.intermediatesOf(first.id)[0]?.id ?? '', a.deps);

    expect(steps).toEqual(['rekeying', 'waiting-for-quota']);
    expect(finished).toBe('notified');
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([first.id, second.id]);
  });

  it('makes no describe around a copy it starts and shares without asking whom with', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();

    await announceSnapshot(a, production.id);

    // Created: describe, the volume's tags, the lookup by name, the count of intermediates, the copy;
    // finished: describe, the canonical lookup, share, tag (the publish is the publisher's).
    expect(Object.fromEntries([...a.world.calls].sort(([x], [y]) => x.localeCompare(y)))).toEqual({
      copySnapshot: 1,
      describeSnapshot: 2,
      listSnapshots: 3,
      shareSnapshot: 1,
      tag: 1,
      volumeTags: 1,
    });
  });

  it('starts an EBS original deferred at the cap when a receipt frees room, with no request about it before', async () => {
    const a = ec2Fixture({ maxIntermediates: 1, retentionHours: 1 });
    const [first, second] = [a.snapshot(), a.snapshot()];
    await processEbsSnapshot(first.id, a.deps);
    const deferred = await processEbsSnapshot(second.id, a.deps);
    a.clock.advance(COPY_MS);
    const copy = a.intermediatesOf(first.id)[0]?.id ?? '';
    const before = new Map(a.world.calls);
    const finished = await processEbsSnapshot(copy, a.deps);
    const whileFull = Object.fromEntries(
      [...a.world.calls].map(([method, n]) => [method, n - (before.get(method) ?? 0)]).filter(([, n]) => n !== 0),
    );

    const receipt = await recordEc2Receipt(receiptFor('ebs-snapshot', copy, a.clock.now()), a.deps);

    expect([deferred, finished, receipt]).toEqual(['waiting-for-room', 'notified', 'recorded']);
    // The finished copy: describe it, the canonical lookup, share, tag. Nothing about the deferred original.
    expect(whileFull).toEqual({ describeSnapshot: 1, listSnapshots: 1, shareSnapshot: 1, tag: 1 });
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([first.id, second.id]);
  });

  it('starts an AMI deferred at the cap when a receipt frees room', async () => {
    const a = ec2Fixture({ maxIntermediates: 1 });
    const [one, two] = [a.image(), a.image()];
    await announceImage(a, one.id);
    const deferred = await processImage(two.id, a.deps);

    const receipt = await recordEc2Receipt(
      receiptFor('ami', a.intermediateImageOf(one.id)?.id ?? '', a.clock.now()),
      a.deps,
    );

    expect([deferred, receipt]).toEqual(['waiting-for-room', 'recorded']);
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([one.id, two.id]);
  });

  it('deletes the copy left of an original the vault holds once its canonical sibling is gone, never announcing it', async () => {
    const a = ec2Fixture({ retentionHours: 1 });
    const production = a.snapshot();
    await Promise.all([processEbsSnapshot(production.id, a.deps), processEbsSnapshot(production.id, a.deps)]);
    a.clock.advance(COPY_MS);
    const [canonical, duplicate] = a.intermediatesOf(production.id).map((s) => s.id);
    await processEbsSnapshot(canonical, a.deps);
    await recordEc2Receipt(receiptFor('ebs-snapshot', canonical, a.clock.now()), a.deps);
    // Its retention ends: the next event deletes it, before any sweep has seen the duplicate.
    a.clock.advance(HOUR);
    await processEbsSnapshot(a.snapshot(OUT_OF_SCOPE).id, a.deps);

    await sweepEc2Source(a.deps);

    expect(a.publishedIds()).toEqual([canonical]);
    expect(a.world.deletions.map((d) => d.id)).toEqual([canonical, duplicate]);
  });
});

describe('without its memory (a crash, a new execution environment)', () => {
  /** The deps as a new execution environment sees them: nothing remembered. */
  const fresh = (deps: Ec2AgentDeps): Ec2AgentDeps => ({ ...deps, memory: new AgentMemory() });

  it('makes no second EBS intermediate when Lambda retries, in a new environment, an event that crashed after CopySnapshot', async () => {
    const a = ec2Fixture();
    const production = a.snapshot();
    const deps = fresh(a.deps);
    const ec2 = new Proxy(deps.ec2, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (property !== 'copySnapshot' || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await (value as (...x: unknown[]) => Promise<unknown>).apply(target, args);
          throw new Error('crashed after copySnapshot');
        };
      },
    });

    await expect(processEbsSnapshot(production.id, { ...deps, ec2 })).rejects.toThrow('crashed after copySnapshot');
    const retried = await processEbsSnapshot(production.id, fresh(a.deps));

    expect(retried).toBe('rekeying');
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([production.id]);
  });

  it('starts an EBS original a lost environment held back at the cap when a receipt reaches a new environment', async () => {
    const a = ec2Fixture({ maxIntermediates: 1 });
    const [first, second] = [a.snapshot(), a.snapshot()];
    const lost = fresh(a.deps);
    await processEbsSnapshot(first.id, lost);
    const held = await processEbsSnapshot(second.id, lost);
    a.clock.advance(COPY_MS);
    const [copy] = a.intermediatesOf(first.id);
    await processEbsSnapshot(copy.id, fresh(a.deps));

    const receipt = await recordEc2Receipt(receiptFor('ebs-snapshot', copy.id, a.clock.now()), fresh(a.deps));

    expect([held, receipt]).toEqual(['waiting-for-room', 'recorded']);
    // The first filled the cap of one: made in a backlog, its receipt has a new environment count and find the second.
    expect(copy.tags[TAG_BACKLOG]).toBe('true');
    expect(a.world.copies.map((c) => c.sourceId)).toEqual([first.id, second.id]);
    expect(a.intermediatesOf(second.id)[0]?.tags[TAG_BACKLOG]).toBe('true');
  });

  it('announces at its first count an intermediate image finished long ago whose event was lost', async () => {
    const a = ec2Fixture();
    const [one, two] = [a.image(), a.image()];
    await processImage(one.id, a.deps);
    // Its copy finished half an hour ago; the event was lost, and the environment that made it is gone.
    a.clock.advance(IMAGE_COPY_MS + 30 * 60_000);

    await processImage(two.id, fresh(a.deps));

    expect(a.publishedIds()).toEqual([a.intermediateImageOf(one.id)?.id]);
  });
});
