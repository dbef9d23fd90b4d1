/**
 * What both source agents do the same way, whatever the kind: the count of
 * the intermediates that await the vault (the cap), the originals held back
 * and their release (largest first, with aging), the housekeeping after each
 * invocation, the receipt's bookkeeping, and the sweep's leftovers. Written
 * once here against {@link KindPort}, so that the RDS agent
 * (`../rds-source-agent.ts`, DB and cluster snapshots) and the EC2 agent
 * (`./ec2-agent.ts`, EBS snapshots and AMIs) differ only in what a kind's
 * service makes differ: how an intermediate is found, named, copied, shared
 * and retired, and how an original's scope is judged.
 *
 * The same split as the vault's kind registry (`lambdas/kinds/`): the
 * decisions are kind-agnostic, the calls are the kind's. A fix to the cap,
 * the release order or the recovery of forgotten work reaches all four kinds
 * at once, and the tests of one kind's agent exercise the others' logic.
 */
import type { KindName } from '../../kinds/types';
import { CopyQuotaExceededError } from '../errors';
import { fnv1a } from '../pipeline/copy';
import type { Clock, Log, NotificationPublisher } from '../ports';
import type { SourceSettings } from '../settings';
import {
  type AgentMemory,
  agingMsOf,
  backlogTagOf,
  INTERMEDIATE_COUNT_TTL_MS,
  type Freed,
  type KindMemory,
  learnBacklog,
  LOST_EVENT_AGE_MS,
  MISSED_AFTER_MS,
  type PendingCount,
  quotaFull,
  recentlyAtCap,
  recentlyBusy,
  type Releasable,
  releaseOrder,
  releasing,
  stale,
  TAG_BACKLOG,
  worthTrying,
} from './memory';
import { retainedUntil, TAG_BACKED_UP_AT, TAG_COPIED_AT } from './retention';

/** Tags on the agents' intermediates, of every kind. */
export const TAG_INTERMEDIATE = 'bunker:intermediate';
export const TAG_INTERMEDIATE_OF = 'bunker:source-snapshot';
export const TAG_NOTIFIED_AT = 'bunker:notified-at';
/** When production took the snapshot (or image) the intermediate was copied from. */
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

export type ReceiptStep = 'recorded' | 'already-recorded' | 'gone' | 'not-an-intermediate' | 'not-handled';

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

export { INTERMEDIATE_COUNT_TTL_MS } from './memory';

const HOUR_MS = 3_600_000;

/**
 * How the hourly schedule sweeps a kind when the environment it lands in
 * knows of no work of the kind: every this many hours, in an hour set by the
 * account and Region (`sweepDue`). Listing every kind of every account every
 * hour was a fixed cost that an account with a few snapshots a night paid
 * two dozen times per snapshot (4.7 listings per Aurora snapshot in the
 * fleet run). What the longer period gives up is bounded: it only delays
 * what no event, receipt or count of the account found first (an original
 * whose own event was lost in an account where nothing else happens, a
 * "copy finished" event lost likewise, a confirmed intermediate's delete),
 * by at most this many hours instead of one. Six: half the aging share of
 * the default 24-hour RPO, so an artifact whose event was lost still has
 * 18 hours for its copies.
 */
export const QUIET_SWEEP_HOURS = 6;

/**
 * What a sweep lists: `full`, every kind it handles (tests, a one-off run);
 * `scheduled`, what the hourly schedule runs: each kind only when
 * {@link sweepDue}.
 */
export type SweepMode = 'full' | 'scheduled';

/**
 * Whether this environment knows of work of the kind that waits for
 * something only a sweep may do in time: originals held back or found
 * waiting, intermediates its count found unannounced, a copy quota refused,
 * the cap reached or nearly lately. Not the intermediates merely awaiting
 * the vault (their receipts come) nor confirmed ones kept for their
 * retention (a later delete costs storage only).
 */
export function knowsWork(memory: KindMemory<unknown, unknown>, now: number): boolean {
  return (
    memory.deferred.size > 0 ||
    memory.candidates.length > 0 ||
    memory.unannounced.size > 0 ||
    quotaFull(memory, now) ||
    recentlyAtCap(memory, now) ||
    recentlyBusy(memory, now)
  );
}

/**
 * Whether the scheduled sweep lists a kind now: always in a full sweep;
 * else when this environment knows of work of the kind ({@link knowsWork}),
 * or once every {@link QUIET_SWEEP_HOURS} in the account's own hour (by a
 * hash of the account and Region, so the fleet's listings are spread over
 * the period rather than all in one hour).
 */
