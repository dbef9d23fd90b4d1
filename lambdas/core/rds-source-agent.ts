/**
 * The source agent, in each production account and Region: makes in-scope
 * RDS DB snapshots and Aurora cluster snapshots shareable, shares them with
 * the backup account and tells the vault, with identifiers only.
 *
 * It always works on an intermediate copy under the share key and never
 * shares, copies over or deletes production's own snapshots; it only tags
 * one once the vault holds its copy (`bunker:backed-up-at`). Automated snapshots cannot be
 * shared, and neither can snapshots under the default `aws/rds` key, so
 * those need the copy anyway; doing it for every snapshot keeps one path,
 * lets the agent's delete right stop at its own `bunker-share-*` snapshots,
 * and makes cleanup uniform.
 */
import {
  type AgentMemory,
  agentMemory,
  agingMsOf,
  type KindMemory,
  type PendingCount,
  type Freed,
  learnBacklog,
  LOST_EVENT_AGE_MS,
  MISSED_AFTER_MS,
  quotaFull,
  readOnce,
  type Releasable,
  releaseOrder,
  releasing,
  stale,
  TAG_BACKLOG,
  worthTrying,
} from './agent/memory';
import { intermediateFate, retainedUntil, TAG_BACKED_UP_AT, TAG_COPIED_AT } from './agent/retention';
import { memo, scopeCacheOf } from './agent/scope-cache';
import { CopyQuotaExceededError } from './errors';
import { sameKmsKey } from './keys';
import { INTERMEDIATE_PREFIX, intermediateSnapshotId } from './names';
import { notificationOf, sourceBacklogOf } from './notification';
import type { Clock, Log, NotificationPublisher, RdsSnapshot, SourceRds } from './ports';
import type { Receipt } from './receipts';
import { inScope as scopeHolds } from './scope';
import type { ScopeSetting, SourceSettings } from './settings';
import type { KindName } from '../kinds/types';

export interface AgentDeps {
  readonly settings: SourceSettings;
  /** The account's DB instance snapshots. */
  readonly rds: SourceRds;
  /** The account's Aurora DB cluster snapshots, when the agent handles them (same port, cluster calls). */
  readonly clusters?: SourceRds;
  readonly publisher: NotificationPublisher;
  readonly clock: Clock;
  readonly log: Log;
  /** This container's memory (`./agent/memory.ts`); without it, one is kept per store object. */
  readonly memory?: AgentMemory;
  /**
   * Each kind's RPO in hours (the config's `rpoHours`): an original that has
   * waited half of it goes ahead of larger ones (`releaseOrder`). Absent: 24.
   */
  readonly rpoHours?: Partial<Record<KindName, number>>;
}

/** The RDS snapshot kinds the agent handles, each through its own store. */
export type RdsKind = 'rds-snapshot' | 'aurora-cluster-snapshot';

interface Flavour {
  readonly kind: RdsKind;
  readonly store: SourceRds;
  /** Longest identifier of the kind: 255 for DB snapshots, 63 for cluster snapshots. */
  readonly maxId: number;
}

function flavourOf(deps: AgentDeps, kind: RdsKind): Flavour | undefined {
  if (kind === 'rds-snapshot') return { kind, store: deps.rds, maxId: 255 };
  return deps.clusters ? { kind, store: deps.clusters, maxId: 63 } : undefined;
}

