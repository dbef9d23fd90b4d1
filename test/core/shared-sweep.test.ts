/**
 * The sweep's take-in of artifacts shared with the backup account whose
 * notification never arrived (`takeInShared`, run first by `sweepCopies`):
 * taken in once and copied, through intake's own checks; what those checks
 * refuse is counted and logged, never recorded; only registered accounts
 * and Regions are listed, and one listing that fails stops nothing else.
 */
import { describe, expect, it } from 'vitest';
import { listedSources } from '../../lambdas/core/enrolment/registry';
import { takeInShared } from '../../lambdas/core/pipeline/adopt';
import { sweepCopies } from '../../lambdas/core/pipeline/completion';
import type { VaultDeps } from '../../lambdas/core/pipeline/copy';
import type { Log } from '../../lambdas/core/ports';
import type { KindsSettings } from '../../lambdas/core/settings';
import { KIND_NAMES } from '../../lambdas/kinds/registry';
import type { ArtifactRef, KindName } from '../../lambdas/kinds/types';
import { ManualClock, MemoryInventory, MemoryReceipts, Prng } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import { BACKUP, COPY_MS, OTHER, REGION, SECOND_REGION, SOURCE, T0, vaultFixture } from './support/memory-fixtures';

/** A lost notification's snapshot, and what Bunker calls it and its copy (written out, not derived). */
const ID = 'bunker-share-orders';
const ARTIFACT = 'rds-snapshot:222222222222:eu-west-1:bunker-share-orders';
const TARGET = 'bunker-222222222222-orders-aec5fb205d';
const TAKEN_IN = 'taken in by the sweep: shared with the backup account but never announced';

/** A log that keeps its lines, to count what was said. */
function recordingLog(): Log & { lines: { level: string; message: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (message, fields) => void lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => void lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => void lines.push({ level: 'error', message, fields }),
  };
}

describe('the sweep takes in what was shared but never announced (RDS memory world)', () => {
  it('takes in a shared snapshot whose notification was lost and copies it under the backup-data key', async () => {
    const v = vaultFixture();
    v.shared(ID);

    const first = await sweepCopies(v.deps);
    v.clock.advance(COPY_MS);
    const second = await sweepCopies(v.deps);

    expect(first).toMatchObject({ takenIn: 1, checked: 1, stillCopying: 1 });
    expect(second).toMatchObject({ takenIn: 0, available: 1 });
    const record = v.inventory.peek(ARTIFACT);
    expect(record).toMatchObject({
      status: 'available',
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      sourceId: ID,
      sourceArn: `arn:aws:rds:eu-west-1:222222222222:snapshot:${ID}`,
      sourceResourceId: 'orders-db',
      targetName: TARGET,
      kmsKeyArn: v.backupKeyArn,
    });
    expect(record?.history[0]).toMatchObject({ status: 'expected', reason: TAKEN_IN });
    expect(v.backupCopies().map((c) => [c.id, c.kmsKeyId])).toEqual([[TARGET, v.backupKeyArn]]);
  });

  it('takes it in once: later sweeps find it in the inventory, and one copy is made', async () => {
    const v = vaultFixture();
    v.shared(ID);

    await sweepCopies(v.deps);
    v.clock.advance(COPY_MS);
    await sweepCopies(v.deps);
    const again = await takeInShared(v.deps);

    expect(again).toEqual({ listed: 1, takenIn: 0, alreadyKnown: 1, refused: 0, pending: 0, errors: 0 });
    expect(v.inventory.records().filter((r) => r.sourceId === ID)).toHaveLength(1);
    expect(v.world.copies).toHaveLength(1);
  });

  it('leaves a snapshot still being made for the next sweep, and takes it in once it is available', async () => {
    const v = vaultFixture();
    v.world.addSnapshot(SOURCE, REGION, {
      id: ID,
      dbInstanceId: 'orders-db',
      kmsKeyId: v.shareKeyArn,
      sharedWith: [BACKUP],
      readyInMs: COPY_MS,
    });

    const early = await takeInShared(v.deps);
    v.clock.advance(COPY_MS);
    const later = await takeInShared(v.deps);

    expect(early).toEqual({ listed: 1, takenIn: 0, alreadyKnown: 0, refused: 0, pending: 1, errors: 0 });
    expect(later).toEqual({ listed: 1, takenIn: 1, alreadyKnown: 0, refused: 0, pending: 0, errors: 0 });
  });

  it('does not take in what was announced and recorded already', async () => {
    const v = vaultFixture();
    await v.announce(ID);
    const callsBefore = v.world.copies.length;

    const summary = await takeInShared(v.deps);

    expect(summary).toEqual({ listed: 1, takenIn: 0, alreadyKnown: 1, refused: 0, pending: 0, errors: 0 });
    expect(v.world.copies).toHaveLength(callsBefore);
  });
});

