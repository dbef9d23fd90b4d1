/**
 * `bunker status`: is everything backed up, and since when? Runs the
 * auditor's judgement read-only (nothing is written, nothing published)
 * and prints one row per resource in scope: breaches first, then at-risk,
 * then ok. The exit status says it for scripts and cron: 0 when everything
 * is within its RPO (at-risk included), 2 when anything breaches, 1 when
 * the audit could not see everything (or failed).
 *
 * Below the audit it shows the last proven restore of each resource with
 * copies (the restore drills' log: when, and in how many minutes, or "never
 * drilled"), and the latest drill when it failed since.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { auditDeps, auditSources } from '../lambdas/adapters/audit/wiring';
import { DynamoDrillLog } from '../lambdas/adapters/drill/dynamo-drill-log';
import { DynamoInventory } from '../lambdas/adapters/dynamo-inventory';
import { DynamoPulledInventory } from '../lambdas/adapters/pull/dynamo-pulled';
import { type AwsContext, clientConfig } from '../lambdas/adapters/aws-context';
import { audit } from '../lambdas/core/audit/audit';
import { formatHours } from '../lambdas/core/audit/alerts';
import { copiedResources, drillKindOf } from '../lambdas/core/drill/plan';
import { type DrillKind, type DrillLog, type DrillResult, drillKey } from '../lambdas/core/drill/types';
import { vaultNames } from '../lambdas/core/names';
import type { AuditKind, AuditReport, ResourceAudit, ScopeDiscovery } from '../lambdas/core/audit/types';
import { type Log, silentLog } from '../lambdas/core/ports';
import { safeText } from '../lambdas/core/text';
import { auditHandlerSettings } from '../lib/constructs/audit';
import type { BunkerConfig } from '../lib/config/schema';
import { readerRoleRefusal } from './aws-session';
import { type Column, render, when } from './inventory';

/** Exit statuses of `bunker status`, documented in its `--help` and the README. */
export const STATUS_EXIT = { ok: 0, error: 1, breach: 2 } as const;

export interface StatusFilter {
  readonly account?: string;
  readonly kind?: AuditKind;
}

/**
 * The audit, read-only, narrowed to an account and a kind. `operator` says
 * whether `context` is the operator role, which changes the fix a refused
 * reader role names.
 */
export async function readStatus(
  config: BunkerConfig,
  context: AwsContext,
  filter: StatusFilter,
  now: Date,
  log: Log = silentLog,
  operator = false,
): Promise<StatusReport> {
  const settings = auditHandlerSettings(config, 'arn:aws:sns:::none');
  // Listed and enrolled accounts, as the audit function sees them.
  const registry = auditSources(settings, context, Boolean(config.organization));
  const sources = {
    all: async () => (await registry.all()).filter((s) => !filter.account || s.account === filter.account),
  };
  const narrowed = {
    ...settings,
    audit: {
      ...settings.audit,
      kinds: Object.fromEntries(
        Object.entries(settings.audit.kinds).filter(([kind]) => !filter.kind || kind === filter.kind),
      ),
    },
  };
  const publishNothing = {
    publish: async () => {
      throw new Error('bunker status publishes nothing');
    },
  };
  const deps = auditDeps(narrowed, context, log, publishNothing, sources);
  const report = await audit({ ...deps, discovery: explainRefusals(deps.discovery, config, operator) }, now, {
    readOnly: true,
  });
  return { ...report, ...(await readProvenRestores(config, context, filter)) };
}

/**
 * The last proven restore of one resource's copies in one Region, from the
 * drill log: with a second Region, a resource has a row for each, since a
 * proof of the vault Region's copy says nothing of the second Region's.
 */
export interface ProvenRestore {
  readonly kind: DrillKind;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  /** 2 for the second Region's copies. */
  readonly hop?: 2;
  /** The Region of the copies drilled; absent when the caller did not say (the vault Region). */
  readonly copyRegion?: string;
  /** The last drill that passed; absent when the resource was never drilled successfully. */
  readonly lastPassed?: Pick<DrillResult, 'finishedAt' | 'restoreSeconds' | 'targetSeconds'>;
  /** The latest drill, when it failed after (or without) a proof. */
  readonly lastFailed?: Pick<DrillResult, 'finishedAt' | 'failure'>;
}

