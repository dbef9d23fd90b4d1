/**
 * The source agent, in each production account and Region: makes in-scope
 * RDS snapshots shareable, shares them with the backup account and tells
 * the vault, with identifiers only.
 *
 * It always works on an intermediate copy under the share key and never
 * modifies production's own snapshots. Automated snapshots cannot be
 * shared, and neither can snapshots under the default `aws/rds` key, so
 * those need the copy anyway; doing it for every snapshot keeps one path,
 * lets the agent's delete right stop at its own `bunker-share-*` snapshots,
 * and makes cleanup uniform.
 */
import { CopyQuotaExceededError } from './errors';
import { sameKmsKey } from './keys';
import { INTERMEDIATE_PREFIX, intermediateSnapshotId } from './names';
import { notificationOf } from './notification';
import type { Clock, Log, NotificationPublisher, RdsSnapshot, SourceRds } from './ports';
import { inScope as scopeHolds } from './scope';
import type { ScopeSetting, SourceSettings } from './settings';

export interface AgentDeps {
  readonly settings: SourceSettings;
  readonly rds: SourceRds;
  readonly publisher: NotificationPublisher;
  readonly clock: Clock;
  readonly log: Log;
}

/** Tags on the agent's intermediate snapshots. */
export const TAG_INTERMEDIATE = 'bunker:intermediate';
export const TAG_INTERMEDIATE_OF = 'bunker:source-snapshot';
export const TAG_NOTIFIED_AT = 'bunker:notified-at';
/** When production took the snapshot the intermediate was copied from. */
export const TAG_SOURCE_CREATED_AT = 'bunker:source-created-at';

export type AgentStep =
  | 'gone'
  | 'out-of-scope'
  | 'pending'
  | 'rekeying'
  | 'notified'
  | 'already-notified'
  | 'waiting-for-room'
  | 'waiting-for-quota';

export function isIntermediate(snapshot: RdsSnapshot): boolean {
  return snapshot.id.startsWith(`${INTERMEDIATE_PREFIX}-`) && snapshot.tags[TAG_INTERMEDIATE] === 'true';
}

/** Whether a database, by its identifier and tags, is in the configured scope. */
export function inScope(
  scope: ScopeSetting | undefined,
  dbInstanceId: string,
  tags: Readonly<Record<string, string>>,
): boolean {
  return scope !== undefined && scopeHolds(scope, [dbInstanceId], tags);
}

/**
 * Why a snapshot cannot be shared as it is; `undefined` when it could be.
 * The agent copies in every case (see the module comment), but logs this
 * reason so an operator sees what the copy fixes.
 */
export function shareBlocker(snapshot: RdsSnapshot, shareKeyArn: string): string | undefined {
  if (snapshot.type === 'automated' || snapshot.type === 'awsbackup')
    return `${snapshot.type} snapshots cannot be shared`;
  if (!snapshot.encrypted) return 'unencrypted: re-encrypted under the share key';
  if (!sameKmsKey(snapshot.kmsKeyId, shareKeyArn)) return 'encrypted under a key the backup account cannot use';
  return undefined;
}

/** Handles one snapshot by id: an original in scope gets an intermediate; an intermediate gets shared and announced. */
export async function processSnapshot(snapshotId: string, deps: AgentDeps): Promise<AgentStep> {
  const snapshot = await deps.rds.describeSnapshot(snapshotId);
  if (!snapshot) return 'gone';
  if (isIntermediate(snapshot)) return shareAndNotify(snapshot, deps);
  return rekey(snapshot, deps, await countIntermediates(deps));
}

async function countIntermediates(deps: AgentDeps): Promise<number> {
  return (await deps.rds.listSnapshots()).filter(isIntermediate).length;
}

async function rekey(snapshot: RdsSnapshot, deps: AgentDeps, intermediates: number): Promise<AgentStep> {
  const tags = (await deps.rds.instanceTags(snapshot.dbInstanceId)) ?? snapshot.tags;
  if (!inScope(deps.settings.scopes['rds-snapshot'], snapshot.dbInstanceId, tags)) return 'out-of-scope';
  if (snapshot.status !== 'available') return 'pending';
  const targetId = intermediateSnapshotId(snapshot.id);
  const existing = await deps.rds.describeSnapshot(targetId);
  if (!existing && intermediates >= deps.settings.maxIntermediateSnapshots) {
    // Back-pressure: never delete an intermediate the vault may not have copied yet.
    deps.log.warn('intermediate snapshot limit reached; waiting for cleanup', {
      snapshotId: snapshot.id,
      limit: deps.settings.maxIntermediateSnapshots,
    });
    return 'waiting-for-room';
  }
  if (!existing) {
    try {
      await deps.rds.copySnapshot({
        sourceId: snapshot.id,
        targetId,
        kmsKeyArn: deps.settings.shareKeyArn,
        tags: {
          [TAG_INTERMEDIATE]: 'true',
          [TAG_INTERMEDIATE_OF]: snapshot.id,
          'bunker:source-db': snapshot.dbInstanceId,
          ...(snapshot.createdAt ? { [TAG_SOURCE_CREATED_AT]: snapshot.createdAt } : {}),
        },
      });
    } catch (error) {
      if (error instanceof CopyQuotaExceededError) {
        deps.log.warn('copy quota reached; the next sweep retries', { snapshotId: snapshot.id });
        return 'waiting-for-quota';
      }
      throw error;
    }
    deps.log.info('intermediate copy requested', {
      snapshotId: snapshot.id,
      targetId,
      why: shareBlocker(snapshot, deps.settings.shareKeyArn) ?? 'uniform share path',
    });
  }
  const intermediate = existing ?? (await deps.rds.describeSnapshot(targetId));
  if (!intermediate || intermediate.status !== 'available') return 'rekeying';
  return shareAndNotify(intermediate, deps);
}

