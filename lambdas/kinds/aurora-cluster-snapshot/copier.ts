/** The SDK side of Aurora cluster snapshots: the RDS family copier in its cluster snapshot flavour. */
import type { AwsContext } from '../../adapters/aws-context';
import { clusterSnapshotFlavour, RdsFamilyCopier } from '../../adapters/rds-family';

export const auroraClusterSnapshotCopier = (context: AwsContext, prefix: string, partition: string) =>
  new RdsFamilyCopier(clusterSnapshotFlavour, context, prefix, partition);
