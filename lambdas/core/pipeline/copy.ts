/**
 * Starting, resuming and finishing the backup account's copy of a shared
 * artifact, for every kind. Shared by intake (a notification arrived),
 * completion (a copy event arrived) and the sweep (what the events missed),
 * so all three take the same decisions. What differs per kind is behind the
 * kind's {@link ArtifactCopier}.
 *
 * Idempotent by construction: the record is claimed with a conditional
 * write (taking a slot of its pool) before the copy is requested, the
 * copy's name is derived from the artifact, and "already exists" counts as
 * success. Delivered twice, crashed half way or retried, the result is one copy.
 */
import { KINDS, poolOf } from '../../kinds/registry';
import type { ArtifactCopier, ArtifactRef, Copiers, CopyProtection, CopyView } from '../../kinds/types';
import { CopyQuotaExceededError, CopyRefusedError } from '../errors';
import {
  applyTransition,
  type InventoryRecord,
  newRecord,
  type RecordPatch,
  resourceKeyOf,
  withFields,
} from '../inventory';
import { sameKmsKey } from '../keys';
import type { Clock, Inventory, Log } from '../ports';
import { type ReceiptSender, receiptOf } from '../receipts';
import type { VaultSettings } from '../settings';
import type { SourceBacklogs } from './backlog';
import type { RingMemory } from './schedule';
import { safeText } from '../text';

/** The backup-data key of each Region of the backup account: the home Region's is in the settings. */
export interface BackupKeys {
  keyFor(region: string): Promise<string>;
}

export interface VaultDeps {
  /** The second Region's backup-data key, when `secondRegion` is set. */
  readonly keys?: BackupKeys;
  readonly settings: Pick<
    VaultSettings,
    | 'prefix'
    | 'partition'
    | 'backupAccount'
    | 'backupRegion'
    | 'backupKeyArn'
    | 'sources'
    | 'kinds'
    | 'secondRegion'
    | 'immutability'
  >;
  readonly inventory: Inventory;
  readonly copiers: Copiers;
  /** Tells a source agent its intermediate was copied, so it may delete it. */
  readonly receipts: ReceiptSender;
  readonly clock: Clock;
  readonly log: Log;
  /**
   * The source backlog board (`./backlog.ts`): with it, half of the freed
   * slots go to the account holding the most originals back; without it,
   * every freed slot walks the ring.
   */
  readonly backlogs?: SourceBacklogs;
  /** This container's place in the ring of each pool (`RingMemory`, `./schedule.ts`); without it a turn starts after the freed copy's account. */
  readonly ring?: RingMemory;
}

/** What happened to one record; every use case reports in these words. */
export type CopyStep =
  | { readonly step: 'started'; readonly record: InventoryRecord }
  | { readonly step: 'in-progress'; readonly record: InventoryRecord }
  | { readonly step: 'available'; readonly record: InventoryRecord }
  | { readonly step: 'failed'; readonly record: InventoryRecord }
  | {
      readonly step: 'deferred';
      readonly record: InventoryRecord;
      /** What it waits for: a slot of its pool, its source resource's one slot, or AWS's own quota. */
      readonly wait: 'slot' | 'resource' | 'quota';
    }
  | { readonly step: 'unchanged'; readonly record: InventoryRecord };

/**
 * A claimed copy that is not visible yet is left alone this long before it
 * is requested again: the worker that claimed it may be about to ask.
 */
export const CLAIM_GRACE_MS = 10 * 60_000;
/**
 * How long a claim holds its slot before the copy request is recorded: a
 * worker that stopped in between loses the record to the next worker that
 * needs a slot of the pool, or sees the record, after this, not after the
 * sweep. Longer than a copy request takes, with its retries.
 */
export const CLAIM_LEASE_MS = 3 * 60_000;
/** Requests of one copy that never becomes visible before the record is `failed`. */
export const MAX_COPY_REQUESTS = 5;
/** Failed or refused copies of one artifact before the sweep stops retrying it. */
export const MAX_FAILURES = 3;
/** Backoff before the sweep retries a failed copy: 30 minutes after the first failure, 2 hours after the second (x4). */
export function retryBackoffMs(failures: number): number {
  return 30 * 60_000 * 4 ** Math.max(0, failures - 1);
}

