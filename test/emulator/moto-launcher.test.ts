/**
 * Cross-account RDS snapshot sharing on the emulator. Plain moto cannot do
 * any of this: these tests exercise Bunker's launcher extension
 * (tools/moto/bunker_moto.py), so a failure here is a launcher problem, not
 * a Bunker one. Each test uses fresh accounts on the shared emulator.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DBClusterSnapshotNotFoundFault,
  DBSnapshotNotFoundFault,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';

const REGION = 'eu-west-1';
const COPY_TAGS = [
  { Key: 'bunker:source-account', Value: 'set-by-test' },
  { Key: 'bunker:kind', Value: 'rds' },
];

const clients: { destroy(): void }[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

/** One account's RDS and KMS clients, as that account (real STS AssumeRole). */
function account(id = freshAccountId()): { id: string; rds: RDSClient; kms: KMSClient } {
  const config = clientConfig(emulatorEndpoint(), id, REGION);
  const rds = new RDSClient(config);
  const kms = new KMSClient(config);
  clients.push(rds, kms);
  return { id, rds, kms };
}

async function createKey(kms: KMSClient): Promise<string> {
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'bunker test key' }));
  if (KeyMetadata?.Arn === undefined) throw new Error('CreateKey returned no key ARN');
  return KeyMetadata.Arn;
}

/** An encrypted instance (moto wants a key of the owner's KMS) and a manual snapshot of it; returns its ARN. */
async function sourceDbSnapshot(source: { rds: RDSClient; kms: KMSClient }): Promise<string> {
  const kmsKeyId = await createKey(source.kms);
  await source.rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'orders',
      DBInstanceClass: 'db.t3.micro',
      Engine: 'postgres',
      AllocatedStorage: 20,
      MasterUsername: 'bunker',
      MasterUserPassword: 'not-a-real-password',
      StorageEncrypted: true,
      KmsKeyId: kmsKeyId,
    }),
  );
  const { DBSnapshot } = await source.rds.send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'orders', DBSnapshotIdentifier: 'orders-manual' }),
  );
  if (DBSnapshot?.DBSnapshotArn === undefined) throw new Error('CreateDBSnapshot returned no ARN');
  return DBSnapshot.DBSnapshotArn;
}

/** An encrypted aurora-postgresql cluster and a manual cluster snapshot of it; returns its ARN. */
async function sourceClusterSnapshot(source: { rds: RDSClient; kms: KMSClient }): Promise<string> {
  const kmsKeyId = await createKey(source.kms);
  await source.rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: 'ledger',
      Engine: 'aurora-postgresql',
      MasterUsername: 'bunker',
      MasterUserPassword: 'not-a-real-password',
      StorageEncrypted: true,
      KmsKeyId: kmsKeyId,
    }),
  );
  const { DBClusterSnapshot } = await source.rds.send(
    new CreateDBClusterSnapshotCommand({
      DBClusterIdentifier: 'ledger',
      DBClusterSnapshotIdentifier: 'ledger-manual',
    }),
  );
  if (DBClusterSnapshot?.DBClusterSnapshotArn === undefined) {
    throw new Error('CreateDBClusterSnapshot returned no ARN');
  }
  return DBClusterSnapshot.DBClusterSnapshotArn;
}

function shareDbSnapshot(rds: RDSClient, withAccount: string): Promise<unknown> {
  return rds.send(
    new ModifyDBSnapshotAttributeCommand({
      DBSnapshotIdentifier: 'orders-manual',
      AttributeName: 'restore',
      ValuesToAdd: [withAccount],
    }),
  );
}

function shareClusterSnapshot(rds: RDSClient, withAccount: string): Promise<unknown> {
  return rds.send(
    new ModifyDBClusterSnapshotAttributeCommand({
      DBClusterSnapshotIdentifier: 'ledger-manual',
      AttributeName: 'restore',
      ValuesToAdd: [withAccount],
    }),
  );
}

