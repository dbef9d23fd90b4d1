/**
 * Drills of the second Region's copies (`backup.secondRegion`): the plan
 * picks the second-hop copies as it picks the first's, the subject carries
 * the copy's Region, one engine drills both through modules routed by that
 * Region, and the log, the staleness check and `bunker status` keep each
 * resource's Regions apart, so a first-hop proof never hides a second-Region
 * failure.
 */
import { describe, expect, it } from 'vitest';
import { provenRestores, provenTable } from '../../cli/status';
import { checkStaleness, type DrillActionDeps, runDrillAction } from '../../lambdas/core/drill/actions';
import { advanceDrill } from '../../lambdas/core/drill/engine';
import type { DrillItem } from '../../lambdas/core/drill/log';
import { summaryOf } from '../../lambdas/core/drill/log';
import { copiedResources, planDrills, type PlanOptions, staleness } from '../../lambdas/core/drill/plan';
import { modulesByCopyRegion, oncePerRegion } from '../../lambdas/core/drill/regions';
import type { DrillSettings } from '../../lambdas/core/drill/settings';
import type { DrillModule, DrillResult, DrillState, DrillSubject } from '../../lambdas/core/drill/types';
import type { InventoryRecord } from '../../lambdas/core/inventory';
import { MemoryDrillLog } from '../../sim/memory-drill-log';

const A = '222222222222';
const REGION = 'eu-west-1';
const SECOND = 'eu-central-1';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

/** An `available` RDS copy: the first hop in the vault Region, or with `hop` its second hop in `SECOND`. */
function copy(id: string, takenDaysAgo: number, hop?: 2): InventoryRecord {
  const first = `rds-snapshot:${A}:${REGION}:${id}`;
  return {
    artifactId: hop ? `${first}@${SECOND}` : first,
    kind: 'rds-snapshot',
    status: 'available',
    sourceAccount: A,
    sourceRegion: REGION,
    sourceId: id,
    sourceResourceId: 'payments-db',
    sourceCreatedAt: daysAgo(takenDaysAgo),
    targetName: hop ? `second-${id}` : `copy-${id}`,
    targetId: hop ? `second-${id}` : `copy-${id}`,
    targetRegion: hop ? SECOND : REGION,
    ...(hop ? { hop, hopSourceId: `copy-${id}`, hopSourceRegion: REGION } : {}),
    createdAt: daysAgo(takenDaysAgo),
    updatedAt: daysAgo(takenDaysAgo),
    completedAt: daysAgo(takenDaysAgo),
    copyAttempts: 1,
    failures: 0,
    version: 3,
    history: [],
  };
}

const COPIES = [copy('s1', 3), copy('s2', 2), copy('s3', 1), copy('s1', 3, 2), copy('s2', 2, 2), copy('s3', 1, 2)];

const options = (extra: Partial<PlanOptions> = {}): PlanOptions => ({
  now: NOW,
  backupRegion: REGION,
  secondRegion: SECOND,
  kinds: ['rds'],
  older: false,
  random: () => 0,
  ...extra,
});

const subject = (hop?: 2): DrillSubject => ({
  kind: 'rds',
  account: A,
  region: REGION,
  resource: 'payments-db',
  artifactId: hop ? `rds-snapshot:${A}:${REGION}:s3@${SECOND}` : `rds-snapshot:${A}:${REGION}:s3`,
  copyId: hop ? 'second-s3' : 'copy-s3',
  copyRegion: hop ? SECOND : REGION,
  ...(hop ? { hop } : {}),
  pick: 'newest',
});

const result = (hop: 2 | undefined, outcome: 'passed' | 'failed', finishedAt: string): DrillResult => ({
  drillId: `${hop ? `rds:${A}:${REGION}:payments-db@${SECOND}` : `rds:${A}:${REGION}:payments-db`}:${finishedAt}`,
  subject: subject(hop),
  outcome,
  startedAt: finishedAt,
  finishedAt,
  ...(outcome === 'passed' ? { restoreSeconds: 600 } : { failure: 'the restore could not start: DBSnapshotNotFound' }),
  targetSeconds: 3600,
  checks: [],
  tornDown: true,
});

