/**
 * Restoring a pulled table: `restore dynamodb --account A --region R --table NAME [--at T] --to-table NEW`.
 *
 * The vault store is the truth: every finished dump has a `manifest.json`.
 * At T the restore takes the newest full dump (a scan or a full export)
 * whose point in time is not after T, then follows the chain of incremental
 * exports after it (each names the dump it follows) while their window ends
 * by T, replaying their change records (no NewImage: deleted). Every file is
 * checked against its manifest on the way.
 *
 * DynamoDB's import from S3 cannot create local secondary indexes and lets
 * duplicate keys overwrite each other silently, so the restore imports only
 * a big table without local indexes, from the replayed state (one record per
 * key), and otherwise loads with batch writes of its own. Either way it reads
 * the restored table back and compares its count and checksum with what it
 * meant to write; a mismatch is a failed restore, not a warning.
 */
import { ItemsChecksum } from '../dynamodb/checksum';
import {
  decodeLines,
  decodeManifest,
  type DumpManifest,
  encodeItemsFile,
  sha256Hex,
  tablePrefix,
} from '../dynamodb/manifest';
import type { Item, TableSpec, TableTarget } from '../dynamodb/types';
import type { VaultStore } from '../types';

export interface TableRestoreRequest {
  readonly account: string;
  readonly region: string;
  readonly table: string;
  /** Restore the table as of this time; the newest dumps when absent. */
  readonly at?: Date;
  readonly toTable: string;
  /** Applied to every string value (`--rewrite OLD=NEW`), keys included. */
  readonly rewrite?: (text: string) => string;
}

export interface TableRestoreOptions {
  /** Items from which a table without local indexes is loaded by ImportTable. */
  readonly importThreshold?: number;
  /** BatchWriteItem calls in flight. */
  readonly concurrency?: number;
  readonly progress?: (message: string, fields?: Record<string, unknown>) => void;
  /** Waits between resends of unprocessed items. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface TableRestoreSummary {
  readonly ok: boolean;
  readonly table: string;
  readonly toTable: string;
  /** Dump ids replayed, full dump first. */
  readonly dumps: readonly string[];
  readonly pointInTime: string;
  readonly method: 'import' | 'batch-write';
  readonly expectedCount: number;
  readonly restoredCount: number;
  readonly expectedChecksum: string;
  readonly restoredChecksum: string;
  /** What does not match, in words; empty when ok. */
  readonly problems: readonly string[];
}

export const DEFAULT_IMPORT_THRESHOLD = 100_000;
const DEFAULT_CONCURRENCY = 8;
const BATCH = 25;
const MAX_RESENDS = 10;

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every finished dump of one table, read from its manifests. */
export async function tableDumps(
  store: VaultStore,
  account: string,
  region: string,
  table: string,
): Promise<DumpManifest[]> {
  const keys = (await store.list(tablePrefix(account, region, table))).filter((o) => o.key.endsWith('/manifest.json'));
  const manifests: DumpManifest[] = [];
  for (const { key } of keys) {
    const body = await store.get(key);
    if (body) manifests.push(decodeManifest(body));
  }
  return manifests;
}

/** The full dump and the incrementals chained after it that a restore at `at` replays, in order. */
export function chainAt(dumps: readonly DumpManifest[], at: Date | undefined): DumpManifest[] {
  const limit = at?.getTime() ?? Number.POSITIVE_INFINITY;
  const fulls = dumps
    .filter((d) => d.method !== 'export-incremental' && d.pointInTime && Date.parse(d.pointInTime) <= limit)
    .sort((a, b) => byText(a.pointInTime ?? '', b.pointInTime ?? ''));
  const full = fulls[fulls.length - 1];
  if (!full) return [];
  const chain = [full];
  for (;;) {
    const last = chain[chain.length - 1];
    const next = dumps.find((d) => d.method === 'export-incremental' && d.after === last.dumpId);
    if (!next?.to || Date.parse(next.to) > limit) return chain;
    chain.push(next);
  }
}

function rewriteValue(value: unknown, rewrite: (text: string) => string): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => rewriteValue(v, rewrite));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([type, inner]) => {
      if (type === 'S' && typeof inner === 'string') return [type, rewrite(inner)];
      if (type === 'SS' && Array.isArray(inner)) return [type, (inner as string[]).map(rewrite)];
      if (type === 'M' && inner && typeof inner === 'object') {
        return [type, Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, rewriteValue(v, rewrite)]))];
      }
      if (type === 'L' && Array.isArray(inner)) return [type, inner.map((v) => rewriteValue(v, rewrite))];
      return [type, inner];
    }),
  );
}

/** `--rewrite` over every string value of an item. */
export function rewriteItem(item: Item, rewrite: (text: string) => string): Item {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, rewriteValue(value, rewrite)]));
}

const keyText = (spec: TableSpec, item: Item) =>
  JSON.stringify(spec.keySchema.map((k) => item[k.AttributeName] ?? null));

async function readFile(store: VaultStore, key: string, sha256: string): Promise<Record<string, unknown>[]> {
  const body = await store.get(key);
  if (!body) throw new Error(`the dump file ${key} is missing from the vault store`);
  if (sha256Hex(body) !== sha256) throw new Error(`the dump file ${key} does not match its SHA-256 in the manifest`);
  return decodeLines(body);
}

