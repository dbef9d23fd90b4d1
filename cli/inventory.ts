/**
 * `bunker inventory`: what the backup account holds, read from the
 * inventory table, as a table for people or JSON for scripts.
 */
import Table from 'cli-table3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AwsContext } from '../lambdas/adapters/aws-context';
import { clientConfig } from '../lambdas/adapters/aws-context';
import { DynamoInventory } from '../lambdas/adapters/dynamo-inventory';
import type { InventoryFilter, InventoryRecord } from '../lambdas/core/inventory';
import { vaultNames } from '../lambdas/core/names';

export async function readInventory(
  context: AwsContext,
  prefix: string,
  filter: InventoryFilter,
): Promise<InventoryRecord[]> {
  const names = vaultNames(prefix);
  const inventory = new DynamoInventory(
    new DynamoDBClient(clientConfig(context)),
    names.inventoryTable,
    names.inventoryStatusIndex,
  );
  const records = await inventory.list(filter);
  return records.sort(
    (a, b) =>
      (a.sourceAccount ?? '').localeCompare(b.sourceAccount ?? '') ||
      a.status.localeCompare(b.status) ||
      a.artifactId.localeCompare(b.artifactId),
  );
}

/** Identifiers must be shown whole: break them into cell-wide pieces instead of letting the table cut them short. */
function hardWrap(text: string, width: number): string {
  return text
    .split('\n')
    .flatMap((line) => line.match(new RegExp(`.{1,${width}}`, 'g')) ?? [''])
    .join('\n');
}

/** The database and the production snapshot, as operators name them; the shared ARN is in the JSON output. */
const sourceLabel = (r: InventoryRecord) => {
  const snapshot = r.sourceSnapshotId ?? r.sourceArn?.split(':').slice(6).join(':');
  return [r.sourceResourceId, snapshot].filter(Boolean).join('\n') || '-';
};

/**
 * A table for a terminal of about 150 columns; `reason` wraps rather than
 * truncates, because it is what an operator acts on.
 */
export function inventoryTable(records: readonly InventoryRecord[]): string {
  if (records.length === 0) return 'The inventory holds no records matching the filter.';
  const table = new Table({
    head: ['Status', 'Account', 'Database / snapshot', 'Backup copy', 'Updated (UTC)', 'Reason'],
    colWidths: [14, 16, 30, 30, 21, 36],
    wordWrap: true,
    wrapOnWordBoundary: true,
    style: { head: [], border: [] },
  });
  for (const r of records) {
    table.push([
      `${r.status}\n${r.kind}`,
      [r.sourceAccount ?? '-', r.sourceRegion].filter(Boolean).join('\n'),
      hardWrap(sourceLabel(r), 28),
      hardWrap(r.targetId ?? '-', 28),
      r.updatedAt.replace('T', ' ').slice(0, 19),
      r.reason ?? '',
    ]);
  }
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  return `${table.toString()}\n${records.length} record(s): ${summary}`;
}
