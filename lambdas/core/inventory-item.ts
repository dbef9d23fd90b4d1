/**
 * How an inventory record is stored: the DynamoDB item written for a
 * record, the record read back from an item, and what the item costs.
 *
 * DynamoDB bills a write by the kilobyte, once for the item and once for
 * each index entry it puts or deletes (both of the inventory's indexes
 * project every attribute). A record repeats what its key and its other
 * fields already say: the source's account, Region and id are in
 * `artifactId`; the source's ARN is its kind's ARN of them; an RDS copy's id
 * is its name; the copy's ARN is its kind's ARN of that id in the backup
 * account (the account of the key the copy is under); the newest status
 * change's reason is the record's `reason`. So the item leaves
 * out each of these fields when, and only when, it equals what derivation
 * gives from the rest, and names what it left out in {@link DERIVED_ATTRIBUTE}
 * (one letter each, {@link DERIVATIONS}); reading derives them again. A
 * field that differs (a second hop's source ARN, an id a service assigned)
 * is stored as it is, so the round trip is exact for every record, and an
 * item written before this encoding (no `derived`) reads as it was.
 *
 * The item also carries the queue index's attributes ({@link queueEntryOf}),
 * derived from the record on every write and dropped on every read.
 */
import { KINDS } from '../kinds/registry';
import { KIND_NAMES, type KindName } from '../kinds/types';
import { partitionOf } from './coverage/regions';
import { type InventoryRecord, queueEntryOf } from './inventory';
import { parseKmsKeyArn } from './keys';

/** The item's attribute naming, one letter each, the fields it left out for reading to derive. */
export const DERIVED_ATTRIBUTE = 'derived';

type Derivable = 'sourceAccount' | 'sourceRegion' | 'sourceId' | 'targetId' | 'sourceArn' | 'targetArn';

interface Derivation {
  readonly code: string;
  readonly field: Derivable;
  /** The field's value from the record's other fields (those derived earlier included), or `undefined`. */
  derive(record: InventoryRecord): string | undefined;
}

const isKind = (kind: string): kind is KindName => (KIND_NAMES as readonly string[]).includes(kind);

/**
 * The artifact an `artifactId` names (`<kind>:<account>:<region>:<id>`; a
 * second hop's ends `@<its Region>`), or `undefined` for a rejection's id.
 */
function keyParts(record: InventoryRecord): { account: string; region: string; id: string } | undefined {
  const [kind, account, region, ...rest] = record.artifactId.split(':');
  if (kind !== record.kind || !account || !region || rest.length === 0) return undefined;
  const id = rest.join(':');
  const hopSuffix = record.hop === 2 && record.targetRegion ? `@${record.targetRegion}` : '';
  if (hopSuffix && !id.endsWith(hopSuffix)) return undefined;
  return { account, region, id: id.slice(0, id.length - hopSuffix.length) };
}

function arnOf(kind: string, account: string | undefined, region: string | undefined, id: string | undefined) {
  if (!isKind(kind) || !account || !region || !id) return undefined;
  return KINDS[kind].arn({ partition: partitionOf(region), account, region, id });
}

/** The code of the newest status change's reason, left out when it is the record's `reason`. */
const HISTORY_REASON = 'h';

/**
 * The fields an item may leave out, in the order reading derives them (a
 * derivation reads only stored fields and those derived before it).
 */
export const DERIVATIONS: readonly Derivation[] = [
  { code: 'A', field: 'sourceAccount', derive: (r) => keyParts(r)?.account },
  { code: 'R', field: 'sourceRegion', derive: (r) => keyParts(r)?.region },
  { code: 'I', field: 'sourceId', derive: (r) => keyParts(r)?.id },
  { code: 't', field: 'targetId', derive: (r) => r.targetName },
  { code: 's', field: 'sourceArn', derive: (r) => arnOf(r.kind, r.sourceAccount, r.sourceRegion, r.sourceId) },
  {
    code: 'a',
    field: 'targetArn',
    derive: (r) => arnOf(r.kind, r.kmsKeyArn && parseKmsKeyArn(r.kmsKeyArn)?.account, r.targetRegion, r.targetId),
  },
];

/** A stored item: its key and version as the conditional writes read them, and the rest. */
export type InventoryItem = { readonly artifactId: string; readonly version: number } & Record<string, unknown>;

/** The item stored for a record: the record without what it can derive, and its place in the queue index. */
export function itemOf(record: InventoryRecord): InventoryItem {
  const item: InventoryItem = { ...record, ...queueEntryOf(record) };
  let derived = '';
  for (const { code, field, derive } of DERIVATIONS) {
    const value = record[field];
    if (value !== undefined && value === derive(record)) {
      delete item[field];
      derived += code;
    }
  }
  // The newest status change's reason is the record's reason (`applyTransition` writes both).
  const last = record.history.at(-1);
  if (record.reason !== undefined && last?.reason === record.reason) {
    item.history = [...record.history.slice(0, -1), { status: last.status, at: last.at }];
    derived += HISTORY_REASON;
  }
  if (derived) item[DERIVED_ATTRIBUTE] = derived;
  return item;
}

/** The record an item holds: what it left out derived again, without the queue index's attributes. */
export function recordOf(item: Record<string, unknown>): InventoryRecord {
  const stored: Record<string, unknown> = { ...item };
  const derived = stored[DERIVED_ATTRIBUTE];
  for (const name of ['queue', 'queueKey', DERIVED_ATTRIBUTE]) delete stored[name];
  let record = stored as unknown as InventoryRecord;
  const codes = typeof derived === 'string' ? derived : '';
  for (const { code, field, derive } of DERIVATIONS) {
    if (!codes.includes(code)) continue;
    const value = derive(record);
    if (value === undefined) throw new Error(`inventory item ${record.artifactId} cannot derive its ${field}`);
    record = { ...record, [field]: value };
  }
  if (codes.includes(HISTORY_REASON)) {
    const last = record.history.at(-1);
    if (!last || record.reason === undefined) {
      throw new Error(`inventory item ${record.artifactId} cannot derive its newest status change's reason`);
    }
    record = { ...record, history: [...record.history.slice(0, -1), { ...last, reason: record.reason }] };
  }
  return record;
}

/**
 * An item's size as DynamoDB bills it: each attribute's name and value in
 * UTF-8; a number about one byte per two significant digits, plus one; a
 * list or map 3 bytes plus 1 per element, its elements (and a map's names)
 * counted the same way.
 */
export function itemBytes(item: object): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value !== undefined) bytes += Buffer.byteLength(name) + valueBytes(value);
  }
  return bytes;
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/^0\.|\./g, '').length / 2) + 1;
  if (typeof value === 'boolean' || value === null) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + valueBytes(element), 0);
  if (typeof value === 'object') return 3 + itemBytes(value) + Object.keys(value).length;
  return 0;
}

/** Write units of one item written (or one index entry put or deleted, for an index that projects every attribute): one per KB begun. */
export function writeUnitsOf(item: object): number {
  return Math.max(1, Math.ceil(itemBytes(item) / 1024));
}
