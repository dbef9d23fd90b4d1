/**
 * The pull handler is thin: it turns one SQS record into one PullJob, hands
 * it to the pull wiring with the invocation's deadline and a way to queue a
 * continuation, and reports a failed run as that record's failure. A body
 * that is not a job of a registered source and enabled kind is logged and
 * consumed, never retried and never logged itself.
 */
import type { Context, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { listedSources } from '../../lambdas/core/enrolment/registry';
import type { Log } from '../../lambdas/core/ports';
import type { PullJob, PullRunSummary } from '../../lambdas/core/pull/types';
import type { PullHandlerSettings } from '../../lambdas/core/settings';
import { createPullHandler, DEADLINE_MARGIN_MS, parsePullJob } from '../../lambdas/handlers/pull';
import { pullRunSummary } from '../support/pull-runs';

const SOURCE = '222222222222';
const settings: PullHandlerSettings = {
  prefix: 'bunker',
  partition: 'aws',
  backupAccount: '111111111111',
  backupRegion: 'eu-west-1',
  inventoryTable: 'bunker-inventory',
  pullScopeIndex: 'by-pull-scope',
  vaultBucket: 'bunker-vault-111111111111-eu-west-1',
  backupKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-4000-8000-000000000000',
  pullQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/111111111111/bunker-pull',
  sources: [{ account: SOURCE, regions: ['eu-west-1', 'eu-central-1'] }],
  pull: { ssm: { scope: { tag: { key: 'bunker:backup', value: 'true' } } } },
};

const eventOf = (...bodies: string[]): SQSEvent =>
  ({
    Records: bodies.map((body, index) => ({
      messageId: `m${index}`,
      receiptHandle: `r${index}`,
      body,
      attributes: {},
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:111111111111:bunker-pull',
      awsRegion: 'eu-west-1',
    })),
  }) as unknown as SQSEvent;

const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs }) as unknown as Context;

function recordingLog() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const log: Log = {
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
  };
  return { log, lines };
}

const summaryOf = ({ kind, account, region }: PullJob): PullRunSummary =>
  pullRunSummary({
    kind,
    account,
    region,
    startedAt: '2026-11-22T10:00:00.000Z',
    finishedAt: '2026-11-22T10:00:05.000Z',
    inScope: 3,
    changed: 1,
    unchanged: 2,
    dataWrites: 1,
    nothingChanged: false,
  });

describe('parsePullJob', () => {
  it('reads a scheduled job and a continuation', () => {
    expect(parsePullJob('{"kind":"ssm","account":"222222222222","region":"eu-west-1"}')).toEqual({
      job: { kind: 'ssm', account: SOURCE, region: 'eu-west-1' },
    });
    expect(parsePullJob('{"kind":"dynamodb","account":"222222222222","region":"eu-west-1","table":"orders"}')).toEqual({
      job: { kind: 'dynamodb', account: SOURCE, region: 'eu-west-1', table: 'orders' },
    });
  });

  it('reads a fan-out job, and says why a body claiming to be one is not', () => {
    expect(parsePullJob('{"kind":"secrets","fanOut":true}')).toEqual({ job: { kind: 'secrets', fanOut: true } });
    expect(parsePullJob('{"kind":"ssm","fanOut":false,"account":"222222222222"}')).toEqual({
      problems: ['fanOut: Invalid input: expected true', '(body): Unrecognized key: "account"'],
    });
  });

  it('says why a body is not a job', () => {
    expect(parsePullJob('not json')).toEqual({ problems: ['the message body is not JSON'] });
    expect(parsePullJob('{"kind":"rds","account":"2222","region":"eu-west-1","extra":1}')).toEqual({
      problems: [
        'kind: Invalid option: expected one of "ssm"|"secrets"|"dynamodb"',
        'account: Invalid string: must match pattern /^\\d{12}$/',
        '(body): Unrecognized key: "extra"',
      ],
    });
  });
});

