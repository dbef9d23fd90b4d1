/**
 * The source backlog board in memory (`SourceBacklogs`,
 * lambdas/core/pipeline/backlog.ts): per pool, one entry per account, the
 * newest report winning, and the longest backlog first with the lowest
 * account on a tie, as the DynamoDB adapter's index key
 * (`<999999 - backlog>#<account>`, lambdas/adapters/dynamo-backlogs.ts) sorts.
 *
 * A report of 0 takes the account off the board but keeps its time, as the
 * DynamoDB item does (it leaves the index, not the table): a late, older
 * report of a backlog that is gone is refused, not taken for news.
 */
import type { BacklogEntry, SourceBacklogs } from '../lambdas/core/pipeline/backlog';

export class MemorySourceBacklogs implements SourceBacklogs {
  private readonly pools = new Map<string, Map<string, BacklogEntry>>();

  async report(pool: string, entry: BacklogEntry): Promise<void> {
    const entries = this.pools.get(pool) ?? new Map<string, BacklogEntry>();
    this.pools.set(pool, entries);
    const known = entries.get(entry.account);
    if (known && known.at > entry.at) return;
    entries.set(entry.account, { ...entry });
  }

  async longest(pool: string): Promise<BacklogEntry | undefined> {
    let top: BacklogEntry | undefined;
    for (const entry of this.pools.get(pool)?.values() ?? []) {
      if (entry.backlog <= 0) continue;
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

  /** Every entry of `pool` on the board (a backlog above 0), for tests. */
  entries(pool: string): BacklogEntry[] {
    return [...(this.pools.get(pool)?.values() ?? [])]
      .filter((entry) => entry.backlog > 0)
      .map((entry) => ({ ...entry }));
  }
}
