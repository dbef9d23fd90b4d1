/**
 * A source database in another Region than the vault: the vault copies the
 * shared snapshot across Regions and accounts in one CopyDBSnapshot, with
 * SourceRegion set (the SDK presigns the request).
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, describe, expect, it } from 'vitest';
import { localRun } from '../../cli/local/run';
import { localUp } from '../../cli/local/up';
import { sameKmsKey } from '../../lambdas/core/keys';
import { parseConfig } from '../../lib/config/load';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { createDatabase, createSnapshot, inventory, ownSnapshots } from './support/bunker';

const VAULT_REGION = 'eu-west-1';
const SOURCE_REGION = 'eu-central-1';

describe('a source in another Region than the vault', () => {
  const endpoint = emulatorEndpoint();
  const backup = freshAccountId();
  const source = freshAccountId();
  const clients: RDSClient[] = [];
  afterAll(() => clients.forEach((c) => c.destroy()));

  it('copies the shared snapshot into the vault Region under the backup-data key', async () => {
    const config = parseConfig({
      backup: { account: backup, region: VAULT_REGION },
      sources: [{ account: source, regions: [SOURCE_REGION] }],
      artifacts: { rds: { enabled: true } },
    });
    const env = await localUp(config, endpoint);
    const sourceRds = new RDSClient(clientConfig(endpoint, source, SOURCE_REGION));
    const vaultRds = new RDSClient(clientConfig(endpoint, backup, VAULT_REGION));
    clients.push(sourceRds, vaultRds);
    await createDatabase(sourceRds, { id: 'orders-db', inScope: true });
    await createSnapshot(sourceRds, 'orders-db', 'orders-before-upgrade');

    const summary = await localRun(config, endpoint);

    expect(summary.settled).toBe(true);
    const records = await inventory(config, endpoint, { status: 'available' });
    const record = records.find((r) => r.sourceSnapshotId === 'orders-before-upgrade');
    expect(record).toMatchObject({ sourceRegion: SOURCE_REGION, sourceResourceId: 'orders-db' });
    const copy = (await ownSnapshots(vaultRds)).find((s) => s.DBSnapshotIdentifier === record?.targetId);
    expect(copy?.DBSnapshotArn).toContain(`:rds:${VAULT_REGION}:${backup}:snapshot:`);
    expect(sameKmsKey(copy?.KmsKeyId, env.backupKeyArn)).toBe(true);
  });
});
