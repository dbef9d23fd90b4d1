/**
 * An `available` inventory record of a copy already in the backup account,
 * as the pipeline leaves it: what a drill plans from. Shared by the drill
 * tests that make copies by hand rather than through the pipeline.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CopySnapshotCommand, CreateSnapshotCommand, CreateVolumeCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DynamoInventory } from '../../../lambdas/adapters/dynamo-inventory';
import { newRecord } from '../../../lambdas/core/inventory';
import type { KindName } from '../../../lambdas/kinds/types';
import { clientConfig } from '../../support/aws';

/** An 8 GiB encrypted volume, its snapshot and a copy of that snapshot under `copyKey`, made in the client's Region. */
export async function ebsSnapshotCopy(
  ec2: EC2Client,
  region: string,
  volumeKey: string,
  copyKey: string = volumeKey,
): Promise<{ volumeId: string; snapshotId: string; copyId: string }> {
  const { VolumeId } = await ec2.send(
    new CreateVolumeCommand({ Size: 8, AvailabilityZone: `${region}a`, Encrypted: true, KmsKeyId: volumeKey }),
  );
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId }));
  const copy = await ec2.send(
    new CopySnapshotCommand({ SourceSnapshotId: SnapshotId, SourceRegion: region, Encrypted: true, KmsKeyId: copyKey }),
  );
  return { volumeId: VolumeId ?? '', snapshotId: SnapshotId ?? '', copyId: copy.SnapshotId ?? '' };
}

export interface CopyRecord {
  readonly kind: KindName;
  /** The production artifact's id. */
  readonly id: string;
  readonly resource: string;
  readonly copyId: string;
  readonly sizeGiB: number;
  readonly engine?: string;
}

export async function recordCopy(
  at: { endpoint: string; backup: string; source: string; region: string; table: string; keyArn: string },
  copy: CopyRecord,
): Promise<void> {
  const dynamo = new DynamoDBClient(clientConfig(at.endpoint, at.backup, at.region));
  try {
    await new DynamoInventory(dynamo, at.table, 'by-status').create(
      newRecord(
        {
          artifactId: `${copy.kind}:${at.source}:${at.region}:${copy.id}`,
          kind: copy.kind,
          status: 'available',
          sourceAccount: at.source,
          sourceRegion: at.region,
          sourceId: copy.id,
          sourceResourceId: copy.resource,
          sourceCreatedAt: '2026-11-20T00:00:00.000Z',
          targetName: copy.copyId,
          targetId: copy.copyId,
          targetRegion: at.region,
          kmsKeyArn: at.keyArn,
          sizeGiB: copy.sizeGiB,
          ...(copy.engine ? { engine: copy.engine } : {}),
        },
        new Date('2026-11-20T01:00:00.000Z'),
      ),
    );
  } finally {
    dynamo.destroy();
  }
}

/** A boto3 script (for `boto3()`) listing everything a drill could leave behind in the backup account. */
export const DRILL_LEFTOVERS_SCRIPT = `
rds = client('rds'); ec2 = client('ec2')
out({
  'dbInstances': sorted(i['DBInstanceIdentifier'] for i in rds.describe_db_instances()['DBInstances']),
  'dbClusters': sorted(c['DBClusterIdentifier'] for c in rds.describe_db_clusters()['DBClusters']),
  'volumes': sorted(v['VolumeId'] for v in ec2.describe_volumes()['Volumes']),
  'instances': sorted(i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances']
                      if i['State']['Name'] != 'terminated'),
})
`;
