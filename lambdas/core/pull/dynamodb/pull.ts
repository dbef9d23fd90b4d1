/**
 * Pulling DynamoDB tables into the vault. Per table in scope:
 *
 * - point-in-time recovery on: an export chain. A full export into the
 *   source account's staging bucket (the puller's rights; nothing in the
 *   backup account is granted to the source), then incremental exports
 *   chained after it until the full one is `fullExportEveryHours` old. An
 *   export is asynchronous: the run that starts it records it and continues
 *   later; the run that finds it COMPLETED copies its files into the vault
 *   store, verifying each against the export's own manifest.
 * - point-in-time recovery off: a parallel scan within a read budget, in
 *   parts, checkpointed in the record and continued in the next invocation
 *   when the deadline comes.
 *
 * A chain whose end is older than the table's earliest restorable time has
 * a gap no export can fill (PITR was off meanwhile, or its window is shorter
 * than the backlog): that is an RPO breach, recorded, and a new full export
 * starts the chain again.
 */
import { createHash } from 'node:crypto';
import { inScope } from '../../scope';
import { safeText } from '../../text';
import type { DynamoPullSettings, HeldVersion, PullContext, PulledRecord, PullRunSummary } from '../types';
import { pulledArtifactId, pullScopeOf, PULLED_KIND_OF } from '../types';
import { ItemsChecksum } from './checksum';
import {
  decodeLines,
  decodeManifest,
  dumpIdOf,
  dumpPrefix,
  type DumpFile,
  type DumpManifest,
  type DumpMethod,
  encodeItemsFile,
  encodeManifest,
  MANIFEST_FORMAT,
  manifestKey,
  sha256Hex,
  tablePrefix,
} from './manifest';
import { ReadBudget, realSleep, type Sleep } from './read-budget';
import type { Item, PitrState, TableSource, TableSpec } from './types';

const KIND = PULLED_KIND_OF.dynamodb;
/**
 * Items per scan page: small enough that one page's misestimate barely moves the budget
 * and a small table's budget is spent evenly, not in bursts of a 1 MB page.
 */
export const SCAN_PAGE_LIMIT = 100;
/** Pages between checkpoints (and always at the deadline and at the end). */
export const CHECKPOINT_EVERY_PAGES = 20;
/** Delay before a continuation polls an export again. */
export const EXPORT_POLL_SECONDS = 60;
/** Delay before a scan that ran out of time goes on. */
export const SCAN_CONTINUE_SECONDS = 1;
/** Delay before a full export whose time would fall before the recovery window opened tries again. */
export const RECOVERY_WINDOW_WAIT_SECONDS = 2;
/** DynamoDB's bounds on an incremental export's window. */
export const MIN_INCREMENTAL_MS = 15 * 60_000;
export const MAX_INCREMENTAL_MS = 24 * 3_600_000;

export interface PullTablesDeps {
  /** Waits of the read budget; tests pass one that moves their clock. */
  readonly sleep?: Sleep;
  /** Items per scan page ({@link SCAN_PAGE_LIMIT}); DynamoDB caps a page at 1 MB anyway. */
  readonly pageLimit?: number;
}

/** The end of the recorded export chain: what an incremental export follows. */
export interface ChainState {
  readonly fullDumpId: string;
  /** The full dump's point in time. */
  readonly fullAt: string;
  /** Where the next incremental export starts. */
  readonly end: string;
  readonly lastDumpId: string;
}

export interface ScanCheckpoint {
  readonly dumpId: string;
  readonly startedAt: string;
  readonly segments: { lastKey?: Item; done: boolean; parts: number; estimate: number }[];
  readonly files: DumpFile[];
  readonly sum: { sum: string; count: number };
  readonly consumed: number;
}

export interface PendingExport {
  readonly method: 'export-full' | 'export-incremental';
  readonly dumpId: string;
  readonly exportArn: string;
  readonly pointInTime?: string;
  readonly from?: string;
  readonly to?: string;
  readonly after?: string;
  readonly startedAt: string;
  /** Files already copied to the store, when the copy itself went on in a continuation. */
  readonly copied?: DumpFile[];
  readonly sum?: { sum: string; count: number };
}

