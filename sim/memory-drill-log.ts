/** The in-memory double of the {@link DrillLog} port: the same rule as the DynamoDB adapter. */
import { type DrillItem, summaryAfter, summaryOf } from '../lambdas/core/drill/log';
import {
  type DrillKind,
  type DrillLog,
  type DrillResult,
  type DrillSummary,
  drillItemId,
} from '../lambdas/core/drill/types';

export class MemoryDrillLog implements DrillLog {
  private readonly items = new Map<string, DrillItem>();

  async record(result: DrillResult): Promise<void> {
    const id = drillItemId(result.subject);
    this.items.set(id, summaryAfter(this.items.get(id), result));
  }

  async latest(filter: { readonly account?: string; readonly kind?: DrillKind } = {}): Promise<DrillSummary[]> {
    return [...this.items.values()]
      .filter((item) => filter.account === undefined || item.account === filter.account)
      .filter((item) => filter.kind === undefined || item.kind === filter.kind)
      .sort((a, b) => a.artifactId.localeCompare(b.artifactId))
      .map(summaryOf);
  }
}
