/**
 * Starting, resuming and finishing the backup account's copy of a shared RDS
 * snapshot. Shared by intake (a notification arrived), completion (an RDS
 * event arrived) and the sweep (what the events missed), so all three take
 * the same decisions.
 *
 * Idempotent by construction: the record is claimed with a conditional
 * write before the copy is requested, the target name is derived from the
 * source ARN, and "target already exists" counts as success. Delivered
 * twice, crashed half way or retried, the result is one copy.
 */
import { CopyQuotaExceededError, CopyRefusedError } from './errors';
import { type InventoryRecord, applyTransition } from './inventory';
import { sameKmsKey } from './keys';
import { backupSnapshotId, parseRdsSnapshotArn } from './names';
import type { BackupSnapshotStore, Clock, Inventory, Log, RdsSnapshot } from './ports';
import type { VaultSettings } from './settings';

export interface VaultDeps {
  readonly settings: Pick<VaultSettings, 'backupAccount' | 'backupKeyArn' | 'sources' | 'maxRdsCopiesInProgress'>;
  readonly inventory: Inventory;
  readonly backupStore: BackupSnapshotStore;
  readonly clock: Clock;
  readonly log: Log;
}

/** What happened to one record; every use case reports in these words. */
export type CopyStep =
  | { readonly step: 'started'; readonly record: InventoryRecord }
  | { readonly step: 'in-progress'; readonly record: InventoryRecord }
  | { readonly step: 'available'; readonly record: InventoryRecord }
  | { readonly step: 'failed'; readonly record: InventoryRecord }
  | { readonly step: 'deferred'; readonly record: InventoryRecord }
  | { readonly step: 'unchanged'; readonly record: InventoryRecord };

/** Tags on every backup copy: enough to find its inventory record from the copy alone. */
export const TAG_SOURCE_ACCOUNT = 'bunker:source-account';
export const TAG_SOURCE_REGION = 'bunker:source-region';
export const TAG_SOURCE_SNAPSHOT = 'bunker:source-snapshot';
export const TAG_SOURCE_DB = 'bunker:source-db';
export const TAG_MANAGED_BY = 'bunker:managed-by';

export function copyTags(record: InventoryRecord): Record<string, string> {
  const source = record.sourceArn ? parseRdsSnapshotArn(record.sourceArn) : undefined;
  if (!source) throw new Error(`record ${record.artifactId} has no RDS source ARN`);
  return {
    [TAG_MANAGED_BY]: 'bunker',
    [TAG_SOURCE_ACCOUNT]: source.account,
    [TAG_SOURCE_REGION]: source.region,
    [TAG_SOURCE_SNAPSHOT]: source.snapshotId,
    ...(record.sourceResourceId ? { [TAG_SOURCE_DB]: record.sourceResourceId } : {}),
  };
}

/** The source ARN a backup copy was made from, rebuilt from its tags; `undefined` for a copy Bunker did not make. */
export function sourceArnFromCopy(copy: RdsSnapshot): string | undefined {
  const account = copy.tags[TAG_SOURCE_ACCOUNT];
  const region = copy.tags[TAG_SOURCE_REGION];
  const snapshotId = copy.tags[TAG_SOURCE_SNAPSHOT];
  const partition = /^arn:([^:]+):/.exec(copy.arn)?.[1] ?? 'aws';
  if (copy.tags[TAG_MANAGED_BY] !== 'bunker' || !account || !region || !snapshotId) return undefined;
  return `arn:${partition}:rds:${region}:${account}:snapshot:${snapshotId}`;
}

/** Writes `next` over `current` if nobody else moved it; answers what is stored now. */
async function write(deps: VaultDeps, current: InventoryRecord, next: InventoryRecord) {
  if (await deps.inventory.replace(current, next)) return { won: true as const, record: next };
  const stored = (await deps.inventory.get(current.artifactId)) ?? current;
  return { won: false as const, record: stored };
}

/**
 * Claims an `expected` or `failed` record and requests its copy. The claim
 * takes a copy slot in the same atomic write, so however many workers run
 * at once, no more than `maxRdsCopiesInProgress` copies are started; when
 * every slot is taken the record waits as `expected` for the sweep.
 */
export async function startCopy(deps: VaultDeps, record: InventoryRecord): Promise<CopyStep> {
  const now = deps.clock.now();
  const limit = deps.settings.maxRdsCopiesInProgress;
  const next = applyTransition(record, 'copying', now, {
    copyStartedAt: now.toISOString(),
    copyAttempts: record.copyAttempts + 1,
    // A failed copy keeps its name in the backup account, so a retry after a
    // failure copies to the next generation's name instead of finding it.
    ...(record.status === 'failed' && record.sourceArn
      ? { targetId: backupSnapshotId(record.sourceArn, record.copyAttempts) }
      : {}),
  });
  const claim = await deps.inventory.claimCopy(record, next, limit);
  if (claim === 'full') {
    return defer(deps, record, `waiting for copy capacity: ${limit} RDS copies already in progress`);
  }
  if (claim === 'conflict') {
    const stored = (await deps.inventory.get(record.artifactId)) ?? record;
    deps.log.info('copy already claimed by another worker', { artifactId: record.artifactId, status: stored.status });
    return { step: 'unchanged', record: stored };
  }
  return requestCopy(deps, next);
}

