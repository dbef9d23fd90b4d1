/**
 * The drill engine with a scripted module: every path ends torn down and
 * recorded, a slow restore fails its target, and replayed steps make
 * nothing twice.
 */
import { describe, expect, it } from 'vitest';
import { advanceDrill, type DrillDeps, MAX_TEARDOWN_TRIES } from '../../lambdas/core/drill/engine';
import type {
  DrillCheck,
  DrillModule,
  DrillState,
  DrillSubject,
  RestoreProgress,
} from '../../lambdas/core/drill/types';
import { ManualClock } from '../../sim/memory-aws';
import { MemoryDrillLog } from '../../sim/memory-drill-log';

const START = '2026-06-01T00:00:00.000Z';

const SUBJECT: DrillSubject = {
  kind: 'rds',
  account: '222222222222',
  region: 'eu-west-1',
  resource: 'payments-db',
  artifactId: 'rds-snapshot:222222222222:eu-west-1:bunker-share-payments-db-1',
  copyId: 'bunker-222222222222-payments-db-1-abc',
  copyRegion: 'eu-west-1',
  pick: 'newest',
};

const initial = (): DrillState => ({
  drillId: `rds:222222222222:eu-west-1:payments-db:${START}`,
  subject: SUBJECT,
  phase: 'restoring',
  startedAt: START,
  done: false,
});

type Step = 'start' | 'progress' | 'validate' | 'tearDown';

/**
 * A restore that becomes usable after `usableAfterSeconds` and whose
 * resource exists from `start` until `tearDown`; `throwAt` makes one step
 * throw. Idempotent by drill id, as a real module must be.
 */
class ScriptedModule implements DrillModule {
  readonly kind = 'rds' as const;
  readonly calls: Step[] = [];
  /** Restored resources that exist now, by drill id. */
  readonly existing = new Set<string>();
  made = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly options: {
      usableAfterSeconds?: number;
      throwAt?: Step;
      checks?: DrillCheck[];
      progress?: RestoreProgress;
      tearDownNever?: boolean;
    } = {},
  ) {}

  private startedAt = 0;

  async start(drillId: string): Promise<Record<string, string>> {
    this.calls.push('start');
    if (this.options.throwAt === 'start') throw new Error('DBSnapshotNotFound: copy gone');
    if (!this.existing.has(drillId)) {
      this.existing.add(drillId);
      this.made += 1;
      this.startedAt = this.clock.epochMs;
    }
    return { instance: 'bunker-drill-0a1b2c', drillId };
  }

  async progress(): Promise<RestoreProgress> {
    this.calls.push('progress');
    if (this.options.throwAt === 'progress') throw new Error('Throttling: slow down');
    if (this.options.progress) return this.options.progress;
    const ready = this.clock.epochMs - this.startedAt >= (this.options.usableAfterSeconds ?? 0) * 1000;
    return ready ? { state: 'usable', detail: 'available' } : { state: 'pending', detail: 'creating' };
  }

  async validate(): Promise<DrillCheck[]> {
    this.calls.push('validate');
    if (this.options.throwAt === 'validate') throw new Error('AccessDenied: kms:DescribeKey');
    return this.options.checks ?? [{ name: 'size', ok: true, detail: '20 GiB as recorded' }];
  }

  async tearDown(handle: Readonly<Record<string, string>>): Promise<boolean> {
    this.calls.push('tearDown');
    if (this.options.throwAt === 'tearDown') throw new Error('InvalidDBInstanceState: deleting');
    if (this.options.tearDownNever) return false;
    this.existing.delete(handle.drillId);
    return true;
  }
}

