/**
 * `bunker status`: is everything backed up, and since when? Runs the
 * auditor's judgement read-only (nothing is written, nothing published)
 * and prints one row per resource in scope: breaches first, then at-risk,
 * then ok. The exit status says it for scripts and cron: 0 when everything
 * is within its RPO (at-risk included), 2 when anything breaches, 1 when
 * the audit could not see everything (or failed).
 */
import { auditDeps, auditSources } from '../lambdas/adapters/audit/wiring';
import type { AwsContext } from '../lambdas/adapters/aws-context';
import { audit } from '../lambdas/core/audit/audit';
import { formatHours } from '../lambdas/core/audit/alerts';
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
): Promise<AuditReport> {
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
  return audit({ ...deps, discovery: explainRefusals(deps.discovery, config, operator) }, now, { readOnly: true });
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
export function statusTable(report: AuditReport): string {
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
  return lines.join('\n');
}

/** The JSON output: the report's resources and what could not be listed. */
export function statusJson(report: AuditReport): string {
  return JSON.stringify({ at: report.at, resources: report.resources, unreachable: report.unreachable }, null, 2);
}