/** Asks RDS for the copy of a record we hold as `copying`, then settles what can be settled now. */
async function requestCopy(deps: VaultDeps, record: InventoryRecord): Promise<CopyStep> {
  if (!record.sourceArn || !record.targetId) throw new Error(`record ${record.artifactId} lacks source or target`);
  let result: 'started' | 'exists';
  try {
    result = await deps.backupStore.copyShared({
      sourceArn: record.sourceArn,
      targetId: record.targetId,
      kmsKeyArn: deps.settings.backupKeyArn,
      tags: copyTags(record),
    });
  } catch (error) {
    if (error instanceof CopyQuotaExceededError) {
      return defer(deps, record, `RDS copy quota reached (${error.message}); the sweep will retry`);
    }
    if (error instanceof CopyRefusedError) {
      const failed = await write(
        deps,
        record,
        applyTransition(record, 'failed', deps.clock.now(), { reason: error.message }),
      );
      deps.log.warn('copy refused', { artifactId: record.artifactId, reason: error.message });
      return { step: failed.won ? 'failed' : 'unchanged', record: failed.record };
    }
    throw error;
  }
  deps.log.info(result === 'started' ? 'copy started' : 'copy target already exists', {
    artifactId: record.artifactId,
    targetId: record.targetId,
  });
  const settled = await settleCopy(deps, record);
  return settled.step === 'in-progress' && result === 'started' ? { step: 'started', record } : settled;
}

async function defer(deps: VaultDeps, record: InventoryRecord, reason: string): Promise<CopyStep> {
  if (record.status === 'expected' && record.reason === reason) return { step: 'deferred', record };
  const next = await write(deps, record, applyTransition(record, 'expected', deps.clock.now(), { reason }));
  deps.log.info('copy deferred', { artifactId: record.artifactId, reason });
  return { step: next.won ? 'deferred' : 'unchanged', record: next.record };
}

/**
 * Looks at the copy of a `copying` record and moves the record on: to
 * `available` when the copy is done and under the backup-data key, to
 * `failed` when RDS failed it or used another key, and re-requests the copy
 * when it does not exist (the worker that claimed it crashed before asking).
 */
export async function settleCopy(deps: VaultDeps, record: InventoryRecord): Promise<CopyStep> {
  if (record.status !== 'copying' || !record.targetId) return { step: 'unchanged', record };
  const copy = await deps.backupStore.describe(record.targetId);
  const now = deps.clock.now();
  if (!copy) {
    deps.log.warn('copy claimed but not found; requesting it again', { artifactId: record.artifactId });
    const again = await write(
      deps,
      record,
      applyTransition(record, 'copying', now, {
        copyStartedAt: now.toISOString(),
        copyAttempts: record.copyAttempts + 1,
      }),
    );
    return again.won ? requestCopy(deps, again.record) : { step: 'unchanged', record: again.record };
  }
  if (copy.status === 'available') {
    if (!sameKmsKey(copy.kmsKeyId, deps.settings.backupKeyArn)) {
      const reason = `copy ${copy.id} is encrypted with ${copy.kmsKeyId ?? 'no key'}, not the backup-data key`;
      const failed = await write(deps, record, applyTransition(record, 'failed', now, { reason, targetArn: copy.arn }));
      deps.log.error('copy under the wrong key', { artifactId: record.artifactId, targetId: copy.id });
      return { step: failed.won ? 'failed' : 'unchanged', record: failed.record };
    }
    const done = await write(
      deps,
      record,
      applyTransition(record, 'available', now, {
        targetArn: copy.arn,
        kmsKeyId: copy.kmsKeyId,
        sizeGiB: copy.sizeGiB,
        engine: copy.engine ?? record.engine,
        completedAt: now.toISOString(),
      }),
    );
    if (done.won) deps.log.info('copy available', { artifactId: record.artifactId, targetId: copy.id });
    return { step: done.won ? 'available' : 'unchanged', record: done.record };
  }
  if (copy.status === 'failed' || copy.status.startsWith('incompatible')) {
    const reason = `RDS reports the copy ${copy.id} as ${copy.status}`;
    const failed = await write(deps, record, applyTransition(record, 'failed', now, { reason, targetArn: copy.arn }));
    return { step: failed.won ? 'failed' : 'unchanged', record: failed.record };
  }
  return { step: 'in-progress', record };
}
