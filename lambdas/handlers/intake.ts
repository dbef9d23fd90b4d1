/**
 * Lambda: the intake queue's consumer. Each SQS record is one notification
 * in the SNS envelope of the intake topic it came through; a rejected
 * message is consumed (and recorded), a transient failure is reported as
 * that record's failure so only it is retried.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { sourceRegistry } from '../adapters/enrolment/wiring';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { vaultDeps } from '../adapters/wiring';
import { handleDelivery, type IntakeDeps, type IntakeOutcome } from '../core/pipeline/intake';
import { vaultSettingsFromEnv } from '../core/settings';

export function createIntakeHandler(deps: IntakeDeps, metrics?: Metrics) {
  const processor = new BatchProcessor(EventType.SQS);
  // The body exactly as delivered: never unwrapped, trimmed or re-encoded before it is checked.
  const recordHandler = async (record: SQSRecord): Promise<IntakeOutcome> => {
    const outcome = await handleDelivery(record.body, deps);
    metrics?.addMetric(
      outcome.outcome === 'rejected' ? 'NotificationsRejected' : 'NotificationsAccepted',
      MetricUnit.Count,
      1,
    );
    return outcome;
  };
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    try {
      return await processPartialResponse(event, recordHandler, processor, {
        context,
        throwOnFullBatchFailure: false,
      });
    } finally {
      metrics?.publishStoredMetrics();
    }
  };
}

let wired: ReturnType<typeof createIntakeHandler> | undefined;

export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  // Cold start: settings validated once, clients created once and reused while warm.
  wired ??= (() => {
    const logger = newLogger('bunker-intake');
    const settings = vaultSettingsFromEnv();
    const metrics = newMetrics('bunker-intake');
    const aws = { region: settings.backupRegion };
    // Listed and enrolled accounts alike: the registry reads the enrolment records of the inventory table.
    const registry = sourceRegistry(settings, aws);
    return createIntakeHandler({ ...vaultDeps(settings, aws, powertoolsLog(logger)), registry }, metrics);
  })();
  return wired(event, context);
};
