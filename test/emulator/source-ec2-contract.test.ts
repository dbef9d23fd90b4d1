/**
 * The contract of the source agent's EC2 port (`SourceEc2`): the same cases
 * against the in-memory double (sim/memory-ec2.ts), which the core's tests
 * use, and against the SDK adapter (lambdas/adapters/agent-ec2.ts) on the
 * emulator, acting as the agent's role in a fresh source account. A case
 * that passes on one and fails on the other is drift: fix the double (or
 * the adapter), never the case.
 *
 * Out of the contract, because the emulator completes every copy at once and
 * has no quotas: copies that stay `pending`, quota and throttling answers,
 * EC2's refusal of `aws:` tag keys and of sharing under `aws/ebs`, and the
 * `vol-ffffffff` a copy reports (the emulator reports the source's volume).
 * The double models those as AWS documents them; the core's tests rely on them.
 *
 * Cross-account reads, RegisterImage's block devices, CopyImage's re-keying
 * and the snapshot kept in use by an image rely on Bunker's launcher
 * extension (tools/moto/bunker_moto.py).
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { AgentEc2 } from '../../lambdas/adapters/agent-ec2';
import { clientConfig } from '../../lambdas/adapters/aws-context';
import { classifyAwsError } from '../../lambdas/adapters/aws-errors';
import type { SourceEc2 } from '../../lambdas/core/agent/ec2-ports';
import { CopyQuotaExceededError } from '../../lambdas/core/errors';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryEc2World } from '../../sim/memory-ec2';
import { emulatorEndpoint } from '../support/emulator';
import { createKey, Ec2Accounts, type Ec2Account, REGION, shareImage, shareSnapshot } from './support/ec2';

const endpoint = emulatorEndpoint();
const accounts = new Ec2Accounts(endpoint);
const agentClients: EC2Client[] = [];
afterAll(() => {
  accounts.destroy();
  for (const client of agentClients.splice(0)) client.destroy();
});

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SNAPSHOT_ID = /^snap-[0-9a-f]{8,17}$/;
const IMAGE_ID = /^ami-[0-9a-f]{8,17}$/;
const MISSING_SNAPSHOT = 'snap-0123456789abcdef0';
const MISSING_IMAGE = 'ami-0123456789abcdef0';

interface VolumeSpec {
  /** `default`: encrypted under the account's `aws/ebs` key; `none`: unencrypted; else a key ARN. */
  readonly key: 'default' | 'none' | string;
  readonly sizeGiB?: number;
  readonly tags?: Record<string, string>;
}

/** One source account behind the port, with the setup the cases need, on either implementation. */
interface Harness {
  readonly port: SourceEc2;
  readonly account: string;
  /** The account the cases share with. */
  readonly backup: string;
  /** What time the service's clock reads now, in epoch milliseconds. */
  now(): number;
  /** A new customer-managed key of the source account. */
  key(): Promise<string>;
  volume(spec: VolumeSpec): Promise<string>;
  deleteVolume(volumeId: string): Promise<void>;
  snapshot(volumeId: string, tags?: Record<string, string>): Promise<string>;
  image(name: string, snapshotIds: readonly string[], tags?: Record<string, string>): Promise<string>;
  /** Another account's snapshot and image (backed by one snapshot), shared with the source account. */
  foreign(): Promise<{ snapshotId: string; imageId: string }>;
  /** Until every copy started so far has finished. */
  settle(): Promise<void>;
}

const tagList = (tags: Record<string, string> = {}) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

async function emulatorVolume(owner: Ec2Account, spec: VolumeSpec): Promise<string> {
  const { VolumeId } = await owner.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: `${owner.region}a`,
      Size: spec.sizeGiB ?? 8,
      Encrypted: spec.key !== 'none',
      ...(spec.key === 'none' || spec.key === 'default' ? {} : { KmsKeyId: spec.key }),
      ...(spec.tags ? { TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(spec.tags) }] } : {}),
    }),
  );
  if (!VolumeId) throw new Error('CreateVolume returned no id');
  return VolumeId;
}