/** Every kind enabled over {@link MemoryCopier}s, {@link SOURCE} registered in {@link REGION} and {@link SECOND_REGION}, {@link OTHER} in {@link REGION}. */
function copierFixture() {
  const clock = new ManualClock(T0);
  const root = new Prng(11);
  const copiers = Object.fromEntries(
    KIND_NAMES.map((kind) => [kind, new MemoryCopier(kind, clock, root.fork(), { backupAccount: BACKUP })]),
  ) as Record<KindName, MemoryCopier>;
  const listings: string[] = [];
  for (const kind of KIND_NAMES) {
    const copier = copiers[kind];
    const list = copier.listShared.bind(copier);
    copier.listShared = (account, region) => {
      listings.push(`${kind} ${account} ${region}`);
      return list(account, region);
    };
  }
  const inventory = new MemoryInventory();
  const log = recordingLog();
  const kinds = Object.fromEntries(
    KIND_NAMES.map((kind) => [
      kind,
      { enabled: true, scope: { tag: { key: 'backup', value: 'daily' } }, copyLimit: 5 },
    ]),
  ) as unknown as KindsSettings;
  const deps: VaultDeps = {
    settings: {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      backupRegion: REGION,
      backupKeyArn: `arn:aws:kms:${REGION}:${BACKUP}:key/0b0e2a4c-1111-4222-8333-944455556666`,
      sources: [
        { account: SOURCE, regions: [REGION, SECOND_REGION] },
        { account: OTHER, regions: [REGION] },
      ],
      kinds,
    },
    inventory,
    copiers,
    receipts: new MemoryReceipts(),
    clock,
    log,
  };
  const ebs = (id: string, account = SOURCE, region = REGION): ArtifactRef => ({
    kind: 'ebs-snapshot',
    partition: 'aws',
    account,
    region,
    id,
  });
  return { copiers, inventory, deps, log, listings, ebs };
}

