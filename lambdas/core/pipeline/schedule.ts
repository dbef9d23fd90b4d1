/**
 * Scheduling at the quota bound: a copy slot that frees is refilled by the
 * invocation that freed it, not by the next sweep, and the record that gets
 * it is chosen fairly across source accounts.
 *
 * The choice is a walk round the ring of source accounts: the slot freed by
 * a copy of account A goes to the oldest waiting record of the first account
 * after A that has one (wrapping round). Every account with waiting work
 * gets a slot within one turn of the ring, however many snapshots another
 * account queued, and each step of the walk is one single-item query of the
 * inventory's queue index. A record whose source resource already holds a
 * slot is refused by the claim (`busy`), moves behind its account's other
 * waiting records, and the walk goes on: a resource never holds two slots,
 * since AWS would copy its snapshots one after another anyway.
 *
 * With the source backlog board (`./backlog.ts`), half of the freed slots
 * (by the freed copy's id) start the walk at the account whose agent holds
 * the most originals back instead of after the freed copy's account: the
 * largest accounts are fed from the start of a burst instead of being left
 * alone at its end, and the other half keeps every account's turn.
 */
import { type InventoryRecord, resourceKeyOf } from '../inventory';
import { backlogTurn, type BacklogEntry, forgetStaleLead, longestBacklog } from './backlog';
import { type CopyStep, settleCopy, startCopy, type VaultDeps } from './copy';
import { type CopyLocation, type CopyView, type KindName, KIND_NAMES, MAX_COPIES_PER_LOOK } from '../../kinds/types';
import { poolOf } from '../../kinds/registry';
import { CopyWatch } from './watch';

/**
 * Records the walk may try to fill one freed slot: each refused one (its
 * resource busy, or taken by another worker meanwhile) costs a claim; the
 * sweep is the backstop beyond.
 */
export const MAX_PICKS = 8;
/**
 * The sweep's picks per free slot: it is the backstop for a slot the walk
 * left free because every record it tried waited on a busy resource.
 */
export const SWEEP_MAX_PICKS = 64;

/**
 * The ring position just before `account`: a walk from it reads the oldest
 * waiting record of `account` itself, or, when `account` has none, of the
 * next account round the ring (`nextWaiting` answers the first account
 * above the position). Account ids are compared as strings; the position
 * sorts above every shorter prefix and below `account`.
 */
export function ringPositionBefore(account: string): string {
  if (account.length === 0) return '';
  return `${account.slice(0, -1)}${String.fromCharCode(account.charCodeAt(account.length - 1) - 1)}\uffff`;
}

/**
 * How far a container with no ring turn of a pool yet moves its start round
 * the registered accounts per minute of the clock ({@link coldRingStart}).
 */
export const COLD_RING_STEP_MS = 60_000;

/**
 * Where a container's first ring turn of a pool starts: just before the
 * registered account the clock points at, one account further each
 * {@link COLD_RING_STEP_MS}, so containers that start cold (scaled out,
 * reclaimed idle, crashed) spread their walks round the whole ring.
 * Starting after the freed copy's account instead put every cold start
 * just after the accounts that hold the most slots, and with containers
 * recycled often the ring turns went round only the accounts that follow
 * them: in the faults run at seed 10 an account with 600 snapshots waiting
 * at the vault had no slot for ten hours. `undefined` with no registered
 * account.
 */
export function coldRingStart(sources: readonly { readonly account: string }[], nowMs: number): string | undefined {
  const accounts = [...new Set(sources.map((source) => source.account))].sort();
  if (accounts.length === 0) return undefined;
  return ringPositionBefore(accounts[Math.floor(nowMs / COLD_RING_STEP_MS) % accounts.length]);
}

/**
 * Fills one free slot of `pool` with the next waiting record of the ring
 * walk after `afterAccount`, or, with `backlogFirst` and a backlog board,
 * from the account with the longest source backlog on (one more query).
 * Answers the step of the record that took the slot, the `deferred` step
 * that says the pool (or AWS's quota) is full, or `undefined` when nothing
 * waits.
 */
