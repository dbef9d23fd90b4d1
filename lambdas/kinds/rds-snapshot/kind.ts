/**
 * RDS DB instance snapshots. The source agent re-keys each in-scope snapshot
 * into a `bunker-share-*` intermediate under the share key and shares it;
 * the vault copies it with CopyDBSnapshot under the backup-data key.
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

const ID = /^[A-Za-z][A-Za-z0-9-]{0,254}$/;
const ARN = new RegExp(`^arn:${PARTITION}:rds:${REGION_PATTERN}:(\\d{12}):snapshot:([A-Za-z][A-Za-z0-9-]{0,254})$`);

/** RDS events of a DB snapshot copy finishing or failing, in Region and across Regions. */
export const RDS_COPY_EVENT_IDS = ['RDS-EVENT-0197', 'RDS-EVENT-0190', 'RDS-EVENT-0060', 'RDS-EVENT-0061'] as const;

export const rdsSnapshot: Kind = {
  name: 'rds-snapshot',
  configKey: 'rds',
  label: 'RDS DB snapshot',
  resourceLabel: 'DB instance',
  defaultCopyLimit: 20,
  isId: (id) => ID.test(id) && rdsIdentifierShapeOk(id),
  arn: (ref) => `arn:${ref.partition}:rds:${ref.region}:${ref.account}:snapshot:${ref.id}`,
  parseArn(arn) {
    const match = ARN.exec(arn);
    if (!match || !rdsIdentifierShapeOk(match[4])) return undefined;
    const [, partition, region, account, id] = match;
    return { kind: 'rds-snapshot', partition, region, account, id };
  },
  targetName: (ref, generation) => boundedRdsIdentifier(COPY_PREFIX, readableSource(ref), uniqueKey(ref, generation)),
  copyEventTarget(detailType, detail) {
    if (detailType !== 'RDS DB Snapshot Event') return undefined;
    const eventId = field(detail, 'EventID');
    if (eventId && !(RDS_COPY_EVENT_IDS as readonly string[]).includes(eventId)) return undefined;
    return field(detail, 'SourceIdentifier');
  },
  finishedCopyEvent: (targetId) => ({
    source: 'aws.rds',
    detailType: 'RDS DB Snapshot Event',
    detail: { EventID: 'RDS-EVENT-0197', SourceIdentifier: targetId },
  }),
  infra: {
    service: 'rds',
    copyEvents: {
      source: 'aws.rds',
      detailType: 'RDS DB Snapshot Event',
      detail: { EventID: [...RDS_COPY_EVENT_IDS], SourceIdentifier: [{ prefix: `${COPY_PREFIX}-` }] },
    },
    readerActions: [
      'rds:DescribeDBSnapshots',
      'rds:DescribeDBSnapshotAttributes',
      'rds:DescribeDBInstances',
      'rds:ListTagsForResource',
    ],
    vaultCopyActions: ['rds:CopyDBSnapshot', 'rds:AddTagsToResource', 'rds:DescribeDBSnapshots'],
    vaultDescribeActions: [],
    vaultSourceActions: ['rds:CopyDBSnapshot'],
    sharedListingActions: ['rds:DescribeDBSnapshots'],
    vaultCopyArns: (partition, account, region) => [
      `arn:${partition}:rds:${region}:${account}:snapshot:${COPY_PREFIX}-*`,
    ],
    sourceArns: (partition, account, region) => [`arn:${partition}:rds:${region}:${account}:snapshot:*`],
  },
};