/** Tags on every backup copy: enough to find its inventory record from the copy alone. */
export const TAG_MANAGED_BY = 'bunker:managed-by';
export const TAG_KIND = 'bunker:kind';
export const TAG_SOURCE_ACCOUNT = 'bunker:source-account';
export const TAG_SOURCE_REGION = 'bunker:source-region';
export const TAG_SOURCE_ID = 'bunker:source-id';
export const TAG_SOURCE_RESOURCE = 'bunker:source-resource';
export const TAG_COPY_NAME = 'bunker:copy-name';

/** The artifact a record is about. */
export function refOf(record: InventoryRecord, partition: string): ArtifactRef {
  if (record.kind === 'unknown' || !record.sourceAccount || !record.sourceRegion || !record.sourceId) {
    throw new Error(`record ${record.artifactId} names no artifact`);
  }
  return {
    kind: record.kind,
    partition,
    account: record.sourceAccount,
    region: record.sourceRegion,
    id: record.sourceId,
  };
}

export function copyTags(record: InventoryRecord, targetName: string): Record<string, string> {
  const tags: Record<string, string> = {
    [TAG_MANAGED_BY]: 'bunker',
    [TAG_KIND]: record.kind,
    [TAG_SOURCE_ACCOUNT]: record.sourceAccount ?? '',
    [TAG_SOURCE_REGION]: record.sourceRegion ?? '',
    [TAG_SOURCE_ID]: record.sourceId ?? '',
    [TAG_COPY_NAME]: targetName,
  };
  // Tag values hold at most 256 characters; the resource is informative only.
  if (record.sourceResourceId && record.sourceResourceId.length <= 256) {
    tags[TAG_SOURCE_RESOURCE] = record.sourceResourceId;
  }
  return tags;
}

/** The artifact a backup copy was made from, read back from its tags; `undefined` for a copy Bunker did not make. */
export function refOfCopy(copy: CopyView, partition: string): ArtifactRef | undefined {
  const { tags } = copy;
  const kind = tags[TAG_KIND];
  const account = tags[TAG_SOURCE_ACCOUNT];
  const region = tags[TAG_SOURCE_REGION];
  const id = tags[TAG_SOURCE_ID];
  if (tags[TAG_MANAGED_BY] !== 'bunker' || !kind || !(kind in KINDS) || !account || !region || !id) return undefined;
  return { kind: kind as ArtifactRef['kind'], partition, account, region, id };
}

function copierOf(deps: VaultDeps, record: InventoryRecord): ArtifactCopier {
  if (record.kind === 'unknown') throw new Error(`record ${record.artifactId} has no kind`);
  return deps.copiers[record.kind];
}

/** The backup-data key copies into `region` go under. */
export async function backupKeyFor(deps: VaultDeps, region: string): Promise<string> {
  if (region === deps.settings.backupRegion) return deps.settings.backupKeyArn;
  if (!deps.keys) throw new Error(`no backup-data key is known for ${region}`);
  return deps.keys.keyFor(region);
}

/**
 * Writes `next` over `current` if nobody else moved it; answers what is
 * stored now. An available record that owes nothing more is written
 * finished ({@link InventoryRecord.finishedAt}) by the same write.
 */
async function write(deps: VaultDeps, current: InventoryRecord, proposed: InventoryRecord) {
  const next =
    proposed.status === 'available' && !proposed.finishedAt && !owesFollowUp(deps, proposed)
      ? { ...proposed, finishedAt: proposed.updatedAt }
      : proposed;
  if (await deps.inventory.replace(current, next)) {
    // A copy that leaves `copying` frees its resource's slot: this container no longer counts it busy.
    if (current.status === 'copying' && next.status !== 'copying') deps.ring?.resourceFreed(resourceKeyOf(current));
    return { won: true as const, record: next };
  }
  const stored = (await deps.inventory.get(current.artifactId)) ?? current;
  return { won: false as const, record: stored };
}

