/**
 * The real EC2 copiers (EbsSnapshotCopier, AmiCopier) against the emulator,
 * through the real credential path: the copier acts as the backup account
 * (`bunker-intake`) and reads each source through its `bunker-reader` role
 * (STS AssumeRole from the backup account's credentials). What a copy made is
 * read back with the backup account's own EC2 client, never through the
 * copier. Each test uses fresh accounts on the shared emulator.
 *
 * Cross-account snapshots and images, and the keys they are under, exist
 * only through Bunker's launcher extension (tools/moto/bunker_moto.py):
 * tests that depend on it end in "(bunker moto launcher)".
 */
import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import { CopyRefusedError } from '../../lambdas/core/errors';
import { ami } from '../../lambdas/kinds/ami/kind';
import { ebsSnapshot } from '../../lambdas/kinds/ebs-snapshot/kind';
import type { SourceView } from '../../lambdas/kinds/types';
import { emulatorEndpoint } from '../support/emulator';
import {
  amiRef,
  backingSnapshotIds,
  copyTagsOf,
  createKey,
  Ec2Accounts,
  ebsRef,
  encryptedSnapshot,
  firstCopyRequest,
  OTHER_REGION,
  ownImages,
  ownSnapshots,
  REGION,
  shareImage,
  shareImageAndStorage,
  shareSnapshot,
  sourceImage,
  tagRecord,
  vaultCopiers,
} from './support/ec2';

const endpoint = emulatorEndpoint();
const accounts = new Ec2Accounts(endpoint);
afterAll(() => accounts.destroy());

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe('EbsSnapshotCopier.describeSource', () => {
  it("reads a shared encrypted snapshot through the reader role: owner, key, sharing, volume, its own tags, and the volume's under them only when asked (bunker moto launcher)", async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const before = Date.now();
    const { snapshotId, volumeId, key } = await encryptedSnapshot(source, {
      volumeTags: { app: 'orders', team: 'volume-team', 'bunker:backup': 'true' },
      snapshotTags: { team: 'snapshot-team', purpose: 'nightly' },
    });
    await shareSnapshot(source, snapshotId, backup.id);
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const ref = ebsRef(source, snapshotId);

    const view = await ebs.describeSource(ref);

    expect(view).toEqual({
      ref,
      arn: `arn:aws:ec2:eu-west-1::snapshot/${snapshotId}`,
      ownerAccount: source.id,
      state: 'available',
      detail: 'completed',
      encrypted: true,
      keyArn: key,
      sharedWith: [backup.id],
      producedAt: expect.stringMatching(ISO_TIMESTAMP),
      resourceId: volumeId,
      scopeIds: [volumeId, snapshotId],
      scopeTags: { team: 'snapshot-team', purpose: 'nightly' },
      sizeGiB: 8,
    });
    // The snapshot's tag wins over the volume's.
    expect(await ebs.resourceScopeTags?.(view as SourceView)).toEqual({
      app: 'orders',
      team: 'snapshot-team',
      'bunker:backup': 'true',
      purpose: 'nightly',
    });
    const producedAt = Date.parse(view?.producedAt ?? '');
    expect(producedAt).toBeGreaterThanOrEqual(before - 5_000);
    expect(producedAt).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(key).toMatch(new RegExp(`^arn:aws:kms:eu-west-1:${source.id}:key/`));
  });

  it('takes the production snapshot and its time from the source agent tags of an intermediate (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const { snapshotId, volumeId } = await encryptedSnapshot(source, {
      snapshotTags: {
        'bunker:source-snapshot': 'snap-0aaaabbbbccccdddd',
        'bunker:source-created-at': '2026-01-02T03:04:05Z',
      },
    });
    await shareSnapshot(source, snapshotId, backup.id);
    const { ebs } = await vaultCopiers(endpoint, backup.id);

    const view = await ebs.describeSource(ebsRef(source, snapshotId));

    expect(view).toMatchObject({
      productionId: 'snap-0aaaabbbbccccdddd',
      producedAt: '2026-01-02T03:04:05.000Z',
      scopeIds: [volumeId, 'snap-0aaaabbbbccccdddd', snapshotId],
    });
  });

  it('answers undefined for a snapshot another account owns, even when it is shared with the named account (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const other = accounts.account();
    const { snapshotId } = await encryptedSnapshot(other);
    // The source account can read it, and so could the backup account: ownership still decides.
    await shareSnapshot(other, snapshotId, source.id);
    await shareSnapshot(other, snapshotId, backup.id);
    const { ebs } = await vaultCopiers(endpoint, backup.id);

    expect(await ebs.describeSource(ebsRef(source, snapshotId))).toBeUndefined();
  });

  it('answers undefined for a snapshot that is another account’s and not shared at all', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const other = accounts.account();
    const { snapshotId } = await encryptedSnapshot(other);
    const { ebs } = await vaultCopiers(endpoint, backup.id);

    expect(await ebs.describeSource(ebsRef(source, snapshotId))).toBeUndefined();
  });

  it('answers undefined for a snapshot id that does not exist', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const { ebs } = await vaultCopiers(endpoint, backup.id);

    expect(await ebs.describeSource(ebsRef(source, 'snap-0123456789abcdef0'))).toBeUndefined();
  });
});

