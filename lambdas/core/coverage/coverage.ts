/**
 * Judges coverage: each resource the reader roles listed, against the
 * configuration and the inventory, gets every reason it is not covered,
 * each with the change that fixes it. Freshness is the auditor's own
 * judgement (`judgeCopies`, `judgePulled`), so `bunker status` and
 * `bunker coverage` never disagree on whether a copy is fresh.
 *
 * Re-keying: the source agent copies every snapshot in scope under its
 * share key before sharing it, so a snapshot under `aws/rds` or `aws/ebs`
 * is covered wherever the agent runs. It is uncoverable only where no agent
 * runs (the Region is not registered, or its source stack is not
 * deployed): nobody can share it, and the vault cannot use the key.
 */
import { KINDS } from '../../kinds/registry';
import { KIND_NAMES, type KindName } from '../../kinds/types';
import { ARTIFACT_KINDS, type ArtifactKind } from '../../../lib/config/schema';
import { judgeCopies, judgePulled } from '../audit/audit';
import type { ResourceAudit } from '../audit/types';
import type { InventoryRecord } from '../inventory';
import { sourceNames } from '../names';
import { PULLED_KIND_OF, type PulledConfigKey, pulledArtifactId, pullRunId } from '../pull/types';
import { inScope } from '../scope';
import { safeText } from '../text';
import type {
  CoverageFinding,
  CoverageInput,
  CoverageKindConfig,
  CoverageReason,
  CoverageReport,
  FoundResource,
  PlaceSurvey,
} from './types';

const SNAPSHOT_KIND_OF = Object.fromEntries(KIND_NAMES.map((name) => [KINDS[name].configKey, name])) as Record<
  string,
  KindName
>;
const isPulled = (kind: ArtifactKind): kind is PulledConfigKey => kind in PULLED_KIND_OF;

/** The production resource a copy record is of (as the auditor groups them). */
const resourceOfCopy = (record: InventoryRecord) =>
  record.kind === 'ami' ? (record.sourceSnapshotId ?? record.sourceId) : record.sourceResourceId;

const quoted = (items: readonly string[]) => items.map((item) => `"${safeText(item)}"`).join(', ');

function reason(code: CoverageReason['code'], detail: string, fix: string, blocking = true): CoverageReason {
  return { code, blocking, detail, fix };
}

function scopeFix(kind: ArtifactKind, scope: CoverageKindConfig['scope'], resource: FoundResource): string {
  return 'ids' in scope
    ? `add "${safeText(resource.id)}" to artifacts.${kind}.scope.ids`
    : `tag it ${safeText(scope.tag.key)}=${safeText(scope.tag.value)}`;
}

/** The prefixes a pulled value kind is narrowed to, and their config key. */
function prefixRule(kind: ArtifactKind, config: CoverageKindConfig) {
  if (kind === 'ssm' && config.paths?.length) return { key: 'artifacts.ssm.paths', prefixes: config.paths };
  if (kind === 'secrets' && config.namePrefixes?.length) {
    return { key: 'artifacts.secrets.namePrefixes', prefixes: config.namePrefixes };
  }
  return undefined;
}

function freshness(
  input: CoverageInput,
  kind: ArtifactKind,
  place: PlaceSurvey,
  resource: FoundResource,
  copies: ReadonlyMap<string, InventoryRecord[]>,
): CoverageReason | undefined {
  const config = input.kinds[kind];
  const base = { account: place.account, region: place.region, resource: resource.id, rpoHours: config.rpoHours };
  let judged: ResourceAudit;
  if (isPulled(kind)) {
    const name = PULLED_KIND_OF[kind];
    const id = pulledArtifactId(name, place.account, place.region, resource.id);
    const record = input.pulled.find((r) => r.artifactId === id);
    if (!record) {
      return reason(
        'no-fresh-copy',
        'never pulled: the inventory has no record of it',
        `wait for the next pull of ${kind} (every half of its RPO), or run it; if none comes, check the pull function's errors`,
      );
    }
    const run = input.runs.find((r) => r.artifactId === pullRunId(kind, place.account, place.region));
    judged = judgePulled({ ...base, kind: name }, record, run, input.now, input.stuckAfterHours);
  } else {
    const name = SNAPSHOT_KIND_OF[kind];
    const key = [name, place.account, place.region, resource.id].join(' ');
    judged = judgeCopies({ ...base, kind: name }, copies.get(key) ?? [], input.now, input.stuckAfterHours);
  }
  if (judged.state !== 'breach') return undefined;
  return reason(
    'no-fresh-copy',
    `${judged.reason ?? 'breach'}: ${judged.detail ?? 'no copy within the RPO'}`,
    isPulled(kind)
      ? `see \`bunker status --kind ${kind}\` and the pull function's log for why the pull did not hold it`
      : `see \`bunker status --kind ${kind}\` and the source agent's log in ${place.account} ${place.region}`,
  );
}

