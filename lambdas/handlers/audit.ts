/**
 * Lambda: the auditor, every 15 minutes. Judges every resource in scope
 * against its RPO, records and announces breaches that start or end, and
 * emits the numbers the alarms watch as embedded-metric-format lines.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { auditDeps, auditSources, ENROLLED_SOURCES_ENV } from '../adapters/audit/wiring';
import { audit, type AuditDeps } from '../core/audit/audit';
import { type AuditMetric, auditMetrics } from '../core/audit/metrics';
import { auditSettingsFromEnv } from '../core/audit/settings';
import type { AuditKind, AuditReport } from '../core/audit/types';
import { type Clock, systemClock } from '../core/ports';

/** What one invocation reports (the local mode prints it). */
export interface AuditSummary {
  readonly at: string;
  readonly breaching: number;
  readonly atRisk: number;
  readonly ok: number;
  readonly transitions: readonly string[];
  readonly unreachable: readonly string[];
}

/**
 * One EMF line per dimension set: Powertools writes one dimension set per
 * line, so the metrics are grouped and flushed group by group. The default
 * `service` dimension is dropped so the alarms' dimensions are exactly these.
 */
export function emitAuditMetrics(metrics: Metrics, list: readonly AuditMetric[]): void {
  metrics.clearDefaultDimensions();
  const groups = new Map<string, AuditMetric[]>();
  for (const metric of list) {
    const key = JSON.stringify(Object.entries(metric.dimensions).sort());
    groups.set(key, [...(groups.get(key) ?? []), metric]);
  }
  for (const group of groups.values()) {
    metrics.addDimensions({ ...group[0].dimensions });
    for (const metric of group) {
      metrics.addMetric(metric.name, metric.unit === 'Count' ? MetricUnit.Count : MetricUnit.NoUnit, metric.value);
    }
    metrics.publishStoredMetrics();
  }
}

export function summarize(report: AuditReport): AuditSummary {
  const count = (state: string) => report.resources.filter((r) => r.state === state).length;
  return {
    at: report.at,
    breaching: count('breach'),
    atRisk: count('at-risk'),
    ok: count('ok'),
    transitions: report.transitions.map((t) => t.subject),
    unreachable: report.unreachable,
  };
}

export function createAuditHandler(deps: AuditDeps, metrics?: Metrics, clock: Clock = systemClock) {
  return async (): Promise<AuditSummary> => {
    const report = await audit(deps, clock.now());
    const summary = summarize(report);
    deps.log.info('audit finished', { ...summary });
    for (const resource of report.resources.filter((r) => r.state !== 'ok')) {
      deps.log.warn(`resource ${resource.state}`, { ...resource });
    }
    if (metrics) {
      const kinds = Object.keys(deps.settings.kinds) as AuditKind[];
      // Enrolled accounts too: the registry answers from what the audit just read.
      const accounts = (await deps.sources.all()).map((s) => s.account);
      emitAuditMetrics(metrics, auditMetrics(report, kinds, accounts));
    }
    if (report.unreachable.length > 0) {
      // The function's error alarm fires: a source it cannot see is not a source known to be backed up.
      throw new Error(`audit could not list ${report.unreachable.length} scope(s): ${report.unreachable.join('; ')}`);
    }
    return summary;
  };
}

let wired: ReturnType<typeof createAuditHandler> | undefined;

export const handler = (): Promise<AuditSummary> => {
  wired ??= (() => {
    const settings = auditSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-audit'));
    const context = { region: settings.backupRegion };
    const sources = auditSources(settings, context, process.env[ENROLLED_SOURCES_ENV] === 'true');
    return createAuditHandler(auditDeps(settings, context, log, undefined, sources), newMetrics('bunker-audit'));
  })();
  return wired();
};
