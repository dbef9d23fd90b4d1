/**
 * Completion: settling copies when AWS says a copy finished or failed (RDS
 * snapshot events, EBS copySnapshot results, AMI state changes: each kind
 * knows its own), and the sweep that does the same for whatever the events
 * missed, starts copies that waited for a slot and retries failed copies
 * whose backoff is over.
 */
import { ALL_KINDS, artifactId } from '../../kinds/registry';
import type { InventoryRecord } from '../inventory';
import { type SweepDeps, takeInShared } from './adopt';
import {
  type CopyStep,
  lockAvailable,
  needsLock,
  refOfCopy,
  retryDue,
  sendReceipt,
  settleCopy,
  startCopy,
  startSecondHop,
  type VaultDeps,
} from './copy';
import { fairOrder, settleAndRefill } from './schedule';

export type CompletionOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'settled'; readonly artifactId: string; readonly step: CopyStep['step'] };

/**
 * Handles a copy event (its EventBridge `detail-type` and `detail`). The
 * event is only a hint of which copy to look at: the copy is re-read, and
 * its record found from the copy's own tags.
 */
export async function handleCopyEvent(
  detailType: string,
  detail: Readonly<Record<string, unknown>>,
  deps: VaultDeps,
): Promise<CompletionOutcome> {
  for (const kind of ALL_KINDS) {
    const targetId = kind.copyEventTarget(detailType, detail);
    if (!targetId) continue;
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

/**
 * The backstop for what events and invocations missed. First takes in
 * what was shared with the backup account but never announced
 * ({@link takeInShared}), then settles every `copying` record (a claim past
 * its lease whose copy never appeared is requested again), then, pool by
 * pool, starts waiting (`expected`) records and failed records due a retry,
 * round-robin over source accounts ({@link fairOrder}), while the pool has
 * room, and sends the receipts that did not go out. One record's error is
 * logged and does not stop the others.
 */
export async function sweepCopies(deps: SweepDeps): Promise<SweepSummary> {
  // First what the events missed altogether: shared, but never announced.
  const { takenIn } = await takeInShared(deps);
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
    try {
      tally((await settleCopy(deps, record)).step);
    } catch (error) {
      counts.stillCopying += 1;
      deps.log.error('sweep could not settle a copy', { artifactId: record.artifactId, error: String(error) });
    }
  }
  const now = deps.clock.now();
  const waiting = [
    ...(await deps.inventory.listByStatus('expected')),
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
  for (const record of await deps.inventory.listByStatus('available')) {
    if (record.receiptSentAt || record.hop === 2 || record.kind === 'unknown') continue;
    try {
      const sent = await sendReceipt(deps, record);
      if (sent.receiptSentAt) counts.receiptsResent += 1;
    } catch (error) {
      deps.log.error('sweep could not record a receipt', { artifactId: record.artifactId, error: String(error) });
    }
  }
  // A copy recorded available without its lock (the lock failed): lock it now.
  for (const record of await deps.inventory.listByStatus('available')) {
    if (!needsLock(deps, record)) continue;
    try {
      await lockAvailable(deps, record);
    } catch (error) {
      deps.log.error('sweep could not lock a copy', { artifactId: record.artifactId, error: String(error) });
    }
  }
  // A first copy whose second hop was never recorded (its worker stopped in between).
  for (const record of deps.settings.secondRegion ? await deps.inventory.listByStatus('available') : []) {
    if (record.hop === 2 || record.secondHopAt || record.kind === 'unknown') continue;
    try {
      await startSecondHop(deps, record);
    } catch (error) {
      deps.log.error('sweep could not record a second hop', { artifactId: record.artifactId, error: String(error) });
    }
  }
  return counts;
}
