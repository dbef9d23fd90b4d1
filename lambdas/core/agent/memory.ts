/**
 * What one agent container remembers between invocations, per kind: how
 * many of its intermediates await the vault, the originals it deferred,
 * the intermediates whose receipt came and that may go at a known time, and
 * the unannounced intermediates its last count saw.
 *
 * In the container on purpose, as the scope cache is: nothing in a source
 * account may hold the agent's state (no table, and production's snapshots
 * take no tag but `bunker:backed-up-at`). What one container does not know,
 * another container's events or the hourly sweep do: every entry is a
 * shortcut, never the only way to an outcome.
 *
 * The handler makes one per container (`agent-wiring.ts`); the simulation
 * one per simulated container. Without one, the agent keeps one per port
 * object, which is one per container in the handler and one per test
 * fixture in the tests.
 */
import type { KindName } from '../../kinds/types';

/** The intermediates of a kind that block: made and not yet confirmed by the vault's receipt. */
export interface PendingCount {
  count: number;
  /** When it was counted by a listing (ms); kept up to date with what this container does since. */
  readonly at: number;
}

/** What this container knows of one kind in its account and Region. */
export class KindMemory<Original, Candidate = Original> {
  pending?: PendingCount;
  /**
   * Originals the last count's listing showed with no intermediate and no
   * mark of being backed up, not judged yet: the ones other containers
   * deferred (or whose event was lost), for when this container has room.
   */
  candidates: Candidate[] = [];
  /**
   * When {@link candidates} were last set by a count (a sweep's included),
   * `undefined` once they were found stale: the backlog this container
   * reports is only as good as that count ({@link INTERMEDIATE_COUNT_TTL_MS}).
   */
  candidatesAt?: number;
  /** When this container last found the cap reached: while recent, a receipt here looks for originals to start. */
  capReachedAt?: number;
  /**
   * When a receipt's intermediate said it was made with more than half the
   * cap taken (`bunker:backlog=busy`): while recent, a receipt here looks for
   * originals to start too, but the account is not reported as at its cap.
   */
  busyAt?: number;
  /** Originals judged in scope that wait for room or for the copy quota, with what starting them needs (released in {@link releaseOrder}). */
  readonly deferred = new Map<string, Original>();
  /** Intermediates the vault confirmed, by id (or ARN), with when their retention ends (ms). */
  readonly retained = new Map<string, number>();
  /** Available intermediates a count found unannounced, with when (ms): announced if the next count still finds them. */
  readonly unannounced = new Map<string, number>();
  /** When AWS last refused an intermediate copy on its quota; cleared when a copy of the kind finishes. */
  quotaFullAt?: number;
}

/** One container's memory of the agent's work, by kind. */
export class AgentMemory {
  private readonly kinds = new Map<KindName, KindMemory<unknown, unknown>>();

  of<Original, Candidate = Original>(kind: KindName): KindMemory<Original, Candidate> {
    let found = this.kinds.get(kind);
    if (!found) this.kinds.set(kind, (found = new KindMemory<unknown, unknown>()));
    return found as KindMemory<Original, Candidate>;
  }
}

const byPort = new WeakMap<object, AgentMemory>();

/** The memory the deps name, or the one kept for their port object when they name none. */
export function agentMemory(memory: AgentMemory | undefined, port: object): AgentMemory {
  if (memory) return memory;
  let found = byPort.get(port);
  if (!found) byPort.set(port, (found = new AgentMemory()));
  return found;
}

/**
 * How long a count of the account's intermediates is reused by the events
 * an agent container handles: counting lists every snapshot of the account,
 * so doing it per event made a burst of N snapshots cost N listings. The
 * count is kept up to date with the copies the container starts and the
 * receipts it records; other containers' can make it off by their number,
 * which the next count corrects. The sweep counts afresh. The backlog a
 * container reports to the vault is only reported within this time of its
 * count (`sourceBacklogOf` in `../notification.ts`).
 */
export const INTERMEDIATE_COUNT_TTL_MS = 5 * 60_000;

/** A quota refusal is trusted this long when no finished copy clears it first (a lost event, another container's copy). */
export const QUOTA_FULL_MS = 5 * 60_000;

/** Whether starting a copy now is worth a request: AWS said "full" recently and no copy of the kind has finished since. */
export function quotaFull(kind: KindMemory<unknown, unknown>, now: number): boolean {
  return kind.quotaFullAt !== undefined && now - kind.quotaFullAt < QUOTA_FULL_MS;
}

