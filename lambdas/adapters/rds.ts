/**
 * The source agent's RDS in a production account. (The vault's side of the
 * RDS kinds is the RDS family copier, `rds-family.ts`.)
 */
import {
  AddTagsToResourceCommand,
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
      for (const s of page.DBSnapshots ?? []) snapshots.push(toRdsSnapshot(s));
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
