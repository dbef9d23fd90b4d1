/**
 * The order in which the source agents release the originals that waited
 * for room: largest first, so the long copies of a burst start early, and
 * any original that waited half its RPO before the others, so a small
 * snapshot is never starved by a stream of large ones. For every snapshot
 * kind: the RDS agent (DB and cluster snapshots share its code), EBS
 * snapshots, and AMIs (sized by the sum of their block devices' volumes).
 */
import { describe, expect, it } from 'vitest';
import { toEc2Image } from '../../lambdas/adapters/agent-ec2';
import { agentDeps } from '../../lambdas/adapters/agent-wiring';
import {
  processEbsSnapshot,
  processImage,
  recordEc2Receipt,
  TAG_SOURCE_IMAGE,
  type Ec2AgentDeps,
} from '../../lambdas/core/agent/ec2-agent';
import { AgentMemory, agingMsOf, releaseOrder, releasing } from '../../lambdas/core/agent/memory';
import { TAG_INTERMEDIATE_OF } from '../../lambdas/core/rds-source-agent';
import { intermediateSnapshotId } from '../../lambdas/core/names';
import type { Log } from '../../lambdas/core/ports';
import { processSnapshot, recordReceipt, type AgentDeps } from '../../lambdas/core/rds-source-agent';
import type { Receipt } from '../../lambdas/core/receipts';
import type { SourceSettings } from '../../lambdas/core/settings';
import type { KindName } from '../../lambdas/kinds/types';
import { ManualClock, MemoryPublisher } from '../../sim/memory-aws';
import { MemoryEc2World } from '../../sim/memory-ec2';
import {
  agentFixture,
  BACKUP,
  BY_TAG,
  COPY_MS,
  IN_SCOPE,
  REGION,
  SOURCE,
  T0,
  topicOf,
} from './support/memory-fixtures';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-03-02T12:00:00.000Z');

const ago = (minutes: number) => new Date(Date.parse(T0) - minutes * 60_000);

const receiptFor = (kind: KindName, id: string, at: Date): Receipt => ({
  version: 1,
  kind,
  account: SOURCE,
  region: REGION,
  id,
  copiedAt: at.toISOString(),
});

describe('releaseOrder', () => {
  const ids = (originals: { id: string }[]) => originals.map((o) => o.id);

  it('releases the largest first, the oldest first among equal sizes', () => {
    const originals = [
      { id: 'a', sizeGiB: 20, takenAt: NOW - 3 * HOUR },
      { id: 'b', sizeGiB: 900, takenAt: NOW - 1 * HOUR },
      { id: 'c', sizeGiB: 300, takenAt: NOW - 2 * HOUR },
      { id: 'd', sizeGiB: 300, takenAt: NOW - 4 * HOUR },
    ];

    expect(ids(releaseOrder(originals, (o) => o, NOW, 12 * HOUR))).toEqual(['b', 'd', 'c', 'a']);
  });

  it('releases an original older than the aging threshold first, however small', () => {
    const originals = [
      { id: 'big', sizeGiB: 4000, takenAt: NOW - 1 * HOUR },
      { id: 'old-small', sizeGiB: 5, takenAt: NOW - 13 * HOUR },
      { id: 'older-tiny', sizeGiB: 1, takenAt: NOW - 20 * HOUR },
      { id: 'young-small', sizeGiB: 5, takenAt: NOW - 11 * HOUR },
    ];

    expect(ids(releaseOrder(originals, (o) => o, NOW, 12 * HOUR))).toEqual([
      'older-tiny',
      'old-small',
      'big',
      'young-small',
    ]);
  });

  it('gives the same order one original at a time', () => {
    const originals = [
      { id: 'a', sizeGiB: 20, takenAt: NOW - 3 * HOUR },
      { id: 'b', sizeGiB: 900, takenAt: NOW - 1 * HOUR },
      { id: 'old', sizeGiB: 1, takenAt: NOW - 13 * HOUR },
      { id: 'c', sizeGiB: 300, takenAt: NOW - 2 * HOUR },
    ];

    expect(ids([...releasing(originals, (o) => o, NOW, 12 * HOUR)])).toEqual(['old', 'b', 'c', 'a']);
  });

  it('keeps the given order for originals of unknown size and age', () => {
    const originals = [{ id: 'x' }, { id: 'y', takenAt: NOW - 2 * HOUR }, { id: 'z', takenAt: NOW - 1 * HOUR }];

    expect(ids(releaseOrder(originals, (o) => o, NOW, 12 * HOUR))).toEqual(['y', 'z', 'x']);
  });

  it('ages an original at half its RPO, 24 hours when none is given', () => {
    expect(agingMsOf(undefined)).toBe(12 * HOUR);
    expect(agingMsOf(4)).toBe(2 * HOUR);
  });
});

