/**
 * The sweep's take-in of artifacts shared with the backup account whose
 * notification never arrived (`takeInShared`, run first by `sweepCopies`):
 * taken in once and copied, through intake's own checks; what those checks
 * refuse is counted and logged, never recorded; only registered accounts
 * and Regions are listed, one listing per kind and Region for all its
 * accounts, each once a maintenance period, and one listing that fails
 * stops nothing else.
 */
import { describe, expect, it } from 'vitest';
import { listedSources } from '../../lambdas/core/enrolment/registry';
import { takeInListingOf, takeInShared } from '../../lambdas/core/pipeline/adopt';
import { scheduledSweep, sweepCopies, takeInSlotOf } from '../../lambdas/core/pipeline/completion';
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
    copier.listShared = (region, accounts) => {
      listings.push(`${kind} ${region} ${accounts.join(',')}`);
      return list(region, accounts);
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
  return { clock, copiers, inventory, deps, log, listings, ebs };
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

  it('lists only the registered Regions, once per kind and Region for every account registered there', async () => {
    const f = copierFixture();
    // Shared, but in a Region not registered for the account.
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000005a', OTHER, SECOND_REGION), {
      scopeTags: { backup: 'daily' },
    });

    const summary = await takeInShared(f.deps);

    expect(summary).toEqual({ listed: 0, takenIn: 0, alreadyKnown: 0, refused: 0, pending: 0, errors: 0 });
    expect(f.listings).toEqual(
      KIND_NAMES.flatMap((kind) => [
        `${kind} eu-west-1 222222222222,333333333333`,
        `${kind} eu-central-1 222222222222`,
      ]),
    );
    expect(f.inventory.records()).toEqual([]);
  });

  it('takes in what six accounts of two Regions shared with 8 listings: one per kind and Region', async () => {
    const f = copierFixture();
    const accounts = ['222222222222', '333333333333', '444444444444', '555555555555', '666666666666', '777777777777'];
    const registry = listedSources(
      accounts.map((account, i) => ({ account, regions: i % 2 === 0 ? [REGION, SECOND_REGION] : [REGION] })),
    );
    for (const [n, account] of accounts.entries()) {
      f.copiers['ebs-snapshot'].addSource(f.ebs(`snap-0b0000000000000${n}a`, account), {
        scopeTags: { backup: 'daily' },
      });
    }
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0b00000000000009a', '666666666666', SECOND_REGION), {
      scopeTags: { backup: 'daily' },
    });

    const summary = await takeInShared({ ...f.deps, registry });

    expect(summary).toEqual({ listed: 7, takenIn: 7, alreadyKnown: 0, refused: 0, pending: 0, errors: 0 });
    expect(f.listings).toHaveLength(8);
    expect(f.listings.filter((listing) => listing.startsWith('ebs-snapshot'))).toEqual([
      'ebs-snapshot eu-west-1 222222222222,333333333333,444444444444,555555555555,666666666666,777777777777',
      'ebs-snapshot eu-central-1 222222222222,444444444444,666666666666',
    ]);
    expect(f.inventory.records()).toHaveLength(7);
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
      KIND_NAMES.map((kind) => `${kind} eu-west-1 222222222222,333333333333,444444444444`),
    );
    expect(f.inventory.records().map((r) => r.artifactId)).toEqual([
      'ebs-snapshot:444444444444:eu-west-1:snap-0a00000000000007a',
    ]);
  });

  it("logs a Region's listing that fails with its kind and Region, and still takes in what the others name", async () => {
    const f = copierFixture();
    const list = f.copiers['ebs-snapshot'].listShared.bind(f.copiers['ebs-snapshot']);
    f.copiers['ebs-snapshot'].listShared = (region, accounts) =>
      region === REGION ? Promise.reject(new Error('AccessDenied: not authorized')) : list(region, accounts);
    f.copiers.ami.listShared = () => Promise.reject(new Error('AccessDenied: not authorized'));
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000006a', OTHER), { scopeTags: { backup: 'daily' } });
    f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a00000000000008a', SOURCE, SECOND_REGION), {
      scopeTags: { backup: 'daily' },
    });

    const summary = await takeInShared(f.deps);

    expect(summary).toEqual({ listed: 1, takenIn: 1, alreadyKnown: 0, refused: 0, pending: 0, errors: 3 });
    expect(f.inventory.records().map((r) => r.artifactId)).toEqual([
      'ebs-snapshot:222222222222:eu-central-1:snap-0a00000000000008a',
    ]);
    expect(f.log.lines.filter((line) => line.level === 'error').map((line) => line.fields)).toEqual([
      { kind: 'ebs-snapshot', region: 'eu-west-1', accounts: 2, error: 'Error: AccessDenied: not authorized' },
      { kind: 'ami', region: 'eu-west-1', accounts: 2, error: 'Error: AccessDenied: not authorized' },
      { kind: 'ami', region: 'eu-central-1', accounts: 1, error: 'Error: AccessDenied: not authorized' },
    ]);
  });

  it('refuses a listed id that is not of the kind’s form, before any other call', async () => {
    const f = copierFixture();
    f.copiers['ebs-snapshot'].listShared = async (region, accounts) => [
      { kind: 'ebs-snapshot', partition: 'aws', account: accounts[0], region, id: 'snap-\u001b[31mred' },
    ];

    const summary = await takeInShared(f.deps);

    expect(summary).toMatchObject({ listed: 2, takenIn: 0, refused: 2 });
    expect(f.inventory.records()).toEqual([]);
  });

  it('refuses what a listing names of an account not registered in that Region, without describing it', async () => {
    const f = copierFixture();
    // OTHER is registered in eu-west-1 only: its share in eu-central-1 is not the sweep's to take.
    const strays = [
      f.ebs('snap-0a0000000000000aa', '444444444444'),
      f.ebs('snap-0a0000000000000ba', OTHER, SECOND_REGION),
    ];
    for (const stray of strays) f.copiers['ebs-snapshot'].addSource(stray, { scopeTags: { backup: 'daily' } });
    f.copiers['ebs-snapshot'].listShared = async (region) => strays.filter((ref) => ref.region === region);
    let described = 0;
    f.copiers['ebs-snapshot'].describeSource = async () => {
      described += 1;
      return undefined;
    };

    const summary = await takeInShared(f.deps);

    expect(summary).toEqual({ listed: 2, takenIn: 0, alreadyKnown: 0, refused: 2, pending: 0, errors: 0 });
    expect(described).toBe(0);
    expect(f.inventory.records()).toEqual([]);
  });
});

