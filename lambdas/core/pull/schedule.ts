/**
 * When a pull is due. In AWS an EventBridge rule per source, Region and
 * pulled kind starts each pull at its rate; the local mode has no clock of
 * its own, so `bunker local run` asks this function which pulls the rules
 * would have started by now, from the run records the pulls leave behind.
 */
import type { PulledConfigKey, PullJob, PullRunRecord } from './types';

/** One schedule: the rule `rate(everyMinutes minutes)` that queues this job. */
export interface PullSchedule {
  readonly kind: PulledConfigKey;
  readonly account: string;
  readonly region: string;
  readonly everyMinutes: number;
}

/**
 * The jobs due at `now`: those never run, and those whose last run started
 * at least `everyMinutes` ago. `all` (`--pull-now`) takes every schedule.
 */
export function pullsDue(
  schedules: readonly PullSchedule[],
  lastRun: (schedule: PullSchedule) => PullRunRecord | undefined,
  now: Date,
  options: { all?: boolean } = {},
): PullJob[] {
  return schedules
    .filter((schedule) => {
      if (options.all) return true;
      const run = lastRun(schedule);
      if (!run) return true;
      const last = Date.parse(run.summary.startedAt);
      return Number.isNaN(last) || now.getTime() - last >= schedule.everyMinutes * 60_000;
    })
    .map(({ kind, account, region }) => ({ kind, account, region }));
}
