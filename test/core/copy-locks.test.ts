/**
 * Locking copies as they settle: an EBS or AMI copy that becomes available
 * is locked for its kind's retention through the copier's `protect`, the
 * lock is recorded on the record (`lockedUntil`, `lock`), a lock that fails
 * does not hold the copy back and is set by the sweep, and kinds with no
 * lock of their own (RDS, Aurora) are left to the deletion alarm and the SCP.
 */
import { describe, expect, it } from 'vitest';
import { handleCopyEvent, sweepCopies } from '../../lambdas/core/pipeline/completion';
import type { VaultDeps } from '../../lambdas/core/pipeline/copy';
import { handleDelivery } from '../../lambdas/core/pipeline/intake';
import { silentLog } from '../../lambdas/core/ports';
import {
  type ImmutabilitySettings,
  type KindsSettings,
  vaultSettingsFromEnv,
  vaultSettingsToEnv,
} from '../../lambdas/core/settings';
import { KIND_NAMES, KINDS } from '../../lambdas/kinds/registry';
import type { ArtifactRef, KindName } from '../../lambdas/kinds/types';
import { ManualClock, MemoryInventory, MemoryReceipts, Prng } from '../../sim/memory-aws';
import { MemoryCopier } from '../../sim/memory-copier';
import { BACKUP, delivered, REGION, SOURCE, T0 } from './support/memory-fixtures';

const BACKUP_KEY = `arn:aws:kms:${REGION}:${BACKUP}:key/0b0e2a4c-1111-4222-8333-944455556666`;
const COPY_MS = 10 * 60_000;
const REFS: Record<KindName, ArtifactRef> = {
  'rds-snapshot': { kind: 'rds-snapshot', partition: 'aws', account: SOURCE, region: REGION, id: 'bunker-share-a' },
  'aurora-cluster-snapshot': {
    kind: 'aurora-cluster-snapshot',
    partition: 'aws',
    account: SOURCE,
    region: REGION,
    id: 'bunker-share-c',
  },
  'ebs-snapshot': {
    kind: 'ebs-snapshot',
    partition: 'aws',
    account: SOURCE,
    region: REGION,
    id: 'snap-0a1b2c3d4e5f60718',
  },
  ami: { kind: 'ami', partition: 'aws', account: SOURCE, region: REGION, id: 'ami-0a1b2c3d4e5f60718' },
};
const LOCKS: ImmutabilitySettings = {
  mode: 'compliance',
  coolOffHours: 24,
  lockDays: { 'ebs-snapshot': 35, ami: 90 },
};

function fixture(immutability: ImmutabilitySettings | null = LOCKS) {
  const clock = new ManualClock(T0);
  const root = new Prng(7);
  const copiers = Object.fromEntries(
    KIND_NAMES.map((kind) => [
      kind,
      new MemoryCopier(kind, clock, root.fork(), { backupAccount: BACKUP, copyDurationMs: () => COPY_MS }),
    ]),
  ) as Record<KindName, MemoryCopier>;
  const inventory = new MemoryInventory();
  const kinds = Object.fromEntries(
    KIND_NAMES.map((kind) => [kind, { enabled: true, scope: { ids: [REFS[kind].id] }, copyLimit: 5 }]),
  ) as unknown as KindsSettings;
  const deps: VaultDeps = {
    settings: {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      backupRegion: REGION,
      backupKeyArn: BACKUP_KEY,
      sources: [{ account: SOURCE, regions: [REGION] }],
      kinds,
      ...(immutability ? { immutability } : {}),
    },
    inventory,
    copiers,
    receipts: new MemoryReceipts(),
    clock,
    log: silentLog,
  };
  const announce = async (kind: KindName) => {
    const ref = REFS[kind];
    copiers[kind].addSource(ref);
    const message = JSON.stringify({
      version: 2,
      kind,
      sourceAccount: SOURCE,
      sourceRegion: REGION,
      id: ref.id,
      publishedAt: T0,
    });
    await handleDelivery(delivered(message), deps);
  };
  /** Delivers the copy events of every copy that finished. */
  const finish = async () => {
    clock.advance(COPY_MS);
    for (const kind of KIND_NAMES) {
      for (const done of copiers[kind].takeFinished()) {
        const event = KINDS[kind].finishedCopyEvent(done.targetId, REGION, 'aws');
        await handleCopyEvent(event.detailType, event.detail, deps);
      }
    }
  };
  const record = (kind: KindName) => inventory.peek(`${kind}:${SOURCE}:${REGION}:${REFS[kind].id}`);
  return { clock, copiers, inventory, deps, announce, finish, record };
}

