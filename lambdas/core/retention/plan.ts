/**
 * Retention: which backup copies and stored value versions the pruner
 * deletes. Pure: the records, the policies and the time in, the deletions
 * out; the use case (`prune.ts`) re-reads each copy before deleting it.
 *
 * The rules, per source resource (the DB instance, cluster, volume or image
 * a copy is of; a parameter or secret):
 *
 * - the newest `available` copy is never deleted, whatever the settings: an
 *   incremental EBS copy depends on it, and it may be the only one;
 * - the newest `minCopies` are kept whatever their age;
 * - of the rest, a copy older than `retentionDays` is deleted. A copy's age
 *   runs from when production took it (the service's own timestamp), so a
 *   copy made late does not live longer than the snapshot it holds.
 *
 * Only `available` records are candidates: nothing in flight, failed or
 * rejected is ever touched (a failed copy's leftovers are not Bunker's to
 * judge here). The second hop's copies are counted apart, per Region, under
 * the same rule: the second Region keeps its own newest copy.
 */
import type { KindName } from '../../kinds/types';
import type { InventoryRecord } from '../inventory';
import type { DumpManifest } from '../pull/dynamodb/manifest';
import { parseValueObjectKey, type ValueKind } from '../pull/values';

/** How long one kind's copies are kept, from `artifacts.<key>` of the config. */
export interface RetentionPolicy {
  readonly retentionDays: number;
  /** Copies of one source resource kept whatever their age; at least 1. */
  readonly minCopies: number;
}

const DAY_MS = 86_400_000;

/** A copy the plan deletes, and why, in words the inventory keeps. */
export interface PlannedExpiry {
  readonly record: InventoryRecord;
  readonly reason: string;
}

/** The source resource a copy is of: copies are counted and kept per resource, per hop and Region. */
export function resourceKeyOf(record: InventoryRecord): string {
  const resource = record.sourceResourceId ?? record.sourceId ?? record.artifactId;
  return [record.kind, record.sourceAccount, record.sourceRegion, resource, record.hop ?? 1, record.targetRegion].join(
    '|',
  );
}

/** When production took the snapshot the copy holds; the copy's own times only when the service gave none. */
export function copyTakenAt(record: InventoryRecord): number {
  return Date.parse(record.sourceCreatedAt ?? record.completedAt ?? record.createdAt);
}

/** Newest first; equal times by id, so the plan is the same on every run. */
const newestFirst = (a: InventoryRecord, b: InventoryRecord) =>
  copyTakenAt(b) - copyTakenAt(a) || (a.artifactId < b.artifactId ? 1 : a.artifactId > b.artifactId ? -1 : 0);

/**
 * First copies whose second hop still needs them as its source: a second
 * record `<artifactId>@<region>` that is not settled yet copies from them.
 */
function neededBySecondHop(records: readonly InventoryRecord[]): Set<string> {
  const needed = new Set<string>();
  for (const record of records) {
    if (record.hop !== 2 || record.status === 'available' || record.status === 'expired') continue;
    const at = record.artifactId.lastIndexOf('@');
    if (at > 0) needed.add(record.artifactId.slice(0, at));
  }
  return needed;
}

/**
 * The copies to delete now. `policies` has an entry per snapshot kind the
 * pruner acts on; a kind without one keeps everything.
 */
