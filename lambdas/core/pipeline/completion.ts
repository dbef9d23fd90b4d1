/**
 * Completion: settling copies when AWS says a copy finished or failed (RDS
 * snapshot events, EBS copySnapshot results, AMI state changes: each kind
 * knows its own), and the sweep that does the same for whatever the events
 * missed, starts copies that waited for a slot and retries failed copies
 * whose backoff is over.
 */
import { ALL_KINDS, artifactId, poolOf } from '../../kinds/registry';
import { KIND_NAMES } from '../../kinds/types';
import type { InventoryRecord } from '../inventory';
import { type SweepDeps, takeInShared } from './adopt';
import {
  type CopyStep,
  finishRecord,
  fnv1a,
  lockAvailable,
  needsLock,
  owesFollowUp,
  refOfCopy,
  retryDue,
  sendReceipt,
  settleCopy,
  startCopy,
  startSecondHop,
  type VaultDeps,
} from './copy';
import { fairOrder, lookForEvent, settleAndRefill, startNext, SWEEP_MAX_PICKS } from './schedule';

export type CompletionOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'settled'; readonly artifactId: string; readonly step: CopyStep['step'] };

/**
 * Handles a copy event (its EventBridge `detail-type` and `detail`). The
 * event is only a hint of which copy to look at: the copy is re-read. For a
 * kind whose copier describes copies in batches (RDS, Aurora) its record is
 * found among its pool's copies in flight, which are looked at with it
 * (`lookForEvent`); otherwise, or when that query may not have named every
 * copy in flight, from the copy's own tags.
 */
export async function handleCopyEvent(
  detailType: string,
  detail: Readonly<Record<string, unknown>>,
  deps: VaultDeps,
): Promise<CompletionOutcome> {
  for (const kind of ALL_KINDS) {
    const targetId = kind.copyEventTarget(detailType, detail);
    if (!targetId) continue;
    // A look of this container settled it (its write won): nothing to read.
    const looked = deps.ring?.settledBy(targetId);
    if (looked) return { outcome: 'ignored', reason: `record ${looked} was settled by a look` };
    if (deps.copiers[kind.name].describeCopies) {
      // The pool's copies in flight name the event's copy and its record, and one describe answers for them all.
      const look = await lookForEvent(deps, kind.name, targetId);
      if (look.found) return { outcome: 'settled', artifactId: look.record.artifactId, step: look.step.step };
      if (look.complete)
        return { outcome: 'ignored', reason: `${targetId} is not a copy in flight: settled already, or not Bunker's` };
    }
    const copy = await deps.copiers[kind.name].describeCopy({
      targetName: targetId,
      targetId,
      region: deps.settings.backupRegion,
    });
    if (!copy) return { outcome: 'ignored', reason: `${targetId} does not exist` };
    const ref = refOfCopy(copy, deps.settings.partition);
    if (!ref || ref.kind !== kind.name)
      return { outcome: 'ignored', reason: `${targetId} carries no Bunker source tags` };
    const id = artifactId(ref);
    const record = await deps.inventory.get(id);
    if (!record) return { outcome: 'ignored', reason: `no inventory record for ${targetId}` };
    if (record.status !== 'copying') return { outcome: 'ignored', reason: `record is already ${record.status}` };
    // The copy read above is the one settled; a slot it frees starts the pool's next copy now.
    const step = await settleAndRefill(deps, record, { copy });
    return { outcome: 'settled', artifactId: id, step: step.step };
  }
  return { outcome: 'ignored', reason: `not a copy event of any kind (${detailType})` };
}

export interface SweepSummary {
  /** Records that were `copying` when the sweep began. */
  readonly checked: number;
  readonly available: number;
  readonly failed: number;
  readonly stillCopying: number;
  /** Copies started for records that were waiting or due a retry. */
  readonly started: number;
  /** Records still waiting for a slot or a quota. */
  readonly waiting: number;
  /** Receipts that had not reached their source agent, sent again. */
  readonly receiptsResent: number;
  /** Artifacts shared with the backup account but never announced, recorded by this sweep ({@link takeInShared}). */
  readonly takenIn: number;
}