async function emulatorSnapshot(owner: Ec2Account, volumeId: string, tags?: Record<string, string>): Promise<string> {
  const { SnapshotId } = await owner.ec2.send(
    new CreateSnapshotCommand({
      VolumeId: volumeId,
      ...(tags ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(tags) }] } : {}),
    }),
  );
  if (!SnapshotId) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

async function emulatorImage(
  owner: Ec2Account,
  name: string,
  snapshotIds: readonly string[],
  tags?: Record<string, string>,
): Promise<string> {
  const { ImageId } = await owner.ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      Architecture: 'x86_64',
      BlockDeviceMappings: snapshotIds.map((SnapshotId, i) => ({
        DeviceName: `/dev/xvd${String.fromCharCode(97 + i)}`,
        Ebs: { SnapshotId },
      })),
      ...(tags ? { TagSpecifications: [{ ResourceType: 'image', Tags: tagList(tags) }] } : {}),
    }),
  );
  if (!ImageId) throw new Error('RegisterImage returned no id');
  return ImageId;
}

/** The SDK adapter as the agent's role (`bunker-source-agent-eu-west-1`) in a fresh account; setup through the account's own clients. */
async function emulatorHarness(): Promise<Harness> {
  const source = accounts.account();
  const backup = accounts.account();
  const other = accounts.account();
  const context = await localContext(endpoint, source.id, REGION, 'bunker-source-agent-eu-west-1');
  const client = new EC2Client(clientConfig(context));
  agentClients.push(client);
  return {
    port: new AgentEc2(client, { region: REGION, account: source.id }),
    account: source.id,
    backup: backup.id,
    now: () => Date.now(),
    key: () => createKey(source),
    volume: (spec) => emulatorVolume(source, spec),
    deleteVolume: async (volumeId) => {
      await source.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    },
    snapshot: (volumeId, tags) => emulatorSnapshot(source, volumeId, tags),
    image: (name, snapshotIds, tags) => emulatorImage(source, name, snapshotIds, tags),
    foreign: async () => {
      const snapshotId = await emulatorSnapshot(other, await emulatorVolume(other, { key: await createKey(other) }));
      const imageId = await emulatorImage(other, 'other-server', [snapshotId]);
      await shareSnapshot(other, snapshotId, source.id);
      await shareImage(other, imageId, source.id);
      return { snapshotId, imageId };
    },
    // The emulator completes every copy at once.
    settle: async () => undefined,
  };
}

/** The double in a world of its own, its clock at 2026-03-01T04:30:00Z. */
function memoryHarness(): Harness {
  const SOURCE = '222222222222';
  const BACKUP = '111111111111';
  const OTHER = '333333333333';
  const clock = new ManualClock('2026-03-01T04:30:00.000Z');
  const world = new MemoryEc2World({ clock });
  let keys = 0;
  const volume = (account: string, spec: VolumeSpec) =>
    world.addVolume(account, REGION, {
      encrypted: spec.key !== 'none',
      ...(spec.key === 'none' || spec.key === 'default' ? {} : { kmsKeyId: spec.key }),
      sizeGiB: spec.sizeGiB ?? 8,
      tags: spec.tags ?? {},
    });
  return {
    port: world.sourceEc2(SOURCE, REGION),
    account: SOURCE,
    backup: BACKUP,
    now: () => clock.epochMs,
    key: async () => world.createKey(SOURCE, REGION, `contract-${(keys += 1)}`),
    volume: async (spec) => volume(SOURCE, spec),
    deleteVolume: async (volumeId) => world.removeVolume(SOURCE, REGION, volumeId),
    snapshot: async (volumeId, tags) => world.addSnapshot(SOURCE, REGION, { volumeId, tags }).id,
    image: async (name, snapshotIds, tags) => world.addImage(SOURCE, REGION, { name, snapshotIds, tags }).id,
    foreign: async () => {
      const otherKey = world.createKey(OTHER, REGION, 'other-data', [SOURCE]);
      const snapshot = world.addSnapshot(OTHER, REGION, { volumeId: volume(OTHER, { key: otherKey }) });
      const image = world.addImage(OTHER, REGION, { name: 'other-server', snapshotIds: [snapshot.id] });
      await world.sourceEc2(OTHER, REGION).shareSnapshot(snapshot.id, SOURCE);
      await world.sourceEc2(OTHER, REGION).shareImage(image.id, SOURCE);
      return { snapshotId: snapshot.id, imageId: image.id };
    },
    settle: async () => {
      clock.advance(3_600_000);
    },
  };
}

