/**
 * The held versions of a pulled resource a scheduled drill may pick as its
 * older copy, read from the vault store's listing (the inventory keeps only
 * the newest): every stored version of a parameter or secret, and every
 * full dump of a table (an incremental export restores only on top of the
 * full dump before it, so it is not a copy of its own).
 */
import { parseValueObjectKey } from '../pull/values';
import { tablePrefix } from '../pull/dynamodb/manifest';
import type { PulledRecord, VaultStore } from '../pull/types';
import type { OlderHeld } from './plan';

const DUMP_MANIFEST = /\/(\d{8}T\d{6}Z)-([a-z-]+)\/manifest\.json$/;

/** `20261122T160000Z` → `2026-11-22T16:00:00.000Z`. */
const isoOfDumpTime = (compact: string) =>
  new Date(
    `${compact.slice(0, 4)}-${compact.slice(4, 6)}-${compact.slice(6, 8)}T${compact.slice(9, 11)}:${compact.slice(11, 13)}:${compact.slice(13, 15)}Z`,
  ).toISOString();

export async function heldVersions(store: VaultStore, record: PulledRecord): Promise<OlderHeld[]> {
  if (!record.latest) return [];
  if (record.kind === 'dynamodb-table') {
    const listed = await store.list(tablePrefix(record.sourceAccount, record.sourceRegion, record.sourceId));
    return listed.flatMap(({ key }) => {
      const match = DUMP_MANIFEST.exec(key);
      if (!match || match[2] === 'export-incremental') return [];
      return [{ objectKey: key, modifiedAt: isoOfDumpTime(match[1]) }];
    });
  }
  // A value's versions sit side by side under its name: the newest's "folder".
  const prefix = record.latest.objectKey.slice(0, record.latest.objectKey.lastIndexOf('/') + 1);
  const listed = await store.list(prefix);
  return listed.flatMap(({ key }) => {
    const parsed = parseValueObjectKey(key);
    return parsed ? [{ objectKey: key, modifiedAt: parsed.modifiedAt }] : [];
  });
}