describe('the scheduled sweep lists each kind and Region once a maintenance period', () => {
  it('takes in a share made just after its listing 24 sweeps (6 h) later, never sooner: one listing a period', async () => {
    const f = copierFixture();
    const slot = takeInSlotOf(takeInListingOf('ebs-snapshot', REGION));
    const period = Date.UTC(2026, 2, 1, 6, 0);
    const sweepAt = (k: number) => new Date(period + (slot + k) * 15 * 60_000);

    const takenIn: number[] = [];
    for (let k = 0; k <= 24; k += 1) {
      f.clock.advanceTo(sweepAt(k));
      // Shared (and its notification lost) just after the sweep that listed the Region.
      if (k === 1)
        f.copiers['ebs-snapshot'].addSource(f.ebs('snap-0a0000000000000ca', OTHER), {
          scopeTags: { backup: 'daily' },
        });
      const summary = await takeInShared(f.deps, scheduledSweep(sweepAt(k)).takeIn);
      if (summary.takenIn > 0) takenIn.push(k);
    }

    expect(takenIn).toEqual([24]);
    expect(f.listings.filter((listing) => listing.startsWith('ebs-snapshot eu-west-1'))).toEqual([
      'ebs-snapshot eu-west-1 222222222222,333333333333',
      'ebs-snapshot eu-west-1 222222222222,333333333333',
    ]);
  });
});
