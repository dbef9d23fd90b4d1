/**
 * `bunker inventory`: what the backup account holds, read from the
 * inventory table, as a table for people or JSON for scripts (the JSON is
 * the contract documented in docs/inventory-format.md).
 */
import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AwsContext } from '../lambdas/adapters/aws-context';
import { clientConfig } from '../lambdas/adapters/aws-context';
import { DynamoInventory } from '../lambdas/adapters/dynamo-inventory';
import { DynamoPulledInventory } from '../lambdas/adapters/pull/dynamo-pulled';
import type { InventoryFilter, InventoryRecord } from '../lambdas/core/inventory';
import type { PulledKindName, PulledRecord } from '../lambdas/core/pull/types';
import { vaultNames } from '../lambdas/core/names';
import { safeText } from '../lambdas/core/text';
import { KINDS } from '../lambdas/kinds/registry';

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
      a.kind.localeCompare(b.kind) ||
      a.status.localeCompare(b.status) ||
      a.artifactId.localeCompare(b.artifactId),
  );
}

export interface PulledFilter {
  readonly account?: string;
  readonly kind?: PulledKindName;
}

/** The pulled backups' records (parameters, secrets, tables), sorted like the copies. */
export async function readPulled(context: AwsContext, prefix: string, filter: PulledFilter): Promise<PulledRecord[]> {
  const names = vaultNames(prefix);
  const pulled = new DynamoPulledInventory(
    new DynamoDBClient(clientConfig(context)),
    names.inventoryTable,
    names.inventoryPullScopeIndex,
  );
  const records = (await pulled.list()).filter(
    (r) => (!filter.account || r.sourceAccount === filter.account) && (!filter.kind || r.kind === filter.kind),
  );
  return records.sort(
    (a, b) =>
      a.sourceAccount.localeCompare(b.sourceAccount) ||
      a.kind.localeCompare(b.kind) ||
      a.artifactId.localeCompare(b.artifactId),
  );
}

/**
 * Text for a terminal cell: control characters (which could retitle or
 * clear the operator's terminal) and bidirectional overrides shown as
 * escapes. Records hold text that came from outside (reasons quote AWS
 * errors; rejections quote what a sender named).
 */
const cell = (text: string | undefined) =>
  (text ?? '')
    .split('\n')
    .map((line) => safeText(line, 10_000))
    .join('\n');

/** Identifiers must be shown whole: break them into cell-wide pieces instead of letting the table cut them short. */
function hardWrap(text: string, width: number): string {
  return text
    .split('\n')
    .flatMap((line) => line.match(new RegExp(`.{1,${width}}`, 'gu')) ?? [''])
    .join('\n');
}

/** The production resource and snapshot, as operators name them; the shared ARN is in the JSON output. */
const sourceLabel = (r: InventoryRecord) =>
  [r.sourceResourceId, r.sourceSnapshotId ?? r.sourceId].filter(Boolean).join('\n') || '-';

/** `2026-03-01 04:10` on two lines: date, then time. */
export const when = (iso: string | undefined) => (iso ? `${iso.slice(0, 10)}\n${iso.slice(11, 16)}` : '-');

/** Words longer than a cell broken into pieces, so the table wraps them instead of cutting them off. */
const breakLongWords = (text: string, width: number) =>
  text.replace(new RegExp(`\\S{${width + 1},}`, 'gu'), (word) => hardWrap(word, width));

const kindLabel = (r: InventoryRecord) => (r.kind === 'unknown' ? '-' : KINDS[r.kind].configKey);

/** A column of a terminal table: see {@link render}. */
export interface Column<T> {
  readonly head: string;
  /** Width including cli-table3's one-space padding on each side. */
  readonly width: number;
  readonly value: (record: T) => string;
  /** Identifiers: hard-wrapped so they are shown whole. */
  readonly wrap?: boolean;
}

/**
 * A terminal table, one row per record: cells made safe to print, line by
 * line, and wrapped rather than cut short. Shared by `bunker inventory` and
 * `bunker status`.
 */
export function render<T>(columns: readonly Column<T>[], records: readonly T[]): string {
  const table = new Table({
    head: columns.map((c) => c.head),
    colWidths: columns.map((c) => c.width),
    wordWrap: true,
    wrapOnWordBoundary: true,
    style: { head: [], border: [] },
  });
  for (const r of records) {
    table.push(
      columns.map((c) => {
        const text = cell(c.value(r));
        return c.wrap ? hardWrap(text, c.width - 2) : breakLongWords(text, c.width - 2);
      }),
    );
  }
  return table.toString();
}

export interface InventoryTableOptions {
  /** Every column, for a terminal wider than 120 columns. @default false */
  readonly wide?: boolean;
}

/**
 * A table that fits 120 columns (`wide` adds the copy's Region, key and
 * last update). Identifiers wrap rather than truncate, and `reason` wraps
 * too, because it is what an operator acts on.
 */
