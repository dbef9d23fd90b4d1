/**
 * The inventory record of one backup copy and the state machine it follows.
 *
 *   expected → copying → available → expired (final)
 *
 * - expected → copying: the copy was requested (capacity was free).
 * - copying → expected: a copy quota answered "not now"; the sweep retries.
 * - copying → copying: the claimed copy was not found and is requested again
 *   (the worker that claimed it crashed before asking).
 * - copying → available / failed: RDS finished or failed the copy, or the
 *   copy is under the wrong key.
 * - expected → expected: the reason changed while waiting.
 * - expected → failed: AWS refused the copy for good.
 * - failed → copying / expected: the sweep retries a failed copy after a
 *   backoff, a bounded number of times (`failures` counts them); then the
 *   record stays `failed` with its reason.
 * - available → expired: the pruner deleted the copy after its retention
 *   (`expiredAt`, and the policy that expired it in `reason`). The record
 *   stays, so the inventory says what was deleted, when and why.
 *
 * `rejected` records are kept apart, one per distinct message body, so a
 * hostile or broken message can never overwrite a real copy's record.
 */

import type { KindName } from '../kinds/types';
import { BunkerError } from './errors';

/** A transition the state machine forbids: a bug in the caller, never a data problem. */
export class IllegalTransitionError extends BunkerError {}

export const COPY_STATUSES = ['expected', 'copying', 'available', 'failed', 'rejected', 'expired'] as const;
export type CopyStatus = (typeof COPY_STATUSES)[number];

/** A record's kind: a snapshot kind, or `unknown` for a rejected message that named none. */
export type RecordKind = KindName | 'unknown';

export interface StatusChange {
  readonly status: CopyStatus;
  readonly at: string;
  readonly reason?: string;
}

export interface InventoryRecord {
  /** `<kind>:<account>:<region>:<id>` ({@link artifactId}), or `rejected:<hash of the message>`. */
  readonly artifactId: string;
  readonly kind: RecordKind;
  readonly status: CopyStatus;
  /** Why the record is in its status, in words an operator can act on. */
  readonly reason?: string;
  /** For a copy: the account that owns the source. For a rejection: the account whose intake topic carried it. */
  readonly sourceAccount?: string;
  readonly sourceRegion?: string;
  /** The shared source's id (`bunker-share-…`, `snap-…`, `ami-…`). */
  readonly sourceId?: string;
  readonly sourceArn?: string;
  /** The production resource the snapshot is of (DB instance, cluster, volume, image), as the service reports it. */
  readonly sourceResourceId?: string;
  /** The production snapshot the shared one was made from, as operators know it. */
  readonly sourceSnapshotId?: string;
  /** When production took the snapshot, by the service's own timestamps. */
  readonly sourceCreatedAt?: string;
  /** The copy's deterministic name (RDS identifier, EC2 `bunker:copy-name` tag, AMI name). */
  readonly targetName?: string;
  /** The copy's id in the backup account, once known (the name for RDS kinds; `snap-…`, `ami-…` for EC2). */
  readonly targetId?: string;
  readonly targetArn?: string;
  readonly targetRegion?: string;
  /** Copy slots are counted per pool: a kind's copy quota in the target Region. */
  readonly pool?: string;
  /** The key the copy is encrypted with, as read back from the copy. */
  readonly kmsKeyArn?: string;
  /** An AMI copy's backing snapshots, as read back from the copy. */
  readonly targetChildren?: readonly string[];
  readonly sizeGiB?: number;
  readonly engine?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly copyStartedAt?: string;
  readonly completedAt?: string;
  /** How many times a copy was requested for this record, over its whole life. */
  readonly copyAttempts: number;
  /** Requests since the copy was last claimed: what the cap on a copy that never appears counts. */
  readonly claimRequests?: number;
  /**
   * The claim's lease: set when a worker takes a copy slot, cleared by the
   * write that records the copy was requested. A claim still unconfirmed
   * after it is a worker that stopped in between, and any worker may take
   * the record over ({@link QUEUE_INDEX}'s `claims:` partition finds it).
   */
  readonly claimedUntil?: string;
  /** Copies that failed or were refused; also the generation of the next copy's name. */
  readonly failures: number;
  /** A failed record is retried by the sweep from this time on (backoff). */
  readonly nextAttemptAt?: string;
  /** When the source agent was told the copy is in the backup account (its intermediate may go). */
  readonly receiptSentAt?: string;
  /**
   * When an available copy had everything the vault does after it (receipt
   * sent, lock set, second hop recorded): from then on the record leaves the
   * queue index's `followup:` partition ({@link queueEntryOf}). Set by the
   * write that does the last of them, or by the sweep for a record that owes
   * nothing.
   */
  readonly finishedAt?: string;
  /**
   * 2 for the second hop: a copy of the vault's own first copy into the
   * backup account's second Region (`backup.secondRegion`). Absent for the first.
   */
  readonly hop?: 2;
  /** The second hop's source: the first copy, in the vault Region. */
  readonly hopSourceId?: string;
  readonly hopSourceRegion?: string;
  /** When the second hop's record was made for this first copy. */
  readonly secondHopAt?: string;
  /** When the copy's snapshot lock ends (EBS copies, an AMI copy's backing snapshots): nobody deletes it before. */
  readonly lockedUntil?: string;
  /** How the copy is locked (`compliance`, `governance+deregistration-protection`, …), as read back. */
  readonly lock?: string;
  /** When the pruner deleted the copy (`expired` records); `reason` says which policy expired it. */
  readonly expiredAt?: string;
  /** Epoch seconds after which DynamoDB's TTL deletes the record (rejections only). */
  readonly expiresAt?: number;
  /** Incremented by every write: the condition of optimistic concurrency. */
  readonly version: number;
  /** The last status changes, newest last (bounded by {@link HISTORY_LIMIT}). */
  readonly history: readonly StatusChange[];
}

