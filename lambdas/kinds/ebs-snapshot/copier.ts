/**
 * The SDK side of EBS snapshots. CopySnapshot has no idempotency token, so
 * the copy's deterministic name is a `bunker:copy-name` tag set atomically
 * by TagSpecifications, and a copy is requested only after a look for one
 * with that name finds none (the claim already keeps two workers apart).
 */
import {
  CopySnapshotCommand,
  DescribeLockedSnapshotsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  LockSnapshotCommand,
  paginateDescribeSnapshots,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import type { AwsContext } from '../../adapters/aws-context';
import {
  BackupEc2Clients,
  copyError,
  describeSnapshot,
  ec2State,
  snapshotSharedWith,
  volumeTags,
} from '../../adapters/ec2-common';
import { ReaderRoleClients, tagList, tagsOf } from '../../adapters/reader-role';
import { TAG_SOURCE_VOLUME } from '../../core/agent/ec2-agent';
import { TAG_COPY_NAME } from '../../core/pipeline/copy';
import { TAG_INTERMEDIATE_OF, TAG_SOURCE_CREATED_AT } from '../../core/rds-source-agent';
import { INTERMEDIATE_DESCRIPTION } from '../shared';
import type {
  ArtifactCopier,
  ArtifactRef,
  CopyLocation,
  CopyProtection,
  CopyRequest,
  CopyStarted,
  CopyView,
  ProtectedCopy,
  SourceView,
} from '../types';
import { ebsSnapshot } from './kind';

/**
 * Values one EC2 Describe request takes in all its filters: more is refused
 * with `FilterLimitExceeded` ("The maximum number of filter values specified
 * on a single call is 200"), so the sweep's listings ask for the owners of a
 * Region 200 at a time.
 */
export const OWNERS_PER_LISTING = 200;

/** `items` in runs of `size`, in order; none for none. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}

export class EbsSnapshotCopier implements ArtifactCopier {
  readonly kind = 'ebs-snapshot' as const;
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
    // Owned by the named account, as EC2 reports it: a snapshot shared with that account does not count.
    const snapshot = await describeSnapshot(client, ref.id, ref.account);
    if (!snapshot) return undefined;
    const tags = tagsOf(snapshot.Tags);
    // An intermediate is a copy (EC2 reports `vol-ffffffff`): the source agent names the production volume.
    const volumeId =
      tags[TAG_SOURCE_VOLUME] ??
      (snapshot.VolumeId && snapshot.VolumeId !== 'vol-ffffffff' ? snapshot.VolumeId : undefined);
    const productionId = tags[TAG_INTERMEDIATE_OF];
    const tagged = tags[TAG_SOURCE_CREATED_AT];
    return {
      ref,
      arn: ebsSnapshot.arn(ref),
      ownerAccount: snapshot.OwnerId ?? '',
      state: ec2State(snapshot.State),
      detail: snapshot.State ?? 'unknown',
      encrypted: snapshot.Encrypted === true,
      keyArn: snapshot.KmsKeyId,
      sharedWith: await snapshotSharedWith(client, ref.id),
      producedAt:
        tagged && !Number.isNaN(Date.parse(tagged))
          ? new Date(tagged).toISOString()
          : snapshot.StartTime?.toISOString(),
      resourceId: volumeId,
      productionId,
      scopeIds: [volumeId, productionId, ref.id].filter((id): id is string => Boolean(id)),
      // Its own: an intermediate carries the agent's reading of the scope tag; the volume's are read on demand.
      scopeTags: tags,
      sizeGiB: snapshot.VolumeSize,
    };
  }

  /** In scope by a tag on the volume or on the snapshot: the volume's tags under the snapshot's own. */
  async resourceScopeTags(view: SourceView): Promise<Readonly<Record<string, string>>> {
    if (!view.resourceId) return view.scopeTags;
    const ofVolume = await volumeTags(this.reader.clientFor(view.ref.account, view.ref.region), view.resourceId);
    return { ...ofVolume, ...view.scopeTags };
  }

  /**
   * One paginated listing, as the backup account: the snapshots the
   * `accounts` let it restore in `region`, their owners as one `owner-id`
   * filter ({@link OWNERS_PER_LISTING} a request), kept to the agent's
   * intermediates by the description it writes.
   */
  async listShared(region: string, accounts: readonly string[]): Promise<ArtifactRef[]> {
    const wanted = new Set(accounts);
    const refs: ArtifactRef[] = [];
    for (const owners of chunks([...wanted], OWNERS_PER_LISTING)) {
      const pages = paginateDescribeSnapshots(
        { client: this.backup.clientFor(region) },
        { RestorableByUserIds: ['self'], Filters: [{ Name: 'owner-id', Values: owners }], MaxResults: 1000 },
      );
      for await (const page of pages) {
        for (const s of page.Snapshots ?? []) {
          if (!s.SnapshotId || !s.OwnerId || !wanted.has(s.OwnerId)) continue;
          if (!s.Description?.startsWith(INTERMEDIATE_DESCRIPTION)) continue;
          refs.push({ kind: 'ebs-snapshot', partition: this.partition, account: s.OwnerId, region, id: s.SnapshotId });
        }
      }
    }
    return refs;
  }

  async copy(request: CopyRequest): Promise<CopyStarted> {
    const existing = await this.describeCopy({ targetName: request.targetName, region: request.targetRegion });
    if (existing) return { outcome: 'exists', targetId: existing.targetId };
    try {
      const { SnapshotId } = await this.backup.clientFor(request.targetRegion).send(
        new CopySnapshotCommand({
          SourceSnapshotId: request.sourceId,
          SourceRegion: request.sourceRegion,
          Encrypted: true,
          KmsKeyId: request.kmsKeyArn,
          Description: `Bunker copy of ${request.ref.id} from ${request.ref.account}`,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(request.tags) }],
        }),
      );
      return { outcome: 'started', targetId: SnapshotId };
    } catch (error) {
      throw copyError('EC2', error);
    }
  }

  async describeCopy(location: CopyLocation): Promise<CopyView | undefined> {
    const client = this.backup.clientFor(location.region);
    let snapshot: Snapshot | undefined;
    if (location.targetId?.startsWith('snap-')) {
      snapshot = await describeSnapshot(client, location.targetId, 'self');
    } else {
      const { Snapshots } = await client.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [{ Name: `tag:${TAG_COPY_NAME}`, Values: [location.targetName] }],
        }),
      );
      snapshot = Snapshots?.[0];
    }
    if (!snapshot?.SnapshotId) return undefined;
    return {
      targetId: snapshot.SnapshotId,
      arn: ebsSnapshot.arn({
        partition: this.partition,
        account: '',
        region: location.region,
        id: snapshot.SnapshotId,
      }),
      region: location.region,
      state: ec2State(snapshot.State),
      detail: snapshot.State ?? 'unknown',
      encrypted: snapshot.Encrypted === true,
      keyArn: snapshot.KmsKeyId,
      sizeGiB: snapshot.VolumeSize,
      tags: tagsOf(snapshot.Tags),
    };
  }

  /** EBS snapshot lock for the kind's retention; the lock outlives any principal's DeleteSnapshot. */
  async protect(copy: CopyView, protection: CopyProtection): Promise<ProtectedCopy> {
    return lockSnapshotOnce(this.backup.clientFor(copy.region), copy.targetId, protection);
  }
}