describe('EbsSnapshotCopier.copy and describeCopy', () => {
  it('copies a shared snapshot into the backup account under the backup key with the given tags (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const { snapshotId, volumeId, key: sourceKey } = await encryptedSnapshot(source);
    await shareSnapshot(source, snapshotId, backup.id);
    const backupKey = await createKey(backup);
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const ref = ebsRef(source, snapshotId);
    const targetName = ebsSnapshot.targetName(ref, 0);
    const tags = copyTagsOf(ref, targetName, volumeId);

    const started = await ebs.copy(firstCopyRequest(ebsSnapshot, ref, targetName, backupKey, tags));

    expect(started).toEqual({ outcome: 'started', targetId: expect.stringMatching(/^snap-[0-9a-f]+$/) });
    const copyId = started.targetId ?? '';
    expect(copyId).not.toBe(snapshotId);
    // Read back by the backup account itself, not by the copier.
    const { Snapshots } = await backup.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [copyId] }));
    expect(Snapshots).toHaveLength(1);
    const copy = Snapshots?.[0];
    expect(copy).toMatchObject({
      SnapshotId: copyId,
      OwnerId: backup.id,
      Encrypted: true,
      KmsKeyId: backupKey,
      State: 'completed',
      VolumeSize: 8,
      Description: `Bunker copy of ${snapshotId} from ${source.id}`,
    });
    expect(tagRecord(copy?.Tags)).toEqual({
      'bunker:managed-by': 'bunker',
      'bunker:kind': 'ebs-snapshot',
      'bunker:source-account': source.id,
      'bunker:source-region': 'eu-west-1',
      'bunker:source-id': snapshotId,
      'bunker:copy-name': targetName,
      'bunker:source-resource': volumeId,
    });
    expect((await ownSnapshots(backup)).map((s) => s.SnapshotId)).toEqual([copyId]);
    // The source keeps its own snapshot under its own key.
    expect((await ownSnapshots(source)).map((s) => [s.SnapshotId, s.KmsKeyId])).toEqual([[snapshotId, sourceKey]]);
  });

  it('answers exists with the first copy when the same target name is copied again (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const { snapshotId, volumeId } = await encryptedSnapshot(source);
    await shareSnapshot(source, snapshotId, backup.id);
    const backupKey = await createKey(backup);
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const ref = ebsRef(source, snapshotId);
    const targetName = ebsSnapshot.targetName(ref, 0);
    const request = firstCopyRequest(ebsSnapshot, ref, targetName, backupKey, copyTagsOf(ref, targetName, volumeId));

    const first = await ebs.copy(request);
    const again = await ebs.copy(request);

    expect(first.outcome).toBe('started');
    expect(again).toEqual({ outcome: 'exists', targetId: first.targetId });
    const { Snapshots } = await backup.ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'tag:bunker:copy-name', Values: [targetName] }],
      }),
    );
    expect(Snapshots?.map((s) => s.SnapshotId)).toEqual([first.targetId]);
    expect(await ownSnapshots(backup)).toHaveLength(1);
  });

  it('refuses to copy a snapshot that is not shared with the backup account (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const other = accounts.account();
    const { snapshotId, volumeId } = await encryptedSnapshot(source);
    // Shared, but with a third account only.
    await shareSnapshot(source, snapshotId, other.id);
    const backupKey = await createKey(backup);
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const ref = ebsRef(source, snapshotId);
    const targetName = ebsSnapshot.targetName(ref, 0);

    const refused = await ebs
      .copy(firstCopyRequest(ebsSnapshot, ref, targetName, backupKey, copyTagsOf(ref, targetName, volumeId)))
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(CopyRefusedError);
    expect((refused as Error).message).toMatch(/^EC2 refused the copy: InvalidSnapshot\.NotFound: /);
    expect(await ownSnapshots(backup)).toEqual([]);
  });

  it('describes a copy the same way by its id and by its name (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const { snapshotId, volumeId } = await encryptedSnapshot(source, { sizeGiB: 12 });
    await shareSnapshot(source, snapshotId, backup.id);
    const backupKey = await createKey(backup);
    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const ref = ebsRef(source, snapshotId);
    const targetName = ebsSnapshot.targetName(ref, 0);
    const tags = copyTagsOf(ref, targetName, volumeId);
    const { targetId } = await ebs.copy(firstCopyRequest(ebsSnapshot, ref, targetName, backupKey, tags));

    const byId = await ebs.describeCopy({ targetName, targetId, region: REGION });
    const byName = await ebs.describeCopy({ targetName, region: REGION });

    expect(byId).toEqual({
      targetId,
      arn: `arn:aws:ec2:eu-west-1::snapshot/${targetId}`,
      region: 'eu-west-1',
      state: 'available',
      detail: 'completed',
      encrypted: true,
      keyArn: backupKey,
      sizeGiB: 12,
      tags,
    });
    expect(byName).toEqual(byId);
    // A name nothing was copied under, and an id the backup account does not own.
    expect(await ebs.describeCopy({ targetName: 'bunker-never-copied', region: REGION })).toBeUndefined();
    expect(await ebs.describeCopy({ targetName, targetId: snapshotId, region: REGION })).toBeUndefined();
  });

  it('copies a snapshot from a source in another Region into the backup Region (bunker moto launcher)', async () => {
    const source = accounts.account(undefined, OTHER_REGION);
    const backup = accounts.account();
    const {
      snapshotId,
      volumeId,
      key: sourceKey,
    } = await encryptedSnapshot(source, {
      volumeTags: { app: 'orders' },
    });
    await shareSnapshot(source, snapshotId, backup.id);
    const backupKey = await createKey(backup);
    // The vault lives in eu-west-1; the source is read in eu-central-1.
    const { ebs } = await vaultCopiers(endpoint, backup.id, REGION);
    const ref = ebsRef(source, snapshotId);
    expect(ref.region).toBe('eu-central-1');

    const view = await ebs.describeSource(ref);
    expect(view).toMatchObject({
      arn: `arn:aws:ec2:eu-central-1::snapshot/${snapshotId}`,
      ownerAccount: source.id,
      keyArn: sourceKey,
      sharedWith: [backup.id],
      resourceId: volumeId,
      scopeTags: {},
    });
    expect(await ebs.resourceScopeTags?.(view as SourceView)).toEqual({ app: 'orders' });

    const targetName = ebsSnapshot.targetName(ref, 0);
    const started = await ebs.copy(
      firstCopyRequest(ebsSnapshot, ref, targetName, backupKey, copyTagsOf(ref, targetName, volumeId)),
    );

    expect(started.outcome).toBe('started');
    const inBackupRegion = await ownSnapshots(backup);
    expect(inBackupRegion.map((s) => [s.SnapshotId, s.OwnerId, s.Encrypted, s.KmsKeyId])).toEqual([
      [started.targetId, backup.id, true, backupKey],
    ]);
    expect(tagRecord(inBackupRegion[0]?.Tags)).toMatchObject({
      'bunker:source-region': 'eu-central-1',
      'bunker:copy-name': targetName,
    });
    // Nothing landed in the backup account's copy of the source Region.
    expect(await ownSnapshots(accounts.inRegion(backup, OTHER_REGION))).toEqual([]);
    expect(await ebs.describeCopy({ targetName, region: REGION })).toMatchObject({
      targetId: started.targetId,
      region: 'eu-west-1',
      keyArn: backupKey,
    });
  });
});

