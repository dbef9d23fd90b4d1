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
 *   take minutes.
 */
import { type CopyStatus, type InventoryFilter, type InventoryRecord, matchesFilter } from '../lambdas/core/inventory';
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
  /** Called after every write that changed a record: the simulation's probe (no port call). */
  onWrite?: (before: InventoryRecord | undefined, after: InventoryRecord) => void;

  async get(artifactId: string): Promise<InventoryRecord | undefined> {
    return this.items.get(artifactId);
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
    }
    this.store(current, next);
    return true;
  }

  async claimCopy(
    expected: InventoryRecord,
    next: InventoryRecord,
    limit: number,
  ): Promise<'claimed' | 'conflict' | 'full'> {
    const current = this.items.get(next.artifactId);
    if (current === undefined || current.version !== expected.version) return 'conflict';
    const pool = next.pool ?? '';
    const inUse = this.slots.get(pool) ?? 0;
    if (inUse >= limit) return 'full';
    this.slots.set(pool, inUse + 1);
    this.store(current, next);
    return 'claimed';
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

  private store(before: InventoryRecord | undefined, record: InventoryRecord): void {
    const next = stored(record);
    if (before) this.byStatus.get(before.status)?.delete(before.artifactId);
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
