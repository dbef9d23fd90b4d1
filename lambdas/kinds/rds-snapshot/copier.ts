/** The SDK side of RDS DB snapshots: the RDS family copier in its DB snapshot flavour. */
import type { AwsContext } from '../../adapters/aws-context';
import { dbSnapshotFlavour, RdsFamilyCopier } from '../../adapters/rds-family';

export const rdsSnapshotCopier = (context: AwsContext, prefix: string, partition: string) =>
  new RdsFamilyCopier(dbSnapshotFlavour, context, prefix, partition);
