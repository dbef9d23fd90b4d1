/**
 * The source agent's RDS in a production account: DB snapshots and Aurora
 * cluster snapshots through one store over two tables of calls, the same
 * port either way. (The vault's side of the RDS kinds is the RDS family
 * copier, `rds-family.ts`, whose reads this reuses.)
 */
import {
  AddTagsToResourceCommand,
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  paginateDescribeDBClusterSnapshots,
  paginateDescribeDBSnapshots,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { CopyQuotaExceededError } from '../core/errors';
import type { RdsSnapshot, SourceRds } from '../core/ports';
import { classifyAwsError, describeAwsError } from './aws-errors';
import { clusterSnapshotFlavour, dbSnapshotFlavour, type RdsFlavour } from './rds-family';
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

/** A cluster snapshot in the agent's words: its `dbInstanceId` is the cluster's identifier. */
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

interface CopyOf {
  readonly sourceId: string;
  readonly targetId: string;
  readonly kmsKeyArn: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** What differs between DB snapshots and cluster snapshots for the agent: the calls. */
interface AgentCalls {
  /** Tags of the resource and the `restore` attribute, shared with the vault's copier. */
  readonly flavour: RdsFlavour;
  describe(client: RDSClient, id: string): Promise<RdsSnapshot | undefined>;
  list(client: RDSClient): Promise<RdsSnapshot[]>;
  copy(client: RDSClient, request: CopyOf): Promise<unknown>;
  share(client: RDSClient, id: string, account: string): Promise<unknown>;
  remove(client: RDSClient, id: string): Promise<unknown>;
}

const DB_SNAPSHOT_CALLS: AgentCalls = {
  flavour: dbSnapshotFlavour,
  async describe(client, id) {
    const { DBSnapshots } = await client.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
    return DBSnapshots?.[0] ? toRdsSnapshot(DBSnapshots[0]) : undefined;
  },
  async list(client) {
    const snapshots: RdsSnapshot[] = [];
    for await (const page of paginateDescribeDBSnapshots({ client }, {})) {
      // DB snapshots only: a cluster snapshot is the cluster store's (the emulator lists both here).
      for (const s of page.DBSnapshots ?? []) {
        if (s.DBSnapshotArn?.includes(':snapshot:')) snapshots.push(toRdsSnapshot(s));
      }
    }
    return snapshots;
  },
  copy: (client, request) =>
    client.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: request.sourceId,
        TargetDBSnapshotIdentifier: request.targetId,
        KmsKeyId: request.kmsKeyArn,
        Tags: tagList(request.tags),
      }),
    ),
  share: (client, id, account) =>
    client.send(
      new ModifyDBSnapshotAttributeCommand({
        DBSnapshotIdentifier: id,
        AttributeName: 'restore',
        ValuesToAdd: [account],
      }),
    ),
  remove: (client, id) => client.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: id })),
};

const CLUSTER_SNAPSHOT_CALLS: AgentCalls = {
  flavour: clusterSnapshotFlavour,
  async describe(client, id) {
    const { DBClusterSnapshots } = await client.send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id }),
    );
    return DBClusterSnapshots?.[0] ? clusterSnapshotOf(DBClusterSnapshots[0]) : undefined;
  },
  async list(client) {
    const snapshots: RdsSnapshot[] = [];
    for await (const page of paginateDescribeDBClusterSnapshots({ client }, {})) {
      for (const s of page.DBClusterSnapshots ?? []) snapshots.push(clusterSnapshotOf(s));
    }
    return snapshots;
  },
  copy: (client, request) =>
    client.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: request.sourceId,
        TargetDBClusterSnapshotIdentifier: request.targetId,
        KmsKeyId: request.kmsKeyArn,
        Tags: tagList(request.tags),
      }),
    ),
  share: (client, id, account) =>
    client.send(
      new ModifyDBClusterSnapshotAttributeCommand({
        DBClusterSnapshotIdentifier: id,
        AttributeName: 'restore',
        ValuesToAdd: [account],
      }),
    ),
  remove: (client, id) => client.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: id })),
};

/** One store of the agent's own snapshots, over the calls of one flavour. */
class AgentRdsStore implements SourceRds {
  constructor(
    private readonly client: RDSClient,
    private readonly calls: AgentCalls,
  ) {}

  async describeSnapshot(snapshotId: string): Promise<RdsSnapshot | undefined> {
    try {
      return await this.calls.describe(this.client, snapshotId);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  listSnapshots(): Promise<RdsSnapshot[]> {
    return this.calls.list(this.client);
  }

  instanceTags(resourceId: string): Promise<Record<string, string> | undefined> {
    return this.calls.flavour.resourceTags(this.client, resourceId);
  }

  /**
   * The deterministic target's "already exists" is success, quotas and
   * throttling are {@link CopyQuotaExceededError}; the agent leaves every
   * other error to its sweep.
   */
  async copySnapshot(request: CopyOf): Promise<'started' | 'exists'> {
    try {
      await this.calls.copy(this.client, request);
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

  sharedWith(snapshotId: string): Promise<string[]> {
    return this.calls.flavour.sharedWith(this.client, snapshotId);
  }

  async share(snapshotId: string, account: string): Promise<void> {
    await this.calls.share(this.client, snapshotId, account);
  }

  async tag(snapshotArn: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.client.send(new AddTagsToResourceCommand({ ResourceName: snapshotArn, Tags: tagList(tags) }));
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    try {
      await this.calls.remove(this.client, snapshotId);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

/** The source agent's own DB snapshots in its account and Region. */
export class AgentRds extends AgentRdsStore {
  constructor(client: RDSClient) {
    super(client, DB_SNAPSHOT_CALLS);
  }
}

/** The source agent's own Aurora DB cluster snapshots in its account and Region. */
export class AgentRdsClusters extends AgentRdsStore {
  constructor(client: RDSClient) {
    super(client, CLUSTER_SNAPSHOT_CALLS);
  }
}
