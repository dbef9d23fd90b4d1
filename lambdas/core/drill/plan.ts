/**
 * Which copies a drill restores, and how long each kind and source account
 * has gone without a proven restore.
 *
 * Both read what the inventory holds, never the services: the copies of
 * snapshot kinds (`available` records, grouped by the production resource,
 * `sourceResourceId`) and the pulled resources (`held` records, one per
 * parameter, secret or table, whose copy is the newest held version). A copy
 * the inventory does not know cannot be drilled, and a copy it knows but
 * AWS lost is exactly what a drill must find.
 */
import type { InventoryRecord } from '../inventory';
import type { HeldVersion, PulledRecord } from '../pull/types';
import { PULLED_CONFIG_KEYS, PULLED_KIND_OF } from '../pull/types';
import { KINDS } from '../../kinds/registry';
import type { KindName } from '../../kinds/types';
import {
  type DrillKind,
  type DrillPick,
  type DrillScope,
  type DrillState,
  type DrillSubject,
  type DrillSummary,
  drillKey,
} from './types';

const DAY_MS = 86_400_000;

/**
 * An older copy is picked only while it has at least this long left before
 * the pruner may delete it: a copy that expires in the middle of its drill
 * would fail it for a reason that says nothing about the copy.
 */
export const OLDER_PICK_MARGIN_DAYS = 1;

/** The config key of a record's kind (`rds-snapshot` → `rds`, `ssm-parameter` → `ssm`), or `undefined`. */
export function drillKindOf(kind: string): DrillKind | undefined {
  const snapshot = (KINDS as Record<string, (typeof KINDS)[KindName] | undefined>)[kind];
  if (snapshot) return snapshot.configKey;
  return PULLED_CONFIG_KEYS.find((key) => PULLED_KIND_OF[key] === kind);
}

/** An older held version of a pulled resource: another value version, or another table dump. */
export interface OlderHeld {
  readonly objectKey: string;
  /** When the source says the version came to be. */
  readonly modifiedAt: string;
}

export interface PlanInput {
  /**
   * Copy records of the snapshot kinds; only `available` ones count: first-hop
   * copies in the backup Region and, with a second Region, second-hop copies there.
   */
  readonly copies: readonly InventoryRecord[];
  /** Pulled records; only `held` ones count. */
  readonly pulled: readonly PulledRecord[];
  /**
   * Older held versions of each pulled record (by `artifactId`), newest or
   * not, as the vault store lists them; the newest itself may be among them.
   */
  readonly olderPulled?: ReadonlyMap<string, readonly OlderHeld[]>;
  /**
   * The latest drill of each resource (the drill log): which resources have
   * gone longest without one, so a run capped at `maxPerRun` takes them first.
   */
  readonly drilled?: readonly DrillSummary[];
}

export interface PlanOptions {
  readonly now: Date;
  /** The backup account's home Region: the isolated place is there, so only copies there are drilled. */
  readonly backupRegion: string;
  /**
   * The backup account's second Region (`backup.secondRegion`), which has a
   * drill place of its own: its second-hop copies are drilled there, newest
   * and older as the first hop's, each resource's apart from its first copies.
   */
  readonly secondRegion?: string;
  /** The kinds the configuration enables. */
  readonly kinds: readonly DrillKind[];
  /** A scheduled drill with `olderCopies` also restores one random older copy of each resource. */
  readonly older: boolean;
  /** How long each kind keeps its copies; an older copy is picked only well within it. Unknown: no bound. */
  readonly retentionDays?: Partial<Record<DrillKind, number>>;
  /** In [0, 1): which older copy. A port so tests decide. */
  readonly random: () => number;
  readonly kind?: DrillKind;
  readonly account?: string;
  readonly resource?: string;
  /**
   * At most this many drills in the plan (`drills.maxPerRun`): the plan is
   * the state machine's state, which Step Functions holds to 256 KB. The
   * resources drilled longest ago (never drilled first) are taken first, so
   * successive runs go round every resource. Unset: no cap.
   */
  readonly maxPerRun?: number;
}

/** One drillable copy of a resource, before it is picked. */
interface Candidate {
  readonly subject: Omit<DrillSubject, 'pick'>;
  /** When production made what was copied: the order of a resource's copies. */
  readonly madeAt: string;
}

/**
 * `<kind>:<account>:<region>:<resource>:<startedAt>`, the resource with
 * `@<copyRegion>` for a second-hop copy ({@link drillKey}): a run drills a
 * resource's copies in both Regions at once, and their ids, and so the
 * names of what they restore, must differ.
 */
export function drillIdOf(subject: DrillScope, at: string): string {
  return `${drillKey(subject)}:${at}`;
}

