/**
 * The drill function's payload contract (plan, advance, check) with
 * in-memory ports: what the vault stack's state machine sends and gets.
 */
import { describe, expect, it } from 'vitest';
import {
  type DrillActionDeps,
  DrillRequestError,
  parseDrillRequest,
  runDrillAction,
} from '../../lambdas/core/drill/actions';
import type { DrillSettings } from '../../lambdas/core/drill/settings';
import type { DrillState } from '../../lambdas/core/drill/types';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryDrillLog } from '../../sim/memory-drill-log';

const A = '222222222222';
const REGION = 'eu-west-1';
const NOW = '2026-06-01T00:00:00.000Z';

const SETTINGS: DrillSettings = {
  prefix: 'bunker',
  partition: 'aws',
  backupAccount: '111111111111',
  backupRegion: REGION,
  inventoryTable: 'bunker-inventory',
  backupKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/backup',
  vaultBucket: 'bunker-vault',
  place: { vpcId: 'vpc-1', subnetIds: ['subnet-1'], securityGroupId: 'sg-1', dbSubnetGroup: 'bunker-drill' },
  targetSeconds: { rds: 3600, aurora: 5400, ebs: 1800, ami: 1800, ssm: 600, secrets: 600, dynamodb: 3600 },
  olderCopies: true,
  maxAgeDays: 30,
  kinds: ['rds', 'ebs'],
  alertsTopicArn: 'arn:aws:sns:eu-west-1:111111111111:bunker-alerts',
};

const copy = (id: string, resource: string, kind: InventoryRecord['kind'], completedAt: string): InventoryRecord => ({
  artifactId: `${kind}:${A}:${REGION}:${id}`,
  kind,
  status: 'available',
  sourceAccount: A,
  sourceRegion: REGION,
  sourceId: id,
  sourceResourceId: resource,
  sourceCreatedAt: completedAt,
  targetId: `copy-${id}`,
  targetRegion: REGION,
  createdAt: completedAt,
  updatedAt: completedAt,
  completedAt,
  copyAttempts: 1,
  failures: 0,
  version: 3,
  history: [],
});

function deps() {
  const metrics: string[] = [];
  const alerts: string[] = [];
  const olderAsked: boolean[] = [];
  const d: DrillActionDeps = {
    settings: SETTINGS,
    clock: new ManualClock(NOW),
    log: new MemoryDrillLog(),
    planInput: async (older) => {
      olderAsked.push(older);
      return {
        copies: [
          copy('s1', 'payments-db', 'rds-snapshot', '2026-05-30T00:00:00.000Z'),
          copy('s0', 'payments-db', 'rds-snapshot', '2026-04-01T00:00:00.000Z'),
          copy('v1', 'vol-1', 'ebs-snapshot', '2026-05-31T00:00:00.000Z'),
          copy('c1', 'orders', 'aurora-cluster-snapshot', '2026-05-31T00:00:00.000Z'),
        ],
        pulled: [],
      };
    },
    random: () => 0,
    engine: {
      modules: {},
      alert: async (text) => {
        alerts.push(text);
      },
    },
    metric: (name, value, dimensions) => metrics.push(`${name}${JSON.stringify(dimensions ?? {})}=${value}`),
  };
  return { d, metrics, alerts, olderAsked };
}

describe('the drill function', () => {
  it('plan: the newest copy of each resource of an enabled kind; scheduled runs add older copies', async () => {
    const { d, olderAsked } = deps();

    const manual = (await runDrillAction(parseDrillRequest({ action: 'plan' }), d)) as { drills: DrillState[] };
    const scheduled = (await runDrillAction(parseDrillRequest({ action: 'plan', scheduled: true }), d)) as {
      drills: DrillState[];
    };
    const filtered = (await runDrillAction(parseDrillRequest({ action: 'plan', kind: 'ebs-snapshot' }), d)) as {
      drills: DrillState[];
    };

    expect(manual.drills.map((s) => s.drillId)).toEqual([
      `ebs:${A}:${REGION}:vol-1:${NOW}`,
      `rds:${A}:${REGION}:payments-db:${NOW}`,
    ]);
    expect(scheduled.drills.map((s) => `${s.subject.resource} ${s.subject.pick} ${s.subject.copyId}`)).toEqual([
      'vol-1 newest copy-v1',
      'payments-db newest copy-s1',
      'payments-db older copy-s0',
    ]);
    expect(olderAsked).toEqual([false, true, false]);
    expect(filtered.drills.map((s) => s.subject.kind)).toEqual(['ebs']);
  });

  it('check: days since a proven restore per kind, stale source accounts, and one alert naming them', async () => {
    const { d, metrics, alerts } = deps();

    const answer = await runDrillAction(parseDrillRequest({ action: 'check' }), d);

    // Never drilled: payments-db counts from its oldest copy (61 days), vol-1 from 1 day; aurora is not enabled.
    expect(metrics).toEqual([
      'DaysSinceProvenRestore{"Kind":"ebs"}=1',
      'DaysSinceProvenRestore{"Kind":"rds"}=61',
      'StaleDrillSources{}=1',
    ]);
    expect(answer).toEqual({
      stale: [
        { by: 'kind', key: 'rds', days: 61, resource: `rds:${A}:${REGION}:payments-db`, stale: true },
        { by: 'account', key: A, days: 61, resource: `rds:${A}:${REGION}:payments-db`, stale: true },
      ],
    });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain('- kind rds: 61 days (longest: rds:222222222222:eu-west-1:payments-db)');
    expect(alerts[0]).toContain(`- source account ${A}: 61 days`);
  });

  it('advance: one step of a drill; a kind without a module fails it, recorded', async () => {
    const { d, alerts } = deps();
    const [state] = ((await runDrillAction({ action: 'plan', kind: 'ebs' }, d)) as { drills: DrillState[] }).drills;

    const next = (await runDrillAction(parseDrillRequest({ action: 'advance', state }), d)) as DrillState;

    expect(next).toMatchObject({ done: true, failure: 'no drill module for kind ebs in this function' });
    expect((await d.log.latest()).map((s) => s.last.outcome)).toEqual(['failed']);
    expect(alerts).toHaveLength(1);
  });

  it('refuses requests that are not the contract', () => {
    expect(() => parseDrillRequest({ action: 'restore' })).toThrow(DrillRequestError);
    expect(() => parseDrillRequest({ action: 'plan', kind: 'mainframe' })).toThrow('kind: unknown kind mainframe');
    expect(() => parseDrillRequest({ action: 'plan', scheduled: 'yes' })).toThrow('scheduled: expected true or false');
    expect(() => parseDrillRequest({ action: 'advance', state: { drillId: 'x' } })).toThrow(
      'state: expected a drill state as plan or advance answered it',
    );
  });
});