/** Whether the sweep may start a `failed` record again now. */
export function retryDue(record: InventoryRecord, now: Date): boolean {
  return (
    record.status === 'failed' &&
    record.failures < MAX_FAILURES &&
    (record.nextAttemptAt === undefined || Date.parse(record.nextAttemptAt) <= now.getTime())
  );
}

/**
 * Claims an `expected` (or retry-due `failed`) record and requests its copy.
 * The claim takes a slot of the record's pool in the same atomic write, so
 * however many workers run at once, no more than the kind's `copyLimit`
 * copies are in progress in a Region; when every slot is taken the record
 * waits as `expected` for a slot to free.
 */
export async function startCopy(
  deps: VaultDeps,
  record: InventoryRecord,
  options: StartOptions = {},
): Promise<CopyStep> {
  const now = deps.clock.now();
  if (record.status === 'failed' && !retryDue(record, now)) return { step: 'unchanged', record };
  const next = claimOf(deps, record, now);
  const resource = resourceKeyOf(next);
  // Its resource holds a slot, as this container saw moments ago: the claim would be refused `busy`.
  if (deps.ring?.seenBusy(resource, now.getTime())) {
    return defer(deps, record, waitingReason(deps, record, 'busy'), 'resource');
  }
  const claim = await deps.inventory.claimCopy(record, next, limitOf(deps, record));
  if (claim === 'claimed' || claim === 'busy') deps.ring?.sawBusy(resource, now.getTime());
  if (claim === 'claimed') return requestCopy(deps, next, options);
  if (claim === 'conflict') {
    // Another worker moved it: nothing to write, it is theirs.
    deps.log.info('copy already claimed by another worker', { artifactId: record.artifactId });
    return { step: 'unchanged', record };
  }
  if (claim === 'full') deps.ring?.sawFull(next.pool as string, now.getTime());
  if (claim === 'full' && looksForExpiredClaim(record.artifactId))
    await takeOverExpiredClaim(deps, next.pool as string);
  return defer(deps, record, waitingReason(deps, record, claim), claim === 'full' ? 'slot' : 'resource');
}

export interface StartOptions {
  /**
   * Whether to describe a copy AWS has just started, to settle one that
   * finished at once. Yes by default: intake's copies in local mode (the
   * emulator's copies are instant and it sends no copy events). The ring
   * walk says no: its copies start when another finishes, during a
   * backlog, where the look answers "in progress" and the copy's own
   * completion event (or the scheduled sweep's look at its age) settles it.
   */
  readonly lookAtOnce?: boolean;
}

/**
 * Intake's start of a copy of an artifact the inventory has no record of:
 * the claim creates the record, so an artifact with a free slot costs one
 * write, and one with none costs two (the claim refused, the waiting record
 * created), or one when this container saw the pool full within
 * `POOL_FULL_HINT_MS` (the waiting record alone). `undefined` when a record
 * exists already: the caller reads it.
 */
export async function startNewCopy(deps: VaultDeps, fresh: InventoryRecord): Promise<CopyStep | undefined> {
  const now = deps.clock.now();
  const next = claimOf(deps, fresh, now);
  const pool = next.pool as string;
  // This container saw the pool full moments ago: the claim would be refused, so the record waits at once.
  // Only a claim the table refused renews the hint, so it never outlives what was seen.
  const hinted = deps.ring?.seenFull(pool, now.getTime()) ?? false;
  // Likewise when its resource was seen holding a slot (`BUSY_HINT_MS`).
  const resource = resourceKeyOf(next);
  const busy = !hinted && (deps.ring?.seenBusy(resource, now.getTime()) ?? false);
  const claim = hinted ? 'full' : busy ? 'busy' : await deps.inventory.claimCopy(undefined, next, limitOf(deps, fresh));
  if (claim === 'claimed' || (claim === 'busy' && !busy)) deps.ring?.sawBusy(resource, now.getTime());
  if (claim === 'claimed') return requestCopy(deps, next);
  if (claim === 'conflict') return undefined;
  if (claim === 'full' && !hinted) deps.ring?.sawFull(pool, now.getTime());
  if (claim === 'full' && looksForExpiredClaim(fresh.artifactId)) await takeOverExpiredClaim(deps, pool);
  const waiting: InventoryRecord = { ...fresh, reason: waitingReason(deps, fresh, claim) };
  const recorded = { ...waiting, history: [{ status: waiting.status, at: waiting.createdAt, reason: waiting.reason }] };
  if (!(await deps.inventory.create(recorded))) return undefined;
  deps.log.info('copy deferred', { artifactId: fresh.artifactId, reason: recorded.reason });
  return { step: 'deferred', record: recorded, wait: claim === 'full' ? 'slot' : 'resource' };
}