/** What `detail` of a table's record holds. */
export interface TableDetail {
  readonly chain?: ChainState;
  readonly pending?: PendingExport;
  readonly scan?: ScanCheckpoint;
}

type Outcome = 'changed' | 'unchanged' | 'continued' | 'failed';

interface TableRun {
  outcome: Outcome;
  writes: number;
  breaches: string[];
}

/** Another worker replaced the record first: this run leaves the table to it. */
class LostRace extends Error {}

/**
 * An export whose files do not match its own manifests (or are gone): copying it again
 * would fail again, so the record says `failed` and the next run starts a new export.
 */
class BadExport extends Error {}

export async function pullTables(
  ctx: PullContext,
  settings: DynamoPullSettings,
  source: TableSource,
  deps: PullTablesDeps = {},
): Promise<PullRunSummary> {
  const { job, clock } = ctx;
  const startedAt = clock.now().toISOString();
  const listed = await source.listTables();
  const scoped = listed.filter((t) => inScope(settings.scope, [t.name, t.arn], t.tags));
  const targets = job.table ? scoped.filter((t) => t.name === job.table) : scoped;
  const totals = { changed: 0, unchanged: 0, failed: 0, deleted: 0, writes: 0, continued: false };
  const breaches: string[] = [];

  for (const table of targets) {
    let run: TableRun;
    try {
      run = await pullTable(ctx, settings, source, table.name, deps);
    } catch (error) {
      if (error instanceof LostRace) {
        ctx.log.warn('another run updated the table record first; leaving the table to it', { table: table.name });
        continue;
      }
      ctx.log.error('table pull failed', { table: table.name, error: safeText(String(error)) });
      run = { outcome: 'failed', writes: 0, breaches: [] };
    }
    totals.writes += run.writes;
    breaches.push(...run.breaches);
    if (run.outcome === 'continued') totals.continued = true;
    else totals[run.outcome] += 1;
  }

  if (!job.table) totals.deleted = await markDeleted(ctx, new Set(scoped.map((t) => t.name)));

  return {
    kind: 'dynamodb',
    account: job.account,
    region: job.region,
    startedAt,
    finishedAt: clock.now().toISOString(),
    inScope: scoped.length,
    changed: totals.changed,
    unchanged: totals.unchanged,
    deleted: totals.deleted,
    failed: totals.failed,
    dataWrites: totals.writes,
    nothingChanged: totals.writes === 0 && totals.changed === 0,
    continued: totals.continued,
    breaches,
  };
}

async function markDeleted(ctx: PullContext, present: ReadonlySet<string>): Promise<number> {
  const { job, clock } = ctx;
  let deleted = 0;
  for (const record of await ctx.records.listScope(KIND, job.account, job.region)) {
    if (present.has(record.sourceId) || record.state === 'deleted-at-source') continue;
    const now = clock.now().toISOString();
    const next: PulledRecord = {
      ...record,
      state: 'deleted-at-source',
      reason: 'the table is gone from the source (or out of scope); its dumps stay in the vault',
      deletedAt: now,
      updatedAt: now,
      version: record.version + 1,
    };
    if (await ctx.records.replace(record, next)) deleted += 1;
  }
  return deleted;
}

