/**
 * The pruner's SDK adapters on the emulator, each read back with boto3: an
 * EBS snapshot deleted, an AMI deregistered with its backing snapshots, an
 * object version of an Object Lock bucket deleted after its retention and
 * refused before it. RDS deletions are covered end to end in
 * `retention.test.ts`.
 */
import { CreateBucketCommand, PutObjectCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { S3VaultVersions, sdkCopyDeleters } from '../../lambdas/adapters/retention/deleters';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { Ec2Accounts, encryptedSnapshot, REGION, sourceImage } from './support/ec2';

const endpoint = emulatorEndpoint();
const accounts = new Ec2Accounts(endpoint);
const s3Clients: S3Client[] = [];
afterAll(() => {
  accounts.destroy();
  for (const client of s3Clients.splice(0)) client.destroy();
});

/** Which of `ids` the account still has, read with boto3. */
async function snapshotsLeft(account: string, ids: string[]): Promise<string[]> {
  return boto3<string[]>(
    endpoint,
    account,
    `ec2 = client('ec2')
out(sorted(s['SnapshotId'] for s in ec2.describe_snapshots(OwnerIds=['self'])['Snapshots'] if s['SnapshotId'] in ARGS['ids']))`,
    { ids },
  );
}

describe('the copy deleters', () => {
  it('delete an EBS snapshot, and answer gone the second time', async () => {
    const backup = accounts.account();
    const { snapshotId } = await encryptedSnapshot(backup);
    const deleters = sdkCopyDeleters(await localContext(endpoint, backup.id, REGION, 'bunker-retention'));

    expect(await deleters['ebs-snapshot'].delete({ targetId: snapshotId, region: REGION })).toEqual({
      outcome: 'deleted',
    });
    expect(await snapshotsLeft(backup.id, [snapshotId])).toEqual([]);
    expect(await deleters['ebs-snapshot'].delete({ targetId: snapshotId, region: REGION })).toEqual({
      outcome: 'gone',
    });
  });

  it('deregister an AMI and delete its backing snapshots; an image already gone still has its snapshots deleted', async () => {
    const backup = accounts.account();
    const image = await sourceImage(backup);
    const deleters = sdkCopyDeleters(await localContext(endpoint, backup.id, REGION, 'bunker-retention'));

    expect(await deleters.ami.delete({ targetId: image.imageId, region: REGION, children: [image.root] })).toEqual({
      outcome: 'deleted',
    });
    const images = await boto3<string[]>(
      endpoint,
      backup.id,
      `out([i['ImageId'] for i in client('ec2').describe_images(Owners=['self'])['Images']])`,
    );
    expect(images).not.toContain(image.imageId);
    expect(await snapshotsLeft(backup.id, [image.root, image.data])).toEqual([image.data]);

    // The image is gone; the snapshot a crash left behind is still deleted.
    expect(
      await deleters.ami.delete({ targetId: image.imageId, region: REGION, children: [image.root, image.data] }),
    ).toEqual({ outcome: 'deleted' });
    expect(await snapshotsLeft(backup.id, [image.root, image.data])).toEqual([]);
  });
});

/** A fresh backup account's vault bucket, with Object Lock enabled, and the account's own S3 client. */
async function vaultBucket(): Promise<{ backup: string; s3: S3Client; bucket: string }> {
  const backup = freshAccountId();
  const s3 = new S3Client({ ...clientConfig(endpoint, backup, REGION), forcePathStyle: true });
  s3Clients.push(s3);
  const bucket = `bunker-vault-${backup}-${REGION}`;
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      CreateBucketConfiguration: { LocationConstraint: REGION },
      ObjectLockEnabledForBucket: true,
    }),
  );
  return { backup, s3, bucket };
}

describe('the vault versions', () => {
  it('list every version under a prefix, and delete one by its version id, for good', async () => {
    const { backup, s3, bucket } = await vaultBucket();
    const put = async (key: string) =>
      (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))).VersionId as string;
    const old = await put('ssm/123456789012/eu-west-1/%2Fapp/20260101T000000.000Z-1.json');
    const fingerprint = await put('keys/fingerprint-v1');
    const context = await localContext(endpoint, backup, REGION, 'bunker-retention');
    const versions = new S3VaultVersions(
      new S3Client({
        ...clientConfig(endpoint, backup, REGION),
        forcePathStyle: true,
        credentials: context.credentials,
      }),
      bucket,
    );

    expect(await versions.listVersions('ssm/')).toEqual([
      { key: 'ssm/123456789012/eu-west-1/%2Fapp/20260101T000000.000Z-1.json', versionId: old },
    ]);
    expect(await versions.deleteVersion('ssm/123456789012/eu-west-1/%2Fapp/20260101T000000.000Z-1.json', old)).toEqual({
      outcome: 'deleted',
    });
    const left = await boto3<{ key: string; id: string; marker: boolean }[]>(
      endpoint,
      backup,
      `s3 = client('s3')
page = s3.list_object_versions(Bucket=ARGS['bucket'])
out([{'key': v['Key'], 'id': v['VersionId'], 'marker': False} for v in page.get('Versions', [])]
    + [{'key': m['Key'], 'id': m['VersionId'], 'marker': True} for m in page.get('DeleteMarkers', [])])`,
      { bucket },
    );
    // A manifest is read whole; a key with no object reads as nothing.
    expect(Buffer.from((await versions.get('keys/fingerprint-v1')) ?? []).toString()).toBe('x');
    expect(await versions.get('dynamodb/none/manifest.json')).toBeUndefined();
    // Gone for good: no version and no delete marker left, and the fingerprint key untouched.
    expect(left).toEqual([{ key: 'keys/fingerprint-v1', id: fingerprint, marker: false }]);
  });

  it('answer locked for a version under Object Lock retention, and leave it', async () => {
    const { s3, bucket } = await vaultBucket();
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
        },
      }),
    );
    const { VersionId } = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'secrets/123456789012/eu-west-1/db/v.json', Body: 'x' }),
    );
    const versions = new S3VaultVersions(s3, bucket);

    const outcome = await versions.deleteVersion('secrets/123456789012/eu-west-1/db/v.json', VersionId as string);

    expect(outcome).toEqual({ outcome: 'locked', detail: 'AccessDenied: Access Denied' });
    expect(await versions.listVersions('secrets/')).toEqual([
      { key: 'secrets/123456789012/eu-west-1/db/v.json', versionId: VersionId },
    ]);
  });
});
