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
import * as engine from './agent/engine';
import {
  type AgentContext,
  type AgentStep,
  type AgentSweepSummary,
  type KindPort,
  type ReceiptStep,
  TAG_INTERMEDIATE,
  TAG_INTERMEDIATE_OF,
  TAG_NOTIFIED_AT,
  TAG_SOURCE_CREATED_AT,
} from './agent/engine';
import { agentMemory, type PendingCount, readOnce, type Releasable } from './agent/memory';
import { intermediateFate, TAG_BACKED_UP_AT, TAG_COPIED_AT } from './agent/retention';
import { scopeTagsToCarry } from './agent/carried-scope';
import { memo, scopeCacheOf } from './agent/scope-cache';
import { sameKmsKey } from './keys';
import { INTERMEDIATE_PREFIX, intermediateSnapshotId } from './names';
import { notificationOf, sourceBacklogOf } from './notification';
import type { RdsSnapshot, SourceRds } from './ports';
import type { Receipt } from './receipts';
import { inScope as scopeHolds } from './scope';
import type { ScopeSetting, SourceSettings } from './settings';

/** Where the agents' shared names lived before the shared core: the other modules import them from here. */
export type { AgentStep, AgentSweepSummary, ReceiptStep } from './agent/engine';
export { INTERMEDIATE_COUNT_TTL_MS, TAG_INTERMEDIATE, TAG_INTERMEDIATE_OF } from './agent/engine';
export { TAG_NOTIFIED_AT, TAG_SOURCE_CREATED_AT } from './agent/engine';

