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
 * whether a copy is made. Reports older than {@link BACKLOG_MAX_AGE_MS} are
 * forgotten when read, and intake writes one report in
 * {@link BACKLOG_REPORT_EVERY} (chosen by the artifact's id) to keep the
 * requests per artifact near the minimum.
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
  /**
   * The entries with the `limit` longest backlogs of `pool`, longest first,
   * the lowest account first on a tie: the same query with `Limit: limit`,
   * still one request. Optional: a board without it serves the longest alone.
   */
  leading?(pool: string, limit: number): Promise<BacklogEntry[]>;
  /** Removes the account's entry of `pool` if it is still the one recorded at `at` (a stale report). */
  forget(pool: string, account: string, at: string): Promise<void>;
}

/** Intake records one report in this many, by the artifact's id: a report per artifact would be a write per artifact. */
export const BACKLOG_REPORT_EVERY = 4;

/**
 * A report this old is forgotten: the agent reports while it was at its
 * cap within the hour, so an account still holding originals back reports
 * again long before this.
 */
export const BACKLOG_MAX_AGE_MS = 2 * 60 * 60_000;

/**
 * How long a container reuses its last read of the board (`RingMemory`): a
 * slot frees every few seconds in a burst, and the agents report every few
 * minutes. A minute instead of 30 seconds cut the reads by a third (0.28 to
 * 0.19 per RDS artifact in the fleet burst) and moved the makespan by
 * nothing measurable.
 */
export const BACKLOG_READ_TTL_MS = 60_000;

/**
 * Freed slots that go to the longest backlog: one in this many, by the
 * freed copy's artifact id. Half: the longest backlogs get about what one
 * account can use at once anyway (its cap and its own copy quota bound what
 * it delivers), and the ring keeps the other half, so every account with
 * work waiting still gets a slot within about two turns of the ring.
 */
export const BACKLOG_TURN_EVERY = 2;

/**
 * How many of the longest backlogs a backlog turn tries, longest first: the
 * next is served when the one before has nothing waiting at the vault.
 * Served alone, the longest gets more turns than its agent can use (its cap
 * and its own copy quota bound what it delivers, about a third of a pool of
 * 20), the surplus went to the accounts after it round the ring, and the
 * second-longest waited its ring turn like an account of three snapshots: in
 * the fleet burst at seed 11 the second account's twenty intermediates
 * waited at the vault from the first hour to the eighteenth, and its 310
 * originals held back then took five more hours at what its agent alone
 * delivers. Four: a pool of 20 fed at the rate one agent delivers takes
 * three such accounts at once, and one more keeps a turn for the next while
 * one runs dry. The leaders come from one query (`Limit: 4`); each one tried
 * with nothing waiting costs one more single-item query of the queue index.
 */
export const BACKLOG_LEADERS = 4;

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
 * carried, for one notification in {@link BACKLOG_REPORT_EVERY}. Never
 * throws: the artifact is taken in either way, and the next report
 * corrects a lost one.
 */
export async function recordBacklog(deps: VaultDeps, ref: ArtifactRef, backlog: number | undefined): Promise<void> {
  if (!deps.backlogs || backlog === undefined) return;
  const id = artifactId(ref);
  if (!reportsBacklog(id)) return;
  const pool = poolOf(ref.kind, deps.settings.backupRegion);
  try {
    await deps.backlogs.report(pool, { account: ref.account, backlog, at: deps.clock.now().toISOString() });
  } catch (error) {
    deps.log.warn('source backlog not recorded; the next report records it', { pool, error: String(error) });
  }
}

/** One of the longest backlogs of a pool, as a backlog turn weighs it. */
export interface BacklogLeader {
  readonly account: string;
  readonly backlog: number;
}

/**
 * The {@link BACKLOG_LEADERS} longest backlogs of `pool` reported within
 * {@link BACKLOG_MAX_AGE_MS}, longest first (only the longest from a board
 * without `leading`); a stale entry read is forgotten. A container reuses
 * its last read for {@link BACKLOG_READ_TTL_MS}. Never throws: the ring is
 * the fallback.
 */
export async function backlogLeaders(deps: VaultDeps, pool: string): Promise<readonly BacklogLeader[]> {
  if (!deps.backlogs) return [];
  const nowMs = deps.clock.now().getTime();
  const remembered = deps.ring?.longestRead(pool, nowMs, BACKLOG_READ_TTL_MS);
  if (remembered) return remembered.leaders;
  try {
    const read = deps.backlogs.leading
      ? await deps.backlogs.leading(pool, BACKLOG_LEADERS)
      : [await deps.backlogs.longest(pool)].filter((entry): entry is BacklogEntry => entry !== undefined);
    const leaders: BacklogLeader[] = [];
    for (const entry of read) {
      if (entry.backlog <= 0) continue;
      if (nowMs - Date.parse(entry.at) <= BACKLOG_MAX_AGE_MS) leaders.push(entry);
      else await deps.backlogs.forget(pool, entry.account, entry.at);
    }
    deps.ring?.readLongest(pool, leaders, nowMs);
    return leaders;
  } catch (error) {
    deps.log.warn('source backlog not read; the ring serves this slot', { pool, error: String(error) });
    return [];
  }
}

/** The account with the longest backlog of `pool` ({@link backlogLeaders}' first). */
export async function longestBacklog(deps: VaultDeps, pool: string): Promise<string | undefined> {
  return (await backlogLeaders(deps, pool))[0]?.account;
}
