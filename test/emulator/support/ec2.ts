/**
 * Fixtures for the EC2 copiers on the emulator: accounts acting through
 * their own SDK clients (real STS AssumeRole, independent of the copiers),
 * KMS keys, encrypted volumes and their snapshots, registered images, and
 * the sharing a source account does for the backup account.
 *
 * Cross-account EBS snapshots and AMIs, and the keys they are under, rely on
 * Bunker's launcher extension of the emulator (tools/moto/bunker_moto.py).
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Image,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { localContext } from '../../../cli/local/accounts';
import { AmiCopier } from '../../../lambdas/kinds/ami/copier';
import { EbsSnapshotCopier } from '../../../lambdas/kinds/ebs-snapshot/copier';
import type { ArtifactRef, CopyRequest } from '../../../lambdas/kinds/types';
import { clientConfig, DEFAULT_TEST_REGION, freshAccountId } from '../../support/aws';

export const REGION = DEFAULT_TEST_REGION;
export const OTHER_REGION = 'eu-central-1';

/** The vault's prefix and the role its intake Lambda runs as: the reader role is `bunker-reader`. */
export const PREFIX = 'bunker';
export const VAULT_ROLE = 'bunker-intake';
export const PARTITION = 'aws';

/** One account in one Region, with its own EC2 and KMS clients. */
export interface Ec2Account {
  readonly id: string;
  readonly region: string;
  readonly ec2: EC2Client;
  readonly kms: KMSClient;
}

/** SDK clients acting as one account each, destroyed together. */
export class Ec2Accounts {
  private readonly clients: { destroy(): void }[] = [];

  constructor(readonly endpoint: string) {}

  /** An account (a fresh one unless `id` is given) in `region`. */
  account(id = freshAccountId(), region = REGION): Ec2Account {
    const config = clientConfig(this.endpoint, id, region);
    const ec2 = new EC2Client(config);
    const kms = new KMSClient(config);
    this.clients.push(ec2, kms);
    return { id, region, ec2, kms };
  }

  /** The same account in another Region. */
  inRegion(of: Ec2Account, region: string): Ec2Account {
    return this.account(of.id, region);
  }

  destroy(): void {
    for (const client of this.clients.splice(0)) client.destroy();
  }
}

/**
 * The real copiers of the backup account, as the vault builds them: the
 * backup account's credentials (STS AssumeRole into `bunker-intake`), prefix
 * `bunker`, partition `aws`. Sources are read through each source account's
 * `bunker-reader` role, which the emulator does not require to exist.
 */
export async function vaultCopiers(
  endpoint: string,
  backup: string,
  region = REGION,
): Promise<{ ebs: EbsSnapshotCopier; ami: AmiCopier }> {
  const context = await localContext(endpoint, backup, region, VAULT_ROLE);
  return { ebs: new EbsSnapshotCopier(context, PREFIX, PARTITION), ami: new AmiCopier(context, PREFIX, PARTITION) };
}

export function ebsRef(source: Ec2Account, id: string): ArtifactRef {
  return { kind: 'ebs-snapshot', partition: PARTITION, account: source.id, region: source.region, id };
}

export function amiRef(source: Ec2Account, id: string): ArtifactRef {
  return { kind: 'ami', partition: PARTITION, account: source.id, region: source.region, id };
}

/** The tags the pipeline gives a copy (`copyTags()` in lambdas/core/pipeline/copy.ts), written out. */
export function copyTagsOf(ref: ArtifactRef, targetName: string, resource: string): Record<string, string> {
  return {
    'bunker:managed-by': 'bunker',
    'bunker:kind': ref.kind,
    'bunker:source-account': ref.account,
    'bunker:source-region': ref.region,
    'bunker:source-id': ref.id,
    'bunker:copy-name': targetName,
    'bunker:source-resource': resource,
  };
}

export async function createKey(owner: Ec2Account): Promise<string> {
  const { KeyMetadata } = await owner.kms.send(new CreateKeyCommand({ Description: 'bunker ec2 copier test key' }));
  if (KeyMetadata?.Arn === undefined) throw new Error('CreateKey returned no key ARN');
  return KeyMetadata.Arn;
}

const tagList = (tags: Readonly<Record<string, string>>) =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export interface SnapshotSpec {
  /** The volume's key; a new key of the owner when not given. */
  readonly key?: string;
  readonly sizeGiB?: number;
  readonly volumeTags?: Readonly<Record<string, string>>;
  readonly snapshotTags?: Readonly<Record<string, string>>;
}