/** Every reason one resource is not covered; none when it is. */
function reasonsFor(
  input: CoverageInput,
  place: PlaceSurvey,
  resource: FoundResource,
  copies: ReadonlyMap<string, InventoryRecord[]>,
): CoverageReason[] {
  const { kind } = resource;
  const config = input.kinds[kind];
  const reasons: CoverageReason[] = [];
  if (!place.registered) {
    reasons.push(
      reason(
        'region-not-registered',
        `${place.region} is not a Region of source ${place.account}: no source agent and no pull run there`,
        `add "${place.region}" to the regions of source ${place.account} in the configuration and deploy its source stack`,
      ),
    );
  }
  if (!config.enabled) {
    reasons.push(
      reason(
        'kind-disabled',
        `${kind} is not enabled, so nothing of this kind is backed up`,
        `set artifacts.${kind}.enabled to true and deploy`,
      ),
    );
  }
  const scoped = inScope(config.scope, resource.scopeIds, resource.tags);
  if (config.enabled && !scoped) {
    reasons.push(
      reason(
        'outside-scope',
        'ids' in config.scope
          ? `not among the ${config.scope.ids.length} id(s) of artifacts.${kind}.scope`
          : `not tagged ${safeText(config.scope.tag.key)}=${safeText(config.scope.tag.value)} (artifacts.${kind}.scope)`,
        scopeFix(kind, config.scope, resource),
      ),
    );
  }
  const prefixes = prefixRule(kind, config);
  const underPrefix = !prefixes || prefixes.prefixes.some((prefix) => resource.id.startsWith(prefix));
  if (config.enabled && !underPrefix && prefixes) {
    reasons.push(
      reason(
        'outside-prefix',
        `its name is under none of ${quoted(prefixes.prefixes)} (${prefixes.key})`,
        `move it under one of them, or add its prefix to ${prefixes.key}`,
      ),
    );
  }
  if (resource.tdeOptionGroup) {
    reasons.push(
      reason(
        'tde',
        `${safeText(resource.engine ?? 'the engine')} with Transparent Data Encryption (option group ${safeText(resource.tdeOptionGroup)}): AWS shares no snapshot of a TDE instance with another account`,
        "back it up with the engine's own tools (Oracle RMAN or SQL Server native backup to S3) outside Bunker, or move it to an option group without TDE (KMS storage encryption still encrypts it at rest)",
      ),
    );
  }
  if (resource.defaultKey && place.agent === false) {
    reasons.push(
      reason(
        'default-key',
        `${kind === 'ami' ? 'its snapshots are encrypted' : 'encrypted'} under the AWS-managed key ${resource.defaultKey}, which no other account can use, and no source agent runs in ${place.account} ${place.region} to re-key its snapshots (no ${sourceNames(input.prefix, place.region).shareKeyAlias})`,
        `deploy the source stack to ${place.account} ${place.region} (its agent re-keys every snapshot in scope under the share key), or re-encrypt it under a customer-managed key`,
      ),
    );
  }
  const backedUp = place.registered && config.enabled && scoped && underPrefix && !resource.tdeOptionGroup;
  if (backedUp) {
    const stale = freshness(input, kind, place, resource, copies);
    if (stale) reasons.push(stale);
  }
  if (kind === 'dynamodb' && config.enabled && resource.pointInTimeRecovery === false) {
    reasons.push(
      reason(
        'no-pitr',
        'point-in-time recovery is off: the pull dumps it by a throttled scan (up to artifacts.dynamodb.scanReadShare of its read capacity, not one point in time) instead of exporting it',
        'turn on point-in-time recovery (UpdateContinuousBackups), so the pull exports it instead',
        false,
      ),
    );
  }
  return reasons;
}

/**
 * Whether the reader role could list nothing at all in a Region it was sent
 * to: every kind refused and nothing found. In a registered Region that is
 * an incomplete report; elsewhere the Region is unknown, and said once per
 * account rather than once per kind.
 */
const refusedEverything = (place: PlaceSurvey) =>
  place.resources.length === 0 && ARTIFACT_KINDS.every((kind) => place.unlisted.some((u) => u.kind === kind));