export function inventoryTable(records: readonly InventoryRecord[], options: InventoryTableOptions = {}): string {
  if (records.length === 0) return 'The inventory holds no records matching the filter.';
  const wide = options.wide ?? false;
  // Column widths include cli-table3's one-space padding on each side; with
  // the borders (one per column, plus one) the default layout is 120 wide.
  const columns: Column<InventoryRecord>[] = [
    { head: 'Status', width: 12, value: (r) => `${r.status}\n${kindLabel(r)}` },
    {
      head: 'Account',
      width: 15,
      value: (r) => [r.sourceAccount ?? '-', r.sourceRegion].filter(Boolean).join('\n'),
    },
    { head: 'Source', width: wide ? 40 : 26, value: sourceLabel, wrap: true },
    { head: 'Taken (UTC)', width: 13, value: (r) => when(r.sourceCreatedAt) },
    { head: 'Copy', width: wide ? 40 : 26, value: (r) => r.targetId ?? r.targetName ?? '-', wrap: true },
    ...(wide
      ? [
          { head: 'Copy Region', width: 14, value: (r: InventoryRecord) => r.targetRegion ?? '-' },
          { head: 'Key', width: 40, value: (r: InventoryRecord) => r.kmsKeyArn ?? '-', wrap: true },
          { head: 'Updated (UTC)', width: 13, value: (r: InventoryRecord) => when(r.updatedAt) },
        ]
      : []),
    { head: 'Reason', width: wide ? 50 : 21, value: (r) => r.reason ?? '' },
  ];
  const table = render(columns, records);
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  return `${table}\n${records.length} record(s): ${summary}`;
}

const shortChecksum = (checksum: string | undefined) =>
  checksum ? checksum.replace(/^([a-z0-9-]+:)?(.{12}).*$/, '$2') : '-';

/**
 * Pulled backups (parameters, secrets, tables): one row per resource, never
 * a value. The checksum is shortened; the JSON output has it whole.
 */
export function pulledTable(records: readonly PulledRecord[]): string {
  if (records.length === 0) return 'The inventory holds no pulled backups matching the filter.';
  const columns: Column<PulledRecord>[] = [
    { head: 'State', width: 19, value: (r) => `${r.state}\n${r.kind}` },
    { head: 'Account', width: 15, value: (r) => `${r.sourceAccount}\n${r.sourceRegion}` },
    { head: 'Name', width: 29, value: (r) => r.sourceId, wrap: true },
    { head: 'Count', width: 8, value: (r) => (r.count === undefined ? '-' : String(r.count)) },
    { head: 'Checksum', width: 14, value: (r) => shortChecksum(r.checksum) },
    { head: 'Changed (UTC)', width: 14, value: (r) => when(r.deletedAt ?? r.lastChangedAt) },
    { head: 'Reason', width: 13, value: (r) => r.reason ?? '' },
  ];
  const table = render(columns, records);
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  return `${table}\n${records.length} pulled resource(s): ${summary}`;
}

/** Columns of `--output csv`: one row per record, copies and pulled backups alike. */
const CSV_COLUMNS = [
  'artifactId',
  'kind',
  'status',
  'sourceAccount',
  'sourceRegion',
  'source',
  'sourceCreatedAt',
  'target',
  'targetRegion',
  'kmsKeyArn',
  'count',
  'checksum',
  'createdAt',
  'updatedAt',
  'reason',
] as const;

/**
 * A spreadsheet opens a cell that starts with `=`, `+`, `-`, `@`, a tab or a
 * carriage return as a formula; records hold text from outside (reasons
 * quote what a sender named), so such a cell is prefixed with `'`.
 */
const inert = (text: string | number | undefined) => {
  const value = text === undefined ? '' : String(text);
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
};

/** `--output csv`: RFC 4180 (csv-stringify), a header row, formula-inert cells. */
export function inventoryCsv(copies: readonly InventoryRecord[], pulled: readonly PulledRecord[]): string {
  const rows = [
    ...copies.map((r) => [
      r.artifactId,
      r.kind,
      r.status,
      r.sourceAccount,
      r.sourceRegion,
      r.sourceResourceId ?? r.sourceId,
      r.sourceCreatedAt,
      r.targetId ?? r.targetName,
      r.targetRegion,
      r.kmsKeyArn,
      undefined,
      undefined,
      r.createdAt,
      r.updatedAt,
      r.reason,
    ]),
    ...pulled.map((r) => [
      r.artifactId,
      r.kind,
      r.state,
      r.sourceAccount,
      r.sourceRegion,
      r.sourceId,
      r.latest?.modifiedAt,
      r.latest?.objectKey,
      undefined,
      undefined,
      r.count,
      r.checksum,
      r.createdAt,
      r.updatedAt,
      r.reason,
    ]),
  ];
  return stringify(
    rows.map((row) => row.map(inert)),
    { header: true, columns: [...CSV_COLUMNS], record_delimiter: 'unix' },
  );
}

/** Records changed at or after `since` (`--since`), by their `updatedAt`. */
export function changedSince<T extends { readonly updatedAt: string }>(records: readonly T[], since?: string): T[] {
  return since ? records.filter((r) => r.updatedAt >= since) : [...records];
}