export const HISTORY_LIMIT = 20;

const ALLOWED: Record<CopyStatus, readonly CopyStatus[]> = {
  expected: ['copying', 'failed', 'expected'],
  copying: ['available', 'failed', 'expected', 'copying'],
  failed: ['copying', 'expected'],
  // Only the pruner leaves `available`, and only once the copy is deleted.
  available: ['expired'],
  rejected: [],
  expired: [],
};

/** Whether the state machine allows `from` → `to`. `expired` and `rejected` are final. */
export function canTransition(from: CopyStatus, to: CopyStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** The statuses from which a record may move to `to`, for conditional writes. */
export function sourcesOf(to: CopyStatus): CopyStatus[] {
  return COPY_STATUSES.filter((from) => canTransition(from, to));
}

/** Fields a transition may set besides the status. */
export type RecordPatch = Partial<
  Pick<
    InventoryRecord,
    | 'reason'
    | 'sourceResourceId'
    | 'sourceCreatedAt'
    | 'targetName'
    | 'targetId'
    | 'targetArn'
    | 'kmsKeyArn'
    | 'targetChildren'
    | 'sizeGiB'
    | 'engine'
    | 'copyStartedAt'
    | 'completedAt'
    | 'copyAttempts'
    | 'claimRequests'
    | 'claimedUntil'
    | 'failures'
    | 'nextAttemptAt'
    | 'lockedUntil'
    | 'lock'
    | 'expiredAt'
  >
>;

/** Applies a transition to a record in memory (the inventory adapter mirrors it with a conditional write). */
export function applyTransition(
  record: InventoryRecord,
  to: CopyStatus,
  at: Date,
  patch: RecordPatch = {},
): InventoryRecord {
  if (!canTransition(record.status, to)) {
    throw new IllegalTransitionError(`illegal inventory transition ${record.status} -> ${to} for ${record.artifactId}`);
  }
  const when = at.toISOString();
  // The history records changes: a write that keeps both the status and the reason (a record waiting
  // again for the same thing) keeps the entry that says since when, instead of repeating it.
  const last = record.history.at(-1);
  const repeated = last !== undefined && last.status === to && last.reason === patch.reason && record.status === to;
  const history = repeated
    ? record.history
    : [...record.history, { status: to, at: when, ...(patch.reason ? { reason: patch.reason } : {}) }];
  return {
    ...record,
    ...patch,
    reason: patch.reason,
    status: to,
    updatedAt: when,
    version: record.version + 1,
    history: history.slice(-HISTORY_LIMIT),
  };
}

/**
 * A change that is not a status change (a receipt sent): same status, no
 * history entry, but a new `version`, so the write is still conditional.
 */
export function withFields(
  record: InventoryRecord,
  at: Date,
  fields: Partial<
    Pick<
      InventoryRecord,
      'receiptSentAt' | 'secondHopAt' | 'lockedUntil' | 'lock' | 'claimedUntil' | 'targetId' | 'finishedAt'
    >
  >,
): InventoryRecord {
  return { ...record, ...fields, updatedAt: at.toISOString(), version: record.version + 1 };
}

/** A new record, with its first history entry. */
export function newRecord(
  fields: Omit<InventoryRecord, 'createdAt' | 'updatedAt' | 'history' | 'copyAttempts' | 'failures' | 'version'> & {
    copyAttempts?: number;
    failures?: number;
  },
  at: Date,
): InventoryRecord {
  const when = at.toISOString();
  return {
    ...fields,
    copyAttempts: fields.copyAttempts ?? 0,
    failures: fields.failures ?? 0,
    version: 1,
    createdAt: when,
    updatedAt: when,
    history: [{ status: fields.status, at: when, ...(fields.reason ? { reason: fields.reason } : {}) }],
  };
}

export interface InventoryFilter {
  readonly account?: string;
  readonly kind?: RecordKind;
  readonly status?: CopyStatus;
}

export function matchesFilter(record: InventoryRecord, filter: InventoryFilter): boolean {
  return (
    (filter.account === undefined || record.sourceAccount === filter.account) &&
    (filter.kind === undefined || record.kind === filter.kind) &&
    (filter.status === undefined || record.status === filter.status)
  );
}

/**
 * The inventory's queue index: a sparse index over two attributes the
 * adapters derive from each record on every write ({@link queueEntryOf}),
 * so the scheduler reads only what it needs, never a whole status:
 *
 * - `waiting:<pool>`, sorted by `<account>#<updatedAt>#<artifactId>`: the
 *   records waiting for a slot of the pool, grouped by source account and
 *   oldest first within one, so "the oldest waiting record of the first
 *   account after X" is one query of one item (the round-robin walk).
 * - `claims:<pool>`, sorted by `claimedUntil`: claims not yet confirmed by a
 *   copy request, so "a claim whose lease ended before now" is one query.
 * - `copying:<pool>`, sorted by `copyStartedAt`: the copies in flight whose
 *   request was recorded, oldest first, so a look at a pool's copies knows
 *   them all from one query, whichever container requested them. The write
 *   that records the request moves the record here from `claims:`; the one
 *   that settles it takes it out: no write of its own.
 * - `followup:<pool>`, sorted by `updatedAt`: the available copies the
 *   vault still owes something (a receipt, a lock, a second hop), so the
 *   sweep reads those and not every copy kept. The settling write leaves a
 *   copy out when it owes nothing ({@link InventoryRecord.finishedAt}).
 */
export const QUEUE_INDEX = 'by-queue';

export interface QueueEntry {
  readonly queue: string;
  readonly queueKey: string;
}

export const waitingQueue = (pool: string) => `waiting:${pool}`;
export const claimsQueue = (pool: string) => `claims:${pool}`;
export const copyingQueue = (pool: string) => `copying:${pool}`;
export const followUpQueue = (pool: string) => `followup:${pool}`;

/** Where a record sits in the queue index; `undefined` for a record the scheduler never looks for. */
export function queueEntryOf(record: InventoryRecord): QueueEntry | undefined {
  if (!record.pool || record.kind === 'unknown') return undefined;
  if (record.status === 'expected') {
    return {
      queue: waitingQueue(record.pool),
      queueKey: `${record.sourceAccount ?? ''}#${record.updatedAt}#${record.artifactId}`,
    };
  }
  if (record.status === 'copying' && record.claimedUntil) {
    return { queue: claimsQueue(record.pool), queueKey: `${record.claimedUntil}#${record.artifactId}` };
  }
  if (record.status === 'copying') {
    return {
      queue: copyingQueue(record.pool),
      queueKey: `${record.copyStartedAt ?? record.updatedAt}#${record.artifactId}`,
    };
  }
  if (record.status === 'available' && !record.finishedAt) {
    return { queue: followUpQueue(record.pool), queueKey: `${record.updatedAt}#${record.artifactId}` };
  }
  return undefined;
}

/** The upper bound of claims whose lease ended at or before `now` in the `claims:` partition. */
export function expiredBefore(now: Date): string {
  return `${now.toISOString()}$`;
}

/**
 * The lower bound of a ring walk's next step: every queue key of an account
 * after `account` sorts above it, every key of `account` itself below
 * (`$` follows `#`).
 */
export function afterAccountKey(account: string): string {
  return `${account}$`;
}

/**
 * The one copy slot a source resource may hold in a pool: AWS copies the
 * snapshots of one database or volume one after another, so a second slot
 * would only wait. `undefined` when the record names no resource.
 */
export function resourceKeyOf(record: InventoryRecord): string | undefined {
  if (!record.pool || !record.sourceResourceId) return undefined;
  return `${record.pool}|${record.sourceAccount ?? ''}|${record.sourceRegion ?? ''}|${record.sourceResourceId}`;
}
