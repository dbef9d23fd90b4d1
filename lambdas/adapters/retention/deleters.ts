/**
 * The pruner's SDK adapters: deleting a copy of each kind in the backup
 * account, and deleting an object version of the vault bucket. Every answer
 * is reduced to a {@link DeleteOutcome}: gone (nothing to do), locked (an
 * EBS snapshot lock, AMI deregistration protection, S3 Object Lock: left
 * for the next run, never retried here), refused, or deleted. What is
 * neither is thrown; the SDK's adaptive retry has already retried it.
 */
import { DeleteSnapshotCommand, DeregisterImageCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DeleteDBClusterSnapshotCommand, DeleteDBSnapshotCommand, RDSClient } from '@aws-sdk/client-rds';
import { DeleteObjectCommand, GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StoredVersion } from '../../core/retention/plan';
import type { CopyDeleter, CopyDeleters, CopyToDelete, DeleteOutcome, VaultVersions } from '../../core/retention/prune';
import { SettingsError } from '../../core/errors';
import type { KindName } from '../../kinds/types';
import { type AwsContext, clientConfig } from '../aws-context';
import { describeAwsError, isLockRefusal, type LockableCall } from '../aws-errors';
import { BackupEc2Clients } from '../ec2-common';

/**
 * Runs one delete call and says what it came to. `lockable` names the EC2
 * call whose lock or protection code means "locked" (`isLockRefusal`, by
 * code); S3's refusal of a version under Object Lock is told apart in
 * {@link S3VaultVersions.deleteVersion}.
 */
async function outcomeOf(call: () => Promise<unknown>, lockable?: LockableCall): Promise<DeleteOutcome> {
  try {
    await call();
    return { outcome: 'deleted' };
  } catch (error) {
    const { class: kind, code, message } = describeAwsError(error);
    const detail = `${code}: ${message}`;
    if (kind === 'not-found') return { outcome: 'gone' };
    if (lockable && isLockRefusal(lockable, error)) return { outcome: 'locked', detail };
    if (kind === 'refused') return { outcome: 'refused', detail };
    throw error;
  }
}

/** EC2 answers "not found" for an image it deregistered a while ago with this code too. */
const GONE_IMAGE = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable']);

function ebsDeleter(ec2: BackupEc2Clients): CopyDeleter {
  return {
    delete: (copy: CopyToDelete) =>
      outcomeOf(
        () => ec2.clientFor(copy.region).send(new DeleteSnapshotCommand({ SnapshotId: copy.targetId })),
        'DeleteSnapshot',
      ),
  };
}

/** Deregisters the image, then deletes its backing snapshots, which would otherwise stay and cost. */
function amiDeleter(ec2: BackupEc2Clients): CopyDeleter {
  return {
    async delete(copy: CopyToDelete): Promise<DeleteOutcome> {
      const client: EC2Client = ec2.clientFor(copy.region);
      let image = await outcomeOf(async () => {
        try {
          await client.send(new DeregisterImageCommand({ ImageId: copy.targetId }));
        } catch (error) {
          if (GONE_IMAGE.has(describeAwsError(error).code)) return;
          throw error;
        }
      }, 'DeregisterImage');
      if (image.outcome === 'locked' || image.outcome === 'refused') return image;
      for (const child of copy.children ?? []) {
        const snapshot = await outcomeOf(
          () => client.send(new DeleteSnapshotCommand({ SnapshotId: child })),
          'DeleteSnapshot',
        );
        if (snapshot.outcome === 'locked' || snapshot.outcome === 'refused') return snapshot;
        if (snapshot.outcome === 'deleted') image = { outcome: 'deleted' };
      }
      return image;
    },
  };
}

function rdsDeleter(context: AwsContext, cluster: boolean): CopyDeleter {
  const clients = new Map<string, RDSClient>();
  const clientFor = (region: string) => {
    let client = clients.get(region);
    if (!client) {
      client = new RDSClient(clientConfig(context, region));
      clients.set(region, client);
    }
    return client;
  };
  return {
    delete: (copy: CopyToDelete) =>
      outcomeOf(() =>
        cluster
          ? clientFor(copy.region).send(
              new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: copy.targetId }),
            )
          : clientFor(copy.region).send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: copy.targetId })),
      ),
  };
}

