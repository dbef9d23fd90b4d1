/**
 * In-memory DynamoDB for pulled tables: one account and Region's tables
 * with read capacity accounting, point-in-time recovery (with its earliest
 * restorable time), a change log, and exports that write AWS's file layout
 * (manifest-summary.json, manifest-files.json, gzip DYNAMODB_JSON data
 * files) into an in-memory staging bucket, full or incremental. It is both
 * a {@link TableSource} and a {@link TableTarget}, and runs the same
 * contract tests as the SDK adapters on the emulator.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type {
  ExportRequest,
  ExportStatus,
  Item,
  PitrState,
  ScanPage,
  ScanPageRequest,
  TableSource,
  TableSpec,
  TableSummary,
  TableTarget,
  WriteResult,
} from '../lambdas/core/pull/dynamodb/types';
import type { Clock } from '../lambdas/core/ports';

interface Change {
  readonly at: number;
  readonly keys: Item;
  readonly newImage?: Item;
  readonly oldImage?: Item;
}

interface MemoryTable {
  spec: TableSpec;
  tags: Record<string, string>;
  /** Key text → item, in insertion order (the scan order). */
  items: Map<string, Item>;
  pitr: { enabled: boolean; earliest?: number };
  changes: Change[];
}

interface MemoryExport {
  arn: string;
  status: ExportStatus['status'];
  failure?: string;
  manifestKey?: string;
  token: string;
}

const EXPORT_ITEMS_PER_FILE = 1000;

/** DynamoDB's item size, near enough: names and values as UTF-8. */
export function itemSize(item: Item): number {
  return Buffer.byteLength(JSON.stringify(item));
}

export class MemoryTables implements TableSource, TableTarget {
  readonly tables = new Map<string, MemoryTable>();
  /** The source account's export staging bucket: key → body. */
  readonly staging = new Map<string, Uint8Array>();
  readonly exports = new Map<string, MemoryExport>();
  /** Read capacity units consumed by scans, over the double's life. */
  consumedReads = 0;
  scanCalls = 0;
  /** Exports stay IN_PROGRESS while true (the default completes them on the first describe). */
  holdExports = false;
  /** The next export fails with this message. */
  failNextExport?: string;
  /** The next batchPut leaves this many items unprocessed (throttling). */
  throttleNextBatch = 0;
  imports = 0;

  constructor(
    readonly account: string,
    readonly region: string,
    private readonly clock: Clock,
  ) {}

  arnOf(name: string): string {
    return `arn:aws:dynamodb:${this.region}:${this.account}:table/${name}`;
  }

  private table(name: string): MemoryTable {
    const table = this.tables.get(name);
    if (!table)
      throw Object.assign(new Error(`Requested resource not found: Table: ${name} not found`), {
        name: 'ResourceNotFoundException',
      });
    return table;
  }

  private keyOf(table: MemoryTable, item: Item): string {
    return JSON.stringify(table.spec.keySchema.map((k) => item[k.AttributeName]));
  }

  private keysOf(table: MemoryTable, item: Item): Item {
    return Object.fromEntries(table.spec.keySchema.map((k) => [k.AttributeName, item[k.AttributeName]]));
  }

  // --- test setup (the source account's own writes) --------------------------

  /** Creates a table as the source account would; `spec.name`/`arn` are filled in. */
  create(spec: Omit<TableSpec, 'arn'>, tags: Record<string, string> = {}): void {
    this.tables.set(spec.name, {
      spec: { ...spec, arn: this.arnOf(spec.name) },
      tags,
      items: new Map(),
      pitr: spec.pointInTimeRecovery ? { enabled: true, earliest: this.clock.now().getTime() } : { enabled: false },
      changes: [],
    });
  }

  putItem(name: string, item: Item): void {
    const table = this.table(name);
    const key = this.keyOf(table, item);
    const old = table.items.get(key);
    table.items.set(key, structuredClone(item));
    table.changes.push({
      at: this.clock.now().getTime(),
      keys: this.keysOf(table, item),
      newImage: item,
      oldImage: old,
    });
  }

  deleteItem(name: string, keys: Item): void {
    const table = this.table(name);
    const key = this.keyOf(table, keys);
    const old = table.items.get(key);
    if (!old) return;
    table.items.delete(key);
    table.changes.push({ at: this.clock.now().getTime(), keys: this.keysOf(table, keys), oldImage: old });
  }

