/**
 * The SDK side of AMIs. CopyImage is idempotent by its client token, and an
 * AMI name is unique per account and Region, so the deterministic name
 * serves both; the copy and its new backing snapshots are tagged with their
 * source through TagSpecifications, and encrypted under the backup-data key.
 */
import {
  CopyImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  EC2Client,
  EnableImageDeregistrationProtectionCommand,
  type Image,
  paginateDescribeImages,
} from '@aws-sdk/client-ec2';
import type { AwsContext } from '../../adapters/aws-context';
import {
  BackupEc2Clients,
  childOf,
  copyError,
  describeSnapshot,
  ec2State,
  orUndefined,
  snapshotSharedWith,
} from '../../adapters/ec2-common';
import { ReaderRoleClients, tagList, tagsOf } from '../../adapters/reader-role';
import { hash, INTERMEDIATE_PREFIX } from '../shared';
import { TAG_INTERMEDIATE_OF, TAG_SOURCE_CREATED_AT } from '../../core/rds-source-agent';
import type {
  ArtifactCopier,
  ArtifactRef,
  ChildView,
  CopyLocation,
  CopyProtection,
  CopyRequest,
  CopyStarted,
  CopyView,
  ProtectedCopy,
  SourceView,
} from '../types';
import { chunks, lockSnapshotOnce, OWNERS_PER_LISTING } from '../ebs-snapshot/copier';
import { ami } from './kind';