/** The sweep's schedule (`rate(15 minutes)` in lib/stacks/vault-stack.ts). */
export const SWEEP_INTERVAL_MS = 15 * 60_000;
/**
 * How often the scheduled sweep does what no event path needs at once: each
 * registered account, Region and kind is listed once in this period (the
 * accounts spread over its sweeps), and the available copies not yet
 * finished are followed up once (receipts not sent, copies not locked,
 * second hops not recorded), read from the queue index.
 */
export const MAINTENANCE_PERIOD_MS = 6 * 3_600_000;
/**
 * How often the scheduled sweep reads every available record instead: for
 * what the queue index cannot know, copies finished under settings that
 * since asked for more (a second Region, a lock) and records written before
 * the index had its `followup:` partition.
 */
export const FULL_LOOK_PERIOD_MS = 24 * 3_600_000;
/**
 * The ages of a confirmed copy at which the scheduled sweep describes it, in
 * case its completion event was lost: 15, 30, 60 and 120 minutes, then every
 * 2 hours. A copy whose event arrives is never described by the sweep.
 */
export const COPY_LOOK_AGES_MS = [15, 30, 60, 120].map((minutes) => minutes * 60_000);

/** What one sweep does; {@link FULL_SWEEP} everything, {@link scheduledSweep} what the schedule's sweep at a time does. */
export interface SweepPlan {
  /** Whether the take-in lists this registered account's shares ({@link takeInShared}). */
  readonly takeIn: (account: string) => boolean;
  /** `all`: describe every `copying` record; `due`: only those due a look ({@link copyLookDue}) and expired claims. */
  readonly copying: 'all' | 'due';
  /** `list`: list every waiting record; `walk`: fill each pool's free slots with the ring walk ({@link startNext}). */
  readonly waiting: 'list' | 'walk';
  /**
   * Which available records are followed up (receipts, locks, second hops):
   * `all` lists every one kept; `unfinished` reads only those the queue
   * index holds as not finished ({@link Inventory.awaitingFollowUp}); `none`.
   */
  readonly available: 'all' | 'unfinished' | 'none';
}

/** Every pass over every record: what a test or an operator's one-off sweep wants. */
export const FULL_SWEEP: SweepPlan = { takeIn: () => true, copying: 'all', waiting: 'list', available: 'all' };

/** The sweep's slot in a period of `periodMs`: 0 to the period's sweeps less one. */
function slotOf(atMs: number, periodMs = MAINTENANCE_PERIOD_MS): number {
  return Math.floor(atMs / SWEEP_INTERVAL_MS) % (periodMs / SWEEP_INTERVAL_MS);
}

/** An account's slot in the maintenance period (FNV-1a of its id): its take-in is spread, not all in one sweep. */
export function takeInSlotOf(account: string): number {
  return fnv1a(account) % (MAINTENANCE_PERIOD_MS / SWEEP_INTERVAL_MS);
}

/**
 * What the scheduled sweep at `now` does: the backstop of the event paths at
 * every sweep, reading only what an event may have missed; the take-in and
 * the follow-up of unfinished available copies once per
 * {@link MAINTENANCE_PERIOD_MS}, and of every available copy once per
 * {@link FULL_LOOK_PERIOD_MS} instead.
 */
export function scheduledSweep(now: Date): SweepPlan {
  const slot = slotOf(now.getTime());
  return {
    takeIn: (account) => takeInSlotOf(account) === slot,
    copying: 'due',
    waiting: 'walk',
    available: slotOf(now.getTime(), FULL_LOOK_PERIOD_MS) === 0 ? 'all' : slot === 0 ? 'unfinished' : 'none',
  };
}

/**
 * Whether the scheduled sweep should look at a `copying` record now: a claim
 * once its lease ended (its worker may have stopped), never before (it is
 * its worker's); a confirmed copy in the first sweep after each age of
 * {@link COPY_LOOK_AGES_MS} (then every 2 hours), so a copy whose completion
 * event was lost is settled at most one rung and one sweep after it finished.
 */
