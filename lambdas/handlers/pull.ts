/**
 * Lambda: the pull queue's consumer. Each SQS record is one {@link PullJob}
 * (from an EventBridge schedule, or a run's own continuation): pull one
 * kind from one source account and Region into the vault; or one
 * {@link PullFanOutJob} (a kind's schedule for enrolled accounts), expanded
 * into one job per active enrolled account and Region. A job that is not
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
import { sourceRegistry } from '../adapters/enrolment/wiring';
import { queuePullJobs, runPullJob } from '../adapters/pull/wiring';
import { listedSources } from '../core/enrolment/registry';
import type { Log, SourceRegistry } from '../core/ports';
import { fanOutJobs } from '../core/pull/fan-out';
import {
  isFanOut,
  PULLED_CONFIG_KEYS,
  type PullFanOutJob,
  type PullJob,
  type PullQueueJob,
  type PullRunSummary,
} from '../core/pull/types';
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
export const PullFanOutJobSchema = z.strictObject({ kind: z.enum(PULLED_CONFIG_KEYS), fanOut: z.literal(true) });
/** What the pull queue carries: a job, or a kind's fan-out to the enrolled accounts. */
export const PullQueueJobSchema = z.union([PullJobSchema, PullFanOutJobSchema]);

/** The job in a message body, or the reasons it is not one (never the body itself: it is not trusted). */
export function parsePullJob(body: string): { job: PullQueueJob } | { problems: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { problems: ['the message body is not JSON'] };
  }
  const result = PullQueueJobSchema.safeParse(value);
  if (result.success) return { job: result.data };
  // The union's own message says only "invalid input": report the problems of the shape the body claims.
  const claimed =
    value !== null && typeof value === 'object' && 'fanOut' in value ? PullFanOutJobSchema : PullJobSchema;
  const issues = claimed.safeParse(value).error?.issues ?? result.error.issues;
  return { problems: issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`) };
}

export interface PullHandlerDeps {
  readonly settings: PullHandlerSettings;
  readonly log: Log;
  /** Queues `job` on the pull queue, delivered after `delaySeconds` (at most {@link MAX_DELAY_SECONDS}). */
  continueLater(job: PullJob, delaySeconds: number): Promise<void>;
  /** Queues the jobs of a fan-out at once. @default each through `continueLater` without delay */
  queueJobs?(jobs: readonly PullJob[]): Promise<void>;
  /** Who is registered. @default the listed sources of `settings` */
  sources?: SourceRegistry;
  run?: typeof runPullJob;
}

export function createPullHandler(deps: PullHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const run = deps.run ?? runPullJob;
  const registry = deps.sources ?? listedSources(deps.settings.sources);
  const queueJobs =
    deps.queueJobs ??
    (async (jobs: readonly PullJob[]) => {
      for (const job of jobs) await deps.continueLater(job, 0);
    });
  const fanOut = async (messageId: string, job: PullFanOutJob): Promise<undefined> => {
    const jobs = await fanOutJobs(job, registry, deps.settings.sources);
    await queueJobs(jobs);
    deps.log.info('pull fanned out to the enrolled accounts', {
      messageId,
      kind: job.kind,
      jobs: jobs.map((j) => `${j.account}/${j.region}`),
    });
    return undefined;
  };
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    // The whole invocation's deadline: with batch size 1, the one job gets all of it.
    const deadline = Date.now() + (context ? context.getRemainingTimeInMillis() : 900_000) - DEADLINE_MARGIN_MS;
    const recordHandler = async (record: SQSRecord): Promise<PullRunSummary | undefined> => {
      const parsed = parsePullJob(record.body);
      if ('problems' in parsed) {
        deps.log.error('pull job rejected', { messageId: record.messageId, problems: parsed.problems });
        return undefined;
      }
      const job = parsed.job;
      const enabled = Boolean(deps.settings.pull[job.kind]);
      if (isFanOut(job)) {
        if (enabled) return fanOut(record.messageId, job);
        deps.log.error('pull job rejected', {
          messageId: record.messageId,
          problems: [`${job.kind} is not an enabled pulled kind`],
        });
        return undefined;
      }
      // Listed or enrolled, now: a job queued before its account departed is not run.
      const registered = (await registry.source(job.account))?.regions.includes(job.region) ?? false;
      if (!registered || !enabled) {
        deps.log.error('pull job rejected', {
          messageId: record.messageId,
          problems: [
            registered
              ? `${job.kind} is not an enabled pulled kind`
              : `${job.account} ${job.region} is not a registered source account and Region`,
          ],
        });
        return undefined;
      }
      const summary = await run(job, deps.settings, {
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
    const context = { region: settings.backupRegion };
    const sqs = new SQSClient(clientConfig(context));
    return createPullHandler({
      settings,
      log,
      // Listed and enrolled accounts: enrolment records are read from the inventory table.
      sources: sourceRegistry(settings, context),
      queueJobs: (jobs) => queuePullJobs(sqs, settings.pullQueueUrl, jobs),
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
