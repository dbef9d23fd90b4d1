/**
 * Aurora DB cluster snapshots. Like RDS instance snapshots: the source agent
 * re-keys into a `bunker-share-*` intermediate under the share key; the
 * vault copies with CopyDBClusterSnapshot, whose `KmsKeyId` is mandatory for
 * a shared encrypted snapshot.
 */
import {
  boundedRdsIdentifier,
  COPY_PREFIX,
  field,
  PARTITION,
  rdsIdentifierShapeOk,
  REGION_PATTERN,
  readableSource,
  uniqueKey,
} from '../shared';
import type { Kind } from '../types';

/** Cluster snapshot identifiers are at most 63 characters. */
const MAX_ID = 63;
const ID = /^[A-Za-z][A-Za-z0-9-]{0,62}$/;
const ARN = new RegExp(
  `^arn:${PARTITION}:rds:${REGION_PATTERN}:(\\d{12}):cluster-snapshot:([A-Za-z][A-Za-z0-9-]{0,62})$`,
);

export const auroraClusterSnapshot: Kind = {
  name: 'aurora-cluster-snapshot',
  configKey: 'aurora',
  label: 'Aurora DB cluster snapshot',
  resourceLabel: 'DB cluster',
  defaultCopyLimit: 5,
  isId: (id) => ID.test(id) && rdsIdentifierShapeOk(id),
  arn: (ref) => `arn:${ref.partition}:rds:${ref.region}:${ref.account}:cluster-snapshot:${ref.id}`,
  parseArn(arn) {
    const match = ARN.exec(arn);
    if (!match || !rdsIdentifierShapeOk(match[4])) return undefined;
    const [, partition, region, account, id] = match;
    return { kind: 'aurora-cluster-snapshot', partition, region, account, id };
  },
  targetName: (ref, generation) =>
    boundedRdsIdentifier(COPY_PREFIX, readableSource(ref), uniqueKey(ref, generation), MAX_ID),
  copyEventTarget(detailType, detail) {
    if (detailType !== 'RDS DB Cluster Snapshot Event') return undefined;
    return field(detail, 'SourceIdentifier');
  },
  finishedCopyEvent: (targetId) => ({
    source: 'aws.rds',
    detailType: 'RDS DB Cluster Snapshot Event',
    detail: { SourceIdentifier: targetId, Message: 'Finished copy of cluster snapshot' },
  }),
  infra: {
    service: 'rds',
    // Every event of a Bunker copy: completion re-reads the copy, so no event id list has to be exact.
    copyEvents: {
      source: 'aws.rds',
      detailType: 'RDS DB Cluster Snapshot Event',
      detail: { SourceIdentifier: [{ prefix: `${COPY_PREFIX}-` }] },
    },
    readerActions: [
      'rds:DescribeDBClusterSnapshots',
      'rds:DescribeDBClusterSnapshotAttributes',
      'rds:DescribeDBClusters',
      'rds:ListTagsForResource',
    ],
    vaultCopyActions: ['rds:CopyDBClusterSnapshot', 'rds:AddTagsToResource', 'rds:DescribeDBClusterSnapshots'],
    vaultDescribeActions: [],
    vaultSourceActions: ['rds:CopyDBClusterSnapshot'],
    sharedListingActions: ['rds:DescribeDBClusterSnapshots'],
    vaultCopyArns: (partition, account, region) => [
      `arn:${partition}:rds:${region}:${account}:cluster-snapshot:${COPY_PREFIX}-*`,
    ],
    sourceArns: (partition, account, region) => [`arn:${partition}:rds:${region}:${account}:cluster-snapshot:*`],
  },
};