function limitOf(deps: VaultDeps, record: InventoryRecord): number {
  if (record.kind === 'unknown') throw new Error(`record ${record.artifactId} has no kind`);
  return deps.settings.kinds[record.kind].copyLimit;
}

/** The record as a claim writes it: `copying`, under a lease until the copy request is recorded. */
function claimOf(deps: VaultDeps, record: InventoryRecord, now: Date): InventoryRecord {
  if (record.kind === 'unknown' || !record.pool) throw new Error(`record ${record.artifactId} has no kind or pool`);
  const ref = refOf(record, deps.settings.partition);
  // A failed copy keeps its name in the backup account: the next generation copies to a new name.
  const targetName = KINDS[record.kind].targetName(ref, record.failures);
  return applyTransition(record, 'copying', now, {
    copyStartedAt: now.toISOString(),
    copyAttempts: record.copyAttempts + 1,
    claimRequests: 1,
    claimedUntil: new Date(now.getTime() + CLAIM_LEASE_MS).toISOString(),
    targetName,
    ...(targetName !== record.targetName ? { targetId: undefined, targetArn: undefined } : {}),
  });
}

function waitingReason(deps: VaultDeps, record: InventoryRecord, claim: 'full' | 'busy'): string {
  const kind = KINDS[record.kind as keyof typeof KINDS];
  if (claim === 'busy') {
    return `waiting for the copy of another snapshot of ${kind.resourceLabel} ${safeText(record.sourceResourceId ?? '', 80)} to finish: AWS copies them one after another`;
  }
  return `waiting for copy capacity: ${limitOf(deps, record)} ${kind.label} copies already in progress in ${record.targetRegion}`;
}

/** FNV-1a, 32 bits: a stable spread of ids, the same in every container and every run. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/**
 * One refused claim in this many looks for an expired claim of its pool.
 * During a backlog every new artifact finds its pool full: one look each
 * would be a query per artifact for a crash that happens a few times a day.
 * Chosen by the artifact's id, so retries of one artifact agree.
 */
export const EXPIRED_CLAIM_LOOK_EVERY = 8;

/** Whether a claim of this artifact refused for a full pool looks for an expired claim ({@link EXPIRED_CLAIM_LOOK_EVERY}). */
export function looksForExpiredClaim(artifactId: string): boolean {
  return fnv1a(artifactId) % EXPIRED_CLAIM_LOOK_EVERY === 0;
}

/**
 * A claim whose worker stopped before recording its copy request holds a
 * slot for nothing: a worker that found the pool full settles it now
 * (requesting its copy again if it never appeared), instead of leaving the
 * slot to the sweep. One query of the queue index; at most one record.
 */
export async function takeOverExpiredClaim(deps: VaultDeps, pool: string): Promise<CopyStep | undefined> {
  const stale = await deps.inventory.expiredClaim(pool, deps.clock.now());
  if (!stale) return undefined;
  deps.log.warn('copy claim past its lease; taking it over', { artifactId: stale.artifactId });
  return settleCopy(deps, stale);
}

/** Why a record is waiting on an AWS quota, in words that say which quota. */
export function quotaReason(label: string, message: string): string {
  const shown = safeText(message, 160);
  if (
    /manual.*snapshot|snapshot.*quota|SnapshotQuotaExceeded|SnapshotLimitExceeded/i.test(message) &&
    !/in progress|at the same time|concurrent|copies/i.test(message)
  ) {
    return `waiting on the manual snapshot quota of the backup account (${shown}); copies resume when room frees`;
  }
  return `waiting on the ${label} copy quota or throttling (${shown}); the sweep retries`;
}