export async function startNext(
  deps: VaultDeps,
  pool: string,
  afterAccount?: string,
  maxPicks = MAX_PICKS,
  backlogFirst = false,
): Promise<CopyStep | undefined> {
  const tried = new Set<string>();
  const lead = backlogFirst && deps.backlogs ? await longestBacklog(deps, pool) : undefined;
  const longest = lead?.account;
  const cold =
    longest === undefined && deps.ring !== undefined && deps.ring.after(pool) === undefined
      ? coldRingStart(deps.settings.sources, deps.clock.now().getTime())
      : undefined;
  let after = longest === undefined ? (deps.ring?.after(pool) ?? cold ?? afterAccount) : ringPositionBefore(longest);
  for (let pick = 0; pick < maxPicks; pick += 1) {
    let candidate = await deps.inventory.nextWaiting(pool, after);
    // The lead has nothing waiting at the vault: a lead whose agent stopped reporting is let go.
    if (pick === 0 && lead && candidate?.sourceAccount !== lead.account) await forgetStaleLead(deps, pool, lead);
    // A cold start that lands on the freed copy's account passes it once: that account just had its turn.
    if (pick === 0 && cold !== undefined && afterAccount !== undefined && candidate?.sourceAccount === afterAccount)
      candidate = await deps.inventory.nextWaiting(pool, afterAccount);
    // Nothing waits: the slot stays free, and the next artifact of the pool should try to claim it.
    if (!candidate) {
      deps.ring?.sawRoom(pool);
      return undefined;
    }
    // The walk came round to a record it tried: nothing else waits that could start now.
    if (tried.has(candidate.artifactId)) return undefined;
    tried.add(candidate.artifactId);
    const step = await startCopy(deps, candidate, { lookAtOnce: false });
    if (step.step === 'started' || step.step === 'in-progress') {
      if (longest === undefined) deps.ring?.served(pool, candidate.sourceAccount ?? '');
      return step;
    }
    if (step.step === 'deferred' && step.wait !== 'resource') return step;
    // Its resource is busy, another worker took it, or it finished at once: the slot is still free.
    after = candidate.sourceAccount;
  }
  return undefined;
}

/**
 * How long a container trusts that a pool it saw full is still full: a new
 * artifact that arrives meanwhile is recorded waiting without a claim that
 * would be refused (one write, not two). Safe because every copy in flight
 * in that pool starts the next waiting one when it completes, and the sweep
 * is the backstop: a stale hint costs the artifact its wait for the next
 * completion of the pool (a saturated pool of 20 copies of about 6 minutes
 * completes one every 18 s). A walk in this container that leaves a slot
 * free ends the hint at once; only a pool whose queue ran dry within the
 * minute in other containers, with no copy of it left in flight, leaves such
 * an artifact to the sweep (15 minutes): the last minute of a burst.
 */
export const POOL_FULL_HINT_MS = 60_000;

/**
 * How long a container trusts that a source resource it saw hold a copy
 * slot (its own claim, a claim refused because of it, its look's copies in
 * flight) still holds it, unless it saw that copy leave its slot since: a
 * record of that resource the walk or intake reaches meanwhile waits behind
 * its account's other records at once, as a claim refused `busy` would have
 * it do, without the claim (one write, not two). RDS copies take minutes,
 * so a copy seen within the minute is usually still running; a stale hint
 * costs that record one turn of the ring, never the slot: the walk goes on
 * and fills it with the next account's record.
 */
export const BUSY_HINT_MS = 60_000;

/**
 * How often a container looks at all the copies in flight of a pool with one
 * batched describe ({@link lookAtPool}), from an invocation that runs anyway.
 */
export const POOL_LOOK_MS = 15_000;
/**
 * The fewest copies at once of a pool that is looked at blind, every
 * {@link POOL_LOOK_MS}: a look finds about `limit × event delay / copy time`
 * copies finished and not yet announced, about 1.9 in a pool of 20 RDS
 * copies of 5.8 minutes (events 33 s late on average). In a smaller pool (the
 * Aurora pool of 5: 0.5 a look) a blind look costs more requests than it
 * saves; there a look is less frequent ({@link SMALL_POOL_LOOK_FACTOR}) and
 * describes only copies past their expected time ({@link SMALL_POOL_DUE}),
 * which is what finds a copy whose completion event was lost.
 */
