/**
 * The copier of the RDS snapshot kinds (DB instance snapshots and Aurora
 * cluster snapshots): the same calls in two flavours, so each kind's
 * `copier.ts` is one flavour table. Sources are read through the reader
 * role; copies are made and read in the backup account.
 */
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  DescribeDBClusterSnapshotAttributesCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  paginateDescribeDBClusterSnapshots,
  paginateDescribeDBSnapshots,
  RDSClient,
} from '@aws-sdk/client-rds';
import type {
  ArtifactCopier,
  ArtifactRef,
  ArtifactState,
  CopyLocation,
  CopyRequest,
  CopyStarted,
  CopyView,
  KindName,
  SourceView,
} from '../kinds/types';
import { MAX_COPIES_PER_LOOK } from '../kinds/types';
import { CopyQuotaExceededError, CopyRefusedError } from '../core/errors';
import { TAG_INTERMEDIATE_OF, TAG_SOURCE_CREATED_AT } from '../core/rds-source-agent';
import { KINDS } from '../kinds/registry';
import { INTERMEDIATE_PREFIX } from '../kinds/shared';
import { type AwsContext, clientConfig } from './aws-context';
import { classifyAwsError, describeAwsError } from './aws-errors';
import { ReaderRoleClients, tagList, tagsOf } from './reader-role';

/** A DB snapshot or a DB cluster snapshot, in the words both share. */
export interface RdsFamilySnapshot {
  readonly arn: string;
  readonly id: string;
  readonly resourceId: string;
  readonly status: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly createdAt?: Date;
  readonly originalCreatedAt?: Date;
  readonly engine?: string;
  readonly sizeGiB?: number;
  readonly tags: Record<string, string>;
}

export function fromDbSnapshot(s: DBSnapshot): RdsFamilySnapshot {
  return {
    arn: s.DBSnapshotArn ?? '',
    id: s.DBSnapshotIdentifier ?? '',
    resourceId: s.DBInstanceIdentifier ?? '',
    status: s.Status ?? 'unknown',
    encrypted: s.Encrypted === true,
    kmsKeyId: s.KmsKeyId,
    createdAt: s.SnapshotCreateTime,
    originalCreatedAt: s.OriginalSnapshotCreateTime,
    engine: s.Engine,
    sizeGiB: s.AllocatedStorage,
    tags: tagsOf(s.TagList),
  };
}

export function fromClusterSnapshot(s: DBClusterSnapshot): RdsFamilySnapshot {
  return {
    arn: s.DBClusterSnapshotArn ?? '',
    id: s.DBClusterSnapshotIdentifier ?? '',
    resourceId: s.DBClusterIdentifier ?? '',
    status: s.Status ?? 'unknown',
    encrypted: s.StorageEncrypted === true,
    kmsKeyId: s.KmsKeyId,
    createdAt: s.SnapshotCreateTime,
    engine: s.Engine,
    sizeGiB: s.AllocatedStorage,
    tags: tagsOf(s.TagList),
  };
}

/** The calls of one flavour. Each answers `undefined` for "not found". */
export interface RdsFlavour {
  readonly kind: KindName;
  describe(client: RDSClient, id: string): Promise<RdsFamilySnapshot | undefined>;
  /** Several snapshots by id with one filtered describe (up to 100 ids a page); ids not found are left out. */
  describeMany(client: RDSClient, ids: readonly string[]): Promise<RdsFamilySnapshot[]>;
  sharedWith(client: RDSClient, id: string): Promise<string[]>;
  /** The production resource's tags; `undefined` when it no longer exists. */
  resourceTags(client: RDSClient, resourceId: string): Promise<Record<string, string> | undefined>;
  copy(client: RDSClient, request: CopyRequest, crossRegion: boolean): Promise<unknown>;
  /** ARNs of the snapshots other accounts shared with the caller in the client's Region, every page. */
  sharedArns(client: RDSClient): Promise<string[]>;
}

async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (classifyAwsError(error) === 'not-found') return undefined;
    throw error;
  }
}