async function fail(
  deps: VaultDeps,
  record: InventoryRecord,
  reason: string,
  patch: RecordPatch = {},
): Promise<CopyStep> {
  const now = deps.clock.now();
  const failures = record.failures + 1;
  const final = failures >= MAX_FAILURES;
  const next = applyTransition(record, 'failed', now, {
    ...patch,
    failures,
    reason: final
      ? `${reason}; gave up after ${failures} attempts`
      : `${reason}; retry ${failures + 1} of ${MAX_FAILURES} after a backoff`,
    nextAttemptAt: final ? undefined : new Date(now.getTime() + retryBackoffMs(failures)).toISOString(),
  });
  const written = await write(deps, record, next);
  if (written.won) deps.log.warn('copy failed', { artifactId: record.artifactId, reason, failures });
  if (written.won) deps.ring?.copies.ended(record.artifactId, now.getTime(), false);
  return { step: written.won ? 'failed' : 'unchanged', record: written.record };
}

/** Asks AWS for the copy of a record we hold as `copying`, then settles what can be settled now. */
async function requestCopy(deps: VaultDeps, record: InventoryRecord, options: StartOptions = {}): Promise<CopyStep> {
  if (!record.targetName || !record.sourceArn || !record.targetRegion) {
    throw new Error(`record ${record.artifactId} lacks source or target`);
  }
  const copier = copierOf(deps, record);
  let started: Awaited<ReturnType<ArtifactCopier['copy']>>;
  try {
    const ref = refOf(record, deps.settings.partition);
    started = await copier.copy({
      ref,
      // The second hop copies the vault's own first copy, in the vault Region.
      sourceArn: record.sourceArn,
      sourceId: record.hop === 2 ? (record.hopSourceId ?? ref.id) : ref.id,
      sourceRegion: record.hop === 2 ? (record.hopSourceRegion ?? ref.region) : ref.region,
      targetName: record.targetName,
      targetRegion: record.targetRegion,
      kmsKeyArn: await backupKeyFor(deps, record.targetRegion),
      tags: copyTags(record, record.targetName),
    });
  } catch (error) {
    if (error instanceof CopyQuotaExceededError) {
      return defer(deps, record, quotaReason(KINDS[record.kind as keyof typeof KINDS].label, error.message), 'quota');
    }
    if (error instanceof CopyRefusedError) return fail(deps, record, safeText(error.message, 300));
    throw error;
  }
  deps.log.info(started.outcome === 'started' ? 'copy started' : 'copy target already exists', {
    artifactId: record.artifactId,
    targetName: record.targetName,
    targetId: started.targetId,
  });
  // The request is recorded (the lease ends); EC2 names the copy itself: its id is kept, so
  // completion and the sweep describe it directly.
  const targetId =
    started.targetId && started.targetId !== record.targetName ? started.targetId : (record.targetId ?? undefined);
  const known = await write(deps, record, withFields(record, deps.clock.now(), { claimedUntil: undefined, targetId }));
  if (!known.won) return { step: 'unchanged', record: known.record };
  deps.ring?.copies.started(known.record, deps.clock.now().getTime());
  // One look at once: a copy that finishes at once (or existed) is settled now. In AWS it is
  // one describe answering "in progress"; its completion event (or the sweep) settles it later.
  if (options.lookAtOnce === false && started.outcome === 'started') return { step: 'started', record: known.record };
  const settled = await settleCopy(deps, known.record);
  return settled.step === 'in-progress' && started.outcome === 'started'
    ? { step: 'started', record: known.record }
    : settled;
}

async function defer(
  deps: VaultDeps,
  record: InventoryRecord,
  reason: string,
  wait: 'slot' | 'resource' | 'quota',
): Promise<CopyStep> {
  // Waiting on a resource always writes: the record moves behind its account's other waiting records.
  if (record.status === 'expected' && record.reason === reason && wait !== 'resource') {
    return { step: 'deferred', record, wait };
  }
  const next = await write(deps, record, applyTransition(record, 'expected', deps.clock.now(), { reason }));
  deps.log.info('copy deferred', { artifactId: record.artifactId, reason });
  return next.won ? { step: 'deferred', record: next.record, wait } : { step: 'unchanged', record: next.record };
}