describe('the plan with a second Region', () => {
  it('drills the newest copy in each Region, the second Region’s named by its Region and hop', () => {
    const drills = planDrills({ copies: COPIES, pulled: [] }, options());
    expect(drills.map((d) => [d.drillId, d.subject.copyId, d.subject.copyRegion, d.subject.hop])).toEqual([
      [`rds:${A}:${REGION}:payments-db:2026-06-01T00:00:00.000Z`, 'copy-s3', REGION, undefined],
      [`rds:${A}:${REGION}:payments-db@${SECOND}:2026-06-01T00:00:00.000Z`, 'second-s3', SECOND, 2],
    ]);
    expect(drills[1].subject.artifactId).toBe(`rds-snapshot:${A}:${REGION}:s3@${SECOND}`);
  });

  it('also picks a random older second-hop copy, as for the first hop', () => {
    const drills = planDrills({ copies: COPIES, pulled: [] }, options({ older: true, random: () => 0.99 }));
    expect(drills.map((d) => [d.subject.copyId, d.subject.pick])).toEqual([
      ['copy-s3', 'newest'],
      ['copy-s1', 'older'],
      ['second-s3', 'newest'],
      ['second-s1', 'older'],
    ]);
  });

  it('drills no second-hop copy without a second Region, nor one outside it', () => {
    expect(
      planDrills({ copies: COPIES, pulled: [] }, options({ secondRegion: undefined })).map((d) => d.subject.copyId),
    ).toEqual(['copy-s3']);
    expect(
      planDrills({ copies: COPIES, pulled: [] }, options({ secondRegion: 'us-east-1' })).map((d) => d.subject.copyId),
    ).toEqual(['copy-s3']);
  });

  it('takes the second Region’s copies first in a capped run when they were drilled longest ago', async () => {
    const log = new MemoryDrillLog();
    await log.record(result(undefined, 'passed', daysAgo(1)));
    await log.record(result(2, 'passed', daysAgo(5)));
    const drills = planDrills({ copies: COPIES, pulled: [], drilled: await log.latest() }, options({ maxPerRun: 1 }));
    expect(drills.map((d) => d.subject.copyId)).toEqual(['second-s3']);
  });
});