describe('the sweep applies intake’s checks to what it takes in (memory copiers, every kind)', () => {
  it('refuses and counts out-of-scope, unencrypted and other-owner shares, logging each once, recording none', async () => {
    const f = copierFixture();
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000001a'), { scopeTags: { backup: 'none' } });
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000002a'), {
      scopeTags: { backup: 'daily' },
      encrypted: false,
    });
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000003a'), {
      scopeTags: { backup: 'daily' },
      ownerAccount: '444444444444',
    });
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000004a'), { scopeTags: { backup: 'daily' } });

    const summary = await takeInShared(f.deps);

    expect(summary).toEqual({ listed: 4, takenIn: 1, alreadyKnown: 0, refused: 3, pending: 0, errors: 0 });
    expect(f.inventory.records().map((r) => [r.artifactId, r.status])).toEqual([
      ['ebs-snapshot:222222222222:eu-west-1:snap-0a00000000000004a', 'copying'],
    ]);
    const refusals = f.log.lines.filter((line) => line.message === 'shared artifact refused by the sweep');
    expect(refusals.map((line) => line.fields)).toEqual([
      {
        artifactId: 'ebs-snapshot:222222222222:eu-west-1:snap-0a00000000000001a',
        reason: 'EBS snapshot snap-0a00000000000001a is out of scope: it does not match the tag backup=daily',
      },
      {
        artifactId: 'ebs-snapshot:222222222222:eu-west-1:snap-0a00000000000002a',
        reason: 'EBS snapshot snap-0a00000000000002a is not encrypted: the source agent re-keys before sharing',
      },
      {
        artifactId: 'ebs-snapshot:222222222222:eu-west-1:snap-0a00000000000003a',
        reason: 'EBS snapshot snap-0a00000000000003a is owned by account 444444444444, not by the sender 222222222222',
      },
    ]);
  });

  it('lists only the registered Regions of each registered account, once per kind each', async () => {
    const f = copierFixture();
    // Shared, but in a Region not registered for the account.
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000005a', OTHER, SECOND_REGION), {
      scopeTags: { backup: 'daily' },
    });

    const summary = await takeInShared(f.deps);

    expect(summary).toEqual({ listed: 0, takenIn: 0, alreadyKnown: 0, refused: 0, pending: 0, errors: 0 });
    expect(f.listings).toEqual(
      KIND_NAMES.flatMap((kind) => [
        `${kind} 222222222222 eu-west-1`,
        `${kind} 222222222222 eu-central-1`,
        `${kind} 333333333333 eu-west-1`,
      ]),
    );
    expect(f.inventory.records()).toEqual([]);
  });

  it('lists the enrolled accounts the registry names too, and takes in what they shared', async () => {
    const f = copierFixture();
    const enrolled = '444444444444';
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000007a', enrolled), { scopeTags: { backup: 'daily' } });
    const registry = listedSources([
      { account: SOURCE, regions: [REGION, SECOND_REGION] },
      { account: OTHER, regions: [REGION] },
      { account: enrolled, regions: [REGION] },
    ]);

    const summary = await takeInShared({ ...f.deps, registry });

    expect(summary).toEqual({ listed: 1, takenIn: 1, alreadyKnown: 0, refused: 0, pending: 0, errors: 0 });
    expect(f.listings.filter((listing) => listing.includes(enrolled))).toEqual(
      KIND_NAMES.map((kind) => `${kind} 444444444444 eu-west-1`),
    );
    expect(f.inventory.records().map((r) => r.artifactId)).toEqual([
      'ebs-snapshot:444444444444:eu-west-1:snap-0a00000000000007a',
    ]);
  });

  it('logs a listing that fails and still takes in what the other listings name', async () => {
    const f = copierFixture();
    f.copiers.ami.listShared = () => Promise.reject(new Error('AccessDenied: not authorized'));
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000006a', OTHER), { scopeTags: { backup: 'daily' } });

    const summary = await takeInShared(f.deps);

    expect(summary).toEqual({ listed: 1, takenIn: 1, alreadyKnown: 0, refused: 0, pending: 0, errors: 3 });
    expect(f.inventory.records().map((r) => r.artifactId)).toEqual([
      'ebs-snapshot:333333333333:eu-west-1:snap-0a00000000000006a',
    ]);
    expect(f.log.lines.filter((line) => line.level === 'error').map((line) => line.fields?.account)).toEqual([
      '222222222222',
      '222222222222',
      '333333333333',
    ]);
  });

  it('refuses a listed id that is not of the kind’s form, before any other call', async () => {
    const f = copierFixture();
    f.copiers['ebs-snapshot'].listShared = async (account, region) => [
      { kind: 'ebs-snapshot', partition: 'aws', account, region, id: 'snap-\u001b[31mred' },
    ];

    const summary = await takeInShared(f.deps);

    expect(summary).toMatchObject({ listed: 3, takenIn: 0, refused: 3 });
    expect(f.inventory.records()).toEqual([]);
  });
});
