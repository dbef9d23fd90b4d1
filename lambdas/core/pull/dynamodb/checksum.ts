/**
 * The items checksum of a table dump. Parallel scan segments and export
 * files deliver items in no fixed order, so the checksum must not depend on
 * order: it is the sum, modulo 2^256, of SHA-256 over each item's canonical
 * DynamoDB JSON (attribute names and map keys sorted, set members sorted).
 * The same function serves scan dumps, exports, replayed chains and the
 * restored table read back, so "equal" means the same multiset of items.
 */
import { createHash } from 'node:crypto';
import type { Item } from './types';

const MODULUS = 1n << 256n;
export const CHECKSUM_PREFIX = 'items-sha256-sum:';

/** A DynamoDB JSON value with map keys sorted at every depth and set members sorted. */
function canonicalValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalValue);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(
    entries.map(([key, inner]) =>
      (key === 'SS' || key === 'NS' || key === 'BS') && Array.isArray(inner)
        ? [key, [...(inner as string[])].sort()]
        : [key, canonicalValue(inner)],
    ),
  );
}

/** The canonical text of one item (binary values as base64, as DynamoDB JSON writes them). */
export function canonicalItem(item: Item): string {
  return JSON.stringify(canonicalValue(item));
}

/** The running sum of item hashes: add items in any order, in any number of pieces. */
export class ItemsChecksum {
  private sum: bigint;
  count: number;

  constructor(state?: { sum: string; count: number }) {
    this.sum = state ? BigInt(`0x${state.sum}`) : 0n;
    this.count = state?.count ?? 0;
  }

  add(item: Item): void {
    this.addText(canonicalItem(item));
  }

  remove(item: Item): void {
    const hash = BigInt(`0x${createHash('sha256').update(canonicalItem(item)).digest('hex')}`);
    this.sum = (this.sum - hash + MODULUS) % MODULUS;
    this.count -= 1;
  }

  addText(text: string): void {
    const hash = BigInt(`0x${createHash('sha256').update(text).digest('hex')}`);
    this.sum = (this.sum + hash) % MODULUS;
    this.count += 1;
  }

  /** The sum as 64 hex digits, for a checkpoint. */
  get hex(): string {
    return this.sum.toString(16).padStart(64, '0');
  }

  /** The checksum as the manifest and the inventory record write it. */
  get value(): string {
    return `${CHECKSUM_PREFIX}${this.hex}`;
  }

  state(): { sum: string; count: number } {
    return { sum: this.hex, count: this.count };
  }
}

/** The checksum of a whole set of items. */
export function itemsChecksum(items: Iterable<Item>): string {
  const sum = new ItemsChecksum();
  for (const item of items) sum.add(item);
  return sum.value;
}
