/**
 * The source agent's RDS in a production account. (The vault's side of the
 * RDS kinds is the RDS family copier, `rds-family.ts`.)
 */
import {
  AddTagsToResourceCommand,
  CopyDBClusterSnapshotCommand,
  type DBClusterSnapshot,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  paginateDescribeDBClusterSnapshots,
  CopyDBSnapshotCommand,
  type DBSnapshot,
  DeleteDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBSnapshotAttributeCommand,
  paginateDescribeDBSnapshots,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { CopyQuotaExceededError } from '../core/errors';
import type { RdsSnapshot, SourceRds } from '../core/ports';
import { classifyAwsError, describeAwsError } from './aws-errors';
import { clusterSnapshotFlavour, dbSnapshotFlavour } from './rds-family';
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

/**
 * A copy request's answer: the deterministic target's "already exists" is
 * success, quotas and throttling are {@link CopyQuotaExceededError}; the
 * agent leaves every other error to its sweep.
 */
async function copyOutcome(request: Promise<unknown>): Promise<'started' | 'exists'> {
  try {
    await request;
    return 'started';
  } catch (error) {
    const { class: kind, code, message } = describeAwsError(error);
    if (kind === 'exists') return 'exists';
    if (kind === 'quota' || kind === 'throttled')
      throw new CopyQuotaExceededError(`${code}: ${message}`, { cause: error });
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

  instanceTags(dbInstanceId: string): Promise<Record<string, string> | undefined> {
    return dbSnapshotFlavour.resourceTags(this.client, dbInstanceId);
  }

  async copySnapshot(request: {
    sourceId: string;
    targetId: string;
    kmsKeyArn: string;
    tags: Readonly<Record<string, string>>;
  }): Promise<'started' | 'exists'> {
    return copyOutcome(
      this.client.send(
        new CopyDBSnapshotCommand({
          SourceDBSnapshotIdentifier: request.sourceId,
          TargetDBSnapshotIdentifier: request.targetId,
          KmsKeyId: request.kmsKeyArn,
          Tags: tagList(request.tags),
        }),
      ),
    );
  }

  sharedWith(snapshotId: string): Promise<string[]> {
    return dbSnapshotFlavour.sharedWith(this.client, snapshotId);
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

  instanceTags(clusterId: string): Promise<Record<string, string> | undefined> {
    return clusterSnapshotFlavour.resourceTags(this.client, clusterId);
  }

  async copySnapshot(request: {
    sourceId: string;
    targetId: string;
    kmsKeyArn: string;
    tags: Readonly<Record<string, string>>;
  }): Promise<'started' | 'exists'> {
    return copyOutcome(
      this.client.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: request.sourceId,
          TargetDBClusterSnapshotIdentifier: request.targetId,
          KmsKeyId: request.kmsKeyArn,
          Tags: tagList(request.tags),
        }),
      ),
    );
  }

  sharedWith(snapshotId: string): Promise<string[]> {
    return clusterSnapshotFlavour.sharedWith(this.client, snapshotId);
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
