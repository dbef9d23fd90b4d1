/**
 * The source agent's RDS in a production account. (The vault's side of the
 * RDS kinds is the RDS family copier, `rds-family.ts`.)
 */
import {
  AddTagsToResourceCommand,
  CopyDBClusterSnapshotCommand,
  type DBClusterSnapshot,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotAttributesCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  paginateDescribeDBClusterSnapshots,
  CopyDBSnapshotCommand,
  type CopyDBSnapshotCommandInput,
  type DBSnapshot,
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBSnapshotAttributeCommand,
  paginateDescribeDBSnapshots,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { CopyQuotaExceededError } from '../core/errors';
import type { RdsSnapshot, SourceRds } from '../core/ports';
import { classifyAwsError, describeAwsError } from './aws-errors';
import { tagList, tagsOf } from './reader-role';

const isNotFound = (error: unknown) => classifyAwsError(error) === 'not-found';

export function toRdsSnapshot(s: DBSnapshot): RdsSnapshot {
  return {
    arn: s.DBSnapshotArn ?? '',
    id: s.DBSnapshotIdentifier ?? '',
    dbInstanceId: s.DBInstanceIdentifier ?? '',
    status: s.Status ?? 'unknown',
    type: s.SnapshotType ?? 'unknown',
    encrypted: s.Encrypted === true,
    kmsKeyId: s.KmsKeyId,
    createdAt: (s.SnapshotCreateTime ?? s.OriginalSnapshotCreateTime)?.toISOString(),
    originalCreatedAt: s.OriginalSnapshotCreateTime?.toISOString(),
    engine: s.Engine,
    sizeGiB: s.AllocatedStorage,
    tags: tagsOf(s.TagList),
  };
}

async function describeOne(client: RDSClient, identifier: string): Promise<RdsSnapshot | undefined> {
  try {
    const { DBSnapshots } = await client.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: identifier }));
    const found = DBSnapshots?.[0];
    return found ? toRdsSnapshot(found) : undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function restoreAttribute(client: RDSClient, identifier: string): Promise<string[]> {
  const { DBSnapshotAttributesResult } = await client.send(
    new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: identifier }),
  );
  const restore = DBSnapshotAttributesResult?.DBSnapshotAttributes?.find((a) => a.AttributeName === 'restore');
  return restore?.AttributeValues ?? [];
}

/**
 * CopyDBSnapshot with the deterministic target's "already exists" as
 * success, quotas and throttling as {@link CopyQuotaExceededError}, and,
 * where the caller wants it, refusals as {@link CopyRefusedError}.
 */
async function copyDbSnapshot(client: RDSClient, input: CopyDBSnapshotCommandInput): Promise<'started' | 'exists'> {
  try {
    await client.send(new CopyDBSnapshotCommand(input));
    return 'started';
  } catch (error) {
    const { class: kind, code, message } = describeAwsError(error);
    const what = `${code}: ${message}`;
    if (kind === 'exists') return 'exists';
    if (kind === 'quota' || kind === 'throttled') throw new CopyQuotaExceededError(what, { cause: error });
    throw error;
  }
}

/** The source agent's own RDS in its account and Region. */
export class AgentRds implements SourceRds {
  constructor(private readonly client: RDSClient) {}

  describeSnapshot(snapshotId: string): Promise<RdsSnapshot | undefined> {
    return describeOne(this.client, snapshotId);
  }

  async listSnapshots(): Promise<RdsSnapshot[]> {
    const snapshots: RdsSnapshot[] = [];
    for await (const page of paginateDescribeDBSnapshots({ client: this.client }, {})) {
      // DB snapshots only: a cluster snapshot is the cluster store's (the emulator lists both here).
      for (const s of page.DBSnapshots ?? [])
        if (s.DBSnapshotArn?.includes(':snapshot:')) snapshots.push(toRdsSnapshot(s));
    }
    return snapshots;
  }

