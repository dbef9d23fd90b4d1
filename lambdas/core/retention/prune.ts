/**
 * The pruner's use case: deletes what {@link retentionPlan} and
 * {@link valueRetentionPlan} say, and records every copy it deleted in the
 * inventory (`available → expired`).
 *
 * The plan is made from the inventory; before deleting, the copy itself is
 * read again and its tags must say Bunker made it (`bunker:managed-by`) for
 * the record's kind and source account: a record cannot point the pruner at
 * someone else's snapshot. A lock that refuses a deletion (an EBS snapshot
 * lock, AMI deregistration protection, S3 Object Lock) is reported and left
 * for the next daily run, never retried in a loop: a lock is the point.
 */
import type { ArtifactCopier, KindName } from '../../kinds/types';
import { applyTransition, type InventoryRecord } from '../inventory';
import { TAG_KIND, TAG_MANAGED_BY, TAG_SOURCE_ACCOUNT } from '../pipeline/copy';
import type { Clock, Inventory, Log } from '../ports';
import { decodeManifest } from '../pull/dynamodb/manifest';
import type { ValueKind } from '../pull/values';
import { safeText } from '../text';
import {
  type PlannedExpiry,
  type RetentionPolicy,
  retentionPlan,
  type StoredManifest,
  type StoredVersion,
  tableRetentionPlan,
  valueRetentionPlan,
} from './plan';

