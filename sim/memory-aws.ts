/**
 * In-memory AWS behind the core's ports (`lambdas/core/ports.ts`), for unit
 * tests, the deterministic simulation and the benchmark.
 *
 * Each implementation behaves like AWS (and like the adapter in
 * `lambdas/adapters`) wherever the core's decisions depend on it:
 *
 * - {@link MemoryInventory} has the conditional writes of `DynamoInventory`.
 * - {@link MemoryRdsWorld} holds accounts, Regions, DB instances, snapshots
 *   and KMS keys, and hands out per account and Region views implementing
 *   `SourceRds`, `BackupSnapshotStore` and `SourceSnapshotReader`, with
 *   sharing, key and quota rules, and copies that take time.
 * - {@link MemoryPublisher} is the intake topic and queue: at-least-once
 *   delivery with seeded duplication and reordering, visibility timeout and
 *   a dead-letter queue.
 *
 * What the local emulator cannot do is a setting here: copy duration and
 * outcome, the copies-in-progress quota, the key a copy really ends up
 * under, throttling, and faults thrown before or after any port call.
 *
 * Nothing here reads a real clock or `Math.random`: given the same
 * {@link ManualClock}, {@link Prng} seed and calls, everything happens the same way.
 */
import { createHash } from 'node:crypto';
import { CopyQuotaExceededError, CopyRefusedError } from '../lambdas/core/errors';
import {
  afterAccountKey,
  claimsQueue,
  copyingQueue,
  followUpQueue,
  type CopyStatus,
  expiredBefore,
  type InventoryFilter,
  type InventoryRecord,
  matchesFilter,
  queueEntryOf,
  resourceKeyOf,
  waitingQueue,
} from '../lambdas/core/inventory';
import { kmsKeyIdOf } from '../lambdas/core/keys';
import type { Notification } from '../lambdas/core/notification';
import type { Receipt, ReceiptSender } from '../lambdas/core/receipts';
import type {
  Clock,
  Inventory,
  NotificationPublisher,
  RdsSnapshot,
  SnapshotType,
  SourceRds,
} from '../lambdas/core/ports';
import { TAG_INTERMEDIATE_OF, TAG_SOURCE_CREATED_AT } from '../lambdas/core/rds-source-agent';
import { rdsSnapshot as rdsSnapshotKind } from '../lambdas/kinds/rds-snapshot/kind';
import { KINDS } from '../lambdas/kinds/registry';
import { INTERMEDIATE_PREFIX } from '../lambdas/kinds/shared';
import type {
  ArtifactCopier,
  ArtifactRef,
  ArtifactState,
  CopyLocation,
  CopyRequest,
  CopyStarted,
  CopyView,
  SourceView,
} from '../lambdas/kinds/types';

// ---------------------------------------------------------------------------
// Randomness and time
// ---------------------------------------------------------------------------

/**
 * A seeded pseudo-random generator (mulberry32): small, fast, and the same
 * sequence for the same seed on every platform. Not for cryptography.
 */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** An integer in [0, `maxExclusive`). */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  /**
   * True with probability `p`. Draws nothing when `p` is 0 or 1, so turning
   * a fault off does not shift every later draw of the same stream.
   */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.int(items.length)];
  }

  /** A shuffled copy (Fisher-Yates); the input is left alone. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i -= 1) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /**
   * An independent stream derived from this one. Give each concern (world
   * shape, faults, delivery order) its own fork so changing one setting does
   * not reshuffle the others.
   */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4_294_967_296));
  }
}

/**
 * A clock that moves only when told to. Time stands still between
 * `advance` calls, so writes in one step share one timestamp: the harshest
 * case for anything that tells versions apart by time.
 */
export class ManualClock implements Clock {
  private ms: number;

  /** @param start - the initial time. @default 2026-03-01T00:00:00.000Z */
  constructor(start: Date | string | number = '2026-03-01T00:00:00.000Z') {
    this.ms = new Date(start).getTime();
    if (Number.isNaN(this.ms)) throw new RangeError(`invalid start time ${String(start)}`);
  }

  now(): Date {
    return new Date(this.ms);
  }

  /** The current time in epoch milliseconds. */
  get epochMs(): number {
    return this.ms;
  }

  advance(ms: number): Date {
    if (ms < 0) throw new RangeError('a clock does not go back');
    this.ms += ms;
    return new Date(this.ms);
  }

  advanceTo(at: Date | number): Date {
    return this.advance(Math.max(0, new Date(at).getTime() - this.ms));
  }
}

// ---------------------------------------------------------------------------
// Port calls: counting, faults and interleaving
// ---------------------------------------------------------------------------

export type PortName = 'inventory' | 'backup-store' | 'source-rds' | 'reader' | 'publisher' | 'receipts';

/** One call of a port method, as fault rules and counters see it. */
export interface PortCall {
  readonly port: PortName;
  readonly method: string;
  /** The account whose resources the call touches (for the reader: the source account). */
  readonly account?: string;
  readonly region?: string;
  /** The snapshot id, ARN, target or artifact id the call is about, when there is one. */
  readonly subject?: string;
}

/** `before`: the call has no effect. `after`: the call took effect, but its caller never hears so. */
export type FaultPhase = 'before' | 'after';

/**
 * A fault the simulation injects: a crashed container, a timeout, a lost
 * response. Deliberately not a `BunkerError`: it stands for a failure from
 * outside that the core must not recognise as one of its own outcomes.
 */
export class SimulatedFaultError extends Error {
  constructor(
    readonly call: PortCall,
    readonly phase: FaultPhase,
  ) {
    super(`simulated fault ${phase} ${call.port}.${call.method}${call.subject ? ` (${call.subject})` : ''}`);
    this.name = 'SimulatedFaultError';
  }
}

/**
 * An error as the AWS SDK raises it: `name` is the service's error code.
 * Deliberately not a `BunkerError`: adapters rethrow such errors unmapped.
 */
export class AwsServiceError extends Error {
  constructor(code: string, message: string) {
    super(message);
    this.name = code;
  }
}

export type CallMatcher = Partial<PortCall> | ((call: PortCall) => boolean);

interface FaultRule {
  readonly match: (call: PortCall) => boolean;
  readonly phase: FaultPhase;
  remaining: number;
  readonly error: (call: PortCall, phase: FaultPhase) => Error;
}

const matcher = (match: CallMatcher) =>
  typeof match === 'function'
    ? match
    : (call: PortCall) => Object.entries(match).every(([key, value]) => call[key as keyof PortCall] === value);

