/**
 * Placeholder: the pull pipeline's wiring (the puller role's clients, the
 * vault store and the pulled inventory on AWS) is provided by the
 * integration, which replaces this file. It exists so the pull handler and
 * its stack build on their own.
 */
import type { Log } from '../../core/ports';
import type { PullJob, PullRunSummary } from '../../core/pull/types';
import type { PullHandlerSettings } from '../../core/settings';

export async function runPullJob(
  job: PullJob,
  settings: PullHandlerSettings,
  deps: { log: Log; deadline: number; continueLater(job: PullJob, delaySeconds: number): Promise<void> },
): Promise<PullRunSummary> {
  void job;
  void settings;
  void deps;
  throw new Error('pull wiring is provided by the integration');
}