/** What a port call threw, for assertions on it. */
async function failureOf(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** A copy's tags as the agent sets them, for the cases. */
const COPY_TAGS = { 'bunker:intermediate': 'true', 'bunker:copy-name': 'bunker-share-contract', team: 'payments' };

describe.each([
  ['memory double', memoryHarness],
  ['SDK adapter on the emulator (bunker moto launcher)', emulatorHarness],
] as const)('SourceEc2 contract: %s', (_name, harness) => {
  describe('snapshots', () => {
    it('describes an own snapshot with its volume, state, key, start time, size and tags', async () => {
      const h = await harness();
      const key = await h.key();
      const volumeId = await h.volume({ key, sizeGiB: 20, tags: { app: 'orders' } });
      const snapshotId = await h.snapshot(volumeId, { backup: 'daily', team: 'payments' });

      const snapshot = await h.port.describeSnapshot(snapshotId);

      expect(snapshot).toEqual({
        id: snapshotId,
        volumeId,
        state: 'completed',
        encrypted: true,
        kmsKeyId: key,
        startTime: expect.stringMatching(ISO),
        sizeGiB: 20,
        tags: { backup: 'daily', team: 'payments' },
      });
      expect(Math.abs(Date.parse(snapshot?.startTime ?? '') - h.now())).toBeLessThan(60_000);
      expect(snapshotId).toMatch(SNAPSHOT_ID);
    });

    it('reports a snapshot of a volume encrypted by default under the account’s own aws/ebs key, and an unencrypted one without a key', async () => {
      const h = await harness();
      const byDefault = await h.snapshot(await h.volume({ key: 'default' }));
      const plain = await h.snapshot(await h.volume({ key: 'none' }));

      const [defaultKeyed, unencrypted] = [
        await h.port.describeSnapshot(byDefault),
        await h.port.describeSnapshot(plain),
      ];

      expect(defaultKeyed).toMatchObject({
        encrypted: true,
        kmsKeyId: expect.stringMatching(new RegExp(`^arn:aws:kms:eu-west-1:${h.account}:key/`)),
      });
      expect(unencrypted?.encrypted).toBe(false);
      expect(unencrypted).not.toHaveProperty('kmsKeyId');
    });

    it('answers undefined for a snapshot that does not exist, and for another account’s even when shared with this one', async () => {
      const h = await harness();
      const { snapshotId } = await h.foreign();

      expect(await h.port.describeSnapshot(MISSING_SNAPSHOT)).toBeUndefined();
      expect(await h.port.describeSnapshot(snapshotId)).toBeUndefined();
    });

    it('lists the account’s own snapshots only, all or those carrying a tag', async () => {
      const h = await harness();
      const volumeId = await h.volume({ key: 'default' });
      const tagged = await h.snapshot(volumeId, { 'bunker:intermediate': 'true' });
      const untagged = await h.snapshot(volumeId, { 'bunker:intermediate': 'false' });
      await h.foreign();

      const all = await h.port.listSnapshots();
      const filtered = await h.port.listSnapshots({ key: 'bunker:intermediate', value: 'true' });

      expect(all.map((s) => s.id).sort()).toEqual([tagged, untagged].sort());
      expect(filtered.map((s) => s.id)).toEqual([tagged]);
    });

    it('reads a volume’s tags, and undefined once the volume is deleted or for one that never existed', async () => {
      const h = await harness();
      const volumeId = await h.volume({ key: 'default', tags: { backup: 'daily', Name: 'orders-data' } });

      const before = await h.port.volumeTags(volumeId);
      await h.deleteVolume(volumeId);

      expect(before).toEqual({ backup: 'daily', Name: 'orders-data' });
      expect(await h.port.volumeTags(volumeId)).toBeUndefined();
      expect(await h.port.volumeTags('vol-0123456789abcdef0')).toBeUndefined();
    });

    it.each([
      ['under the default aws/ebs key', 'default'],
      ['unencrypted', 'none'],
      ['under a customer-managed key', 'own'],
    ] as const)(
      'copies a snapshot %s into a new one encrypted under the requested key, carrying exactly the requested tags',
      async (_label, keying) => {
        const h = await harness();
        const shareKey = await h.key();
        const volumeId = await h.volume({ key: keying === 'own' ? await h.key() : keying, sizeGiB: 12 });
        const sourceId = await h.snapshot(volumeId, { backup: 'daily' });

        const copyId = await h.port.copySnapshot({
          sourceId,
          kmsKeyArn: shareKey,
          description: 'Bunker intermediate',
          tags: COPY_TAGS,
        });
        await h.settle();

        expect(copyId).toMatch(SNAPSHOT_ID);
        expect(copyId).not.toBe(sourceId);
        expect(await h.port.describeSnapshot(copyId)).toMatchObject({
          id: copyId,
          state: 'completed',
          encrypted: true,
          kmsKeyId: shareKey,
          sizeGiB: 12,
          tags: COPY_TAGS,
        });
        // The agent finds its copy by the name tag, since EC2 assigns the id.
        const named = await h.port.listSnapshots({ key: 'bunker:copy-name', value: 'bunker-share-contract' });
        expect(named.map((s) => s.id)).toEqual([copyId]);
        // The source is left as it was.
        expect(await h.port.describeSnapshot(sourceId)).toMatchObject({ tags: { backup: 'daily' } });
      },
    );

    it('makes a new snapshot at every CopySnapshot: it has no idempotency token', async () => {
      const h = await harness();
      const shareKey = await h.key();
      const sourceId = await h.snapshot(await h.volume({ key: 'default' }));
      const request = { sourceId, kmsKeyArn: shareKey, description: 'Bunker intermediate', tags: COPY_TAGS };

      const first = await h.port.copySnapshot(request);
      const second = await h.port.copySnapshot(request);

      expect(second).not.toBe(first);
      const named = await h.port.listSnapshots({ key: 'bunker:copy-name', value: 'bunker-share-contract' });
      expect(named.map((s) => s.id).sort()).toEqual([first, second].sort());
    });

    it('refuses to copy a snapshot that does not exist, as not found and not as a quota', async () => {
      const h = await harness();
      const shareKey = await h.key();

      const error = await failureOf(
        h.port.copySnapshot({ sourceId: MISSING_SNAPSHOT, kmsKeyArn: shareKey, description: 'x', tags: COPY_TAGS }),
      );

      expect(error).not.toBeInstanceOf(CopyQuotaExceededError);
      expect(classifyAwsError(error)).toBe('not-found');
    });

    it('shares a snapshot with one account: its createVolumePermission names that account, once', async () => {
      const h = await harness();
      const snapshotId = await h.snapshot(await h.volume({ key: await h.key() }));

      const before = await h.port.snapshotSharedWith(snapshotId);
      await h.port.shareSnapshot(snapshotId, h.backup);
      await h.port.shareSnapshot(snapshotId, h.backup);

      expect(before).toEqual([]);
      expect(await h.port.snapshotSharedWith(snapshotId)).toEqual([h.backup]);
    });

    it('throws not found when asked who a missing snapshot is shared with', async () => {
      const h = await harness();

      expect(classifyAwsError(await failureOf(h.port.snapshotSharedWith(MISSING_SNAPSHOT)))).toBe('not-found');
    });

    it('deletes a snapshot, and deleting it again is success', async () => {
      const h = await harness();
      const snapshotId = await h.snapshot(await h.volume({ key: 'default' }));

      await h.port.deleteSnapshot(snapshotId);
      await h.port.deleteSnapshot(snapshotId);

      expect(await h.port.describeSnapshot(snapshotId)).toBeUndefined();
    });

    it('adds tags to a snapshot and keeps its other tags', async () => {
      const h = await harness();
      const snapshotId = await h.snapshot(await h.volume({ key: 'default' }), { backup: 'daily' });

      await h.port.tag(snapshotId, { 'bunker:notified-at': '2026-03-01T04:40:00.000Z' });

      expect((await h.port.describeSnapshot(snapshotId))?.tags).toEqual({
        backup: 'daily',
        'bunker:notified-at': '2026-03-01T04:40:00.000Z',
      });
    });
  });

  describe('images', () => {
    /** `orders-server` backed by an 8 GiB root snapshot under aws/ebs and a 20 GiB unencrypted data snapshot. */
    async function ordersServer(h: Harness, tags: Record<string, string> = { backup: 'daily' }) {
      const root = await h.snapshot(await h.volume({ key: 'default' }));
      const data = await h.snapshot(await h.volume({ key: 'none', sizeGiB: 20 }));
      const imageId = await h.image('orders-server', [root, data], tags);
      return { imageId, root, data };
    }

    const imageCopy = (sourceId: string, shareKey: string) => ({
      sourceId,
      name: `bunker-share-${sourceId}`,
      clientToken: `token-${sourceId}`,
      kmsKeyArn: shareKey,
      description: 'Bunker intermediate',
      imageTags: { 'bunker:intermediate': 'true', 'bunker:source-image': sourceId, backup: 'daily' },
      snapshotTags: { 'bunker:intermediate': 'true', 'bunker:source-image': sourceId },
    });

    it('describes an own image with its name, state, creation date, backing snapshots in order, size and tags', async () => {
      const h = await harness();
      const { imageId, root, data } = await ordersServer(h, { backup: 'daily', Name: 'orders' });

      const image = await h.port.describeImage(imageId);

      expect(image).toEqual({
        id: imageId,
        name: 'orders-server',
        state: 'available',
        createdAt: expect.stringMatching(ISO),
        snapshotIds: [root, data],
        sizeGiB: 28,
        tags: { backup: 'daily', Name: 'orders' },
      });
      expect(Math.abs(Date.parse(image?.createdAt ?? '') - h.now())).toBeLessThan(60_000);
      expect(imageId).toMatch(IMAGE_ID);
    });

    it('sizes an image by the sum of its two volumes, in a listing and on its copy as in a describe', async () => {
      const h = await harness();
      const shareKey = await h.key();
      const { imageId } = await ordersServer(h);
      const root = await h.snapshot(await h.volume({ key: 'default', sizeGiB: 30 }));
      const billing = await h.image('billing-server', [root]);

      const copyId = await h.port.copyImage(imageCopy(imageId, shareKey));
      await h.settle();

      const listed = new Map((await h.port.listImages()).map((i) => [i.id, i.sizeGiB]));
      expect(listed).toEqual(
        new Map([
          [imageId, 28],
          [billing, 30],
          [copyId, 28],
        ]),
      );
      expect((await h.port.describeImage(copyId))?.sizeGiB).toBe(28);
    });

    it('answers undefined for an image that does not exist, once deregistered, and for another account’s even when shared with this one', async () => {
      const h = await harness();
      const { imageId } = await ordersServer(h);
      const foreign = await h.foreign();

      await h.port.deregisterImage(imageId);
      await h.port.deregisterImage(imageId);

      expect(await h.port.describeImage(MISSING_IMAGE)).toBeUndefined();
      expect(await h.port.describeImage(imageId)).toBeUndefined();
      expect(await h.port.describeImage(foreign.imageId)).toBeUndefined();
      expect(await h.port.listImages()).toEqual([]);
    });

    it('lists the account’s own registered images, all or those carrying a tag, and finds one by name', async () => {
      const h = await harness();
      const { imageId: tagged } = await ordersServer(h, { 'bunker:intermediate': 'true' });
      const root = await h.snapshot(await h.volume({ key: 'default' }));
      const untagged = await h.image('billing-server', [root]);
      await h.foreign();

      const all = await h.port.listImages();
      const filtered = await h.port.listImages({ key: 'bunker:intermediate', value: 'true' });

      expect(all.map((i) => i.id).sort()).toEqual([tagged, untagged].sort());
      expect(filtered.map((i) => i.id)).toEqual([tagged]);
      expect((await h.port.imageByName('billing-server'))?.id).toBe(untagged);
      expect(await h.port.imageByName('no-such-server')).toBeUndefined();
    });

    it('copies an image under the requested key: every backing snapshot re-encrypted under it and tagged, the image tagged', async () => {
      const h = await harness();
      const shareKey = await h.key();
      const { imageId, root, data } = await ordersServer(h);
      const request = imageCopy(imageId, shareKey);

      const copyId = await h.port.copyImage(request);
      await h.settle();

      expect(copyId).toMatch(IMAGE_ID);
      const copy = await h.port.describeImage(copyId);
      expect(copy).toMatchObject({ id: copyId, name: request.name, state: 'available', tags: request.imageTags });
      expect(copy?.snapshotIds).toHaveLength(2);
      expect(copy?.snapshotIds).not.toContain(root);
      expect(copy?.snapshotIds).not.toContain(data);
      const storage = await Promise.all((copy?.snapshotIds ?? []).map((id) => h.port.describeSnapshot(id)));
      expect(storage).toEqual([
        expect.objectContaining({ state: 'completed', encrypted: true, kmsKeyId: shareKey, sizeGiB: 8 }),
        expect.objectContaining({ state: 'completed', encrypted: true, kmsKeyId: shareKey, sizeGiB: 20 }),
      ]);
      for (const snapshot of storage) expect(snapshot?.tags).toEqual(request.snapshotTags);
      expect((await h.port.imageByName(request.name))?.id).toBe(copyId);
      // The source image and its snapshots are left as they were.
      expect((await h.port.describeImage(imageId))?.snapshotIds).toEqual([root, data]);
    });

    it('answers the first copy for a repeated client token, making no second image', async () => {
      const h = await harness();
      const shareKey = await h.key();
      const { imageId } = await ordersServer(h);

      const first = await h.port.copyImage(imageCopy(imageId, shareKey));
      const second = await h.port.copyImage(imageCopy(imageId, shareKey));

      expect(second).toBe(first);
      expect((await h.port.listImages()).map((i) => i.id).sort()).toEqual([imageId, first].sort());
    });

    it('shares an image with one account: its launchPermission names that account, once', async () => {
      const h = await harness();
      const { imageId } = await ordersServer(h);

      const before = await h.port.imageSharedWith(imageId);
      await h.port.shareImage(imageId, h.backup);
      await h.port.shareImage(imageId, h.backup);

      expect(before).toEqual([]);
      expect(await h.port.imageSharedWith(imageId)).toEqual([h.backup]);
    });

    it('refuses to delete a snapshot that backs a registered image, and deletes it once the image is deregistered', async () => {
      const h = await harness();
      const { imageId, root } = await ordersServer(h);

      const refused = await failureOf(h.port.deleteSnapshot(root));
      await h.port.deregisterImage(imageId);
      await h.port.deleteSnapshot(root);

      expect(refused).toMatchObject({ name: 'InvalidSnapshot.InUse' });
      expect(await h.port.describeSnapshot(root)).toBeUndefined();
    });

    it('adds tags to an image and keeps its other tags', async () => {
      const h = await harness();
      const { imageId } = await ordersServer(h);

      await h.port.tag(imageId, { 'bunker:notified-at': '2026-03-01T04:40:00.000Z' });

      expect((await h.port.describeImage(imageId))?.tags).toEqual({
        backup: 'daily',
        'bunker:notified-at': '2026-03-01T04:40:00.000Z',
      });
    });
  });
});
