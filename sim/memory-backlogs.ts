/**
 * The source backlog board in memory (`SourceBacklogs`,
 * lambdas/core/pipeline/backlog.ts): per pool, one entry per account, the
 * newest report winning, and the longest backlog first with the lowest
 * account on a tie, as the proposed index's key (`<999999 - backlog>#<account>`) sorts.
 */
import type { BacklogEntry, SourceBacklogs } from '../lambdas/core/pipeline/backlog';

export class MemorySourceBacklogs implements SourceBacklogs {
  private readonly pools = new Map<string, Map<string, BacklogEntry>>();

  async report(pool: string, entry: BacklogEntry): Promise<void> {
    const entries = this.pools.get(pool) ?? new Map<string, BacklogEntry>();
    this.pools.set(pool, entries);
    const known = entries.get(entry.account);
    if (known && known.at > entry.at) return;
    if (entry.backlog > 0) entries.set(entry.account, { ...entry });
    else entries.delete(entry.account);
  }

  async longest(pool: string): Promise<BacklogEntry | undefined> {
    let top: BacklogEntry | undefined;
    for (const entry of this.pools.get(pool)?.values() ?? []) {
      if (!top || entry.backlog > top.backlog || (entry.backlog === top.backlog && entry.account < top.account)) {
        top = entry;
      }
    }
    return top ? { ...top } : undefined;
  }

  async forget(pool: string, account: string, at: string): Promise<void> {
    const entries = this.pools.get(pool);
    if (entries?.get(account)?.at === at) entries.delete(account);
  }

  /** Every entry of `pool`, for tests. */
  entries(pool: string): BacklogEntry[] {
    return [...(this.pools.get(pool)?.values() ?? [])].map((entry) => ({ ...entry }));
  }
}
