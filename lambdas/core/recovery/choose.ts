/**
 * Which copies a recovery opens, and what sharing each takes: the newest
 * copy the vault holds of each production resource of the lost account,
 * whatever became of the resource since (a lost account's resources are
 * gone: the copies are what is left).
 */
import type { ArtifactKind } from '../../../lib/config/schema';
import { kindOf, isKindName } from '../../kinds/registry';
import type { InventoryRecord } from '../inventory';
import { PULLED_CONFIG_KEYS, PULLED_KIND_OF, type PulledConfigKey, type PulledRecord } from '../pull/types';
import type { RecoveryCopy, ShareTarget } from './types';

export interface CopyChoice {
  readonly account: string;
  readonly kind?: ArtifactKind;
  readonly resource?: string;
  /** Where the copies will be restored: a copy already in this Region (the second hop) is preferred. */
  readonly toRegion?: string;
}

const PULLED_KEY_OF = Object.fromEntries(PULLED_CONFIG_KEYS.map((key) => [PULLED_KIND_OF[key], key])) as Record<
  string,
  PulledConfigKey
>;

/** The kinds a recovery's steps come in, snapshot kinds first as the registry lists them. */
export const isPulledKind = (kind: ArtifactKind): kind is PulledConfigKey =>
  (PULLED_CONFIG_KEYS as readonly string[]).includes(kind);

/** The snapshot copies of `records` as recovery copies: available ones only, of any hop. */
function snapshotCopies(records: readonly InventoryRecord[], account: string): RecoveryCopy[] {
  const copies: RecoveryCopy[] = [];
  for (const record of records) {
    if (record.status !== 'available' || record.sourceAccount !== account || !isKindName(record.kind)) continue;
    if (!record.targetId || !record.targetRegion) continue;
    copies.push({
      kind: kindOf(record.kind).configKey,
      artifactId: record.artifactId,
      resource: record.sourceResourceId ?? record.sourceSnapshotId ?? record.sourceId ?? record.targetId,
      sourceRegion: record.sourceRegion ?? record.targetRegion,
      copyId: record.targetId,
      copyRegion: record.targetRegion,
      ...(record.hop === 2 ? { hop: 2 as const } : {}),
      ...(record.targetArn ? { copyArn: record.targetArn } : {}),
      ...(record.targetChildren?.length ? { children: record.targetChildren } : {}),
      ...(record.sourceCreatedAt ? { takenAt: record.sourceCreatedAt } : {}),
      ...(record.engine ? { engine: record.engine } : {}),
      ...(record.sizeGiB !== undefined ? { sizeGiB: record.sizeGiB } : {}),
    });
  }
  return copies;
}

/** The pulled resources of `records` the vault holds a version of, deleted at the source or not. */
function pulledCopies(records: readonly PulledRecord[], account: string, backupRegion: string): RecoveryCopy[] {
  const copies: RecoveryCopy[] = [];
  for (const record of records) {
    if (record.sourceAccount !== account || !record.latest) continue;
    if (record.state !== 'held' && record.state !== 'deleted-at-source') continue;
    copies.push({
      kind: PULLED_KEY_OF[record.kind],
      artifactId: record.artifactId,
      resource: record.sourceId,
      sourceRegion: record.sourceRegion,
      copyId: record.latest.id,
      copyRegion: backupRegion,
      takenAt: record.latest.modifiedAt,
    });
  }
  return copies;
}

/**
 * The newest copy of each resource of `choice.account`, filtered by kind and
 * resource, ordered by kind, Region and resource. Among copies of the same
 * moment (a first copy and its second hop) the one in `toRegion` wins, then
 * the one listed first.
 */
export function chooseCopies(
  records: readonly InventoryRecord[],
  pulled: readonly PulledRecord[],
  choice: CopyChoice,
  backupRegion: string,
): RecoveryCopy[] {
  const newest = new Map<string, RecoveryCopy>();
  const candidates = [
    ...snapshotCopies(records, choice.account),
    ...pulledCopies(pulled, choice.account, backupRegion),
  ];
  for (const copy of candidates) {
    if (choice.kind !== undefined && copy.kind !== choice.kind) continue;
    if (choice.resource !== undefined && copy.resource !== choice.resource) continue;
    const key = `${copy.kind}|${copy.sourceRegion}|${copy.resource}`;
    const held = newest.get(key);
    if (!held || isBetter(copy, held, choice.toRegion)) newest.set(key, copy);
  }
  return [...newest.values()].sort(
    (a, b) =>
      a.kind.localeCompare(b.kind) ||
      a.sourceRegion.localeCompare(b.sourceRegion) ||
      a.resource.localeCompare(b.resource),
  );
}

function isBetter(copy: RecoveryCopy, held: RecoveryCopy, toRegion: string | undefined): boolean {
  const a = copy.takenAt ?? '';
  const b = held.takenAt ?? '';
  if (a !== b) return a > b;
  return toRegion !== undefined && copy.copyRegion === toRegion && held.copyRegion !== toRegion;
}

/**
 * What sharing `copy` with another account takes: the snapshot, or the
 * image and each of its backing snapshots (an image is copied from its
 * snapshots); nothing for a pulled kind.
 */
export function sharesOf(copy: RecoveryCopy): ShareTarget[] {
  const at = (type: ShareTarget['type'], id: string): ShareTarget => ({ type, id, region: copy.copyRegion });
  switch (copy.kind) {
    case 'rds':
      return [at('db-snapshot', copy.copyId)];
    case 'aurora':
      return [at('cluster-snapshot', copy.copyId)];
    case 'ebs':
      return [at('ebs-snapshot', copy.copyId)];
    case 'ami':
      return [at('image', copy.copyId), ...(copy.children ?? []).map((id) => at('ebs-snapshot', id))];
    default:
      return [];
  }
}
