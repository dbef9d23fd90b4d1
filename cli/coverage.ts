/**
 * `bunker coverage`: what production has that Bunker does not back up, and
 * what to change. Lists every resource of every kind through each source
 * account's read-only reader role, in the registered Regions and in every
 * other Region the account has enabled (or those of them `--probe-regions`
 * names), and judges it against the configuration and the inventory
 * (`lambdas/core/coverage/`). Read-only: nothing is written. Regions are
 * surveyed a few at a time: each is a handful of list calls, and an
 * account has about twenty Regions.
 * Exit status: 0 when everything listed is covered, 2 when anything is not,
 * 1 on an error (a registered Region that could not be listed included).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { auditSources } from '../lambdas/adapters/audit/wiring';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { ReaderRoleSurvey, type Surveyor } from '../lambdas/adapters/coverage/survey';
import { DynamoInventory } from '../lambdas/adapters/dynamo-inventory';
import { DynamoPulledInventory } from '../lambdas/adapters/pull/dynamo-pulled';
import { assessCoverage, coverageExitCode } from '../lambdas/core/coverage/coverage';
import { enabledRegions, partitionOf, planRegions } from '../lambdas/core/coverage/regions';
import type {
  AccountRegions,
  CoverageFinding,
  CoverageKindConfig,
  CoverageReport,
  PlaceSurvey,
} from '../lambdas/core/coverage/types';
import { vaultNames } from '../lambdas/core/names';
import { PULLED_CONFIG_KEYS, type PullRunRecord } from '../lambdas/core/pull/types';
import { failureReason } from '../lambdas/core/pull/values';
import { safeText } from '../lambdas/core/text';
import { auditHandlerSettings } from '../lib/constructs/audit';
import { ARTIFACT_KINDS, type ArtifactKind, type BunkerConfig } from '../lib/config/schema';
import { type Column, render } from './inventory';

/** Regions surveyed at once, across accounts. */
export const SURVEY_CONCURRENCY = 4;

export interface CoverageOptions {
  /** Only this source account. */
  readonly account?: string;
  /**
   * Look only in these of the Regions not registered (default: every Region
   * the account has enabled).
   */
  readonly probeRegions?: readonly string[];
  /** How to list one account and Region; default the reader roles. */
  readonly surveyor?: Surveyor;
  /** Regions surveyed at once; default {@link SURVEY_CONCURRENCY}. */
  readonly concurrency?: number;
  /** A line per account and Region as it is surveyed (the CLI writes them to stderr). */
  readonly progress?: (line: string) => void;
}

/** `run` over `items`, at most `limit` at a time; results in the order of `items`. */
async function inTurns<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * Where to look in each account: its registered Regions, and the Regions
 * not registered that it has enabled (asked through its reader role in its
 * first registered Region), narrowed by `--probe-regions`.
 */
async function planPlaces(
  sources: readonly { account: string; regions: readonly string[] }[],
  surveyor: Surveyor,
  partition: string,
  options: CoverageOptions,
): Promise<{ places: { account: string; region: string; registered: boolean }[]; accounts: AccountRegions[] }> {
  const say = options.progress ?? (() => {});
  const places: { account: string; region: string; registered: boolean }[] = [];
  const accounts: AccountRegions[] = [];
  for (const source of sources) {
    let enabled: string[] | undefined;
    let unlearned: string | undefined;
    try {
      enabled = enabledRegions(await surveyor.enabledRegions(source.account, source.regions[0]), partition);
    } catch (error) {
      unlearned = failureReason(error);
    }
    const plan = planRegions(source.regions, enabled, options.probeRegions);
    say(
      `${source.account}: ` +
        (enabled ? `${enabled.length} Region(s) enabled` : `could not ask which Regions are enabled (${unlearned})`) +
        `; looking in ${source.regions.length} registered and ${plan.probe.length} not registered`,
    );
    accounts.push({
      account: source.account,
      ...(unlearned !== undefined ? { unlearned } : {}),
      named: options.probeRegions !== undefined,
      skipped: plan.skipped,
      notEnabled: plan.notEnabled,
    });
    places.push(
      ...source.regions.map((region) => ({ account: source.account, region, registered: true })),
      ...plan.probe.map((region) => ({ account: source.account, region, registered: false })),
    );
  }
  return { places, accounts };
}

/** What coverage reads of each kind's configuration. */
export function coverageKinds(config: BunkerConfig): Record<ArtifactKind, CoverageKindConfig> {
  return Object.fromEntries(
    ARTIFACT_KINDS.map((kind) => {
      const policy = config.artifacts[kind] as BunkerConfig['artifacts'][ArtifactKind] & {
        paths?: string[];
        namePrefixes?: string[];
      };
      return [
        kind,
        {
          enabled: policy.enabled,
          scope: policy.scope,
          rpoHours: policy.rpoHours,
          ...(policy.paths ? { paths: policy.paths } : {}),
          ...(policy.namePrefixes ? { namePrefixes: policy.namePrefixes } : {}),
        },
      ];
    }),
  ) as Record<ArtifactKind, CoverageKindConfig>;
}

/**
 * The coverage report. `context` is the backup account's, as the operator
 * role (the one principal besides the vault's functions that the reader
 * roles trust).
 */
