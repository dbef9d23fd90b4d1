/**
 * The operator's dashboard in the vault stack: a graph per kind of what
 * breaches and is at risk, each kind's age drawn against its own RPO, a
 * graph per listed source account and, with organizational units, one
 * search graph over every account the auditor publishes for, from the
 * auditor's metrics.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { BunkerDashboard } from '../../lib/constructs/dashboard';
import { baseDocument, synthesize } from './support/synth';

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly markdown?: string;
    readonly metrics?: unknown[][];
    readonly annotations?: { horizontal?: { value: number; label: string }[] };
  };
}

let widgets: Widget[];
let dashboardName: unknown;

beforeAll(() => {
  const { vault } = synthesize({
    ...baseDocument,
    sources: [
      { account: '222222222222', name: 'payments', regions: ['eu-west-1'] },
      { account: '333333333333', regions: ['eu-west-1'] },
    ],
    artifacts: {
      rds: { enabled: true, rpoHours: 24 },
      ebs: { enabled: true, rpoHours: 6 },
      ssm: { enabled: true, rpoHours: 2 },
    },
    organization: {
      id: 'o-a1b2c3d4e5',
      managementAccount: '999999999999',
      units: [{ id: 'ou-ab12-prod0001', regions: ['eu-west-1'] }],
    },
  });
  const [dashboard] = Object.values(vault.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
  const props = dashboard.Properties as { DashboardName: unknown; DashboardBody: unknown };
  dashboardName = props.DashboardName;
  widgets = widgetsOf(props.DashboardBody);
});

/** The body is a Fn::Join of literal text and references (queue names, function names): keep the text. */
function widgetsOf(body: unknown): Widget[] {
  const join = body as { 'Fn::Join': [string, unknown[]] };
  const text = join['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'REF')).join('');
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
}

const titled = (title: string) => widgets.find((w) => w.properties.title === title);
const metricNames = (widget: Widget | undefined) =>
  (widget?.properties.metrics ?? []).map((m) => m.filter((part) => typeof part === 'string').join(' '));

describe('the vault dashboard', () => {
  it('is named for the deployment', () => {
    expect(dashboardName).toBe('bunker-backups');
  });

  it('graphs breaching and at-risk resources of every enabled kind, from the auditor', () => {
    expect(metricNames(titled('Breaching resources, per kind'))).toEqual([
      'Bunker BreachingResources Kind rds-snapshot',
      'Bunker BreachingResources Kind ebs-snapshot',
      'Bunker BreachingResources Kind ssm-parameter',
    ]);
    expect(metricNames(titled('At-risk resources, per kind'))).toHaveLength(3);
  });

  it("draws each kind's age against that kind's RPO", () => {
    const ebs = titled('ebs: age of the oldest newest copy (hours)');
    expect(ebs?.properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: 6, label: 'RPO 6 h' })]);
    const ssm = titled('ssm: age of the oldest newest copy (hours)');
    expect(ssm?.properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: 2, label: 'RPO 2 h' })]);
  });

  it('has a graph per source account, named as the configuration names it', () => {
    expect(metricNames(titled('Breaching resources of payments (222222222222)'))).toContain(
      'Bunker BreachingResources Kind rds-snapshot SourceAccount 222222222222',
    );
    expect(titled('Breaching resources of 333333333333 (333333333333)')).toBeDefined();
  });

  it('graphs breaching resources of every account with organizational units, enrolled ones found by a search', () => {
    const enrolled = titled('Breaching resources of every account, enrolled ones included (per account and kind)');
    expect(enrolled?.properties.metrics).toEqual([
      [
        {
          expression: `SEARCH('{Bunker,Kind,SourceAccount} MetricName="BreachingResources"', 'Maximum', 900)`,
          label: "${PROP('Dim.SourceAccount')} ${PROP('Dim.Kind')}",
          period: 900,
        },
      ],
    ]);
  });

  it('has no search graph without organizational units (the listed accounts have their own graphs)', () => {
    // The construct alone: a whole second synthesis would only repeat the vault.
    const stack = new Stack(new App(), 'Dashboard');
    new BunkerDashboard(stack, 'Dashboard', {
      config: parseConfig(baseDocument, 'test config'),
      functions: [],
      deadLetterQueues: [],
    });
    const [dashboard] = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'));
    const titles = widgetsOf((dashboard.Properties as { DashboardBody: unknown }).DashboardBody).map(
      (w) => w.properties.title,
    );
    expect(titles).toContain('Breaching resources of payments (222222222222)');
    expect(titles.filter((title) => title?.startsWith('Breaching resources of every account'))).toEqual([]);
  });
});