export const LOOK_MIN_LIMIT = 20;
/**
 * A pool of fewer than {@link LOOK_MIN_LIMIT} copies is looked at this many
 * times less often per copy slot: every 2 minutes for the Aurora pool of 5.
 */
export const SMALL_POOL_LOOK_FACTOR = 2;
/**
 * How far past its expected time (the container's learned line) a copy of a
 * small pool must be for a look to describe it; a container that has learned
 * no line yet describes those in flight for a whole look period of the pool.
 */
export const SMALL_POOL_DUE = 1.3;
/** Copies a container remembers having settled by a look, so their events cost nothing. */
export const SETTLED_MEMORY = 1_000;

/**
 * Where this container's ring turns stopped, per pool: the next ring turn
 * starts after the account it last served, so the ring goes round every
 * account with work waiting whoever frees the slots. Without it a ring
 * turn starts after the freed copy's account, which is the same ring while
 * accounts free slots in turn, but not when the longest backlog holds
 * many of them: every slot it frees would start the walk at the same
 * place, and the accounts far round the ring would wait for hours.
 *
 * In the container, as the agent's memory is: a cold container starts
 * where the clock points round the registered accounts
 * ({@link coldRingStart}), passing the freed copy's account once, and
 * several containers each go round the ring, which only gives an account
 * more turns. It also keeps the
 * last read of the backlog board for `BACKLOG_READ_TTL_MS` (a minute): reports
 * change every few minutes, slots free every few seconds.
 */
export class RingMemory {
  /** The copies this container requested, to settle one whose completion event was lost ({@link lookAtOverdue}). */
  readonly copies = new CopyWatch();
  private readonly last = new Map<string, string>();
  private readonly longest = new Map<string, { readonly entry: BacklogEntry | undefined; readonly atMs: number }>();
  private readonly full = new Map<string, number>();
  private readonly looked = new Map<string, number>();
  private readonly settledByLook = new Map<string, string>();
  private readonly reported = new Set<string>();
  private readonly busy = new Map<string, number>();

  /** `lookEveryMs`: how often a pool's copies in flight are looked at together ({@link lookAtPool}); 0: never. */
  constructor(readonly lookEveryMs = POOL_LOOK_MS) {}

  /**
   * Whether `pool`, of `limit` copies at once, is due a batched look at
   * `nowMs`; when it is, the look is taken (marked at `nowMs`). A pool of
   * {@link LOOK_MIN_LIMIT} copies or more is looked at every `lookEveryMs`;
   * a smaller one {@link SMALL_POOL_LOOK_FACTOR} times less often per slot.
   */
  takeLook(pool: string, nowMs: number, limit = LOOK_MIN_LIMIT): boolean {
    if (this.lookEveryMs <= 0) return false;
    const at = this.looked.get(pool);
    if (at !== undefined && nowMs - at < this.lookPeriodMs(limit)) return false;
    this.looked.set(pool, nowMs);
    return true;
  }

  /** A completion event's look at `pool` was taken at `nowMs` ({@link lookForEvent}): the next is a period on. */
  markLook(pool: string, nowMs: number): void {
    this.looked.set(pool, nowMs);
  }

  /** How often this container looks at a pool of `limit` copies at once. */
  lookPeriodMs(limit: number): number {
    return limit >= LOOK_MIN_LIMIT
      ? this.lookEveryMs
      : (this.lookEveryMs * SMALL_POOL_LOOK_FACTOR * LOOK_MIN_LIMIT) / Math.max(1, limit);
  }

  /** A look of this container settled the copy `targetId` (its record's write won). */
  lookSettled(targetId: string, artifactId: string): void {
    this.settledByLook.set(targetId, artifactId);
    // The event of a look's copy arrives within minutes: the oldest entries are let go.
    if (this.settledByLook.size > SETTLED_MEMORY)
      this.settledByLook.delete(this.settledByLook.keys().next().value as string);
  }

  /** The artifact whose copy `targetId` a look of this container settled; its event needs no request. */
  settledBy(targetId: string): string | undefined {
    return this.settledByLook.get(targetId);
  }