/**
 * Locks one snapshot of the backup account for `protection.days`, unless a
 * lock that has not expired is there already: LockDuration counts from the
 * call, so locking again would push the end out on every retry.
 * AMI copies use it for their backing snapshots.
 */
export async function lockSnapshotOnce(
  client: EC2Client,
  snapshotId: string,
  protection: CopyProtection,
): Promise<ProtectedCopy> {
  const { Snapshots } = await client.send(new DescribeLockedSnapshotsCommand({ SnapshotIds: [snapshotId] }));
  const current = Snapshots?.find((s) => s.SnapshotId === snapshotId && s.LockState && s.LockState !== 'expired');
  if (current?.LockExpiresOn && current.LockState) {
    return { lockedUntil: current.LockExpiresOn.toISOString(), lock: current.LockState };
  }
  const locked = await client.send(
    new LockSnapshotCommand({
      SnapshotId: snapshotId,
      LockMode: protection.mode,
      LockDuration: protection.days,
      // A cool-off exists in compliance mode only; 0 means none.
      ...(protection.mode === 'compliance' && protection.coolOffHours > 0
        ? { CoolOffPeriod: protection.coolOffHours }
        : {}),
    }),
  );
  if (!locked.LockExpiresOn) throw new Error(`LockSnapshot of ${snapshotId} answered no expiry`);
  return { lockedUntil: locked.LockExpiresOn.toISOString(), lock: locked.LockState ?? protection.mode };
}

export const ebsSnapshotCopier = (context: AwsContext, prefix: string, partition: string) =>
  new EbsSnapshotCopier(context, prefix, partition);
