/**
 * The source backlog board: how many originals each source account's agent
 * holds back at its cap, per pool, as its notifications say
 * (`sourceBacklog`), so the scheduler can serve the longest backlog first
 * with part of the freed slots.
 *
 * Why the vault needs it: an account at its agent's cap shows the vault
 * only a cap's worth of waiting records, whatever it holds back, so an
 * account with 25 snapshots and one with 667 look alike at the vault until
 * the first runs out. Served an equal share each, the largest accounts are
 * left alone at the end of a burst, where one account cannot feed a pool
 * (its cap and its own copy quota bound what it delivers), and the pool
 * idles. Serving the longest backlog with half of the freed slots lets the
 * largest accounts start early; the other half keeps the ring's turn for
 * every account (see `startNext` in `./schedule.ts`).
 *
 * The board is a hint: a lost or stale report changes an order, never
 * whether a copy is made. A report older than {@link BACKLOG_MAX_AGE_MS} is
 * let go when a board turn finds none of its account's records waiting at
 * the vault (`forgetStaleLead`), and intake writes one report in
 * {@link BACKLOG_REPORT_EVERY} (chosen by the artifact's id) to keep the
 * requests per artifact near the minimum, and an account's first report of
 * a long backlog ({@link FIRST_REPORT_MIN_BACKLOG}) an intake container
 * sees, whatever its id.
 */
import type { ArtifactRef } from '../../kinds/types';
import { artifactId, poolOf } from '../../kinds/registry';
import { fnv1a, type VaultDeps } from './copy';

/** One account's report for one pool. */
export interface BacklogEntry {
  readonly account: string;
  /** Originals the agent holds back; 0 removes the entry. */
  readonly backlog: number;
  /** When intake recorded it (ISO 8601): a newer report replaces an older one, never the reverse. */
  readonly at: string;
}

/**
 * The board's port. In AWS (a proposal, see docs/performance.md): one item
 * per pool and account in the inventory table, `backlog:<pool>|<account>`,
 * with the sparse queue index's attributes set while the backlog is above
 * 0 (`queue` = `backlog:<pool>`, `queueKey` = `<999999 - backlog, 6
 * digits>#<account>`), so the longest is one `Limit: 1` query.
 */
export interface SourceBacklogs {
  /**
   * Records the account's report for `pool` unless a newer one is recorded
   * (one conditional write); a backlog of 0 removes the entry.
   */
  report(pool: string, entry: BacklogEntry): Promise<void>;
  /** The entry with the longest backlog of `pool`, the lowest account first on a tie (one single-item query). */
  longest(pool: string): Promise<BacklogEntry | undefined>;
  /** Removes the account's entry of `pool` if it is still the one recorded at `at` (a stale report). */
  forget(pool: string, account: string, at: string): Promise<void>;
}

/** Intake records one report in this many, by the artifact's id: a report per artifact would be a write per artifact. */
export const BACKLOG_REPORT_EVERY = 4;

/**
 * A backlog this long is recorded from the first notification that carries
 * it to an intake container, chosen by its id or not: one account in fifty
 * with hundreds waiting had none of its first 14 notifications chosen, one
 * in four, in the fleet run at seed 8 (the chance is (3/4)^14, about 2 %),
 * and was not on the board for 11 hours. One write per container and
 * account, and only for an account that holds back this many.
 */
export const FIRST_REPORT_MIN_BACKLOG = 50;

/**
 * A report this old is stale: the agent reports while it was at its cap
 * within the hour, so an account still holding originals back and being
 * served reports again long before this. A stale report still leads while
 * its account has records waiting at the vault (an account whose
 * intermediates all wait there announces nothing, so its report ages while
 * its backlog does not shrink); it is let go when a board turn finds none.
 */
export const BACKLOG_MAX_AGE_MS = 2 * 60 * 60_000;

/**
 * When the table's TTL may delete a board entry: a day after its report,
 * long past {@link BACKLOG_MAX_AGE_MS}, so the TTL removes only entries no
 * board turn let go (an account deregistered, a pool no longer used).
 */
export const BACKLOG_EXPIRY_MS = 24 * 60 * 60_000;

/**
 * How long a container reuses its last read of the board (`RingMemory`): a
 * slot frees every few seconds in a burst, and the agents report every few
 * minutes. A minute instead of 30 seconds cut the reads by a third (0.28 to
 * 0.19 per RDS artifact in the fleet burst) and moved the makespan by
 * nothing measurable; two minutes cut them again, with the first long
 * report and the fresh-count rule keeping the board itself current.
 */
export const BACKLOG_READ_TTL_MS = 120_000;

