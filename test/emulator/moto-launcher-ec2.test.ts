/**
 * Cross-account EBS snapshots and AMIs on the emulator, and the encryption
 * facts Bunker reads from them. Plain moto looks `snap-`/`ami-` ids up only
 * in the caller's own account and drops or invents keys and snapshots: these
 * tests exercise Bunker's launcher extension (tools/moto/bunker_moto.py), so
 * a failure here is a launcher problem, not a Bunker one. Each test uses
 * fresh accounts on the shared emulator.
 */
import {
  CopyImageCommand,
  type CopyImageCommandInput,
  CopySnapshotCommand,
  type CopySnapshotCommandInput,
  CreateImageCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  type DescribeSnapshotsCommandInput,
  EC2Client,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';

const REGION = 'eu-west-1';
const OTHER_REGION = 'eu-central-1';
const COPY_TAGS = [
  { Key: 'bunker:source-account', Value: 'set-by-test' },
  { Key: 'bunker:kind', Value: 'ebs' },
];

const clients: { destroy(): void }[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

interface Account {
  id: string;
  ec2: EC2Client;
  kms: KMSClient;
}

/** One account's EC2 and KMS clients in `region`, as that account (real STS AssumeRole). */
function account(id = freshAccountId(), region = REGION): Account {
  const config = clientConfig(emulatorEndpoint(), id, region);
  const ec2 = new EC2Client(config);
  const kms = new KMSClient(config);
  clients.push(ec2, kms);
  return { id, ec2, kms };
}

/** The same account in another Region. */
function inRegion(of: Account, region: string): Account {
  return account(of.id, region);
}

async function createKey(kms: KMSClient): Promise<string> {
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'bunker test key' }));
  if (KeyMetadata?.Arn === undefined) throw new Error('CreateKey returned no key ARN');
  return KeyMetadata.Arn;
}