export function sweepDue(
  mode: SweepMode,
  memory: KindMemory<unknown, unknown>,
  settings: Pick<SourceSettings, 'sourceAccount' | 'sourceRegion'>,
  now: number,
): boolean {
  if (mode === 'full' || knowsWork(memory, now)) return true;
  const hour = Math.floor(now / HOUR_MS);
  return hour % QUIET_SWEEP_HOURS === fnv1a(`${settings.sourceAccount}:${settings.sourceRegion}`) % QUIET_SWEEP_HOURS;
}

/** What both agents work with besides their services' ports: each agent's deps are this and its ports. */
export interface AgentContext {
  readonly settings: SourceSettings;
  readonly publisher: NotificationPublisher;
  readonly clock: Clock;
  readonly log: Log;
  /** This container's memory (`./memory.ts`); without it, one is kept per port object. */
  readonly memory?: AgentMemory;
  /**
   * Each kind's RPO in hours (the config's `rpoHours`): an original that has
   * waited half of it goes ahead of larger ones (`releaseOrder`). Absent: 24.
   */
  readonly rpoHours?: Partial<Record<KindName, number>>;
}

/** An intermediate a count's listing found, in the words the core decides on. */
export interface CountedIntermediate {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Its copy finished (`available`, `completed`): it can be shared and announced. */
  readonly ready: boolean;
  /** When its copy was made (ms), when the service says. */
  readonly madeAt?: number;
  /** Shares and announces it (the kind's calls). */
  announce(): Promise<AgentStep>;
}

/** What a count lists: the intermediates that count, and the originals ready to copy that have none. */
export interface Counted<Candidate> {
  readonly intermediates: readonly CountedIntermediate[];
  /** Ready (available, completed), not an intermediate, with no intermediate in the listing. */
  readonly originals: readonly Candidate[];
}

/** What the core reads of an original: what the describe or listing that found it gave. */
export interface OriginalView {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  /** When production took it, ISO 8601, when the service says. */
  readonly takenAt?: string;
}

/**
 * One kind of one agent in one account and Region: the calls that differ
 * per service, and the container's memory of the kind. `Deferred` is what a
 * held-back original keeps (what starting it needs), `Candidate` what a
 * listing gives of an original not judged yet.
 */
export interface KindPort<Deferred, Candidate> {
  readonly kind: KindName;
  readonly memory: KindMemory<Deferred, Candidate>;
  /** How log lines name one of the kind's items: `snapshot` or `image`, by `snapshotId` or `imageId`. */
  readonly noun: 'snapshot' | 'image';
  /** How the "could not be handled" line reads, and the field it names the item by. */
  readonly failure: { readonly message: string; readonly field: string };
  /**
   * Whether judging an original's scope costs no request (an image's tags are
   * in its listing): then the sweep judges and holds back an original at the
   * cap, rather than leave it a candidate for the next receipt.
   */
  readonly scopeInListing: boolean;
  /** Lists the account's intermediates and originals of the kind (one listing). */
  count(): Promise<Counted<Candidate>>;
  /** The id, tags and time taken of an original. */
  view(original: Candidate): OriginalView;
  /** The original a held-back entry is about. */
  originalOf(deferred: Deferred): Candidate;
  /** Its size and time taken, for the release order (read once per original object). */
  releasable(original: Candidate): Releasable;
  /** Deletes (or deregisters) a confirmed intermediate whose retention ended; a failure is logged, left to the sweep. */
  retire(id: string): Promise<unknown>;
  /** Starts the copy of an original held back, judged in scope already. */
  startDeferred(deferred: Deferred, pending: PendingCount): Promise<AgentStep>;
  /**
   * A starter for the candidates of one invocation: judges each as the sweep
   * does (reading a resource's tags once for as long as the starter is kept),
   * then copies it unless it is held back.
   */
  candidateStarter(): (original: Candidate, pending: PendingCount) => Promise<AgentStep>;
}