async function shareAndNotify(snapshot: RdsSnapshot, deps: AgentDeps): Promise<AgentStep> {
  if (snapshot.status !== 'available') return 'pending';
  if (snapshot.tags[TAG_NOTIFIED_AT]) return 'already-notified';
  const { backupAccount, sourceAccount, sourceRegion } = deps.settings;
  if (!(await deps.rds.sharedWith(snapshot.id)).includes(backupAccount)) {
    await deps.rds.share(snapshot.id, backupAccount);
  }
  await deps.publisher.publish(
    notificationOf({
      kind: 'rds-snapshot',
      sourceAccount,
      sourceRegion,
      id: snapshot.id,
      publishedAt: deps.clock.now(),
    }),
  );
  // Tagged after publishing: a crash in between publishes twice, which intake absorbs; never zero times.
  await deps.rds.tag(snapshot.arn, { [TAG_NOTIFIED_AT]: deps.clock.now().toISOString() });
  deps.log.info('snapshot shared and announced', { snapshotId: snapshot.id });
  return 'notified';
}

export interface AgentSweepSummary {
  readonly examined: number;
  readonly steps: Readonly<Partial<Record<AgentStep, number>>>;
  readonly deleted: number;
}

/**
 * The hourly sweep: what the events missed. Handles in-scope originals
 * created within the retention window that have no intermediate yet,
 * announces available intermediates not yet announced, and deletes
 * announced intermediates older than the retention window.
 */
export async function sweepSource(deps: AgentDeps): Promise<AgentSweepSummary> {
  const now = deps.clock.now();
  const windowStart = now.getTime() - deps.settings.intermediateRetentionHours * 3_600_000;
  const all = await deps.rds.listSnapshots();
  const intermediates = all.filter(isIntermediate);
  const ids = new Set(all.map((s) => s.id));
  const steps: Partial<Record<AgentStep, number>> = {};
  const count = (step: AgentStep) => {
    steps[step] = (steps[step] ?? 0) + 1;
  };

  let deleted = 0;
  for (const snapshot of intermediates) {
    const created = snapshot.createdAt ? Date.parse(snapshot.createdAt) : now.getTime();
    // Only an announced intermediate may expire: one the vault never heard of is announced first.
    const expired = created < windowStart && snapshot.status === 'available' && Boolean(snapshot.tags[TAG_NOTIFIED_AT]);
    if (!expired) {
      count(await guarded(() => shareAndNotify(snapshot, deps), snapshot.id, deps));
      continue;
    }
    try {
      await deps.rds.deleteSnapshot(snapshot.id);
      deleted += 1;
      deps.log.info('intermediate snapshot expired and deleted', { snapshotId: snapshot.id });
    } catch (error) {
      // A failed delete must not stop the sweep: it is the backstop for lost events.
      deps.log.error('expired intermediate could not be deleted; the next sweep retries', {
        snapshotId: snapshot.id,
        error: String(error),
      });
    }
  }

  let live = intermediates.length - deleted;
  const originals = all.filter(
    (s) =>
      !isIntermediate(s) &&
      !ids.has(intermediateSnapshotId(s.id)) &&
      (s.createdAt ? Date.parse(s.createdAt) >= windowStart : true),
  );
  for (const snapshot of originals) {
    const step = await guarded(() => rekey(snapshot, deps, live), snapshot.id, deps);
    if (step === 'rekeying' || step === 'notified') live += 1;
    count(step);
  }
  return { examined: intermediates.length + originals.length, steps, deleted };
}

/** One snapshot's failure is logged and left for the next sweep; it never stops the others. */
async function guarded(work: () => Promise<AgentStep>, snapshotId: string, deps: AgentDeps): Promise<AgentStep> {
  try {
    return await work();
  } catch (error) {
    deps.log.error('snapshot could not be handled; the next sweep retries', { snapshotId, error: String(error) });
    return 'pending';
  }
}