/** The Regions a drill place is in: the vault Region, and the second Region when there is one. */
export interface DrillRegions {
  readonly backupRegion: string;
  readonly secondRegion?: string;
}

function snapshotCandidate(record: InventoryRecord, regions: DrillRegions): Candidate | undefined {
  if (record.status !== 'available' || record.kind === 'unknown') return undefined;
  const kind = drillKindOf(record.kind);
  const copyId = record.targetId ?? record.targetName;
  const resource = record.sourceResourceId ?? record.sourceId;
  const copyRegion = record.targetRegion ?? regions.backupRegion;
  if (!kind || !copyId || !resource || !record.sourceAccount || !record.sourceRegion) return undefined;
  // Each hop only in its own Region, where its place is: a restore cannot use a snapshot of another Region.
  const home = record.hop === 2 ? regions.secondRegion : regions.backupRegion;
  if (copyRegion !== home) return undefined;
  const madeAt = record.sourceCreatedAt ?? record.completedAt ?? record.createdAt;
  return {
    subject: {
      kind,
      account: record.sourceAccount,
      region: record.sourceRegion,
      resource,
      artifactId: record.artifactId,
      copyId,
      copyRegion,
      ...(record.hop === 2 ? { hop: 2 as const } : {}),
      ...(record.sourceCreatedAt ? { copiedFrom: record.sourceCreatedAt } : {}),
    },
    madeAt,
  };
}

function pulledCandidates(record: PulledRecord, backupRegion: string, older: readonly OlderHeld[]): Candidate[] {
  const kind = drillKindOf(record.kind);
  if (record.state !== 'held' || !kind || !record.latest) return [];
  const of = (held: Pick<HeldVersion, 'objectKey' | 'modifiedAt'>): Candidate => ({
    subject: {
      kind,
      account: record.sourceAccount,
      region: record.sourceRegion,
      resource: record.sourceId,
      artifactId: record.artifactId,
      copyId: held.objectKey,
      copyRegion: backupRegion,
      copiedFrom: held.modifiedAt,
    },
    madeAt: held.modifiedAt,
  });
  const latest = record.latest;
  return [of(latest), ...older.filter((held) => held.objectKey !== latest.objectKey).map(of)];
}

/**
 * The drills to run now: the newest copy of each resource matching the
 * filters and, when `older`, one random older copy per resource among
 * those with at least {@link OLDER_PICK_MARGIN_DAYS} of retention left.
 * Each starts `restoring`, with no handle, at `now`. With `maxPerRun`,
 * the resources drilled longest ago come first and the plan stops at the
 * cap (a resource's older copy only when it still fits).
 */
export function planDrills(input: PlanInput, options: PlanOptions): DrillState[] {
  const byResource = new Map<string, Candidate[]>();
  const candidates = [
    ...input.copies.map((record) => snapshotCandidate(record, options)),
    ...input.pulled.flatMap((record) =>
      pulledCandidates(record, options.backupRegion, input.olderPulled?.get(record.artifactId) ?? []),
    ),
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const { subject } = candidate;
    if (!options.kinds.includes(subject.kind)) continue;
    if (options.kind !== undefined && subject.kind !== options.kind) continue;
    if (options.account !== undefined && subject.account !== options.account) continue;
    if (options.resource !== undefined && subject.resource !== options.resource) continue;
    const key = drillKey(subject);
    byResource.set(key, [...(byResource.get(key) ?? []), candidate]);
  }
  const startedAt = options.now.toISOString();
  const lastDrilled = new Map((input.drilled ?? []).map((s) => [drillKey(s), s.last.finishedAt]));
  // Stalest first: never drilled (''), then by the last drill's end; equal ones by key, so the plan is deterministic.
  const order = [...byResource.keys()].sort(
    (a, b) => (lastDrilled.get(a) ?? '').localeCompare(lastDrilled.get(b) ?? '') || a.localeCompare(b),
  );
  const cap = options.maxPerRun ?? Number.POSITIVE_INFINITY;
  const drills: DrillState[] = [];
  for (const key of order) {
    if (drills.length >= cap) break;
    // Newest first; equal times by copy id, so the pick does not depend on the inventory's order.
    const copies = (byResource.get(key) ?? []).sort(
      (a, b) => b.madeAt.localeCompare(a.madeAt) || a.subject.copyId.localeCompare(b.subject.copyId),
    );
    const [newest, ...rest] = copies;
    drills.push(initialState(newest, 'newest', startedAt));
    if (!options.older || drills.length >= cap) continue;
    const retention = options.retentionDays?.[newest.subject.kind];
    const oldest =
      retention === undefined ? undefined : options.now.getTime() - (retention - OLDER_PICK_MARGIN_DAYS) * DAY_MS;
    const eligible = rest.filter((c) => oldest === undefined || Date.parse(c.madeAt) >= oldest);
    if (eligible.length === 0) continue;
    const index = Math.min(eligible.length - 1, Math.floor(options.random() * eligible.length));
    drills.push(initialState(eligible[index], 'older', startedAt));
  }
  return drills;
}