/** A status report with the restore drills' proofs beside the audit. */
export type StatusReport = AuditReport & {
  readonly proven?: readonly ProvenRestore[];
  /** Why the proofs could not be read, when they could not. */
  readonly provenUnreadable?: string;
};

/**
 * Every resource with a copy in the inventory and its last proven restore,
 * by the drill log: what `bunker status` adds below the audit. A drill log
 * that cannot be read is said, not fatal: the audit stands on its own.
 */
export async function readProvenRestores(
  config: BunkerConfig,
  context: AwsContext,
  filter: StatusFilter,
): Promise<Pick<StatusReport, 'proven' | 'provenUnreadable'>> {
  try {
    const client = new DynamoDBClient(clientConfig(context));
    const names = vaultNames(config.name);
    const inventory = new DynamoInventory(client, names.inventoryTable, names.inventoryStatusIndex);
    const pulled = new DynamoPulledInventory(client, names.inventoryTable, names.inventoryPullScopeIndex);
    const input = {
      copies: await inventory.listByStatus('available'),
      pulled: (await pulled.list()).filter((r) => r.state === 'held'),
    };
    const proven = provenRestores(
      new DynamoDrillLog(client, names.inventoryTable),
      copiedResources(input, {
        backupRegion: config.backup.region,
        ...(config.backup.secondRegion ? { secondRegion: config.backup.secondRegion } : {}),
      }),
    );
    const kind = filter.kind && drillKindOf(filter.kind);
    return {
      proven: (await proven).filter(
        (p) => (!filter.account || p.account === filter.account) && (!kind || p.kind === kind),
      ),
    };
  } catch (error) {
    return { provenUnreadable: cell((error as Error).message ?? String(error)) };
  }
}

/** Joins the resources with copies (in each Region) and the drill log's summaries. */
export async function provenRestores(
  log: DrillLog,
  resources: readonly {
    kind: DrillKind;
    account: string;
    region: string;
    resource: string;
    hop?: 2;
    copyRegion?: string;
  }[],
): Promise<ProvenRestore[]> {
  const summaries = new Map((await log.latest()).map((s) => [drillKey(s), s]));
  return (
    resources
      .map((r): ProvenRestore => {
        const summary = summaries.get(drillKey(r));
        const passed = summary?.lastPassed;
        const failed = summary && summary.last.outcome === 'failed' ? summary.last : undefined;
        return {
          kind: r.kind,
          account: r.account,
          region: r.region,
          resource: r.resource,
          ...(r.hop === 2 ? { hop: 2 as const } : {}),
          ...(r.copyRegion ? { copyRegion: r.copyRegion } : {}),
          ...(passed
            ? {
                lastPassed: {
                  finishedAt: passed.finishedAt,
                  targetSeconds: passed.targetSeconds,
                  ...(passed.restoreSeconds !== undefined ? { restoreSeconds: passed.restoreSeconds } : {}),
                },
              }
            : {}),
          ...(failed ? { lastFailed: { finishedAt: failed.finishedAt, failure: failed.failure } } : {}),
        };
      })
      // A resource's second-Region row right after its first: `…@<region>` sorts after the bare key.
      .sort((a, b) => drillKey(a).localeCompare(drillKey(b)))
  );
}

/** `2026-11-20 07:00, 12.5 min` or `never drilled`. */
export function provenText(p: ProvenRestore): string {
  if (!p.lastPassed) return 'never drilled';
  const minutes =
    p.lastPassed.restoreSeconds === undefined
      ? ''
      : `, ${Math.round((p.lastPassed.restoreSeconds / 60) * 10) / 10} min`;
  return `${p.lastPassed.finishedAt.slice(0, 10)} ${p.lastPassed.finishedAt.slice(11, 16)}${minutes}`;
}

/**
 * The proofs as a table: one row per resource with copies and, with a
 * second Region, one more for its copies there; fits 120 columns.
 */