describe('cross-account RDS snapshots (bunker moto launcher)', () => {
  it('copies a DB snapshot that another account shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const sourceArn = await sourceDbSnapshot(source);
    const backupKey = await createKey(backup.kms);
    await shareDbSnapshot(source.rds, backup.id);

    const { DBSnapshot: copy } = await backup.rds.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: sourceArn,
        TargetDBSnapshotIdentifier: 'orders-backup',
        KmsKeyId: backupKey,
        Tags: COPY_TAGS,
      }),
    );
    expect(copy?.DBSnapshotArn).toBe(`arn:aws:rds:${REGION}:${backup.id}:snapshot:orders-backup`);

    // Read back from the backup account: the copy lives there, with its key and tags.
    const { DBSnapshots } = await backup.rds.send(
      new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'orders-backup' }),
    );
    expect(DBSnapshots).toHaveLength(1);
    expect(DBSnapshots?.[0]).toMatchObject({
      DBSnapshotArn: `arn:aws:rds:${REGION}:${backup.id}:snapshot:orders-backup`,
      KmsKeyId: backupKey,
      Encrypted: true,
      Status: 'available',
      TagList: COPY_TAGS,
    });
    // ... and not in the source account, whose snapshot is untouched.
    const { DBSnapshots: sourceSnapshots } = await source.rds.send(
      new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }),
    );
    expect(sourceSnapshots?.map((s) => s.DBSnapshotArn)).toEqual([sourceArn]);
    expect(sourceSnapshots?.[0]?.KmsKeyId).not.toBe(backupKey);
  });

  it('refuses to copy a DB snapshot that was not shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const other = account();
    const sourceArn = await sourceDbSnapshot(source);
    const backupKey = await createKey(backup.kms);
    const copy = (): Promise<unknown> =>
      backup.rds.send(
        new CopyDBSnapshotCommand({
          SourceDBSnapshotIdentifier: sourceArn,
          TargetDBSnapshotIdentifier: 'orders-backup',
          KmsKeyId: backupKey,
        }),
      );

    await expect(copy()).rejects.toBeInstanceOf(DBSnapshotNotFoundFault);

    // Shared with a third account only: still not the backup account's to copy.
    await shareDbSnapshot(source.rds, other.id);
    await expect(copy()).rejects.toBeInstanceOf(DBSnapshotNotFoundFault);
    // The share itself took effect: the third account sees the snapshot.
    const { DBSnapshots } = await other.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: sourceArn }));
    expect(DBSnapshots?.map((s) => s.DBSnapshotArn)).toEqual([sourceArn]);

    const { DBSnapshots: backupSnapshots } = await backup.rds.send(new DescribeDBSnapshotsCommand({}));
    expect(backupSnapshots).toEqual([]);
  });

  it('copies a DB cluster snapshot that another account shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const sourceArn = await sourceClusterSnapshot(source);
    const backupKey = await createKey(backup.kms);
    await shareClusterSnapshot(source.rds, backup.id);

    const { DBClusterSnapshot: copy } = await backup.rds.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: sourceArn,
        TargetDBClusterSnapshotIdentifier: 'ledger-backup',
        KmsKeyId: backupKey,
        Tags: COPY_TAGS,
      }),
    );
    const copyArn = `arn:aws:rds:${REGION}:${backup.id}:cluster-snapshot:ledger-backup`;
    expect(copy?.DBClusterSnapshotArn).toBe(copyArn);

    const { DBClusterSnapshots } = await backup.rds.send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'ledger-backup' }),
    );
    expect(DBClusterSnapshots).toHaveLength(1);
    expect(DBClusterSnapshots?.[0]).toMatchObject({
      DBClusterSnapshotArn: copyArn,
      KmsKeyId: backupKey,
      StorageEncrypted: true,
      Status: 'available',
      TagList: COPY_TAGS,
    });
    const { DBClusterSnapshots: sourceSnapshots } = await source.rds.send(
      new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual' }),
    );
    expect(sourceSnapshots?.map((s) => s.DBClusterSnapshotArn)).toEqual([sourceArn]);
    expect(sourceSnapshots?.[0]?.KmsKeyId).not.toBe(backupKey);
  });

  it('refuses to copy a DB cluster snapshot that was not shared (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const other = account();
    const sourceArn = await sourceClusterSnapshot(source);
    const backupKey = await createKey(backup.kms);
    const copy = (): Promise<unknown> =>
      backup.rds.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: sourceArn,
          TargetDBClusterSnapshotIdentifier: 'ledger-backup',
          KmsKeyId: backupKey,
        }),
      );

    await expect(copy()).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);

    await shareClusterSnapshot(source.rds, other.id);
    await expect(copy()).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    const { DBClusterSnapshots } = await other.rds.send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: sourceArn }),
    );
    expect(DBClusterSnapshots?.map((s) => s.DBClusterSnapshotArn)).toEqual([sourceArn]);

    const { DBClusterSnapshots: backupSnapshots } = await backup.rds.send(new DescribeDBClusterSnapshotsCommand({}));
    expect(backupSnapshots).toEqual([]);
  });

  it('describes a snapshot shared with the caller by ARN (bunker moto launcher)', async () => {
    const source = account();
    const backup = account();
    const sourceArn = await sourceDbSnapshot(source);
    const describeByArn = () => backup.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: sourceArn }));

    await expect(describeByArn()).rejects.toBeInstanceOf(DBSnapshotNotFoundFault);

    await shareDbSnapshot(source.rds, backup.id);
    const { DBSnapshots } = await describeByArn();
    expect(DBSnapshots).toHaveLength(1);
    expect(DBSnapshots?.[0]).toMatchObject({
      DBSnapshotArn: sourceArn,
      DBSnapshotIdentifier: 'orders-manual',
    });

    // The share also shows in the listings AWS offers for shared snapshots.
    const { DBSnapshots: shared } = await backup.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'shared' }));
    expect(shared?.map((s) => s.DBSnapshotArn)).toEqual([sourceArn]);
    const { DBSnapshots: withShared } = await backup.rds.send(new DescribeDBSnapshotsCommand({ IncludeShared: true }));
    expect(withShared?.map((s) => s.DBSnapshotArn)).toEqual([sourceArn]);
    const { DBSnapshots: own } = await backup.rds.send(new DescribeDBSnapshotsCommand({}));
    expect(own).toEqual([]);
  });
});