  /** Turning recovery on starts its window now: nothing before can be exported. */
  setPitr(name: string, enabled: boolean): void {
    const table = this.table(name);
    if (enabled === table.pitr.enabled) return;
    table.pitr = enabled ? { enabled: true, earliest: this.clock.now().getTime() } : { enabled: false };
    table.spec = { ...table.spec, pointInTimeRecovery: enabled };
  }

  items(name: string): Item[] {
    return [...this.table(name).items.values()].map((item) => structuredClone(item));
  }

  // --- TableSource ------------------------------------------------------------

  async listTables(): Promise<TableSummary[]> {
    return [...this.tables.values()].map((t) => ({ name: t.spec.name, arn: t.spec.arn, tags: { ...t.tags } }));
  }

  async describeTable(name: string): Promise<TableSpec | undefined> {
    const table = this.tables.get(name);
    return table && structuredClone(table.spec);
  }

  async pitr(name: string): Promise<PitrState> {
    const { pitr } = this.table(name);
    if (!pitr.enabled) return { enabled: false };
    return { enabled: true, earliestRestorable: new Date(pitr.earliest ?? 0), latestRestorable: this.clock.now() };
  }

  /** Pages in insertion order; segment n holds every item whose position is n modulo the segment count. */
  async scanPage(request: ScanPageRequest): Promise<ScanPage> {
    this.scanCalls += 1;
    const table = this.table(request.table);
    const entries = [...table.items].filter((_, i) => i % request.totalSegments === request.segment);
    const startAfter = request.startKey ? this.keyOf(table, request.startKey) : undefined;
    const from = startAfter === undefined ? 0 : entries.findIndex(([key]) => key === startAfter) + 1;
    const page = entries.slice(from, from + request.limit).map(([, item]) => structuredClone(item));
    const bytes = page.reduce((total, item) => total + itemSize(item), 0);
    // Eventually consistent reads: half a unit per 4 KB of the page, at least half a unit.
    const consumed = Math.max(1, Math.ceil(bytes / 4096)) * 0.5;
    this.consumedReads += consumed;
    const more = from + request.limit < entries.length;
    return { items: page, consumed, ...(more ? { lastKey: this.keysOf(table, page[page.length - 1]) } : {}) };
  }

  async startExport(request: ExportRequest): Promise<{ arn: string }> {
    const known = [...this.exports.values()].find((e) => e.token === request.clientToken);
    if (known) return { arn: known.arn };
    const table = [...this.tables.values()].find((t) => t.spec.arn === request.tableArn);
    if (!table)
      throw Object.assign(new Error(`Table not found: ${request.tableArn}`), { name: 'TableNotFoundException' });
    if (!table.pitr.enabled) {
      throw Object.assign(new Error(`Point in time recovery is not enabled for table '${table.spec.name}'`), {
        name: 'PointInTimeRecoveryUnavailableException',
      });
    }
    const earliest = table.pitr.earliest ?? 0;
    const readFrom = request.type === 'FULL_EXPORT' ? request.exportTime : request.from;
    if (readFrom && readFrom.getTime() < earliest) {
      throw Object.assign(new Error('the export time is before the earliest restorable time'), {
        name: 'InvalidExportTimeException',
      });
    }
    const id = createHash('sha256').update(request.clientToken).digest('hex').slice(0, 26);
    const arn = `${table.spec.arn}/export/${id}`;
    const base = `${request.prefix}/AWSDynamoDB/${id}`;
    const failure = this.failNextExport;
    this.failNextExport = undefined;
    const lines =
      request.type === 'FULL_EXPORT'
        ? this.stateAt(table, request.exportTime?.getTime() ?? this.clock.now().getTime()).map((item) => ({
            Item: item,
          }))
        : this.changesIn(table, request.from?.getTime() ?? 0, request.to?.getTime() ?? this.clock.now().getTime());
    if (!failure) this.writeExportFiles(base, arn, request, lines);
    this.exports.set(arn, {
      arn,
      token: request.clientToken,
      status: failure ? 'FAILED' : 'IN_PROGRESS',
      ...(failure ? { failure } : { manifestKey: `${base}/manifest-summary.json` }),
    });
    return { arn };
  }

  /** The table as it was at `at`: today's items with the later changes undone. */
  private stateAt(table: MemoryTable, at: number): Item[] {
    const state = new Map(table.items);
    for (const change of [...table.changes].reverse()) {
      if (change.at <= at) break;
      const key = this.keyOf(table, change.keys);
      if (change.oldImage) state.set(key, change.oldImage);
      else state.delete(key);
    }
    return [...state.values()];
  }

