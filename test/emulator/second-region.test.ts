/**
 * The optional second Region on the emulator: with `backup.secondRegion`
 * set, the vault copies each of its own copies into that Region of the
 * backup account under that Region's backup-data key. Read back with the
 * backup account's own clients in that Region, not Bunker's.
 */
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRun } from '../../cli/local/run';
import { localUp } from '../../cli/local/up';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { bunkerConfig, createDatabase, createKey, createSnapshot, inventory, TestClients } from './support/bunker';

const SECOND = 'us-east-1';

describe('a second hop into another Region of the backup account (bunker moto launcher)', () => {
  const endpoint = emulatorEndpoint();
  const aws = new TestClients(endpoint);
  const backup = freshAccountId();
  const source = freshAccountId();
  const config = bunkerConfig(backup, [source], {
    backup: { account: backup, region: 'eu-west-1', secondRegion: SECOND },
  });
  const clients: { destroy(): void }[] = [];
  let records: InventoryRecord[];
  let secondKey: string;

  beforeAll(async () => {
    await localUp(config, endpoint);
    const rds = aws.rds(source);
    await createDatabase(rds, { id: 'orders', inScope: true, kmsKeyId: await createKey(aws.kms(source)) });
    await createSnapshot(rds, 'orders', 'orders-nightly');
    await localRun(config, endpoint);
    records = await inventory(config, endpoint);
    const kms = new KMSClient(clientConfig(endpoint, backup, SECOND));
    clients.push(kms);
    secondKey = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/bunker-backup-data' }))).KeyMetadata?.Arn ?? '';
  }, 120_000);

  afterAll(() => {
    aws.destroy();
    for (const client of clients) client.destroy();
  });

  it('records a second, available copy of every first copy, in the second Region', () => {
    const first = records.filter((r) => r.status === 'available' && r.hop === undefined);
    const second = records.filter((r) => r.hop === 2);

    expect(first.length).toBeGreaterThanOrEqual(2);
    expect(second.map((r) => r.artifactId).sort()).toEqual(first.map((r) => `${r.artifactId}@${SECOND}`).sort());
    for (const record of second) {
      expect(record).toMatchObject({ status: 'available', targetRegion: SECOND, pool: `rds-snapshot@${SECOND}` });
      expect(record.kmsKeyArn).toBe(secondKey);
    }
  });

  it("puts every second copy in the backup account's second Region under that Region's key", async () => {
    const rds = new RDSClient(clientConfig(endpoint, backup, SECOND));
    clients.push(rds);
    const { DBSnapshots } = await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }));
    const copies = (DBSnapshots ?? []).filter((s) => s.DBSnapshotIdentifier?.startsWith('bunker-'));

    expect(copies.length).toBe(records.filter((r) => r.hop === 2).length);
    for (const copy of copies) {
      expect(copy.DBSnapshotArn?.split(':').slice(3, 5)).toEqual([SECOND, backup]);
      expect(copy.Encrypted).toBe(true);
      expect(copy.KmsKeyId).toBe(secondKey);
    }
    expect(secondKey).toMatch(new RegExp(`^arn:aws:kms:${SECOND}:${backup}:key/`));
  });

  it('leaves the EC2 side of the second Region empty when no EC2 kind is enabled', async () => {
    const ec2 = new EC2Client(clientConfig(endpoint, backup, SECOND));
    clients.push(ec2);
    const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    expect(Snapshots ?? []).toEqual([]);
  });
});
