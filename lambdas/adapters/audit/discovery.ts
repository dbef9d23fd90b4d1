/**
 * Discovery of the production resources in scope, through each source
 * account's read-only reader role: DB instances, DB clusters, volumes and
 * images as RDS and EC2 report them, with their tags and the time of their
 * newest snapshot (the service's own timestamp). Each listing is one
 * paginated call per account and Region; snapshots are listed once and
 * grouped by resource, never described one by one.
 */
import {
  type DBClusterSnapshot,
  type DBSnapshot,
  paginateDescribeDBClusterSnapshots,
  paginateDescribeDBClusters,
  paginateDescribeDBInstances,
  paginateDescribeDBSnapshots,
  RDSClient,
} from '@aws-sdk/client-rds';
import {
  EC2Client,
  type Snapshot,
  paginateDescribeImages,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import type { DiscoveredResource, ScopeDiscovery } from '../../core/audit/types';
import { SettingsError } from '../../core/errors';
import { INTERMEDIATE_PREFIX } from '../../core/names';
import { TAG_INTERMEDIATE } from '../../core/rds-source-agent';
import type { KindName } from '../../kinds/types';
import type { AwsContext } from '../aws-context';
import { ReaderRoleClients, tagsOf } from '../reader-role';

const iso = (date: Date | string | undefined) => (date ? new Date(date).toISOString() : undefined);

/** The newest time per key, over items that name one. */
function newestPer<T>(
  items: readonly T[],
  keyOf: (item: T) => string | undefined,
  at: (item: T) => string | undefined,
) {
  const newest = new Map<string, string>();
  for (const item of items) {
    const key = keyOf(item);
    const when = at(item);
    if (!key || !when) continue;
    const before = newest.get(key);
    if (!before || when > before) newest.set(key, when);
  }
  return newest;
}

/** Production's own snapshots: Bunker's re-keyed intermediates are not when production took one. */
const isProduction = (id: string | undefined) => Boolean(id) && !(id as string).startsWith(INTERMEDIATE_PREFIX);

/**
 * Each kind's discovery sits behind its kind's bundle seam
 * (`lib/bundling.ts`), as the copiers do (`../copiers.ts`): an auditor
 * deployed without a kind is bundled with the seam defined as `'omit'`, the
 * kind's branch folds away with the listing functions only it calls, and
 * when both kinds of a service are left out so is its client (no EC2 client
 * for an RDS-only auditor).
 *
 * `kinds`, the kinds the auditor judges, are checked against what the bundle
 * kept: the seams are defined from those same settings, so a kind left out
 * but judged means they were changed by hand, refused at cold start rather
 * than reported as an unreachable scope on every run.
 */
export class ReaderRoleDiscovery implements ScopeDiscovery {
  private readonly rds?: ReaderRoleClients<RDSClient>;
  private readonly ec2?: ReaderRoleClients<EC2Client>;

  constructor(context: AwsContext, prefix: string, partition: string, kinds: readonly string[] = []) {
    if (!(
      process.env.BUNKER_BUNDLE_RDS_SNAPSHOT === 'omit' && process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT === 'omit'
    )) {
      this.rds = new ReaderRoleClients(context, prefix, partition, (config) => new RDSClient(config), 'bunker-audit');
    }
    if (!(process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit' && process.env.BUNKER_BUNDLE_AMI === 'omit')) {
      this.ec2 = new ReaderRoleClients(context, prefix, partition, (config) => new EC2Client(config), 'bunker-audit');
    }
    const leftOut = kinds.filter((kind) => leftOutKinds().includes(kind as KindName));
    if (leftOut.length > 0) {
      throw new SettingsError(
        `the audit settings judge ${leftOut.join(', ')}, but this function was bundled without ${leftOut.length === 1 ? 'it' : 'them'}`,
      );
    }
  }

  async resources(kind: KindName, account: string, region: string): Promise<DiscoveredResource[]> {
    // Each seam spelled out: esbuild folds only a literal `process.env.X` it was told to define.
    switch (kind) {
      case 'rds-snapshot':
        return process.env.BUNKER_BUNDLE_RDS_SNAPSHOT === 'omit'
          ? omitted(kind)
          : dbInstances(clientOf(this.rds, kind, account, region));
      case 'aurora-cluster-snapshot':
        return process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT === 'omit'
          ? omitted(kind)
          : dbClusters(clientOf(this.rds, kind, account, region));
      case 'ebs-snapshot':
        return process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit'
          ? omitted(kind)
          : volumes(clientOf(this.ec2, kind, account, region));
      case 'ami':
        return process.env.BUNKER_BUNDLE_AMI === 'omit'
          ? omitted(kind)
          : images(clientOf(this.ec2, kind, account, region));
    }
  }
}

/** The kinds whose discovery this bundle left out (none unbundled). */
function leftOutKinds(): KindName[] {
  return [
    ...(process.env.BUNKER_BUNDLE_RDS_SNAPSHOT === 'omit' ? (['rds-snapshot'] as const) : []),
    ...(process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT === 'omit' ? (['aurora-cluster-snapshot'] as const) : []),
    ...(process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit' ? (['ebs-snapshot'] as const) : []),
    ...(process.env.BUNKER_BUNDLE_AMI === 'omit' ? (['ami'] as const) : []),
  ];
}

function omitted(kind: KindName): never {
  throw new Error(`${kind} is not enabled, so its discovery was left out of this function's bundle`);
}

function clientOf<C>(clients: ReaderRoleClients<C> | undefined, kind: KindName, account: string, region: string): C {
  return clients ? clients.clientFor(account, region) : omitted(kind);
}

async function dbInstances(client: RDSClient): Promise<DiscoveredResource[]> {
  const snapshots: DBSnapshot[] = [];
  for await (const page of paginateDescribeDBSnapshots({ client }, {})) snapshots.push(...(page.DBSnapshots ?? []));
  const newest = newestPer(
    snapshots.filter((s) => isProduction(s.DBSnapshotIdentifier?.replace(/^rds:/, ''))),
    (s) => s.DBInstanceIdentifier,
    (s) => iso(s.SnapshotCreateTime),
  );
  const resources: DiscoveredResource[] = [];
  for await (const page of paginateDescribeDBInstances({ client }, {})) {
    for (const instance of page.DBInstances ?? []) {
      const id = instance.DBInstanceIdentifier;
      if (!id) continue;
      resources.push(resource(id, [id], tagsOf(instance.TagList), newest.get(id)));
    }
  }
  return resources;
}

async function dbClusters(client: RDSClient): Promise<DiscoveredResource[]> {
  const snapshots: DBClusterSnapshot[] = [];
  for await (const page of paginateDescribeDBClusterSnapshots({ client }, {})) {
    snapshots.push(...(page.DBClusterSnapshots ?? []));
  }
  const newest = newestPer(
    snapshots.filter((s) => isProduction(s.DBClusterSnapshotIdentifier?.replace(/^rds:/, ''))),
    (s) => s.DBClusterIdentifier,
    (s) => iso(s.SnapshotCreateTime),
  );
  const resources: DiscoveredResource[] = [];
  for await (const page of paginateDescribeDBClusters({ client }, {})) {
    for (const cluster of page.DBClusters ?? []) {
      const id = cluster.DBClusterIdentifier;
      if (!id) continue;
      resources.push(resource(id, [id], tagsOf(cluster.TagList), newest.get(id)));
    }
  }
  return resources;
}

async function volumes(client: EC2Client): Promise<DiscoveredResource[]> {
  const snapshots: Snapshot[] = [];
  for await (const page of paginateDescribeSnapshots({ client }, { OwnerIds: ['self'] })) {
    snapshots.push(...(page.Snapshots ?? []));
  }
  const newest = newestPer(
    snapshots.filter((s) => tagsOf(s.Tags)[TAG_INTERMEDIATE] !== 'true'),
    (s) => s.VolumeId,
    (s) => iso(s.StartTime),
  );
  const resources: DiscoveredResource[] = [];
  for await (const page of paginateDescribeVolumes({ client }, {})) {
    for (const volume of page.Volumes ?? []) {
      const id = volume.VolumeId;
      if (!id) continue;
      resources.push(resource(id, [id], tagsOf(volume.Tags), newest.get(id)));
    }
  }
  return resources;
}

/**
 * An image is its own backup source: each production image (not the
 * agent's re-keyed intermediates) is one resource, keyed by its id, which
 * the copy records keep as `sourceSnapshotId`.
 */
async function images(client: EC2Client): Promise<DiscoveredResource[]> {
  const resources: DiscoveredResource[] = [];
  for await (const page of paginateDescribeImages({ client }, { Owners: ['self'] })) {
    for (const image of page.Images ?? []) {
      const tags = tagsOf(image.Tags);
      if (!image.ImageId || tags[TAG_INTERMEDIATE] === 'true') continue;
      resources.push(resource(image.ImageId, [image.ImageId], tags, iso(image.CreationDate)));
    }
  }
  return resources;
}

function resource(
  id: string,
  scopeIds: readonly string[],
  tags: Record<string, string>,
  newestSnapshotAt: string | undefined,
): DiscoveredResource {
  return { id, scopeIds, tags, ...(newestSnapshotAt ? { newestSnapshotAt } : {}) };
}
