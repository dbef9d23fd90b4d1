/**
 * Lambda: the pull queue's consumer. Each SQS record is one {@link PullJob}
 * (from an EventBridge schedule, or a run's own continuation): pull one
 * kind from one source account and Region into the vault. A job that is not
 * a valid pull job is logged and consumed, never retried; a run that fails
 * is reported as that record's failure, so SQS retries it and, after the
 * queue's receive limit, moves it to the dead-letter queue.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import '../core/zod-messages';
import { clientConfig } from '../adapters/aws-context';
import { newLogger, powertoolsLog } from '../adapters/log';
import { runPullJob } from '../adapters/pull/wiring';
import type { Log } from '../core/ports';
import { PULLED_CONFIG_KEYS, type PullJob, type PullRunSummary } from '../core/pull/types';
import { type PullHandlerSettings, pullSettingsFromEnv } from '../core/settings';

/** SQS delays a message by at most 15 minutes. */
export const MAX_DELAY_SECONDS = 900;
/** Time kept back from the Lambda's timeout so a run can save its checkpoint and queue its continuation. */
export const DEADLINE_MARGIN_MS = 60_000;

export const PullJobSchema = z.strictObject({
  kind: z.enum(PULLED_CONFIG_KEYS),
  account: z.string().check(z.regex(/^\d{12}$/)),
  region: z.string().check(z.regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/)),
  table: z.optional(z.string().check(z.minLength(3), z.maxLength(255))),
});

/** The job in a message body, or the reasons it is not one (never the body itself: it is not trusted). */
export function parsePullJob(body: string): { job: PullJob } | { problems: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { problems: ['the message body is not JSON'] };
  }
  const result = PullJobSchema.safeParse(value);
  if (result.success) return { job: result.data };
  return { problems: result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`) };
}

export interface PullHandlerDeps {
  readonly settings: PullHandlerSettings;
  readonly log: Log;
  /** Queues `job` on the pull queue, delivered after `delaySeconds` (at most {@link MAX_DELAY_SECONDS}). */
  continueLater(job: PullJob, delaySeconds: number): Promise<void>;
  run?: typeof runPullJob;
}

export function createPullHandler(deps: PullHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const run = deps.run ?? runPullJob;
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    // The whole invocation's deadline: with batch size 1, the one job gets all of it.
    const deadline = Date.now() + (context ? context.getRemainingTimeInMillis() : 900_000) - DEADLINE_MARGIN_MS;
    const recordHandler = async (record: SQSRecord): Promise<PullRunSummary | undefined> => {
      const parsed = parsePullJob(record.body);
      if ('problems' in parsed) {
        deps.log.error('pull job rejected', { messageId: record.messageId, problems: parsed.problems });
        return undefined;
      }
      const registered = deps.settings.sources.some(
        (source) => source.account === parsed.job.account && source.regions.includes(parsed.job.region),
      );
      if (!registered || !deps.settings.pull[parsed.job.kind]) {
        deps.log.error('pull job rejected', {
          messageId: record.messageId,
          problems: [
            registered
              ? `${parsed.job.kind} is not an enabled pulled kind`
              : `${parsed.job.account} ${parsed.job.region} is not a registered source account and Region`,
          ],
        });
        return undefined;
      }
      const summary = await run(parsed.job, deps.settings, {
        log: deps.log,
        deadline,
        continueLater: deps.continueLater,
      });
      deps.log.info('pull finished', { ...summary });
      return summary;
    };
    return processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
  };
}

let wired: ReturnType<typeof createPullHandler> | undefined;

export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  // Cold start: settings validated once, the queue client created once and reused while warm.
  wired ??= (() => {
    const settings = pullSettingsFromEnv();
    const log = powertoolsLog(newLogger('bunker-pull'));
    const sqs = new SQSClient(clientConfig({ region: settings.backupRegion }));
    return createPullHandler({
      settings,
      log,
      async continueLater(job, delaySeconds) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: settings.pullQueueUrl,
            MessageBody: JSON.stringify(job),
            DelaySeconds: Math.max(0, Math.min(MAX_DELAY_SECONDS, Math.ceil(delaySeconds))),
          }),
        );
      },
    });
  })();
  return wired(event, context);
};