  /**
   * Whether this is the first long backlog of `account` for `pool` this
   * container records (`recordBacklog` in `./backlog.ts`); marks it recorded.
   * Bounded like the looks' memory: the oldest entries are let go.
   */
  firstReport(pool: string, account: string): boolean {
    const key = `${pool}|${account}`;
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    if (this.reported.size > SETTLED_MEMORY) this.reported.delete(this.reported.values().next().value as string);
    return true;
  }

  /**
   * Whether this container saw `pool` full within {@link POOL_FULL_HINT_MS}
   * of `nowMs` and has not seen a slot of it left free since.
   */
  seenFull(pool: string, nowMs: number): boolean {
    const at = this.full.get(pool);
    return at !== undefined && nowMs - at < POOL_FULL_HINT_MS;
  }

  /** A claim of `pool` was refused for want of a slot (or its walk stopped on a full pool) at `nowMs`. */
  sawFull(pool: string, nowMs: number): void {
    this.full.set(pool, nowMs);
  }

  /**
   * The source resource `resource` (`resourceKeyOf`) held a copy slot at
   * `nowMs`: this container claimed one for it, a claim was refused because
   * of it, or a look saw its copy in flight. Bounded like the looks' memory.
   */
  sawBusy(resource: string | undefined, nowMs: number): void {
    if (resource === undefined) return;
    this.busy.delete(resource);
    this.busy.set(resource, nowMs);
    if (this.busy.size > SETTLED_MEMORY) this.busy.delete(this.busy.keys().next().value as string);
  }

  /**
   * Whether this container saw `resource` hold a slot within
   * {@link BUSY_HINT_MS} of `nowMs` and has not seen that copy leave it since.
   */
  seenBusy(resource: string | undefined, nowMs: number): boolean {
    if (resource === undefined) return false;
    const at = this.busy.get(resource);
    return at !== undefined && nowMs - at < BUSY_HINT_MS;
  }

  /**
   * A look at `pool` found `resources` holding its slots at `nowMs` (the
   * query names every copy of the pool in flight): they are busy, and any
   * other resource of the pool this container counted busy is not, its copy
   * having ended in whichever container. Resource keys begin with their pool
   * (`resourceKeyOf`).
   */
  sawInFlight(pool: string, resources: readonly (string | undefined)[], nowMs: number): void {
    const named = new Set(resources.filter((r): r is string => r !== undefined));
    for (const key of [...this.busy.keys()]) if (key.startsWith(`${pool}|`) && !named.has(key)) this.busy.delete(key);
    for (const key of named) this.sawBusy(key, nowMs);
  }

  /** A copy of `resource` left its slot in this container: settled, failed or sent back to wait. */
  resourceFreed(resource: string | undefined): void {
    if (resource !== undefined) this.busy.delete(resource);
  }

  /** A slot of `pool` was left free: nothing waited for it. */
  sawRoom(pool: string): void {
    this.full.delete(pool);
  }

  /**
   * The longest backlog of `pool` this container read within `ttlMs` of
   * `nowMs` (`{ entry: undefined }` when it read none); `undefined` when it
   * must read the board again.
   */
  longestRead(pool: string, nowMs: number, ttlMs: number): { readonly entry: BacklogEntry | undefined } | undefined {
    const read = this.longest.get(pool);
    return read && nowMs - read.atMs < ttlMs ? read : undefined;
  }

  readLongest(pool: string, entry: BacklogEntry | undefined, nowMs: number): void {
    this.longest.set(pool, { entry, atMs: nowMs });
  }

  /** Lets this container's last read of `pool`'s board go: the next board turn reads it again. */
  forgetLongest(pool: string): void {
    this.longest.delete(pool);
  }

  /** The account this container's last ring turn of `pool` served; `undefined` before its first. */
  after(pool: string): string | undefined {
    return this.last.get(pool);
  }

  served(pool: string, account: string): void {
    this.last.set(pool, account);
  }
}

/** The kind whose copies fill `pool` (a pool is named after its kind and Region). */
function kindOfPool(pool: string): KindName | undefined {
  return KIND_NAMES.find((kind) => pool.startsWith(`${kind}@`));
}

