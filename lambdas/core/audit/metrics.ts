/**
 * The numbers the alarms watch, computed from an audit report so they are
 * tested without CloudWatch: the audit handler emits each as an
 * embedded-metric-format line (Powertools Metrics, namespace `Bunker`).
 */
import type { AuditKind, AuditReport } from './types';

export interface AuditMetric {
  readonly name:
    | 'BreachingResources'
    | 'AtRiskResources'
    | 'OldestNewestCopyAgeHours'
    | 'FailedCopies'
    | 'CopiesWaitingOnQuota'
    | 'RejectedNotifications';
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
  readonly unit: 'Count' | 'None';
}

/**
 * `BreachingResources` and `AtRiskResources` per kind (zero included, so an
 * alarm sees the breach end): the figures the alarms watch. Per source
 * account and kind only while not zero: each account and kind a metric
 * would be two custom metrics a month for every account (at 50 accounts
 * and 4 kinds, 400 of the vault's 415), to say zero nearly always. A custom
 * metric is billed only for the hours it receives data, so an account's
 * figures cost while it has something breaching or at risk; which account
 * it is, the alert and the audit's log line say. `OldestNewestCopyAgeHours`
 * per kind (the resources with no copy at all are breaches, not ages); the
 * rest per vault.
 */
export function auditMetrics(
  report: AuditReport,
  kinds: readonly AuditKind[],
  accounts: readonly string[],
): AuditMetric[] {
  const metrics: AuditMetric[] = [];
  const count = (kind: AuditKind, state: string, account?: string) =>
    report.resources.filter(
      (r) => r.kind === kind && r.state === state && (account === undefined || r.account === account),
    ).length;
  for (const kind of kinds) {
    for (const account of accounts) {
      for (const [name, state] of [
        ['BreachingResources', 'breach'],
        ['AtRiskResources', 'at-risk'],
      ] as const) {
        const value = count(kind, state, account);
        if (value > 0) metrics.push({ name, dimensions: { Kind: kind, SourceAccount: account }, value, unit: 'Count' });
      }
    }
    metrics.push({
      name: 'BreachingResources',
      dimensions: { Kind: kind },
      value: count(kind, 'breach'),
      unit: 'Count',
    });
    metrics.push({ name: 'AtRiskResources', dimensions: { Kind: kind }, value: count(kind, 'at-risk'), unit: 'Count' });
    const ages = report.resources
      .filter((r) => r.kind === kind && r.ageHours !== undefined)
      .map((r) => r.ageHours as number);
    if (ages.length > 0) {
      metrics.push({
        name: 'OldestNewestCopyAgeHours',
        dimensions: { Kind: kind },
        value: Math.max(...ages),
        unit: 'None',
      });
    }
  }
  metrics.push({ name: 'FailedCopies', dimensions: {}, value: report.failedCopies, unit: 'Count' });
  metrics.push({ name: 'CopiesWaitingOnQuota', dimensions: {}, value: report.copiesWaitingOnQuota, unit: 'Count' });
  metrics.push({ name: 'RejectedNotifications', dimensions: {}, value: report.rejectedNotifications, unit: 'Count' });
  return metrics;
}
