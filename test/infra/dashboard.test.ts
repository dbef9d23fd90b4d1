/**
 * The operator's dashboard in the vault stack: a graph per kind of what
 * breaches and is at risk, each kind's age drawn against its own RPO, and a
 * graph per source account, from the auditor's metrics.
 */
import { beforeAll, describe, expect, it } from 'vitest';
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
  });
  const [dashboard] = Object.values(vault.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
  const props = dashboard.Properties as { DashboardName: unknown; DashboardBody: unknown };
  dashboardName = props.DashboardName;
  // The body is a Fn::Join of literal text and references (queue names, function names): keep the text.
  const join = props.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = join['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'REF')).join('');
  widgets = (JSON.parse(text) as { widgets: Widget[] }).widgets;
});

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
});