  async instanceTags(dbInstanceId: string): Promise<Record<string, string> | undefined> {
    try {
      const { DBInstances } = await this.client.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: dbInstanceId }),
      );
      const instance = DBInstances?.[0];
      return instance ? tagsOf(instance.TagList) : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async copySnapshot(request: {
    sourceId: string;
    targetId: string;
    kmsKeyArn: string;
    tags: Readonly<Record<string, string>>;
  }): Promise<'started' | 'exists'> {
    return copyDbSnapshot(this.client, {
      SourceDBSnapshotIdentifier: request.sourceId,
      TargetDBSnapshotIdentifier: request.targetId,
      KmsKeyId: request.kmsKeyArn,
      Tags: tagList(request.tags),
    });
  }

  sharedWith(snapshotId: string): Promise<string[]> {
    return restoreAttribute(this.client, snapshotId);
  }

  async share(snapshotId: string, account: string): Promise<void> {
    await this.client.send(
      new ModifyDBSnapshotAttributeCommand({
        DBSnapshotIdentifier: snapshotId,
        AttributeName: 'restore',
        ValuesToAdd: [account],
      }),
    );
  }

  async tag(snapshotArn: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.client.send(new AddTagsToResourceCommand({ ResourceName: snapshotArn, Tags: tagList(tags) }));
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    try {
      await this.client.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

export function clusterSnapshotOf(s: DBClusterSnapshot): RdsSnapshot {
  return {
    arn: s.DBClusterSnapshotArn ?? '',
    id: s.DBClusterSnapshotIdentifier ?? '',
    dbInstanceId: s.DBClusterIdentifier ?? '',
    status: s.Status ?? 'unknown',
    type: s.SnapshotType ?? 'unknown',
    encrypted: s.StorageEncrypted === true,
    kmsKeyId: s.KmsKeyId,
    createdAt: s.SnapshotCreateTime?.toISOString(),
    engine: s.Engine,
    sizeGiB: s.AllocatedStorage,
    tags: tagsOf(s.TagList),
  };
}

/**
 * The source agent's Aurora DB cluster snapshots in its account and Region:
 * the same port as {@link AgentRds}, through the cluster calls (the
 * snapshot's `dbInstanceId` is the cluster's identifier).
 */
export class AgentRdsClusters implements SourceRds {
  constructor(private readonly client: RDSClient) {}

  async describeSnapshot(snapshotId: string): Promise<RdsSnapshot | undefined> {
    try {
      const { DBClusterSnapshots } = await this.client.send(
        new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshotId }),
      );
      const found = DBClusterSnapshots?.[0];
      return found ? clusterSnapshotOf(found) : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async listSnapshots(): Promise<RdsSnapshot[]> {
    const snapshots: RdsSnapshot[] = [];
    for await (const page of paginateDescribeDBClusterSnapshots({ client: this.client }, {})) {
      for (const s of page.DBClusterSnapshots ?? []) snapshots.push(clusterSnapshotOf(s));
    }
    return snapshots;
  }

  async instanceTags(clusterId: string): Promise<Record<string, string> | undefined> {
    try {
      const { DBClusters } = await this.client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: clusterId }));
      const cluster = DBClusters?.[0];
      return cluster ? tagsOf(cluster.TagList) : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async copySnapshot(request: {
    sourceId: string;
    targetId: string;
    kmsKeyArn: string;
    tags: Readonly<Record<string, string>>;
  }): Promise<'started' | 'exists'> {
    try {
      await this.client.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: request.sourceId,
          TargetDBClusterSnapshotIdentifier: request.targetId,
          KmsKeyId: request.kmsKeyArn,
          Tags: tagList(request.tags),
        }),
      );
      return 'started';
    } catch (error) {
      const { class: kind, code, message } = describeAwsError(error);
      if (kind === 'exists') return 'exists';
      if (kind === 'quota' || kind === 'throttled') {
        throw new CopyQuotaExceededError(`${code}: ${message}`, { cause: error });
      }
      throw error;
    }
  }

  async sharedWith(snapshotId: string): Promise<string[]> {
    const { DBClusterSnapshotAttributesResult } = await this.client.send(
      new DescribeDBClusterSnapshotAttributesCommand({ DBClusterSnapshotIdentifier: snapshotId }),
    );
    return (
      DBClusterSnapshotAttributesResult?.DBClusterSnapshotAttributes?.find((a) => a.AttributeName === 'restore')
        ?.AttributeValues ?? []
    );
  }

  async share(snapshotId: string, account: string): Promise<void> {
    await this.client.send(
      new ModifyDBClusterSnapshotAttributeCommand({
        DBClusterSnapshotIdentifier: snapshotId,
        AttributeName: 'restore',
        ValuesToAdd: [account],
      }),
    );
  }

  async tag(snapshotArn: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.client.send(new AddTagsToResourceCommand({ ResourceName: snapshotArn, Tags: tagList(tags) }));
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    try {
      await this.client.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshotId }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
