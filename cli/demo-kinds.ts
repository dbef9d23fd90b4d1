/**
 * The demo's Aurora clusters, EBS volumes and AMIs, and the check of every
 * copy of every kind, read back from the backup account with plain SDK
 * clients (not Bunker's copiers), so the demo's claims are checked the way
 * an operator would check them.
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { clientConfig } from '../lambdas/adapters/aws-context';
import type { InventoryRecord } from '../lambdas/core/inventory';
import { sameKmsKey } from '../lambdas/core/keys';
import { intakeTopicArn } from '../lambdas/core/names';
import { notificationOf } from '../lambdas/core/notification';
import type { BunkerConfig } from '../lib/config/schema';
import { localContext } from './local/accounts';
import { LOCAL_OPERATOR_ROLE } from './local/up';

const SCOPE_TAG = { Key: 'bunker:backup', Value: 'true' };
const PASSWORD = 'demo-only-not-a-secret';

async function clientsOf(endpoint: string, account: string, region: string) {
  const config = clientConfig(await localContext(endpoint, account, region, LOCAL_OPERATOR_ROLE));
  return {
    rds: new RDSClient(config),
    ec2: new EC2Client(config),
    kms: new KMSClient(config),
    sns: new SNSClient(config),
  };
}

/** A volume (under the account's own key, or the default `aws/ebs` key) and a snapshot of it. */
async function volumeSnapshot(ec2: EC2Client, region: string, inScope: boolean, kmsKeyId?: string) {
  const { VolumeId } = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: `${region}a`,
      Size: 8,
      Encrypted: true,
      ...(kmsKeyId ? { KmsKeyId: kmsKeyId } : {}),
      TagSpecifications: [{ ResourceType: 'volume', Tags: [inScope ? SCOPE_TAG : { Key: 'team', Value: 'scratch' }] }],
    }),
  );
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId, Description: 'demo data' }));
  if (!VolumeId || !SnapshotId) throw new Error('the emulator made no volume or snapshot');
  return { volumeId: VolumeId, snapshotId: SnapshotId };
}

/** An image registered from one snapshot under the account's own key. */
async function image(ec2: EC2Client, region: string, name: string, kmsKeyId: string, inScope: boolean) {
  const { snapshotId } = await volumeSnapshot(ec2, region, false, kmsKeyId);
  const { ImageId } = await ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      Architecture: 'x86_64',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshotId } }],
      TagSpecifications: [{ ResourceType: 'image', Tags: [inScope ? SCOPE_TAG : { Key: 'team', Value: 'scratch' }] }],
    }),
  );
  if (!ImageId) throw new Error('the emulator registered no image');
  return { imageId: ImageId, snapshotId };
}

/** An Aurora cluster, EBS snapshots and an AMI in the source accounts; some in scope, some not. */
export async function seedOtherKinds(config: BunkerConfig, endpoint: string, progress: (line: string) => void) {
  const region = config.backup.region;
  const [payments, storefront] = config.sources.map((s) => s.account);
  const p = await clientsOf(endpoint, payments, region);
  await p.rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: 'payments-ledger-cluster',
      Engine: 'aurora-postgresql',
      MasterUsername: 'demo',
      MasterUserPassword: PASSWORD,
      StorageEncrypted: true,
      Tags: [SCOPE_TAG],
    }),
  );
  await p.rds.send(
    new CreateDBClusterSnapshotCommand({
      DBClusterIdentifier: 'payments-ledger-cluster',
      DBClusterSnapshotIdentifier: 'ledger-cluster-before-migration',
    }),
  );
  progress(
    `  ${payments}: Aurora cluster payments-ledger-cluster (default aws/rds key), an automated and a manual snapshot`,
  );

  const s = await clientsOf(endpoint, storefront, region);
  const volume = await volumeSnapshot(s.ec2, region, true);
  await volumeSnapshot(s.ec2, region, false);
  progress(
    `  ${storefront}: EBS volume ${volume.volumeId} (default aws/ebs key) and its snapshot; an untagged volume too`,
  );
  const key = (await s.kms.send(new CreateKeyCommand({ Description: 'storefront image key' }))).KeyMetadata?.Arn ?? '';
  const web = await image(s.ec2, region, 'storefront-web', key, true);
  progress(`  ${storefront}: AMI storefront-web (${web.imageId}) backed by a snapshot under its own key`);
}