export function copyLookDue(record: InventoryRecord, now: Date): boolean {
  if (record.claimedUntil) return Date.parse(record.claimedUntil) <= now.getTime();
  const age = now.getTime() - Date.parse(record.copyStartedAt ?? record.updatedAt);
  const [first] = COPY_LOOK_AGES_MS;
  const last = COPY_LOOK_AGES_MS[COPY_LOOK_AGES_MS.length - 1];
  if (age < first) return false;
  const rung =
    age < last
      ? Math.max(...COPY_LOOK_AGES_MS.filter((at) => at <= age))
      : last + Math.floor((age - last) / last) * last;
  return age - SWEEP_INTERVAL_MS < rung;
}

/**
 * The backstop for what events and invocations missed. First takes in
 * what was shared with the backup account but never announced
 * ({@link takeInShared}), then settles `copying` records (a claim past its
 * lease whose copy never appeared is requested again), then, pool by pool,
 * retries failed records due a retry and starts waiting (`expected`)
 * records, round-robin over source accounts, while the pool has room, and
 * follows up the available records (receipts that did not go out, copies
 * not locked, second hops not recorded). One record's error is logged and
 * does not stop the others.
 *
 * `plan` says how much of that this sweep reads: {@link FULL_SWEEP} by
 * default; the scheduled sweep's is {@link scheduledSweep}, which during a
 * backlog reads no record the event paths handle.
 */
export async function sweepCopies(deps: SweepDeps, plan: SweepPlan = FULL_SWEEP): Promise<SweepSummary> {
  // First what the events missed altogether: shared, but never announced.
  const { takenIn } = await takeInShared(deps, plan.takeIn);
  const counts = {
    checked: 0,
    available: 0,
    failed: 0,
    stillCopying: 0,
    started: 0,
    waiting: 0,
    receiptsResent: 0,
    takenIn,
  };
  const tally = (step: CopyStep['step']) => {
    if (step === 'available') counts.available += 1;
    else if (step === 'failed') counts.failed += 1;
    else if (step === 'started') counts.started += 1;
    else if (step === 'in-progress') counts.stillCopying += 1;
    else if (step === 'deferred') counts.waiting += 1;
  };
  const copying = (await deps.inventory.listByStatus('copying')).filter((r) => r.kind !== 'unknown');
  counts.checked = copying.length;
  for (const record of copying) {
    if (plan.copying === 'due' && !copyLookDue(record, deps.clock.now())) {
      // Its completion event settles it; the sweep looks when an event would be overdue.
      counts.stillCopying += 1;
      continue;
    }
    try {
      tally((await settleCopy(deps, record)).step);
    } catch (error) {
      counts.stillCopying += 1;
      deps.log.error('sweep could not settle a copy', { artifactId: record.artifactId, error: String(error) });
    }
  }
  const now = deps.clock.now();
  const waiting = [
    ...(plan.waiting === 'list' ? await deps.inventory.listByStatus('expected') : []),
    ...(await deps.inventory.listByStatus('failed')).filter((r) => retryDue(r, now)),
  ].filter((r) => r.kind !== 'unknown' && r.pool);
  const byPool = new Map<string, InventoryRecord[]>();
  for (const record of waiting)
    byPool.set(record.pool as string, [...(byPool.get(record.pool as string) ?? []), record]);
  for (const pooled of byPool.values()) {
    const records = fairOrder(pooled);
    for (const [index, record] of records.entries()) {
      try {
        const result = await startCopy(deps, record);
        const step = result.step;
        tally(step);
        // Its resource is busy: the next record may still have a slot.
        if (result.step === 'deferred' && result.wait === 'resource') continue;
        if (step === 'deferred') {
          // No slot free in this pool, or its quota said "not now": the rest of the pool waits.
          counts.waiting += records.length - index - 1;
          break;
        }
      } catch (error) {
        counts.waiting += 1;
        deps.log.error('sweep could not start a copy', { artifactId: record.artifactId, error: String(error) });
      }
    }
  }
  if (plan.waiting === 'walk') {
    for (const [pool, limit] of poolsOf(deps)) await fillPool(deps, pool, limit, tally);
  }
  if (plan.available === 'all') {
    await followUp(deps, counts, await deps.inventory.listByStatus('available'), false);
  } else if (plan.available === 'unfinished') {
    for (const [pool] of poolsOf(deps)) {
      try {
        await followUp(deps, counts, await deps.inventory.awaitingFollowUp(pool), true);
      } catch (error) {
        deps.log.error('sweep could not read the copies awaiting follow-up', { pool, error: String(error) });
      }
    }
  }
  return counts;
}