export const dbSnapshotFlavour: RdsFlavour = {
  kind: 'rds-snapshot',
  async describe(client, id) {
    const answer = await orUndefined(client.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id })));
    const found = answer?.DBSnapshots?.[0];
    return found ? fromDbSnapshot(found) : undefined;
  },
  async describeMany(client, ids) {
    const found: RdsFamilySnapshot[] = [];
    const pages = paginateDescribeDBSnapshots({ client }, { Filters: [{ Name: 'db-snapshot-id', Values: [...ids] }] });
    for await (const page of pages) for (const s of page.DBSnapshots ?? []) found.push(fromDbSnapshot(s));
    return found;
  },
  async sharedWith(client, id) {
    const { DBSnapshotAttributesResult } = await client.send(
      new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: id }),
    );
    return (
      DBSnapshotAttributesResult?.DBSnapshotAttributes?.find((a) => a.AttributeName === 'restore')?.AttributeValues ??
      []
    );
  },
  async resourceTags(client, resourceId) {
    const answer = await orUndefined(client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: resourceId })));
    const instance = answer?.DBInstances?.[0];
    return instance ? tagsOf(instance.TagList) : undefined;
  },
  copy: (client, request, crossRegion) =>
    client.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: request.sourceArn,
        TargetDBSnapshotIdentifier: request.targetName,
        KmsKeyId: request.kmsKeyArn,
        Tags: tagList(request.tags),
        // A cross-Region source needs SourceRegion; the SDK then presigns the request.
        ...(crossRegion ? { SourceRegion: request.sourceRegion } : {}),
      }),
    ),
  async sharedArns(client) {
    const arns: string[] = [];
    // `shared` lists only other accounts' snapshots, not the vault's own copies; IncludeShared is harmless with it.
    const pages = paginateDescribeDBSnapshots({ client }, { SnapshotType: 'shared', IncludeShared: true });
    for await (const page of pages)
      for (const s of page.DBSnapshots ?? []) if (s.DBSnapshotArn) arns.push(s.DBSnapshotArn);
    return arns;
  },
};

export const clusterSnapshotFlavour: RdsFlavour = {
  kind: 'aurora-cluster-snapshot',
  async describe(client, id) {
    const answer = await orUndefined(
      client.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id })),
    );
    const found = answer?.DBClusterSnapshots?.[0];
    return found ? fromClusterSnapshot(found) : undefined;
  },
  async describeMany(client, ids) {
    const found: RdsFamilySnapshot[] = [];
    const pages = paginateDescribeDBClusterSnapshots(
      { client },
      { Filters: [{ Name: 'db-cluster-snapshot-id', Values: [...ids] }] },
    );
    for await (const page of pages) for (const s of page.DBClusterSnapshots ?? []) found.push(fromClusterSnapshot(s));
    return found;
  },
  async sharedWith(client, id) {
    const { DBClusterSnapshotAttributesResult } = await client.send(
      new DescribeDBClusterSnapshotAttributesCommand({ DBClusterSnapshotIdentifier: id }),
    );
    return (
      DBClusterSnapshotAttributesResult?.DBClusterSnapshotAttributes?.find((a) => a.AttributeName === 'restore')
        ?.AttributeValues ?? []
    );
  },
  async resourceTags(client, resourceId) {
    const answer = await orUndefined(client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: resourceId })));
    const cluster = answer?.DBClusters?.[0];
    return cluster ? tagsOf(cluster.TagList) : undefined;
  },
  copy: (client, request, crossRegion) =>
    client.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: request.sourceArn,
        TargetDBClusterSnapshotIdentifier: request.targetName,
        // Mandatory for a shared encrypted cluster snapshot: the copy is under the backup-data key.
        KmsKeyId: request.kmsKeyArn,
        Tags: tagList(request.tags),
        ...(crossRegion ? { SourceRegion: request.sourceRegion } : {}),
      }),
    ),
  async sharedArns(client) {
    const arns: string[] = [];
    const pages = paginateDescribeDBClusterSnapshots({ client }, { SnapshotType: 'shared', IncludeShared: true });
    for await (const page of pages) {
      for (const s of page.DBClusterSnapshots ?? []) if (s.DBClusterSnapshotArn) arns.push(s.DBClusterSnapshotArn);
    }
    return arns;
  },
};

/** RDS's status words in Bunker's. */
export function rdsState(status: string): ArtifactState {
  if (status === 'available') return 'available';
  if (['creating', 'copying', 'pending', 'backing-up'].includes(status)) return 'pending';
  return 'failed';
}

/** When production took a snapshot: the agent's record of the original, else RDS's own timestamps. */
function producedAt(snapshot: RdsFamilySnapshot): string | undefined {
  const tagged = snapshot.tags[TAG_SOURCE_CREATED_AT];
  if (tagged && !Number.isNaN(Date.parse(tagged))) return new Date(tagged).toISOString();
  return (snapshot.originalCreatedAt ?? snapshot.createdAt)?.toISOString();
}

function copyView(copy: RdsFamilySnapshot, region: string): CopyView {
  return {
    targetId: copy.id,
    arn: copy.arn,
    region,
    state: rdsState(copy.status),
    detail: copy.status,
    encrypted: copy.encrypted,
    keyArn: copy.kmsKeyId,
    sizeGiB: copy.sizeGiB,
    tags: copy.tags,
  };
}

/** The owner account of an RDS ARN the service returned. */
const accountOfArn = (arn: string) => arn.split(':')[4] ?? '';

export class RdsFamilyCopier implements ArtifactCopier {
  readonly kind: KindName;
  private readonly reader: ReaderRoleClients<RDSClient>;
  private readonly backup = new Map<string, RDSClient>();

