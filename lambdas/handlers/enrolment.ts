/**
 * Lambda: the scheduled enrolment of the configured organizational units'
 * accounts. Each ACTIVE account gets its intake topic and an enrolment
 * record; an account that left is marked departed.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { enrolmentDeps } from '../adapters/enrolment/wiring';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { type EnrolmentDeps, type EnrolmentSummary, enrolOrganization } from '../core/enrolment/enrol';
import { enrolmentSettingsFromEnv } from '../core/enrolment/settings';

export function createEnrolmentHandler(deps: EnrolmentDeps, metrics?: Metrics) {
  return async (): Promise<EnrolmentSummary> => {
    const summary = await enrolOrganization(deps);
    if (metrics) {
      metrics.addMetric('AccountsEnrolled', MetricUnit.Count, summary.enrolled.length);
      metrics.addMetric('AccountsDeparted', MetricUnit.Count, summary.departed.length);
      metrics.publishStoredMetrics();
    }
    return summary;
  };
}

let wired: ReturnType<typeof createEnrolmentHandler> | undefined;

export const handler = (): Promise<EnrolmentSummary> => {
  wired ??= (() => {
    const settings = enrolmentSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-enrolment'));
    return createEnrolmentHandler(
      enrolmentDeps(settings, { region: settings.backupRegion }, log),
      newMetrics('bunker-enrolment'),
    );
  })();
  return wired();
};