  /**
   * One record per key changed in (from, to]: its image before and after the window. A full
   * export at T holds the changes made at T, so a window starting at T must not repeat them.
   */
  private changesIn(table: MemoryTable, from: number, to: number): Record<string, unknown>[] {
    const byKey = new Map<string, { keys: Item; first: Change; last: Change }>();
    for (const change of table.changes) {
      if (change.at <= from || change.at > to) continue;
      const key = this.keyOf(table, change.keys);
      const seen = byKey.get(key);
      byKey.set(key, { keys: change.keys, first: seen?.first ?? change, last: change });
    }
    return [...byKey.values()].map(({ keys, first, last }) => ({
      Metadata: { WriteTimestampMicros: { N: String(last.at * 1000) } },
      Keys: keys,
      ...(last.newImage ? { NewImage: last.newImage } : {}),
      ...(first.oldImage ? { OldImage: first.oldImage } : {}),
    }));
  }

  private writeExportFiles(base: string, arn: string, request: ExportRequest, lines: Record<string, unknown>[]): void {
    const entries: string[] = [];
    for (let i = 0, n = 0; i < lines.length || (i === 0 && n === 0); i += EXPORT_ITEMS_PER_FILE, n += 1) {
      const chunk = lines.slice(i, i + EXPORT_ITEMS_PER_FILE);
      const body = gzipSync(Buffer.from(chunk.map((line) => `${JSON.stringify(line)}\n`).join('')));
      const key = `${base}/data/file-${String(n).padStart(4, '0')}.json.gz`;
      this.staging.set(key, body);
      entries.push(
        JSON.stringify({
          itemCount: chunk.length,
          md5Checksum: createHash('md5').update(body).digest('base64'),
          etag: createHash('md5').update(body).digest('hex'),
          dataFileS3Key: key,
        }),
      );
      if (lines.length === 0) break;
    }
    this.staging.set(`${base}/manifest-files.json`, Buffer.from(`${entries.join('\n')}\n`));
    this.staging.set(
      `${base}/manifest-summary.json`,
      Buffer.from(
        JSON.stringify({
          version: '2023-08-01',
          exportArn: arn,
          exportType: request.type,
          itemCount: lines.length,
          manifestFilesS3Key: `${base}/manifest-files.json`,
          outputFormat: 'DYNAMODB_JSON',
        }),
      ),
    );
  }

  async describeExport(arn: string): Promise<ExportStatus> {
    const found = this.exports.get(arn);
    if (!found) throw Object.assign(new Error(`Export not found: ${arn}`), { name: 'ExportNotFoundException' });
    if (found.status === 'IN_PROGRESS' && !this.holdExports) found.status = 'COMPLETED';
    return {
      arn,
      status: found.status,
      ...(found.failure ? { failure: found.failure } : {}),
      ...(found.status === 'COMPLETED' ? { manifestKey: found.manifestKey } : {}),
    };
  }

  async readStaging(key: string): Promise<Uint8Array | undefined> {
    const body = this.staging.get(key);
    return body && Uint8Array.from(body);
  }

  // --- TableTarget ------------------------------------------------------------

  async createTable(name: string, spec: TableSpec): Promise<void> {
    if (this.tables.has(name)) {
      throw Object.assign(new Error(`Table already exists: ${name}`), { name: 'ResourceInUseException' });
    }
    this.create({ ...spec, name });
  }

  async batchPut(name: string, items: Item[]): Promise<WriteResult> {
    if (items.length > 25) throw new Error('BatchWriteItem takes at most 25 items');
    const held = Math.min(this.throttleNextBatch, items.length);
    this.throttleNextBatch -= held;
    for (const item of items.slice(held)) this.putItem(name, item);
    return { unprocessed: items.slice(0, held) };
  }

  async *scanAll(name: string): AsyncIterable<Item[]> {
    yield this.items(name);
  }

  async importTable(name: string, spec: TableSpec, files: { name: string; body: Uint8Array }[]): Promise<void> {
    // DynamoDB's import creates global indexes only.
    if (spec.localIndexes.length > 0) throw new Error('ImportTable cannot create local secondary indexes');
    await this.createTable(name, spec);
    this.imports += 1;
    for (const file of files) {
      for (const line of gunzipSync(file.body).toString('utf8').split('\n')) {
        if (line.trim()) this.putItem(name, (JSON.parse(line) as { Item: Item }).Item);
      }
    }
  }
}
