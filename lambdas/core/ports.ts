/**
 * Ports: the small interfaces through which the core reaches AWS. The
 * adapters in `lambdas/adapters` implement them with the SDK; tests and the
 * simulation implement them in memory. They speak domain types, never SDK
 * shapes.
 */
import type { CopyStatus, InventoryFilter, InventoryRecord, RecordPatch } from './inventory';
import type { Notification } from './notification';
import type { RegisteredSource } from './settings';

export type SnapshotType = 'automated' | 'manual' | 'shared' | 'awsbackup' | 'public' | string;

/** What the source agent needs to know of an RDS DB snapshot. */
export interface RdsSnapshot {
  readonly arn: string;
  readonly id: string;
  readonly dbInstanceId: string;
  /** `creating`, `available`, `copying`, `failed`, … as RDS reports it. */
  readonly status: string;
  readonly type: SnapshotType;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly createdAt?: string;
  /** For a copy: when the snapshot it was copied from was taken (RDS's OriginalSnapshotCreateTime). */
  readonly originalCreatedAt?: string;
  readonly engine?: string;
  readonly sizeGiB?: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** The inventory table. Every write is conditional; a lost race answers `false`, never overwrites. */
export interface Inventory {
  get(artifactId: string): Promise<InventoryRecord | undefined>;
  /**
   * Which of `artifactIds` have a record: the sweep's check of what it
   * listed, a batch read (100 ids a request) rather than a read per id.
   */
  existing(artifactIds: readonly string[]): Promise<Set<string>>;
  /** Writes a new record unless one with the same id exists. */
  create(record: InventoryRecord): Promise<boolean>;
  /**
   * Replaces `expected` with `next` only if the stored record still has
   * `expected`'s `version` (optimistic concurrency). A record that leaves
   * `copying` gives its copy slot back in the same atomic write. Entering
   * `copying` from another status goes through {@link Inventory.claimCopy}.
   */
  replace(expected: InventoryRecord, next: InventoryRecord): Promise<boolean>;
  /**
   * Moves a record into `copying` and takes one of `limit` copy slots of its
   * pool (`next.pool`) in one atomic write: `claimed`; `conflict` when the
   * record changed meanwhile (or, with `expected` undefined, a record with
   * `next`'s id exists already); `full` when every slot is taken; `busy`
   * when another record of the same source resource (`resourceKeyOf`)
   * holds the one slot a resource may hold. Nothing is written unless
   * `claimed`. With `expected` undefined the record is created by the
   * claim. The slots always equal the number of the pool's `copying`
   * records, so concurrent workers can never start more copies than the
   * limit. Leaving `copying` ({@link Inventory.replace}) frees the slot and
   * the resource.
   */
  claimCopy(
    expected: InventoryRecord | undefined,
    next: InventoryRecord,
    limit: number,
  ): Promise<'claimed' | 'conflict' | 'full' | 'busy'>;
  /** Copy slots in use in a pool: the number of its `copying` records. */
  copiesInProgress(pool: string): Promise<number>;
  /**
   * The next record waiting for a slot of `pool` in round-robin order over
   * source accounts: the oldest waiting record of the first account after
   * `afterAccount` (in account order, wrapping round to the first account);
   * from the first account when `afterAccount` is undefined. Read from an
   * eventually consistent index: the claim's version condition is what
   * makes acting on it safe.
   */
  nextWaiting(pool: string, afterAccount?: string): Promise<InventoryRecord | undefined>;
  /** A `copying` record of `pool` whose claim's lease ({@link InventoryRecord.claimedUntil}) ended at or before `now`. */
  expiredClaim(pool: string, now: Date): Promise<InventoryRecord | undefined>;
  /**
   * The `copying` records of `pool` whose copy request was recorded (no
   * claim's lease), oldest request first, at most `limit`: one query of the
   * queue index, whichever container requested them. Eventually consistent:
   * a record may have been settled since, and its version decides.
   */
  copiesInFlight(pool: string, limit: number): Promise<InventoryRecord[]>;
  /**
   * The `available` records of `pool` not yet finished
   * ({@link InventoryRecord.finishedAt}), oldest write first: every page of
   * one partition of the queue index, not every copy kept. Eventually
   * consistent, as {@link Inventory.copiesInFlight}.
   */
  awaitingFollowUp(pool: string): Promise<InventoryRecord[]>;
  listByStatus(status: CopyStatus): Promise<InventoryRecord[]>;
  list(filter?: InventoryFilter): Promise<InventoryRecord[]>;
}

/**
 * The source accounts the vault accepts: those the configuration lists and
 * those enrolled from its organizational units. Intake asks it who may
 * send; a listed account wins over an enrolment of the same account.
 */
export interface SourceRegistry {
  /** The account and its Regions when it is registered now; `undefined` when not (or no longer). */
  source(account: string): Promise<RegisteredSource | undefined>;
  /** Every registered account, listed ones first. */
  all(): Promise<readonly RegisteredSource[]>;
}

/** The source account's own RDS, as the source agent uses it. */
export interface SourceRds {
  describeSnapshot(snapshotId: string): Promise<RdsSnapshot | undefined>;
  /** The account's manual and automated DB snapshots in this Region (not those shared with it). */
  listSnapshots(): Promise<RdsSnapshot[]>;
  /** Tags of a DB instance; `undefined` when the instance no longer exists. */
  instanceTags(dbInstanceId: string): Promise<Record<string, string> | undefined>;
  /** `exists` when the deterministic target is already there. Throws {@link CopyQuotaExceededError}. */
  copySnapshot(request: {
    sourceId: string;
    targetId: string;
    kmsKeyArn: string;
    tags: Readonly<Record<string, string>>;
  }): Promise<'started' | 'exists'>;
  sharedWith(snapshotId: string): Promise<string[]>;
  share(snapshotId: string, account: string): Promise<void>;
  tag(snapshotArn: string, tags: Readonly<Record<string, string>>): Promise<void>;
  deleteSnapshot(snapshotId: string): Promise<void>;
}

/** Publishes to the vault's intake topic. */
export interface NotificationPublisher {
  publish(notification: Notification): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Structured log lines; the adapter is Powertools Logger. Never pass a secret. */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };

export type { RecordPatch };