/**
 * Sits in front of every memory port: counts calls, throws injected faults
 * before or after a call, and (for concurrent use cases) yields to other
 * work before each call. One monitor is usually shared by all ports of a
 * test or simulation.
 */
export class PortMonitor {
  /** Port calls so far. */
  calls = 0;
  /** Calls per `port.method`. */
  readonly byMethod = new Map<string, number>();
  /** Faults thrown so far. */
  faults = 0;
  /**
   * Asked at every call and phase after the fault rules; an error it returns
   * is thrown. The simulation's random crashes come through here.
   */
  injector?: (call: PortCall, phase: FaultPhase) => Error | undefined;
  /**
   * How many microtask turns to yield before a call. Use cases run with
   * `Promise.all` then interleave at port calls, deterministically for a
   * given answer sequence (draw it from a {@link Prng}).
   */
  scheduler?: (call: PortCall) => number;
  private readonly rules: FaultRule[] = [];

  /** Throws once (`times` times) at the first call(s) that match. */
  fail(
    match: CallMatcher,
    options: {
      phase?: FaultPhase;
      times?: number;
      error?: Error | ((call: PortCall, phase: FaultPhase) => Error);
    } = {},
  ): this {
    const { phase = 'before', times = 1, error } = options;
    this.rules.push({
      match: matcher(match),
      phase,
      remaining: times,
      error:
        error === undefined
          ? (call, at) => new SimulatedFaultError(call, at)
          : typeof error === 'function'
            ? error
            : () => error,
    });
    return this;
  }

  /** Fault rules not used up yet. */
  get armedFaults(): number {
    return this.rules.filter((rule) => rule.remaining > 0).length;
  }

  /** Runs `effect` as one port call. The effect is synchronous: an AWS call takes effect atomically. */
  async run<T>(call: PortCall, effect: () => T): Promise<T> {
    this.calls += 1;
    const key = `${call.port}.${call.method}`;
    this.byMethod.set(key, (this.byMethod.get(key) ?? 0) + 1);
    const turns = this.scheduler?.(call) ?? 0;
    for (let i = 0; i < turns; i += 1) await Promise.resolve();
    this.check(call, 'before');
    const result = effect();
    this.check(call, 'after');
    return result;
  }