/**
 * Tells the source agent that the backup account holds the copy, then
 * records that it did. A receipt that could not be sent is sent again by
 * the sweep; a receipt sent twice is harmless.
 */
export async function sendReceipt(deps: VaultDeps, record: InventoryRecord): Promise<InventoryRecord> {
  const sent = await withReceipt(deps, record);
  if (!sent.receiptSentAt || sent.receiptSentAt === record.receiptSentAt) return record;
  const next = withFields(record, new Date(sent.receiptSentAt), { receiptSentAt: sent.receiptSentAt });
  return (await write(deps, record, next)).record;
}

/**
 * An available record with its receipt sent and `receiptSentAt` set, not
 * yet written (the caller writes it, with the status if it changes too);
 * as it was when the receipt could not be sent.
 */
async function withReceipt(deps: VaultDeps, record: InventoryRecord): Promise<InventoryRecord> {
  const now = deps.clock.now();
  const receipt = receiptOf(record, now);
  // The second hop is the vault's own business: the agent heard when the first copy was done.
  if (record.status !== 'available' || record.receiptSentAt || record.hop === 2 || !receipt) return record;
  try {
    await deps.receipts.send(receipt);
  } catch (error) {
    deps.log.warn('receipt not sent; the sweep sends it again', {
      artifactId: record.artifactId,
      error: safeText(String(error), 300),
    });
    return record;
  }
  return { ...record, receiptSentAt: now.toISOString() };
}

/**
 * With `secondRegion` set, a first copy that is available gets a second
 * record: a copy of the vault's own first copy into the second Region,
 * under that Region's backup-data key, in that Region's pool. Made once
 * (conditional create); the sweep makes it for a first copy whose worker
 * crashed before it could.
 */
export async function startSecondHop(deps: VaultDeps, record: InventoryRecord): Promise<InventoryRecord> {
  const region = deps.settings.secondRegion;
  if (!region || record.hop === 2 || record.status !== 'available' || record.secondHopAt || record.kind === 'unknown') {
    return record;
  }
  if (!record.targetId || !record.targetArn || !record.targetRegion) return record;
  const now = deps.clock.now();
  const ref = refOf(record, deps.settings.partition);
  const hop = newRecord(
    {
      artifactId: secondHopId(record.artifactId, region),
      kind: record.kind,
      status: 'expected',
      reason: `second hop into ${region}; copy not started yet`,
      sourceAccount: record.sourceAccount,
      sourceRegion: record.sourceRegion,
      sourceId: record.sourceId,
      sourceArn: record.targetArn,
      sourceResourceId: record.sourceResourceId,
      sourceSnapshotId: record.sourceSnapshotId,
      sourceCreatedAt: record.sourceCreatedAt,
      engine: record.engine,
      sizeGiB: record.sizeGiB,
      targetName: KINDS[record.kind].targetName(ref, 0),
      targetRegion: region,
      pool: poolOf(record.kind, region),
      hop: 2,
      hopSourceId: record.targetId,
      hopSourceRegion: record.targetRegion,
    },
    now,
  );
  if (await deps.inventory.create(hop)) {
    deps.log.info('second hop recorded', { artifactId: hop.artifactId });
    try {
      await startCopy(deps, hop);
    } catch (error) {
      // The sweep starts it: the record is there, waiting.
      deps.log.warn('second hop not started; the sweep starts it', {
        artifactId: hop.artifactId,
        error: String(error),
      });
    }
  }
  return (await write(deps, record, withFields(record, deps.clock.now(), { secondHopAt: now.toISOString() }))).record;
}

/** The inventory key of an artifact's copy in the backup account's second Region. */
export function secondHopId(artifactId: string, region: string): string {
  return `${artifactId}@${region}`;
}

/**
 * Whether the vault locks copies of this record's kind, and for how long:
 * undefined for kinds with no lock of their own (RDS, Aurora: the deletion
 * alarm and the SCP cover them) or when immutability is not configured.
 */
function protectionOf(deps: VaultDeps, record: InventoryRecord): CopyProtection | undefined {
  const settings = deps.settings.immutability;
  if (!settings || record.kind === 'unknown') return undefined;
  const days = settings.lockDays[record.kind];
  if (!days || !deps.copiers[record.kind].protect) return undefined;
  return { mode: settings.mode, days, coolOffHours: settings.coolOffHours };
}