describe('locking copies as they become available', () => {
  it('locks an EBS copy for the kind’s retention when it settles, and records until when', async () => {
    const f = fixture();
    await f.announce('ebs-snapshot');
    await f.finish();

    const record = f.record('ebs-snapshot');
    // T0 + 10 minutes + 35 days.
    expect(record).toMatchObject({
      status: 'available',
      lockedUntil: '2026-04-05T04:40:00.000Z',
      lock: 'compliance-cooloff',
    });
    expect(f.copiers['ebs-snapshot'].lockOf(record?.targetId ?? '', REGION)).toEqual({
      lockedUntil: '2026-04-05T04:40:00.000Z',
      lock: 'compliance-cooloff',
    });
  });

  it('protects an AMI copy for its own retention, deregistration protection included', async () => {
    const f = fixture();
    await f.announce('ami');
    await f.finish();

    expect(f.record('ami')).toMatchObject({
      status: 'available',
      lockedUntil: '2026-05-30T04:40:00.000Z',
      lock: 'compliance-cooloff+deregistration-protection',
    });
  });

  it('leaves RDS and Aurora copies unlocked: they have no lock of their own', async () => {
    const f = fixture();
    await f.announce('rds-snapshot');
    await f.announce('aurora-cluster-snapshot');
    await f.finish();

    for (const kind of ['rds-snapshot', 'aurora-cluster-snapshot'] as const) {
      expect(f.record(kind)?.status).toBe('available');
      expect(f.record(kind)?.lockedUntil).toBeUndefined();
      expect(f.copiers[kind].protect).toBeUndefined();
    }
  });

  it('locks nothing without immutability settings', async () => {
    const f = fixture(null);
    await f.announce('ebs-snapshot');
    await f.finish();

    expect(f.record('ebs-snapshot')?.status).toBe('available');
    expect(f.record('ebs-snapshot')?.lockedUntil).toBeUndefined();
    expect(f.copiers['ebs-snapshot'].lockOf(f.record('ebs-snapshot')?.targetId ?? '', REGION)).toBeUndefined();
  });

  it('records a copy available when its lock fails, and the sweep locks it later, once', async () => {
    const f = fixture();
    f.copiers['ebs-snapshot'].lockFails = true;
    await f.announce('ebs-snapshot');
    await f.finish();
    const unlocked = f.record('ebs-snapshot');

    f.clock.advance(60 * 60_000);
    f.copiers['ebs-snapshot'].lockFails = false;
    await sweepCopies(f.deps);
    const locked = f.record('ebs-snapshot');
    f.clock.advance(60 * 60_000);
    await sweepCopies(f.deps);

    expect(unlocked).toMatchObject({ status: 'available' });
    expect(unlocked?.lockedUntil).toBeUndefined();
    // Not finished while it owes its lock: the sweep's follow-up reads it from the queue index.
    expect(unlocked?.finishedAt).toBeUndefined();
    // Locked an hour later: 35 days from the sweep, not from the copy; finished by the same write.
    expect(locked).toMatchObject({
      status: 'available',
      lockedUntil: '2026-04-05T05:40:00.000Z',
      finishedAt: '2026-03-01T05:40:00.000Z',
    });
    // The second sweep finds it locked and leaves the record alone.
    expect(f.record('ebs-snapshot')?.version).toBe(locked?.version);
  });

  it('keeps the first lock when the copy is settled again: the end of a lock never moves', async () => {
    const f = fixture();
    await f.announce('ebs-snapshot');
    await f.finish();
    const copy = f.record('ebs-snapshot');
    f.clock.advance(24 * 60 * 60_000);

    const again = await f.copiers['ebs-snapshot'].protect?.(
      (await f.copiers['ebs-snapshot'].describeCopy({
        targetName: copy?.targetName ?? '',
        targetId: copy?.targetId,
        region: REGION,
      }))!,
      { mode: 'compliance', days: 35, coolOffHours: 24 },
    );

    expect(again?.lockedUntil).toBe('2026-04-05T04:40:00.000Z');
  });
});

describe('the immutability settings in the vault Lambdas’ environment', () => {
  it('reach the handlers as they were built, and are absent when not set', () => {
    const settings = {
      prefix: 'bunker',
      partition: 'aws',
      backupAccount: BACKUP,
      backupRegion: REGION,
      inventoryTable: 'bunker-inventory',
      backupKeyArn: BACKUP_KEY,
      sources: [{ account: SOURCE, regions: [REGION] }],
      kinds: fixture().deps.settings.kinds,
    };

    const env = vaultSettingsToEnv({ ...settings, immutability: LOCKS });

    expect(env.BUNKER_IMMUTABILITY).toBe(
      '{"mode":"compliance","coolOffHours":24,"lockDays":{"ebs-snapshot":35,"ami":90}}',
    );
    expect(vaultSettingsFromEnv(env).immutability).toEqual(LOCKS);
    expect(vaultSettingsFromEnv(vaultSettingsToEnv(settings)).immutability).toBeUndefined();
  });
});
