/**
 * Lambda: the intake queue's consumer. Each SQS record is one notification;
 * a rejected message is consumed (and recorded), a transient failure is
 * reported as that record's failure so only it is retried.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { newLogger, newMetrics, powertoolsLog } from '../adapters/log';
import { vaultDeps } from '../adapters/wiring';
import { handleRdsNotification, type IntakeDeps, type IntakeOutcome } from '../core/rds-intake';
import { vaultSettingsFromEnv } from '../core/settings';

/** SNS → SQS without raw delivery wraps the message in an envelope; accept both. */
export function messageBody(sqsBody: string): string {
  if (!sqsBody.startsWith('{') || !sqsBody.includes('"Type"')) return sqsBody;
  try {
    const envelope = JSON.parse(sqsBody) as { Type?: unknown; Message?: unknown };
    return envelope.Type === 'Notification' && typeof envelope.Message === 'string' ? envelope.Message : sqsBody;
  } catch {
    return sqsBody;
  }
}

export function createRdsIntakeHandler(deps: IntakeDeps, metrics?: Metrics) {
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = async (record: SQSRecord): Promise<IntakeOutcome> => {
    const outcome = await handleRdsNotification(messageBody(record.body), deps);
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

let wired: ReturnType<typeof createRdsIntakeHandler> | undefined;

export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  // Cold start: settings validated once, clients created once and reused while warm.
  wired ??= (() => {
    const logger = newLogger('bunker-rds-intake');
    const settings = vaultSettingsFromEnv();
    const metrics = newMetrics('bunker-rds-intake');
    return createRdsIntakeHandler(
      vaultDeps(settings, { region: settings.backupRegion }, powertoolsLog(logger)),
      metrics,
    );
  })();
  return wired(event, context);
};
