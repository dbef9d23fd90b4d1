/**
 * The operator's CloudWatch dashboard in the vault stack: per kind and
 * source account, what breaches or is at risk, the age of the oldest
 * newest copy against the kind's RPO, copies that failed or wait on a quota,
 * rejected notifications, and the queues' dead letters and the Lambdas'
 * errors. With organizational units, one search graph covers the enrolled
 * accounts, which a per-account widget made at synthesis cannot name. Every number is a metric the auditor (namespace `Bunker`) or AWS
 * publishes; the dashboard computes nothing of its own.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { enabledKindRpos } from '../config/runtime';
import type { BunkerConfig } from '../config/schema';

/** The auditor's metric namespace. */
export const METRICS_NAMESPACE = 'Bunker';

export interface DashboardProps {
  readonly config: BunkerConfig;
  readonly functions: readonly lambda.IFunction[];
  readonly deadLetterQueues: readonly sqs.IQueue[];
}

export class BunkerDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    const { config } = props;
    const metric = (metricName: string, dimensionsMap: Record<string, string> = {}, statistic = 'Maximum') =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap,
        statistic,
        period: Duration.minutes(15),
      });
    const kinds = enabledKindRpos(config);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${config.name}-backups`,
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          `# Bunker ${config.name}: is everything backed up?\n` +
          'Breaching: the newest copy is older than its RPO, failed, stuck, or never made. ' +
          'At risk: the next copy cannot finish within the RPO at the measured copy durations. ' +
          '`bunker status` lists the resources behind each number.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Breaching resources, per kind',
        left: kinds.map((k) => metric('BreachingResources', { Kind: k.kind }).with({ label: k.label })),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'At-risk resources, per kind',
        left: kinds.map((k) => metric('AtRiskResources', { Kind: k.kind }).with({ label: k.label })),
        width: 12,
      }),
    );
    // One age graph per kind, with its RPO drawn: the line must stay under it.
    this.dashboard.addWidgets(
      ...kinds.map(
        (k) =>
          new cloudwatch.GraphWidget({
            title: `${k.label}: age of the oldest newest copy (hours)`,
            left: [metric('OldestNewestCopyAgeHours', { Kind: k.kind }).with({ label: 'age' })],
            leftAnnotations: [{ value: k.rpoHours, label: `RPO ${k.rpoHours} h`, color: '#d62728' }],
            width: 6,
          }),
      ),
    );
    this.dashboard.addWidgets(
      ...config.sources.map(
        (source) =>
          new cloudwatch.GraphWidget({
            title: `Breaching resources of ${source.name ?? source.account} (${source.account})`,
            left: kinds.map((k) =>
              metric('BreachingResources', { Kind: k.kind, SourceAccount: source.account }).with({ label: k.label }),
            ),
            width: 8,
          }),
      ),
    );
    if (config.organization) {
      // Enrolled accounts are not known at synthesis, so one search graph
      // finds every account the auditor publishes for, listed or enrolled,
      // including accounts enrolled after this deployment. No searchAccount:
      // the auditor publishes every account's metric in the backup account.
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Breaching resources of every account, enrolled ones included (per account and kind)',
          left: [
            new cloudwatch.MathExpression({
              expression: `SEARCH('{${METRICS_NAMESPACE},Kind,SourceAccount} MetricName="BreachingResources"', 'Maximum', 900)`,
              usingMetrics: {},
              // A dynamic label names each series by its account and kind.
              label: "${PROP('Dim.SourceAccount')} ${PROP('Dim.Kind')}",
              period: Duration.minutes(15),
            }),
          ],
          width: 24,
        }),
      );
    }
    if (config.drills.enabled) {
      // What the drills prove: by kind (config keys, the drill metrics' Kind), the days since a passed drill
      // against drills.maxAgeDays, and the drills that passed and failed.
      const drillKinds = kinds.map((k) => k.label);
      const daily = (metricName: string, kind: string, statistic: string) =>
        metric(metricName, { Kind: kind }, statistic).with({ label: kind, period: Duration.days(1) });
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Days since a proven restore, per kind',
          left: drillKinds.map((kind) => daily('DaysSinceProvenRestore', kind, 'Maximum')),
          leftAnnotations: [
            { value: config.drills.maxAgeDays, label: `${config.drills.maxAgeDays} days`, color: '#d62728' },
          ],
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Drills passed and failed, per kind (per day)',
          left: drillKinds.map((kind) => daily('DrillsPassed', kind, 'Sum')),
          right: drillKinds.map((kind) => daily('DrillsFailed', kind, 'Sum')),
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Source accounts with no recent passed drill',
          left: [metric('StaleDrillSources').with({ label: 'stale sources', period: Duration.days(1) })],
          width: 8,
        }),
      );
    }
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Copies failed and waiting on a quota',
        left: [
          metric('FailedCopies').with({ label: 'failed' }),
          metric('CopiesWaitingOnQuota').with({ label: 'waiting on a quota' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Rejected notifications',
        left: [metric('RejectedNotifications', {}, 'Sum').with({ label: 'rejected' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead letters and Lambda errors',
        left: props.deadLetterQueues.map((queue) => queue.metricApproximateNumberOfMessagesVisible()),
        right: props.functions.map((fn) => fn.metricErrors({ period: Duration.minutes(15) })),
        width: 8,
      }),
    );
  }
}
