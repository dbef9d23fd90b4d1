/**
 * The auditor: per resource in scope, the newest available copy, its age
 * against the kind's RPO, and a state with its reason. A breach's start and
 * end are written to the inventory as audit records, and each one the
 * auditor's conditional write wins is published once to the alerts topic.
 * `bunker status` runs the same judgement read-only.
 */
import type { InventoryRecord } from '../inventory';
import type { Inventory, Log, SourceRegistry } from '../ports';
import { inScope } from '../scope';
import type { PulledInventory, PulledRecord, PullRunRecord } from '../pull/types';
import { PULLED_KIND_OF, type PulledConfigKey, type PulledKindName } from '../pull/types';
import { KIND_NAMES, type KindName } from '../../kinds/types';
import { alertMessage, formatHours } from './alerts';
import {
  type AlertPublisher,
  AUDIT_STATES,
  type AuditKind,
  type AuditRecord,
  type AuditRecords,
  type AuditReport,
  type AuditSettings,
  auditRecordId,
  auditScopeOf,
  type BreachTransition,
  type DiscoveredResource,
  type ResourceAudit,
  type ScopeDiscovery,
} from './types';

const HOUR_MS = 3_600_000;

export interface AuditDeps {
  readonly settings: AuditSettings;
  /**
   * Whose resources are discovered: the listed sources and, with
   * organizational units, the active enrolled accounts (a departed account
   * is not audited). `settings.sources` is only the listed ones.
   */
  readonly sources: Pick<SourceRegistry, 'all'>;
  readonly discovery: ScopeDiscovery;
  readonly inventory: Pick<Inventory, 'list'>;
  /** Absent when no pulled kind is enabled. */
  readonly pulled?: Pick<PulledInventory, 'listScope' | 'getRun'>;
  readonly records: AuditRecords;
  readonly alerts: AlertPublisher;
  readonly log: Log;
}

export interface AuditOptions {
  /** `bunker status`: judge only; no audit record is written and nothing is published. */
  readonly readOnly?: boolean;
  /** The window rejected notifications are counted over (the auditor's schedule). @default 15 minutes */
  readonly windowMinutes?: number;
}

const hoursBetween = (from: string, to: Date) => (to.getTime() - Date.parse(from)) / HOUR_MS;
/** Reported hours: four decimals (a third of a second), so a short RPO still shows an age; judged unrounded. */
const round4 = (hours: number) => Math.round(hours * 10_000) / 10_000;

const newestBy = <T>(items: readonly T[], at: (item: T) => string | undefined): T | undefined =>
  items.reduce<T | undefined>((best, item) => {
    const when = at(item);
    if (when === undefined) return best;
    const bestAt = best === undefined ? undefined : at(best);
    return bestAt === undefined || when > bestAt ? item : best;
  }, undefined);

/** Whether an `expected` record waits on a copy or snapshot quota (the words of `quotaReason`). */
export const waitsOnQuota = (record: InventoryRecord) =>
  record.status === 'expected' && /^waiting on the .*quota/.test(record.reason ?? '');

/**
 * Judges one snapshot-kind resource from its first-hop copy records.
 *
 * At risk uses the longest copy measured for the resource (the maximum, not
 * a percentile: a handful of samples is what most resources have, and the
 * slowest one is the honest forecast): the resource is at risk when its
 * newest copy's age plus that duration exceeds the RPO, so even a copy
 * started now would land after the RPO ran out.
 *
 * An image never changes after it is made, so its one copy does not age
 * out: an image with an available copy is ok whatever its age (its RPO
 * applies to images not copied at all).
 */