describe('the pull handler', () => {
  it('runs the job with the deadline of the invocation and a continuation on the pull queue', async () => {
    const { log } = recordingLog();
    const runs: { job: PullJob; deadline: number }[] = [];
    const continued: [PullJob, number][] = [];
    const handler = createPullHandler({
      settings,
      log,
      continueLater: async (job, delay) => {
        continued.push([job, delay]);
      },
      run: async (job, given, deps) => {
        expect(given).toBe(settings);
        runs.push({ job, deadline: deps.deadline });
        await deps.continueLater({ ...job, table: 'orders' }, 60);
        return summaryOf(job);
      },
    });
    const before = Date.now();

    const response = await handler(
      eventOf('{"kind":"ssm","account":"222222222222","region":"eu-central-1"}'),
      context(900_000),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(runs.map((run) => run.job)).toEqual([{ kind: 'ssm', account: SOURCE, region: 'eu-central-1' }]);
    // The Lambda's time left, less the margin to save a checkpoint and queue the continuation.
    expect(runs[0].deadline).toBeGreaterThanOrEqual(before + 900_000 - DEADLINE_MARGIN_MS);
    expect(runs[0].deadline).toBeLessThanOrEqual(Date.now() + 900_000 - DEADLINE_MARGIN_MS);
    expect(continued).toEqual([[{ kind: 'ssm', account: SOURCE, region: 'eu-central-1', table: 'orders' }, 60]]);
  });

  it('consumes and logs a body that is not a job, or a job of an unregistered source or a disabled kind', async () => {
    const { log, lines } = recordingLog();
    let runs = 0;
    const handler = createPullHandler({
      settings,
      log,
      continueLater: async () => {},
      run: async (job) => {
        runs += 1;
        return summaryOf(job);
      },
    });

    const response = await handler(
      eventOf(
        '{"kind":"ssm","password":"hunter2"}',
        '{"kind":"ssm","account":"999999999999","region":"eu-west-1"}',
        '{"kind":"ssm","account":"222222222222","region":"us-east-1"}',
        '{"kind":"secrets","account":"222222222222","region":"eu-west-1"}',
      ),
      context(900_000),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(runs).toBe(0);
    expect(lines.map((line) => [line.level, line.message, line.fields?.problems])).toEqual([
      [
        'error',
        'pull job rejected',
        [
          'account: Invalid input: expected string, received undefined',
          'region: Invalid input: expected string, received undefined',
          '(body): Unrecognized key: "password"',
        ],
      ],
      ['error', 'pull job rejected', ['999999999999 eu-west-1 is not a registered source account and Region']],
      ['error', 'pull job rejected', ['222222222222 us-east-1 is not a registered source account and Region']],
      ['error', 'pull job rejected', ['secrets is not an enabled pulled kind']],
    ]);
    // The body is never logged: it is not trusted and could carry anything.
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('expands a fan-out into one queued job per enrolled account and Region, and runs a job of an enrolled account', async () => {
    const { log, lines } = recordingLog();
    const queued: PullJob[][] = [];
    const ran: PullJob[] = [];
    // The listed source, then one enrolled account in two Regions (as EnrolledSourceRegistry answers).
    const enrolled = { account: '444444444444', regions: ['eu-west-1', 'eu-central-1'] };
    const registry = listedSources([...settings.sources, enrolled]);
    const handler = createPullHandler({
      settings,
      log,
      sources: registry,
      continueLater: async () => {
        throw new Error('a fan-out queues its jobs in batches, not one by one');
      },
      queueJobs: async (jobs) => {
        queued.push([...jobs]);
      },
      run: async (job) => {
        ran.push(job);
        return summaryOf(job);
      },
    });

    const response = await handler(
      eventOf(
        '{"kind":"ssm","fanOut":true}',
        '{"kind":"secrets","fanOut":true}',
        '{"kind":"ssm","account":"444444444444","region":"eu-central-1"}',
        '{"kind":"ssm","account":"555555555555","region":"eu-west-1"}',
      ),
      context(900_000),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(queued).toEqual([
      [
        { kind: 'ssm', account: '444444444444', region: 'eu-west-1' },
        { kind: 'ssm', account: '444444444444', region: 'eu-central-1' },
      ],
    ]);
    expect(ran).toEqual([{ kind: 'ssm', account: '444444444444', region: 'eu-central-1' }]);
    expect(lines.filter((line) => line.level === 'error').map((line) => line.fields?.problems)).toEqual([
      ['secrets is not an enabled pulled kind'],
      ['555555555555 eu-west-1 is not a registered source account and Region'],
    ]);
  });

  it('reports a fan-out whose jobs could not be queued as its failure, so SQS delivers it again', async () => {
    const { log } = recordingLog();
    const handler = createPullHandler({
      settings,
      log,
      sources: listedSources([...settings.sources, { account: '444444444444', regions: ['eu-west-1'] }]),
      continueLater: async () => {},
      queueJobs: async () => {
        throw new Error('the pull queue refused 1 of 1 job(s): InternalError');
      },
    });

    const response = await handler(eventOf('{"kind":"ssm","fanOut":true}'), context(900_000));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
  });

  it('reports a failed run as the failure of its record, so SQS retries it', async () => {
    const { log } = recordingLog();
    const handler = createPullHandler({
      settings,
      log,
      continueLater: async () => {},
      run: async () => {
        throw new Error('throttled beyond the retries');
      },
    });

    const response = await handler(
      eventOf('{"kind":"ssm","account":"222222222222","region":"eu-west-1"}'),
      context(900_000),
    );

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
  });
});