/** The EBS snapshots an image boots from, in mapping order. */
const backingSnapshots = (image: Image): string[] =>
  (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((id): id is string => Boolean(id));

export class AmiCopier implements ArtifactCopier {
  readonly kind = 'ami' as const;
  private readonly reader: ReaderRoleClients<EC2Client>;
  private readonly backup: BackupEc2Clients;

  constructor(
    context: AwsContext,
    prefix: string,
    private readonly partition: string,
  ) {
    this.reader = new ReaderRoleClients(context, prefix, partition, (config) => new EC2Client(config));
    this.backup = new BackupEc2Clients(context);
  }

  async describeSource(ref: ArtifactRef): Promise<SourceView | undefined> {
    const client = this.reader.clientFor(ref.account, ref.region);
    const answer = await orUndefined(
      client.send(new DescribeImagesCommand({ ImageIds: [ref.id], Owners: [ref.account] })),
    );
    // Owned by the named account, as EC2 reports it: an image shared with that account does not count.
    const image = answer?.Images?.find((i) => i.ImageId === ref.id && i.OwnerId === ref.account);
    if (!image) return undefined;
    const { LaunchPermissions } = await client.send(
      new DescribeImageAttributeCommand({ ImageId: ref.id, Attribute: 'launchPermission' }),
    );
    const children: ChildView[] = [];
    for (const id of backingSnapshots(image)) {
      const snapshot = await describeSnapshot(client, id, ref.account);
      children.push(
        snapshot ? childOf(snapshot, await snapshotSharedWith(client, id)) : { id, encrypted: false, sharedWith: [] },
      );
    }
    const tags = tagsOf(image.Tags);
    const productionId = tags[TAG_INTERMEDIATE_OF];
    const tagged = tags[TAG_SOURCE_CREATED_AT];
    return {
      ref,
      arn: ami.arn(ref),
      ownerAccount: image.OwnerId ?? '',
      state: ec2State(image.State),
      detail: image.State ?? 'unknown',
      encrypted: children.length > 0 && children.every((child) => child.encrypted),
      sharedWith: (LaunchPermissions ?? []).map((p) => p.UserId).filter((id): id is string => Boolean(id)),
      producedAt: tagged && !Number.isNaN(Date.parse(tagged)) ? new Date(tagged).toISOString() : image.CreationDate,
      resourceId: image.Name,
      productionId,
      scopeIds: [ref.id, productionId].filter((id): id is string => Boolean(id)),
      scopeTags: tags,
      children,
    };
  }

  /**
   * One paginated listing, as the backup account: the images the
   * `accounts` let it launch in `region`, their owners as one `owner-id`
   * filter ({@link OWNERS_PER_LISTING} a request), kept to the agent's
   * intermediates by their `bunker-share-` name (an image's name is visible
   * to the accounts it is shared with; its tags are not).
   */
  async listShared(region: string, accounts: readonly string[]): Promise<ArtifactRef[]> {
    const wanted = new Set(accounts);
    const refs: ArtifactRef[] = [];
    for (const owners of chunks([...wanted], OWNERS_PER_LISTING)) {
      const pages = paginateDescribeImages(
        { client: this.backup.clientFor(region) },
        { ExecutableUsers: ['self'], Filters: [{ Name: 'owner-id', Values: owners }], MaxResults: 1000 },
      );
      for await (const page of pages) {
        for (const image of page.Images ?? []) {
          if (!image.ImageId || !image.OwnerId || !wanted.has(image.OwnerId)) continue;
          if (!image.Name?.startsWith(`${INTERMEDIATE_PREFIX}-`)) continue;
          refs.push({ kind: 'ami', partition: this.partition, account: image.OwnerId, region, id: image.ImageId });
        }
      }
    }
    return refs;
  }

  async copy(request: CopyRequest): Promise<CopyStarted> {
    // A repeated client token answers the first copy's id as if it were new: look for the name first.
    const existing = await this.describeCopy({ targetName: request.targetName, region: request.targetRegion });
    if (existing) return { outcome: 'exists', targetId: existing.targetId };
    try {
      const { ImageId } = await this.backup.clientFor(request.targetRegion).send(
        new CopyImageCommand({
          SourceImageId: request.sourceId,
          SourceRegion: request.sourceRegion,
          Name: request.targetName,
          Description: `Bunker copy of ${request.ref.id} from ${request.ref.account}`,
          // The same name gives the same token: a retried request returns the first copy.
          ClientToken: hash(request.targetName, 64),
          Encrypted: true,
          KmsKeyId: request.kmsKeyArn,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tagList(request.tags) },
            { ResourceType: 'snapshot', Tags: tagList(request.tags) },
          ],
        }),
      );
      return { outcome: 'started', targetId: ImageId };
    } catch (error) {
      if ((error as { name?: string })?.name === 'InvalidAMIName.Duplicate') {
        const existing = await this.describeCopy({ targetName: request.targetName, region: request.targetRegion });
        return { outcome: 'exists', targetId: existing?.targetId };
      }
      throw copyError('EC2', error);
    }
  }

  async describeCopy(location: CopyLocation): Promise<CopyView | undefined> {
    const client = this.backup.clientFor(location.region);
    const answer = location.targetId?.startsWith('ami-')
      ? await orUndefined(client.send(new DescribeImagesCommand({ ImageIds: [location.targetId], Owners: ['self'] })))
      : await client.send(
          new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [location.targetName] }] }),
        );
    const image = answer?.Images?.[0];
    if (!image?.ImageId) return undefined;
    const children: ChildView[] = [];
    for (const id of backingSnapshots(image)) {
      const snapshot = await describeSnapshot(client, id, 'self');
      children.push(snapshot ? childOf(snapshot) : { id, encrypted: false });
    }
    return {
      targetId: image.ImageId,
      arn: ami.arn({ partition: this.partition, account: '', region: location.region, id: image.ImageId }),
      region: location.region,
      state: ec2State(image.State),
      detail: image.State ?? 'unknown',
      encrypted: children.length > 0 && children.every((child) => child.encrypted),
      tags: tagsOf(image.Tags),
      children,
    };
  }

  /**
   * Deregistration protection with cooldown (disabling it leaves the image
   * protected 24 hours more, time for the alarm to be read), and a snapshot
   * lock on every backing snapshot, so that even an image deregistered after
   * its protection was lifted leaves its data until the retention ends.
   * Enabling protection again is harmless; the locks are kept if present.
   */
  async protect(copy: CopyView, protection: CopyProtection): Promise<ProtectedCopy> {
    const children = copy.children ?? [];
    if (children.length === 0) throw new Error(`image ${copy.targetId} has no backing snapshot to lock`);
    const client = this.backup.clientFor(copy.region);
    await client.send(new EnableImageDeregistrationProtectionCommand({ ImageId: copy.targetId, WithCooldown: true }));
    const locks: ProtectedCopy[] = [];
    for (const child of children) locks.push(await lockSnapshotOnce(client, child.id, protection));
    const earliest = locks.reduce((a, b) => (a.lockedUntil <= b.lockedUntil ? a : b));
    return { lockedUntil: earliest.lockedUntil, lock: `${earliest.lock}+deregistration-protection` };
  }
}

export const amiCopier = (context: AwsContext, prefix: string, partition: string) =>
  new AmiCopier(context, prefix, partition);
