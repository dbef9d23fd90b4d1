/**
 * The contract of `ArtifactCopier.describeCopies`, a pool's batched look at
 * its copies in flight: several copies of the backup account described with
 * one call, by their ids, a copy that does not exist left out. The same
 * cases against the in-memory double (sim/memory-copier.ts) and the SDK
 * copiers of the RDS kinds on the emulator (one DescribeDB(Cluster)Snapshots
 * with a `db-snapshot-id` / `db-cluster-snapshot-id` filter, which moto
 * 5.2.5 applies). The EC2 kinds have no batched look: their copies are
 * settled one by one, by their events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { auroraClusterSnapshotCopier } from '../../lambdas/kinds/aurora-cluster-snapshot/copier';
import { KINDS } from '../../lambdas/kinds/registry';
import { rdsSnapshotCopier } from '../../lambdas/kinds/rds-snapshot/copier';
import type { ArtifactCopier, ArtifactRef, CopyView } from '../../lambdas/kinds/types';
import { ManualClock, Prng } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import {
  createCluster,
  createClusterSnapshot,
  createDatabase,
  createSnapshot,
  shareClusterSnapshot,
  shareSnapshot,
  TestClients,
} from './support/bunker';
import { copyTagsOf, createKey, Ec2Accounts, firstCopyRequest, REGION, VAULT_ROLE } from './support/ec2';

const endpoint = emulatorEndpoint();
const LOOK_KINDS = ['rds-snapshot', 'aurora-cluster-snapshot'] as const;
type LookKind = (typeof LOOK_KINDS)[number];

interface LookWorld {
  copier(kind: LookKind): ArtifactCopier;
  readonly key: string;
  /** A new source of `kind` in {@link REGION}, shared with the backup account. */
  source(kind: LookKind, n: number): Promise<ArtifactRef>;
  /** Lets every copy started so far finish. */
  finish(): Promise<void>;
}

interface LookImplementation {
  readonly name: string;
  world(backup: string, source: string): Promise<LookWorld>;
}

const memory: LookImplementation = {
  name: 'the in-memory double (sim/memory-copier.ts)',
  async world(backup, source) {
    const clock = new ManualClock('2026-03-01T04:00:00.000Z');
    const prng = new Prng(11);
    const copiers = {
      'rds-snapshot': new MemoryCopier('rds-snapshot', clock, prng, { backupAccount: backup }),
      'aurora-cluster-snapshot': new MemoryCopier('aurora-cluster-snapshot', clock, prng, { backupAccount: backup }),
    };
    return {
      copier: (kind) => copiers[kind],
      key: `arn:aws:kms:${REGION}:${backup}:key/backup-data`,
      async source(kind, n) {
        const ref: ArtifactRef = { kind, partition: 'aws', account: source, region: REGION, id: sourceName(kind, n) };
        copiers[kind].addSource(ref);
        return ref;
      },
      finish: async () => {
        clock.advance(10 * 60_000);
      },
    };
  },
};

const rdsClients = new TestClients(endpoint);
const ec2Accounts = new Ec2Accounts(endpoint);
afterAll(() => {
  rdsClients.destroy();
  ec2Accounts.destroy();
});

const emulator: LookImplementation = {
  name: 'the SDK copiers on the emulator (bunker moto launcher)',
  async world(backup, source) {
    const context = await localContext(endpoint, backup, REGION, VAULT_ROLE);
    const copiers = {
      'rds-snapshot': rdsSnapshotCopier(context, 'bunker', 'aws'),
      'aurora-cluster-snapshot': auroraClusterSnapshotCopier(context, 'bunker', 'aws'),
    };
    const rds = rdsClients.rds(source);
    await createDatabase(rds, { id: 'orders', inScope: true });
    await createCluster(rds, { id: 'shop', inScope: true });
    return {
      copier: (kind) => copiers[kind],
      key: await createKey(ec2Accounts.account(backup)),
      async source(kind, n) {
        const id = sourceName(kind, n);
        if (kind === 'rds-snapshot') {
          await createSnapshot(rds, 'orders', id);
          await shareSnapshot(rds, id, backup);
        } else {
          await createClusterSnapshot(rds, 'shop', id);
          await shareClusterSnapshot(rds, id, backup);
        }
        return { kind, partition: 'aws', account: source, region: REGION, id };
      },
      finish: async () => {},
    };
  },
};

function sourceName(kind: LookKind, n: number): string {
  return `bunker-share-${kind === 'rds-snapshot' ? 'orders' : 'shop'}-${n}`;
}

describe.each([memory, emulator])('describeCopies: $name', (implementation) => {
  const backup = freshAccountId();
  const source = freshAccountId();
  let world: LookWorld;

  beforeAll(async () => {
    world = await implementation.world(backup, source);
    for (const kind of LOOK_KINDS) {
      for (const n of [1, 2, 3]) {
        const ref = await world.source(kind, n);
        const targetName = `bunker-look-${kind}-${n}`;
        await world
          .copier(kind)
          .copy(firstCopyRequest(KINDS[kind], ref, targetName, world.key, copyTagsOf(ref, targetName, 'orders')));
      }
    }
    await world.finish();
  }, 60_000);

  const at = (targetName: string) => ({ targetName, targetId: targetName, region: REGION });
  const summary = (copies: CopyView[]) =>
    copies
      .map((copy) => [copy.targetId, copy.state, copy.keyArn, copy.tags['bunker:copy-name']])
      .sort(([a], [b]) => ((a ?? '') < (b ?? '') ? -1 : 1));

  it.each(LOOK_KINDS)(
    '%s: describes two copies with one call by their ids, and leaves out an id with no copy',
    async (kind) => {
      const copies = await world
        .copier(kind)
        .describeCopies?.(
          [at(`bunker-look-${kind}-2`), at(`bunker-look-${kind}-missing`), at(`bunker-look-${kind}-1`)],
          REGION,
        );

      expect(summary(copies ?? [])).toEqual([
        [`bunker-look-${kind}-1`, 'available', world.key, `bunker-look-${kind}-1`],
        [`bunker-look-${kind}-2`, 'available', world.key, `bunker-look-${kind}-2`],
      ]);
    },
  );

  it.each(LOOK_KINDS)('%s: answers only the copies asked for, and nothing for no ids', async (kind) => {
    const one = await world.copier(kind).describeCopies?.([at(`bunker-look-${kind}-3`)], REGION);
    const none = await world.copier(kind).describeCopies?.([], REGION);

    expect(summary(one ?? [])).toEqual([[`bunker-look-${kind}-3`, 'available', world.key, `bunker-look-${kind}-3`]]);
    expect(none).toEqual([]);
  });
});
