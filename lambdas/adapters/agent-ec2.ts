/**
 * The source agent's EC2 in a production account: its own EBS snapshots,
 * volumes and AMIs in one Region, behind the {@link SourceEc2} port. (The
 * vault's side of these kinds is `lambdas/kinds/{ebs-snapshot,ami}/copier.ts`.)
 */
import {
  CopyImageCommand,
  CopySnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  type EC2Client,
  type Filter,
  type Image,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  paginateDescribeImages,
  paginateDescribeSnapshots,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import type {
  Ec2Image,
  Ec2Snapshot,
  ImageCopyRequest,
  SnapshotCopyRequest,
  SourceEc2,
  TagFilter,
} from '../core/agent/ec2-ports';
import { CopyQuotaExceededError } from '../core/errors';
import { classifyAwsError, describeAwsError } from './aws-errors';
import { describeSnapshot, orUndefined, snapshotSharedWith, volumeTags } from './ec2-common';
import { tagList, tagsOf } from './reader-role';

/** What EC2 reports as the volume of a copied snapshot: no volume at all. */
const NO_VOLUME = 'vol-ffffffff';

/** An SDK snapshot in the port's words; the `vol-ffffffff` of a copy becomes no volume. */
export function toEc2Snapshot(s: Snapshot): Ec2Snapshot {
  return {
    id: s.SnapshotId ?? '',
    ...(s.VolumeId && s.VolumeId !== NO_VOLUME ? { volumeId: s.VolumeId } : {}),
    state: s.State ?? 'unknown',
    encrypted: s.Encrypted === true,
    ...(s.KmsKeyId ? { kmsKeyId: s.KmsKeyId } : {}),
    ...(s.StartTime ? { startTime: s.StartTime.toISOString() } : {}),
    ...(s.VolumeSize !== undefined ? { sizeGiB: s.VolumeSize } : {}),
    tags: tagsOf(s.Tags),
  };
}

/**
 * An SDK image in the port's words: its backing snapshots in block device
 * mapping order, and its size, the sum of its EBS volumes' sizes, from the
 * same mappings (no request of its own). Instance-store devices have no
 * `Ebs` and count nothing; no EBS volume size at all is no size.
 */
export function toEc2Image(i: Image): Ec2Image {
  const created = i.CreationDate ? Date.parse(i.CreationDate) : Number.NaN;
  const ebs = (i.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs ? [m.Ebs] : []));
  const sizes = ebs.map((e) => e.VolumeSize).filter((size): size is number => size !== undefined);
  return {
    id: i.ImageId ?? '',
    name: i.Name ?? '',
    state: i.State ?? 'unknown',
    ...(Number.isNaN(created) ? {} : { createdAt: new Date(created).toISOString() }),
    snapshotIds: ebs.map((e) => e.SnapshotId).filter((id): id is string => Boolean(id)),
    ...(sizes.length > 0 ? { sizeGiB: sizes.reduce((sum, size) => sum + size, 0) } : {}),
    tags: tagsOf(i.Tags),
  };
}

const tagFilters = (tag: TagFilter | undefined): Filter[] =>
  tag ? [{ Name: `tag:${tag.key}`, Values: [tag.value] }] : [];

/** Quotas and throttling as back-pressure; everything else as AWS gave it. */
function copyFailure(error: unknown): unknown {
  const { class: kind, code, message } = describeAwsError(error);
  if (kind === 'quota' || kind === 'throttled')
    return new CopyQuotaExceededError(`${code}: ${message}`, { cause: error });
  return error;
}

/** Where an {@link AgentEc2} works: the client's Region and the account its credentials act in. */
export interface AgentEc2Location {
  readonly region: string;
  readonly account: string;
}

/** The source agent's own EC2 in its account and Region. */
export class AgentEc2 implements SourceEc2 {
  private readonly region: string;
  private readonly account: string;

  constructor(
    private readonly client: EC2Client,
    location: AgentEc2Location,
  ) {
    this.region = location.region;
    this.account = location.account;
  }

  async describeSnapshot(snapshotId: string): Promise<Ec2Snapshot | undefined> {
    const found = await describeSnapshot(this.client, snapshotId, 'self');
    return found ? toEc2Snapshot(found) : undefined;
  }