describe('the RDS agent releases its waiting originals largest first', () => {
  /**
   * A cap of one, filled by `first`; then deferred by their events, oldest first: `small` (20 GiB, taken 90
   * minutes ago), `big` (900, 30 minutes ago), `mid` (300, an hour ago), and, when `oldTakenAt` is given,
   * `old-small` (5 GiB, taken then).
   */
  async function deferredBehindFirst(oldTakenAt?: Date) {
    const a = agentFixture({ maxIntermediates: 1 });
    a.world.addInstance(SOURCE, REGION, 'orders-db', IN_SCOPE);
    a.snapshot('first');
    await processSnapshot('first', a.deps);
    a.snapshot('small', 'orders-db', { sizeGiB: 20, createdAt: ago(90) });
    a.snapshot('big', 'orders-db', { sizeGiB: 900, createdAt: ago(30) });
    a.snapshot('mid', 'orders-db', { sizeGiB: 300, createdAt: ago(60) });
    const deferred = ['small', 'big', 'mid'];
    if (oldTakenAt) {
      a.snapshot('old-small', 'orders-db', { sizeGiB: 5, createdAt: oldTakenAt });
      deferred.push('old-small');
    }
    for (const id of deferred) expect(await processSnapshot(id, a.deps)).toBe('waiting-for-room');
    return a;
  }

  /** The intermediate of `id` finishes and the vault's receipt for it comes: room for one more. */
  async function confirm(a: ReturnType<typeof agentFixture>, id: string, deps: AgentDeps = a.deps) {
    a.clock.advance(COPY_MS);
    await processSnapshot(intermediateSnapshotId(id), deps);
    await recordReceipt(receiptFor('rds-snapshot', intermediateSnapshotId(id), a.clock.now()), deps);
  }

  const started = (a: ReturnType<typeof agentFixture>) => a.world.copies.map((c) => c.targetId);

  it('starts the deferred originals largest first as receipts free room', async () => {
    const a = await deferredBehindFirst();

    await confirm(a, 'first');
    await confirm(a, 'big');
    await confirm(a, 'mid');

    expect(started(a)).toEqual([
      intermediateSnapshotId('first'),
      intermediateSnapshotId('big'),
      intermediateSnapshotId('mid'),
      intermediateSnapshotId('small'),
    ]);
  });

  it('starts a small original first once it has waited half of the 24-hour RPO', async () => {
    const a = await deferredBehindFirst(new Date(Date.parse(T0) - 12 * HOUR));

    await confirm(a, 'first');

    expect(started(a)).toEqual([intermediateSnapshotId('first'), intermediateSnapshotId('old-small')]);
  });

  it("ages by the kind's own RPO when the deps give it", async () => {
    const a = await deferredBehindFirst(new Date(Date.parse(T0) - 3 * HOUR));

    await confirm(a, 'first', { ...a.deps, rpoHours: { 'rds-snapshot': 4 } });
    await confirm(a, 'old-small');

    // Taken 3 hours ago: past half of a 4-hour RPO, not of the default 24 hours (the next receipt, without it).
    expect(started(a)).toEqual([
      intermediateSnapshotId('first'),
      intermediateSnapshotId('old-small'),
      intermediateSnapshotId('big'),
    ]);
  });

  it("starts another environment's deferred originals, found by its count, largest first", async () => {
    const a = await deferredBehindFirst();
    // A new environment: nothing deferred in its memory; the receipt's backlog tag makes it count.
    const fresh = { ...a.deps, memory: new AgentMemory() };

    await confirm(a, 'first', fresh);

    expect(started(a)).toEqual([intermediateSnapshotId('first'), intermediateSnapshotId('big')]);
  });
});