export function judgeCopies(
  base: Pick<ResourceAudit, 'kind' | 'account' | 'region' | 'resource' | 'rpoHours'>,
  records: readonly InventoryRecord[],
  now: Date,
  stuckAfterHours: number,
  newestSnapshotAt?: string,
): ResourceAudit {
  const { rpoHours } = base;
  const available = records.filter((r) => r.status === 'available' && r.sourceCreatedAt);
  const newestCopy = newestBy(available, (r) => r.sourceCreatedAt);
  const durations = available
    .filter((r) => r.copyStartedAt && r.completedAt)
    .map((r) => (Date.parse(r.completedAt as string) - Date.parse(r.copyStartedAt as string)) / HOUR_MS);
  const longestCopyHours = durations.length > 0 ? round4(Math.max(...durations)) : undefined;
  const copy = newestCopy
    ? {
        newestCopy: newestCopy.artifactId,
        newestCopyAt: newestCopy.sourceCreatedAt,
        ageHours: round4(hoursBetween(newestCopy.sourceCreatedAt as string, now)),
      }
    : {};
  const judged = { ...base, ...copy, ...(longestCopyHours !== undefined ? { longestCopyHours } : {}) };
  const age = newestCopy ? hoursBetween(newestCopy.sourceCreatedAt as string, now) : undefined;

  if (age !== undefined && base.kind === 'ami') return { ...judged, state: 'ok' };
  if (age !== undefined && age <= rpoHours) {
    if (longestCopyHours !== undefined && age + longestCopyHours > rpoHours) {
      return {
        ...judged,
        state: 'at-risk',
        detail: `newest copy ${formatHours(age)} old; copies of it take up to ${formatHours(longestCopyHours)}, so the next cannot finish within the RPO of ${formatHours(rpoHours)}`,
      };
    }
    return { ...judged, state: 'ok' };
  }

  const latest = newestBy(records, (r) => r.createdAt);
  if (latest?.status === 'failed') {
    return {
      ...judged,
      state: 'breach',
      reason: 'failed',
      detail: `the newest copy (${latest.sourceSnapshotId ?? latest.sourceId}) failed: ${latest.reason ?? 'no reason given'}`,
    };
  }
  if (latest?.status === 'copying' && latest.copyStartedAt) {
    const copyingFor = hoursBetween(latest.copyStartedAt, now);
    if (copyingFor > stuckAfterHours) {
      return {
        ...judged,
        state: 'breach',
        reason: 'stuck',
        detail: `a copy has been in progress for ${formatHours(round4(copyingFor))} (stuck after ${formatHours(stuckAfterHours)})`,
      };
    }
  }
  if (records.length === 0) {
    return {
      ...judged,
      state: 'breach',
      reason: 'nothing shared',
      detail: newestSnapshotAt
        ? `the source never shared a snapshot of it; production's newest was taken ${newestSnapshotAt}`
        : 'the source never shared a snapshot of it, and production has taken none',
    };
  }
  if (age === undefined) {
    return {
      ...judged,
      state: 'breach',
      reason: 'never copied',
      detail: `no copy is available yet (${records.length} record(s), newest ${latest?.status ?? 'unknown'})`,
    };
  }
  const recentRecord = records.some((r) => hoursBetween(r.createdAt, now) <= rpoHours);
  if (!recentRecord) {
    return {
      ...judged,
      state: 'breach',
      reason: 'nothing shared',
      detail: `no snapshot shared within the RPO of ${formatHours(rpoHours)}; newest copy ${formatHours(age)} old`,
    };
  }
  return {
    ...judged,
    state: 'breach',
    reason: 'late',
    detail: `newest copy ${formatHours(age)} old, beyond the RPO of ${formatHours(rpoHours)}`,
  };
}

/**
 * Judges one pulled resource. The vault holds its newest version as of the
 * last pull that read it: a changed value's `latest.pulledAt`, or, for an
 * unchanged one, the finish of the last run of its scope that did not fail it.
 */
