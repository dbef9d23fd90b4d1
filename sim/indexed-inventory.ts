/**
 * The inventory table for the simulation at fleet scale: the conditional
 * semantics of `MemoryInventory` (`./memory-aws`) and of the DynamoDB
 * adapter (create if absent; replace only while the stored `version` is the
 * one read; a claim takes a pool's copy slot in the same atomic write;
 * leaving `copying` gives it back), with two differences that only change
 * speed:
 *
 * - records are indexed by status, so a listing costs what it returns, not
 *   the whole table;
 * - records are deep-frozen when stored and handed out as they are, never
 *   cloned: no caller can change stored state except through a write (a
 *   frozen object throws on assignment in strict mode), and a sweep over
 *   10,000 records does not copy 10,000 records. `MemoryInventory` clones
 *   every record of the table on each listing, which made a fleet-scale run
 *   take minutes;
 * - the queue index (`by-queue` in the table) is kept per queue and per
 *   account, so the scheduler's ring walk reads one account's entries, not
 *   every record.
 */
import {
  afterAccountKey,
  claimsQueue,
  copyingQueue,
  type CopyStatus,
  expiredBefore,
  followUpQueue,
  type InventoryFilter,
  type InventoryRecord,
  matchesFilter,
  queueEntryOf,
  resourceKeyOf,
  waitingQueue,
} from '../lambdas/core/inventory';
import type { Inventory } from '../lambdas/core/ports';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** DynamoDB's document client with `removeUndefinedValues` stores no undefined attributes; neither do we. */
function stored(record: InventoryRecord): InventoryRecord {
  const copy = Object.fromEntries(
    Object.entries(record).filter(([, v]) => v !== undefined),
  ) as unknown as InventoryRecord;
  return deepFreeze(copy);
}

/** See the module comment. Counts and inspection helpers are not port calls. */
export class IndexedInventory implements Inventory {
  private readonly items = new Map<string, InventoryRecord>();
  private readonly byStatus = new Map<CopyStatus, Map<string, InventoryRecord>>();
  private readonly slots = new Map<string, number>();
  /** The record holding each source resource's one slot, as the adapter's `resource:` items. */
  private readonly resources = new Map<string, string>();
  /** The queue index: queue → account → artifact id → queue key. */
  private readonly queues = new Map<string, Map<string, Map<string, string>>>();
  /** Called after every write that changed a record: the simulation's probe (no port call). */
  onWrite?: (before: InventoryRecord | undefined, after: InventoryRecord) => void;

  async get(artifactId: string): Promise<InventoryRecord | undefined> {
    return this.items.get(artifactId);
  }

  async existing(artifactIds: readonly string[]): Promise<Set<string>> {
    return new Set(artifactIds.filter((id) => this.items.has(id)));
  }

  async create(record: InventoryRecord): Promise<boolean> {
    if (this.items.has(record.artifactId)) return false;
    this.store(undefined, record);
    return true;
  }

  async replace(expected: InventoryRecord, next: InventoryRecord): Promise<boolean> {
    if (next.status === 'copying' && expected.status !== 'copying') {
      throw new Error(`entering copying must take a copy slot: use claimCopy for ${next.artifactId}`);
    }
    const current = this.items.get(next.artifactId);
    if (current === undefined || current.version !== expected.version) return false;
    if (expected.status === 'copying' && next.status !== 'copying') {
      const pool = expected.pool ?? '';
      this.slots.set(pool, (this.slots.get(pool) ?? 0) - 1);
      this.release(expected);
    }
    this.store(current, next);
    return true;
  }

  async claimCopy(
    expected: InventoryRecord | undefined,
    next: InventoryRecord,
    limit: number,
  ): Promise<'claimed' | 'conflict' | 'full' | 'busy'> {
    const current = this.items.get(next.artifactId);
    if (expected ? current === undefined || current.version !== expected.version : current !== undefined) {
      return 'conflict';
    }
    const pool = next.pool ?? '';
    const inUse = this.slots.get(pool) ?? 0;
    if (inUse >= limit) return 'full';
    const resource = resourceKeyOf(next);
    const holder = resource === undefined ? undefined : this.resources.get(resource);
    if (resource !== undefined && holder !== undefined && holder !== next.artifactId) return 'busy';
    this.slots.set(pool, inUse + 1);
    if (resource !== undefined) this.resources.set(resource, next.artifactId);
    this.store(current, next);
    return 'claimed';
  }

