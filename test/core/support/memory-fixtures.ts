/**
 * Fixtures for the core's tests over the memory world (sim/memory-aws): one
 * backup account that vaults, source accounts that share, and the constants
 * they are built from.
 *
 * Every fixture starts from its own clock at {@link T0} and its own world, so
 * tests never share state; the shared part is only how they are wired.
 */
import { type InventoryRecord, newRecord } from '../../../lambdas/core/inventory';
import { intakeTopicArn, intermediateSnapshotId } from '../../../lambdas/core/names';
import { handleDelivery, type IntakeDeps } from '../../../lambdas/core/pipeline/intake';
import type { RdsSnapshot } from '../../../lambdas/core/ports';
import { artifactId, poolOf } from '../../../lambdas/kinds/registry';
import { rdsSnapshot } from '../../../lambdas/kinds/rds-snapshot/kind';
import type { ArtifactRef } from '../../../lambdas/kinds/types';
import { type AgentDeps, type AgentStep, processSnapshot } from '../../../lambdas/core/rds-source-agent';
import type { ScopeSetting, SourceSettings } from '../../../lambdas/core/settings';
import {
  ManualClock,
  MemoryInventory,
  MemoryPublisher,
  MemoryRdsWorld,
  MemoryReceipts,
  type NewSnapshot,
  PortMonitor,
  type RdsWorldOptions,
  snsEnvelope,
} from '../../../sim/memory-aws';
import { memoryAgentDeps, memoryVaultDeps } from '../../../sim/simulation';

/** The backup account: it holds the vault and its copies. */
export const BACKUP = '111111111111';
/** The source account the tests use by default; the vault registers it in {@link REGION} and {@link SECOND_REGION}. */
export const SOURCE = '222222222222';
/** A second registered source account, in {@link REGION} only. */
export const OTHER = '333333333333';
/** An account the vault does not register. */
export const STRANGER = '444444444444';
/** The backup Region, and the Region every source snapshot is in unless a test says otherwise. */
export const REGION = 'eu-west-1';
/** A second Region registered for {@link SOURCE}. */
export const SECOND_REGION = 'eu-central-1';
/** When every fixture's clock starts. */
export const T0 = '2026-03-01T04:30:00.000Z';
/** How long an RDS copy takes in the memory world. */
export const COPY_MS = 10 * 60_000;

/** The source agent's default scope: instances tagged `backup=daily`. */
export const BY_TAG: ScopeSetting = { tag: { key: 'backup', value: 'daily' } };
/** Tags that put an instance (or a deleted instance's snapshot) in {@link BY_TAG}'s scope. */
export const IN_SCOPE = { backup: 'daily' };
/** Tags that leave an instance out of {@link BY_TAG}'s scope. */
export const OUT_OF_SCOPE = { backup: 'none' };

/** The intake topic of `account` in the vault of {@link BACKUP}/{@link REGION}. */
export const topicOf = (account: string) => intakeTopicArn('bunker', BACKUP, REGION, account);

/** What SNS delivers to the intake queue when `message` is published to `account`'s intake topic. */
export function delivered(message: string, account = SOURCE): string {
  return snsEnvelope(topicOf(account), message);
}

/** The vault's reference to an RDS snapshot of {@link SOURCE} in {@link REGION}. */
export function rdsRef(id: string, account = SOURCE, region = REGION): ArtifactRef {
  return { kind: 'rds-snapshot', partition: 'aws', account, region, id };
}

/**
 * The body of a v2 RDS snapshot notification from {@link SOURCE} in {@link REGION},
 * as a source agent publishes it.
 *
 * @param fields - overrides or adds fields (an added field keeps its place after the standard ones).
 */
export function notificationV2(id: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 2,
    kind: 'rds-snapshot',
    sourceAccount: SOURCE,
    sourceRegion: REGION,
    id,
    publishedAt: '2026-03-01T04:25:00.000Z',
    ...fields,
  });
}

/**
 * The body of a v1 RDS snapshot notification (Bunker 0.1's format, still
 * accepted) from {@link SOURCE} in {@link REGION}.
 *
 * @param fields - overrides or adds fields (an added field keeps its place after the standard ones).
 */
export function notification(snapshotArn: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 1,
    kind: 'rds-snapshot',
    sourceAccount: SOURCE,
    sourceRegion: REGION,
    snapshotArn,
    publishedAt: '2026-03-01T04:25:00.000Z',
    ...fields,
  });
}