export function retentionPlan(
  records: readonly InventoryRecord[],
  policies: { readonly [K in KindName]?: RetentionPolicy },
  now: Date,
): PlannedExpiry[] {
  const secondHopSources = neededBySecondHop(records);
  const groups = new Map<string, InventoryRecord[]>();
  for (const record of records) {
    if (record.status !== 'available' || record.kind === 'unknown' || !policies[record.kind]) continue;
    if (!record.targetId || !record.targetRegion) continue;
    const key = resourceKeyOf(record);
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  const plan: PlannedExpiry[] = [];
  for (const group of groups.values()) {
    const sorted = [...group].sort(newestFirst);
    const policy = policies[sorted[0].kind as KindName] as RetentionPolicy;
    const kept = Math.max(1, policy.minCopies);
    const cutoff = now.getTime() - policy.retentionDays * DAY_MS;
    for (const record of sorted.slice(kept)) {
      if (copyTakenAt(record) >= cutoff) continue;
      if (secondHopSources.has(record.artifactId)) continue;
      plan.push({
        record,
        reason: `older than ${policy.retentionDays} days, beyond the newest ${kept} ${kept === 1 ? 'copy' : 'copies'} of ${record.sourceResourceId ?? record.sourceId}`,
      });
    }
  }
  return plan.sort((a, b) => (a.record.artifactId < b.record.artifactId ? -1 : 1));
}

/** One stored version of a parameter or secret, as the vault bucket lists it. */
export interface StoredVersion {
  readonly key: string;
  /** The bucket's version id of the object (the vault bucket is versioned). */
  readonly versionId: string;
}

/** A stored version the plan deletes, and why. */
export interface PlannedVersionExpiry {
  readonly key: string;
  readonly versionId: string;
  readonly resource: string;
  readonly reason: string;
}

/**
 * The value versions to delete now, of one kind. A version stops being the
 * value at the time the next one came to be: a restore `--at T` needs the
 * version current at T, so a version's age runs from when it was
 * superseded, not from when it was made. The newest `minCopies` versions
 * of each resource are kept, and the newest is never deleted (it is the
 * value now). Keys that are not value objects (the fingerprint key, a
 * table dump) are never candidates.
 */
export function valueRetentionPlan(
  kind: ValueKind,
  versions: readonly StoredVersion[],
  policy: RetentionPolicy,
  now: Date,
): PlannedVersionExpiry[] {
  const byResource = new Map<string, { key: string; versionId: string; modifiedAt: number }[]>();
  for (const version of versions) {
    const parsed = parseValueObjectKey(version.key);
    if (!parsed || parsed.kind !== kind) continue;
    const resource = `${parsed.account}|${parsed.region}|${parsed.name}`;
    byResource.set(resource, [
      ...(byResource.get(resource) ?? []),
      { key: version.key, versionId: version.versionId, modifiedAt: Date.parse(parsed.modifiedAt) },
    ]);
  }
  const kept = Math.max(1, policy.minCopies);
  const cutoff = now.getTime() - policy.retentionDays * DAY_MS;
  const plan: PlannedVersionExpiry[] = [];
  for (const [resource, list] of byResource) {
    const sorted = [...list].sort((a, b) => b.modifiedAt - a.modifiedAt || (a.key < b.key ? 1 : -1));
    sorted.forEach((version, index) => {
      if (index < kept) return;
      // Superseded when the next newer version came to be.
      const supersededAt = sorted[index - 1].modifiedAt;
      if (supersededAt >= cutoff) return;
      plan.push({
        key: version.key,
        versionId: version.versionId,
        resource: resource.split('|').slice(2).join('|'),
        reason: `superseded more than ${policy.retentionDays} days ago, beyond the newest ${kept} ${kept === 1 ? 'version' : 'versions'}`,
      });
    });
  }
  return plan.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A table dump's manifest as the vault bucket holds it. */
export interface StoredManifest {
  /** `dynamodb/<account>/<region>/<table>/<dumpId>/manifest.json`. */
  readonly key: string;
  readonly manifest: Pick<DumpManifest, 'dumpId' | 'method' | 'pointInTime' | 'after' | 'files'>;
}

/** The dumps the plan expires, and every key to delete with them. */
export interface TablePlan {
  /** Manifest keys of the expired dumps. */
  readonly dumps: readonly string[];
  /**
   * Every key to delete: the files no kept manifest lists, then the
   * manifests, so a run that stops half way leaves a manifest the next run
   * finds again, never a file no manifest names.
   */
  readonly keys: readonly string[];
}

/**
 * The table dumps to delete now. A restore `--at T` replays the newest full
 * dump at or before T and the incremental exports chained after it, so dumps
 * go by chain: a full dump with its incrementals stops being needed when the
 * next full dump is taken, and expires when that was longer ago than
 * `retentionDays`; the newest `minCopies` chains of each table are kept
 * whatever their age. Scan parts are shared between dumps by content, so a
 * file is deleted only when no kept manifest lists it. A dump without a
 * manifest (a scan in progress) is never a candidate, nor is any file only
 * it wrote.
 */
export function tableRetentionPlan(
  manifests: readonly StoredManifest[],
  policy: RetentionPolicy,
  now: Date,
): TablePlan {
  const tableOf = (stored: StoredManifest) =>
    stored.key.slice(0, stored.key.length - `${stored.manifest.dumpId}/manifest.json`.length);
  const byTable = new Map<string, StoredManifest[]>();
  for (const stored of manifests) byTable.set(tableOf(stored), [...(byTable.get(tableOf(stored)) ?? []), stored]);
  const kept = Math.max(1, policy.minCopies);
  const cutoff = now.getTime() - policy.retentionDays * DAY_MS;
  const expired = new Set<string>();
  for (const dumps of byTable.values()) {
    const fulls = dumps
      .filter((d) => d.manifest.method !== 'export-incremental' && d.manifest.pointInTime)
      .sort((a, b) => Date.parse(b.manifest.pointInTime as string) - Date.parse(a.manifest.pointInTime as string));
    fulls.forEach((full, index) => {
      if (index < kept) return;
      const supersededAt = Date.parse(fulls[index - 1].manifest.pointInTime as string);
      if (supersededAt >= cutoff) return;
      // The full dump and the incrementals chained after it.
      for (let link: StoredManifest | undefined = full; link;) {
        expired.add(link.key);
        const after: string = link.manifest.dumpId;
        link = dumps.find((d) => d.manifest.method === 'export-incremental' && d.manifest.after === after);
      }
    });
  }
  const stillListed = new Set(
    manifests.filter((stored) => !expired.has(stored.key)).flatMap((stored) => stored.manifest.files.map((f) => f.key)),
  );
  const dumps = [...expired].sort();
  const files = manifests
    .filter((stored) => expired.has(stored.key))
    .flatMap((stored) => stored.manifest.files.map((f) => f.key))
    .filter((key) => !stillListed.has(key));
  return { dumps, keys: [...[...new Set(files)].sort(), ...dumps] };
}