/** An unexpected error, as one escaped line for the log. */
const describeError = (error: unknown) =>
  safeText(error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** What a deletion came to. `locked` and `refused` leave the copy where it is, with the service's words. */
export type DeleteOutcome =
  | { readonly outcome: 'deleted' }
  | { readonly outcome: 'gone' }
  | { readonly outcome: 'locked'; readonly detail: string }
  | { readonly outcome: 'refused'; readonly detail: string };

/** Where a copy is and, for an AMI, the backing snapshots to delete after deregistering it. */
export interface CopyToDelete {
  readonly targetId: string;
  readonly region: string;
  readonly children?: readonly string[];
}

/** Deletes one kind's copies in the backup account (the SDK adapter: `lambdas/adapters/retention/`). */
export interface CopyDeleter {
  delete(copy: CopyToDelete): Promise<DeleteOutcome>;
}

export type CopyDeleters = { readonly [K in KindName]: CopyDeleter };
/** Re-reads a copy (its tags, an AMI's backing snapshots): each kind's copier does. */
export type CopyReaders = { readonly [K in KindName]: Pick<ArtifactCopier, 'describeCopy'> };

/** The vault bucket's object versions, as the pruner sees them. */
export interface VaultVersions {
  /** Every object version under `prefix`. */
  listVersions(prefix: string): Promise<StoredVersion[]>;
  /** The current version's bytes (a table manifest); `undefined` when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Deletes one object version for good (a delete with its version id). */
  deleteVersion(key: string, versionId: string): Promise<DeleteOutcome>;
}

export interface RetentionPolicies {
  /** Per snapshot kind the vault copies. */
  readonly copies: { readonly [K in KindName]?: RetentionPolicy };
  /** Per pulled value kind (parameters, secrets). */
  readonly values: { readonly [K in ValueKind]?: RetentionPolicy };
  /** DynamoDB table dumps. */
  readonly tables?: RetentionPolicy;
}

export interface PruneDeps {
  readonly policies: RetentionPolicies;
  readonly inventory: Inventory;
  readonly readers: CopyReaders;
  readonly deleters: CopyDeleters;
  /** The vault bucket, when a pulled kind is enabled. */
  readonly values?: VaultVersions;
  readonly clock: Clock;
  readonly log: Log;
}

export interface PruneSummary {
  /** Copies deleted and recorded `expired` (including those found gone already). */
  readonly expired: number;
  /** Copies a lock kept. */
  readonly locked: number;
  /** Copies the service refused to delete, or whose deletion failed; tried again on the next run. */
  readonly refused: number;
  /** Records whose copy does not carry Bunker's tags: left alone, and an error in the log. */
  readonly notBunkers: number;
  /** Value versions deleted from the vault bucket. */
  readonly versionsDeleted: number;
  /** Value versions Object Lock (or the service) kept. */
  readonly versionsKept: number;
  /** Table dumps whose manifest was deleted (with their files no kept dump lists). */
  readonly dumpsDeleted: number;
  /** Table dump objects Object Lock (or the service) kept. */
  readonly dumpObjectsKept: number;
}

/** Whether the copy's own tags say Bunker made it, for this record's kind and source account. */
function madeByBunker(tags: Readonly<Record<string, string>>, record: InventoryRecord): boolean {
  return (
    tags[TAG_MANAGED_BY] === 'bunker' &&
    tags[TAG_KIND] === record.kind &&
    tags[TAG_SOURCE_ACCOUNT] === record.sourceAccount
  );
}

type CopyResult = 'expired' | 'locked' | 'refused' | 'not-bunkers';

async function expireCopy(deps: PruneDeps, planned: PlannedExpiry): Promise<CopyResult> {
  const { record, reason } = planned;
  const kind = record.kind as KindName;
  const region = record.targetRegion as string;
  const fields = { artifactId: record.artifactId, kind, targetId: record.targetId, region };
  const view = await deps.readers[kind].describeCopy({
    targetName: record.targetName ?? (record.targetId as string),
    targetId: record.targetId,
    region,
  });
  if (view && !madeByBunker(view.tags, record)) {
    deps.log.error('retention: the copy does not carry Bunker tags; not deleted', fields);
    return 'not-bunkers';
  }
  // A copy already gone still has its AMI's backing snapshots to delete (the record lists them).
  const children = view?.children?.map((child) => child.id) ?? record.targetChildren ?? [];
  const outcome = await deps.deleters[kind].delete({
    targetId: view?.targetId ?? (record.targetId as string),
    region,
    ...(children.length > 0 ? { children } : {}),
  });
  if (outcome.outcome === 'locked' || outcome.outcome === 'refused') {
    deps.log.warn(`retention: the copy was not deleted (${outcome.outcome})`, { ...fields, detail: outcome.detail });
    return outcome.outcome;
  }
  const now = deps.clock.now();
  const why = view ? reason : `${reason}; the copy was gone already`;
  const next = applyTransition(record, 'expired', now, { reason: why, expiredAt: now.toISOString() });
  if (!(await deps.inventory.replace(record, next))) {
    // Someone wrote the record meanwhile; the copy is deleted all the same, and the next run records it.
    deps.log.warn('retention: the copy is deleted but its record changed meanwhile; recorded on the next run', fields);
    return 'expired';
  }
  deps.log.info('retention: copy expired', { ...fields, reason: why });
  return 'expired';
}

/** One pruning run: copies first, then stored value versions. */
export async function prune(deps: PruneDeps, now: Date = deps.clock.now()): Promise<PruneSummary> {
  const counts = {
    expired: 0,
    locked: 0,
    refused: 0,
    notBunkers: 0,
    versionsDeleted: 0,
    versionsKept: 0,
    dumpsDeleted: 0,
    dumpObjectsKept: 0,
  };
  const kinds = Object.keys(deps.policies.copies) as KindName[];
  if (kinds.length > 0) {
    const records = await deps.inventory.listByStatus('available');
    for (const planned of retentionPlan(records, deps.policies.copies, now)) {
      let result: CopyResult;
      try {
        result = await expireCopy(deps, planned);
      } catch (error) {
        deps.log.error('retention: deleting the copy failed; tried again on the next run', {
          artifactId: planned.record.artifactId,
          error: describeError(error),
        });
        result = 'refused';
      }
      if (result === 'expired') counts.expired += 1;
      else if (result === 'locked') counts.locked += 1;
      else if (result === 'refused') counts.refused += 1;
      else counts.notBunkers += 1;
    }
  }
  if (deps.values) {
    for (const [kind, policy] of Object.entries(deps.policies.values) as [ValueKind, RetentionPolicy][]) {
      const versions = await deps.values.listVersions(`${kind}/`);
      for (const planned of valueRetentionPlan(kind, versions, policy, now)) {
        const outcome = await deps.values.deleteVersion(planned.key, planned.versionId);
        const fields = { kind, key: planned.key, versionId: planned.versionId };
        if (outcome.outcome === 'deleted' || outcome.outcome === 'gone') {
          counts.versionsDeleted += 1;
          deps.log.info('retention: value version deleted', { ...fields, reason: planned.reason });
        } else {
          counts.versionsKept += 1;
          deps.log.warn(`retention: the value version was not deleted (${outcome.outcome})`, {
            ...fields,
            detail: outcome.detail,
          });
        }
      }
    }
    if (deps.policies.tables) await pruneTables(deps, deps.values, deps.policies.tables, now, counts);
  }
  return counts;
}

/** Table dumps: whole chains past their retention, and the files no kept dump lists. */
async function pruneTables(
  deps: PruneDeps,
  store: VaultVersions,
  policy: RetentionPolicy,
  now: Date,
  counts: { dumpsDeleted: number; dumpObjectsKept: number },
): Promise<void> {
  const versions = await store.listVersions('dynamodb/');
  const manifests: StoredManifest[] = [];
  for (const key of new Set(versions.map((version) => version.key))) {
    if (!key.endsWith('/manifest.json')) continue;
    const body = await store.get(key);
    if (!body) continue;
    try {
      manifests.push({ key, manifest: decodeManifest(body) });
    } catch (error) {
      // A manifest Bunker cannot read keeps its dump: nothing is deleted on a guess.
      deps.log.warn('retention: a table manifest could not be read; its dump is kept', {
        key,
        error: describeError(error),
      });
    }
  }
  const plan = tableRetentionPlan(manifests, policy, now);
  const byKey = new Map<string, string[]>();
  for (const version of versions) byKey.set(version.key, [...(byKey.get(version.key) ?? []), version.versionId]);
  const blocked = new Set<string>();
  for (const key of plan.keys) {
    for (const versionId of byKey.get(key) ?? []) {
      const outcome = await store.deleteVersion(key, versionId);
      if (outcome.outcome === 'locked' || outcome.outcome === 'refused') {
        counts.dumpObjectsKept += 1;
        blocked.add(key);
        deps.log.warn(`retention: a table dump object was not deleted (${outcome.outcome})`, {
          key,
          versionId,
          detail: outcome.detail,
        });
      }
    }
  }
  for (const dump of plan.dumps) {
    if (blocked.has(dump)) continue;
    counts.dumpsDeleted += 1;
    deps.log.info('retention: table dump deleted', { key: dump });
  }
}