export interface VaultFixtureOptions {
  /**
   * The vault's limit on RDS copies in progress.
   * @default 5
   */
  readonly maxCopies?: number;
  /**
   * Which RDS snapshots the vault accepts.
   * @default - the DB instance `orders-db`, which every {@link VaultFixture.shared} snapshot is of
   */
  readonly scope?: ScopeSetting;
  /** Also copy into this Region of the backup account (a second hop), under a key of the backup account there. */
  readonly secondRegion?: string;
  /**
   * Every {@link VaultFixture.shared} snapshot of a DB instance of its own
   * (`orders-db-<id>`, in scope), so their copies may run at once: copies of
   * one DB instance hold one slot between them.
   */
  readonly oneDatabaseEach?: boolean;
  /** Options for the memory world, on top of the fixture's clock, monitor and {@link COPY_MS}. */
  readonly world?: Partial<Omit<RdsWorldOptions, 'clock' | 'monitor'>>;
}

/** Where {@link VaultFixture.shared} puts a snapshot, and with whom it is shared. */
export interface SharedSnapshotOptions {
  /** @default SOURCE */
  readonly account?: string;
  /** @default REGION */
  readonly region?: string;
  /** @default [BACKUP] */
  readonly sharedWith?: string[];
}

/** A copy announced to intake by {@link VaultFixture.announce}. */
export interface AnnouncedCopy {
  /** The shared source snapshot's ARN. */
  readonly arn: string;
  /** Its inventory record's id. */
  readonly artifactId: string;
  /** The id of its copy in the backup account. */
  readonly targetId: string;
}

export interface VaultFixture {
  readonly clock: ManualClock;
  /** Counts the vault's port calls and injects faults into them. */
  readonly monitor: PortMonitor;
  readonly world: MemoryRdsWorld;
  readonly inventory: MemoryInventory;
  /** Intake's, completion's and the sweep's dependencies. */
  readonly deps: IntakeDeps;
  /** What the vault told the source agents about their copies. */
  readonly receipts: MemoryReceipts;
  /** The backup account's data key: every copy must end up under it. */
  readonly backupKeyArn: string;
  /** {@link SOURCE}'s share key in {@link REGION}, usable by the backup account. */
  readonly shareKeyArn: string;
  /**
   * Adds a snapshot of `orders-db` as the source agent leaves it: under its
   * account's share key (usable by the backup account) and shared with the
   * backup account.
   */
  shared(id: string, options?: SharedSnapshotOptions): RdsSnapshot;
  /** The snapshots in the backup account, in {@link REGION}. */
  backupCopies(): RdsSnapshot[];
  /** Adds a snapshot of `orders-db` straight to the backup account in {@link REGION}, as if made there outside intake. */
  backupSnapshot(id: string, tags?: Record<string, string>): RdsSnapshot;
  /** Shares a snapshot of {@link SOURCE} and announces it to intake, published now. */
  announce(id: string): Promise<AnnouncedCopy>;
  /** A record waiting for copy capacity since `at`, as intake leaves it. */
  waitingSince(arn: string, at: string): InventoryRecord;
}

/**
 * A vault in {@link BACKUP}/{@link REGION} over a fresh memory world and
 * inventory, with its clock at {@link T0}. It registers {@link SOURCE} in
 * {@link REGION} and {@link SECOND_REGION}, and {@link OTHER} in {@link REGION}.
 */
export function vaultFixture(options: VaultFixtureOptions = {}): VaultFixture {
  const clock = new ManualClock(T0);
  const monitor = new PortMonitor();
  const world = new MemoryRdsWorld({
    clock,
    monitor,
    copyDurationMs: COPY_MS,
    ...options.world,
  });
  const inventory = new MemoryInventory(monitor);
  const receipts = new MemoryReceipts(monitor);
  const backupKeyArn = world.createKey(BACKUP, REGION, 'bunker-backup-data');
  const shareKeyArn = world.createKey(SOURCE, REGION, 'bunker-share', [BACKUP]);
  // With oneDatabaseEach, the scope lists each database as shared() makes it.
  const databases = ['orders-db'];
  const databaseOf = (id: string) => (options.oneDatabaseEach ? `orders-db-${id}` : 'orders-db');
  const deps = memoryVaultDeps({
    world,
    inventory,
    clock,
    backupAccount: BACKUP,
    backupRegion: REGION,
    backupKeyArn,
    sources: [
      { account: SOURCE, regions: [REGION, SECOND_REGION] },
      { account: OTHER, regions: [REGION] },
    ],
    maxRdsCopiesInProgress: options.maxCopies ?? 5,
    scope: options.scope ?? { ids: databases },
    receipts,
    ...(options.secondRegion
      ? {
          secondRegion: options.secondRegion,
          secondKeyArn: world.createKey(BACKUP, options.secondRegion, 'bunker-backup-data'),
        }
      : {}),
  });
  const shared = (id: string, extra: SharedSnapshotOptions = {}) => {
    if (!databases.includes(databaseOf(id))) databases.push(databaseOf(id));
    return world.addSnapshot(extra.account ?? SOURCE, extra.region ?? REGION, {
      id,
      dbInstanceId: databaseOf(id),
      kmsKeyId: world.createKey(extra.account ?? SOURCE, extra.region ?? REGION, 'bunker-share', [BACKUP]),
      sharedWith: extra.sharedWith ?? [BACKUP],
    });
  };
  const announce = async (id: string) => {
    const snapshot = shared(id);
    await handleDelivery(delivered(notificationV2(id, { publishedAt: clock.now().toISOString() })), deps);
    return {
      arn: snapshot.arn,
      artifactId: artifactId(rdsRef(id)),
      targetId: rdsSnapshot.targetName(rdsRef(id), 0),
    };
  };
  const waitingSince = (arn: string, at: string): InventoryRecord => {
    const ref = rdsSnapshot.parseArn(arn);
    if (!ref) throw new Error(`not an RDS snapshot ARN: ${arn}`);
    return newRecord(
      {
        artifactId: artifactId(ref),
        kind: 'rds-snapshot',
        status: 'expected',
        reason: 'waiting for copy capacity',
        sourceAccount: ref.account,
        sourceRegion: ref.region,
        sourceId: ref.id,
        sourceArn: arn,
        sourceResourceId: databaseOf(ref.id),
        targetName: rdsSnapshot.targetName(ref, 0),
        targetRegion: REGION,
        pool: poolOf('rds-snapshot', REGION),
      },
      new Date(at),
    );
  };
  return {
    clock,
    monitor,
    world,
    inventory,
    deps,
    receipts,
    backupKeyArn,
    shareKeyArn,
    shared,
    backupCopies: () => world.snapshots(BACKUP, REGION),
    backupSnapshot: (id, tags) => world.addSnapshot(BACKUP, REGION, { id, dbInstanceId: 'orders-db', tags }),
    announce,
    waitingSince,
  };
}