describe('the drill log, staleness and status per copy Region', () => {
  it('keeps a failed second-Region drill beside a passed first-hop one', async () => {
    const log = new MemoryDrillLog();
    await log.record(result(undefined, 'passed', '2026-05-31T10:00:00.000Z'));
    await log.record(result(2, 'failed', '2026-05-31T11:00:00.000Z'));
    const summaries = await log.latest();
    expect(summaries.map((s) => [s.resource, s.copyRegion, s.hop, s.last.outcome, s.lastPassed?.finishedAt])).toEqual([
      ['payments-db', REGION, undefined, 'passed', '2026-05-31T10:00:00.000Z'],
      ['payments-db', SECOND, 2, 'failed', undefined],
    ]);
  });

  it('reads a drill item written before second-Region drills as the vault Region’s', () => {
    const old = result(undefined, 'passed', '2026-05-01T10:00:00.000Z');
    const item = {
      artifactId: `drill:rds:${A}:${REGION}:payments-db`,
      drill: 'latest',
      kind: 'rds',
      account: A,
      region: REGION,
      resource: 'payments-db',
      last: old,
      lastPassed: old,
      version: 4,
    } as DrillItem;
    expect(summaryOf(item)).toEqual({
      kind: 'rds',
      account: A,
      region: REGION,
      resource: 'payments-db',
      copyRegion: REGION,
      last: old,
      lastPassed: old,
    });
  });

  it('finds the second Region’s copies stale when only the first hop was proven', async () => {
    const log = new MemoryDrillLog();
    await log.record(result(undefined, 'passed', daysAgo(1)));
    const copies = copiedResources({ copies: COPIES, pulled: [] }, { backupRegion: REGION, secondRegion: SECOND });
    expect(copies.map((c) => [c.copyRegion, c.hop, c.oldestCopyAt])).toEqual([
      [REGION, undefined, daysAgo(3)],
      [SECOND, 2, daysAgo(3)],
    ]);
    const report = staleness(await log.latest(), copies, { maxAgeDays: 2 }, NOW);
    expect(report.stale).toEqual([
      { by: 'kind', key: 'rds', days: 3, resource: `rds:${A}:${REGION}:payments-db@${SECOND}`, stale: true },
      { by: 'account', key: A, days: 3, resource: `rds:${A}:${REGION}:payments-db@${SECOND}`, stale: true },
    ]);
  });

  it('alerts on the unproven second Region in the daily check', async () => {
    const log = new MemoryDrillLog();
    await log.record(result(undefined, 'passed', daysAgo(1)));
    const alerts: string[] = [];
    const metrics: string[] = [];
    const answer = await checkStaleness(actionDeps(log, alerts, metrics));
    expect(answer.stale.map((s) => s.resource)).toEqual([
      `rds:${A}:${REGION}:payments-db@${SECOND}`,
      `rds:${A}:${REGION}:payments-db@${SECOND}`,
    ]);
    expect(metrics).toEqual(['DaysSinceProvenRestore{"Kind":"rds"}=3', 'StaleDrillSources{}=1']);
    expect(alerts).toEqual([
      [
        'No successful restore drill for more than 2 days:',
        `- kind rds: 3 days (longest: rds:${A}:${REGION}:payments-db@${SECOND})`,
        `- source account ${A}: 3 days (longest: rds:${A}:${REGION}:payments-db@${SECOND})`,
        'Run `bunker drill` (with --kind or --account) to prove them restorable, and see `bunker status`.',
      ].join('\n'),
    ]);
  });

  it('shows each Region’s last proven restore in bunker status', async () => {
    const log = new MemoryDrillLog();
    await log.record(result(undefined, 'passed', '2026-05-31T10:00:00.000Z'));
    await log.record(result(2, 'failed', '2026-05-31T11:00:00.000Z'));
    const resources = copiedResources({ copies: COPIES, pulled: [] }, { backupRegion: REGION, secondRegion: SECOND });
    const proven = await provenRestores(log, resources);
    expect(proven.map((p) => [p.copyRegion, p.lastPassed?.finishedAt, p.lastFailed?.finishedAt])).toEqual([
      [REGION, '2026-05-31T10:00:00.000Z', undefined],
      [SECOND, undefined, '2026-05-31T11:00:00.000Z'],
    ]);
    const text = provenTable(proven);
    expect(text).toContain(`its copy in ${SECOND}`);
    expect(text).toContain('2026-05-31 10:00, 10 min');
    expect(text).toContain('2 resource(s) with copies: 1 proven restorable, 1 never drilled.');
  });
});

/** A module that records its calls, as `<region>:<method>`, and restores at once. */
function recorder(region: string, calls: string[]): DrillModule {
  return {
    kind: 'rds',
    start: async (drillId) => {
      calls.push(`${region}:start`);
      return { dbInstance: `restored-in-${region}`, drillId };
    },
    progress: async () => {
      calls.push(`${region}:progress`);
      return { state: 'usable', detail: 'available' };
    },
    validate: async () => {
      calls.push(`${region}:validate`);
      return [{ name: 'key', ok: true, detail: `the backup-data key of ${region}` }];
    },
    tearDown: async () => {
      calls.push(`${region}:tearDown`);
      return true;
    },
  };
}

const clock = { now: () => NOW };

function actionDeps(log: MemoryDrillLog, alerts: string[], metrics: string[] = []): DrillActionDeps {
  const settings = {
    prefix: 'bunker',
    backupRegion: REGION,
    secondRegion: SECOND,
    kinds: ['rds'],
    targetSeconds: { rds: 3600 },
    olderCopies: false,
    maxAgeDays: 2,
  } as unknown as DrillSettings;
  return {
    settings,
    clock,
    log,
    planInput: async () => ({ copies: COPIES, pulled: [] }),
    random: () => 0,
    engine: { modules: {}, alert: async (text) => void alerts.push(text) },
    metric: (name, value, dimensions) => void metrics.push(`${name}${JSON.stringify(dimensions ?? {})}=${value}`),
  };
}