export async function readCoverage(
  config: BunkerConfig,
  context: AwsContext,
  options: CoverageOptions,
  now: Date,
): Promise<CoverageReport> {
  const settings = auditHandlerSettings(config, 'arn:aws:sns:::none');
  const registry = auditSources(settings, context, Boolean(config.organization));
  const sources = (await registry.all()).filter((s) => !options.account || s.account === options.account);
  const partition = partitionOf(config.backup.region);
  const surveyor = options.surveyor ?? new ReaderRoleSurvey(context, config.name, partition);
  const plan = await planPlaces(sources, surveyor, partition, options);
  const places: PlaceSurvey[] = await inTurns(
    plan.places,
    options.concurrency ?? SURVEY_CONCURRENCY,
    async ({ account, region, registered }) => {
      const place = await surveyor.survey(account, region, registered);
      const refused = place.unlisted.map((u) => u.kind);
      options.progress?.(
        `${account} ${region}${registered ? '' : ' (not registered)'}: ${place.resources.length} resource(s)` +
          (refused.length > 0 ? `; could not list ${refused.join(', ')} (${place.unlisted[0].reason})` : ''),
      );
      return place;
    },
  );
  const names = vaultNames(config.name);
  const dynamo = new DynamoDBClient(clientConfig(context));
  try {
    const copies = await new DynamoInventory(dynamo, names.inventoryTable, names.inventoryStatusIndex).list();
    const pulledInventory = new DynamoPulledInventory(dynamo, names.inventoryTable, names.inventoryPullScopeIndex);
    const pulled = await pulledInventory.list();
    const runs: PullRunRecord[] = [];
    for (const kind of PULLED_CONFIG_KEYS.filter((k) => config.artifacts[k].enabled)) {
      for (const source of sources) {
        for (const region of source.regions) {
          const run = await pulledInventory.getRun(kind, source.account, region);
          if (run) runs.push(run);
        }
      }
    }
    return assessCoverage({
      prefix: config.name,
      kinds: coverageKinds(config),
      stuckAfterHours: settings.audit.stuckAfterHours,
      places,
      copies,
      pulled,
      runs,
      accounts: plan.accounts,
      now,
    });
  } finally {
    dynamo.destroy();
  }
}

/** One row per resource with a reason; fits 120 columns. */
export function coverageTable(report: CoverageReport): string {
  const lines = (f: CoverageFinding, pick: (r: CoverageFinding['reasons'][number]) => string) =>
    f.reasons.map(pick).join('\n');
  const columns: Column<CoverageFinding>[] = [
    { head: 'Kind', width: 10, value: (f) => f.kind },
    { head: 'Account', width: 15, value: (f) => `${f.account}\n${f.region}` },
    { head: 'Resource', width: 24, value: (f) => f.resource, wrap: true },
    {
      head: 'Why',
      width: 34,
      value: (f) => lines(f, (r) => `${r.code}${r.blocking ? '' : ' (not blocking)'}: ${r.detail}`),
    },
    { head: 'What to change', width: 31, value: (f) => lines(f, (r) => r.fix) },
  ];
  const out: string[] = [];
  out.push(report.findings.length === 0 ? 'Every resource listed is covered.' : render(columns, report.findings));
  out.push(
    `${report.checked} resource(s) listed at ${report.at}: ${report.uncovered} not covered, ` +
      `${report.findings.length - report.uncovered} with advice only.`,
  );
  for (const note of report.notes) out.push(`Note: ${safeText(note, 10_000)}`);
  return out.join('\n');
}

export function coverageJson(report: CoverageReport): string {
  return JSON.stringify(report, null, 2);
}

/**
 * The Region not registered the demo looks in, as `--probe-regions` would
 * name it: every enabled Region (about twenty on the emulator, each a first
 * use of its backends there) would lengthen `make demo` for a view of empty
 * Regions. The report notes the Regions it left out.
 */
export const DEMO_PROBE_REGIONS = ['us-east-1'] as const;

/**
 * The demo's coverage step: the report of `bunker coverage --endpoint
 * --probe-regions us-east-1`, as the operator role. The demo keeps resources
 * out of scope on purpose (to show the agent leaves them alone), so the
 * report lists them and the command would exit 2; the demo itself does not
 * fail on it.
 */
export async function demoCoverage(
  config: BunkerConfig,
  endpoint: string,
  progress: (line: string) => void,
): Promise<CoverageReport> {
  progress('Coverage: what production has that Bunker does not back up, and what to change (`bunker coverage`)');
  const { localContext } = await import('./local/accounts');
  const context = await localContext(
    endpoint,
    config.backup.account,
    config.backup.region,
    vaultNames(config.name).operatorRole,
  );
  const report = await readCoverage(
    config,
    context,
    { probeRegions: DEMO_PROBE_REGIONS, progress: (line) => progress(`  ${line}`) },
    new Date(),
  );
  for (const line of coverageTable(report).split('\n')) progress(`  ${line}`);
  progress(
    `  bunker coverage would exit ${coverageExitCode(report)}` +
      (report.uncovered > 0 ? ': the demo keeps these resources out of scope on purpose' : ''),
  );
  return report;
}