/** EC2 cases an attacker or a careless operator would send: a shared image whose storage is not shared. */
export async function sendHostileEc2Messages(config: BunkerConfig, endpoint: string, progress: (line: string) => void) {
  const region = config.backup.region;
  const [payments] = config.sources.map((s) => s.account);
  const p = await clientsOf(endpoint, payments, region);
  const key = (await p.kms.send(new CreateKeyCommand({ Description: 'payments image key' }))).KeyMetadata?.Arn ?? '';
  const half = await image(p.ec2, region, 'payments-batch-shared-by-hand', key, false);
  await p.ec2.send(
    new ModifyImageAttributeCommand({
      ImageId: half.imageId,
      LaunchPermission: { Add: [{ UserId: config.backup.account }] },
    }),
  );
  await p.sns.send(
    new PublishCommand({
      TopicArn: intakeTopicArn(config.name, config.backup.account, region, payments),
      Message: JSON.stringify(
        notificationOf({
          kind: 'ami',
          sourceAccount: payments,
          sourceRegion: region,
          id: half.imageId,
          publishedAt: new Date(),
        }),
      ),
    }),
  );
  progress(`  ${payments} shares an AMI by hand but not its backing snapshot ${half.snapshotId}, and announces it`);
}

export interface CopyCheck {
  readonly artifactId: string;
  readonly kind: string;
  readonly targetId: string;
  readonly exists: boolean;
  /** The copy, and for an AMI every backing snapshot, is encrypted under the backup-data key. */
  readonly underBackupKey: boolean;
  /** The account the copy belongs to, as the service reports it. */
  readonly account: string;
}

/** Reads every available copy back from the backup account, kind by kind, and checks its owner and key. */
export async function checkCopies(
  config: BunkerConfig,
  endpoint: string,
  backupKeyArn: string,
  records: readonly InventoryRecord[],
): Promise<CopyCheck[]> {
  const { rds, ec2 } = await clientsOf(endpoint, config.backup.account, config.backup.region);
  const checks: CopyCheck[] = [];
  for (const record of records.filter((r) => r.status === 'available' && r.targetId)) {
    const targetId = record.targetId as string;
    const base = { artifactId: record.artifactId, kind: record.kind, targetId };
    if (record.kind === 'rds-snapshot') {
      const copy = (await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: targetId })))
        .DBSnapshots?.[0];
      checks.push({
        ...base,
        exists: copy !== undefined,
        underBackupKey: copy?.Encrypted === true && sameKmsKey(copy.KmsKeyId, backupKeyArn),
        account: copy?.DBSnapshotArn?.split(':')[4] ?? '',
      });
    } else if (record.kind === 'aurora-cluster-snapshot') {
      const copy = (await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: targetId })))
        .DBClusterSnapshots?.[0];
      checks.push({
        ...base,
        exists: copy !== undefined,
        underBackupKey: copy?.StorageEncrypted === true && sameKmsKey(copy.KmsKeyId, backupKeyArn),
        account: copy?.DBClusterSnapshotArn?.split(':')[4] ?? '',
      });
    } else if (record.kind === 'ebs-snapshot') {
      const copy = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [targetId] }))).Snapshots?.[0];
      checks.push({
        ...base,
        exists: copy !== undefined,
        underBackupKey: copy?.Encrypted === true && sameKmsKey(copy.KmsKeyId, backupKeyArn),
        account: copy?.OwnerId ?? '',
      });
    } else if (record.kind === 'ami') {
      const copy = (await ec2.send(new DescribeImagesCommand({ ImageIds: [targetId] }))).Images?.[0];
      const backing = (copy?.BlockDeviceMappings ?? [])
        .map((m) => m.Ebs?.SnapshotId)
        .filter((id): id is string => !!id);
      const snapshots = backing.length
        ? ((await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: backing }))).Snapshots ?? [])
        : [];
      checks.push({
        ...base,
        exists: copy !== undefined,
        underBackupKey:
          snapshots.length > 0 &&
          snapshots.length === backing.length &&
          snapshots.every((snap) => snap.Encrypted === true && sameKmsKey(snap.KmsKeyId, backupKeyArn)),
        account: copy?.OwnerId ?? '',
      });
    }
  }
  return checks;
}

/** Every copy Bunker made in the backup account, of every kind, counted by the services themselves. */
export async function countCopies(config: BunkerConfig, endpoint: string): Promise<number> {
  const { rds, ec2 } = await clientsOf(endpoint, config.backup.account, config.backup.region);
  const ours = (id: string | undefined) => id?.startsWith('bunker-') ?? false;
  const db = (await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? [];
  const clusters =
    (await rds.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual' }))).DBClusterSnapshots ?? [];
  const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
  const snapshots =
    (
      await ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [{ Name: 'tag:bunker:kind', Values: ['ebs-snapshot'] }],
        }),
      )
    ).Snapshots ?? [];
  return (
    db.filter((s) => ours(s.DBSnapshotIdentifier)).length +
    clusters.filter((s) => ours(s.DBClusterSnapshotIdentifier)).length +
    images.filter((i) => ours(i.Name)).length +
    snapshots.length
  );
}
