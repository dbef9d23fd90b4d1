/**
 * A source database in another Region than the vault: the vault copies the
 * shared snapshot across Regions and accounts in one CopyDBSnapshot, with
 * SourceRegion set (the SDK presigns the request). The copy counts against
 * the copy quota of its destination, the vault's Region.
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, describe, expect, it } from 'vitest';
import { localRun } from '../../cli/local/run';
import { localUp } from '../../cli/local/up';
import { sameKmsKey } from '../../lambdas/core/keys';
import { parseConfig } from '../../lib/config/load';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { createDatabase, createSnapshot, inventory, ownSnapshots, tagsOf } from './support/bunker';

const VAULT_REGION = 'eu-west-1';
const SOURCE_REGION = 'eu-central-1';
/** The agent's intermediate of `orders-before-upgrade` (its name hashes the production id). */
const INTERMEDIATE = 'bunker-share-orders-before-upgrade-2725bcb57f';

describe('a source in another Region than the vault', () => {
  const endpoint = emulatorEndpoint();
  const backup = freshAccountId();
  const source = freshAccountId();
  const clients: RDSClient[] = [];
  afterAll(() => clients.forEach((c) => c.destroy()));

  it('copies the shared snapshot into the vault Region under the backup-data key, in the pool of the vault Region (bunker moto launcher)', async () => {
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
    expect(record).toMatchObject({
      artifactId: `rds-snapshot:${source}:eu-central-1:${INTERMEDIATE}`,
      sourceRegion: 'eu-central-1',
      sourceId: INTERMEDIATE,
      sourceArn: `arn:aws:rds:eu-central-1:${source}:snapshot:${INTERMEDIATE}`,
      sourceResourceId: 'orders-db',
      targetRegion: 'eu-west-1',
      pool: 'rds-snapshot@eu-west-1',
    });
    const copy = (await ownSnapshots(vaultRds)).find((s) => s.DBSnapshotIdentifier === record?.targetId);
    expect(copy?.DBSnapshotArn).toBe(`arn:aws:rds:eu-west-1:${backup}:snapshot:${record?.targetId}`);
    expect(record?.targetArn).toBe(copy?.DBSnapshotArn);
    expect(sameKmsKey(copy?.KmsKeyId, env.backupKeyArn)).toBe(true);
    expect(tagsOf(copy ?? {})).toMatchObject({
      'bunker:source-account': source,
      'bunker:source-region': 'eu-central-1',
      'bunker:source-id': INTERMEDIATE,
    });
    // Nothing lands in the source's Region of the backup account.
    const sourceRegionOfVault = new RDSClient(clientConfig(endpoint, backup, SOURCE_REGION));
    clients.push(sourceRegionOfVault);
    expect(await ownSnapshots(sourceRegionOfVault)).toEqual([]);
  });
});