  private check(call: PortCall, phase: FaultPhase): void {
    const rule = this.rules.find((r) => r.remaining > 0 && r.phase === phase && r.match(call));
    let error: Error | undefined;
    if (rule) {
      rule.remaining -= 1;
      error = rule.error(call, phase);
    } else {
      error = this.injector?.(call, phase);
    }
    if (error) {
      this.faults += 1;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------

/** DynamoDB's document client with `removeUndefinedValues` stores no undefined attributes; neither do we. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => withoutUndefined(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, withoutUndefined(v)]),
    ) as T;
  }
  return value;
}

const stored = <T>(value: T): T => withoutUndefined(structuredClone(value));

/**
 * The inventory table in memory, with exactly the conditional semantics of
 * `DynamoInventory`: `create` only if no item has the id; `replace` writes
 * `next` only if the stored item under `next`'s id has the status and
 * `updatedAt` of `expected`. Reads are strongly consistent (the adapter uses
 * consistent reads; its status index is eventually consistent, which is not
 * modelled). Records are copied in and out, so no caller can change stored
 * state except through a write.
 */
export class MemoryInventory implements Inventory {
  private readonly items = new Map<string, InventoryRecord>();
  /** Copy slots in use per pool, changed atomically with the records, as the DynamoDB adapter's counter item. */
  private readonly slots = new Map<string, number>();
  /** The record holding each source resource's one slot, as the adapter's `resource:` items. */
  private readonly resources = new Map<string, string>();

  constructor(readonly monitor: PortMonitor = new PortMonitor()) {}

  get(artifactId: string): Promise<InventoryRecord | undefined> {
    return this.monitor.run({ port: 'inventory', method: 'get', subject: artifactId }, () => this.peek(artifactId));
  }

  existing(artifactIds: readonly string[]): Promise<Set<string>> {
    return this.monitor.run(
      { port: 'inventory', method: 'existing', subject: `${artifactIds.length} ids` },
      () => new Set(artifactIds.filter((id) => this.items.has(id))),
    );
  }

  create(record: InventoryRecord): Promise<boolean> {
    return this.monitor.run({ port: 'inventory', method: 'create', subject: record.artifactId }, () => {
      if (this.items.has(record.artifactId)) return false;
      this.items.set(record.artifactId, stored(record));
      return true;
    });
  }

  replace(expected: InventoryRecord, next: InventoryRecord): Promise<boolean> {
    return this.monitor.run({ port: 'inventory', method: 'replace', subject: next.artifactId }, () => {
      if (next.status === 'copying' && expected.status !== 'copying') {
        throw new Error(`entering copying must take a copy slot: use claimCopy for ${next.artifactId}`);
      }
      // The condition is evaluated on the item the put would overwrite: the one under next's key.
      if (!this.matches(expected, next)) return false;
      this.items.set(next.artifactId, stored(next));
      if (expected.status === 'copying' && next.status !== 'copying') {
        const pool = expected.pool ?? '';
        this.slots.set(pool, (this.slots.get(pool) ?? 0) - 1);
        this.release(expected);
      }
      return true;
    });
  }

  claimCopy(
    expected: InventoryRecord | undefined,
    next: InventoryRecord,
    limit: number,
  ): Promise<'claimed' | 'conflict' | 'full' | 'busy'> {
    return this.monitor.run({ port: 'inventory', method: 'claimCopy', subject: next.artifactId }, () => {
      if (expected ? !this.matches(expected, next) : this.items.has(next.artifactId)) return 'conflict';
      const pool = next.pool ?? '';
      const inUse = this.slots.get(pool) ?? 0;
      if (inUse >= limit) return 'full';
      const resource = resourceKeyOf(next);
      const holder = resource === undefined ? undefined : this.resources.get(resource);
      if (resource !== undefined && holder !== undefined && holder !== next.artifactId) return 'busy';
      this.items.set(next.artifactId, stored(next));
      this.slots.set(pool, inUse + 1);
      if (resource !== undefined) this.resources.set(resource, next.artifactId);
      return 'claimed';
    });
  }

  copiesInProgress(pool: string): Promise<number> {
    return this.monitor.run(
      { port: 'inventory', method: 'copiesInProgress', subject: pool },
      () => this.slots.get(pool) ?? 0,
    );
  }

  nextWaiting(pool: string, afterAccount?: string): Promise<InventoryRecord | undefined> {
    return this.monitor.run({ port: 'inventory', method: 'nextWaiting', subject: pool }, () => {
      const queue = waitingQueue(pool);
      const after = afterAccount === undefined ? undefined : afterAccountKey(afterAccount);
      const next = (after === undefined ? undefined : this.first(queue, after)) ?? this.first(queue);
      return next ? structuredClone(next) : undefined;
    });
  }

  expiredClaim(pool: string, now: Date): Promise<InventoryRecord | undefined> {
    return this.monitor.run({ port: 'inventory', method: 'expiredClaim', subject: pool }, () => {
      const first = this.first(claimsQueue(pool));
      const entry = first && queueEntryOf(first);
      return entry && entry.queueKey < expiredBefore(now) ? structuredClone(first) : undefined;
    });
  }

  copiesInFlight(pool: string, limit: number): Promise<InventoryRecord[]> {
    return this.monitor.run({ port: 'inventory', method: 'copiesInFlight', subject: pool }, () =>
      this.queued(copyingQueue(pool), limit),
    );
  }

  awaitingFollowUp(pool: string): Promise<InventoryRecord[]> {
    return this.monitor.run({ port: 'inventory', method: 'awaitingFollowUp', subject: pool }, () =>
      this.queued(followUpQueue(pool), Number.POSITIVE_INFINITY),
    );
  }

  /** The first `limit` records of one partition of the queue index, in key order, as a query answers. */
  private queued(queue: string, limit: number): InventoryRecord[] {
    const entries: { key: string; record: InventoryRecord }[] = [];
    for (const record of this.items.values()) {
      const entry = queueEntryOf(record);
      if (entry?.queue === queue) entries.push({ key: entry.queueKey, record });
    }
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return entries.slice(0, limit).map((e) => structuredClone(e.record));
  }

  /** The first record of one partition of the queue index (above `after`), as a query with `Limit: 1` answers. */
  private first(queue: string, after?: string): InventoryRecord | undefined {
    let best: { key: string; record: InventoryRecord } | undefined;
    for (const record of this.items.values()) {
      const entry = queueEntryOf(record);
      if (entry?.queue !== queue || (after !== undefined && entry.queueKey <= after)) continue;
      if (!best || entry.queueKey < best.key) best = { key: entry.queueKey, record };
    }
    return best?.record;
  }

  /** Frees the source resource a record leaving `copying` held (as the adapter's conditional delete). */
  private release(record: InventoryRecord): void {
    const resource = resourceKeyOf(record);
    if (resource !== undefined && this.resources.get(resource) === record.artifactId) this.resources.delete(resource);
  }

  /** The DynamoDB adapter's condition: the stored record still has the expected version. */
  private matches(expected: InventoryRecord, next: InventoryRecord): boolean {
    const current = this.items.get(next.artifactId);
    return current !== undefined && current.version === expected.version;
  }

  listByStatus(status: CopyStatus): Promise<InventoryRecord[]> {
    return this.monitor.run({ port: 'inventory', method: 'listByStatus', subject: status }, () =>
      this.records().filter((record) => record.status === status),
    );
  }

  list(filter: InventoryFilter = {}): Promise<InventoryRecord[]> {
    return this.monitor.run({ port: 'inventory', method: 'list' }, () =>
      this.records().filter((record) => matchesFilter(record, filter)),
    );
  }

  // Inspection and setup for tests: not port calls, never counted, never faulted.

  /** A copy of the stored record. */
  peek(artifactId: string): InventoryRecord | undefined {
    const record = this.items.get(artifactId);
    return record ? structuredClone(record) : undefined;
  }

  /** Copies of every stored record, in insertion order. */
  records(): InventoryRecord[] {
    return [...this.items.values()].map((record) => structuredClone(record));
  }

  /** Stores a record unconditionally (test setup), keeping the copy slots and resources equal to the `copying` records. */
  put(record: InventoryRecord): void {
    const before = this.items.get(record.artifactId);
    const delta = (record.status === 'copying' ? 1 : 0) - (before?.status === 'copying' ? 1 : 0);
    const pool = record.pool ?? before?.pool ?? '';
    if (delta !== 0) this.slots.set(pool, (this.slots.get(pool) ?? 0) + delta);
    if (before?.status === 'copying') this.release(before);
    const resource = resourceKeyOf(record);
    if (record.status === 'copying' && resource !== undefined) this.resources.set(resource, record.artifactId);
    this.items.set(record.artifactId, stored(record));
  }

  get size(): number {
    return this.items.size;
  }
}

// ---------------------------------------------------------------------------
// RDS and KMS
// ---------------------------------------------------------------------------

/** What a copy is, as behaviour hooks see it. */
export interface CopyContext {
  /** The copying account and Region (where the copy is made). */
  readonly account: string;
  readonly region: string;
  readonly sourceArn: string;
  readonly targetId: string;
  /** The key the caller asked for. */
  readonly kmsKeyArn: string;
  /** The source is in another Region. */
  readonly crossRegion: boolean;
  /** The source is in another account (a shared snapshot). */
  readonly crossAccount: boolean;
}

export interface RdsWorldOptions {
  readonly clock: Clock;
  /** @default - a fresh monitor */
  readonly monitor?: PortMonitor;
  /** @default 'aws' */
  readonly partition?: string;
  /** How long a copy stays `creating` (`copying` across Regions). @default 300_000 (5 minutes) */
  readonly copyDurationMs?: number | ((copy: CopyContext) => number);
  /** How a copy ends. @default - `available` */
  readonly copyOutcome?: (copy: CopyContext) => 'available' | 'failed';
  /**
   * The key a copy really ends up under, to simulate the wrong-key bug class
   * (a copy under the source key, or under another key). `undefined` keeps the requested key.
   * @default - the requested key
   */
  readonly copyKmsKey?: (copy: CopyContext) => string | undefined;
  /**
   * RDS DB snapshot copies in progress per account and Region before a copy
   * is answered with a quota error (aws-facts: 20, older docs 5).
   * @default 20
   */
  readonly copyQuota?: number;
  /** Throttling on top of the quota: answers "not now" when it returns true. @default - never */
  readonly throttle?: (copy: CopyContext) => boolean;
  /**
   * Whether a source account's reader role lets the backup account in
   * (AssumeRole succeeds). @default - always
   */
  readonly readerTrust?: (sourceAccount: string, backupAccount: string) => boolean;
  /**
   * The kind whose ARNs the snapshots carry, as RDS names them: a DB
   * snapshot's `snapshot:`, a cluster snapshot's `cluster-snapshot:`.
   * @default 'rds-snapshot'
   */
  readonly arnKind?: 'rds-snapshot' | 'aurora-cluster-snapshot';
}

interface StoredSnapshot {
  readonly id: string;
  readonly arn: string;
  readonly account: string;
  readonly region: string;
  readonly dbInstanceId: string;
  readonly type: SnapshotType;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly createdAtMs: number;
  readonly engine?: string;
  readonly sizeGiB?: number;
  readonly tags: Record<string, string>;
  readonly sharedWith: Set<string>;
  /** Until then the snapshot shows `pendingStatus`; from then on `finalStatus`. */
  readonly readyAtMs: number;
  readonly pendingStatus: string;
  readonly finalStatus: 'available' | 'failed';
  /** ARN of the snapshot this one was copied from. */
  readonly copiedFrom?: string;
  /** Whether {@link MemoryRdsWorld.takeTransitions} has reported it ready. */
  reported: boolean;
}

interface KmsKey {
  readonly arn: string;
  readonly account: string;
  readonly alias: string;
  /** The AWS-managed `aws/rds` key: snapshots under it cannot be shared. */
  readonly awsManaged: boolean;
  readonly usableBy: Set<string>;
}

interface RegionState {
  readonly instances: Map<string, Record<string, string>>;
  readonly snapshots: Map<string, StoredSnapshot>;
  copyQuota?: number;
  maxCopiesInProgress: number;
}

export interface NewSnapshot {
  readonly id: string;
  readonly dbInstanceId: string;
  /** @default 'manual' */
  readonly type?: SnapshotType;
  /** @default true */
  readonly encrypted?: boolean;
  /** @default - the account's `aws/rds` key when encrypted */
  readonly kmsKeyId?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** @default 'postgres' */
  readonly engine?: string;
  /** @default 20 */
  readonly sizeGiB?: number;
  /** @default - now */
  readonly createdAt?: Date;
  /** The snapshot shows `creating` for this long. @default 0 (available at once) */
  readonly readyInMs?: number;
  /** @default 'available' */
  readonly finalStatus?: 'available' | 'failed';
  /** Accounts in the `restore` attribute. @default [] */
  readonly sharedWith?: readonly string[];
}

/** A snapshot that became ready (available or failed) since the last look: what an RDS event would report. */
export interface SnapshotTransition {
  readonly account: string;
  readonly region: string;
  readonly snapshotId: string;
  readonly status: 'available' | 'failed';
  /** Set for a copy: the ARN it was copied from. */
  readonly copiedFrom?: string;
  readonly at: Date;
}

/** A copy RDS accepted and started. */
export interface CopyLogEntry extends CopyContext {
  readonly at: Date;
  /** The key the copy is really under. */
  readonly kmsKeyId: string;
}

/** A deletion RDS carried out. */
export interface DeletionLogEntry {
  readonly account: string;
  readonly region: string;
  readonly snapshotId: string;
  readonly type: SnapshotType;
  readonly at: Date;
}

const DEFAULT_COPY_QUOTA = 20;
const SHARE_LIMIT = 20;

function deterministicKeyId(account: string, region: string, alias: string): string {
  const hex = createHash('sha256').update(`${account}/${region}/${alias}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * One world of AWS accounts and Regions with RDS DB instances, DB snapshots
 * and KMS keys. Set it up directly (`addInstance`, `addSnapshot`,
 * `createKey`); let the core reach it only through the port views
 * (`sourceRds`, `backupStore`, `reader`), which apply AWS's rules:
 *
 * - a snapshot being created or copied is `creating` (`copying` across
 *   Regions) until its time is up, then `available` or `failed`; status is
 *   computed from the clock, so advancing the clock is all it takes;
 * - a copy to an existing identifier answers `exists` (DBSnapshotAlreadyExists);
 * - a shared snapshot can be copied only by an account its `restore`
 *   attribute names, only when `available`, and only if its key is usable
 *   by the copier; the target key must be usable by the copier too;
 * - automated snapshots and snapshots under the AWS-managed `aws/rds` key
 *   cannot be shared; at most 20 accounts per snapshot;
 * - automated snapshots cannot be deleted by a caller, nor snapshots still being made;
 * - copies in progress per account and Region are bounded by a quota.
 */
export class MemoryRdsWorld {
  readonly monitor: PortMonitor;
  /** Every copy RDS started, oldest first. */
  readonly copies: CopyLogEntry[] = [];
  /** Every snapshot a caller deleted, oldest first. */
  readonly deletions: DeletionLogEntry[] = [];
  /** Quota or throttling answers given so far. */
  quotaErrors = 0;

  private readonly clock: Clock;
  private readonly partition: string;
  private readonly options: RdsWorldOptions;
  private readonly regions = new Map<string, RegionState>();
  private readonly keys = new Map<string, KmsKey>();

  constructor(options: RdsWorldOptions) {
    this.options = options;
    this.clock = options.clock;
    this.monitor = options.monitor ?? new PortMonitor();
    this.partition = options.partition ?? 'aws';
  }

  private arnOf(region: string, account: string, id: string): string {
    return KINDS[this.options.arnKind ?? 'rds-snapshot'].arn({ partition: this.partition, account, region, id });
  }

  // -- setup -----------------------------------------------------------------

  /** Creates (or returns) a customer-managed key, usable by its owner and by `usableBy`. */
  createKey(account: string, region: string, alias: string, usableBy: readonly string[] = []): string {
    const id = deterministicKeyId(account, region, alias);
    let key = this.keys.get(id);
    if (!key) {
      key = {
        arn: `arn:${this.partition}:kms:${region}:${account}:key/${id}`,
        account,
        alias,
        awsManaged: alias === 'aws/rds',
        usableBy: new Set(),
      };
      this.keys.set(id, key);
    }
    for (const other of usableBy) key.usableBy.add(other);
    return key.arn;
  }

  /** The account's AWS-managed `aws/rds` key in a Region: usable only by the account, never shareable. */
  defaultKey(account: string, region: string): string {
    return this.createKey(account, region, 'aws/rds');
  }

  addInstance(
    account: string,
    region: string,
    dbInstanceId: string,
    tags: Readonly<Record<string, string>> = {},
  ): void {
    this.region(account, region).instances.set(dbInstanceId, { ...tags });
  }

  removeInstance(account: string, region: string, dbInstanceId: string): void {
    this.region(account, region).instances.delete(dbInstanceId);
  }

  /** Adds a snapshot as RDS would have made it (no port call, no quota). */
  addSnapshot(account: string, region: string, snapshot: NewSnapshot): RdsSnapshot {
    const state = this.region(account, region);
    if (state.snapshots.has(snapshot.id)) {
      throw new Error(`snapshot ${snapshot.id} already exists in ${account}/${region}`);
    }
    const now = this.clock.now().getTime();
    const encrypted = snapshot.encrypted ?? true;
    const stored: StoredSnapshot = {
      id: snapshot.id,
      arn: this.arnOf(region, account, snapshot.id),
      account,
      region,
      dbInstanceId: snapshot.dbInstanceId,
      type: snapshot.type ?? 'manual',
      encrypted,
      kmsKeyId: encrypted ? (snapshot.kmsKeyId ?? this.defaultKey(account, region)) : undefined,
      createdAtMs: snapshot.createdAt?.getTime() ?? now,
      engine: snapshot.engine ?? 'postgres',
      sizeGiB: snapshot.sizeGiB ?? 20,
      tags: { ...snapshot.tags },
      sharedWith: new Set(snapshot.sharedWith ?? []),
      readyAtMs: now + (snapshot.readyInMs ?? 0),
      pendingStatus: 'creating',
      finalStatus: snapshot.finalStatus ?? 'available',
      reported: false,
    };
    state.snapshots.set(snapshot.id, stored);
    return this.view(stored);
  }

  /** Overrides the copy quota of one account and Region. */
  setCopyQuota(account: string, region: string, limit: number): void {
    this.region(account, region).copyQuota = limit;
  }

  // -- inspection (not port calls) -------------------------------------------

  snapshot(account: string, region: string, snapshotId: string): RdsSnapshot | undefined {
    const found = this.regions.get(`${account}/${region}`)?.snapshots.get(snapshotId);
    return found ? this.view(found) : undefined;
  }

  /** Every snapshot an account owns in a Region, oldest first. */
  snapshots(account: string, region: string): RdsSnapshot[] {
    return this.owned(account, region).map((s) => this.view(s));
  }

  sharedWithOf(account: string, region: string, snapshotId: string): string[] {
    return [...(this.regions.get(`${account}/${region}`)?.snapshots.get(snapshotId)?.sharedWith ?? [])];
  }

  /** Copies (made by `CopyDBSnapshot`) now `creating` or `copying` in an account and Region. */
  copiesInProgress(account: string, region: string): number {
    const now = this.clock.now().getTime();
    return this.owned(account, region).filter((s) => s.copiedFrom !== undefined && now < s.readyAtMs).length;
  }

  /** The most copies ever in progress at once in an account and Region. */
  maxCopiesInProgress(account: string, region: string): number {
    return this.regions.get(`${account}/${region}`)?.maxCopiesInProgress ?? 0;
  }

  /** Snapshots still being created or copied, anywhere. */
  pendingSnapshots(): number {
    const now = this.clock.now().getTime();
    let pending = 0;
    for (const state of this.regions.values()) {
      for (const s of state.snapshots.values()) if (now < s.readyAtMs) pending += 1;
    }
    return pending;
  }

  /**
   * Snapshots that became ready since the last call, in the order they did:
   * the RDS events (0091/0042 created, 0197/0190 copy finished/failed) a
   * simulation may deliver, lose or duplicate.
   */
  takeTransitions(): SnapshotTransition[] {
    const now = this.clock.now().getTime();
    const ready: StoredSnapshot[] = [];
    for (const state of this.regions.values()) {
      for (const s of state.snapshots.values()) if (!s.reported && s.readyAtMs <= now) ready.push(s);
    }
    ready.sort((a, b) => a.readyAtMs - b.readyAtMs || a.arn.localeCompare(b.arn));
    return ready.map((s) => {
      s.reported = true;
      return {
        account: s.account,
        region: s.region,
        snapshotId: s.id,
        status: s.finalStatus,
        ...(s.copiedFrom ? { copiedFrom: s.copiedFrom } : {}),
        at: new Date(s.readyAtMs),
      };
    });
  }

  // -- port views ------------------------------------------------------------

  /** The source agent's RDS in one account and Region. */
  sourceRds(account: string, region: string): SourceRds {
    const call = (method: string, subject?: string): PortCall => ({
      port: 'source-rds',
      method,
      account,
      region,
      subject,
    });
    return {
      describeSnapshot: (snapshotId) =>
        this.monitor.run(call('describeSnapshot', snapshotId), () => this.snapshot(account, region, snapshotId)),
      listSnapshots: () =>
        this.monitor.run(call('listSnapshots'), () =>
          this.owned(account, region)
            .filter((s) => s.type !== 'shared' && s.type !== 'public')
            .map((s) => this.view(s)),
        ),
      instanceTags: (dbInstanceId) =>
        this.monitor.run(call('instanceTags', dbInstanceId), () => {
          const tags = this.region(account, region).instances.get(dbInstanceId);
          return tags ? { ...tags } : undefined;
        }),
      copySnapshot: (request) =>
        this.monitor.run(call('copySnapshot', request.targetId), () => {
          const source = this.region(account, region).snapshots.get(request.sourceId);
          if (!source) throw notFound(request.sourceId);
          const result = this.copy(account, region, source, request.targetId, request.kmsKeyArn, request.tags);
          if (result instanceof Error) throw result;
          return result;
        }),
      sharedWith: (snapshotId) =>
        this.monitor.run(call('sharedWith', snapshotId), () => [
          ...this.mustFind(account, region, snapshotId).sharedWith,
        ]),
      share: (snapshotId, other) =>
        this.monitor.run(call('share', snapshotId), () => {
          const snapshot = this.mustFind(account, region, snapshotId);
          if (snapshot.type !== 'manual') {
            throw new AwsServiceError(
              'InvalidParameterValue',
              `${snapshot.type} snapshot ${snapshotId} cannot be shared`,
            );
          }
          if (this.status(snapshot) !== 'available') {
            throw new AwsServiceError('InvalidDBSnapshotState', `snapshot ${snapshotId} is not available`);
          }
          if (snapshot.kmsKeyId && this.key(snapshot.kmsKeyId)?.awsManaged) {
            throw new AwsServiceError(
              'InvalidParameterValue',
              `snapshot ${snapshotId} is encrypted with the default KMS key and cannot be shared`,
            );
          }
          if (!snapshot.sharedWith.has(other) && snapshot.sharedWith.size >= SHARE_LIMIT) {
            throw new AwsServiceError(
              'SharedSnapshotQuotaExceeded',
              `snapshot ${snapshotId} is shared with ${SHARE_LIMIT} accounts`,
            );
          }
          snapshot.sharedWith.add(other);
        }),
      tag: (snapshotArn, tags) =>
        this.monitor.run(call('tag', snapshotArn), () => {
          const snapshot = this.owned(account, region).find((s) => s.arn === snapshotArn);
          if (!snapshot) throw notFound(snapshotArn);
          Object.assign(snapshot.tags, tags);
        }),
      deleteSnapshot: (snapshotId) =>
        this.monitor.run(call('deleteSnapshot', snapshotId), () => {
          const state = this.region(account, region);
          const snapshot = state.snapshots.get(snapshotId);
          if (!snapshot) return; // the adapter treats "not found" as done
          if (snapshot.type === 'automated') {
            throw new AwsServiceError('InvalidDBSnapshotState', `automated snapshot ${snapshotId} cannot be deleted`);
          }
          if (this.clock.now().getTime() < snapshot.readyAtMs) {
            throw new AwsServiceError('InvalidDBSnapshotState', `snapshot ${snapshotId} is ${snapshot.pendingStatus}`);
          }
          state.snapshots.delete(snapshotId);
          this.deletions.push({
            account,
            region,
            snapshotId,
            type: snapshot.type,
            at: this.clock.now(),
          });
        }),
    };
  }

  /**
   * The RDS DB snapshot kind's copier for the backup account, as
   * `RdsFamilyCopier` does it: sources are read in the account the
   * reference names (through its reader role) and answered only if the
   * snapshot exists there; copies map RDS's answers the same way (already
   * there → `exists`; quota or throttling → {@link CopyQuotaExceededError};
   * not found, not shared, not available or key not usable → {@link CopyRefusedError}).
   */
  copier(backupAccount: string): ArtifactCopier {
    return {
      kind: 'rds-snapshot',
      describeSource: (ref: ArtifactRef) =>
        this.monitor.run(
          { port: 'reader', method: 'describe', account: ref.account, region: ref.region, subject: ref.id },
          (): SourceView | undefined => {
            if (!(this.options.readerTrust?.(ref.account, backupAccount) ?? true)) {
              throw new AwsServiceError(
                'AccessDenied',
                `${backupAccount} is not authorized to assume the reader role of ${ref.account}`,
              );
            }
            const found = this.regions.get(`${ref.account}/${ref.region}`)?.snapshots.get(ref.id);
            if (!found) return undefined;
            const status = this.status(found);
            const productionId = found.tags[TAG_INTERMEDIATE_OF];
            const tagged = found.tags[TAG_SOURCE_CREATED_AT];
            return {
              ref,
              arn: found.arn,
              ownerAccount: found.account,
              state: worldState(status),
              detail: status,
              encrypted: found.encrypted,
              ...(found.kmsKeyId ? { keyArn: found.kmsKeyId } : {}),
              sharedWith: [...found.sharedWith],
              producedAt: tagged ?? new Date(found.createdAtMs).toISOString(),
              resourceId: found.dbInstanceId,
              ...(productionId ? { productionId } : {}),
              scopeIds: [found.dbInstanceId, productionId, found.id].filter((id): id is string => Boolean(id)),
              // The snapshot's own tags, as RdsFamilyCopier's describe answers; the instance's only on demand.
              scopeTags: { ...found.tags },
              ...(found.sizeGiB !== undefined ? { sizeGiB: found.sizeGiB } : {}),
              ...(found.engine ? { engine: found.engine } : {}),
            };
          },
        ),
      // As `RdsFamilyCopier.resourceScopeTags`: the DB instance's tags through the reader role, a deleted one's snapshot's own.
      resourceScopeTags: (view: SourceView) =>
        this.monitor.run(
          {
            port: 'reader',
            method: 'instanceTags',
            account: view.ref.account,
            region: view.ref.region,
            subject: view.resourceId ?? view.ref.id,
          },
          (): Readonly<Record<string, string>> => {
            const tags = view.resourceId
              ? this.regions.get(`${view.ref.account}/${view.ref.region}`)?.instances.get(view.resourceId)
              : undefined;
            return tags ? { ...tags } : view.scopeTags;
          },
        ),
      // As the backup account lists them: the agent's `bunker-share-` snapshots shared with it, not through the reader role.
      listShared: (region: string, accounts: readonly string[]) =>
        this.monitor.run(
          { port: 'backup-store', method: 'listShared', account: backupAccount, region, subject: region },
          (): ArtifactRef[] =>
            [...new Set(accounts)].flatMap((account) =>
              this.owned(account, region)
                .filter((s) => s.sharedWith.has(backupAccount) && s.id.startsWith(`${INTERMEDIATE_PREFIX}-`))
                .map((s): ArtifactRef => ({
                  kind: 'rds-snapshot',
                  partition: this.partition,
                  account,
                  region,
                  id: s.id,
                })),
            ),
        ),
      copy: (request: CopyRequest) =>
        this.monitor.run(
          {
            port: 'backup-store',
            method: 'copyShared',
            account: backupAccount,
            region: request.targetRegion,
            subject: request.targetName,
          },
          (): CopyStarted => {
            const region = request.targetRegion;
            const parsed = rdsSnapshotKind.parseArn(request.sourceArn);
            const source = parsed
              ? this.regions.get(`${parsed.account}/${parsed.region}`)?.snapshots.get(parsed.id)
              : undefined;
            const visible =
              source !== undefined &&
              source.arn === request.sourceArn &&
              (source.account === backupAccount || source.sharedWith.has(backupAccount));
            // A snapshot not shared with the caller looks exactly like one that does not exist.
            if (!visible && !this.region(backupAccount, region).snapshots.has(request.targetName)) {
              throw new CopyRefusedError(
                `RDS refused the copy: DBSnapshotNotFound: DBSnapshot ${request.sourceArn} not found.`,
              );
            }
            const result = source
              ? this.copy(backupAccount, region, source, request.targetName, request.kmsKeyArn, request.tags)
              : 'exists';
            if (result instanceof CopyQuotaExceededError) throw result;
            if (result instanceof Error) {
              throw new CopyRefusedError(`RDS refused the copy: ${result.name}: ${result.message}`);
            }
            return { outcome: result, targetId: request.targetName };
          },
        ),
      describeCopy: (location: CopyLocation) =>
        this.monitor.run(
          {
            port: 'backup-store',
            method: 'describe',
            account: backupAccount,
            region: location.region,
            subject: location.targetId ?? location.targetName,
          },
          (): CopyView | undefined => {
            const found = this.regions
              .get(`${backupAccount}/${location.region}`)
              ?.snapshots.get(location.targetId ?? location.targetName);
            if (!found) return undefined;
            const status = this.status(found);
            return {
              targetId: found.id,
              arn: found.arn,
              region: location.region,
              state: worldState(status),
              detail: status,
              encrypted: found.encrypted,
              ...(found.kmsKeyId ? { keyArn: found.kmsKeyId } : {}),
              ...(found.sizeGiB !== undefined ? { sizeGiB: found.sizeGiB } : {}),
              tags: { ...found.tags },
            };
          },
        ),
    };
  }

  // -- internals -------------------------------------------------------------

  private region(account: string, region: string): RegionState {
    const id = `${account}/${region}`;
    let state = this.regions.get(id);
    if (!state) {
      state = {
        instances: new Map(),
        snapshots: new Map(),
        maxCopiesInProgress: 0,
      };
      this.regions.set(id, state);
    }
    return state;
  }

  private owned(account: string, region: string): StoredSnapshot[] {
    return [...(this.regions.get(`${account}/${region}`)?.snapshots.values() ?? [])].sort(
      (a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id),
    );
  }

  private mustFind(account: string, region: string, snapshotId: string): StoredSnapshot {
    const found = this.regions.get(`${account}/${region}`)?.snapshots.get(snapshotId);
    if (!found) throw notFound(snapshotId);
    return found;
  }

  private status(s: StoredSnapshot): string {
    return this.clock.now().getTime() < s.readyAtMs ? s.pendingStatus : s.finalStatus;
  }

  private view(s: StoredSnapshot): RdsSnapshot {
    return {
      arn: s.arn,
      id: s.id,
      dbInstanceId: s.dbInstanceId,
      status: this.status(s),
      type: s.type,
      encrypted: s.encrypted,
      ...(s.kmsKeyId ? { kmsKeyId: s.kmsKeyId } : {}),
      createdAt: new Date(s.createdAtMs).toISOString(),
      ...(s.engine ? { engine: s.engine } : {}),
      ...(s.sizeGiB !== undefined ? { sizeGiB: s.sizeGiB } : {}),
      tags: { ...s.tags },
    };
  }

  private key(keyRef: string): KmsKey | undefined {
    const id = kmsKeyIdOf(keyRef);
    return id ? this.keys.get(id) : undefined;
  }

  /** A key not made with {@link createKey} is usable only by the account its ARN names. */
  private canUse(keyRef: string, account: string): boolean {
    const key = this.key(keyRef);
    if (key) return key.account === account || key.usableBy.has(account);
    return keyRef.split(':')[4] === account;
  }

  /**
   * CopyDBSnapshot of `source` into `account`/`region`. Returns the error
   * RDS would answer rather than throwing it, so each view can map it like its adapter.
   */
  private copy(
    account: string,
    region: string,
    source: StoredSnapshot,
    targetId: string,
    kmsKeyArn: string,
    tags: Readonly<Record<string, string>>,
  ): 'started' | 'exists' | Error {
    const state = this.region(account, region);
    if (state.snapshots.has(targetId)) return 'exists';
    if (this.status(source) !== 'available') {
      return new AwsServiceError(
        'InvalidDBSnapshotState',
        `snapshot ${source.id} is ${this.status(source)}, not available`,
      );
    }
    const context: CopyContext = {
      account,
      region,
      sourceArn: source.arn,
      targetId,
      kmsKeyArn,
      crossRegion: source.region !== region,
      crossAccount: source.account !== account,
    };
    const limit = state.copyQuota ?? this.options.copyQuota ?? DEFAULT_COPY_QUOTA;
    if (this.copiesInProgress(account, region) >= limit) {
      this.quotaErrors += 1;
      return new CopyQuotaExceededError(
        `SnapshotQuotaExceeded: too many DB snapshot copies in progress in ${account}/${region}; the limit is ${limit}`,
      );
    }
    if (this.options.throttle?.(context)) {
      this.quotaErrors += 1;
      return new CopyQuotaExceededError(
        `ThrottlingException: Rate exceeded for CopyDBSnapshot in ${account}/${region}`,
      );
    }
    if (source.encrypted && source.kmsKeyId && !this.canUse(source.kmsKeyId, account)) {
      return new AwsServiceError(
        'KMSKeyNotAccessible',
        `the source key ${source.kmsKeyId} is not accessible to ${account}`,
      );
    }
    if (!this.canUse(kmsKeyArn, account)) {
      return new AwsServiceError('KMSKeyNotAccessible', `the key ${kmsKeyArn} is not accessible to ${account}`);
    }
    const now = this.clock.now().getTime();
    const duration =
      typeof this.options.copyDurationMs === 'function'
        ? this.options.copyDurationMs(context)
        : (this.options.copyDurationMs ?? 300_000);
    const kmsKeyId = this.options.copyKmsKey?.(context) ?? kmsKeyArn;
    state.snapshots.set(targetId, {
      id: targetId,
      arn: this.arnOf(region, account, targetId),
      account,
      region,
      dbInstanceId: source.dbInstanceId,
      type: 'manual',
      encrypted: true,
      kmsKeyId,
      createdAtMs: now,
      engine: source.engine,
      sizeGiB: source.sizeGiB,
      tags: { ...tags },
      sharedWith: new Set(),
      readyAtMs: now + duration,
      pendingStatus: context.crossRegion ? 'copying' : 'creating',
      finalStatus: this.options.copyOutcome?.(context) ?? 'available',
      copiedFrom: source.arn,
      reported: false,
    });
    state.maxCopiesInProgress = Math.max(state.maxCopiesInProgress, this.copiesInProgress(account, region));
    this.copies.push({ ...context, at: new Date(now), kmsKeyId });
    return 'started';
  }
}

/** RDS's status words in Bunker's, as `rdsState` in the adapter. */
function worldState(status: string): ArtifactState {
  if (status === 'available') return 'available';
  if (status === 'creating' || status === 'copying') return 'pending';
  return 'failed';
}

function notFound(identifier: string): AwsServiceError {
  return new AwsServiceError('DBSnapshotNotFound', `DBSnapshot ${identifier} not found.`);
}

// ---------------------------------------------------------------------------
// Notifications: the intake topic and its queue
// ---------------------------------------------------------------------------

/** One receipt of a message from the queue. */
export interface Delivery {
  /** Distinct per receipt of a message copy; duplicates have their own id, as in SQS. */
  readonly messageId: string;
  readonly body: string;
  /** Receipts of this message copy so far, this one included. */
  readonly receiveCount: number;
}

export interface PublisherOptions {
  /** @default - a fresh monitor */
  readonly monitor?: PortMonitor;
  /** Drives duplication and reordering. @default - no duplication, FIFO order */
  readonly prng?: Prng;
  /** Probability that a published message is queued twice (SNS and SQS deliver at least once). @default 0 */
  readonly duplicateRate?: number;
  /** Receive in random order, as a standard queue may. @default true when a prng is given */
  readonly reorder?: boolean;
  /** A message received this many times without success goes to the dead-letter queue. @default 5 (the vault stack's) */
  readonly maxReceiveCount?: number;
}

interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  receiveCount: number;
}

/** The source accounts' receipts topics: what the vault sent, in order, for the simulation to deliver. */
export class MemoryReceipts implements ReceiptSender {
  readonly sent: Receipt[] = [];

  constructor(readonly monitor: PortMonitor = new PortMonitor()) {}

  send(receipt: Receipt): Promise<void> {
    return this.monitor.run({ port: 'receipts', method: 'send', account: receipt.account, subject: receipt.id }, () => {
      this.sent.push(structuredClone(receipt));
    });
  }
}

/**
 * The SNS envelope SNS delivers to a queue subscribed without raw delivery:
 * the topic is SNS's word, the `Message` the publisher's.
 */
export function snsEnvelope(topicArn: string, message: string, messageId = 'memory-message'): string {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: messageId,
    TopicArn: topicArn,
    Message: message,
    Timestamp: '2026-03-01T00:00:00.000Z',
    SignatureVersion: '1',
    Signature: 'memory',
    SigningCertURL: 'https://sns.invalid/cert.pem',
    UnsubscribeURL: 'https://sns.invalid/unsubscribe',
  });
}

/**
 * The intake topics as the source agents see them ({@link MemoryPublisher.topic}
 * gives a {@link NotificationPublisher} per topic) and, behind them, the
 * intake queue as the intake Lambda's event source mapping sees it:
 * receive, delete on success, make visible again on failure, dead-letter
 * after `maxReceiveCount` receipts. What arrives is SNS's envelope naming
 * the topic, as in AWS.
 */
export class MemoryPublisher {
  readonly monitor: PortMonitor;
  /** Every notification published, in order (copies, safe to keep). */
  readonly published: Notification[] = [];
  /** Messages moved to the dead-letter queue. */
  readonly deadLetters: Delivery[] = [];
  /** Messages deleted after a successful delivery. */
  delivered = 0;

  private readonly prng?: Prng;
  private readonly duplicateRate: number;
  private readonly reorder: boolean;
  private readonly maxReceiveCount: number;
  private visible: QueuedMessage[] = [];
  private readonly inFlight = new Map<string, QueuedMessage>();
  private sequence = 0;

  constructor(options: PublisherOptions = {}) {
    this.monitor = options.monitor ?? new PortMonitor();
    this.prng = options.prng;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.reorder = options.reorder ?? options.prng !== undefined;
    this.maxReceiveCount = options.maxReceiveCount ?? 5;
  }

  /** The intake topic `topicArn`, as an agent allowed to publish to it sees it. */
  topic(topicArn: string): NotificationPublisher {
    return {
      publish: (notification: Notification) =>
        this.monitor.run(
          {
            port: 'publisher',
            method: 'publish',
            subject: 'id' in notification ? notification.id : notification.snapshotArn,
          },
          () => {
            this.published.push(structuredClone(notification));
            this.sendVia(topicArn, JSON.stringify(notification));
          },
        ),
    };
  }

  /** Publishes `message` as it is to `topicArn` (a test's hostile or broken message): SNS wraps it. */
  sendVia(topicArn: string, message: string): void {
    this.sequence += 1;
    this.send(snsEnvelope(topicArn, message, `sns-${this.sequence}`));
  }

  /** Queues a body exactly as given, as if it reached the queue some other way. */
  send(body: string): void {
    this.enqueue(body);
    if (this.prng?.chance(this.duplicateRate)) this.enqueue(body);
  }

  /** Messages waiting or being processed. */
  get pending(): number {
    return this.visible.length + this.inFlight.size;
  }

  /** Bodies waiting to be received, in queue order. */
  peekBodies(): string[] {
    return this.visible.map((m) => m.body);
  }

  /** Takes up to `max` visible messages (in random order when reordering), making them invisible until acked or released. */
  receive(max = 10): Delivery[] {
    const taken: QueuedMessage[] = [];
    while (taken.length < max && this.visible.length > 0) {
      const index = this.reorder && this.prng ? this.prng.int(this.visible.length) : 0;
      const [message] = this.visible.splice(index, 1);
      message.receiveCount += 1;
      this.inFlight.set(message.messageId, message);
      taken.push(message);
    }
    return taken.map((m) => ({
      messageId: m.messageId,
      body: m.body,
      receiveCount: m.receiveCount,
    }));
  }

  /** The message was handled: delete it. */
  ack(messageId: string): void {
    if (this.inFlight.delete(messageId)) this.delivered += 1;
  }

  /** The message failed: it comes back after the visibility timeout, or goes to the dead-letter queue. */
  release(messageId: string): void {
    const message = this.inFlight.get(messageId);
    if (!message) return;
    this.inFlight.delete(messageId);
    if (message.receiveCount >= this.maxReceiveCount) {
      this.deadLetters.push({
        messageId: message.messageId,
        body: message.body,
        receiveCount: message.receiveCount,
      });
    } else {
      this.visible.push(message);
    }
  }

  /**
   * One poll of the queue until nothing visible is left, like an event
   * source mapping with `ReportBatchItemFailures`: batches of `batchSize`,
   * handled one after another or all at once (`parallel`, Powertools'
   * default); a handler that throws leaves its message for a later poll.
   */
  async deliver(
    handler: (body: string, delivery: Delivery) => Promise<unknown>,
    options: { batchSize?: number; parallel?: boolean } = {},
  ): Promise<{ readonly delivered: number; readonly failed: number }> {
    const { batchSize = 10, parallel = false } = options;
    const failed: string[] = [];
    let delivered = 0;
    for (let batch = this.receive(batchSize); batch.length > 0; batch = this.receive(batchSize)) {
      const handle = async (delivery: Delivery) => {
        try {
          await handler(delivery.body, delivery);
          this.ack(delivery.messageId);
          delivered += 1;
        } catch {
          failed.push(delivery.messageId);
        }
      };
      if (parallel) await Promise.all(batch.map(handle));
      else for (const delivery of batch) await handle(delivery);
    }
    // Released only now: a failed message is not seen again in the same poll (visibility timeout).
    for (const id of failed) this.release(id);
    return { delivered, failed: failed.length };
  }

  private enqueue(body: string): void {
    this.sequence += 1;
    this.visible.push({
      messageId: `msg-${this.sequence}`,
      body,
      receiveCount: 0,
    });
  }
}