function unknownNotes(prefix: string, unknown: CoverageReport['unknown']): string[] {
  const byAccount = new Map<string, CoverageReport['unknown'][number][]>();
  for (const entry of unknown) byAccount.set(entry.account, [...(byAccount.get(entry.account) ?? []), entry]);
  return [...byAccount].map(
    ([account, regions]) =>
      `${account}: could not list anything in ${regions.length} Region(s) it does not register: ` +
      `${regions.map((r) => r.region).join(', ')} (${regions[0].reason}); what is there is unknown, not nothing: ` +
      `redeploy the source stack of ${account} in its first listed Region (its reader role ` +
      `${sourceNames(prefix, regions[0].region).readerRole} may list metadata in every Region), and where a service ` +
      'control policy denies a Region, let that role list there',
  );
}

function regionNotes(accounts: CoverageInput['accounts']): string[] {
  const notes: string[] = [];
  for (const { account, unlearned, named, skipped, notEnabled } of accounts ?? []) {
    if (unlearned !== undefined) {
      notes.push(
        `${account}: could not learn which Regions it has enabled (${safeText(unlearned, 240)}), so ` +
          (named
            ? 'only its registered Regions and those --probe-regions names were looked in'
            : 'only its registered Regions were looked in') +
          ': redeploy its source stack (its reader role may call ec2:DescribeRegions)' +
          (named ? '' : ', or name the Regions to look in with --probe-regions'),
      );
    }
    if (skipped.length > 0) notes.push(`${account}: not looked in, left out by --probe-regions: ${skipped.join(', ')}`);
    if (notEnabled.length > 0) {
      notes.push(`${account}: not enabled in the account, so nothing can be there: ${notEnabled.join(', ')}`);
    }
  }
  return notes;
}

export function assessCoverage(input: CoverageInput): CoverageReport {
  const copies = new Map<string, InventoryRecord[]>();
  for (const record of input.copies) {
    if (record.kind === 'unknown' || record.status === 'rejected' || record.hop === 2) continue;
    const resource = resourceOfCopy(record);
    if (!resource) continue;
    const key = [record.kind, record.sourceAccount, record.sourceRegion, resource].join(' ');
    copies.set(key, [...(copies.get(key) ?? []), record]);
  }
  const findings: CoverageFinding[] = [];
  const notes: string[] = [];
  const unknown: CoverageReport['unknown'][number][] = [];
  let checked = 0;
  let incomplete = false;
  for (const place of input.places) {
    for (const resource of place.resources) {
      checked += 1;
      const reasons = reasonsFor(input, place, resource, copies);
      if (reasons.length > 0) {
        findings.push({
          kind: resource.kind,
          account: place.account,
          region: place.region,
          resource: resource.id,
          reasons,
        });
      }
    }
    if (!place.registered && refusedEverything(place)) {
      const first = place.unlisted.find((u) => u.kind !== 'keys') ?? place.unlisted[0];
      unknown.push({ account: place.account, region: place.region, reason: safeText(first.reason, 240) });
      continue;
    }
    for (const { kind, reason: why } of place.unlisted) {
      if (place.registered) incomplete = true;
      notes.push(
        `${place.account} ${place.region}${place.registered ? '' : ' (not registered)'}: could not list ${kind}: ${safeText(why, 240)}` +
          (place.registered ? '' : `; what is there of ${kind} is unknown`),
      );
    }
  }
  notes.push(...unknownNotes(input.prefix, unknown), ...regionNotes(input.accounts));
  const blocking = (f: CoverageFinding) => f.reasons.some((r) => r.blocking);
  const key = (f: CoverageFinding) => [f.kind, f.account, f.region, f.resource].join('\u0000');
  findings.sort(
    (a, b) => Number(blocking(b)) - Number(blocking(a)) || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0),
  );
  return {
    at: input.now.toISOString(),
    checked,
    findings,
    uncovered: findings.filter(blocking).length,
    notes,
    unknown,
    incomplete,
  };
}

/** Exit statuses of `bunker coverage`: 2 when anything is uncovered, 1 when it could not see everything. */
export const COVERAGE_EXIT = { ok: 0, error: 1, uncovered: 2 } as const;

export function coverageExitCode(report: CoverageReport): number {
  if (report.uncovered > 0) return COVERAGE_EXIT.uncovered;
  return report.incomplete ? COVERAGE_EXIT.error : COVERAGE_EXIT.ok;
}