/** How long after the cap was last found reached a receipt still looks for originals others deferred. */
export const BUSY_MS = 60 * 60_000;

/** Whether the account was at the cap lately, as this container saw it or a receipt's intermediate said. */
export function recentlyAtCap(kind: KindMemory<unknown, unknown>, now: number): boolean {
  return kind.capReachedAt !== undefined && now - kind.capReachedAt < BUSY_MS;
}

/** Whether a receipt's intermediate lately said the account was busy (more than half its cap taken). */
export function recentlyBusy(kind: KindMemory<unknown, unknown>, now: number): boolean {
  return kind.busyAt !== undefined && now - kind.busyAt < BUSY_MS;
}

/**
 * An original this much older than a count is one whose own event should
 * have come and gone (events arrive within seconds to a minute): it was
 * missed, or deferred by an environment that is gone. Younger ones are left
 * to their own event, so a count during a burst does not race it.
 */
export const MISSED_AFTER_MS = 5 * 60_000;

/**
 * An available intermediate made this long ago and still unannounced at a
 * count lost its "copy finished" event: announced at that count, not the
 * next one (a cold environment may not live to make a second). Should its
 * event only be late, the announcement is made twice, which intake absorbs.
 */
export const LOST_EVENT_AGE_MS = 30 * 60_000;

/**
 * On an intermediate: made in a backlog, `true` (it filled the cap, or its
 * original had been held back), or `busy` (with it, more than
 * {@link BUSY_SHARE} of the cap awaits the vault). A receipt about it tells
 * an environment with no memory of its own that the account may have
 * originals waiting, so it counts and finds what waits, rather than leaving
 * it to the hourly sweep; only `true` also makes the environment report the
 * account's backlog to the vault (`sourceBacklogOf`), as before `busy`
 * existed. Set by the copy request itself: no request of its own.
 */
export const TAG_BACKLOG = 'bunker:backlog';

/**
 * The share of the cap beyond which a new intermediate is made "in a
 * backlog". Not only the one that fills the cap: the environment that held
 * originals back may be gone (crashed, reclaimed) and the one that filled
 * the cap with it, while the receipts of the account's other intermediates
 * reach new environments that know nothing; in the 300-artifact fault
 * campaign (seeds 22 and 30) the originals such an environment held back
 * then waited for the hourly sweep. Half: an account that never has half
 * its cap in flight at once (a few snapshots a night) never pays the count
 * a receipt then makes, and one that does is where originals are held back.
 */
export const BUSY_SHARE = 0.5;

/** The `TAG_BACKLOG` value of an intermediate about to be made, with `countAfter` then awaiting the vault. */
export function backlogTagOf(waited: boolean, countAfter: number, cap: number): 'true' | 'busy' | undefined {
  if (waited || countAfter >= cap) return 'true';
  return countAfter > cap * BUSY_SHARE ? 'busy' : undefined;
}

/** Whether an intermediate was made in a backlog (see {@link TAG_BACKLOG}). */
export function madeInBacklog(tags: Readonly<Record<string, string>>): boolean {
  return tags[TAG_BACKLOG] === 'true';
}

/** What a receipt's intermediate tells a container: made in a backlog, the account was at the cap as of now. */
export function learnBacklog(
  kind: KindMemory<unknown, unknown>,
  tags: Readonly<Record<string, string>>,
  now: number,
): void {
  if (madeInBacklog(tags)) kind.capReachedAt = Math.max(kind.capReachedAt ?? now, now);
  else if (tags[TAG_BACKLOG] === 'busy') kind.busyAt = now;
}

/**
 * Whether a candidate a count found turned out to be started already (by
 * another environment since the count): no new copy (`pending` did not
 * grow), and not judged out of scope or held back. The count's other
 * candidates are as old: better left to the next count than each paid a
 * scope read and a copy request to learn the same.
 */
export function stale(step: string, countBefore: number, pending: PendingCount): boolean {
  return pending.count === countBefore && step !== 'out-of-scope' && !step.startsWith('waiting-');
}

/**
 * What the invocation just saw free: `room` (a receipt: an intermediate
 * blocks no more), `quota` (a copy finished: a copy slot of the account), or
 * nothing (a production snapshot: nothing freed).
 */
export type Freed = 'room' | 'quota' | 'nothing';

/**
 * Whether, after what was `freed`, originals are worth a try. A finished
 * copy frees no room under the cap: with the known count (however old) at
 * the cap, nothing is asked; with room, the deferred originals and those a
 * count found missed or forgotten go. A receipt frees room, so a container
 * that knows of a backlog (its own deferrals, its count's candidates, the
 * cap reached lately, by itself or as the receipt's intermediate says)
 * counts if its count is stale and starts what waits. A production
 * snapshot frees nothing, but the count its own check just made may show
 * originals missed or forgotten, and room for them.
 */