export function judgePulled(
  base: Pick<ResourceAudit, 'kind' | 'account' | 'region' | 'resource' | 'rpoHours'>,
  record: PulledRecord,
  run: PullRunRecord | undefined,
  now: Date,
  stuckAfterHours: number,
): ResourceAudit {
  const { rpoHours } = base;
  const confirmed =
    record.state === 'held' && run && !run.summary.continued
      ? [record.latest?.pulledAt, run.summary.finishedAt]
          .filter((t): t is string => Boolean(t))
          .sort()
          .at(-1)
      : record.latest?.pulledAt;
  const copy = confirmed
    ? { newestCopy: record.latest?.id, newestCopyAt: confirmed, ageHours: round4(hoursBetween(confirmed, now)) }
    : {};
  const judged = { ...base, ...copy };
  const age = confirmed ? hoursBetween(confirmed, now) : undefined;
  if (record.state === 'failed') {
    return {
      ...judged,
      state: 'breach',
      reason: 'failed',
      detail: `the last pull failed: ${record.reason ?? 'no reason given'}`,
    };
  }
  if (age === undefined) {
    if (record.state === 'pulling' && hoursBetween(record.updatedAt, now) > stuckAfterHours) {
      return {
        ...judged,
        state: 'breach',
        reason: 'stuck',
        detail: `a pull has been in progress since ${record.updatedAt}`,
      };
    }
    return { ...judged, state: 'breach', reason: 'never copied', detail: 'no version held yet' };
  }
  if (age > rpoHours) {
    return {
      ...judged,
      state: 'breach',
      reason: 'late',
      detail: `last pulled ${formatHours(age)} ago, beyond the RPO of ${formatHours(rpoHours)}`,
    };
  }
  return { ...judged, state: 'ok' };
}

const STATE_ORDER = Object.fromEntries(AUDIT_STATES.map((state, index) => [state, index])) as Record<string, number>;

/** Breaches first, then at-risk, then ok; within a state by kind, account, Region and resource. */
export function orderForStatus(resources: readonly ResourceAudit[]): ResourceAudit[] {
  const key = (r: ResourceAudit) => [r.kind, r.account, r.region, r.resource].join('\u0000');
  return [...resources].sort(
    (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0),
  );
}

const PULLED_KEY_OF = Object.fromEntries(Object.entries(PULLED_KIND_OF).map(([key, kind]) => [kind, key])) as Record<
  PulledKindName,
  PulledConfigKey
>;

const isSnapshotKind = (kind: AuditKind): kind is KindName => (KIND_NAMES as readonly string[]).includes(kind);

/**
 * The production resource a copy is of: for an image, the production image
 * itself (its id, kept as `sourceSnapshotId`); for the others, the DB
 * instance, cluster or volume the service reported.
 */
const resourceOf = (record: InventoryRecord) =>
  record.kind === 'ami' ? (record.sourceSnapshotId ?? record.sourceId) : record.sourceResourceId;