/** Whether a step left a slot of the record's pool free that the invocation should refill. */
export function freedSlot(step: CopyStep): boolean {
  return step.step === 'available' || step.step === 'failed';
}

/**
 * Settles a `copying` record and, when its copy finished or failed, starts
 * the next waiting copy of its pool in the same invocation (completion and
 * intake). `seen` is the copy as just read, when the caller read it.
 */
export async function settleAndRefill(
  deps: VaultDeps,
  record: InventoryRecord,
  seen?: { readonly copy: CopyView | undefined },
): Promise<CopyStep> {
  const step = await settleCopy(deps, record, seen);
  await refillAfter(deps, record, step);
  return step;
}

/**
 * After a step that freed a slot, starts the next waiting copy of the
 * record's pool. A failure to start is logged, never thrown: the step it
 * follows is done, and the sweep is the backstop.
 */
export async function refillAfter(
  deps: VaultDeps,
  record: InventoryRecord,
  step: CopyStep,
  look = true,
): Promise<void> {
  if (!freedSlot(step) || !record.pool) return;
  try {
    const next = await startNext(deps, record.pool, record.sourceAccount, MAX_PICKS, backlogTurn(record.artifactId));
    if (next)
      deps.log.info('next copy of the pool', {
        pool: record.pool,
        artifactId: next.record.artifactId,
        step: next.step,
      });
    if (look && deps.ring && next?.step === 'started') {
      await lookAtPool(deps, record.pool);
      await lookAtOverdue(deps, record.pool);
    }
  } catch (error) {
    deps.log.error('next copy not started; the sweep starts it', { pool: record.pool, error: String(error) });
  }
}

/**
 * Looks at this container's most overdue copy of `pool` ({@link CopyWatch}),
 * if one is due: reads its record (another container may have settled it)
 * and, while it is still `copying`, describes and settles it as its event
 * would have, then refills the slot it frees. Called by invocations that
 * run anyway while the pool is full: a completion that refilled its slot,
 * an artifact that found no slot. At most one look each; an error is
 * logged, never thrown (the sweep is the backstop).
 *
 * Not for a pool this container looks at in batches ({@link pooledLooks}):
 * its look, called just before, names every copy in flight, overdue ones
 * included, every {@link POOL_LOOK_MS}; reading an overdue copy's record
 * besides cost 0.15 inventory reads per RDS artifact in the fleet run and
 * found nothing the look did not.
 */
export async function lookAtOverdue(deps: VaultDeps, pool: string): Promise<CopyStep | undefined> {
  if (pooledLooks(deps, pool)) {
    deps.ring?.copies.prune(pool, deps.clock.now().getTime());
    return undefined;
  }
  const artifactId = deps.ring?.copies.takeDue(pool, deps.clock.now().getTime());
  if (!artifactId) return undefined;
  try {
    const record = await deps.inventory.get(artifactId);
    if (!record || record.status !== 'copying') {
      deps.ring?.copies.ended(artifactId, deps.clock.now().getTime(), false);
      return undefined;
    }
    const step = await settleCopy(deps, record);
    deps.log.info('overdue copy looked at', { pool, artifactId, step: step.step });
    await refillAfter(deps, record, step, false);
    return step;
  } catch (error) {
    deps.log.error('overdue copy not looked at; the sweep looks', { pool, artifactId, error: String(error) });
    return undefined;
  }
}

/**
 * Whether this container looks at `pool`'s copies in flight in batches
 * ({@link lookAtPool}): its looks are on, the pool's copier describes copies
 * in batches (RDS, Aurora), and one query can name all of the pool's copies
 * in flight (its limit is at most {@link MAX_COPIES_PER_LOOK}).
 */
export function pooledLooks(deps: VaultDeps, pool: string): boolean {
  const kind = kindOfPool(pool);
  return (
    deps.ring !== undefined &&
    deps.ring.lookEveryMs > 0 &&
    kind !== undefined &&
    deps.copiers[kind]?.describeCopies !== undefined &&
    deps.settings.kinds[kind].copyLimit <= MAX_COPIES_PER_LOOK
  );
}

