/**
 * The SDK copier of every kind, by kind name. The `Copiers` type has a key
 * per registered kind, so a kind added to `lambdas/kinds/registry.ts`
 * without its copier here does not compile.
 *
 * Each copier sits behind its kind's bundle seam (`lib/bundling.ts`): a
 * function deployed without the kind is bundled with the seam defined as
 * `'omit'`, the ternary folds to {@link omittedCopier}, and the kind's
 * copier module, and the SDK client only it uses, stay out of the bundle.
 * Unbundled the seam is unset and every copier is real. The seams are
 * spelled out one by one because esbuild folds only a literal
 * `process.env.X` it was told to define.
 */
import { amiCopier } from '../kinds/ami/copier';
import { auroraClusterSnapshotCopier } from '../kinds/aurora-cluster-snapshot/copier';
import { ebsSnapshotCopier } from '../kinds/ebs-snapshot/copier';
import { rdsSnapshotCopier } from '../kinds/rds-snapshot/copier';
import type { ArtifactCopier, Copiers, KindName } from '../kinds/types';
import type { AwsContext } from './aws-context';

export function sdkCopiers(context: AwsContext, prefix: string, partition: string): Copiers {
  return {
    'rds-snapshot':
      process.env.BUNKER_BUNDLE_RDS_SNAPSHOT === 'omit'
        ? omittedCopier('rds-snapshot')
        : rdsSnapshotCopier(context, prefix, partition),
    'aurora-cluster-snapshot':
      process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT === 'omit'
        ? omittedCopier('aurora-cluster-snapshot')
        : auroraClusterSnapshotCopier(context, prefix, partition),
    'ebs-snapshot':
      process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit'
        ? omittedCopier('ebs-snapshot')
        : ebsSnapshotCopier(context, prefix, partition),
    ami: process.env.BUNKER_BUNDLE_AMI === 'omit' ? omittedCopier('ami') : amiCopier(context, prefix, partition),
  };
}

/**
 * What stands in for the copier of a kind this function was deployed
 * without. Intake rejects a disabled kind before it reads anything and the
 * vault's rules send no copy events of it, so only a record left `copying`
 * when its kind was disabled can reach it: that record's sweep step fails
 * with this error (logged, the others go on) until the kind is enabled again.
 */
export function omittedCopier(kind: KindName): ArtifactCopier {
  const omitted = (): never => {
    throw new Error(`${kind} is not enabled, so its copier was left out of this function's bundle`);
  };
  return { kind, describeSource: omitted, listShared: omitted, copy: omitted, describeCopy: omitted };
}
