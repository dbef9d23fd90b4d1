/**
 * From a production snapshot or image to the backup account's copy, on the
 * emulator: the EC2 source agent's core with the SDK adapter, acting as the
 * agent's role in the source account, makes and shares the intermediate and
 * announces it (to a publisher that records); then the vault's real copiers,
 * acting as the backup account, read what was announced through the reader
 * role and copy it under the backup key. The copy is read back with the
 * backup account's own EC2 client, never through Bunker's code.
 *
 * Cross-account EBS snapshots and AMIs exist only through Bunker's launcher
 * extension (tools/moto/bunker_moto.py).
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { AgentEc2 } from '../../lambdas/adapters/agent-ec2';
import { clientConfig } from '../../lambdas/adapters/aws-context';
import { type Ec2AgentDeps, processEbsSnapshot, processImage } from '../../lambdas/core/agent/ec2-agent';
import { intakeTopicArn } from '../../lambdas/core/names';
import type { Notification } from '../../lambdas/core/notification';
import { silentLog, systemClock } from '../../lambdas/core/ports';
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
  type Ec2Account,
  ebsRef,
  encryptedSnapshot,
  firstCopyRequest,
  ownImages,
  ownSnapshots,
  REGION,
  sourceImage,
  tagRecord,
  vaultCopiers,
} from './support/ec2';

const endpoint = emulatorEndpoint();
const accounts = new Ec2Accounts(endpoint);
const agentClients: EC2Client[] = [];
afterAll(() => {
  accounts.destroy();
  for (const client of agentClients.splice(0)) client.destroy();
});

/**
 * The agent of `source` in {@link REGION}, through the SDK adapter as the
 * agent's role, sharing with `backup`: EBS snapshots of volumes tagged
 * `backup=daily`, images tagged `app=orders`.
 */
async function sourceAgent(source: Ec2Account, backup: Ec2Account) {
  const shareKeyArn = await createKey(source);
  const context = await localContext(endpoint, source.id, REGION, 'bunker-source-agent-eu-west-1');
  const client = new EC2Client(clientConfig(context));
  agentClients.push(client);
  const published: Notification[] = [];
  const deps: Ec2AgentDeps = {
    settings: {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: backup.id,
      sourceAccount: source.id,
      sourceRegion: REGION,
      shareKeyArn,
      intakeTopicArn: intakeTopicArn('bunker', backup.id, REGION, source.id),
      scopes: {
        'ebs-snapshot': { tag: { key: 'backup', value: 'daily' } },
        ami: { tag: { key: 'app', value: 'orders' } },
      },
      intermediateRetentionHours: 24,
      intermediateHorizonHours: 24 * 14,
      maxIntermediateSnapshots: 10,
      rpoHours: { 'ebs-snapshot': 24, ami: 24 },
    },
    ec2: new AgentEc2(client, { region: REGION, account: source.id }),
    publisher: { publish: async (notification) => void published.push(notification) },
    clock: systemClock,
    log: silentLog,
  };
  return { deps, shareKeyArn, published };
}

const announcedId = (notification: Notification | undefined) =>
  notification && 'id' in notification ? notification.id : '';