export function worthTrying(kind: KindMemory<unknown, unknown>, freed: Freed, cap: number, now: number): boolean {
  if (quotaFull(kind, now)) return false;
  const waiting = kind.deferred.size > 0 || kind.candidates.length > 0;
  if (freed === 'room') return waiting || recentlyAtCap(kind, now) || recentlyBusy(kind, now);
  return waiting && (kind.pending?.count ?? cap) < cap;
}

/** The RPO an agent assumes when its deps name none: the config's default `rpoHours`. */
export const DEFAULT_RPO_HOURS = 24;

/**
 * The share of its RPO an original may wait before it goes ahead of larger
 * ones. Half: the other half is left for the intermediate, the vault's wait
 * for a slot and its copy.
 */
export const AGING_SHARE = 0.5;

/** How old an original is when it stops yielding to larger ones, for a kind whose RPO is `rpoHours`. */
export function agingMsOf(rpoHours: number | undefined): number {
  return (rpoHours ?? DEFAULT_RPO_HOURS) * AGING_SHARE * 3_600_000;
}

/** What the release order reads of an original: what the agent's describe or listing already gave. */
export interface Releasable {
  /** Its size, when AWS reports one (an AMI's: the sum of its block devices' volume sizes). */
  readonly sizeGiB?: number;
  /** When production took it (ms); unknown counts as new. */
  readonly takenAt?: number;
}

/**
 * `of`, read once per original object: an account at its cap holds hundreds
 * back, and every invocation with room looks at all of them again.
 */
export function readOnce<T extends object>(of: (original: T) => Releasable): (original: T) => Releasable {
  const read = new WeakMap<T, Releasable>();
  return (original) => {
    let found = read.get(original);
    if (!found) read.set(original, (found = of(original)));
    return found;
  };
}

/**
 * The order in which an agent releases the originals that wait for room:
 * those older than `agingMs` first, oldest first, so a small snapshot is
 * never held past its share of the RPO behind a stream of large ones; then
 * the others largest first, oldest first among equal or unknown sizes.
 *
 * Largest first because a copy's time grows with its size, and a burst ends
 * on the bound only when the long copies start early (longest processing
 * time first): released oldest first, the last copy of the fleet burst, a
 * database of a few TB, was requested 21 hours in and took 2.7 more. The
 * size costs no request: it is in the describe or listing that found the
 * original. Stable: equal keys keep the order given.
 */
export function releaseOrder<T>(
  originals: readonly T[],
  of: (original: T) => Releasable,
  now: number,
  agingMs: number,
): T[] {
  return keyedOf(originals, of, now, agingMs)
    .sort(releasedBefore)
    .map((k) => k.original);
}

/**
 * The same order as {@link releaseOrder}, one original at a time: each
 * next one is a scan of those left, so an invocation that has room for one
 * or two (a receipt frees one) does not sort the hundreds an account at
 * its cap holds back.
 */
export function* releasing<T>(
  originals: readonly T[],
  of: (original: T) => Releasable,
  now: number,
  agingMs: number,
): Generator<T> {
  const left = keyedOf(originals, of, now, agingMs);
  while (left.length > 0) {
    let best = 0;
    for (let i = 1; i < left.length; i += 1) if (releasedBefore(left[i], left[best]) < 0) best = i;
    yield left[best].original;
    left.splice(best, 1);
  }
}

interface Keyed<T> {
  readonly original: T;
  readonly at: number;
  readonly taken: number;
  readonly aged: boolean;
  readonly size: number;
}

function keyedOf<T>(originals: readonly T[], of: (original: T) => Releasable, now: number, agingMs: number) {
  return originals.map((original, at): Keyed<T> => {
    const { sizeGiB, takenAt } = of(original);
    const taken = takenAt !== undefined && Number.isFinite(takenAt) ? takenAt : now;
    return { original, at, taken, aged: now - taken > agingMs, size: sizeGiB ?? 0 };
  });
}

/** Negative when `a` goes first: aged before not aged; oldest first among the aged, else largest first. */
function releasedBefore<T>(a: Keyed<T>, b: Keyed<T>): number {
  return (
    Number(b.aged) - Number(a.aged) ||
    (a.aged ? a.taken - b.taken : b.size - a.size || a.taken - b.taken) ||
    a.at - b.at
  );
}