describe('the EC2 agent releases its waiting EBS snapshots largest first', () => {
  function ebsAgent() {
    const clock = new ManualClock(T0);
    const world = new MemoryEc2World({ clock, snapshotCopyMs: COPY_MS, imageCopyMs: 2 * COPY_MS });
    const publisher = new MemoryPublisher({});
    const shareKeyArn = world.createKey(SOURCE, REGION, 'bunker-share', [BACKUP]);
    const settings: SourceSettings = {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      shareKeyArn,
      intakeTopicArn: topicOf(SOURCE),
      scopes: { 'ebs-snapshot': BY_TAG },
      intermediateRetentionHours: 24,
      intermediateHorizonHours: 24 * 14,
      maxIntermediateSnapshots: 1,
      rpoHours: {},
    };
    const silent: Log = { info: () => {}, warn: () => {}, error: () => {} };
    const ec2 = world.sourceEc2(SOURCE, REGION);
    const deps: Ec2AgentDeps = { settings, ec2, publisher: publisher.topic(topicOf(SOURCE)), clock, log: silent };
    const snapshot = (sizeGiB: number, startTime?: Date) =>
      world.addSnapshot(SOURCE, REGION, {
        volumeId: world.addVolume(SOURCE, REGION, { tags: IN_SCOPE, sizeGiB }),
        ...(startTime ? { startTime } : {}),
      });
    /** Which production snapshots have an intermediate, in the order their copies were made. */
    const copied = async () =>
      (await ec2.listSnapshots()).filter((s) => s.tags[TAG_INTERMEDIATE_OF]).map((s) => s.tags[TAG_INTERMEDIATE_OF]);
    const confirm = async (production: string, with_: Ec2AgentDeps = deps) => {
      clock.advance(COPY_MS);
      const [intermediate] = (await ec2.listSnapshots()).filter((s) => s.tags[TAG_INTERMEDIATE_OF] === production);
      await processEbsSnapshot(intermediate.id, with_);
      await recordEc2Receipt(receiptFor('ebs-snapshot', intermediate.id, clock.now()), with_);
    };
    return { deps, snapshot, copied, confirm };
  }

  it('starts the deferred snapshots largest first, an aged small one before them', async () => {
    const a = ebsAgent();
    const first = a.snapshot(8);
    await processEbsSnapshot(first.id, a.deps);
    const small = a.snapshot(10, ago(90));
    const big = a.snapshot(1000, ago(30));
    const mid = a.snapshot(200, ago(60));
    const oldSmall = a.snapshot(4, new Date(Date.parse(T0) - 13 * HOUR));
    for (const s of [small, big, mid, oldSmall])
      expect(await processEbsSnapshot(s.id, a.deps)).toBe('waiting-for-room');

    await a.confirm(first.id);
    await a.confirm(oldSmall.id);
    await a.confirm(big.id);
    await a.confirm(mid.id);

    expect(await a.copied()).toEqual([first.id, oldSmall.id, big.id, mid.id, small.id]);
  });

  it("starts another environment's deferred snapshots, found by its count, largest first", async () => {
    const a = ebsAgent();
    const first = a.snapshot(8);
    await processEbsSnapshot(first.id, a.deps);
    const small = a.snapshot(10, ago(90));
    const big = a.snapshot(1000, ago(30));
    for (const s of [small, big]) await processEbsSnapshot(s.id, a.deps);

    await a.confirm(first.id, { ...a.deps, memory: new AgentMemory() });

    expect(await a.copied()).toEqual([first.id, big.id]);
  });
});

