/**
 * The inventory record of one backup copy and the state machine it follows.
 *
 *   expected → copying → available (final)
 *
 * - expected → copying: the copy was requested (capacity was free).
 * - copying → expected: a copy quota answered "not now"; the sweep retries.
 * - copying → copying: the claimed copy was not found and is requested again
 *   (the worker that claimed it crashed before asking).
 * - copying → available / failed: RDS finished or failed the copy, or the
 *   copy is under the wrong key.
 * - expected → expected: the reason changed while waiting.
 * - expected → failed, failed → copying / expected: a refused copy, and a
 *   later notification of the same snapshot trying again.
 *
 * `rejected` records are kept apart, one per distinct message body, so a
 * hostile or broken message can never overwrite a real copy's record.
 */

import { BunkerError } from './errors';

/** A transition the state machine forbids: a bug in the caller, never a data problem. */
export class IllegalTransitionError extends BunkerError {}

export const COPY_STATUSES = ['expected', 'copying', 'available', 'failed', 'rejected'] as const;
export type CopyStatus = (typeof COPY_STATUSES)[number];

export const ARTIFACT_TYPES = ['rds-snapshot', 'unknown'] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

export interface StatusChange {
  readonly status: CopyStatus;
  readonly at: string;
  readonly reason?: string;
}

export interface InventoryRecord {
  /** `rds-snapshot:<source ARN>`, or `rejected:<hash of the message>`. */
  readonly artifactId: string;
  readonly kind: ArtifactType;
  readonly status: CopyStatus;
  /** Why the record is in its status, in words an operator can act on. */
  readonly reason?: string;
  readonly sourceAccount?: string;
  readonly sourceRegion?: string;
  readonly sourceArn?: string;
  /** The database the snapshot was taken of, as the source's Describe said. */
  readonly sourceResourceId?: string;
  /** The production snapshot the shared one was re-keyed from (the agent's tag), as operators know it. */
  readonly sourceSnapshotId?: string;
  readonly sourceCreatedAt?: string;
  readonly targetId?: string;
  readonly targetArn?: string;
  /** The key the backup copy is encrypted with, as read back from the copy. */
  readonly kmsKeyId?: string;
  readonly sizeGiB?: number;
  readonly engine?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly copyStartedAt?: string;
  readonly completedAt?: string;
  /** How many times a copy was requested for this record. */
  readonly copyAttempts: number;
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
  available: [],
  rejected: [],
};

/** Whether the state machine allows `from` → `to`. `available` and `rejected` are final. */
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
    | 'targetId'
    | 'targetArn'
    | 'kmsKeyId'
    | 'sizeGiB'
    | 'engine'
    | 'copyStartedAt'
    | 'completedAt'
    | 'copyAttempts'
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
  const history = [...record.history, { status: to, at: when, ...(patch.reason ? { reason: patch.reason } : {}) }];
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

/** A new record, with its first history entry. */
export function newRecord(
  fields: Omit<InventoryRecord, 'createdAt' | 'updatedAt' | 'history' | 'copyAttempts' | 'version'> & {
    copyAttempts?: number;
  },
  at: Date,
): InventoryRecord {
  const when = at.toISOString();
  return {
    ...fields,
    copyAttempts: fields.copyAttempts ?? 0,
    version: 1,
    createdAt: when,
    updatedAt: when,
    history: [{ status: fields.status, at: when, ...(fields.reason ? { reason: fields.reason } : {}) }],
  };
}

export interface InventoryFilter {
  readonly account?: string;
  readonly kind?: ArtifactType;
  readonly status?: CopyStatus;
}

export function matchesFilter(record: InventoryRecord, filter: InventoryFilter): boolean {
  return (
    (filter.account === undefined || record.sourceAccount === filter.account) &&
    (filter.kind === undefined || record.kind === filter.kind) &&
    (filter.status === undefined || record.status === filter.status)
  );
}