describe('the EC2 source agent and the vault copiers', () => {
  it('shares an EBS snapshot under the default key through an intermediate under the share key, which the vault copies under the backup key (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const agent = await sourceAgent(source, backup);
    // Encrypted by default (aws/ebs, which no other account can use); the volume carries the scope tag, the snapshot none.
    const { VolumeId: volumeId = '' } = await source.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: `${REGION}a`,
        Size: 8,
        Encrypted: true,
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: [
              { Key: 'backup', Value: 'daily' },
              { Key: 'Name', Value: 'orders-data' },
            ],
          },
        ],
      }),
    );
    const { SnapshotId: snapshotId = '', KmsKeyId: productionKey } = await source.ec2.send(
      new CreateSnapshotCommand({ VolumeId: volumeId }),
    );
    const production = { snapshotId, volumeId };

    // The snapshot's event starts the copy and describes nothing more; the copy's own event (complete at once
    // on the emulator) shares and announces it.
    const step = await processEbsSnapshot(production.snapshotId, agent.deps);
    const [copy] = (await ownSnapshots(source)).filter(
      (s) => tagRecord(s.Tags)['bunker:source-snapshot'] === production.snapshotId,
    );
    const finished = await processEbsSnapshot(copy?.SnapshotId ?? '', agent.deps);
    const again = await processEbsSnapshot(production.snapshotId, agent.deps);

    expect([step, finished, again]).toEqual(['rekeying', 'notified', 'already-notified']);
    expect(agent.published).toEqual([
      {
        version: 2,
        kind: 'ebs-snapshot',
        sourceAccount: source.id,
        sourceRegion: REGION,
        id: expect.stringMatching(/^snap-[0-9a-f]+$/),
        publishedAt: expect.any(String),
      },
    ]);
    const intermediateId = announcedId(agent.published[0]);
    expect(intermediateId).not.toBe(production.snapshotId);
    expect(productionKey).toMatch(new RegExp(`^arn:aws:kms:eu-west-1:${source.id}:key/`));
    expect(productionKey).not.toBe(agent.shareKeyArn);

    const { ebs } = await vaultCopiers(endpoint, backup.id);
    const ref = ebsRef(source, intermediateId);
    const view = await ebs.describeSource(ref);

    expect(view).toMatchObject({
      ownerAccount: source.id,
      state: 'available',
      encrypted: true,
      keyArn: agent.shareKeyArn,
      sharedWith: [backup.id],
      resourceId: production.volumeId,
      productionId: production.snapshotId,
      scopeIds: [production.volumeId, production.snapshotId, intermediateId],
      // Production's tags carried by the copy request, and the scope it was judged in under the agent's own keys.
      scopeTags: expect.objectContaining({
        backup: 'daily',
        Name: 'orders-data',
        'bunker:scope-key': 'backup',
        'bunker:scope-value': 'daily',
      }),
      sizeGiB: 8,
    });

    const backupKey = await createKey(backup);
    const targetName = ebsSnapshot.targetName(ref, 0);
    const started = await ebs.copy(
      firstCopyRequest(ebsSnapshot, ref, targetName, backupKey, copyTagsOf(ref, targetName, production.volumeId)),
    );

    expect(started).toEqual({ outcome: 'started', targetId: expect.stringMatching(/^snap-[0-9a-f]+$/) });
    const { Snapshots } = await backup.ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [started.targetId ?? ''] }),
    );
    expect(Snapshots?.[0]).toMatchObject({
      OwnerId: backup.id,
      State: 'completed',
      Encrypted: true,
      KmsKeyId: backupKey,
      VolumeSize: 8,
    });
    expect(tagRecord(Snapshots?.[0]?.Tags)['bunker:source-id']).toBe(intermediateId);
  });

  it('judges an intermediate on the production volume its bunker:source-volume tag names, not on the volume EC2 reports for it (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    // EC2 reports vol-ffffffff for a copy (the emulator: the copied snapshot's volume); the agent's tag names production's.
    const production = await encryptedSnapshot(source, { volumeTags: { backup: 'daily', Name: 'orders-data' } });
    const intermediate = await encryptedSnapshot(source, {
      volumeTags: { backup: 'none' },
      snapshotTags: {
        'bunker:intermediate': 'true',
        'bunker:source-snapshot': production.snapshotId,
        'bunker:source-volume': production.volumeId,
      },
    });
    const { ebs } = await vaultCopiers(endpoint, backup.id);

    const view = await ebs.describeSource(ebsRef(source, intermediate.snapshotId));

    expect(view).toMatchObject({
      resourceId: production.volumeId,
      productionId: production.snapshotId,
      scopeIds: [production.volumeId, production.snapshotId, intermediate.snapshotId],
    });
    expect(await ebs.resourceScopeTags?.(view as SourceView)).toEqual({
      backup: 'daily',
      Name: 'orders-data',
      'bunker:intermediate': 'true',
      'bunker:source-snapshot': production.snapshotId,
      'bunker:source-volume': production.volumeId,
    });
  });

  it('shares an AMI through an intermediate image whose backing snapshots are all under the share key and shared, which the vault copies under the backup key (bunker moto launcher)', async () => {
    const source = accounts.account();
    const backup = accounts.account();
    const agent = await sourceAgent(source, backup);
    const production = await sourceImage(source);

    const step = await processImage(production.imageId, agent.deps);
    const copy = (await ownImages(source)).find((i) => i.Name === `bunker-share-${production.imageId}`);
    const finished = await processImage(copy?.ImageId ?? '', agent.deps);
    const again = await processImage(production.imageId, agent.deps);

    expect([step, finished, again]).toEqual(['rekeying', 'notified', 'already-notified']);
    expect(agent.published).toEqual([
      {
        version: 2,
        kind: 'ami',
        sourceAccount: source.id,
        sourceRegion: REGION,
        id: expect.stringMatching(/^ami-[0-9a-f]+$/),
        publishedAt: expect.any(String),
      },
    ]);
    const intermediateId = announcedId(agent.published[0]);

    const { ami: copier } = await vaultCopiers(endpoint, backup.id);
    const ref = amiRef(source, intermediateId);
    const view = await copier.describeSource(ref);

    expect(view).toMatchObject({
      ownerAccount: source.id,
      state: 'available',
      encrypted: true,
      sharedWith: [backup.id],
      resourceId: `bunker-share-${production.imageId}`,
      productionId: production.imageId,
      scopeIds: [intermediateId, production.imageId],
      scopeTags: expect.objectContaining({ app: 'orders' }),
    });
    expect(view?.children).toEqual([
      expect.objectContaining({ encrypted: true, keyArn: agent.shareKeyArn, sharedWith: [backup.id] }),
      expect.objectContaining({ encrypted: true, keyArn: agent.shareKeyArn, sharedWith: [backup.id] }),
    ]);
    expect(view?.children?.map((child) => child.id)).not.toContain(production.root);

    const backupKey = await createKey(backup);
    const targetName = ami.targetName(ref, 0);
    const started = await copier.copy(
      firstCopyRequest(ami, ref, targetName, backupKey, copyTagsOf(ref, targetName, production.imageId)),
    );

    expect(started).toEqual({ outcome: 'started', targetId: expect.stringMatching(/^ami-[0-9a-f]+$/) });
    const { Images } = await backup.ec2.send(new DescribeImagesCommand({ ImageIds: [started.targetId ?? ''] }));
    expect(Images?.[0]).toMatchObject({ OwnerId: backup.id, State: 'available', Name: targetName });
    const storage = backingSnapshotIds(Images?.[0]);
    expect(storage).toHaveLength(2);
    const { Snapshots } = await backup.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: storage }));
    expect(Snapshots?.map((s) => [s.OwnerId, s.Encrypted, s.KmsKeyId])).toEqual([
      [backup.id, true, backupKey],
      [backup.id, true, backupKey],
    ]);
  });
});
