/**
 * The contract of `ArtifactCopier.resourceScopeTags`, the read of a
 * production resource's tags that intake makes only when the scope tag the
 * source agent carried onto its intermediate does not settle the vault's
 * scope: `describeSource` gives the artifact's own tags and reads no
 * resource; `resourceScopeTags` combines the resource's as the kind judges
 * scope (RDS: the DB instance's, a deleted one's snapshot its own; EBS: the
 * volume's under the snapshot's own). The same cases against the in-memory
 * double (sim/memory-copier.ts), which the core's tests use, and the SDK
 * copiers on the emulator through the reader role. Aurora's copier is the
 * RDS one's other flavour, and an AMI's copier has no such read.
 */
import { DeleteVolumeCommand } from '@aws-sdk/client-ec2';
import { DeleteDBInstanceCommand } from '@aws-sdk/client-rds';
import { afterAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { rdsSnapshotCopier } from '../../lambdas/kinds/rds-snapshot/copier';
import type { ArtifactCopier, ArtifactRef, SourceView } from '../../lambdas/kinds/types';
import { ManualClock, Prng } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { createDatabase, createSnapshot, TestClients } from './support/bunker';
import { Ec2Accounts, encryptedSnapshot, REGION, VAULT_ROLE, vaultCopiers } from './support/ec2';

type Kind = 'rds-snapshot' | 'ebs-snapshot';

/** The resource's tags in every case: what `createDatabase(…, { inScope: true })` gives a DB instance. */
const RESOURCE_TAGS = { 'bunker:backup': 'true' };

/** A source of `kind` with its own `tags`, of a resource tagged {@link RESOURCE_TAGS} that is `deleted` or not. */
interface Made {
  readonly copier: ArtifactCopier;
  readonly ref: ArtifactRef;
}

interface Implementation {
  readonly name: string;
  source(kind: Kind, tags: Record<string, string>, deleted: boolean): Promise<Made>;
}

const memory: Implementation = {
  name: 'the in-memory double (sim/memory-copier.ts)',
  async source(kind, tags, deleted) {
    const backup = freshAccountId();
    const copier = new MemoryCopier(kind, new ManualClock(Date.parse('2026-03-01T04:00:00.000Z')), new Prng(3), {
      backupAccount: backup,
    });
    const id = kind === 'rds-snapshot' ? 'orders-nightly' : 'snap-0a000000000000001';
    const resourceId = kind === 'rds-snapshot' ? 'orders' : 'vol-0a000000000000001';
    const ref: ArtifactRef = { kind, partition: 'aws', account: freshAccountId(), region: REGION, id };
    copier.addSource(
      ref,
      { resourceId, scopeIds: [resourceId, id], scopeTags: tags },
      deleted ? undefined : RESOURCE_TAGS,
    );
    return { copier, ref };
  },
};

const endpoint = emulatorEndpoint();
const rdsClients = new TestClients(endpoint);
const ec2Accounts = new Ec2Accounts(endpoint);
afterAll(() => {
  rdsClients.destroy();
  ec2Accounts.destroy();
});

const emulator: Implementation = {
  name: 'the SDK copiers on the emulator',
  async source(kind, tags, deleted) {
    const backup = freshAccountId();
    const account = freshAccountId();
    if (kind === 'rds-snapshot') {
      const rds = rdsClients.rds(account);
      await createDatabase(rds, { id: 'orders', inScope: true });
      await createSnapshot(rds, 'orders', 'orders-nightly', tags);
      if (deleted) {
        await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'orders', SkipFinalSnapshot: true }));
      }
      const context = await localContext(endpoint, backup, REGION, VAULT_ROLE);
      const ref: ArtifactRef = { kind, partition: 'aws', account, region: REGION, id: 'orders-nightly' };
      return { copier: rdsSnapshotCopier(context, 'bunker', 'aws'), ref };
    }
    const owner = ec2Accounts.account(account);
    const { snapshotId, volumeId } = await encryptedSnapshot(owner, { volumeTags: RESOURCE_TAGS, snapshotTags: tags });
    if (deleted) await owner.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    const { ebs } = await vaultCopiers(endpoint, backup);
    return { copier: ebs, ref: { kind, partition: 'aws', account, region: REGION, id: snapshotId } };
  },
};

describe.each([memory, emulator])('resourceScopeTags: $name', (implementation) => {
  it.each([
    { kind: 'rds-snapshot' as const, combined: { 'bunker:backup': 'true' } },
    // The snapshot's own tag wins over the volume's.
    { kind: 'ebs-snapshot' as const, combined: { 'bunker:backup': 'false', team: 'payments' } },
  ])(
    "$kind: the describe gives the snapshot's own tags, the read combines the resource's as the kind judges scope",
    async ({ kind, combined }) => {
      const own = { 'bunker:backup': 'false', team: 'payments' };
      const { copier, ref } = await implementation.source(kind, own, false);

      const view = await copier.describeSource(ref);

      expect(view?.scopeTags).toEqual(own);
      expect(await copier.resourceScopeTags?.(view as SourceView)).toEqual(combined);
    },
  );

  it.each(['rds-snapshot', 'ebs-snapshot'] as const)(
    "%s: a deleted resource's snapshot is judged on its own tags",
    async (kind) => {
      const { copier, ref } = await implementation.source(kind, { team: 'payments' }, true);

      const view = await copier.describeSource(ref);

      expect(await copier.resourceScopeTags?.(view as SourceView)).toEqual({ team: 'payments' });
    },
  );
});
