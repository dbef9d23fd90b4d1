/**
 * Completion: settling copies when RDS says a copy finished or failed
 * (RDS-EVENT-0197/0190, 0060/0061), and the sweep that does the same for
 * whatever the events missed, plus starting copies that waited for capacity.
 */
import { rdsArtifactId } from './names';
import { type CopyStep, settleCopy, sourceArnFromCopy, startCopy, type VaultDeps } from './rds-copy';

export type CompletionOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'settled'; readonly artifactId: string; readonly step: CopyStep['step'] };

/** Handles an RDS copy event naming `targetId`, the backup copy. The event is only a hint: the copy is re-read. */
export async function handleCopyEvent(targetId: string, deps: VaultDeps): Promise<CompletionOutcome> {
  if (!targetId.startsWith('bunker-')) return { outcome: 'ignored', reason: `${targetId} is not a Bunker copy` };
  const copy = await deps.backupStore.describe(targetId);
  if (!copy) return { outcome: 'ignored', reason: `${targetId} does not exist` };
  const sourceArn = sourceArnFromCopy(copy);
  if (!sourceArn) return { outcome: 'ignored', reason: `${targetId} carries no Bunker source tags` };
  const artifactId = rdsArtifactId(sourceArn);
  const record = await deps.inventory.get(artifactId);
  if (!record) return { outcome: 'ignored', reason: `no inventory record for ${targetId}` };
  if (record.status !== 'copying') return { outcome: 'ignored', reason: `record is already ${record.status}` };
  const step = await settleCopy(deps, record);
  return { outcome: 'settled', artifactId, step: step.step };
}

export interface SweepSummary {
  /** Records that were `copying` when the sweep began. */
  readonly checked: number;
  readonly available: number;
  readonly failed: number;
  readonly stillCopying: number;
  /** Copies started for records that were waiting. */
  readonly started: number;
  /** Records still waiting for capacity or a quota. */
  readonly waiting: number;
}

/**
 * Settles every `copying` record, then starts waiting (`expected`) records
 * oldest first while copy capacity lasts. One record's error is logged and
 * does not stop the others.
 */
export async function sweepCopies(deps: VaultDeps): Promise<SweepSummary> {
  const counts = { checked: 0, available: 0, failed: 0, stillCopying: 0, started: 0, waiting: 0 };
  const tally = (step: CopyStep['step']) => {
    if (step === 'available') counts.available += 1;
    else if (step === 'failed') counts.failed += 1;
    else if (step === 'started') counts.started += 1;
    else if (step === 'in-progress') counts.stillCopying += 1;
    else if (step === 'deferred') counts.waiting += 1;
  };
  const copying = (await deps.inventory.listByStatus('copying')).filter((r) => r.kind === 'rds-snapshot');
  counts.checked = copying.length;
  for (const record of copying) {
    try {
      tally((await settleCopy(deps, record)).step);
    } catch (error) {
      counts.stillCopying += 1;
      deps.log.error('sweep could not settle a copy', { artifactId: record.artifactId, error: String(error) });
    }
  }
  const waiting = (await deps.inventory.listByStatus('expected'))
    .filter((r) => r.kind === 'rds-snapshot')
    .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
  for (const [index, record] of waiting.entries()) {
    try {
      const step = (await startCopy(deps, record)).step;
      tally(step);
      if (step === 'deferred') {
        // No slot free, or RDS's quota said "not now": the rest wait for the next sweep.
        counts.waiting += waiting.length - index - 1;
        break;
      }
    } catch (error) {
      counts.waiting += 1;
      deps.log.error('sweep could not start a copy', { artifactId: record.artifactId, error: String(error) });
    }
  }
  return counts;
}