/** A snapshot of a new volume of `size` GiB encrypted under `key`. */
async function snapshotUnder(owner: Account, key: string, size = 8, region = REGION): Promise<string> {
  const { VolumeId } = await owner.ec2.send(
    new CreateVolumeCommand({ AvailabilityZone: `${region}a`, Size: size, Encrypted: true, KmsKeyId: key }),
  );
  const { SnapshotId } = await owner.ec2.send(new CreateSnapshotCommand({ VolumeId, Description: 'orders data' }));
  if (SnapshotId === undefined) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

/** A volume encrypted under a new key of the account and a snapshot of it. */
async function encryptedSnapshot(owner: Account, region = REGION): Promise<{ snapshotId: string; volumeKey: string }> {
  const volumeKey = await createKey(owner.kms);
  return { snapshotId: await snapshotUnder(owner, volumeKey, 8, region), volumeKey };
}

function shareSnapshot(owner: Account, snapshotId: string, withAccount: string): Promise<unknown> {
  return owner.ec2.send(
    new ModifySnapshotAttributeCommand({
      SnapshotId: snapshotId,
      Attribute: 'createVolumePermission',
      CreateVolumePermission: { Add: [{ UserId: withAccount }] },
    }),
  );
}

/** CopySnapshot as `ec2`'s account, into `ec2`'s Region; returns the copy's id. */
async function copySnapshot(ec2: EC2Client, input: CopySnapshotCommandInput): Promise<string> {
  const { SnapshotId } = await ec2.send(new CopySnapshotCommand(input));
  if (SnapshotId === undefined) throw new Error('CopySnapshot returned no id');
  return SnapshotId;
}

async function describeSnapshot(ec2: EC2Client, snapshotId: string) {
  const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
  expect(Snapshots).toHaveLength(1);
  return Snapshots?.[0];
}

async function ownSnapshotIds(ec2: EC2Client): Promise<(string | undefined)[]> {
  const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return (Snapshots ?? []).map((s) => s.SnapshotId);
}

const SNAPSHOT_NOT_FOUND = { name: 'InvalidSnapshot.NotFound' };

describe('EBS snapshots (bunker moto launcher)', () => {
  it('keeps the volume key on a snapshot of an encrypted volume (bunker moto launcher)', async () => {
    const owner = account();
    const { snapshotId, volumeKey } = await encryptedSnapshot(owner);

    expect(await describeSnapshot(owner.ec2, snapshotId)).toMatchObject({
      SnapshotId: snapshotId,
      OwnerId: owner.id,
      Encrypted: true,
      KmsKeyId: volumeKey,
    });
  });

  it('copies a shared snapshot into the copier account under its key (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const { snapshotId, volumeKey } = await encryptedSnapshot(source);
    const backupKey = await createKey(backup.kms);
    await shareSnapshot(source, snapshotId, backup.id);

    const copyId = await copySnapshot(backup.ec2, {
      SourceSnapshotId: snapshotId,
      SourceRegion: REGION,
      Encrypted: true,
      KmsKeyId: backupKey,
      TagSpecifications: [{ ResourceType: 'snapshot', Tags: COPY_TAGS }],
    });

    // Read back from the backup account: the copy is its own, under its key.
    expect(await describeSnapshot(backup.ec2, copyId)).toMatchObject({
      SnapshotId: copyId,
      OwnerId: backup.id,
      Encrypted: true,
      KmsKeyId: backupKey,
      Tags: COPY_TAGS,
    });
    expect(await ownSnapshotIds(backup.ec2)).toEqual([copyId]);
    // The source account does not see the copy; its snapshot is untouched.
    await expect(describeSnapshot(source.ec2, copyId)).rejects.toMatchObject(SNAPSHOT_NOT_FOUND);
    expect(await describeSnapshot(source.ec2, snapshotId)).toMatchObject({ OwnerId: source.id, KmsKeyId: volumeKey });
  });

  it('refuses to copy a snapshot that was not shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const other = account();
    const { snapshotId } = await encryptedSnapshot(source);
    const backupKey = await createKey(backup.kms);
    const copy = (id: string): Promise<string> =>
      copySnapshot(backup.ec2, { SourceSnapshotId: id, SourceRegion: REGION, Encrypted: true, KmsKeyId: backupKey });

    await expect(copy(snapshotId)).rejects.toMatchObject(SNAPSHOT_NOT_FOUND);
    // Shared with a third account only: still not the backup account's to copy.
    await shareSnapshot(source, snapshotId, other.id);
    await expect(copy(snapshotId)).rejects.toMatchObject(SNAPSHOT_NOT_FOUND);
    // The same answer as for a snapshot that does not exist at all.
    const refused = await copy(snapshotId).catch((error: unknown) => error);
    const missing = await copy('snap-0123456789abcdef0').catch((error: unknown) => error);
    expect(refused).toMatchObject(SNAPSHOT_NOT_FOUND);
    expect(missing).toMatchObject(SNAPSHOT_NOT_FOUND);
    expect((refused as Error).message).toBe((missing as Error).message);

    expect(await ownSnapshotIds(backup.ec2)).toEqual([]);
  });

  it('describes another account snapshot by id only when shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const { snapshotId, volumeKey } = await encryptedSnapshot(source);

    await expect(describeSnapshot(backup.ec2, snapshotId)).rejects.toMatchObject(SNAPSHOT_NOT_FOUND);
    const { Snapshots: beforeShare } = await backup.ec2.send(
      new DescribeSnapshotsCommand({ RestorableByUserIds: ['self'] }),
    );
    expect(beforeShare).toEqual([]);

    await shareSnapshot(source, snapshotId, backup.id);

    expect(await describeSnapshot(backup.ec2, snapshotId)).toMatchObject({
      SnapshotId: snapshotId,
      OwnerId: source.id,
      Encrypted: true,
      KmsKeyId: volumeKey,
    });
    const listed = async (input: DescribeSnapshotsCommandInput) =>
      ((await backup.ec2.send(new DescribeSnapshotsCommand(input))).Snapshots ?? []).map((s) => s.SnapshotId);
    expect(await listed({ RestorableByUserIds: ['self'] })).toEqual([snapshotId]);
    expect(await listed({ RestorableByUserIds: [backup.id] })).toEqual([snapshotId]);
    expect(await listed({ OwnerIds: [source.id] })).toEqual([snapshotId]);
    expect(await listed({ OwnerIds: ['self'] })).toEqual([]);
    expect(await listed({ Filters: [{ Name: 'owner-id', Values: [source.id] }] })).toEqual([snapshotId]);

    // The owner reads who may use the snapshot.
    const { CreateVolumePermissions } = await source.ec2.send(
      new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }),
    );
    expect(CreateVolumePermissions).toEqual([{ UserId: backup.id }]);
  });

  it('copies a shared snapshot from another Region (bunker moto launcher)', async () => {
    const source = account(freshAccountId(), OTHER_REGION);
    const backup = account();
    const { snapshotId } = await encryptedSnapshot(source, OTHER_REGION);
    const backupKey = await createKey(backup.kms);
    await shareSnapshot(source, snapshotId, backup.id);

    // The client's Region (eu-west-1) is the destination.
    const copyId = await copySnapshot(backup.ec2, {
      SourceSnapshotId: snapshotId,
      SourceRegion: OTHER_REGION,
      Encrypted: true,
      KmsKeyId: backupKey,
    });

    expect(await describeSnapshot(backup.ec2, copyId)).toMatchObject({
      OwnerId: backup.id,
      Encrypted: true,
      KmsKeyId: backupKey,
      Description: `[Copied ${snapshotId} from ${OTHER_REGION}]`,
    });
    // Nothing landed in the backup account's source Region.
    expect(await ownSnapshotIds(inRegion(backup, OTHER_REGION).ec2)).toEqual([]);
    // A snapshot id names a snapshot in its own Region only.
    await expect(describeSnapshot(backup.ec2, snapshotId)).rejects.toMatchObject(SNAPSHOT_NOT_FOUND);
  });

  it('copies an own snapshot, keeping its key unless told otherwise (bunker moto launcher)', async () => {
    const owner = account();
    const { snapshotId, volumeKey } = await encryptedSnapshot(owner);
    const otherKey = await createKey(owner.kms);

    const sameKeyCopy = await copySnapshot(owner.ec2, { SourceSnapshotId: snapshotId, SourceRegion: REGION });
    const otherKeyCopy = await copySnapshot(owner.ec2, {
      SourceSnapshotId: snapshotId,
      SourceRegion: REGION,
      Encrypted: true,
      KmsKeyId: otherKey,
    });

    expect(await describeSnapshot(owner.ec2, sameKeyCopy)).toMatchObject({
      OwnerId: owner.id,
      Encrypted: true,
      KmsKeyId: volumeKey,
    });
    expect(await describeSnapshot(owner.ec2, otherKeyCopy)).toMatchObject({
      OwnerId: owner.id,
      Encrypted: true,
      KmsKeyId: otherKey,
    });
    // AWS wants Encrypted with a KmsKeyId.
    await expect(
      copySnapshot(owner.ec2, { SourceSnapshotId: snapshotId, SourceRegion: REGION, KmsKeyId: otherKey }),
    ).rejects.toMatchObject({ name: 'InvalidParameterDependency' });
  });

  it('encrypts a copy of a shared snapshot under the default EBS key when no key is given (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const { snapshotId } = await encryptedSnapshot(source);
    await shareSnapshot(source, snapshotId, backup.id);

    const copyId = await copySnapshot(backup.ec2, { SourceSnapshotId: snapshotId, SourceRegion: REGION });

    const { KeyMetadata } = await backup.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' }));
    expect(KeyMetadata?.Arn).toMatch(new RegExp(`^arn:aws:kms:${REGION}:${backup.id}:key/`));
    expect(await describeSnapshot(backup.ec2, copyId)).toMatchObject({
      OwnerId: backup.id,
      Encrypted: true,
      KmsKeyId: KeyMetadata?.Arn,
    });
  });
});

