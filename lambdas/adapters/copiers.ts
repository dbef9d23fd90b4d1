/**
 * The SDK copier of every kind, by kind name. The `Copiers` type has a key
 * per registered kind, so a kind added to `lambdas/kinds/registry.ts`
 * without its copier here does not compile.
 */
import { amiCopier } from '../kinds/ami/copier';
import { auroraClusterSnapshotCopier } from '../kinds/aurora-cluster-snapshot/copier';
import { ebsSnapshotCopier } from '../kinds/ebs-snapshot/copier';
import { rdsSnapshotCopier } from '../kinds/rds-snapshot/copier';
import type { Copiers } from '../kinds/types';
import type { AwsContext } from './aws-context';

export function sdkCopiers(context: AwsContext, prefix: string, partition: string): Copiers {
  return {
    'rds-snapshot': rdsSnapshotCopier(context, prefix, partition),
    'aurora-cluster-snapshot': auroraClusterSnapshotCopier(context, prefix, partition),
    'ebs-snapshot': ebsSnapshotCopier(context, prefix, partition),
    ami: amiCopier(context, prefix, partition),
  };
}