/**
 * Each kind's deleter behind its kind's bundle seam (`lib/bundling.ts`), as
 * the copiers are (`../copiers.ts`): a pruner deployed without a kind is
 * bundled with the seam defined as `'omit'`, the ternary folds to
 * {@link omittedDeleter}, and a pruner without EBS snapshots and AMIs
 * carries no EC2 client.
 *
 * `kinds`, the kinds the pruner has a retention policy for, are checked
 * against what the bundle kept: the seams are defined from those same
 * settings, so a policy for a kind left out means they were changed by hand,
 * refused at cold start rather than failing on each copy.
 */
export function sdkCopyDeleters(context: AwsContext, kinds: readonly KindName[] = []): CopyDeleters {
  // One set of EC2 clients for both EC2 kinds, made inside the seams (a local made outside them would keep the
  // client in); the `??` below is for the type only, since a kept EC2 kind always has it made.
  const ec2 =
    process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit' && process.env.BUNKER_BUNDLE_AMI === 'omit'
      ? undefined
      : new BackupEc2Clients(context);
  const deleters: CopyDeleters = {
    'rds-snapshot':
      process.env.BUNKER_BUNDLE_RDS_SNAPSHOT === 'omit' ? omittedDeleter('rds-snapshot') : rdsDeleter(context, false),
    'aurora-cluster-snapshot':
      process.env.BUNKER_BUNDLE_AURORA_CLUSTER_SNAPSHOT === 'omit'
        ? omittedDeleter('aurora-cluster-snapshot')
        : rdsDeleter(context, true),
    'ebs-snapshot':
      process.env.BUNKER_BUNDLE_EBS_SNAPSHOT === 'omit'
        ? omittedDeleter('ebs-snapshot')
        : ebsDeleter(ec2 ?? new BackupEc2Clients(context)),
    ami:
      process.env.BUNKER_BUNDLE_AMI === 'omit'
        ? omittedDeleter('ami')
        : amiDeleter(ec2 ?? new BackupEc2Clients(context)),
  };
  const leftOut = kinds.filter((kind) => OMITTED.has(deleters[kind]));
  if (leftOut.length > 0) {
    throw new SettingsError(
      `retention policies name ${leftOut.join(', ')}, but this function was bundled without ${leftOut.length === 1 ? 'it' : 'them'}`,
    );
  }
  return deleters;
}

/** The stand-ins of the kinds left out of this bundle. */
const OMITTED = new WeakSet<CopyDeleter>();

/**
 * What stands in for the deleter of a kind this pruner was deployed
 * without. The plan only expires copies of kinds with a policy, and a
 * policy for a left-out kind is refused at cold start, so it is never called.
 */
function omittedDeleter(kind: KindName): CopyDeleter {
  const deleter: CopyDeleter = {
    delete: () => {
      throw new Error(`${kind} is not enabled, so its deleter was left out of this function's bundle`);
    },
  };
  OMITTED.add(deleter);
  return deleter;
}

/** The vault bucket's versions. A delete names the version, so it removes data for good instead of adding a marker. */
export class S3VaultVersions implements VaultVersions {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async listVersions(prefix: string): Promise<StoredVersion[]> {
    const out: StoredVersion[] = [];
    // The S3 client has no paginator for ListObjectVersions: its two markers are followed by hand.
    let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      const page = await this.client.send(
        new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: prefix, ...markers }),
      );
      for (const version of page.Versions ?? []) {
        if (version.Key && version.VersionId) out.push({ key: version.Key, versionId: version.VersionId });
      }
      if (!page.IsTruncated) return out;
      markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return answer.Body ? await answer.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      const { code } = describeAwsError(error);
      if (code === 'NoSuchKey' || code === 'NotFound') return undefined;
      throw error;
    }
  }

  async deleteVersion(key: string, versionId: string): Promise<DeleteOutcome> {
    const outcome = await outcomeOf(() =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId })),
    );
    // The retention role's policy and the bucket policy both allow this delete, so an AccessDenied
    // is Object Lock holding the version (S3 does not always say so in the message; the emulator never does).
    if (outcome.outcome === 'refused' && outcome.detail.startsWith('AccessDenied')) {
      return { outcome: 'locked', detail: outcome.detail };
    }
    return outcome;
  }
}
