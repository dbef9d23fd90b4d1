/**
 * AMIs. The source agent shares the image and every backing snapshot; the
 * vault copies with CopyImage encrypted under the backup-data key, so every
 * backing snapshot of the copy is under that key. The copy's deterministic
 * name is its AMI name (unique per account and Region) and CopyImage's
 * client token.
 */
import { COPY_PREFIX, field, hash, PARTITION, REGION_PATTERN, readableSource, uniqueKey } from '../shared';
import type { Kind } from '../types';

const ID = /^ami-[0-9a-f]{8,17}$/;
const ARN = new RegExp(`^arn:${PARTITION}:ec2:${REGION_PATTERN}:(\\d{12})?:image/(ami-[0-9a-f]{8,17})$`);

export const ami: Kind = {
  name: 'ami',
  configKey: 'ami',
  label: 'AMI',
  resourceLabel: 'image',
  defaultCopyLimit: 100,
  isId: (id) => ID.test(id),
  arn: (ref) => `arn:${ref.partition}:ec2:${ref.region}::image/${ref.id}`,
  parseArn(arn, account) {
    const match = ARN.exec(arn);
    const owner = match?.[3] || account;
    if (!match || !owner) return undefined;
    return { kind: 'ami', partition: match[1], region: match[2], account: owner, id: match[4] };
  },
  targetName: (ref, generation) => `${COPY_PREFIX}-${readableSource(ref)}-${hash(uniqueKey(ref, generation), 10)}`,
  copyEventTarget(detailType, detail) {
    if (detailType !== 'EC2 AMI State Change') return undefined;
    return field(detail, 'ImageId');
  },
  finishedCopyEvent: (targetId) => ({
    source: 'aws.ec2',
    detailType: 'EC2 AMI State Change',
    detail: { ImageId: targetId, State: 'available' },
  }),
  infra: {
    service: 'ec2',
    copyEvents: { source: 'aws.ec2', detailType: 'EC2 AMI State Change', detail: { State: ['available', 'failed'] } },
    readerActions: [
      'ec2:DescribeImages',
      'ec2:DescribeImageAttribute',
      'ec2:DescribeSnapshots',
      'ec2:DescribeSnapshotAttribute',
      'ec2:DescribeTags',
    ],
    vaultCopyActions: [
      'ec2:CopyImage',
      'ec2:CreateTags',
      'ec2:EnableImageDeregistrationProtection',
      'ec2:LockSnapshot',
    ],
    vaultDescribeActions: ['ec2:DescribeImages', 'ec2:DescribeSnapshots', 'ec2:DescribeLockedSnapshots'],
    vaultSourceActions: ['ec2:CopyImage'],
    sharedListingActions: ['ec2:DescribeImages'],
    vaultCopyArns: (partition, _account, region) => [
      `arn:${partition}:ec2:${region}::image/*`,
      `arn:${partition}:ec2:${region}::snapshot/*`,
    ],
    sourceArns: (partition, _account, region) => [
      `arn:${partition}:ec2:${region}::image/*`,
      `arn:${partition}:ec2:${region}::snapshot/*`,
    ],
  },
};
