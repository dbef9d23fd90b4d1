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

const sourceLabel = (r: InventoryRecord) => {
  const snapshot = r.sourceArn?.split(':').slice(6).join(':');
  return [r.sourceResourceId, snapshot].filter(Boolean).join('\n') || '-';
};

/** A table sized for a terminal; `reason` wraps rather than truncates, because it is what an operator acts on. */
export function inventoryTable(records: readonly InventoryRecord[]): string {
  if (records.length === 0) return 'The inventory holds no records matching the filter.';
  const table = new Table({
    head: ['Status', 'Kind', 'Account', 'Region', 'Source (db / snapshot)', 'Backup copy', 'Updated (UTC)', 'Reason'],
    colWidths: [11, 14, 14, 14, 34, 34, 21, 40],
    wordWrap: true,
    wrapOnWordBoundary: false,
    style: { head: [], border: [] },
  });
  for (const r of records) {
    table.push([
      r.status,
      r.kind,
      r.sourceAccount ?? '-',
      r.sourceRegion ?? '-',
      sourceLabel(r),
      r.targetId ?? '-',
      r.updatedAt.replace('T', ' ').slice(0, 19),
      r.reason ?? '',
    ]);
  }
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  return `${table.toString()}\n${records.length} record(s): ${summary}`;
}