function initialState(candidate: Candidate, pick: DrillPick, startedAt: string): DrillState {
  const subject: DrillSubject = { ...candidate.subject, pick };
  // Two drills of one resource in one plan (newest and older) need two ids.
  const at = pick === 'older' ? `${startedAt}~older` : startedAt;
  return { drillId: drillIdOf(subject, at), subject, phase: 'restoring', startedAt, done: false };
}

/** A resource that has copies in one Region, and since when. */
export interface CopiedResource {
  readonly kind: DrillKind;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  /** 2 for the copies in the second Region. */
  readonly hop?: 2;
  /** The Region the copies are in. */
  readonly copyRegion: string;
  /** The oldest copy the vault holds: what a resource never drilled counts from. */
  readonly oldestCopyAt: string;
}

/**
 * The resources with a drillable copy, each with its oldest copy's time:
 * once per Region with copies, so the second Region's copies go stale on
 * their own. `regions` is the backup Region alone, or both Regions.
 */
export function copiedResources(input: PlanInput, regions: string | DrillRegions): CopiedResource[] {
  const where = typeof regions === 'string' ? { backupRegion: regions } : regions;
  const resources = new Map<string, CopiedResource>();
  const add = (candidate: Candidate | undefined, at: string | undefined) => {
    if (!candidate || !at) return;
    const { kind, account, region, resource, hop, copyRegion } = candidate.subject;
    const key = drillKey(candidate.subject);
    const known = resources.get(key);
    if (!known || at < known.oldestCopyAt) {
      resources.set(key, { kind, account, region, resource, ...(hop ? { hop } : {}), copyRegion, oldestCopyAt: at });
    }
  };
  for (const record of input.copies) add(snapshotCandidate(record, where), record.completedAt ?? record.createdAt);
  for (const record of input.pulled) {
    add(pulledCandidates(record, where.backupRegion, [])[0], record.firstPulledAt ?? record.createdAt);
  }
  return [...resources.values()];
}

/** How long one kind or one source account has gone without a proven restore. */
export interface StaleScope {
  readonly by: 'kind' | 'account';
  /** The kind's config key, or the account id. */
  readonly key: string;
  /** Whole days since the proof of its least recently proven resource. */
  readonly days: number;
  /** That resource, as `<kind>:<account>:<region>:<resource>` (with `@<copyRegion>` for the second Region's copies). */
  readonly resource: string;
  /** Whether it is longer than `maxAgeDays`. */
  readonly stale: boolean;
}

export interface Staleness {
  readonly byKind: readonly StaleScope[];
  readonly byAccount: readonly StaleScope[];
  /** The scopes past `maxAgeDays`, kinds first. */
  readonly stale: readonly StaleScope[];
}

/**
 * Per kind and per source account: days since the last passed drill of its
 * least recently proven resource. A resource with copies and no passed
 * drill counts from its oldest copy, so a resource never drilled turns stale
 * `maxAgeDays` after it was first copied, not at once and not never. A
 * resource's copies in the second Region are a resource of their own here:
 * the vault Region's proof says nothing of whether they restore.
 */
export function staleness(
  summaries: readonly DrillSummary[],
  copies: readonly CopiedResource[],
  settings: { readonly maxAgeDays: number },
  now: Date,
): Staleness {
  const proven = new Map<string, string>();
  for (const summary of summaries) {
    if (summary.lastPassed) proven.set(drillKey(summary), summary.lastPassed.finishedAt);
  }
  const worst = new Map<string, StaleScope>();
  for (const copy of copies) {
    const resource = drillKey(copy);
    const since = proven.get(resource) ?? copy.oldestCopyAt;
    const days = Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / DAY_MS));
    for (const [by, key] of [
      ['kind', copy.kind],
      ['account', copy.account],
    ] as const) {
      const id = `${by}:${key}`;
      const known = worst.get(id);
      if (!known || days > known.days) {
        worst.set(id, { by, key, days, resource, stale: days > settings.maxAgeDays });
      }
    }
  }
  const sorted = [...worst.values()].sort((a, b) => a.by.localeCompare(b.by) || a.key.localeCompare(b.key));
  const byKind = sorted.filter((s) => s.by === 'kind');
  const byAccount = sorted.filter((s) => s.by === 'account');
  return { byKind, byAccount, stale: [...byKind, ...byAccount].filter((s) => s.stale) };
}