/**
 * One batched look at the copies in flight in `pool`, when this container's
 * last look at the pool is older than the ring's `lookEveryMs`: one query of
 * the inventory's `copying:<pool>` index ({@link Inventory.copiesInFlight})
 * names every copy of the pool whose request was recorded, whichever
 * container requested it, and one request (the copier's `describeCopies`)
 * answers for up to a hundred of them. Each copy it shows finished or failed
 * is settled with the record the query returned, on the same path and with
 * the same conditional writes as its completion event (a record settled
 * since loses on its version), and each slot that frees starts the pool's
 * next copy. An event that then lands in this container finds the copy in
 * its memory and costs nothing. Answers the steps of the copies settled. An
 * error is logged, never thrown: the events and the sweep settle what a look
 * does not.
 */
export async function lookAtPool(deps: VaultDeps, pool: string): Promise<CopyStep[]> {
  const ring = deps.ring;
  const kind = kindOfPool(pool);
  const copier = kind ? deps.copiers[kind] : undefined;
  if (!ring || !kind || !copier?.describeCopies) return [];
  const limit = deps.settings.kinds[kind].copyLimit;
  if (!ring.takeLook(pool, deps.clock.now().getTime(), limit)) return [];
  try {
    const records = await deps.inventory.copiesInFlight(pool, Math.min(limit, MAX_COPIES_PER_LOOK));
    return (await settleLooked(deps, pool, records)).steps;
  } catch (error) {
    deps.log.error('pool not looked at; the events and the sweep settle its copies', { pool, error: String(error) });
    return [];
  }
}

/**
 * Describes, in one request, the copies of `records` (a pool's copies in
 * flight, as its `copying:<pool>` query answered) that a look describes, and
 * settles each one AWS shows finished or failed with the record the query
 * returned; each slot that frees starts the pool's next copy. A pool of
 * fewer than {@link LOOK_MIN_LIMIT} copies describes only its overdue ones.
 * `event`, when a completion event of one of them is handled: that copy is
 * described whatever its age, settled first (its event time teaches the
 * container's line) and its slot refilled with the event's own look at the
 * overdue copies; its step is answered as `eventStep`.
 */
async function settleLooked(
  deps: VaultDeps,
  pool: string,
  records: readonly InventoryRecord[],
  event?: InventoryRecord,
): Promise<{ readonly steps: CopyStep[]; readonly eventStep?: CopyStep }> {
  const ring = deps.ring;
  const kind = kindOfPool(pool);
  const copier = kind ? deps.copiers[kind] : undefined;
  if (!kind || !copier?.describeCopies) return { steps: [] };
  const limit = deps.settings.kinds[kind].copyLimit;
  const nowMs = deps.clock.now().getTime();
  // The query named every copy in flight: their resources hold slots (`BUSY_HINT_MS`), no other of the pool does,
  // and those settled below let theirs go.
  ring?.sawInFlight(pool, records.map(resourceKeyOf), nowMs);
  const inFlight = records
    .filter((record) => record === event || limit >= LOOK_MIN_LIMIT || (ring && overdue(ring, record, nowMs, limit)))
    .flatMap((record) =>
      record.targetName && record.targetRegion
        ? [
            {
              record,
              location: { targetName: record.targetName, targetId: record.targetId, region: record.targetRegion },
            },
          ]
        : [],
    );
  const region = event?.targetRegion ?? inFlight[0]?.location.region;
  const described = inFlight.filter((c) => c.location.region === region);
  if (!region || described.length === 0) return { steps: [] };
  const copies = await copier.describeCopies(
    described.map((c) => c.location),
    region,
  );
  const byTarget = new Map(copies.map((copy) => [copy.targetId, copy]));
  const seenOf = (location: CopyLocation) => byTarget.get(location.targetId ?? location.targetName);
  const steps: CopyStep[] = [];
  let eventStep: CopyStep | undefined;
  const first = described.find((c) => c.record === event);
  if (first) {
    // The event's own copy: a copy AWS no longer knows is left to the sweep, as the event's describe did.
    const copy = seenOf(first.location);
    eventStep = copy
      ? await settleAndRefill(deps, first.record, { copy })
      : { step: 'unchanged', record: first.record };
    if (copy && freedSlot(eventStep)) ring?.lookSettled(copy.targetId, first.record.artifactId);
  }
  for (const { record, location } of described) {
    if (record === event) continue;
    const copy = seenOf(location);
    if (!copy || copy.state === 'pending') continue;
    const step = await settleCopy(deps, record, { copy }, false);
    if (freedSlot(step)) ring?.lookSettled(copy.targetId, record.artifactId);
    steps.push(step);
    await refillAfter(deps, record, step, false);
  }
  if (steps.length > 0) deps.log.info('copies settled by a look', { pool, settled: steps.length });
  return { steps, eventStep };
}