/**
 * An image registered from two snapshots encrypted under a new key of the
 * owner: an 8 GiB root volume and a 20 GiB gp3 data volume.
 */
async function sourceImage(owner: Account): Promise<{ imageId: string; root: string; data: string; key: string }> {
  const key = await createKey(owner.kms);
  const root = await snapshotUnder(owner, key, 8);
  const data = await snapshotUnder(owner, key, 20);
  const { ImageId } = await owner.ec2.send(
    new RegisterImageCommand({
      Name: 'orders-server',
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      Architecture: 'x86_64',
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: root } },
        { DeviceName: '/dev/xvdb', Ebs: { SnapshotId: data, VolumeType: 'gp3' } },
      ],
      TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'app', Value: 'orders' }] }],
    }),
  );
  if (ImageId === undefined) throw new Error('RegisterImage returned no id');
  return { imageId: ImageId, root, data, key };
}

function shareImage(owner: Account, imageId: string, withAccount: string): Promise<unknown> {
  return owner.ec2.send(
    new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: withAccount }] } }),
  );
}

/** CopyImage as `ec2`'s account, into `ec2`'s Region; returns the new image id. */
async function copyImage(ec2: EC2Client, input: CopyImageCommandInput): Promise<string> {
  const { ImageId } = await ec2.send(new CopyImageCommand(input));
  if (ImageId === undefined) throw new Error('CopyImage returned no id');
  return ImageId;
}