/**
 * The intermediates of the kind that await the vault, counted by a listing
 * at most once per {@link INTERMEDIATE_COUNT_TTL_MS}. The cap counts only
 * these: an intermediate the vault confirmed blocks nothing, it is only kept
 * for its retention (deleted by the environment that recorded its receipt,
 * or the sweep: an environment that only counted it leaves it, or every
 * environment that counts would try the same delete). The same listing is
 * the quick backstop for a lost "copy finished" event: a ready intermediate
 * still unannounced at the next count (so not merely ahead of its event), or
 * at the first when made {@link LOST_EVENT_AGE_MS} ago, is announced then,
 * minutes after, not at the sweep. It also shows the originals with no
 * intermediate that are older than their own event ({@link MISSED_AFTER_MS}):
 * missed, or held back by an environment that is gone; they start when there
 * is room.
 */
export async function pendingOf<D, C>(port: KindPort<D, C>, ctx: AgentContext): Promise<PendingCount> {
  const { memory } = port;
  const now = ctx.clock.now().getTime();
  if (memory.pending && now - memory.pending.at < INTERMEDIATE_COUNT_TTL_MS) return memory.pending;
  const { intermediates, originals } = await port.count();
  const pending: PendingCount = { count: intermediates.filter((i) => !i.tags[TAG_COPIED_AT]).length, at: now };
  memory.pending = pending;
  if (pending.count >= ctx.settings.maxIntermediateSnapshots) memory.capReachedAt = now;
  // The same listing shows the originals still without an intermediate, for when this container has room.
  const horizon = now - ctx.settings.intermediateHorizonHours * HOUR_MS;
  // Old enough that their own event has come and gone: missed, or held back by an environment that is gone.
  const missed = now - MISSED_AFTER_MS;
  memory.candidatesAt = now;
  memory.candidates = originals.filter((original) => {
    const { id, tags, takenAt } = port.view(original);
    const taken = takenAt ? Date.parse(takenAt) : undefined;
    return (
      !tags[TAG_BACKED_UP_AT] &&
      !memory.deferred.has(id) &&
      (taken === undefined || (taken >= horizon && taken <= missed))
    );
  });
  const unannounced = new Set<string>();
  for (const found of intermediates) {
    if (found.tags[TAG_COPIED_AT] || !found.ready || found.tags[TAG_NOTIFIED_AT]) continue;
    unannounced.add(found.id);
    const old = found.madeAt !== undefined && now - found.madeAt >= LOST_EVENT_AGE_MS;
    if (!old && !memory.unannounced.has(found.id)) memory.unannounced.set(found.id, now);
    else await guarded(port, ctx, () => found.announce(), found.id);
  }
  for (const id of memory.unannounced.keys()) if (!unannounced.has(id)) memory.unannounced.delete(id);
  return pending;
}

/**
 * What this container can do without being asked, after each event and
 * receipt it handles: retire the confirmed intermediates whose retention
 * ended, and start held-back originals while the cap has room and the copy
 * quota was not found full since the last finished copy. No request is made
 * to learn that there is still no room: the container knows its count.
 */
export async function housekeeping<D, C>(port: KindPort<D, C>, ctx: AgentContext, freed: Freed): Promise<void> {
  const { memory } = port;
  const { settings } = ctx;
  const now = ctx.clock.now().getTime();
  for (const [id, until] of memory.retained) {
    if (until > now) continue;
    memory.retained.delete(id);
    await port.retire(id);
  }
  if (!worthTrying(memory, freed, settings.maxIntermediateSnapshots, now)) return;
  const pending = await pendingOf(port, ctx);
  const room = () => pending.count < settings.maxIntermediateSnapshots && !quotaFull(memory, now);
  const horizon = now - settings.intermediateHorizonHours * HOUR_MS;
  // The held-back originals (judged in scope) and the count's candidates (not judged yet) in one order: largest
  // first, and any that waited half its RPO before them.
  type Entry = { readonly original: C; readonly deferred?: D };
  const waiting = releasing<Entry>(
    [
      ...[...memory.deferred.values()].map((deferred) => ({ original: port.originalOf(deferred), deferred })),
      ...memory.candidates.map((original) => ({ original })),
    ],
    ({ original }) => port.releasable(original),
    now,
    agingMsOf(ctx.rpoHours?.[port.kind]),
  );
  const tried = new Set<C>();
  let candidatesLeft = true;
  const start = port.candidateStarter();
  for (const { original, deferred } of waiting) {
    if (!room()) break;
    const { id, takenAt } = port.view(original);
    if (deferred !== undefined) {
      memory.deferred.delete(id);
      // Past the horizon it is the sweep's to count as aged out, not to copy.
      if (takenAt && Date.parse(takenAt) < horizon) continue;
      const step = await guarded(port, ctx, () => port.startDeferred(deferred, pending), id);
      ctx.log.info('deferred intermediate copy started', { [port.failure.field]: id, step });
      continue;
    }
    // Room left after the held-back: the originals another container held back (or whose event was lost), judged
    // as the sweep judges them.
    if (!candidatesLeft) continue;
    tried.add(original);
    const before = pending.count;
    const step = await guarded(port, ctx, () => start(original, pending), id);
    ctx.log.info('waiting original started', { [port.failure.field]: id, step });
    // Already started by another environment since the count: the rest of its list was listed as waiting at the
    // same moment, so it waits for the next count rather than cost a scope read and a copy request each.
    if (stale(step, before, pending)) candidatesLeft = false;
  }
  if (!candidatesLeft) {
    // Started elsewhere since the count: what it showed waiting is unknown until the next count.
    memory.candidates = [];
    memory.candidatesAt = undefined;
  } else if (tried.size > 0) memory.candidates = memory.candidates.filter((original) => !tried.has(original));
}