describe('AmiCopier.describeSource', () => {
  it('reads a shared image with its encrypted backing snapshots, their keys and sharing (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImageAndStorage(source, image, backup.id);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, image.imageId);

    const view = await copier.describeSource(ref);

    expect(view).toEqual({
      ref,
      arn: `arn:aws:ec2:eu-west-1::image/${image.imageId}`,
      ownerAccount: source.id,
      state: 'available',
      detail: 'available',
      encrypted: true,
      sharedWith: [backup.id],
      producedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      resourceId: 'orders-server',
      scopeIds: [image.imageId],
      scopeTags: { app: 'orders' },
      children: [
        { id: image.root, encrypted: true, keyArn: image.key, sharedWith: [backup.id] },
        { id: image.data, encrypted: true, keyArn: image.key, sharedWith: [backup.id] },
      ],
    });
  });

  it('shows a backing snapshot that is not shared without the backup account (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImage(source, image.imageId, backup.id);
    await shareSnapshot(source, image.root, backup.id);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);

    const view = await copier.describeSource(amiRef(source, image.imageId));

    expect(view?.sharedWith).toEqual([backup.id]);
    expect(view?.children).toEqual([
      { id: image.root, encrypted: true, keyArn: image.key, sharedWith: [backup.id] },
      { id: image.data, encrypted: true, keyArn: image.key, sharedWith: [] },
    ]);
  });

  it('answers undefined for an image another account owns, even when it is shared with the named account (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const other = accounts.account();
    const image = await sourceImage(other);
    await shareImageAndStorage(other, image, source.id);
    await shareImageAndStorage(other, image, backup.id);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);

    expect(await copier.describeSource(amiRef(source, image.imageId))).toBeUndefined();
  });

  it('answers undefined for an image id that does not exist', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);

    expect(await copier.describeSource(amiRef(source, 'ami-0123456789abcdef0'))).toBeUndefined();
  });
});