/**
 * Locks an available copy and answers what to record. A lock that fails
 * does not hold the copy back: the record becomes available without
 * `lockedUntil`, and the sweep locks it ({@link lockAvailable}).
 */
async function lockPatch(deps: VaultDeps, record: InventoryRecord, copy: CopyView): Promise<RecordPatch> {
  const protection = protectionOf(deps, record);
  const protect = protection && copierOf(deps, record).protect;
  if (!protection || !protect) return {};
  try {
    const locked = await protect.call(copierOf(deps, record), copy, protection);
    deps.log.info('copy locked', { artifactId: record.artifactId, lockedUntil: locked.lockedUntil, lock: locked.lock });
    return { lockedUntil: locked.lockedUntil, lock: locked.lock };
  } catch (error) {
    deps.log.error('copy not locked; the sweep tries again', {
      artifactId: record.artifactId,
      targetId: copy.targetId,
      error: safeText(String(error), 300),
    });
    return {};
  }
}

/**
 * Whether the vault still owes an available record something the sweep
 * does: its receipt (a first copy that names its source), its lock, or its
 * second hop's record (a first copy, with `backup.secondRegion` set).
 */
export function owesFollowUp(deps: VaultDeps, record: InventoryRecord): boolean {
  if (record.status !== 'available' || record.kind === 'unknown') return false;
  const receipt = !record.receiptSentAt && record.hop !== 2 && receiptOf(record, deps.clock.now()) !== undefined;
  const secondHop =
    deps.settings.secondRegion !== undefined &&
    record.hop !== 2 &&
    !record.secondHopAt &&
    Boolean(record.targetId && record.targetArn && record.targetRegion);
  return receipt || secondHop || needsLock(deps, record);
}

/** Records an available record that owes nothing as finished: it leaves the queue index's `followup:` partition. */
export async function finishRecord(deps: VaultDeps, record: InventoryRecord): Promise<InventoryRecord> {
  if (record.status !== 'available' || record.finishedAt || owesFollowUp(deps, record)) return record;
  const now = deps.clock.now();
  return (await write(deps, record, withFields(record, now, { finishedAt: now.toISOString() }))).record;
}

/** Whether an available record still lacks the lock its kind should have. */
export function needsLock(deps: VaultDeps, record: InventoryRecord): boolean {
  return record.status === 'available' && !record.lockedUntil && protectionOf(deps, record) !== undefined;
}

/**
 * Locks the copy of an available record that was recorded without its lock
 * (the lock failed, or the record predates locking). Idempotent: the copier
 * keeps a lock already there.
 */
export async function lockAvailable(deps: VaultDeps, record: InventoryRecord): Promise<InventoryRecord> {
  if (!needsLock(deps, record) || !record.targetName || !record.targetRegion) return record;
  const copy = await copierOf(deps, record).describeCopy({
    targetName: record.targetName,
    targetId: record.targetId,
    region: record.targetRegion,
  });
  if (!copy || copy.state !== 'available') return record;
  const locked = await lockPatch(deps, record, copy);
  if (!locked.lockedUntil) return record;
  return (await write(deps, record, withFields(record, deps.clock.now(), locked))).record;
}

/** Every key a copy is under: its own, and each backing snapshot's. */
function keysOf(copy: CopyView): (string | undefined)[] {
  return copy.children && copy.children.length > 0 ? copy.children.map((child) => child.keyArn) : [copy.keyArn];
}

/**
 * Looks at the copy of a `copying` record and moves the record on: to
 * `available` when the copy is done and under the backup-data key (every
 * backing snapshot of an AMI included), to `failed` when AWS failed it or
 * used another key, and requests the copy again when it is not visible
 * after a grace period (the worker that claimed it crashed before asking),
 * a bounded number of times.
 */