/** An intermediate's copy finished: a copy slot of the account freed, so what waited on the quota may go now. */
export function copyFinished(memory: KindMemory<unknown, unknown>, id: string): void {
  memory.quotaFullAt = undefined;
  memory.unannounced.delete(id);
}

/**
 * Whether an original judged in scope must wait: at the cap (back-pressure:
 * never delete an intermediate the vault may not have copied yet; started
 * when a receipt frees room, no request until then), or, when `askQuota` is
 * false, because AWS refused a copy on its quota minutes ago, as of `now`
 * (when the caller began judging it). The step to answer when it waits (it
 * is then held back), `undefined` when it may go.
 */
export function heldBack<D, C>(
  port: KindPort<D, C>,
  ctx: AgentContext,
  id: string,
  deferred: D,
  pending: PendingCount,
  askQuota: boolean,
  now: number,
): AgentStep | undefined {
  const { memory } = port;
  const limit = ctx.settings.maxIntermediateSnapshots;
  if (pending.count >= limit) {
    if (!memory.deferred.has(id)) {
      ctx.log.warn(`intermediate ${port.noun} limit reached; started when a receipt frees room`, {
        [`${port.noun}Id`]: id,
        limit,
      });
    }
    memory.capReachedAt = now;
    memory.deferred.set(id, deferred);
    return 'waiting-for-room';
  }
  // An event does not ask what AWS answered minutes ago; the sweep, the backstop, does.
  if (!askQuota && quotaFull(memory, now)) {
    memory.deferred.set(id, deferred);
    return 'waiting-for-quota';
  }
  return undefined;
}

/** The tags that say a copy about to start is made in a backlog (`TAG_BACKLOG`, `backlogTagOf`); none when not. */
export function backlogTags(waited: boolean, pending: PendingCount, ctx: AgentContext): Record<string, string> {
  const value = backlogTagOf(waited, pending.count + 1, ctx.settings.maxIntermediateSnapshots);
  return value ? { [TAG_BACKLOG]: value } : {};
}

/**
 * Requests an intermediate copy: its answer, or `undefined` when AWS refused
 * it on the copy quota (logged; the original is held back until a copy of
 * the kind finishes). Either way it is no longer held back on success.
 */
export async function requestCopy<D, C, T>(
  port: KindPort<D, C>,
  ctx: AgentContext,
  id: string,
  deferred: D,
  copy: () => Promise<T>,
): Promise<T | undefined> {
  let answer: T;
  try {
    answer = await copy();
  } catch (error) {
    if (!(error instanceof CopyQuotaExceededError)) throw error;
    ctx.log.warn('copy quota reached; retried when a copy finishes', { [`${port.noun}Id`]: id });
    port.memory.quotaFullAt = ctx.clock.now().getTime();
    port.memory.deferred.set(id, deferred);
    return undefined;
  }
  port.memory.deferred.delete(id);
  return answer;
}

/** How a receipt's intermediate is marked: the kind's tag requests, the original first. */
export interface ReceiptMarks {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly copiedAt: string;
  /** Tags the production original `bunker:backed-up-at`. */
  original(): Promise<void>;
  /** Tags the intermediate `bunker:copied-at`. */
  intermediate(): Promise<void>;
}

/**
 * The vault's receipt for one of the agent's intermediates, read afresh: it
 * is tagged `bunker:copied-at` (its original `bunker:backed-up-at` first:
 * once the intermediate is gone, that tag is what says the original is
 * done), it blocks no more, and it may go after its retention. The room it
 * frees goes at once to what waits.
 */