/** What a completion event's look found ({@link lookForEvent}). */
export type EventLook =
  | { readonly found: true; readonly record: InventoryRecord; readonly step: CopyStep }
  /** `complete`: the query listed every copy of the pool in flight, so the event's copy is settled already or is not Bunker's. */
  | { readonly found: false; readonly complete: boolean };

/**
 * A completion event of a pool whose copier describes copies in batches
 * (RDS, Aurora): the event's copy is found among the pool's copies in
 * flight (one query of `copying:<pool>`, which names every copy whose
 * request was recorded and returns its record), and, when it is there, it
 * and the pool's other copies are described in one request and settled as
 * a look settles them ({@link settleLooked}). Two requests, as the event's
 * describe and record read were, and the event's copy is found from the
 * inventory, not from the copy's tags. A copy the query does not name is
 * settled already (by a look or an event in another container) or is not
 * Bunker's: one request, and the pool is looked at with the records just
 * read when this container's look is due.
 */
export async function lookForEvent(deps: VaultDeps, kind: KindName, targetId: string): Promise<EventLook> {
  const pool = poolOf(kind, deps.settings.backupRegion);
  const limit = deps.settings.kinds[kind].copyLimit;
  const records = await deps.inventory.copiesInFlight(pool, MAX_COPIES_PER_LOOK);
  const event = records.find((record) => (record.targetId ?? record.targetName) === targetId);
  const nowMs = deps.clock.now().getTime();
  if (!event) {
    if (deps.ring?.takeLook(pool, nowMs, limit)) {
      try {
        await settleLooked(deps, pool, records);
      } catch (error) {
        deps.log.error('pool not looked at; the events and the sweep settle its copies', {
          pool,
          error: String(error),
        });
      }
    }
    return { found: false, complete: records.length < MAX_COPIES_PER_LOOK };
  }
  // This is the container's look at the pool: the next is a period on.
  deps.ring?.markLook(pool, nowMs);
  const { eventStep } = await settleLooked(deps, pool, records, event);
  return { found: true, record: event, step: eventStep ?? { step: 'unchanged', record: event } };
}

/**
 * A small pool's copy is described by a look only once past its expected
 * time ({@link SMALL_POOL_DUE} times it); in an environment that has
 * learned no line yet, once it has been in flight for a whole look period
 * of the pool (2 minutes for a pool of 5), so a copy requested a moment ago
 * is left to its event or the next look.
 */
function overdue(ring: RingMemory, record: InventoryRecord, nowMs: number, limit: number): boolean {
  if (!record.pool) return false;
  const expected = ring.copies.expectedSeconds(record.pool, record.sizeGiB ?? 0);
  const age = nowMs - Date.parse(record.copyStartedAt ?? record.updatedAt);
  return expected === undefined ? age >= ring.lookPeriodMs(limit) : age >= SMALL_POOL_DUE * expected * 1000;
}

/**
 * The sweep's order for one pool's waiting records: round-robin over source
 * accounts (in account order), oldest first within each, so the backstop
 * is as fair as the walk.
 */
export function fairOrder(records: readonly InventoryRecord[]): InventoryRecord[] {
  const byAccount = new Map<string, InventoryRecord[]>();
  for (const record of records) {
    const account = record.sourceAccount ?? '';
    byAccount.set(account, [...(byAccount.get(account) ?? []), record]);
  }
  const queues = [...byAccount.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, queue]) => queue.sort((a, b) => a.updatedAt.localeCompare(b.updatedAt)));
  const order: InventoryRecord[] = [];
  for (let round = 0; order.length < records.length; round += 1) {
    for (const queue of queues) if (round < queue.length) order.push(queue[round]);
  }
  return order;
}