export async function settleCopy(
  deps: VaultDeps,
  record: InventoryRecord,
  seen?: { readonly copy: CopyView | undefined },
  teaches = seen !== undefined,
): Promise<CopyStep> {
  if (record.status !== 'copying' || !record.targetName || !record.targetRegion) return { step: 'unchanged', record };
  const copier = copierOf(deps, record);
  // A copy event's handler has just read the copy: once is enough.
  const copy = seen
    ? seen.copy
    : await copier.describeCopy({
        targetName: record.targetName,
        targetId: record.targetId,
        region: record.targetRegion,
      });
  const now = deps.clock.now();
  if (!copy) {
    // An unconfirmed claim is its worker's until the lease ends; a confirmed request gets the grace period.
    const live = record.claimedUntil
      ? Date.parse(record.claimedUntil) > now.getTime()
      : now.getTime() - Date.parse(record.copyStartedAt ?? record.updatedAt) < CLAIM_GRACE_MS;
    if (live) return { step: 'in-progress', record };
    const requests = record.claimRequests ?? 1;
    if (requests >= MAX_COPY_REQUESTS) {
      return fail(deps, record, `the copy was requested ${requests} times and never appeared`);
    }
    deps.log.warn('copy claimed but not found after its lease or grace period; requesting it again', {
      artifactId: record.artifactId,
    });
    const again = await write(
      deps,
      record,
      applyTransition(record, 'copying', now, {
        copyStartedAt: now.toISOString(),
        copyAttempts: record.copyAttempts + 1,
        claimRequests: requests + 1,
        claimedUntil: new Date(now.getTime() + CLAIM_LEASE_MS).toISOString(),
      }),
    );
    return again.won ? requestCopy(deps, again.record) : { step: 'unchanged', record: again.record };
  }
  const found: RecordPatch = {
    targetId: copy.targetId,
    targetArn: copy.arn,
    ...(copy.children ? { targetChildren: copy.children.map((child) => child.id) } : {}),
  };
  if (copy.state === 'available') {
    const keys = keysOf(copy);
    const backupKey = await backupKeyFor(deps, record.targetRegion);
    const wrong = keys.filter((key) => !sameKmsKey(key, backupKey));
    if (!copy.encrypted || keys.length === 0 || wrong.length > 0) {
      const shown = wrong.map((key) => key ?? 'no key').join(', ') || 'no key';
      deps.log.error('copy under the wrong key', { artifactId: record.artifactId, targetId: copy.targetId });
      return fail(deps, record, `copy ${copy.targetId} is encrypted with ${shown}, not the backup-data key`, found);
    }
    // Locked before the record says available: an available copy is a locked one, unless locking failed.
    const locked = await lockPatch(deps, record, copy);
    const available = applyTransition(record, 'available', now, {
      ...found,
      ...locked,
      kmsKeyArn: backupKey,
      sizeGiB: copy.sizeGiB ?? record.sizeGiB,
      completedAt: now.toISOString(),
      nextAttemptAt: undefined,
      claimedUntil: undefined,
    });
    // The receipt goes before the write, so the write records it too: one write, not two. A
    // write lost to another worker leaves a receipt sent twice, which the agent absorbs.
    const done = await write(deps, record, await withReceipt(deps, available));
    if (!done.won) return { step: 'unchanged', record: done.record };
    deps.log.info('copy available', { artifactId: record.artifactId, targetId: copy.targetId });
    // Only a copy event's time teaches the watch (`teaches`): a look's or the sweep's comes late on purpose.
    deps.ring?.copies.ended(record.artifactId, now.getTime(), teaches);
    if (done.record.hop === 2) return { step: 'available', record: done.record };
    return { step: 'available', record: await startSecondHop(deps, done.record) };
  }
  if (copy.state === 'failed') {
    return fail(deps, record, `AWS reports the copy ${copy.targetId} as ${safeText(copy.detail, 40)}`, found);
  }
  // A copy named by its target name (RDS) is found by that name: only an id AWS chose (EC2) is worth a write.
  if ((!record.targetId && copy.targetId && copy.targetId !== record.targetName) || record.claimedUntil) {
    // The copy exists: its request is recorded, whoever made it.
    const known = await write(
      deps,
      record,
      applyTransition(record, 'copying', now, { ...found, claimedUntil: undefined }),
    );
    return { step: known.won ? 'in-progress' : 'unchanged', record: known.record };
  }
  return { step: 'in-progress', record };
}