describe('the EC2 agent releases its waiting AMIs largest first', () => {
  /** An agent with AMIs in scope and room for one intermediate image. */
  function amiAgent() {
    const clock = new ManualClock(T0);
    const world = new MemoryEc2World({ clock, snapshotCopyMs: COPY_MS, imageCopyMs: COPY_MS });
    const publisher = new MemoryPublisher({});
    const settings: SourceSettings = {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      shareKeyArn: world.createKey(SOURCE, REGION, 'bunker-share', [BACKUP]),
      intakeTopicArn: topicOf(SOURCE),
      scopes: { ami: BY_TAG },
      intermediateRetentionHours: 24,
      intermediateHorizonHours: 24 * 14,
      maxIntermediateSnapshots: 1,
      rpoHours: { ami: 24 },
    };
    const silent: Log = { info: () => {}, warn: () => {}, error: () => {} };
    const ec2 = world.sourceEc2(SOURCE, REGION);
    const deps: Ec2AgentDeps = { settings, ec2, publisher: publisher.topic(topicOf(SOURCE)), clock, log: silent };
    /** An in-scope image with one block device per size, each from a snapshot of a volume that size. */
    const image = (name: string, sizes: number[], createdAt?: Date) =>
      world.addImage(SOURCE, REGION, {
        name,
        snapshotIds: sizes.map(
          (sizeGiB) => world.addSnapshot(SOURCE, REGION, { volumeId: world.addVolume(SOURCE, REGION, { sizeGiB }) }).id,
        ),
        tags: IN_SCOPE,
        ...(createdAt ? { createdAt } : {}),
      });
    /** The production images CopyImage was asked to copy, in order. */
    const copied = () => world.copies.filter((c) => c.kind === 'image').map((c) => c.sourceId);
    const confirm = async (production: string) => {
      clock.advance(COPY_MS);
      const [intermediate] = (await ec2.listImages()).filter((i) => i.tags[TAG_SOURCE_IMAGE] === production);
      await processImage(intermediate.id, deps);
      await recordEc2Receipt(receiptFor('ami', intermediate.id, clock.now()), deps);
    };
    return { deps, image, copied, confirm };
  }

  it('starts the deferred images largest by the sum of their volumes first, an aged small one before them', async () => {
    const a = amiAgent();
    const first = a.image('first', [8]);
    expect(await processImage(first.id, a.deps)).toBe('rekeying');
    const small = a.image('small', [8, 2], ago(90));
    const big = a.image('big', [8, 500, 500], ago(30));
    const mid = a.image('mid', [8, 200], ago(60));
    const oldSmall = a.image('old-small', [4], new Date(Date.parse(T0) - 13 * HOUR));
    for (const i of [small, big, mid, oldSmall]) expect(await processImage(i.id, a.deps)).toBe('waiting-for-room');

    await a.confirm(first.id);
    await a.confirm(oldSmall.id);
    await a.confirm(big.id);
    await a.confirm(mid.id);

    expect(a.copied()).toEqual([first.id, oldSmall.id, big.id, mid.id, small.id]);
  });
});

describe("the handler's wiring", () => {
  it('gives both agents the RPOs its settings name', () => {
    const settings: SourceSettings = {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      shareKeyArn: `arn:aws:kms:${REGION}:${SOURCE}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`,
      intakeTopicArn: topicOf(SOURCE),
      scopes: { 'rds-snapshot': BY_TAG, ami: BY_TAG },
      intermediateRetentionHours: 24,
      intermediateHorizonHours: 24 * 14,
      maxIntermediateSnapshots: 20,
      rpoHours: { 'rds-snapshot': 6, ami: 48 },
    };
    const silent: Log = { info: () => {}, warn: () => {}, error: () => {} };

    const deps = agentDeps(settings, { region: REGION }, silent);

    expect(deps.rpoHours).toEqual({ 'rds-snapshot': 6, ami: 48 });
    expect(deps.ec2Deps?.rpoHours).toEqual({ 'rds-snapshot': 6, ami: 48 });
  });
});

describe("an AMI's size, from the DescribeImages answer the agent already has", () => {
  it('sums its EBS volumes, an instance-store device counting nothing, and is unknown with no EBS size', () => {
    const image = (BlockDeviceMappings: object[]) =>
      toEc2Image({ ImageId: 'ami-0123456789abcdef0', Name: 'orders-server', BlockDeviceMappings });

    const sized = image([
      { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-0a', VolumeSize: 8 } },
      { DeviceName: '/dev/xvdb', Ebs: { VolumeSize: 100 } },
      { DeviceName: '/dev/sdc', VirtualName: 'ephemeral0' },
    ]);
    const unsized = image([{ DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' }]);

    expect(sized).toMatchObject({ snapshotIds: ['snap-0a'], sizeGiB: 108 });
    expect(unsized).not.toHaveProperty('sizeGiB');
  });
});