/** A new volume encrypted under a key of the owner, and a snapshot of it (complete at once on the emulator). */
export async function encryptedSnapshot(
  owner: Ec2Account,
  spec: SnapshotSpec = {},
): Promise<{ snapshotId: string; volumeId: string; key: string }> {
  const key = spec.key ?? (await createKey(owner));
  const { VolumeId } = await owner.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: `${owner.region}a`,
      Size: spec.sizeGiB ?? 8,
      Encrypted: true,
      KmsKeyId: key,
      ...(spec.volumeTags ? { TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(spec.volumeTags) }] } : {}),
    }),
  );
  if (VolumeId === undefined) throw new Error('CreateVolume returned no id');
  const { SnapshotId } = await owner.ec2.send(
    new CreateSnapshotCommand({
      VolumeId,
      Description: 'orders data',
      ...(spec.snapshotTags
        ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(spec.snapshotTags) }] }
        : {}),
    }),
  );
  if (SnapshotId === undefined) throw new Error('CreateSnapshot returned no id');
  return { snapshotId: SnapshotId, volumeId: VolumeId, key };
}

/** The owner adds `withAccount` to the snapshot's createVolumePermission. */
export async function shareSnapshot(owner: Ec2Account, snapshotId: string, withAccount: string): Promise<void> {
  await owner.ec2.send(
    new ModifySnapshotAttributeCommand({
      SnapshotId: snapshotId,
      Attribute: 'createVolumePermission',
      CreateVolumePermission: { Add: [{ UserId: withAccount }] },
    }),
  );
}

/** The owner adds `withAccount` to the image's launchPermission. */
export async function shareImage(owner: Ec2Account, imageId: string, withAccount: string): Promise<void> {
  await owner.ec2.send(
    new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: withAccount }] } }),
  );
}

/**
 * `orders-server`, tagged `app=orders`, registered from two snapshots under
 * one new key of the owner: an 8 GiB root volume and a 20 GiB data volume.
 */
export async function sourceImage(
  owner: Ec2Account,
): Promise<{ imageId: string; root: string; data: string; key: string }> {
  const key = await createKey(owner);
  const { snapshotId: root } = await encryptedSnapshot(owner, { key, sizeGiB: 8 });
  const { snapshotId: data } = await encryptedSnapshot(owner, { key, sizeGiB: 20 });
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

/** An image and its backing snapshots shared with `withAccount`. */
export async function shareImageAndStorage(
  owner: Ec2Account,
  image: { imageId: string; root: string; data: string },
  withAccount: string,
): Promise<void> {
  await shareImage(owner, image.imageId, withAccount);
  await shareSnapshot(owner, image.root, withAccount);
  await shareSnapshot(owner, image.data, withAccount);
}

/** The account's own snapshots, as it reads them itself. */
export async function ownSnapshots(of: Ec2Account): Promise<Snapshot[]> {
  const { Snapshots } = await of.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return Snapshots ?? [];
}

/** The account's own images, as it reads them itself. */
export async function ownImages(of: Ec2Account): Promise<Image[]> {
  const { Images } = await of.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
  return Images ?? [];
}

/** `{Key, Value}` lists as a record. */
export function tagRecord(list: readonly { Key?: string; Value?: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

/** The snapshot ids of an image's EBS block devices, in mapping order. */
export function backingSnapshotIds(image: Image | undefined): string[] {
  return (image?.BlockDeviceMappings ?? []).map((mapping) => {
    const snapshotId = mapping.Ebs?.SnapshotId;
    if (snapshotId === undefined) throw new Error('a block device mapping without a snapshot');
    return snapshotId;
  });
}

/**
 * The request the intake Lambda makes for a first copy of `ref` into
 * {@link REGION}: the shared source by its ARN and id, under the backup
 * account's key.
 */
export function firstCopyRequest(
  kind: { arn(ref: ArtifactRef): string },
  ref: ArtifactRef,
  targetName: string,
  kmsKeyArn: string,
  tags: Readonly<Record<string, string>>,
): CopyRequest {
  return {
    ref,
    sourceArn: kind.arn(ref),
    sourceId: ref.id,
    sourceRegion: ref.region,
    targetName,
    targetRegion: REGION,
    kmsKeyArn,
    tags,
  };
}
