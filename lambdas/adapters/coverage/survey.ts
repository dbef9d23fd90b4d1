/**
 * What production has, as coverage sees it: every resource of every kind,
 * enabled or not, listed through the source account's read-only reader role,
 * with the facts coverage judges (the AWS-managed key, the TDE option,
 * point-in-time recovery). Metadata only: no value, item or snapshot is read.
 *
 * The pulled kinds are listed with the pull's own SDK sources (the same
 * DescribeParameters, tagging, ListSecrets and ListTables pages), with the
 * reader role's credentials instead of the puller's, which reads values and
 * only in scope. The snapshot kinds get listings of their own: the audit's
 * discovery (`../audit/discovery.ts`) lists only what it judges and reads
 * neither keys nor option groups.
 *
 * The reader role may list this metadata in every Region (only the copiers'
 * reads are held to the registered ones), so the same survey runs in a
 * Region the configuration does not register; the account's enabled Regions
 * come from DescribeRegions. One set of role credentials serves every
 * Region of an account: the session is not Regional, and assuming the role
 * once per client would cost an STS call each.
 */
import {
  type DBInstance,
  paginateDescribeDBClusters,
  paginateDescribeDBInstances,
  paginateDescribeOptionGroups,
  RDSClient,
} from '@aws-sdk/client-rds';
import {
  DescribeRegionsCommand,
  EC2Client,
  type Image,
  paginateDescribeImages,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import { KMSClient, paginateListAliases } from '@aws-sdk/client-kms';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { type DescribedRegion, ENABLED_OPT_IN } from '../../core/coverage/regions';
import type { FoundResource, PlaceSurvey } from '../../core/coverage/types';
import { kmsKeyIdOf } from '../../core/keys';
import { readerRoleArn, sourceNames } from '../../core/names';
import { failureReason } from '../../core/pull/values';
import { TAG_INTERMEDIATE } from '../../core/rds-source-agent';
import type { ArtifactKind } from '../../../lib/config/schema';
import { type AwsContext, clientConfig } from '../aws-context';
import { secretsSourceFor } from '../pull/secrets-source';
import { ssmSourceFor } from '../pull/ssm-source';
import { SdkTableSource } from '../pull/table-source';
import { tagsOf } from '../reader-role';

/** The AWS-managed keys whose snapshots no other account can use, by the service whose snapshots they encrypt. */
const DEFAULT_KEYS = ['alias/aws/rds', 'alias/aws/ebs'] as const;

/** Option names that turn on Transparent Data Encryption (Oracle `TDE`, SQL Server `TDE`, and Oracle's older `TDE_HSM`). */
const isTdeOption = (name: string | undefined) => name !== undefined && /^TDE/.test(name);
const tdeEngine = (engine: string | undefined) =>
  engine !== undefined && /^(oracle|sqlserver|custom-oracle|custom-sqlserver)/.test(engine);

/** Snapshot ids per DescribeSnapshots filter: EC2 takes up to 200 values in one filter. */
const SNAPSHOT_FILTER_VALUES = 200;

/** Refresh the reader role's credentials this long before they expire. */
const CREDENTIALS_MARGIN_MS = 5 * 60_000;

/** Lists one account and Region. */
export interface Surveyor {
  survey(account: string, region: string, registered: boolean): Promise<PlaceSurvey>;
  /**
   * The Regions the account has enabled, asked in `region` (one of its
   * registered ones). Throws when the reader role may not ask (a source
   * stack older than the statement that lets it).
   */
  enabledRegions(account: string, region: string): Promise<DescribedRegion[]>;
}

interface Keys {
  /** Key id → `aws/rds` | `aws/ebs`. */
  readonly defaults: ReadonlyMap<string, string>;
  readonly agent: boolean;
}

export class ReaderRoleSurvey implements Surveyor {
  constructor(
    private readonly context: AwsContext,
    private readonly prefix: string,
    private readonly partition = 'aws',
    private readonly kinds: readonly ArtifactKind[] = ['rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb'],
  ) {}

  private readonly sessions = new Map<string, AwsCredentialIdentityProvider>();

  /**
   * The account's reader role credentials, assumed once and shared by every
   * client in every Region until shortly before they expire. STS is asked in
   * the backup account's Region, whose session tokens are valid in every
   * Region, opt-in ones included.
   */
  private session(account: string): AwsCredentialIdentityProvider {
    let provider = this.sessions.get(account);
    if (!provider) {
      const assume = fromTemporaryCredentials({
        params: {
          RoleArn: readerRoleArn(this.prefix, account, this.context.region, this.partition),
          RoleSessionName: 'bunker-coverage',
        },
        ...(this.context.credentials ? { masterCredentials: this.context.credentials } : {}),
        clientConfig: clientConfig(this.context),
      });
      let held: Promise<AwsCredentialIdentity> | undefined;
      provider = async () => {
        const current = held ? await held.catch(() => undefined) : undefined;
        const expiration = current?.expiration?.getTime();
        if (!current || (expiration !== undefined && expiration - Date.now() < CREDENTIALS_MARGIN_MS)) {
          held = assume();
        }
        return held as Promise<AwsCredentialIdentity>;
      };
      this.sessions.set(account, provider);
    }
    return provider;
  }

  /** The source account's reader role, in `region`. */
  private reader(account: string, region: string): AwsContext {
    return {
      region,
      ...(this.context.endpoint ? { endpoint: this.context.endpoint } : {}),
      credentials: this.session(account),
    };
  }

  async enabledRegions(account: string, region: string): Promise<DescribedRegion[]> {
    const ec2 = new EC2Client(clientConfig(this.reader(account, region)));
    try {
      // Not paginated: one answer lists every Region. AllRegions false is the enabled ones, the filter says so twice.
      const { Regions } = await ec2.send(
        new DescribeRegionsCommand({
          AllRegions: false,
          Filters: [{ Name: 'opt-in-status', Values: [...ENABLED_OPT_IN] }],
        }),
      );
      return (Regions ?? [])
        .filter((r) => r.RegionName)
        .map((r) => ({ name: r.RegionName as string, ...(r.OptInStatus ? { optInStatus: r.OptInStatus } : {}) }));
    } finally {
      ec2.destroy();
    }
  }

  async survey(account: string, region: string, registered: boolean): Promise<PlaceSurvey> {
    const context = this.reader(account, region);
    const rds = new RDSClient(clientConfig(context));
    const ec2 = new EC2Client(clientConfig(context));
    const kms = new KMSClient(clientConfig(context));
    const unlisted: PlaceSurvey['unlisted'][number][] = [];
    const resources: FoundResource[] = [];
    try {
      let keys: Keys | undefined;
      try {
        keys = await this.keys(kms, region);
      } catch (error) {
        unlisted.push({ kind: 'keys', reason: failureReason(error) });
      }
      const defaults = keys?.defaults ?? new Map<string, string>();
      const listers: Record<ArtifactKind, () => Promise<FoundResource[]>> = {
        rds: () => dbInstances(rds, defaults),
        aurora: () => dbClusters(rds, defaults),
        ebs: () => volumes(ec2, defaults),
        ami: () => images(ec2, defaults),
        ssm: () => parameters(context),
        secrets: () => secrets(context),
        dynamodb: () => tables(context, account),
      };
      for (const kind of this.kinds) {
        try {
          resources.push(...(await listers[kind]()));
        } catch (error) {
          unlisted.push({ kind, reason: failureReason(error) });
        }
      }
      return { account, region, registered, ...(keys ? { agent: keys.agent } : {}), resources, unlisted };
    } finally {
      rds.destroy();
      ec2.destroy();
      kms.destroy();
    }
  }

  /** One ListAliases listing: the AWS-managed keys' ids, and whether the source stack's share key is here. */
  private async keys(kms: KMSClient, region: string): Promise<Keys> {
    const defaults = new Map<string, string>();
    let agent = false;
    const share = sourceNames(this.prefix, region).shareKeyAlias;
    for await (const page of paginateListAliases({ client: kms }, {})) {
      for (const alias of page.Aliases ?? []) {
        if (alias.AliasName === share) agent = true;
        if ((DEFAULT_KEYS as readonly string[]).includes(alias.AliasName ?? '') && alias.TargetKeyId) {
          defaults.set(alias.TargetKeyId.toLowerCase(), (alias.AliasName as string).replace(/^alias\//, ''));
        }
      }
    }
    return { defaults, agent };
  }
}

const defaultKeyOf = (defaults: ReadonlyMap<string, string>, keyRef: string | undefined) => {
  const id = kmsKeyIdOf(keyRef);
  return id ? defaults.get(id) : undefined;
};

function found(
  kind: ArtifactKind,
  id: string,
  tags: Record<string, string>,
  facts: Partial<FoundResource> = {},
  scopeIds: readonly string[] = [id],
): FoundResource {
  return { kind, id, scopeIds, tags, ...facts };
}

async function dbInstances(client: RDSClient, defaults: ReadonlyMap<string, string>): Promise<FoundResource[]> {
  const instances: DBInstance[] = [];
  for await (const page of paginateDescribeDBInstances({ client }, {})) instances.push(...(page.DBInstances ?? []));
  // TDE is an option of the instance's option group: only Oracle and SQL Server groups are read.
  const groups = new Set(
    instances
      .filter((i) => tdeEngine(i.Engine))
      .flatMap((i) => (i.OptionGroupMemberships ?? []).map((m) => m.OptionGroupName ?? '')),
  );
  const tde = new Set<string>();
  for (const group of [...groups].filter(Boolean)) {
    for await (const page of paginateDescribeOptionGroups({ client }, { OptionGroupName: group })) {
      for (const og of page.OptionGroupsList ?? []) {
        if ((og.Options ?? []).some((o) => isTdeOption(o.OptionName))) tde.add(group);
      }
    }
  }
  return (
    instances
      // An Aurora cluster's members have no snapshots of their own: the cluster is the resource (`aurora`).
      .filter((i) => i.DBInstanceIdentifier && !i.DBClusterIdentifier)
      .map((i) => {
        const tdeGroup = tdeEngine(i.Engine)
          ? (i.OptionGroupMemberships ?? []).map((m) => m.OptionGroupName ?? '').find((g) => tde.has(g))
          : undefined;
        const defaultKey = i.StorageEncrypted ? defaultKeyOf(defaults, i.KmsKeyId) : undefined;
        return found('rds', i.DBInstanceIdentifier as string, tagsOf(i.TagList), {
          ...(i.Engine ? { engine: i.Engine } : {}),
          ...(tdeGroup ? { tdeOptionGroup: tdeGroup } : {}),
          ...(defaultKey ? { defaultKey } : {}),
        });
      })
  );
}

async function dbClusters(client: RDSClient, defaults: ReadonlyMap<string, string>): Promise<FoundResource[]> {
  const out: FoundResource[] = [];
  for await (const page of paginateDescribeDBClusters({ client }, {})) {
    for (const cluster of page.DBClusters ?? []) {
      if (!cluster.DBClusterIdentifier) continue;
      const defaultKey = cluster.StorageEncrypted ? defaultKeyOf(defaults, cluster.KmsKeyId) : undefined;
      out.push(
        found('aurora', cluster.DBClusterIdentifier, tagsOf(cluster.TagList), {
          ...(cluster.Engine ? { engine: cluster.Engine } : {}),
          ...(defaultKey ? { defaultKey } : {}),
        }),
      );
    }
  }
  return out;
}

async function volumes(client: EC2Client, defaults: ReadonlyMap<string, string>): Promise<FoundResource[]> {
  const out: FoundResource[] = [];
  for await (const page of paginateDescribeVolumes({ client }, {})) {
    for (const volume of page.Volumes ?? []) {
      if (!volume.VolumeId) continue;
      const defaultKey = volume.Encrypted ? defaultKeyOf(defaults, volume.KmsKeyId) : undefined;
      out.push(found('ebs', volume.VolumeId, tagsOf(volume.Tags), defaultKey ? { defaultKey } : {}));
    }
  }
  return out;
}

/**
 * Production's own images; the source agent's re-keyed intermediates are
 * Bunker's, not production's. DescribeImages names an image's backing
 * snapshots but not their key: the keys come from DescribeSnapshots of
 * those snapshots (by filter, which unlike SnapshotIds does not fail the
 * whole page on a snapshot deleted since), and only when an AWS-managed key
 * is known in this Region at all.
 */
async function images(client: EC2Client, defaults: ReadonlyMap<string, string>): Promise<FoundResource[]> {
  const own: Image[] = [];
  for await (const page of paginateDescribeImages({ client }, { Owners: ['self'] })) {
    for (const image of page.Images ?? []) {
      if (image.ImageId && tagsOf(image.Tags)[TAG_INTERMEDIATE] !== 'true') own.push(image);
    }
  }
  const backing = (image: Image) =>
    (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
  const snapshotKeys = new Map<string, string>();
  const wanted = [...new Set(own.flatMap(backing))];
  for (let start = 0; defaults.size > 0 && start < wanted.length; start += SNAPSHOT_FILTER_VALUES) {
    const Values = wanted.slice(start, start + SNAPSHOT_FILTER_VALUES);
    const filter = { OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values }] };
    for await (const page of paginateDescribeSnapshots({ client }, filter)) {
      for (const snapshot of page.Snapshots ?? []) {
        if (snapshot.SnapshotId && snapshot.KmsKeyId) snapshotKeys.set(snapshot.SnapshotId, snapshot.KmsKeyId);
      }
    }
  }
  return own.map((image) => {
    const defaultKey = backing(image)
      .map((snapshot) => defaultKeyOf(defaults, snapshotKeys.get(snapshot)))
      .find((key) => key !== undefined);
    return found('ami', image.ImageId as string, tagsOf(image.Tags), defaultKey ? { defaultKey } : {});
  });
}

async function parameters(context: AwsContext): Promise<FoundResource[]> {
  const source = ssmSourceFor(context);
  const [all, tags] = await Promise.all([source.describe(), source.tags()]);
  return all.map((p) => found('ssm', p.name, tags.get(p.name) ?? {}, {}, p.arn ? [p.name, p.arn] : [p.name]));
}

async function secrets(context: AwsContext): Promise<FoundResource[]> {
  const all = await secretsSourceFor(context).list();
  return all.map((s) => found('secrets', s.name, { ...s.tags }, {}, [s.name, s.arn]));
}

async function tables(context: AwsContext, account: string): Promise<FoundResource[]> {
  // No export is started: the staging bucket is never named to DynamoDB by a listing.
  const source = new SdkTableSource(context, '', account);
  try {
    const out: FoundResource[] = [];
    for (const table of await source.listTables()) {
      const pitr = await source.pitr(table.name);
      out.push(found('dynamodb', table.name, { ...table.tags }, { pointInTimeRecovery: pitr.enabled }));
    }
    return out;
  } finally {
    source.destroy();
  }
}