/** The kinds this agent handles: those in its scopes whose store it has. */
function flavours(deps: AgentDeps): Flavour[] {
  return (['rds-snapshot', 'aurora-cluster-snapshot'] as const)
    .filter((kind) => deps.settings.scopes[kind] !== undefined)
    .map((kind) => flavourOf(deps, kind))
    .filter((flavour): flavour is Flavour => flavour !== undefined);
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

/**
 * Handles one snapshot by id (`kind` says whether it is a DB snapshot or a
 * cluster snapshot): an original in scope gets an intermediate; an
 * intermediate gets shared and announced.
 */
export async function processSnapshot(
  snapshotId: string,
  deps: AgentDeps,
  kind: RdsKind = 'rds-snapshot',
): Promise<AgentStep> {
  const flavour = flavourOf(deps, kind);
  if (!flavour || deps.settings.scopes[kind] === undefined) return 'out-of-scope';
  const snapshot = await flavour.store.describeSnapshot(snapshotId);
  if (!snapshot) return 'gone';
  const memory = memoryOf(deps, flavour);
  if (isIntermediate(snapshot)) {
    const step = await shareAndNotify(snapshot, deps, flavour);
    if (snapshot.status === 'available') {
      // An intermediate copy finished: a copy slot of the account freed, so what waited on the quota may go now.
      memory.quotaFullAt = undefined;
      memory.unannounced.delete(snapshot.id);
    }
    await housekeeping(deps, flavour, snapshot.status === 'available' ? 'quota' : 'nothing');
    return step;
  }
  const step = await rekey(snapshot, deps, flavour, await pendingOf(deps, flavour));
  await housekeeping(deps, flavour, 'nothing');
  return step;
}

/**
 * How long a count of the account's intermediates is reused by the events
 * an agent container handles: counting lists every snapshot of the account,
 * so doing it per event made a burst of N snapshots cost N listings. The
 * count is kept up to date with the copies the container starts and the
 * receipts it records; other containers' can make it off by their number,
 * which the next count corrects. The sweep counts afresh.
 */
export const INTERMEDIATE_COUNT_TTL_MS = 5 * 60_000;

function memoryOf(deps: AgentDeps, flavour: Flavour): KindMemory<RdsSnapshot> {
  return agentMemory(deps.memory, flavour.store).of<RdsSnapshot>(flavour.kind);
}

/** Whether an intermediate blocks: made, and the vault has not yet said it holds its copy. */
export function awaitsVault(snapshot: RdsSnapshot): boolean {
  return isIntermediate(snapshot) && !snapshot.tags[TAG_COPIED_AT];
}

const HOUR_MS = 3_600_000;

/**
 * The intermediates of the kind that await the vault, counted by a listing
 * at most once per {@link INTERMEDIATE_COUNT_TTL_MS}. The cap counts only
 * these: an intermediate the vault confirmed blocks nothing, it is only kept
 * for its retention (deleted by the environment that recorded its receipt,
 * or the sweep: an environment that only counted it leaves it, or every
 * environment that counts would try the same delete). The same listing is
 * the quick backstop for a lost "copy finished" event: an available
 * intermediate still unannounced at the next count (so not merely ahead of
 * its event), or at the first when made {@link LOST_EVENT_AGE_MS} ago, is
 * announced then, minutes after, not at the sweep. It also shows the
 * originals with no intermediate that are older than their own event
 * ({@link MISSED_AFTER_MS}): missed, or held back by an environment that is
 * gone; they start when there is room.
 */
async function pendingOf(deps: AgentDeps, flavour: Flavour): Promise<PendingCount> {
  const memory = memoryOf(deps, flavour);
  const now = deps.clock.now().getTime();
  if (memory.pending && now - memory.pending.at < INTERMEDIATE_COUNT_TTL_MS) return memory.pending;
  const all = await flavour.store.listSnapshots();
  const intermediates = all.filter(isIntermediate);
  const pending: PendingCount = { count: intermediates.filter(awaitsVault).length, at: now };
  memory.pending = pending;
  if (pending.count >= deps.settings.maxIntermediateSnapshots) memory.capReachedAt = now;
  // The same listing shows the originals still without an intermediate, for when this container has room.
  const ids = new Set(all.map((s) => s.id));
  const horizon = now - deps.settings.intermediateHorizonHours * HOUR_MS;
  // Old enough that their own event has come and gone: missed, or held back by an environment that is gone.
  const missed = now - MISSED_AFTER_MS;
  memory.candidates = all.filter(
    (s) =>
      !isIntermediate(s) &&
      s.status === 'available' &&
      !s.tags[TAG_BACKED_UP_AT] &&
      !memory.deferred.has(s.id) &&
      !ids.has(intermediateSnapshotId(s.id, flavour.maxId)) &&
      (s.createdAt ? Date.parse(s.createdAt) >= horizon && Date.parse(s.createdAt) <= missed : true),
  );
  const unannounced = new Set<string>();
  for (const snapshot of intermediates) {
    const copiedAt = snapshot.tags[TAG_COPIED_AT];
    if (copiedAt || snapshot.status !== 'available' || snapshot.tags[TAG_NOTIFIED_AT]) continue;
    unannounced.add(snapshot.id);
    const old = snapshot.createdAt !== undefined && now - Date.parse(snapshot.createdAt) >= LOST_EVENT_AGE_MS;
    if (!old && !memory.unannounced.has(snapshot.id)) memory.unannounced.set(snapshot.id, now);
    else await guarded(() => shareAndNotify(snapshot, deps, flavour), snapshot.id, deps);
  }
  for (const id of memory.unannounced.keys()) if (!unannounced.has(id)) memory.unannounced.delete(id);
  return pending;
}

/**
 * What this container can do without being asked, after each event and
 * receipt it handles: delete the confirmed intermediates whose retention
 * ended, and start deferred originals while the cap has room and the copy
 * quota was not found full since the last finished copy. No request is made
 * to learn that there is still no room: the container knows its count.
 */
async function housekeeping(deps: AgentDeps, flavour: Flavour, freed: Freed): Promise<void> {
  const memory = memoryOf(deps, flavour);
  const now = deps.clock.now().getTime();
  for (const [id, until] of memory.retained) {
    if (until > now) continue;
    memory.retained.delete(id);
    await deleteIntermediate(id, deps, flavour);
  }
  if (!worthTrying(memory, freed, deps.settings.maxIntermediateSnapshots, now)) return;
  const pending = await pendingOf(deps, flavour);
  const room = () => pending.count < deps.settings.maxIntermediateSnapshots && !quotaFull(memory, now);
  const horizon = now - deps.settings.intermediateHorizonHours * HOUR_MS;
  // The deferred originals (judged in scope) and the count's candidates (not judged yet) in one order: largest
  // first, and any that waited half its RPO before them.
  const waiting = releasing(
    [
      ...[...memory.deferred.values()].map((original) => ({ original, deferred: true })),
      ...memory.candidates.map((original) => ({ original, deferred: false })),
    ],
    ({ original }) => releasable(original),
    now,
    agingMsOf(deps.rpoHours?.[flavour.kind]),
  );
  const tried = new Set<RdsSnapshot>();
  let candidatesLeft = true;
  // Room left after the deferred: the originals another container deferred (or whose event was lost), judged as
  // the sweep judges them.
  const tags = memo((resource: string) => flavour.store.instanceTags(resource));
  for (const { original, deferred } of waiting) {
    if (!room()) break;
    if (deferred) {
      memory.deferred.delete(original.id);
      // Past the horizon it is the sweep's to count as aged out, not to copy.
      if (original.createdAt && Date.parse(original.createdAt) < horizon) continue;
      const step = await guarded(() => startCopy(original, deps, flavour, pending, true), original.id, deps);
      deps.log.info('deferred intermediate copy started', { snapshotId: original.id, step });
      continue;
    }
    if (!candidatesLeft) continue;
    tried.add(original);
    const before = pending.count;
    const step = await guarded(() => rekey(original, deps, flavour, pending, tags), original.id, deps);
    deps.log.info('waiting original started', { snapshotId: original.id, step });
    // Already started by another environment since the count: the rest of its list was listed as waiting at the
    // same moment, so it waits for the next count rather than cost a scope read and a copy request each.
    if (stale(step, before, pending)) candidatesLeft = false;
  }
  if (!candidatesLeft) memory.candidates = [];
  else if (tried.size > 0) memory.candidates = memory.candidates.filter((original) => !tried.has(original));
}

/** What the release order reads of an RDS original: its size and when it was taken, from the describe or listing. */
const releasable = readOnce((snapshot: RdsSnapshot): Releasable => ({
  ...(snapshot.sizeGiB !== undefined ? { sizeGiB: snapshot.sizeGiB } : {}),
  ...(snapshot.createdAt ? { takenAt: Date.parse(snapshot.createdAt) } : {}),
}));

/** Deletes a confirmed intermediate; a failure is logged and left to the sweep. */
async function deleteIntermediate(id: string, deps: AgentDeps, flavour: Flavour): Promise<boolean> {
  try {
    await flavour.store.deleteSnapshot(id);
    deps.log.info('intermediate copied by the vault, deleted', { snapshotId: id });
    return true;
  } catch (error) {
    deps.log.error('intermediate could not be deleted; the next sweep retries', {
      snapshotId: id,
      error: String(error),
    });
    return false;
  }
}

/**
 * Re-keys an original in scope. An event judges scope afresh; the sweep
 * (`sweepTags` given: its per-sweep read of a resource's tags) trusts a
 * recent out-of-scope verdict instead of reading the resource's tags again
 * (`./agent/scope-cache.ts`), and an original this container deferred is
 * known in scope already.
 */
async function rekey(
  snapshot: RdsSnapshot,
  deps: AgentDeps,
  flavour: Flavour,
  pending: PendingCount,
  sweepTags?: (resource: string) => Promise<Record<string, string> | undefined>,
): Promise<AgentStep> {
  const store = flavour.store;
  const memory = memoryOf(deps, flavour);
  const resource = snapshot.dbInstanceId;
  const verdicts = scopeCacheOf(deps.memory ?? store, flavour.kind);
  const now = deps.clock.now().getTime();
  const known = sweepTags !== undefined && memory.deferred.has(snapshot.id);
  if (!known) {
    if (sweepTags && verdicts.knownOutOfScope(resource, snapshot.tags, now)) return 'out-of-scope';
    const tags = (await (sweepTags ?? ((id: string) => store.instanceTags(id)))(resource)) ?? snapshot.tags;
    const wanted = inScope(deps.settings.scopes[flavour.kind], resource, tags);
    verdicts.judged(resource, snapshot.tags, wanted, now);
    if (!wanted) {
      memory.deferred.delete(snapshot.id);
      return 'out-of-scope';
    }
  }
  // Already in the backup account: its intermediate may be gone, and must not be made again.
  if (snapshot.tags[TAG_BACKED_UP_AT]) return 'already-notified';
  if (snapshot.status !== 'available') return 'pending';
  if (pending.count >= deps.settings.maxIntermediateSnapshots) {
    // Back-pressure: never delete an intermediate the vault may not have copied yet. Started when a receipt frees
    // room (an intermediate made already is found by that copy's "already exists"); no request until then.
    memory.capReachedAt = now;
    if (!memory.deferred.has(snapshot.id)) {
      deps.log.warn('intermediate snapshot limit reached; started when a receipt frees room', {
        snapshotId: snapshot.id,
        limit: deps.settings.maxIntermediateSnapshots,
      });
    }
    memory.deferred.set(snapshot.id, snapshot);
    return 'waiting-for-room';
  }
  // An event does not ask what AWS answered minutes ago; the sweep, the backstop, does.
  if (!sweepTags && quotaFull(memory, now)) {
    memory.deferred.set(snapshot.id, snapshot);
    return 'waiting-for-quota';
  }
  // Found by a count or the sweep rather than by its own event: it waited.
  return startCopy(snapshot, deps, flavour, pending, sweepTags !== undefined);
}

/** Requests an original's intermediate copy, judged in scope and with room for it. */
async function startCopy(
  snapshot: RdsSnapshot,
  deps: AgentDeps,
  flavour: Flavour,
  pending: PendingCount,
  waited = false,
): Promise<AgentStep> {
  const store = flavour.store;
  const memory = memoryOf(deps, flavour);
  const targetId = intermediateSnapshotId(snapshot.id, flavour.maxId);
  // Made in a backlog: it fills the cap, or its original was held back. Its receipt says so to any environment.
  const backlog = waited || pending.count + 1 >= deps.settings.maxIntermediateSnapshots;
  let outcome: 'started' | 'exists';
  try {
    // No describe first: the copy's deterministic name makes "already there" the answer of the copy itself.
    outcome = await store.copySnapshot({
      sourceId: snapshot.id,
      targetId,
      kmsKeyArn: deps.settings.shareKeyArn,
      tags: {
        [TAG_INTERMEDIATE]: 'true',
        [TAG_INTERMEDIATE_OF]: snapshot.id,
        'bunker:source-db': snapshot.dbInstanceId,
        ...(snapshot.createdAt ? { [TAG_SOURCE_CREATED_AT]: snapshot.createdAt } : {}),
        ...(backlog ? { [TAG_BACKLOG]: 'true' } : {}),
      },
    });
  } catch (error) {
    if (error instanceof CopyQuotaExceededError) {
      deps.log.warn('copy quota reached; retried when a copy finishes', { snapshotId: snapshot.id });
      memory.quotaFullAt = deps.clock.now().getTime();
      memory.deferred.set(snapshot.id, snapshot);
      return 'waiting-for-quota';
    }
    throw error;
  }
  memory.deferred.delete(snapshot.id);
  if (outcome === 'started') {
    pending.count += 1;
    deps.log.info('intermediate copy requested', {
      snapshotId: snapshot.id,
      targetId,
      why: shareBlocker(snapshot, deps.settings.shareKeyArn) ?? 'uniform share path',
    });
    // Just started: its own event (or the sweep) shares it when it is available.
    return 'rekeying';
  }
  const intermediate = await store.describeSnapshot(targetId);
  if (!intermediate || intermediate.status !== 'available') return 'rekeying';
  return shareAndNotify(intermediate, deps, flavour);
}

async function shareAndNotify(snapshot: RdsSnapshot, deps: AgentDeps, flavour: Flavour): Promise<AgentStep> {
  const store = flavour.store;
  if (snapshot.status !== 'available') return 'pending';
  if (snapshot.tags[TAG_NOTIFIED_AT]) return 'already-notified';
  const { backupAccount, sourceAccount, sourceRegion } = deps.settings;
  // Sharing is idempotent: asking once costs less than asking whether it is shared, then sharing.
  await store.share(snapshot.id, backupAccount);
  await deps.publisher.publish(
    notificationOf({
      kind: flavour.kind,
      sourceAccount,
      sourceRegion,
      id: snapshot.id,
      publishedAt: deps.clock.now(),
      sourceBacklog: sourceBacklogOf(memoryOf(deps, flavour), deps.clock.now().getTime()),
    }),
  );
  // Tagged after publishing: a crash in between publishes twice, which intake absorbs; never zero times.
  await store.tag(snapshot.arn, { [TAG_NOTIFIED_AT]: deps.clock.now().toISOString() });
  deps.log.info('snapshot shared and announced', { snapshotId: snapshot.id });
  return 'notified';
}

export interface AgentSweepSummary {
  readonly examined: number;
  readonly steps: Readonly<Partial<Record<AgentStep, number>>>;
  /** Intermediates deleted after the vault's receipt. */
  readonly deleted: number;
  /** Intermediates deleted past the hard horizon with no receipt: the alarm's count, never expected. */
  readonly expiredUncopied: number;
  /**
   * In-scope production snapshots (and images) older than the horizon that
   * the vault never confirmed copying: no longer picked up, so counted on
   * every sweep while they exist, for the alarm.
   */
  readonly agedOutUncopied: number;
}

/**
 * The hourly sweep: what the events missed. Handles in-scope originals
 * made within the hard horizon that have no intermediate yet, announces
 * available intermediates not yet announced, deletes intermediates the
 * vault has confirmed copying (after `intermediateRetentionHours`), and,
 * loudly, those past `intermediateHorizonHours` with no receipt.
 */
export async function sweepSource(deps: AgentDeps): Promise<AgentSweepSummary> {
  const summaries: AgentSweepSummary[] = [];
  for (const flavour of flavours(deps)) summaries.push(await sweepFlavour(deps, flavour));
  const steps: Partial<Record<AgentStep, number>> = {};
  for (const summary of summaries) {
    for (const [step, n] of Object.entries(summary.steps) as [AgentStep, number][])
      steps[step] = (steps[step] ?? 0) + n;
  }
  const total = (field: 'examined' | 'deleted' | 'expiredUncopied' | 'agedOutUncopied') =>
    summaries.reduce((n, s) => n + s[field], 0);
  return {
    examined: total('examined'),
    steps,
    deleted: total('deleted'),
    expiredUncopied: total('expiredUncopied'),
    agedOutUncopied: total('agedOutUncopied'),
  };
}

export type ReceiptStep = 'recorded' | 'already-recorded' | 'gone' | 'not-an-intermediate' | 'not-handled';

/**
 * The vault's receipt for one intermediate: tags it `bunker:copied-at`, so
 * the sweep may delete it. Re-reads the snapshot first, and only ever marks
 * the agent's own intermediates.
 */
export async function recordReceipt(receipt: Receipt, deps: AgentDeps): Promise<ReceiptStep> {
  const { sourceAccount, sourceRegion } = deps.settings;
  if (receipt.account !== sourceAccount || receipt.region !== sourceRegion) return 'not-handled';
  if (receipt.kind !== 'rds-snapshot' && receipt.kind !== 'aurora-cluster-snapshot') return 'not-handled';
  const flavour = flavourOf(deps, receipt.kind);
  if (!flavour) return 'not-handled';
  const snapshot = await flavour.store.describeSnapshot(receipt.id);
  if (!snapshot) return 'gone';
  if (!isIntermediate(snapshot)) return 'not-an-intermediate';
  const memory = memoryOf(deps, flavour);
  // Made in a backlog: whatever this environment remembers, originals may wait for the room this receipt frees.
  learnBacklog(memory, snapshot.tags, deps.clock.now().getTime());
  if (snapshot.tags[TAG_COPIED_AT]) {
    // A receipt again (SQS redelivers one whose handler crashed after tagging): the room it frees is still to use.
    await housekeeping(deps, flavour, 'room');
    return 'already-recorded';
  }
  // The original first: once the intermediate is gone, its tag is what says the original is done.
  const original = snapshot.tags[TAG_INTERMEDIATE_OF];
  if (original) await tagOriginal(snapshot, original, receipt.copiedAt, flavour);
  await flavour.store.tag(snapshot.arn, { [TAG_COPIED_AT]: receipt.copiedAt });
  deps.log.info('the vault holds its copy; intermediate may go', { snapshotId: snapshot.id });
  // It blocks no more: its place under the cap goes to a deferred original now, not after its retention.
  if (memory.pending && awaitsVault(snapshot)) memory.pending.count = Math.max(0, memory.pending.count - 1);
  memory.unannounced.delete(snapshot.id);
  memory.retained.set(snapshot.id, retainedUntil(receipt.copiedAt, deps.clock.now().getTime(), deps.settings));
  await housekeeping(deps, flavour, 'room');
  return 'recorded';
}

/**
 * Tags the production snapshot backed up, by the ARN its intermediate's own
 * gives (same account, Region and kind): no describe of it first. Only when
 * tagging fails is it read, to tell a deleted original (nothing left to
 * mark) from an error the receipt must come back for.
 */
async function tagOriginal(
  intermediate: RdsSnapshot,
  originalId: string,
  copiedAt: string,
  flavour: Flavour,
): Promise<void> {
  const arn = intermediate.arn.endsWith(`:${intermediate.id}`)
    ? `${intermediate.arn.slice(0, -intermediate.id.length)}${originalId}`
    : (await flavour.store.describeSnapshot(originalId))?.arn;
  if (!arn) return;
  try {
    await flavour.store.tag(arn, { [TAG_BACKED_UP_AT]: copiedAt });
  } catch (error) {
    if (await flavour.store.describeSnapshot(originalId)) throw error;
  }
}

async function sweepFlavour(deps: AgentDeps, flavour: Flavour): Promise<AgentSweepSummary> {
  const store = flavour.store;
  const now = deps.clock.now().getTime();
  // Originals are looked at for as long as an intermediate of theirs could be kept: a snapshot
  // waiting on the cap or a quota is found again by every sweep until the horizon.
  const windowStart = now - deps.settings.intermediateHorizonHours * 3_600_000;
  const all = await store.listSnapshots();
  const intermediates = all.filter(isIntermediate);
  const ids = new Set(all.map((s) => s.id));
  const steps: Partial<Record<AgentStep, number>> = {};
  const count = (step: AgentStep) => {
    steps[step] = (steps[step] ?? 0) + 1;
  };

  const memory = memoryOf(deps, flavour);
  let deleted = 0;
  let expiredUncopied = 0;
  let blocking = 0;
  for (const snapshot of intermediates) {
    const created = snapshot.createdAt ? Date.parse(snapshot.createdAt) : now;
    const fate =
      snapshot.status === 'available' ? intermediateFate(snapshot.tags, created, now, deps.settings) : 'keep';
    if (fate === 'keep') {
      if (awaitsVault(snapshot)) blocking += 1;
      count(await guarded(() => shareAndNotify(snapshot, deps, flavour), snapshot.id, deps));
      continue;
    }
    memory.retained.delete(snapshot.id);
    try {
      await store.deleteSnapshot(snapshot.id);
      if (fate === 'delete-copied') {
        deleted += 1;
        deps.log.info('intermediate copied by the vault, deleted', { snapshotId: snapshot.id });
      } else {
        expiredUncopied += 1;
        deps.log.error('intermediate deleted past the hard horizon with no receipt from the vault', {
          snapshotId: snapshot.id,
          horizonHours: deps.settings.intermediateHorizonHours,
        });
      }
    } catch (error) {
      // A failed delete must not stop the sweep: it is the backstop for lost events.
      deps.log.error('intermediate could not be deleted; the next sweep retries', {
        snapshotId: snapshot.id,
        error: String(error),
      });
      if (awaitsVault(snapshot)) blocking += 1;
    }
  }

  // The sweep counts afresh, and leaves its count for the events that follow. It is the backstop, so it tries
  // a copy AWS refused minutes ago.
  const live: PendingCount = { count: blocking, at: now };
  memory.pending = live;
  memory.quotaFullAt = undefined;
  memory.candidates = [];
  for (const id of memory.deferred.keys()) {
    if (ids.has(intermediateSnapshotId(id, flavour.maxId)) || !ids.has(id)) memory.deferred.delete(id);
  }
  const originals = all.filter(
    (s) =>
      !isIntermediate(s) &&
      !s.tags[TAG_BACKED_UP_AT] &&
      !ids.has(intermediateSnapshotId(s.id, flavour.maxId)) &&
      (s.createdAt ? Date.parse(s.createdAt) >= windowStart : true),
  );
  // One read of a resource's tags per sweep: a database's snapshots share them.
  const sweepTags = memo((resource: string) => store.instanceTags(resource));
  for (const snapshot of releaseOrder(originals, releasable, now, agingMsOf(deps.rpoHours?.[flavour.kind]))) {
    if (live.count >= deps.settings.maxIntermediateSnapshots && !memory.deferred.has(snapshot.id)) {
      // At the cap, its scope is not read now: it is judged when a receipt frees room, or by a later sweep.
      memory.candidates.push(snapshot);
      memory.capReachedAt = now;
      count('waiting-for-room');
      continue;
    }
    count(await guarded(() => rekey(snapshot, deps, flavour, live, sweepTags), snapshot.id, deps));
  }
  const agedOutUncopied = await countAgedOut(
    all.filter(
      (s) =>
        !isIntermediate(s) &&
        !s.tags[TAG_BACKED_UP_AT] &&
        !ids.has(intermediateSnapshotId(s.id, flavour.maxId)) &&
        s.createdAt !== undefined &&
        Date.parse(s.createdAt) < windowStart,
    ),
    deps,
    flavour,
    sweepTags,
  );
  return { examined: intermediates.length + originals.length, steps, deleted, expiredUncopied, agedOutUncopied };
}

/** In-scope originals past the horizon with no copy: logged and counted, never silently forgotten. */
async function countAgedOut(
  candidates: RdsSnapshot[],
  deps: AgentDeps,
  flavour: Flavour,
  sweepTags: (resource: string) => Promise<Record<string, string> | undefined>,
): Promise<number> {
  const verdicts = scopeCacheOf(deps.memory ?? flavour.store, flavour.kind);
  const now = deps.clock.now().getTime();
  let aged = 0;
  for (const snapshot of candidates) {
    const resource = snapshot.dbInstanceId;
    if (verdicts.knownOutOfScope(resource, snapshot.tags, now)) continue;
    const tags = (await sweepTags(resource).catch(() => undefined)) ?? snapshot.tags;
    const wanted = inScope(deps.settings.scopes[flavour.kind], resource, tags);
    verdicts.judged(resource, snapshot.tags, wanted, now);
    if (!wanted) continue;
    aged += 1;
    deps.log.error('an in-scope snapshot is older than the horizon and was never copied to the vault', {
      snapshotId: snapshot.id,
      horizonHours: deps.settings.intermediateHorizonHours,
    });
  }
  return aged;
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