/**
 * Every pool the vault copies into, with its limit: each kind in the backup Region and the second Region. A
 * kind disabled since its records were queued keeps its pool: what waits there is started, as the full sweep does.
 */
function poolsOf(deps: VaultDeps): [string, number][] {
  const regions = [deps.settings.backupRegion, ...(deps.settings.secondRegion ? [deps.settings.secondRegion] : [])];
  return KIND_NAMES.flatMap((kind) =>
    regions.map((region): [string, number] => [poolOf(kind, region), deps.settings.kinds[kind].copyLimit]),
  );
}

/**
 * Fills the free slots of a pool with the ring walk: one read of the slot
 * counter, then one walk per free slot. A full pool (a backlog) costs the
 * one read: its waiting records are started by the completions that free
 * its slots.
 */
async function fillPool(
  deps: VaultDeps,
  pool: string,
  limit: number,
  tally: (step: CopyStep['step']) => void,
): Promise<void> {
  try {
    let after: string | undefined;
    for (let free = limit - (await deps.inventory.copiesInProgress(pool)); free > 0; free -= 1) {
      const step = await startNext(deps, pool, after, SWEEP_MAX_PICKS);
      if (!step) return;
      tally(step.step);
      if (step.step === 'deferred') return;
      after = step.record.sourceAccount;
    }
  } catch (error) {
    deps.log.error('sweep could not start the waiting copies of a pool', { pool, error: String(error) });
  }
}

/**
 * Does for available records the three things an invocation may have left
 * undone. `finish`: a record read from the `followup:` partition that owes
 * nothing (any more) is written finished, so it leaves the partition; a
 * full listing writes nothing for those (most records it lists left long ago).
 */
async function followUp(
  deps: SweepDeps,
  counts: { receiptsResent: number },
  records: readonly InventoryRecord[],
  finish: boolean,
): Promise<void> {
  for (const listed of records) {
    if (listed.kind === 'unknown' || listed.status !== 'available') continue;
    if (finish && !owesFollowUp(deps, listed)) {
      try {
        await finishRecord(deps, listed);
      } catch (error) {
        deps.log.error('sweep could not record a copy finished', {
          artifactId: listed.artifactId,
          error: String(error),
        });
      }
      continue;
    }
    let record = listed;
    if (!record.receiptSentAt && record.hop !== 2) {
      try {
        record = await sendReceipt(deps, record);
        if (record.receiptSentAt) counts.receiptsResent += 1;
      } catch (error) {
        deps.log.error('sweep could not record a receipt', { artifactId: record.artifactId, error: String(error) });
      }
    }
    // A copy recorded available without its lock (the lock failed): lock it now.
    if (needsLock(deps, record)) {
      try {
        record = await lockAvailable(deps, record);
      } catch (error) {
        deps.log.error('sweep could not lock a copy', { artifactId: record.artifactId, error: String(error) });
      }
    }
    // A first copy whose second hop was never recorded (its worker stopped in between).
    if (deps.settings.secondRegion && record.hop !== 2 && !record.secondHopAt && record.status === 'available') {
      try {
        await startSecondHop(deps, record);
      } catch (error) {
        deps.log.error('sweep could not record a second hop', { artifactId: record.artifactId, error: String(error) });
      }
    }
  }
}
