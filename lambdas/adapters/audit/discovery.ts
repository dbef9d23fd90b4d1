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

export class ReaderRoleDiscovery implements ScopeDiscovery {
  private readonly rds: ReaderRoleClients<RDSClient>;
  private readonly ec2: ReaderRoleClients<EC2Client>;

  constructor(context: AwsContext, prefix: string, partition: string) {
    this.rds = new ReaderRoleClients(context, prefix, partition, (config) => new RDSClient(config), 'bunker-audit');
    this.ec2 = new ReaderRoleClients(context, prefix, partition, (config) => new EC2Client(config), 'bunker-audit');
  }

  async resources(kind: KindName, account: string, region: string): Promise<DiscoveredResource[]> {
    switch (kind) {
      case 'rds-snapshot':
        return this.dbInstances(account, region);
      case 'aurora-cluster-snapshot':
        return this.dbClusters(account, region);
      case 'ebs-snapshot':
        return this.volumes(account, region);
      case 'ami':
        return this.images(account, region);
    }
  }

  private async dbInstances(account: string, region: string): Promise<DiscoveredResource[]> {
    const client = this.rds.clientFor(account, region);
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

  private async dbClusters(account: string, region: string): Promise<DiscoveredResource[]> {
    const client = this.rds.clientFor(account, region);
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

  private async volumes(account: string, region: string): Promise<DiscoveredResource[]> {
    const client = this.ec2.clientFor(account, region);
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
  private async images(account: string, region: string): Promise<DiscoveredResource[]> {
    const client = this.ec2.clientFor(account, region);
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
}

function resource(
  id: string,
  scopeIds: readonly string[],
  tags: Record<string, string>,
  newestSnapshotAt: string | undefined,
): DiscoveredResource {
  return { id, scopeIds, tags, ...(newestSnapshotAt ? { newestSnapshotAt } : {}) };
}