/** Judges every resource in scope; unless read-only, records breach transitions and publishes them. */
export async function audit(deps: AuditDeps, now: Date, options: AuditOptions = {}): Promise<AuditReport> {
  const { settings, log } = deps;
  const records = await deps.inventory.list();
  const copies = records.filter((r) => r.kind !== 'unknown' && r.status !== 'rejected' && r.hop !== 2);
  const byResource = new Map<string, InventoryRecord[]>();
  for (const record of copies) {
    const resource = resourceOf(record);
    if (!resource) continue;
    const key = [record.kind, record.sourceAccount, record.sourceRegion, resource].join(' ');
    byResource.set(key, [...(byResource.get(key) ?? []), record]);
  }

  const judged: ResourceAudit[] = [];
  const unreachable: string[] = [];
  const sources = await deps.sources.all();
  for (const [kind, kindSettings] of Object.entries(settings.kinds) as [
    AuditKind,
    { rpoHours: number; scope?: never },
  ][]) {
    if (!kindSettings) continue;
    for (const source of sources) {
      for (const region of source.regions) {
        const base = { kind, account: source.account, region, rpoHours: kindSettings.rpoHours };
        try {
          if (isSnapshotKind(kind)) {
            const found = await deps.discovery.resources(kind, source.account, region);
            const scope = settings.kinds[kind]?.scope;
            const inScopeNow = found.filter((r: DiscoveredResource) => !scope || inScope(scope, r.scopeIds, r.tags));
            for (const resource of inScopeNow) {
              const key = [kind, source.account, region, resource.id].join(' ');
              judged.push(
                judgeCopies(
                  { ...base, resource: resource.id },
                  byResource.get(key) ?? [],
                  now,
                  settings.stuckAfterHours,
                  resource.newestSnapshotAt,
                ),
              );
            }
          } else if (deps.pulled) {
            const scopeRecords = await deps.pulled.listScope(kind, source.account, region);
            const run = await deps.pulled.getRun(PULLED_KEY_OF[kind], source.account, region);
            for (const record of scopeRecords.filter((r) => r.state !== 'deleted-at-source')) {
              judged.push(
                judgePulled({ ...base, resource: record.sourceId }, record, run, now, settings.stuckAfterHours),
              );
            }
          }
        } catch (error) {
          const where = `${kind} ${source.account}/${region}`;
          unreachable.push(`${where}: ${(error as Error).message}`);
          log.error('audit could not list the resources in scope', {
            kind,
            account: source.account,
            region,
            error: (error as Error).message,
          });
        }
      }
    }
  }

  const resources = orderForStatus(judged);
  const transitions = options.readOnly ? [] : await recordTransitions(deps, resources, now);
  const windowStart = new Date(now.getTime() - (options.windowMinutes ?? 15) * 60_000).toISOString();
  return {
    at: now.toISOString(),
    resources,
    transitions,
    failedCopies: copies.filter((r) => r.status === 'failed').length,
    copiesWaitingOnQuota: copies.filter(waitsOnQuota).length,
    rejectedNotifications: records.filter((r) => r.status === 'rejected' && r.createdAt >= windowStart).length,
    unreachable,
  };
}

/**
 * A breach that starts creates (or reopens) the resource's audit record; one
 * that ends closes it. Only the auditor whose conditional write wins
 * publishes, so two overlapping audits send one message. When the publish
 * fails the record is put back, so the next audit tries again, and the error
 * goes up (the function's error alarm fires).
 */
async function recordTransitions(
  deps: AuditDeps,
  resources: readonly ResourceAudit[],
  now: Date,
): Promise<BreachTransition[]> {
  const at = now.toISOString();
  const stored = new Map((await deps.records.list()).map((r) => [r.artifactId, r]));
  const transitions: BreachTransition[] = [];
  for (const resource of resources) {
    const id = auditRecordId(resource.kind, resource.account, resource.region, resource.resource);
    const before = stored.get(id);
    const breaching = resource.state === 'breach';
    const wasBreaching = before?.state === 'breach';
    if (breaching === wasBreaching) continue;
    const next: AuditRecord = {
      artifactId: id,
      auditScope: auditScopeOf(resource.kind, resource.account, resource.region),
      kind: resource.kind,
      account: resource.account,
      region: resource.region,
      resource: resource.resource,
      state: breaching ? 'breach' : 'ok',
      ...(breaching && resource.reason ? { reason: resource.reason } : {}),
      since: at,
      updatedAt: at,
      version: (before?.version ?? 0) + 1,
    };
    const won = before ? await deps.records.replace(before, next) : await deps.records.create(next);
    if (!won) continue;
    const change = breaching ? 'started' : 'ended';
    const { subject, message } = alertMessage(resource, change, before?.since);
    try {
      await deps.alerts.publish(subject, message);
    } catch (error) {
      const back: AuditRecord = before ?? { ...next, state: 'ok', since: at };
      await deps.records.replace(next, { ...back, version: next.version + 1 });
      throw error;
    }
    deps.log.info('breach ' + change, {
      kind: resource.kind,
      account: resource.account,
      region: resource.region,
      resource: resource.resource,
      reason: resource.reason,
    });
    transitions.push({ audit: resource, change, subject, message });
  }
  return transitions;
}