export interface AgentFixtureOptions {
  /** @default BY_TAG */
  readonly scope?: ScopeSetting;
  /**
   * The agent's limit on intermediate snapshots.
   * @default 10
   */
  readonly maxIntermediates?: number;
  /**
   * How long an announced intermediate is kept.
   * @default 24
   */
  readonly retentionHours?: number;
  /**
   * How long an intermediate with no receipt is kept.
   * @default 336
   */
  readonly horizonHours?: number;
}

export interface AgentFixture {
  readonly clock: ManualClock;
  /** Counts the agent's port calls and injects faults into them. */
  readonly monitor: PortMonitor;
  readonly world: MemoryRdsWorld;
  /** Holds what the agent published to the intake topic. */
  readonly publisher: MemoryPublisher;
  readonly deps: AgentDeps;
  /** The share key the agent copies under. */
  readonly shareKeyArn: string;
  /** Adds a production snapshot of `db` (created now, available at once unless told otherwise). */
  snapshot(id: string, db?: string, extra?: Partial<NewSnapshot>): RdsSnapshot;
  /** The intermediate copy of production snapshot `id`, if there is one. */
  intermediateOf(id: string): RdsSnapshot | undefined;
  /** Runs the snapshot's two events: created (copy to an intermediate), then the copy finished. */
  announce(id: string): Promise<AgentStep>;
}

/**
 * A source agent in {@link SOURCE}/{@link REGION} over a fresh memory world and
 * publisher, with its clock at {@link T0}, sharing with {@link BACKUP}.
 */
export function agentFixture(options: AgentFixtureOptions = {}): AgentFixture {
  const clock = new ManualClock(T0);
  const monitor = new PortMonitor();
  const world = new MemoryRdsWorld({ clock, monitor, copyDurationMs: COPY_MS });
  const publisher = new MemoryPublisher({ monitor });
  const shareKeyArn = world.createKey(SOURCE, REGION, 'bunker-share', [BACKUP]);
  const settings: SourceSettings = {
    prefix: 'bunker',
    partition: 'aws',
    backupAccount: BACKUP,
    sourceAccount: SOURCE,
    sourceRegion: REGION,
    shareKeyArn,
    intakeTopicArn: topicOf(SOURCE),
    scopes: { 'rds-snapshot': options.scope ?? BY_TAG },
    intermediateRetentionHours: options.retentionHours ?? 24,
    intermediateHorizonHours: options.horizonHours ?? 24 * 14,
    maxIntermediateSnapshots: options.maxIntermediates ?? 10,
    rpoHours: { 'rds-snapshot': 24 },
  };
  const deps = memoryAgentDeps({ world, publisher, clock, settings });
  const announce = async (id: string) => {
    await processSnapshot(id, deps);
    clock.advance(COPY_MS);
    return processSnapshot(intermediateSnapshotId(id), deps);
  };
  return {
    clock,
    monitor,
    world,
    publisher,
    deps,
    shareKeyArn,
    snapshot: (id, db = 'orders-db', extra = {}) =>
      world.addSnapshot(SOURCE, REGION, { id, dbInstanceId: db, ...extra }),
    intermediateOf: (id) => world.snapshot(SOURCE, REGION, intermediateSnapshotId(id)),
    announce,
  };
}