async function drillToEnd(state: DrillState, deps: Parameters<typeof advanceDrill>[1]): Promise<DrillState> {
  let next = state;
  for (let i = 0; i < 10 && !next.done; i++) next = await advanceDrill(next, deps);
  return next;
}

describe('one engine, modules routed by the copy’s Region', () => {
  it('restores each copy with its own Region’s module and records both', async () => {
    const calls: string[] = [];
    const made: string[] = [];
    const modules = modulesByCopyRegion(
      { rds: recorder(REGION, calls) },
      REGION,
      oncePerRegion(async (region) => {
        made.push(region);
        return { rds: recorder(region, calls) };
      }),
    );
    const log = new MemoryDrillLog();
    const alerts: string[] = [];
    const deps = { ...actionDeps(log, alerts), engine: { modules, alert: async (t: string) => void alerts.push(t) } };
    const { drills } = (await runDrillAction({ action: 'plan' }, deps)) as { drills: DrillState[] };
    const engine = { modules, log, clock, targetSeconds: { rds: 3600 }, alert: deps.engine.alert };
    const done = [await drillToEnd(drills[0], engine), await drillToEnd(drills[1], engine)];
    expect(done.map((d) => [d.subject.copyRegion, d.handle?.dbInstance, d.failure])).toEqual([
      [REGION, `restored-in-${REGION}`, undefined],
      [SECOND, `restored-in-${SECOND}`, undefined],
    ]);
    expect(calls).toEqual([
      `${REGION}:start`,
      `${REGION}:progress`,
      `${REGION}:validate`,
      `${REGION}:tearDown`,
      `${SECOND}:start`,
      `${SECOND}:progress`,
      `${SECOND}:validate`,
      `${SECOND}:tearDown`,
    ]);
    // The second Region's modules are made once, on its drill's first step.
    expect(made).toEqual([SECOND]);
    expect((await log.latest()).map((s) => [s.copyRegion, s.last.outcome])).toEqual([
      [REGION, 'passed'],
      [SECOND, 'passed'],
    ]);
    expect(alerts).toEqual([]);
  });

  it('fails and alerts a second-Region drill whose place is missing, tears nothing down, and tries the place again next time', async () => {
    let tries = 0;
    const modules = modulesByCopyRegion(
      { rds: recorder(REGION, []) },
      REGION,
      oncePerRegion(async (region) => {
        tries += 1;
        throw new Error(`no VPC tagged Name=bunker-drill in ${region}`);
      }),
    );
    const log = new MemoryDrillLog();
    const alerts: string[] = [];
    const engine = {
      modules,
      log,
      clock,
      targetSeconds: { rds: 3600 },
      alert: async (t: string) => void alerts.push(t),
    };
    const start: DrillState = {
      drillId: `rds:${A}:${REGION}:payments-db@${SECOND}:x`,
      subject: subject(2),
      phase: 'restoring',
      startedAt: NOW.toISOString(),
      done: false,
    };
    const done = await drillToEnd(start, engine);
    expect(done.failure).toBe(`the restore could not start: no VPC tagged Name=bunker-drill in ${SECOND}`);
    expect(tries).toBe(2);
    const [summary] = await log.latest();
    expect([summary.copyRegion, summary.last.outcome, summary.last.tornDown]).toEqual([SECOND, 'failed', true]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain(`Copy: second-s3 in ${SECOND} (newest copy).`);
  });

  it('refuses a kind the second Region has no module for, naming the Region', async () => {
    const modules = modulesByCopyRegion({ rds: recorder(REGION, []) }, REGION, async () => ({}));
    await expect(modules.rds?.start('d', subject(2))).rejects.toThrow(`no rds drill module in ${SECOND}`);
  });
});