export interface AgentDeps extends AgentContext {
  readonly settings: SourceSettings;
  /** The account's DB instance snapshots. */
  readonly rds: SourceRds;
  /** The account's Aurora DB cluster snapshots, when the agent handles them (same port, cluster calls). */
  readonly clusters?: SourceRds;
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
 * An original held back: `judged` when its scope was read. An event at the
 * cap holds an original back unjudged: the scope read waits for room, so an
 * original held back by one environment and started by another (a receipt's
 * count finds it) is judged once, not twice, and one out of scope is judged
 * at most once too.
 */
interface Held {
  readonly snapshot: RdsSnapshot;
  readonly judged: boolean;
  /** Judged in scope by the resource's tags: the scope tag its intermediate carries (`./agent/carried-scope.ts`). */
  readonly carry?: Readonly<Record<string, string>>;
}

/** The RDS kinds' port of the shared core (`./agent/engine.ts`): how a DB or cluster snapshot is listed and copied. */
type RdsPort = KindPort<Held, RdsSnapshot>;

function portOf(deps: AgentDeps, flavour: Flavour): RdsPort {
  const { store } = flavour;
  return {
    kind: flavour.kind,
    memory: agentMemory(deps.memory, store).of<Held, RdsSnapshot>(flavour.kind),
    noun: 'snapshot',
    failure: { message: 'snapshot could not be handled; the next sweep retries', field: 'snapshotId' },
    scopeInListing: false,
    count: async () => {
      const all = await store.listSnapshots();
      const ids = new Set(all.map((s) => s.id));
      return {
        intermediates: all.filter(isIntermediate).map((snapshot) => ({
          id: snapshot.id,
          tags: snapshot.tags,
          ready: snapshot.status === 'available',
          ...(snapshot.createdAt !== undefined ? { madeAt: Date.parse(snapshot.createdAt) } : {}),
          announce: () => shareAndNotify(snapshot, deps, flavour),
        })),
        originals: all.filter(
          (s) =>
            !isIntermediate(s) && s.status === 'available' && !ids.has(intermediateSnapshotId(s.id, flavour.maxId)),
        ),
      };
    },
    view: (snapshot) => ({ id: snapshot.id, tags: snapshot.tags, takenAt: snapshot.createdAt }),
    originalOf: (held) => held.snapshot,
    releasable,
    retire: (id) => deleteIntermediate(id, deps, flavour),
    // Unjudged, it is judged now, as a candidate is (its entry is gone already: `housekeeping` deletes it first).
    startDeferred: ({ snapshot, judged, carry }, pending) =>
      judged
        ? startCopy(snapshot, deps, flavour, pending, carry ?? {}, true)
        : rekey(snapshot, deps, flavour, pending, (resource) => store.instanceTags(resource)),
    candidateStarter: () => {
      const tags = memo((resource: string) => store.instanceTags(resource));
      return (snapshot, pending) => rekey(snapshot, deps, flavour, pending, tags);
    },
  };
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
  const port = portOf(deps, flavour);
  if (isIntermediate(snapshot)) {
    const step = await shareAndNotify(snapshot, deps, flavour);
    if (snapshot.status === 'available') engine.copyFinished(port.memory, snapshot.id);
    await engine.housekeeping(port, deps, snapshot.status === 'available' ? 'quota' : 'nothing');
    return step;
  }
  const step = await rekey(snapshot, deps, flavour, await engine.pendingOf(port, deps));
  await engine.housekeeping(port, deps, 'nothing');
  return step;
}

/** Whether an intermediate blocks: made, and the vault has not yet said it holds its copy. */
export function awaitsVault(snapshot: RdsSnapshot): boolean {
  return isIntermediate(snapshot) && !snapshot.tags[TAG_COPIED_AT];
}

const HOUR_MS = 3_600_000;

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
 * Re-keys an original in scope. An event judges scope afresh, unless there
 * is no room under the cap: then it holds the original back unjudged
 * (`Held`), and it is judged where it starts; the sweep
 * (`sweepTags` given: its per-sweep read of a resource's tags) trusts a
 * recent out-of-scope verdict instead of reading the resource's tags again
 * (`./agent/scope-cache.ts`), and an original this container judged and
 * deferred is known in scope already. Either reuses a resource judged in
 * scope in the last ten minutes.
 */
async function rekey(
  snapshot: RdsSnapshot,
  deps: AgentDeps,
  flavour: Flavour,
  pending: PendingCount,
  sweepTags?: (resource: string) => Promise<Record<string, string> | undefined>,
): Promise<AgentStep> {
  const store = flavour.store;
  const port = portOf(deps, flavour);
  const { memory } = port;
  const resource = snapshot.dbInstanceId;
  const verdicts = scopeCacheOf(deps.memory ?? store, flavour.kind);
  const now = deps.clock.now().getTime();
  const deferred = sweepTags !== undefined ? memory.deferred.get(snapshot.id) : undefined;
  const known = deferred?.judged === true;
  let carry = deferred?.carry ?? {};
  if (!known && sweepTags === undefined && atCapUnjudged(snapshot, pending, deps)) {
    // An event at the cap: held back without reading the resource's tags, judged when there is room.
    const held = engine.heldBack(port, deps, snapshot.id, { snapshot, judged: false }, pending, false, now);
    if (held) return held;
  }
  if (!known) {
    if (sweepTags && verdicts.knownOutOfScope(resource, snapshot.tags, now)) return 'out-of-scope';
    // Judged in scope minutes ago (a burst's snapshots of one database): its tags are not read again.
    const recent = verdicts.recentInScope(resource, now);
    const ofResource = recent ?? (await (sweepTags ?? ((id: string) => store.instanceTags(id)))(resource));
    const scope = deps.settings.scopes[flavour.kind];
    const wanted = inScope(scope, resource, ofResource ?? snapshot.tags);
    verdicts.judged(resource, snapshot.tags, wanted, now, recent ? undefined : ofResource);
    if (!wanted) {
      memory.deferred.delete(snapshot.id);
      return 'out-of-scope';
    }
    // Only the resource's own tags are carried: a deleted resource's snapshot is judged on its own tags by the vault too.
    carry = scopeTagsToCarry(scope, ofResource);
  }
  // Already in the backup account: its intermediate may be gone, and must not be made again.
  if (snapshot.tags[TAG_BACKED_UP_AT]) return 'already-notified';
  if (snapshot.status !== 'available') return 'pending';
  // At the cap, an intermediate made already is found by the later copy's "already exists".
  const held = engine.heldBack(
    port,
    deps,
    snapshot.id,
    { snapshot, judged: true, carry },
    pending,
    sweepTags !== undefined,
    now,
  );
  if (held) return held;
  // Found by a count or the sweep rather than by its own event: it waited.
  return startCopy(snapshot, deps, flavour, pending, carry, sweepTags !== undefined);
}

/** Whether an event's original would only be held back at the cap once judged: available, not backed up, no room. */
function atCapUnjudged(snapshot: RdsSnapshot, pending: PendingCount, deps: AgentDeps): boolean {
  return (
    snapshot.status === 'available' &&
    !snapshot.tags[TAG_BACKED_UP_AT] &&
    pending.count >= deps.settings.maxIntermediateSnapshots
  );
}

/**
 * Requests an original's intermediate copy, judged in scope and with room
 * for it; `carry`: the scope tag read from the resource, for the vault.
 */
async function startCopy(
  snapshot: RdsSnapshot,
  deps: AgentDeps,
  flavour: Flavour,
  pending: PendingCount,
  carry: Readonly<Record<string, string>>,
  waited = false,
): Promise<AgentStep> {
  const store = flavour.store;
  const targetId = intermediateSnapshotId(snapshot.id, flavour.maxId);
  // Made in a backlog: it fills the cap, or its original was held back. Its receipt says so to any environment.
  const backlog = engine.backlogTags(waited, pending, deps);
  // No describe first: the copy's deterministic name makes "already there" the answer of the copy itself.
  const outcome = await engine.requestCopy(
    portOf(deps, flavour),
    deps,
    snapshot.id,
    { snapshot, judged: true, carry },
    () =>
      store.copySnapshot({
        sourceId: snapshot.id,
        targetId,
        kmsKeyArn: deps.settings.shareKeyArn,
        tags: {
          [TAG_INTERMEDIATE]: 'true',
          [TAG_INTERMEDIATE_OF]: snapshot.id,
          'bunker:source-db': snapshot.dbInstanceId,
          ...(snapshot.createdAt ? { [TAG_SOURCE_CREATED_AT]: snapshot.createdAt } : {}),
          ...backlog,
          ...carry,
        },
      }),
  );
  if (outcome === undefined) return 'waiting-for-quota';
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
      sourceBacklog: sourceBacklogOf(portOf(deps, flavour).memory, deps.clock.now().getTime()),
    }),
  );
  // Tagged after publishing: a crash in between publishes twice, which intake absorbs; never zero times.
  await store.tag(snapshot.arn, { [TAG_NOTIFIED_AT]: deps.clock.now().toISOString() });
  deps.log.info('snapshot shared and announced', { snapshotId: snapshot.id });
  return 'notified';
}