  async listSnapshots(tag?: TagFilter): Promise<Ec2Snapshot[]> {
    const snapshots: Ec2Snapshot[] = [];
    const input = { OwnerIds: ['self'], ...(tag ? { Filters: tagFilters(tag) } : {}) };
    for await (const page of paginateDescribeSnapshots({ client: this.client }, input)) {
      for (const s of page.Snapshots ?? []) snapshots.push(toEc2Snapshot(s));
    }
    return snapshots;
  }

  volumeTags(volumeId: string): Promise<Record<string, string> | undefined> {
    return volumeTags(this.client, volumeId);
  }

  async copySnapshot(request: SnapshotCopyRequest): Promise<string> {
    try {
      const { SnapshotId } = await this.client.send(
        new CopySnapshotCommand({
          SourceSnapshotId: request.sourceId,
          SourceRegion: this.region,
          Encrypted: true,
          KmsKeyId: request.kmsKeyArn,
          Description: request.description,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(request.tags) }],
        }),
      );
      if (!SnapshotId) throw new Error(`CopySnapshot of ${request.sourceId} answered no snapshot id`);
      return SnapshotId;
    } catch (error) {
      throw copyFailure(error);
    }
  }

  snapshotSharedWith(snapshotId: string): Promise<string[]> {
    return snapshotSharedWith(this.client, snapshotId);
  }

  async shareSnapshot(snapshotId: string, account: string): Promise<void> {
    await this.client.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Add: [{ UserId: account }] },
      }),
    );
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    await orUndefined(this.client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })));
  }

  async describeImage(imageId: string): Promise<Ec2Image | undefined> {
    const answer = await orUndefined(
      this.client.send(new DescribeImagesCommand({ ImageIds: [imageId], Owners: ['self'] })),
    );
    // Owned by this account as EC2 reports it: an image only shared with it is not the agent's to copy.
    const image = answer?.Images?.find((i) => i.ImageId === imageId && i.OwnerId === this.account);
    return image ? toEc2Image(image) : undefined;
  }

  async listImages(tag?: TagFilter): Promise<Ec2Image[]> {
    return this.images(tagFilters(tag));
  }

  async imageByName(name: string): Promise<Ec2Image | undefined> {
    return (await this.images([{ Name: 'name', Values: [name] }]))[0];
  }

  private async images(filters: Filter[]): Promise<Ec2Image[]> {
    const images: Ec2Image[] = [];
    const input = { Owners: ['self'], ...(filters.length > 0 ? { Filters: filters } : {}) };
    for await (const page of paginateDescribeImages({ client: this.client }, input)) {
      for (const i of page.Images ?? []) images.push(toEc2Image(i));
    }
    return images;
  }

  async copyImage(request: ImageCopyRequest): Promise<string> {
    try {
      const { ImageId } = await this.client.send(
        new CopyImageCommand({
          SourceImageId: request.sourceId,
          SourceRegion: this.region,
          Name: request.name,
          Description: request.description,
          ClientToken: request.clientToken,
          Encrypted: true,
          KmsKeyId: request.kmsKeyArn,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tagList(request.imageTags) },
            { ResourceType: 'snapshot', Tags: tagList(request.snapshotTags) },
          ],
        }),
      );
      if (!ImageId) throw new Error(`CopyImage of ${request.sourceId} answered no image id`);
      return ImageId;
    } catch (error) {
      // The name is taken: by the copy a lost response or another agent already made.
      if (classifyAwsError(error) === 'exists') {
        const existing = await this.imageByName(request.name);
        if (existing) return existing.id;
      }
      throw copyFailure(error);
    }
  }

  async imageSharedWith(imageId: string): Promise<string[]> {
    const { LaunchPermissions } = await this.client.send(
      new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }),
    );
    return (LaunchPermissions ?? []).map((p) => p.UserId).filter((id): id is string => Boolean(id));
  }

  async shareImage(imageId: string, account: string): Promise<void> {
    await this.client.send(
      new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: account }] } }),
    );
  }

  async deregisterImage(imageId: string): Promise<void> {
    await orUndefined(this.client.send(new DeregisterImageCommand({ ImageId: imageId })));
  }

  async tag(resourceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.client.send(new CreateTagsCommand({ Resources: [resourceId], Tags: tagList(tags) }));
  }
}