export async function recordCopied<D, C>(
  port: KindPort<D, C>,
  ctx: AgentContext,
  marks: ReceiptMarks,
): Promise<ReceiptStep> {
  const { memory } = port;
  // Made in a backlog: whatever this environment remembers, originals may wait for the room this receipt frees.
  learnBacklog(memory, marks.tags, ctx.clock.now().getTime());
  if (marks.tags[TAG_COPIED_AT]) {
    // A receipt again (SQS redelivers one whose handler crashed after tagging): the room it frees is still to use.
    await housekeeping(port, ctx, 'room');
    return 'already-recorded';
  }
  await marks.original();
  await marks.intermediate();
  ctx.log.info('the vault holds its copy; intermediate may go', { [port.failure.field]: marks.id });
  // It blocks no more: its place under the cap goes to a held-back original now, not after its retention.
  if (memory.pending) memory.pending.count = Math.max(0, memory.pending.count - 1);
  memory.unannounced.delete(marks.id);
  memory.retained.set(marks.id, retainedUntil(marks.copiedAt, ctx.clock.now().getTime(), ctx.settings));
  await housekeeping(port, ctx, 'room');
  return 'recorded';
}

/**
 * What a sweep leaves for the events that follow, once it has counted the
 * intermediates afresh: its count, no quota refusal (it is the backstop, so
 * it tries a copy AWS refused minutes ago), no candidates of an older count,
 * and no held-back original that `done` (it has an intermediate, or is gone).
 */
export function sweepCounted(
  memory: KindMemory<unknown, unknown>,
  pending: PendingCount,
  done: (id: string) => boolean,
): void {
  memory.pending = pending;
  memory.quotaFullAt = undefined;
  memory.candidates = [];
  memory.candidatesAt = pending.at;
  for (const id of memory.deferred.keys()) if (done(id)) memory.deferred.delete(id);
}

/**
 * The sweep's originals with no intermediate, in the release order. At the
 * cap, an original not held back already is not judged now (a scope read
 * each, unless the kind's scope is in its listing): it becomes a candidate,
 * judged when a receipt frees room, or by a later sweep.
 */
export async function sweepOriginals<D, C>(
  port: KindPort<D, C>,
  ctx: AgentContext,
  originals: readonly C[],
  pending: PendingCount,
  tally: Tally,
  now: number,
  rekey: (original: C) => Promise<AgentStep>,
): Promise<void> {
  const { memory } = port;
  for (const original of releaseOrder(
    originals,
    (o) => port.releasable(o),
    now,
    agingMsOf(ctx.rpoHours?.[port.kind]),
  )) {
    tally.examined += 1;
    const { id } = port.view(original);
    if (!port.scopeInListing && pending.count >= ctx.settings.maxIntermediateSnapshots && !memory.deferred.has(id)) {
      memory.candidates.push(original);
      memory.capReachedAt = now;
      tally.count('waiting-for-room');
      continue;
    }
    tally.count(await guarded(port, ctx, () => rekey(original), id));
  }
}

/** One item's failure is logged and left for the next sweep; it never stops the others. */
export async function guarded<D, C>(
  port: KindPort<D, C>,
  ctx: AgentContext,
  work: () => Promise<AgentStep>,
  id: string,
): Promise<AgentStep> {
  try {
    return await work();
  } catch (error) {
    ctx.log.error(port.failure.message, { [port.failure.field]: id, error: String(error) });
    return 'pending';
  }
}

/** A sweep's counts, over every kind it sweeps. */
export class Tally {
  examined = 0;
  private deleted = 0;
  private expiredUncopied = 0;
  agedOutUncopied = 0;
  private readonly steps: Partial<Record<AgentStep, number>> = {};

  count(step: AgentStep): void {
    this.steps[step] = (this.steps[step] ?? 0) + 1;
  }

  /** Only what the summary reports: deletions after a receipt, and past the horizon; others are logged only. */
  removed(fate: string): void {
    if (fate === 'delete-copied') this.deleted += 1;
    if (fate === 'delete-past-horizon') this.expiredUncopied += 1;
  }

  summary(): AgentSweepSummary {
    return {
      examined: this.examined,
      steps: { ...this.steps },
      deleted: this.deleted,
      expiredUncopied: this.expiredUncopied,
      agedOutUncopied: this.agedOutUncopied,
    };
  }
}
