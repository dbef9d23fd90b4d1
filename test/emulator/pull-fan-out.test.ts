/**
 * A fan-out's jobs reach the pull queue: more than one SendMessageBatch's
 * ten, each body a pull job the handler accepts, read back with boto3.
 */
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { queuePullJobs } from '../../lambdas/adapters/pull/wiring';
import type { PullJob } from '../../lambdas/core/pull/types';
import { parsePullJob } from '../../lambdas/handlers/pull';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';

describe('queuePullJobs on the emulator', () => {
  it('queues twelve jobs in two batches, each a valid pull job', async () => {
    const endpoint = emulatorEndpoint();
    const backup = freshAccountId();
    const sqs = new SQSClient(clientConfig(endpoint, backup));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'bunker-pull' }));
    const jobs: PullJob[] = ['eu-west-1', 'eu-central-1'].flatMap((region) =>
      ['400000000001', '400000000002', '400000000003', '400000000004', '400000000005', '400000000006'].map(
        (account) => ({ kind: 'ssm' as const, account, region }),
      ),
    );

    await queuePullJobs(sqs, QueueUrl as string, jobs);

    const bodies = await boto3<string[]>(
      endpoint,
      backup,
      `
sqs = client('sqs')
bodies = []
while True:
    got = sqs.receive_message(QueueUrl=ARGS['url'], MaxNumberOfMessages=10).get('Messages', [])
    if not got:
        break
    bodies.extend(m['Body'] for m in got)
out(bodies)
`,
      { url: QueueUrl as string },
    );
    expect(
      bodies.map((body) => parsePullJob(body)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual(
      [
        ['400000000001', 'eu-central-1'],
        ['400000000001', 'eu-west-1'],
        ['400000000002', 'eu-central-1'],
        ['400000000002', 'eu-west-1'],
        ['400000000003', 'eu-central-1'],
        ['400000000003', 'eu-west-1'],
        ['400000000004', 'eu-central-1'],
        ['400000000004', 'eu-west-1'],
        ['400000000005', 'eu-central-1'],
        ['400000000005', 'eu-west-1'],
        ['400000000006', 'eu-central-1'],
        ['400000000006', 'eu-west-1'],
      ].map(([account, region]) => ({ job: { kind: 'ssm', account, region } })),
    );
  });
});
