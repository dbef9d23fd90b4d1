/**
 * Lambda: the scheduled sweep of the backup account. Takes in what sources
 * shared but never announced, settles copies whose events were lost and
 * starts copies that waited for capacity.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { sourceRegistry } from '../adapters/enrolment/wiring';
import { ENROLLED_SOURCES_ENV } from '../core/enrolment/names';
import { vaultDeps } from '../adapters/wiring';
import {
  FULL_SWEEP,
  scheduledSweep,
  type SweepPlan,
  type SweepSummary,
  sweepCopies,
} from '../core/pipeline/completion';
import type { SweepDeps } from '../core/pipeline/adopt';
import { vaultSettingsFromEnv } from '../core/settings';

/**
 * `plan`: what each invocation reads, given the time it runs; every pass
 * over every record unless told (the deployed schedule's sweep is
 * {@link scheduledSweep}).
 */
export function createSweepHandler(
  deps: SweepDeps,
  metrics?: Metrics,
  plan: (now: Date) => SweepPlan = () => FULL_SWEEP,
) {
  return async (): Promise<SweepSummary> => {
    const summary = await sweepCopies(deps, plan(deps.clock.now()));
    deps.log.info('sweep finished', { ...summary });
    if (metrics) {
      metrics.addMetric('CopiesInProgress', MetricUnit.Count, summary.stillCopying + summary.started);
      // What this sweep tried and left waiting: the scheduled sweep no longer lists every waiting record.
      metrics.addMetric('CopiesWaiting', MetricUnit.Count, summary.waiting);
      metrics.addMetric('CopiesCompleted', MetricUnit.Count, summary.available);
      metrics.addMetric('CopiesFailed', MetricUnit.Count, summary.failed);
      // Each one is a notification that was lost: a steady count points at the agent or the intake topic.
      metrics.addMetric('SharedTakenIn', MetricUnit.Count, summary.takenIn);
      metrics.publishStoredMetrics();
    }
    return summary;
  };
}

let wired: ReturnType<typeof createSweepHandler> | undefined;

export const handler = (): Promise<SweepSummary> => {
  wired ??= (() => {
    const settings = vaultSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-sweep'));
    const metrics = newMetrics('bunker-sweep');
    const aws = { region: settings.backupRegion };
    // With organizational units, what was shared but never announced is looked for in enrolled accounts too; without,
    // the listed sources alone, and no read of enrolment records that cannot exist.
    const enrolled = process.env[ENROLLED_SOURCES_ENV] === 'true';
    const deps = vaultDeps(settings, aws, log);
    // Every 15 minutes: the backstop of the event paths, and the take-in spread over its maintenance period.
    return createSweepHandler(
      enrolled ? { ...deps, registry: sourceRegistry(settings, aws) } : deps,
      metrics,
      scheduledSweep,
    );
  })();
  return wired();
};
