/**
 * RDS adapters: the backup account's own snapshots, a source account's
 * snapshots seen through its reader role, and the source agent's RDS.
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
  RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { CopyQuotaExceededError, CopyRefusedError } from '../core/errors';
import { parseRdsSnapshotArn, readerRoleArn } from '../core/names';
import type {
  BackupSnapshotStore,
  CopyRequest,
  RdsSnapshot,
  SourceRds,
  SourceSnapshotReader,
  SourceSnapshotView,
} from '../core/ports';
import { type AwsContext, clientConfig } from './aws-context';

const errorName = (error: unknown): string => {
  const e = error as { name?: string; Code?: string; code?: string };
  return e?.name ?? e?.Code ?? e?.code ?? '';
};
const isNotFound = (error: unknown) => /^(DBSnapshotNotFound|DBInstanceNotFound)/.test(errorName(error));
const isAlreadyExists = (error: unknown) => /^DBSnapshotAlreadyExists/.test(errorName(error));
/** Quotas and throttling are back-pressure: the caller waits and tries again later. */
const isQuota = (error: unknown) =>
  /^(SnapshotQuotaExceeded|Throttling|ThrottlingException|RequestLimitExceeded|TooManyRequests)/.test(
    errorName(error),
  ) || /limit is \d+|too many .*copies|copy .*limit/i.test((error as Error)?.message ?? '');
/** Refusals that retrying will not fix. */
const isRefusal = (error: unknown) =>
  /^(DBSnapshotNotFound|KMSKeyNotAccessible|InvalidDBSnapshotState|AuthorizationNotFound|AccessDenied)/.test(
    errorName(error),
  );

const tagsOf = (list: Tag[] | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).filter((t) => t.Key).map((t) => [t.Key as string, t.Value ?? '']));

const tagList = (tags: Readonly<Record<string, string>>): Tag[] =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

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
async function copyDbSnapshot(
  client: RDSClient,
  input: CopyDBSnapshotCommandInput,
  { refusalsAreFinal }: { refusalsAreFinal: boolean },
): Promise<'started' | 'exists'> {
  try {
    await client.send(new CopyDBSnapshotCommand(input));
    return 'started';
  } catch (error) {
    const what = `${errorName(error)}: ${(error as Error).message}`;
    if (isAlreadyExists(error)) return 'exists';
    if (isQuota(error)) throw new CopyQuotaExceededError(what, { cause: error });
    if (refusalsAreFinal && isRefusal(error))
      throw new CopyRefusedError(`RDS refused the copy: ${what}`, { cause: error });
    throw error;
  }
}

/** The backup account's copies. */
export class RdsBackupSnapshotStore implements BackupSnapshotStore {
  constructor(private readonly client: RDSClient) {}

  async copyShared(request: CopyRequest): Promise<'started' | 'exists'> {
    const source = parseRdsSnapshotArn(request.sourceArn);
    const region = await this.client.config.region();
    return copyDbSnapshot(
      this.client,
      {
        SourceDBSnapshotIdentifier: request.sourceArn,
        TargetDBSnapshotIdentifier: request.targetId,
        KmsKeyId: request.kmsKeyArn,
        Tags: tagList(request.tags),
        // A cross-Region source needs SourceRegion; the SDK then presigns the request.
        ...(source && source.region !== region ? { SourceRegion: source.region } : {}),
      },
      { refusalsAreFinal: true },
    );
  }

  describe(targetId: string): Promise<RdsSnapshot | undefined> {
    return describeOne(this.client, targetId);
  }
}

/**
 * Reads source snapshots by assuming each source account's read-only role.
 * One client per account and Region, kept for warm invocations; the SDK
 * refreshes the role's temporary credentials before they expire.
 */
export class ReaderRoleSnapshotReader implements SourceSnapshotReader {
  private readonly clients = new Map<string, RDSClient>();

  constructor(
    private readonly context: AwsContext,
    private readonly prefix: string,
    private readonly sessionName = 'bunker-vault',
  ) {}

  private clientFor(account: string, region: string): RDSClient {
    const key = `${account}/${region}`;
    let client = this.clients.get(key);
    if (!client) {
      const credentials = fromTemporaryCredentials({
        params: { RoleArn: readerRoleArn(this.prefix, account, region), RoleSessionName: this.sessionName },
        ...(this.context.credentials ? { masterCredentials: this.context.credentials } : {}),
        clientConfig: clientConfig(this.context),
      });
      client = new RDSClient(clientConfig({ ...this.context, credentials }, region));
      this.clients.set(key, client);
    }
    return client;
  }

  async describe(account: string, region: string, snapshotArn: string): Promise<SourceSnapshotView | undefined> {
    const parsed = parseRdsSnapshotArn(snapshotArn);
    if (!parsed || parsed.account !== account) return undefined;
    const client = this.clientFor(account, region);
    // By id inside the owner's own account: proves the sender owns it.
    const snapshot = await describeOne(client, parsed.snapshotId);
    if (!snapshot || snapshot.arn !== snapshotArn) return undefined;
    return { snapshot, sharedWith: await restoreAttribute(client, parsed.snapshotId) };
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
    return copyDbSnapshot(
      this.client,
      {
        SourceDBSnapshotIdentifier: request.sourceId,
        TargetDBSnapshotIdentifier: request.targetId,
        KmsKeyId: request.kmsKeyArn,
        Tags: tagList(request.tags),
      },
      { refusalsAreFinal: false },
    );
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