  async nextWaiting(pool: string, afterAccount?: string): Promise<InventoryRecord | undefined> {
    const queue = waitingQueue(pool);
    const after = afterAccount === undefined ? undefined : afterAccountKey(afterAccount);
    const id = (after === undefined ? undefined : this.first(queue, after)) ?? this.first(queue);
    return id === undefined ? undefined : this.items.get(id);
  }

  async expiredClaim(pool: string, now: Date): Promise<InventoryRecord | undefined> {
    const id = this.first(claimsQueue(pool));
    const record = id === undefined ? undefined : this.items.get(id);
    const entry = record && queueEntryOf(record);
    return entry && entry.queueKey < expiredBefore(now) ? record : undefined;
  }

  async copiesInFlight(pool: string, limit: number): Promise<InventoryRecord[]> {
    return this.queued(copyingQueue(pool), limit);
  }

  /** The first `limit` records of one queue, in key order. */
  private queued(queue: string, limit: number): InventoryRecord[] {
    const entries: { key: string; id: string }[] = [];
    for (const ids of this.queues.get(queue)?.values() ?? []) {
      for (const [id, key] of ids) entries.push({ key, id });
    }
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return entries.slice(0, limit).flatMap(({ id }) => {
      const record = this.items.get(id);
      return record ? [record] : [];
    });
  }

  async awaitingFollowUp(pool: string): Promise<InventoryRecord[]> {
    return this.queued(followUpQueue(pool), Number.POSITIVE_INFINITY);
  }

  async copiesInProgress(pool: string): Promise<number> {
    return this.slots.get(pool) ?? 0;
  }

  async listByStatus(status: CopyStatus): Promise<InventoryRecord[]> {
    return [...(this.byStatus.get(status)?.values() ?? [])];
  }

  async list(filter: InventoryFilter = {}): Promise<InventoryRecord[]> {
    const from = filter.status ? (this.byStatus.get(filter.status)?.values() ?? []) : this.items.values();
    return [...from].filter((record) => matchesFilter(record, filter));
  }

  // -- inspection (not port calls) -------------------------------------------

  peek(artifactId: string): InventoryRecord | undefined {
    return this.items.get(artifactId);
  }

  /** Records now in `status`. */
  count(status: CopyStatus): number {
    return this.byStatus.get(status)?.size ?? 0;
  }

  /** Copy slots taken now in a pool. */
  slotsInUse(pool: string): number {
    return this.slots.get(pool) ?? 0;
  }

  records(): InventoryRecord[] {
    return [...this.items.values()];
  }

  /**
   * The id of the first entry of one queue (above `after`), as a query with
   * `Limit: 1` answers. Every key of an account starts `<account>#`, so an
   * account whose keys all sort at or below `after` is skipped unread.
   */
  private first(queue: string, after?: string): string | undefined {
    const accounts = this.queues.get(queue);
    if (!accounts) return undefined;
    let best: { key: string; id: string } | undefined;
    for (const [account, entries] of accounts) {
      if (after !== undefined && `${account}#\uffff` <= after) continue;
      if (best && `${account}#` > best.key) continue;
      for (const [id, key] of entries) {
        if (after !== undefined && key <= after) continue;
        if (!best || key < best.key) best = { key, id };
      }
    }
    return best?.id;
  }

  private index(record: InventoryRecord, add: boolean): void {
    const entry = queueEntryOf(record);
    if (!entry) return;
    const account = entry.queueKey.slice(0, entry.queueKey.indexOf('#'));
    let accounts = this.queues.get(entry.queue);
    if (!accounts) {
      accounts = new Map();
      this.queues.set(entry.queue, accounts);
    }
    const entries = accounts.get(account) ?? new Map<string, string>();
    if (add) {
      entries.set(record.artifactId, entry.queueKey);
      accounts.set(account, entries);
    } else {
      entries.delete(record.artifactId);
      if (entries.size === 0) accounts.delete(account);
    }
  }

  /** Frees the source resource a record leaving `copying` held (as the adapter's conditional delete). */
  private release(record: InventoryRecord): void {
    const resource = resourceKeyOf(record);
    if (resource !== undefined && this.resources.get(resource) === record.artifactId) this.resources.delete(resource);
  }

  private store(before: InventoryRecord | undefined, record: InventoryRecord): void {
    const next = stored(record);
    if (before) {
      this.byStatus.get(before.status)?.delete(before.artifactId);
      this.index(before, false);
    }
    this.index(next, true);
    this.items.set(next.artifactId, next);
    let index = this.byStatus.get(next.status);
    if (!index) {
      index = new Map();
      this.byStatus.set(next.status, index);
    }
    index.set(next.artifactId, next);
    this.onWrite?.(before, next);
  }
}