/** The record of one table, made on first sight. */
async function recordOf(ctx: PullContext, name: string, spec: TableSpec): Promise<PulledRecord> {
  const { job } = ctx;
  const artifactId = pulledArtifactId(KIND, job.account, job.region, name);
  const existing = await ctx.records.get(artifactId);
  if (existing) return existing;
  const now = ctx.clock.now().toISOString();
  const fresh: PulledRecord = {
    artifactId,
    kind: KIND,
    pullScope: pullScopeOf(KIND, job.account, job.region),
    state: 'pulling',
    sourceAccount: job.account,
    sourceRegion: job.region,
    sourceId: name,
    sourceArn: spec.arn,
    valueType: 'table',
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  if (await ctx.records.create(fresh)) return fresh;
  const raced = await ctx.records.get(artifactId);
  if (!raced) throw new LostRace();
  return raced;
}

/** One table's pull; holds the current record and writes it conditionally. */
class TableRunner {
  writes = 0;
  readonly breaches: string[] = [];

  constructor(
    readonly ctx: PullContext,
    readonly settings: DynamoPullSettings,
    readonly source: TableSource,
    readonly name: string,
    readonly spec: TableSpec,
    public record: PulledRecord,
    readonly deps: PullTablesDeps,
  ) {}

  get sleep(): Sleep {
    return this.deps.sleep ?? realSleep;
  }

  get detail(): TableDetail {
    return (this.record.detail ?? {}) as TableDetail;
  }

  get now(): Date {
    return this.ctx.clock.now();
  }

  async save(patch: Partial<PulledRecord>, detail: TableDetail): Promise<void> {
    const next: PulledRecord = {
      ...this.record,
      ...patch,
      detail: JSON.parse(JSON.stringify(detail)) as Record<string, unknown>,
      sourceArn: this.spec.arn,
      updatedAt: this.now.toISOString(),
      version: this.record.version + 1,
    };
    if (!(await this.ctx.records.replace(this.record, next))) throw new LostRace();
    this.record = next;
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<boolean> {
    const written = await this.ctx.store.putOnce(key, body, contentType);
    if (written) this.writes += 1;
    return written;
  }

  prefix(dumpId: string): string {
    return dumpPrefix(this.ctx.job.account, this.ctx.job.region, this.name, dumpId);
  }

  /** Where scan dumps keep their parts, named by content and shared by every dump of the table. */
  partsPrefix(): string {
    return `${tablePrefix(this.ctx.job.account, this.ctx.job.region, this.name)}parts/`;
  }

  /**
   * Whether `manifest` holds what the newest dump, a scan, already holds: the same items (count
   * and checksum, compared by fingerprint as the record keeps it) of a table described the same way.
   */
  async sameAsLatestScan(manifest: DumpManifest): Promise<boolean> {
    const latest = this.record.latest;
    if (!latest || !latest.id.endsWith('-scan') || this.record.count !== manifest.itemCount) return false;
    if (this.record.checksum !== this.ctx.fingerprint.of(Buffer.from(manifest.checksum))) return false;
    const body = await this.ctx.store.get(latest.objectKey);
    return body !== undefined && JSON.stringify(decodeManifest(body).table) === JSON.stringify(manifest.table);
  }

  async continueLater(delaySeconds: number): Promise<void> {
    await this.ctx.continueLater({ ...this.ctx.job, table: this.name }, delaySeconds);
  }

  /** Writes the manifest last and records the dump as held. */
  async finish(manifest: DumpManifest, chain: ChainState | undefined): Promise<void> {
    const key = manifestKey(this.ctx.job.account, this.ctx.job.region, this.name, manifest.dumpId);
    await this.put(key, encodeManifest(manifest), 'application/json');
    const nowIso = this.now.toISOString();
    // The inventory holds the fingerprint of the items' checksum, not the checksum itself: a
    // one-item table of a short secret must not be testable against guesses by inventory readers.
    // The manifest, in the store under the backup-data key, keeps the checksum a restore compares.
    const checksum = this.ctx.fingerprint.of(Buffer.from(manifest.checksum));
    const latest: HeldVersion = {
      id: manifest.dumpId,
      modifiedAt: manifest.pointInTime ?? manifest.to ?? nowIso,
      pulledAt: nowIso,
      objectKey: key,
      checksum,
    };
    const full = manifest.method !== 'export-incremental';
    await this.save(
      {
        state: 'held',
        reason: undefined,
        latest,
        // An incremental export holds changes, not the table: count and checksum stay the full dump's.
        ...(full ? { count: manifest.itemCount, checksum } : {}),
        firstPulledAt: this.record.firstPulledAt ?? nowIso,
        lastChangedAt: nowIso,
        deletedAt: undefined,
      },
      { chain },
    );
  }

  manifest(
    fields: Pick<DumpManifest, 'dumpId' | 'method' | 'pointInTime' | 'from' | 'to' | 'after' | 'exportArn'>,
    sum: ItemsChecksum,
    files: DumpFile[],
  ): DumpManifest {
    return {
      format: MANIFEST_FORMAT,
      account: this.ctx.job.account,
      region: this.ctx.job.region,
      table: this.spec,
      itemCount: sum.count,
      checksum: sum.value,
      files,
      createdAt: this.now.toISOString(),
      ...fields,
    };
  }
}

async function pullTable(
  ctx: PullContext,
  settings: DynamoPullSettings,
  source: TableSource,
  name: string,
  deps: PullTablesDeps,
): Promise<TableRun> {
  const spec = await source.describeTable(name);
  if (!spec) return { outcome: 'unchanged', writes: 0, breaches: [] };
  const runner = new TableRunner(ctx, settings, source, name, spec, await recordOf(ctx, name, spec), deps);
  let outcome: Outcome;
  if (runner.detail.scan) outcome = await scanDump(runner);
  else if (runner.detail.pending) {
    try {
      outcome = await pollExport(runner);
    } catch (error) {
      if (!(error instanceof BadExport)) throw error;
      await runner.save({ state: 'failed', reason: safeText(error.message, 300) }, { chain: runner.detail.chain });
      outcome = 'failed';
    }
  } else {
    const pitr = await source.pitr(name);
    outcome = pitr.enabled ? await startExport(runner, pitr) : await startScan(runner);
  }
  return { outcome, writes: runner.writes, breaches: runner.breaches };
}

// --- scan dumps -------------------------------------------------------------

async function startScan(runner: TableRunner): Promise<Outcome> {
  const startedAt = runner.now;
  const checkpoint: ScanCheckpoint = {
    dumpId: dumpIdOf(startedAt, 'scan'),
    startedAt: startedAt.toISOString(),
    segments: Array.from({ length: runner.settings.scanSegments }, () => ({ done: false, parts: 0, estimate: 1 })),
    files: [],
    sum: new ItemsChecksum().state(),
    consumed: 0,
  };
  await runner.save(
    { state: runner.record.latest ? runner.record.state : 'pulling' },
    { ...runner.detail, scan: checkpoint },
  );
  return scanDump(runner);
}

/** The scan's read rate: a share of the provisioned read capacity, or the on-demand setting. */
export function scanReadRate(spec: TableSpec, settings: DynamoPullSettings): number {
  if (spec.billingMode === 'PROVISIONED' && spec.provisioned) return settings.scanReadShare * spec.provisioned.read;
  return settings.scanReadUnitsPerSecond;
}

async function scanDump(runner: TableRunner): Promise<Outcome> {
  const { ctx, source, name } = runner;
  const start = runner.detail.scan;
  if (!start) throw new Error('scanDump without a checkpoint');
  const segments = start.segments.map((s) => ({ ...s }));
  const files = [...start.files];
  const sum = new ItemsChecksum(start.sum);
  let consumed = start.consumed;
  const budget = new ReadBudget(scanReadRate(runner.spec, runner.settings), ctx.clock, runner.sleep);
  let outOfTime = false;
  let pagesSinceSave = 0;
  let saving = Promise.resolve();

  // Saves are chained so parallel segments never race each other on the record's version.
  const checkpoint = () => {
    const snapshot: ScanCheckpoint = {
      ...start,
      segments: segments.map((s) => ({ ...s })),
      files: [...files],
      sum: sum.state(),
      consumed,
    };
    saving = saving.then(() => runner.save({}, { ...runner.detail, scan: snapshot }));
    return saving;
  };

  // Parts are named by their content, for the table rather than the dump: a page an earlier dump
  // (or a run that crashed before its checkpoint) already wrote is found, not written again, so an
  // unchanged table costs reads and no data writes; a changed page gets a key of its own.
  const partKey = async (body: Uint8Array): Promise<string> => {
    const key = `${runner.partsPrefix()}${sha256Hex(body)}.json.gz`;
    await runner.put(key, body, 'application/gzip');
    return key;
  };

  const worker = async (n: number) => {
    const segment = segments[n];
    while (!segment.done && !outOfTime) {
      if (ctx.clock.now().getTime() >= ctx.deadline) {
        outOfTime = true;
        break;
      }
      await budget.reserve(segment.estimate);
      const page = await source.scanPage({
        table: name,
        segment: n,
        totalSegments: segments.length,
        limit: runner.deps.pageLimit ?? SCAN_PAGE_LIMIT,
        startKey: segment.lastKey,
      });
      budget.settle(segment.estimate, page.consumed);
      consumed += page.consumed;
      if (page.items.length > 0) {
        const body = encodeItemsFile(page.items);
        const key = await partKey(body);
        files.push({ key, count: page.items.length, sha256: sha256Hex(body) });
        for (const item of page.items) sum.add(item);
        segment.parts += 1;
      }
      segment.estimate = Math.max(page.consumed, 0.5);
      segment.lastKey = page.lastKey;
      segment.done = page.lastKey === undefined;
      pagesSinceSave += 1;
      if (pagesSinceSave >= CHECKPOINT_EVERY_PAGES) {
        pagesSinceSave = 0;
        await checkpoint();
      }
    }
  };
  // One segment's failure stops the others at their next page: nothing scans on after the run gave up.
  await Promise.all(
    segments.map((_, n) =>
      worker(n).catch((error: unknown) => {
        outOfTime = true;
        throw error;
      }),
    ),
  );
  await saving;

  if (segments.some((s) => !s.done)) {
    await checkpoint();
    await runner.continueLater(SCAN_CONTINUE_SECONDS);
    ctx.log.info('scan dump continues in a new invocation', {
      table: name,
      dumpId: start.dumpId,
      items: sum.count,
      consumedReadUnits: consumed,
    });
    return 'continued';
  }

  files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const manifest = runner.manifest({ dumpId: start.dumpId, method: 'scan', pointInTime: start.startedAt }, sum, files);
  if (await runner.sameAsLatestScan(manifest)) {
    // Nothing changed since the last dump: its manifest still describes the table, so no new one.
    await runner.save({ state: 'held', reason: undefined }, { ...runner.detail, scan: undefined });
    ctx.log.info('scan dump unchanged', { table: name, items: sum.count, consumedReadUnits: consumed });
    return 'unchanged';
  }
  // A scan is a full dump: incremental exports may chain after it once point-in-time recovery is on.
  await runner.finish(manifest, {
    fullDumpId: start.dumpId,
    fullAt: start.startedAt,
    end: start.startedAt,
    lastDumpId: start.dumpId,
  });
  ctx.log.info('scan dump held', { table: name, dumpId: start.dumpId, items: sum.count, consumedReadUnits: consumed });
  return 'changed';
}

// --- export chain -----------------------------------------------------------

/** The same (table, window) always gives the same token: a retried start is the same export. */
export function exportClientToken(tableArn: string, type: string, from: string, to: string): string {
  return createHash('sha256').update(`${tableArn}|${type}|${from}|${to}`).digest('hex').slice(0, 36);
}

/**
 * What the next export is: full when there is no chain, the full one is due,
 * the chain has a gap or the window is over 24 hours (a new full export is
 * simpler and no larger than replaying a day of changes); nothing when the
 * window is under 15 minutes; else an incremental export from the chain's end.
 */
export function planExport(
  chain: ChainState | undefined,
  pitr: PitrState,
  now: Date,
  fullExportEveryHours: number,
): { type: 'full' } | { type: 'incremental'; from: Date } | { type: 'none' } | { type: 'full'; breach: string } {
  if (!chain) return { type: 'full' };
  const end = new Date(chain.end);
  const unreachable = pitr.earliestRestorable !== undefined && pitr.earliestRestorable.getTime() > end.getTime();
  // A chain that starts with a scan dump was made while recovery was off: turning it on is no gap, just a new start.
  if (unreachable && chain.fullDumpId.endsWith('-scan')) return { type: 'full' };
  if (unreachable && pitr.earliestRestorable) {
    return {
      type: 'full',
      breach:
        `point-in-time recovery cannot reach back to the chain's end ${chain.end}: its earliest restorable time is ` +
        `${pitr.earliestRestorable.toISOString()} (it was turned off meanwhile, or its window is shorter than the backlog); ` +
        'the changes in between are lost to the backup, a new full export starts the chain again',
    };
  }
  if (now.getTime() - new Date(chain.fullAt).getTime() >= fullExportEveryHours * 3_600_000) return { type: 'full' };
  const window = now.getTime() - end.getTime();
  if (window < MIN_INCREMENTAL_MS) return { type: 'none' };
  if (window > MAX_INCREMENTAL_MS) return { type: 'full' };
  return { type: 'incremental', from: end };
}

const exportPrefix = (table: string, dumpId: string) => `bunker/${table}/${dumpId}`;

async function startExport(runner: TableRunner, pitr: PitrState): Promise<Outcome> {
  const { ctx, source, name, spec } = runner;
  const now = runner.now;
  // Whole seconds: the time is in the dump id, the client token and the export request alike.
  now.setUTCMilliseconds(0);
  const plan = planExport(runner.detail.chain, pitr, now, runner.settings.fullExportEveryHours);
  if ('breach' in plan) {
    runner.breaches.push(`${name}: ${plan.breach}`);
    ctx.log.warn('export chain gap', { table: name, chainEnd: runner.detail.chain?.end });
  }
  if (plan.type === 'none') {
    if (runner.record.state !== 'held' && runner.record.latest) await runner.save({ state: 'held' }, runner.detail);
    return 'unchanged';
  }
  if (plan.type === 'full' && pitr.earliestRestorable && pitr.earliestRestorable.getTime() > now.getTime()) {
    // Recovery was turned on within this second: DynamoDB refuses an export time before it, so wait for the next.
    ctx.log.info('export waits for the recovery window to open', { table: name });
    await runner.continueLater(RECOVERY_WINDOW_WAIT_SECONDS);
    return 'continued';
  }
  const method: DumpMethod = plan.type === 'full' ? 'export-full' : 'export-incremental';
  const dumpId = dumpIdOf(now, method);
  const from = plan.type === 'incremental' ? plan.from : undefined;
  const token = exportClientToken(spec.arn, method, from?.toISOString() ?? '', now.toISOString());
  const { arn } = await source.startExport({
    tableArn: spec.arn,
    prefix: exportPrefix(name, dumpId),
    type: plan.type === 'full' ? 'FULL_EXPORT' : 'INCREMENTAL_EXPORT',
    ...(from ? { from, to: now } : { exportTime: now }),
    clientToken: token,
  });
  const pending: PendingExport = {
    method,
    dumpId,
    exportArn: arn,
    startedAt: now.toISOString(),
    ...(from
      ? { from: from.toISOString(), to: now.toISOString(), after: runner.detail.chain?.lastDumpId }
      : { pointInTime: now.toISOString() }),
  };
  const breachPatch = 'breach' in plan ? { reason: `RPO breach: ${plan.breach}` } : {};
  await runner.save(
    { state: 'pulling', ...breachPatch },
    { chain: method === 'export-full' ? undefined : runner.detail.chain, pending },
  );
  await runner.continueLater(EXPORT_POLL_SECONDS);
  ctx.log.info('export started', { table: name, method, exportArn: arn });
  return 'continued';
}

interface ExportFileEntry {
  readonly dataFileS3Key: string;
  readonly itemCount: number;
  readonly md5Checksum: string;
}

async function pollExport(runner: TableRunner): Promise<Outcome> {
  const { source } = runner;
  const pending = runner.detail.pending;
  if (!pending) throw new Error('pollExport without a pending export');
  const status = await source.describeExport(pending.exportArn);
  if (status.status === 'IN_PROGRESS') {
    await runner.continueLater(EXPORT_POLL_SECONDS);
    return 'continued';
  }
  if (status.status === 'FAILED' || !status.manifestKey) {
    const why = status.failure ?? 'the export completed without a manifest';
    await runner.save(
      { state: 'failed', reason: `export ${pending.exportArn} failed: ${safeText(why)}` },
      { chain: runner.detail.chain },
    );
    return 'failed';
  }
  return copyExport(runner, pending, status.manifestKey);
}

async function readStaging(source: TableSource, key: string): Promise<Uint8Array> {
  const body = await source.readStaging(key);
  if (!body) throw new BadExport(`the export file ${key} is missing from the staging bucket`);
  return body;
}

/** Copies a completed export's files into the store, verified, then writes the manifest. */
async function copyExport(runner: TableRunner, pending: PendingExport, summaryKey: string): Promise<Outcome> {
  const { ctx, source, name } = runner;
  const prefix = runner.prefix(pending.dumpId);
  const summaryBody = await readStaging(source, summaryKey);
  const summary = JSON.parse(Buffer.from(summaryBody).toString('utf8')) as {
    manifestFilesS3Key: string;
    itemCount?: number;
  };
  const filesBody = await readStaging(source, summary.manifestFilesS3Key);
  const entries = Buffer.from(filesBody)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ExportFileEntry);
  await runner.put(`${prefix}export/manifest-summary.json`, summaryBody, 'application/json');
  await runner.put(`${prefix}export/manifest-files.json`, filesBody, 'application/json');

  const copied = [...(pending.copied ?? [])];
  const sum = new ItemsChecksum(pending.sum);
  for (const entry of entries.slice(copied.length)) {
    if (ctx.clock.now().getTime() >= ctx.deadline) {
      await runner.save({}, { ...runner.detail, pending: { ...pending, copied, sum: sum.state() } });
      await runner.continueLater(SCAN_CONTINUE_SECONDS);
      return 'continued';
    }
    const body = await readStaging(source, entry.dataFileS3Key);
    const md5 = createHash('md5').update(body).digest('base64');
    if (md5 !== entry.md5Checksum) {
      throw new BadExport(`export file ${entry.dataFileS3Key} does not match its MD5 in manifest-files.json`);
    }
    const lines = decodeLines(body);
    if (lines.length !== entry.itemCount) {
      throw new BadExport(
        `export file ${entry.dataFileS3Key} holds ${lines.length} records, manifest-files.json says ${entry.itemCount}`,
      );
    }
    // Full exports are checksummed over their items; incremental ones over their change records.
    for (const line of lines) sum.add(pending.method === 'export-full' ? (line.Item as Item) : line);
    const key = `${prefix}data/${entry.dataFileS3Key.split('/').pop() ?? 'file'}`;
    await runner.put(key, body, 'application/gzip');
    copied.push({ key, count: lines.length, sha256: sha256Hex(body) });
  }
  if (pending.method === 'export-full' && summary.itemCount !== undefined && summary.itemCount !== sum.count) {
    throw new BadExport(`export ${pending.exportArn} says ${summary.itemCount} items, its files hold ${sum.count}`);
  }

  const manifest = runner.manifest(
    {
      dumpId: pending.dumpId,
      method: pending.method,
      pointInTime: pending.pointInTime,
      from: pending.from,
      to: pending.to,
      after: pending.after,
      exportArn: pending.exportArn,
    },
    sum,
    copied,
  );
  const chain: ChainState =
    pending.method === 'export-full'
      ? {
          fullDumpId: pending.dumpId,
          fullAt: pending.pointInTime ?? pending.startedAt,
          end: pending.pointInTime ?? pending.startedAt,
          lastDumpId: pending.dumpId,
        }
      : {
          ...(runner.detail.chain as ChainState),
          end: pending.to ?? pending.startedAt,
          lastDumpId: pending.dumpId,
        };
  await runner.finish(manifest, chain);
  ctx.log.info('export held', { table: name, dumpId: pending.dumpId, records: sum.count });
  return 'changed';
}