export function provenTable(proven: readonly ProvenRestore[]): string {
  if (proven.length === 0) return 'Last proven restore: no resource has a copy to drill.';
  const columns: Column<ProvenRestore>[] = [
    { head: 'Kind', width: 10, value: (p) => p.kind },
    { head: 'Account', width: 15, value: (p) => `${p.account}\n${p.region}` },
    // The second Region's row names its Region under the resource, right below the vault Region's row.
    {
      head: 'Resource',
      width: 30,
      value: (p) => (p.hop === 2 ? `${p.resource}\nits copy in ${p.copyRegion ?? '?'}` : p.resource),
      wrap: true,
    },
    { head: 'Last proven restore', width: 28, value: (p) => provenText(p) },
    {
      head: 'Latest drill failed',
      width: 31,
      value: (p) => (p.lastFailed ? `${p.lastFailed.finishedAt.slice(0, 10)}: ${p.lastFailed.failure ?? ''}` : '-'),
    },
  ];
  const never = proven.filter((p) => !p.lastPassed).length;
  return [
    'Last proven restore (restore drills; run `bunker drill`):',
    render(columns, proven),
    `${proven.length} resource(s) with copies: ${proven.length - never} proven restorable, ${never} never drilled.`,
  ].join('\n');
}

/**
 * Discovery whose "access denied" on a reader role names the role and the
 * fix: a bare STS refusal says neither which trust policy to look at nor
 * that `--operator` exists.
 */
export function explainRefusals(discovery: ScopeDiscovery, config: BunkerConfig, operator: boolean): ScopeDiscovery {
  return {
    resources: async (kind, account, region) => {
      try {
        return await discovery.resources(kind, account, region);
      } catch (error) {
        throw readerRoleRefusal(error, config, account, operator) ?? error;
      }
    },
  };
}

export function statusExitCode(report: AuditReport): number {
  if (report.resources.some((r) => r.state === 'breach')) return STATUS_EXIT.breach;
  return report.unreachable.length > 0 ? STATUS_EXIT.error : STATUS_EXIT.ok;
}

/** Text from outside (unreachable accounts' errors) with control characters shown as escapes. */
const cell = (text: string) => safeText(text, 10_000);

/**
 * One row per resource; fits 120 columns (widths include cli-table3's
 * one-space padding; with the borders the table is 120 wide).
 */
export function statusTable(report: StatusReport): string {
  const columns: Column<ResourceAudit>[] = [
    { head: 'State', width: 10, value: (r) => r.state },
    { head: 'Kind', width: 25, value: (r) => r.kind },
    { head: 'Account', width: 15, value: (r) => `${r.account}\n${r.region}` },
    { head: 'Resource', width: 22, value: (r) => r.resource, wrap: true },
    { head: 'Copy taken', width: 12, value: (r) => when(r.newestCopyAt) },
    {
      head: 'Age/RPO',
      width: 10,
      value: (r) => `${r.ageHours === undefined ? '-' : formatHours(r.ageHours)}\n/${formatHours(r.rpoHours)}`,
    },
    { head: 'Why', width: 18, value: (r) => [r.reason, r.detail].filter(Boolean).join(': ') },
  ];
  const lines: string[] = [];
  if (report.resources.length === 0) {
    lines.push('No resource in scope.');
  } else {
    lines.push(render(columns, report.resources));
  }
  const count = (state: string) => report.resources.filter((r) => r.state === state).length;
  lines.push(
    `${report.resources.length} resource(s) in scope at ${report.at}: ${count('breach')} breaching, ${count('at-risk')} at risk, ${count('ok')} ok.`,
  );
  for (const problem of report.unreachable) lines.push(`Could not list: ${cell(problem)}`);
  if (report.proven) lines.push('', provenTable(report.proven));
  if (report.provenUnreadable) lines.push(`Could not read the restore drills: ${report.provenUnreadable}`);
  return lines.join('\n');
}

/** The JSON output: the report's resources and what could not be listed. */
export function statusJson(report: StatusReport): string {
  return JSON.stringify(
    {
      at: report.at,
      resources: report.resources,
      unreachable: report.unreachable,
      ...(report.proven ? { proven: report.proven } : {}),
    },
    null,
    2,
  );
}