async function describeImage(ec2: EC2Client, imageId: string) {
  const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  expect(Images).toHaveLength(1);
  return Images?.[0];
}

async function ownImageIds(ec2: EC2Client): Promise<(string | undefined)[]> {
  const { Images } = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
  return (Images ?? []).map((i) => i.ImageId);
}

/** The snapshot ids of an image's EBS block devices, in mapping order. */
function backingSnapshotIds(
  image: { BlockDeviceMappings?: { Ebs?: { SnapshotId?: string } }[] } | undefined,
): string[] {
  return (image?.BlockDeviceMappings ?? []).map((mapping) => {
    const snapshotId = mapping.Ebs?.SnapshotId;
    if (snapshotId === undefined) throw new Error('a block device mapping without a snapshot');
    return snapshotId;
  });
}

const IMAGE_NOT_FOUND = { name: 'InvalidAMIID.NotFound' };

describe('AMIs (bunker moto launcher)', () => {
  it('registers an image backed by the given snapshots (bunker moto launcher)', async () => {
    const owner = account();
    const { imageId, root, data } = await sourceImage(owner);

    expect(await describeImage(owner.ec2, imageId)).toMatchObject({
      ImageId: imageId,
      OwnerId: owner.id,
      Name: 'orders-server',
      RootDeviceName: '/dev/xvda',
      RootDeviceType: 'ebs',
      Tags: [{ Key: 'app', Value: 'orders' }],
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/xvda',
          Ebs: { SnapshotId: root, VolumeSize: 8, VolumeType: 'gp2', DeleteOnTermination: true, Encrypted: true },
        },
        {
          DeviceName: '/dev/xvdb',
          Ebs: { SnapshotId: data, VolumeSize: 20, VolumeType: 'gp3', DeleteOnTermination: true, Encrypted: true },
        },
      ],
    });
    // No other snapshot was made for the image.
    expect((await ownSnapshotIds(owner.ec2)).sort()).toEqual([root, data].sort());
  });

  it('creates an image from an instance with snapshots of its volumes under their key (bunker moto launcher)', async () => {
    const owner = account();
    const { imageId: launchImage } = await sourceImage(owner);
    const volumeKey = await createKey(owner.kms);
    const { Instances } = await owner.ec2.send(
      new RunInstancesCommand({
        ImageId: launchImage,
        MinCount: 1,
        MaxCount: 1,
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 10, Encrypted: true, KmsKeyId: volumeKey } },
        ],
      }),
    );

    const instanceId = Instances?.[0]?.InstanceId;
    if (instanceId === undefined) throw new Error('RunInstances returned no instance');

    const { ImageId } = await owner.ec2.send(
      new CreateImageCommand({ InstanceId: instanceId, Name: 'orders-server-image' }),
    );
    if (ImageId === undefined) throw new Error('CreateImage returned no id');

    const image = await describeImage(owner.ec2, ImageId);
    expect(image?.BlockDeviceMappings).toEqual([
      {
        DeviceName: '/dev/xvda',
        Ebs: expect.objectContaining({ VolumeSize: 10, Encrypted: true }),
      },
    ]);
    const [snapshotId] = backingSnapshotIds(image);
    expect(await describeSnapshot(owner.ec2, snapshotId ?? '')).toMatchObject({
      OwnerId: owner.id,
      Encrypted: true,
      KmsKeyId: volumeKey,
      Description: `Created by CreateImage(${instanceId}) for ${ImageId}`,
    });
  });

  it('copies a shared image with shared snapshots under the copier key (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const { imageId, root, data, key: sourceKey } = await sourceImage(source);
    const backupKey = await createKey(backup.kms);
    await shareImage(source, imageId, backup.id);
    await shareSnapshot(source, root, backup.id);
    await shareSnapshot(source, data, backup.id);
    const input: CopyImageCommandInput = {
      SourceImageId: imageId,
      SourceRegion: REGION,
      Name: 'orders-server-backup',
      Encrypted: true,
      KmsKeyId: backupKey,
      ClientToken: 'bunker-copy-1',
      TagSpecifications: [
        { ResourceType: 'image', Tags: COPY_TAGS },
        { ResourceType: 'snapshot', Tags: COPY_TAGS },
      ],
    };

    const copyId = await copyImage(backup.ec2, input);

    // Read back from the backup account: its own image, backed by its own
    // copies of the snapshots, encrypted under its key.
    const copy = await describeImage(backup.ec2, copyId);
    expect(copy).toMatchObject({
      ImageId: copyId,
      OwnerId: backup.id,
      Name: 'orders-server-backup',
      SourceImageId: imageId,
      SourceImageRegion: REGION,
      Tags: COPY_TAGS,
    });
    const copiedSnapshots = backingSnapshotIds(copy);
    expect(copiedSnapshots).toHaveLength(2);
    expect(copiedSnapshots).not.toContain(root);
    expect(copiedSnapshots).not.toContain(data);
    const { Snapshots } = await backup.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: copiedSnapshots }));
    const facts = (Snapshots ?? []).map((s) => [s.OwnerId, s.Encrypted, s.KmsKeyId, s.VolumeSize]);
    expect(facts.sort((a, b) => Number(a[3]) - Number(b[3]))).toEqual([
      [backup.id, true, backupKey, 8],
      [backup.id, true, backupKey, 20],
    ]);
    expect(Snapshots?.map((s) => s.Tags)).toEqual([COPY_TAGS, COPY_TAGS]);
    expect(await ownImageIds(backup.ec2)).toEqual([copyId]);
    expect((await ownSnapshotIds(backup.ec2)).sort()).toEqual([...copiedSnapshots].sort());
    // The source's snapshots keep their key.
    expect(await describeSnapshot(source.ec2, root)).toMatchObject({ OwnerId: source.id, KmsKeyId: sourceKey });

    // The same ClientToken is the same copy.
    expect(await copyImage(backup.ec2, input)).toBe(copyId);
    expect(await ownImageIds(backup.ec2)).toEqual([copyId]);
  });

  it('refuses to copy an image that was not shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const other = account();
    const { imageId, root, data } = await sourceImage(source);
    const backupKey = await createKey(backup.kms);
    // The snapshots alone are shared: not enough.
    await shareSnapshot(source, root, backup.id);
    await shareSnapshot(source, data, backup.id);
    const copy = (): Promise<string> =>
      copyImage(backup.ec2, {
        SourceImageId: imageId,
        SourceRegion: REGION,
        Name: 'orders-server-backup',
        Encrypted: true,
        KmsKeyId: backupKey,
      });

    await expect(copy()).rejects.toMatchObject(IMAGE_NOT_FOUND);
    await shareImage(source, imageId, other.id);
    await expect(copy()).rejects.toMatchObject(IMAGE_NOT_FOUND);

    expect(await ownImageIds(backup.ec2)).toEqual([]);
  });

  it('refuses to copy a shared image whose snapshots are not all shared, naming them (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const { imageId, root, data } = await sourceImage(source);
    const backupKey = await createKey(backup.kms);
    await shareImage(source, imageId, backup.id);
    await shareSnapshot(source, root, backup.id);

    const refused = await copyImage(backup.ec2, {
      SourceImageId: imageId,
      SourceRegion: REGION,
      Name: 'orders-server-backup',
      Encrypted: true,
      KmsKeyId: backupKey,
    }).catch((error: unknown) => error);

    expect(refused).toMatchObject({ name: 'InvalidRequest' });
    const { message } = refused as Error;
    expect(message).toMatch(/^You do not have permission to access the storage of this ami/);
    expect(message).toContain(data);
    expect(message).not.toContain(root);
    expect(await ownImageIds(backup.ec2)).toEqual([]);
    expect(await ownSnapshotIds(backup.ec2)).toEqual([]);
  });

  it('describes another account image by id only when shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const { imageId, root } = await sourceImage(source);
    const sharedWithBackup = async (): Promise<(string | undefined)[]> => {
      const { Images } = await backup.ec2.send(
        new DescribeImagesCommand({ ExecutableUsers: ['self'], Owners: [source.id] }),
      );
      return (Images ?? []).map((i) => i.ImageId);
    };

    await expect(describeImage(backup.ec2, imageId)).rejects.toMatchObject(IMAGE_NOT_FOUND);
    expect(await sharedWithBackup()).toEqual([]);

    await shareImage(source, imageId, backup.id);

    const image = await describeImage(backup.ec2, imageId);
    expect(image).toMatchObject({ ImageId: imageId, OwnerId: source.id, Name: 'orders-server' });
    expect(backingSnapshotIds(image)[0]).toBe(root);
    expect(await sharedWithBackup()).toEqual([imageId]);
    expect(await ownImageIds(backup.ec2)).toEqual([]);
    // The owner reads who may launch the image.
    const { LaunchPermissions } = await source.ec2.send(
      new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }),
    );
    expect(LaunchPermissions).toEqual([{ UserId: backup.id }]);
  });
});