/** The table's items after replaying `chain`; each dump is verified against its manifest. */
export async function replay(store: VaultStore, chain: readonly DumpManifest[]): Promise<Map<string, Item>> {
  const state = new Map<string, Item>();
  for (const dump of chain) {
    const spec = dump.table;
    const sum = new ItemsChecksum();
    for (const file of dump.files) {
      const lines = await readFile(store, file.key, file.sha256);
      if (lines.length !== file.count) throw new Error(`${file.key} holds ${lines.length} records, not ${file.count}`);
      for (const line of lines) {
        if (dump.method === 'export-incremental') {
          sum.add(line);
          const keys = line.Keys as Item;
          if (line.NewImage) state.set(keyText(spec, keys), line.NewImage as Item);
          else state.delete(keyText(spec, keys));
        } else {
          sum.add(line.Item as Item);
          state.set(keyText(spec, line.Item as Item), line.Item as Item);
        }
      }
    }
    if (sum.count !== dump.itemCount || sum.value !== dump.checksum) {
      throw new Error(`dump ${dump.dumpId} does not match its manifest (count or checksum)`);
    }
  }
  return state;
}

async function inParallel<T>(tasks: readonly T[], limit: number, run: (task: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next];
      next += 1;
      await run(task);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/** The differences between the manifest's table and the restored one that a restore must not have. */
export function specDifferences(expected: TableSpec, restored: TableSpec | undefined): string[] {
  if (!restored) return ['the restored table does not exist'];
  const problems: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${what} differs`);
  };
  same('the key schema', expected.keySchema, restored.keySchema);
  same('the billing mode', expected.billingMode, restored.billingMode);
  same('the provisioned throughput', expected.provisioned, restored.provisioned);
  const indexes = (list: TableSpec['localIndexes']) =>
    [...list].sort((a, b) => byText(a.name, b.name)).map((i) => [i.name, i.keySchema, i.projection, i.provisioned]);
  same('the local secondary indexes', indexes(expected.localIndexes), indexes(restored.localIndexes));
  same('the global secondary indexes', indexes(expected.globalIndexes), indexes(restored.globalIndexes));
  same('the stream', expected.streamViewType, restored.streamViewType);
  same('the TTL attribute', expected.ttlAttribute, restored.ttlAttribute);
  same('point-in-time recovery', expected.pointInTimeRecovery, restored.pointInTimeRecovery);
  return problems;
}

export async function restoreTable(
  store: VaultStore,
  target: TableTarget,
  request: TableRestoreRequest,
  options: TableRestoreOptions = {},
): Promise<TableRestoreSummary> {
  const progress = options.progress ?? (() => {});
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const dumps = await tableDumps(store, request.account, request.region, request.table);
  const chain = chainAt(dumps, request.at);
  if (chain.length === 0) {
    const when = request.at ? ` at or before ${request.at.toISOString()}` : '';
    throw new Error(`no dump of ${request.table} in ${request.account}/${request.region}${when}`);
  }
  const newest = chain[chain.length - 1];
  const spec = newest.table;
  progress('replaying dumps', { dumps: chain.map((d) => d.dumpId) });
  const state = await replay(store, chain);
  const items = [...state.values()].map((item) => (request.rewrite ? rewriteItem(item, request.rewrite) : item));
  const expected = new ItemsChecksum();
  for (const item of items) expected.add(item);

  const threshold = options.importThreshold ?? DEFAULT_IMPORT_THRESHOLD;
  const useImport = spec.localIndexes.length === 0 && target.importTable !== undefined && items.length >= threshold;
  if (useImport && target.importTable) {
    progress('importing', { items: items.length });
    const files = [];
    for (let i = 0; i < items.length; i += 10_000) {
      files.push({ name: `part-${files.length}.json.gz`, body: encodeItemsFile(items.slice(i, i + 10_000)) });
    }
    await target.importTable(request.toTable, spec, files);
  } else {
    progress('creating table', { table: request.toTable });
    await target.createTable(request.toTable, spec);
    const batches: Item[][] = [];
    for (let i = 0; i < items.length; i += BATCH) batches.push(items.slice(i, i + BATCH));
    let loaded = 0;
    await inParallel(batches, options.concurrency ?? DEFAULT_CONCURRENCY, async (batch) => {
      let pending = batch;
      for (let attempt = 0; pending.length > 0; attempt += 1) {
        if (attempt > MAX_RESENDS) throw new Error(`items stayed unprocessed after ${MAX_RESENDS} resends`);
        if (attempt > 0) await sleep(Math.min(2_000, 50 * 2 ** attempt));
        pending = (await target.batchPut(request.toTable, pending)).unprocessed;
      }
      loaded += batch.length;
      if (loaded % 1000 < BATCH) progress('loaded', { items: loaded, of: items.length });
    });
  }

  progress('verifying', { table: request.toTable });
  const restored = new ItemsChecksum();
  for await (const page of target.scanAll(request.toTable)) for (const item of page) restored.add(item);
  const problems = specDifferences({ ...spec, name: request.toTable }, await target.describeTable(request.toTable));
  if (restored.count !== expected.count) problems.push(`${restored.count} items restored, ${expected.count} expected`);
  if (restored.value !== expected.value) problems.push('the restored items do not match the dumps (checksum)');
  const summary: TableRestoreSummary = {
    ok: problems.length === 0,
    table: request.table,
    toTable: request.toTable,
    dumps: chain.map((d) => d.dumpId),
    pointInTime: newest.to ?? newest.pointInTime ?? '',
    method: useImport ? 'import' : 'batch-write',
    expectedCount: expected.count,
    restoredCount: restored.count,
    expectedChecksum: expected.value,
    restoredChecksum: restored.value,
    problems,
  };
  progress(summary.ok ? 'restored' : 'restore does not match', { ...summary });
  return summary;
}