/**
 * Freed slots that go to the longest backlog: one in this many, by the
 * freed copy's artifact id. Half: the longest backlogs get about what one
 * account can use at once anyway (its cap and its own copy quota bound what
 * it delivers), and the ring keeps the other half, so every account with
 * work waiting still gets a slot within about two turns of the ring.
 */
export const BACKLOG_TURN_EVERY = 2;

/** Whether intake records the backlog this notification of `id` carries ({@link BACKLOG_REPORT_EVERY}). */
export function reportsBacklog(id: string): boolean {
  return spread(`backlog-report:${id}`) % BACKLOG_REPORT_EVERY === 0;
}

/** Whether the slot freed by the copy of `freedId` goes to the longest backlog ({@link BACKLOG_TURN_EVERY}). */
export function backlogTurn(freedId: string): boolean {
  return spread(`backlog-turn:${freedId}`) % BACKLOG_TURN_EVERY === 0;
}

/**
 * FNV-1a through MurmurHash3's finalizer: FNV-1a alone mixes its low bits
 * poorly (the lowest is the parity of the text's bytes, and ids that differ
 * only in their last character share their low bits), so a choice of one
 * in two or four by it would choose alike for a whole account's ids.
 */
function spread(text: string): number {
  let h = fnv1a(text);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Intake's part: records the backlog an accepted notification of `ref`
 * carried, for one notification in {@link BACKLOG_REPORT_EVERY}, and for
 * the first of an account's to carry {@link FIRST_REPORT_MIN_BACKLOG} or
 * more that this container sees. Never throws: the artifact is taken in
 * either way, and the next report corrects a lost one.
 */
export async function recordBacklog(deps: VaultDeps, ref: ArtifactRef, backlog: number | undefined): Promise<void> {
  if (!deps.backlogs || backlog === undefined) return;
  const pool = poolOf(ref.kind, deps.settings.backupRegion);
  const first = backlog >= FIRST_REPORT_MIN_BACKLOG && (deps.ring?.firstReport(pool, ref.account) ?? false);
  if (!first && !reportsBacklog(artifactId(ref))) return;
  try {
    await deps.backlogs.report(pool, { account: ref.account, backlog, at: deps.clock.now().toISOString() });
  } catch (error) {
    deps.log.warn('source backlog not recorded; the next report records it', { pool, error: String(error) });
  }
}

/** The board's answer for a pool: the account with the longest backlog, and whether its report is old. */
export interface BacklogLead {
  readonly account: string;
  /** The report's time, to forget exactly it. */
  readonly at: string;
  /** Reported more than {@link BACKLOG_MAX_AGE_MS} ago. */
  readonly stale: boolean;
}

/**
 * The account with the longest backlog of `pool`. A report older than
 * {@link BACKLOG_MAX_AGE_MS} is answered too, marked `stale`: an account
 * whose intermediates all wait at the vault announces nothing, so its
 * report ages while its backlog is as long as ever; the walk forgets the
 * entry only when it finds none of the account's records waiting
 * ({@link forgetStaleLead}). A container reuses its last read for
 * {@link BACKLOG_READ_TTL_MS}. Never throws: the ring is the fallback.
 */
export async function longestBacklog(deps: VaultDeps, pool: string): Promise<BacklogLead | undefined> {
  if (!deps.backlogs) return undefined;
  const nowMs = deps.clock.now().getTime();
  const remembered = deps.ring?.longestRead(pool, nowMs, BACKLOG_READ_TTL_MS);
  if (remembered) return leadOf(remembered.entry, nowMs);
  try {
    const top = await deps.backlogs.longest(pool);
    const entry = top && top.backlog > 0 ? top : undefined;
    deps.ring?.readLongest(pool, entry, nowMs);
    return leadOf(entry, nowMs);
  } catch (error) {
    deps.log.warn('source backlog not read; the ring serves this slot', { pool, error: String(error) });
    return undefined;
  }
}

function leadOf(entry: BacklogEntry | undefined, nowMs: number): BacklogLead | undefined {
  return entry && { account: entry.account, at: entry.at, stale: nowMs - Date.parse(entry.at) > BACKLOG_MAX_AGE_MS };
}

/**
 * A board turn's walk found none of the lead's records waiting: a stale
 * lead (its agent has not reported for {@link BACKLOG_MAX_AGE_MS} and the
 * vault holds nothing of it) is forgotten, on the board and in this
 * container. A fresh lead stays: its agent is still sending. Never throws.
 */
export async function forgetStaleLead(deps: VaultDeps, pool: string, lead: BacklogLead): Promise<void> {
  if (!lead.stale || !deps.backlogs) return;
  deps.ring?.forgetLongest(pool);
  try {
    await deps.backlogs.forget(pool, lead.account, lead.at);
  } catch (error) {
    deps.log.warn('stale source backlog not forgotten; the next turn forgets it', { pool, error: String(error) });
  }
}