describe('AmiCopier.copy and describeCopy', () => {
  it('copies a shared image into the backup account with every backing snapshot under the backup key (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImageAndStorage(source, image, backup.id);
    const backupKey = await createKey(backup);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, image.imageId);
    const targetName = ami.targetName(ref, 0);
    const tags = copyTagsOf(ref, targetName, 'orders-server');

    const started = await copier.copy(firstCopyRequest(ami, ref, targetName, backupKey, tags));

    expect(started).toEqual({ outcome: 'started', targetId: expect.stringMatching(/^ami-[0-9a-f]+$/) });
    const copyId = started.targetId ?? '';
    // Read back by the backup account itself.
    const { Images } = await backup.ec2.send(new DescribeImagesCommand({ ImageIds: [copyId] }));
    expect(Images).toHaveLength(1);
    const copy = Images?.[0];
    expect(copy).toMatchObject({
      ImageId: copyId,
      OwnerId: backup.id,
      Name: targetName,
      SourceImageId: image.imageId,
      SourceImageRegion: 'eu-west-1',
      State: 'available',
    });
    expect(tagRecord(copy?.Tags)).toEqual(tags);
    const copiedSnapshots = backingSnapshotIds(copy);
    expect(copiedSnapshots).toHaveLength(2);
    expect(copiedSnapshots).not.toContain(image.root);
    expect(copiedSnapshots).not.toContain(image.data);
    const { Snapshots } = await backup.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: copiedSnapshots }));
    const facts = (Snapshots ?? [])
      .map((s) => [s.OwnerId, s.Encrypted, s.KmsKeyId, s.VolumeSize])
      .sort((a, b) => Number(a[3]) - Number(b[3]));
    expect(facts).toEqual([
      [backup.id, true, backupKey, 8],
      [backup.id, true, backupKey, 20],
    ]);
    expect((Snapshots ?? []).map((s) => tagRecord(s.Tags))).toEqual([tags, tags]);
    expect((await ownImages(backup)).map((i) => i.ImageId)).toEqual([copyId]);
    expect((await ownSnapshots(backup)).map((s) => s.SnapshotId).sort()).toEqual([...copiedSnapshots].sort());
  });

  it('describes an image copy with its backing snapshots under the backup key, by id and by name (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImageAndStorage(source, image, backup.id);
    const backupKey = await createKey(backup);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, image.imageId);
    const targetName = ami.targetName(ref, 0);
    const tags = copyTagsOf(ref, targetName, 'orders-server');
    const { targetId } = await copier.copy(firstCopyRequest(ami, ref, targetName, backupKey, tags));
    const { Images } = await backup.ec2.send(new DescribeImagesCommand({ ImageIds: [targetId ?? ''] }));
    const [rootCopy, dataCopy] = backingSnapshotIds(Images?.[0]);

    const byId = await copier.describeCopy({ targetName, targetId, region: REGION });
    const byName = await copier.describeCopy({ targetName, region: REGION });

    expect(byId).toEqual({
      targetId,
      arn: `arn:aws:ec2:eu-west-1::image/${targetId}`,
      region: 'eu-west-1',
      state: 'available',
      detail: 'available',
      encrypted: true,
      tags,
      children: [
        { id: rootCopy, encrypted: true, keyArn: backupKey },
        { id: dataCopy, encrypted: true, keyArn: backupKey },
      ],
    });
    expect(byName).toEqual(byId);
    expect(await copier.describeCopy({ targetName: 'bunker-never-copied', region: REGION })).toBeUndefined();
  });

  it('answers exists with the same image when the same target name is copied again (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImageAndStorage(source, image, backup.id);
    const backupKey = await createKey(backup);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, image.imageId);
    const targetName = ami.targetName(ref, 0);
    const request = firstCopyRequest(ami, ref, targetName, backupKey, copyTagsOf(ref, targetName, 'orders-server'));

    const first = await copier.copy(request);
    const again = await copier.copy(request);

    expect(first.outcome).toBe('started');
    expect(again).toEqual({ outcome: 'exists', targetId: first.targetId });
    expect((await ownImages(backup)).map((i) => i.ImageId)).toEqual([first.targetId]);
    expect(await ownSnapshots(backup)).toHaveLength(2);
  });

  it('makes one image when two workers copy the same target name at once (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImageAndStorage(source, image, backup.id);
    const backupKey = await createKey(backup);
    // Two vault workers, each with its own copier and clients.
    const [one, two] = await Promise.all([vaultCopiers(endpoint, backup.id), vaultCopiers(endpoint, backup.id)]);
    const ref = amiRef(source, image.imageId);
    const targetName = ami.targetName(ref, 0);
    const request = firstCopyRequest(ami, ref, targetName, backupKey, copyTagsOf(ref, targetName, 'orders-server'));

    const answers = await Promise.all([one.ami.copy(request), two.ami.copy(request)]);

    const images = await ownImages(backup);
    expect(images.map((i) => i.ImageId)).toEqual([answers[0].targetId]);
    expect(answers[1].targetId).toBe(answers[0].targetId);
    expect(answers.map((a) => a.outcome)).toContain('started');
    expect(await ownSnapshots(backup)).toHaveLength(2);
  });

  it('refuses to copy an image whose backing snapshot is not shared, naming the snapshot (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const image = await sourceImage(source);
    await shareImage(source, image.imageId, backup.id);
    await shareSnapshot(source, image.root, backup.id);
    const backupKey = await createKey(backup);
    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, image.imageId);
    const targetName = ami.targetName(ref, 0);

    const refused = await copier
      .copy(firstCopyRequest(ami, ref, targetName, backupKey, copyTagsOf(ref, targetName, 'orders-server')))
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(CopyRefusedError);
    const { message } = refused as Error;
    expect(message).toMatch(
      /^EC2 refused the copy: InvalidRequest: You do not have permission to access the storage of this ami/,
    );
    expect(message).toContain(image.data);
    expect(message).not.toContain(image.root);
    expect(await ownImages(backup)).toEqual([]);
    expect(await ownSnapshots(backup)).toEqual([]);
  });
});