  constructor(
    private readonly flavour: RdsFlavour,
    private readonly context: AwsContext,
    prefix: string,
    partition: string,
  ) {
    this.kind = flavour.kind;
    this.reader = new ReaderRoleClients(context, prefix, partition, (config) => new RDSClient(config));
  }

  private backupClient(region: string): RDSClient {
    let client = this.backup.get(region);
    if (!client) {
      client = new RDSClient(clientConfig(this.context, region));
      this.backup.set(region, client);
    }
    return client;
  }

  async describeSource(ref: ArtifactRef): Promise<SourceView | undefined> {
    const client = this.reader.clientFor(ref.account, ref.region);
    // By id inside the named account, through that account's own role: the service says who owns it.
    const snapshot = await this.flavour.describe(client, ref.id);
    if (!snapshot || snapshot.id !== ref.id) return undefined;
    const productionId = snapshot.tags[TAG_INTERMEDIATE_OF];
    return {
      ref,
      arn: snapshot.arn,
      ownerAccount: accountOfArn(snapshot.arn),
      state: rdsState(snapshot.status),
      detail: snapshot.status,
      encrypted: snapshot.encrypted,
      keyArn: snapshot.kmsKeyId,
      sharedWith: await this.flavour.sharedWith(client, ref.id),
      producedAt: producedAt(snapshot),
      resourceId: snapshot.resourceId || undefined,
      productionId,
      scopeIds: [snapshot.resourceId, productionId, snapshot.id].filter((id): id is string => Boolean(id)),
      // Its own: an intermediate carries the agent's reading of the resource's scope tag (intake reads the resource
      // only when that does not settle it, `resourceScopeTags`).
      scopeTags: snapshot.tags,
      sizeGiB: snapshot.sizeGiB,
      engine: snapshot.engine,
    };
  }

  /** The DB instance's or cluster's tags decide; a deleted resource's snapshot keeps its own. */
  async resourceScopeTags(view: SourceView): Promise<Readonly<Record<string, string>>> {
    if (!view.resourceId) return view.scopeTags;
    const client = this.reader.clientFor(view.ref.account, view.ref.region);
    return (await this.flavour.resourceTags(client, view.resourceId)) ?? view.scopeTags;
  }

  /**
   * One listing of what other accounts shared with the backup account in
   * `region` (its own credentials): RDS answers every account's shares of
   * the Region at once, so the `accounts` are picked out of that one answer
   * by the ARN RDS returns, and kept to the agent's `bunker-share-`
   * intermediates by name: the name is all the backup account sees of
   * another account's snapshot.
   */
  async listShared(region: string, accounts: readonly string[]): Promise<ArtifactRef[]> {
    if (accounts.length === 0) return [];
    const wanted = new Set(accounts);
    const refs: ArtifactRef[] = [];
    for (const arn of await this.flavour.sharedArns(this.backupClient(region))) {
      const ref = KINDS[this.kind].parseArn(arn);
      if (ref && wanted.has(ref.account) && ref.region === region && ref.id.startsWith(`${INTERMEDIATE_PREFIX}-`)) {
        refs.push(ref);
      }
    }
    return refs;
  }

  async copy(request: CopyRequest): Promise<CopyStarted> {
    try {
      await this.flavour.copy(
        this.backupClient(request.targetRegion),
        request,
        request.sourceRegion !== request.targetRegion,
      );
      return { outcome: 'started', targetId: request.targetName };
    } catch (error) {
      const { class: kind, code, message } = describeAwsError(error);
      const what = `${code}: ${message}`;
      if (kind === 'exists') return { outcome: 'exists', targetId: request.targetName };
      if (kind === 'quota' || kind === 'throttled') throw new CopyQuotaExceededError(what, { cause: error });
      if (kind === 'not-found' || kind === 'refused')
        throw new CopyRefusedError(`RDS refused the copy: ${what}`, { cause: error });
      throw error;
    }
  }

  async describeCopy(location: CopyLocation): Promise<CopyView | undefined> {
    const copy = await this.flavour.describe(
      this.backupClient(location.region),
      location.targetId ?? location.targetName,
    );
    return copy ? copyView(copy, location.region) : undefined;
  }

  /** One filtered describe of the copies' identifiers (the id is the name for RDS kinds). */
  async describeCopies(locations: readonly CopyLocation[], region: string): Promise<CopyView[]> {
    if (locations.length === 0) return [];
    if (locations.length > MAX_COPIES_PER_LOOK) throw new Error(`at most ${MAX_COPIES_PER_LOOK} copies a look`);
    const ids = [...new Set(locations.map((location) => location.targetId ?? location.targetName))];
    const copies = await this.flavour.describeMany(this.backupClient(region), ids);
    return copies.map((copy) => copyView(copy, region));
  }
}