/**
 * The hourly sweep: what the events missed. Handles in-scope originals
 * made within the hard horizon that have no intermediate yet, announces
 * available intermediates not yet announced, deletes intermediates the
 * vault has confirmed copying (after `intermediateRetentionHours`), and,
 * loudly, those past `intermediateHorizonHours` with no receipt. `mode`
 * `scheduled` is the hourly schedule's: a kind is listed only when
 * `sweepDue` (`./agent/engine.ts`).
 */
export async function sweepSource(deps: AgentDeps, mode: engine.SweepMode = 'full'): Promise<AgentSweepSummary> {
  const tally = new engine.Tally();
  const now = deps.clock.now().getTime();
  for (const flavour of flavours(deps)) {
    // The hourly schedule lists a kind only when it is due (`sweepDue`): every few hours when nothing is known.
    if (engine.sweepDue(mode, portOf(deps, flavour).memory, deps.settings, now))
      await sweepFlavour(deps, flavour, tally);
  }
  return tally.summary();
}

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
  const original = snapshot.tags[TAG_INTERMEDIATE_OF];
  return engine.recordCopied(portOf(deps, flavour), deps, {
    id: snapshot.id,
    tags: snapshot.tags,
    copiedAt: receipt.copiedAt,
    original: async () => {
      if (original) await tagOriginal(snapshot, original, receipt.copiedAt, flavour);
    },
    intermediate: () => flavour.store.tag(snapshot.arn, { [TAG_COPIED_AT]: receipt.copiedAt }),
  });
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

async function sweepFlavour(deps: AgentDeps, flavour: Flavour, tally: engine.Tally): Promise<void> {
  const store = flavour.store;
  const now = deps.clock.now().getTime();
  // Originals are looked at for as long as an intermediate of theirs could be kept: a snapshot
  // waiting on the cap or a quota is found again by every sweep until the horizon.
  const windowStart = now - deps.settings.intermediateHorizonHours * HOUR_MS;
  const all = await store.listSnapshots();
  const intermediates = all.filter(isIntermediate);
  const ids = new Set(all.map((s) => s.id));
  const port = portOf(deps, flavour);
  const { memory } = port;
  let blocking = 0;
  tally.examined += intermediates.length;
  for (const snapshot of intermediates) {
    const created = snapshot.createdAt ? Date.parse(snapshot.createdAt) : now;
    const fate =
      snapshot.status === 'available' ? intermediateFate(snapshot.tags, created, now, deps.settings) : 'keep';
    if (fate === 'keep') {
      if (awaitsVault(snapshot)) blocking += 1;
      tally.count(await engine.guarded(port, deps, () => shareAndNotify(snapshot, deps, flavour), snapshot.id));
      continue;
    }
    memory.retained.delete(snapshot.id);
    try {
      await store.deleteSnapshot(snapshot.id);
      tally.removed(fate);
      if (fate === 'delete-copied') {
        deps.log.info('intermediate copied by the vault, deleted', { snapshotId: snapshot.id });
      } else {
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

  // The sweep counts afresh, and leaves its count for the events that follow.
  const live: PendingCount = { count: blocking, at: now };
  engine.sweepCounted(memory, live, (id) => ids.has(intermediateSnapshotId(id, flavour.maxId)) || !ids.has(id));
  const uncovered = all.filter(
    (s) => !isIntermediate(s) && !s.tags[TAG_BACKED_UP_AT] && !ids.has(intermediateSnapshotId(s.id, flavour.maxId)),
  );
  const recent = (s: RdsSnapshot) => (s.createdAt ? Date.parse(s.createdAt) >= windowStart : true);
  // One read of a resource's tags per sweep: a database's snapshots share them.
  const sweepTags = memo((resource: string) => store.instanceTags(resource));
  await engine.sweepOriginals(port, deps, uncovered.filter(recent), live, tally, now, (snapshot) =>
    rekey(snapshot, deps, flavour, live, sweepTags),
  );
  tally.agedOutUncopied += await countAgedOut(
    uncovered.filter((s) => s.createdAt !== undefined && Date.parse(s.createdAt) < windowStart),
    deps,
    flavour,
    sweepTags,
  );
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