function harness(options: ConstructorParameters<typeof ScriptedModule>[1] = {}, targetSeconds = 1800) {
  const clock = new ManualClock(START);
  const module = new ScriptedModule(clock, options);
  const log = new MemoryDrillLog();
  const alerts: string[] = [];
  const metrics: string[] = [];
  const deps: DrillDeps = {
    modules: { rds: module },
    log,
    clock,
    targetSeconds: { rds: targetSeconds },
    alert: async (text) => {
      alerts.push(text);
    },
    metrics: (name, kind, value) => metrics.push(`${name}:${kind}:${value}`),
  };
  /** Steps until done, advancing the clock by each wait; the states seen. */
  const run = async (state = initial()) => {
    const seen: DrillState[] = [];
    let current = state;
    for (let i = 0; i < 500 && !current.done; i++) {
      current = await advanceDrill(current, deps);
      seen.push(current);
      clock.advance((current.waitSeconds ?? 0) * 1000);
    }
    return { final: current, seen };
  };
  return { clock, module, log, alerts, metrics, deps, run };
}

describe('advanceDrill', () => {
  it('restores, waits 15 s growing to 60 s, validates, tears down and records a passed drill with its time', async () => {
    const h = harness({ usableAfterSeconds: 200 });

    const { final, seen } = await h.run();

    expect(seen.map((s) => `${s.phase}:${s.waitSeconds}`)).toEqual([
      'restoring:15',
      'restoring:30',
      'restoring:60',
      'restoring:60',
      'restoring:60',
      'validating:0',
      'tearing-down:0',
      'done:0',
    ]);
    expect(final).toMatchObject({ done: true, phase: 'done', usableAt: '2026-06-01T00:03:45.000Z' });
    expect(h.module.existing.size).toBe(0);
    const [summary] = await h.log.latest();
    expect(summary.last).toEqual({
      drillId: `rds:222222222222:eu-west-1:payments-db:${START}`,
      subject: SUBJECT,
      outcome: 'passed',
      startedAt: START,
      finishedAt: '2026-06-01T00:03:45.000Z',
      restoreSeconds: 225,
      targetSeconds: 1800,
      checks: [
        { name: 'size', ok: true, detail: '20 GiB as recorded' },
        { name: 'restore time', ok: true, detail: 'usable after 3.8 min, target 30 min' },
      ],
      tornDown: true,
    });
    expect(summary.lastPassed).toEqual(summary.last);
    expect(h.alerts).toEqual([]);
    expect(h.metrics).toEqual(['DrillsPassed:rds:1']);
  });

  it('fails a restore slower than the kind target, with its time, and still tears down', async () => {
    const h = harness({ usableAfterSeconds: 130 }, 120);

    const { final } = await h.run();

    expect(final.failure).toBe('failed checks: restore time (usable after 2.8 min, target 2 min)');
    const [summary] = await h.log.latest();
    expect(summary.last).toMatchObject({ outcome: 'failed', restoreSeconds: 165, targetSeconds: 120, tornDown: true });
    expect(summary.lastPassed).toBeUndefined();
    expect(h.module.existing.size).toBe(0);
    expect(h.metrics).toEqual(['DrillsFailed:rds:1']);
    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toContain('Restore drill failed: rds payments-db of account 222222222222 (eu-west-1).');
    expect(h.alerts[0]).toContain('Why: failed checks: restore time (usable after 2.8 min, target 2 min).');
  });

  it('gives up on a restore still pending at twice its target, tears down and records no restore time', async () => {
    const h = harness({ usableAfterSeconds: 10_000 }, 120);

    const { final } = await h.run();

    expect(final.failure).toBe('not usable after 4.8 min (target 2 min): creating');
    const [summary] = await h.log.latest();
    expect(summary.last.restoreSeconds).toBeUndefined();
    expect(summary.last.outcome).toBe('failed');
    expect(h.module.existing.size).toBe(0);
  });

  it.each([
    ['start', 'the restore could not start: DBSnapshotNotFound: copy gone'],
    ['progress', 'reading the restore failed: Throttling: slow down'],
    ['validate', 'validation could not finish: AccessDenied: kms:DescribeKey'],
  ] as const)('a module that throws at %s fails the drill with its message and still tears down', async (step, why) => {
    const h = harness({ throwAt: step });

    const { final } = await h.run();

    expect(final).toMatchObject({ done: true, failure: why });
    expect(h.module.calls.at(-1)).toBe('tearDown');
    expect(h.module.existing.size).toBe(0);
    const [summary] = await h.log.latest();
    expect(summary.last).toMatchObject({ outcome: 'failed', failure: why, tornDown: true });
    expect(h.alerts).toHaveLength(1);
    expect(h.metrics).toEqual(['DrillsFailed:rds:1']);
  });

  it('fails the drill when the restore itself fails, and tears down', async () => {
    const h = harness({ progress: { state: 'failed', detail: 'incompatible-restore' } });

    const { final } = await h.run();

    expect(final.failure).toBe('the restore failed: incompatible-restore');
    expect(h.module.calls).toEqual(['start', 'progress', 'tearDown']);
  });

  it('fails a drill whose check fails, naming the check', async () => {
    const h = harness({ checks: [{ name: 'key', ok: false, detail: 'expected the backup-data key, found another' }] });

    const { final } = await h.run();

    expect(final.failure).toBe('failed checks: key (expected the backup-data key, found another)');
    expect((await h.log.latest())[0].last.checks.map((c) => `${c.name}:${c.ok}`)).toEqual([
      'key:false',
      'restore time:true',
    ]);
  });

  it('says what it left behind when teardown keeps failing, after bounded tries', async () => {
    const h = harness({ throwAt: 'tearDown' });

    const { final } = await h.run();

    expect(h.module.calls.filter((c) => c === 'tearDown')).toHaveLength(MAX_TEARDOWN_TRIES);
    expect(final.failure).toBe(
      'left behind: instance bunker-drill-0a1b2c, drillId rds:222222222222:eu-west-1:payments-db:2026-06-01T00:00:00.000Z (InvalidDBInstanceState: deleting)',
    );
    const [summary] = await h.log.latest();
    expect(summary.last).toMatchObject({ outcome: 'failed', tornDown: false });
    expect(h.alerts[0]).toContain('The drill could not delete everything it made.');
  });

  it('replayed steps make nothing twice: a replayed start finds its restore, a handle never starts again', async () => {
    const h = harness({ usableAfterSeconds: 0 });
    const first = await advanceDrill(initial(), h.deps);
    // The state machine retried the start step (same input): the module finds what the first made.
    const replayed = await advanceDrill(initial(), h.deps);
    expect(replayed.handle).toEqual(first.handle);
    expect(h.module.made).toBe(1);

    const validating = await advanceDrill(first, h.deps);
    const validatingAgain = await advanceDrill(first, h.deps);
    expect(validatingAgain.phase).toBe('validating');
    expect(h.module.calls.filter((c) => c === 'start')).toHaveLength(2);

    const { final } = await h.run(validating);
    expect(await advanceDrill(final, h.deps)).toBe(final);
    expect(h.module.made).toBe(1);
    expect((await h.log.latest())[0].last.outcome).toBe('passed');
  });

  it('waits on throttling instead of failing, and gives up only at twice the target', async () => {
    const h = harness({ throwAt: 'progress' }, 120);
    const deps = { ...h.deps, backPressure: (error: unknown) => (error as Error).message.startsWith('Throttling') };

    let state = await advanceDrill(initial(), deps);
    const waits: number[] = [];
    while (!state.done) {
      state = await advanceDrill(state, deps);
      waits.push(state.waitSeconds ?? 0);
      h.clock.advance((state.waitSeconds ?? 0) * 1000);
    }

    // Throttled at 0, 30, 90, 150 and 210 s; at 270 s, past 240 s, the drill fails with the throttling as its reason.
    expect(waits).toEqual([30, 60, 60, 60, 60, 0, 0]);
    expect(state.failure).toBe('reading the restore failed: Throttling: slow down');
    expect(h.module.existing.size).toBe(0);
  });

  it('fails at once, recorded and alerted, a kind with no module in this function', async () => {
    const h = harness();
    const state = { ...initial(), subject: { ...SUBJECT, kind: 'ami' as const } };

    const final = await advanceDrill(state, h.deps);

    expect(final).toMatchObject({ done: true, failure: 'no drill module for kind ami in this function' });
    expect(h.alerts).toHaveLength(1);
  });
});
