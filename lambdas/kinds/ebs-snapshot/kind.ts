/**
 * EBS snapshots. In scope by a tag on the volume or the snapshot, or by a
 * list of volume or snapshot ids. The source agent re-keys a snapshot under
 * the default `aws/ebs` key (or unencrypted) under the share key before it
 * shares it; the vault copies with CopySnapshot, encrypted under the
 * backup-data key. EC2 assigns the copy's id, so its deterministic name is
 * the `bunker:copy-name` tag, set atomically by CopySnapshot's TagSpecifications.
 */
import { COPY_PREFIX, field, hash, PARTITION, REGION_PATTERN, readableSource, uniqueKey } from '../shared';
import type { Kind } from '../types';

const ID = /^snap-[0-9a-f]{8,17}$/;
const ARN = new RegExp(`^arn:${PARTITION}:ec2:${REGION_PATTERN}:(\\d{12})?:snapshot/(snap-[0-9a-f]{8,17})$`);

/** The snapshot id at the end of an EC2 snapshot ARN (events write `arn:aws:ec2::<region>:snapshot/snap-…`). */
export function snapshotIdOfArn(arn: string | undefined): string | undefined {
  return arn ? /snapshot\/(snap-[0-9a-f]{8,17})$/.exec(arn)?.[1] : undefined;
}

export const ebsSnapshot: Kind = {
  name: 'ebs-snapshot',
  configKey: 'ebs',
  label: 'EBS snapshot',
  resourceLabel: 'volume',
  defaultCopyLimit: 20,
  isId: (id) => ID.test(id),
  arn: (ref) => `arn:${ref.partition}:ec2:${ref.region}::snapshot/${ref.id}`,
  parseArn(arn, account) {
    const match = ARN.exec(arn);
    const owner = match?.[3] || account;
    if (!match || !owner) return undefined;
    return { kind: 'ebs-snapshot', partition: match[1], region: match[2], account: owner, id: match[4] };
  },
  targetName: (ref, generation) => `${COPY_PREFIX}-${readableSource(ref)}-${hash(uniqueKey(ref, generation), 10)}`,
  copyEventTarget(detailType, detail) {
    if (detailType !== 'EBS Snapshot Notification' || field(detail, 'event') !== 'copySnapshot') return undefined;
    return snapshotIdOfArn(field(detail, 'snapshot_id'));
  },
  finishedCopyEvent: (targetId, region, partition) => ({
    source: 'aws.ec2',
    detailType: 'EBS Snapshot Notification',
    detail: {
      event: 'copySnapshot',
      result: 'succeeded',
      snapshot_id: `arn:${partition}:ec2::${region}:snapshot/${targetId}`,
    },
  }),
  infra: {
    service: 'ec2',
    copyEvents: { source: 'aws.ec2', detailType: 'EBS Snapshot Notification', detail: { event: ['copySnapshot'] } },
    readerActions: [
      'ec2:DescribeSnapshots',
      'ec2:DescribeSnapshotAttribute',
      'ec2:DescribeVolumes',
      'ec2:DescribeTags',
    ],
    vaultCopyActions: ['ec2:CopySnapshot', 'ec2:CreateTags', 'ec2:LockSnapshot'],
    vaultDescribeActions: ['ec2:DescribeSnapshots', 'ec2:DescribeLockedSnapshots'],
    vaultSourceActions: ['ec2:CopySnapshot'],
    sharedListingActions: ['ec2:DescribeSnapshots'],
    // EC2 snapshot ARNs carry no account: the copy's and the source's patterns are the same.
    vaultCopyArns: (partition, _account, region) => [`arn:${partition}:ec2:${region}::snapshot/*`],
    sourceArns: (partition, _account, region) => [`arn:${partition}:ec2:${region}::snapshot/*`],
  },
};
