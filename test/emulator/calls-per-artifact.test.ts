/**
 * AWS requests per artifact, counted on the SDK clients the Lambdas build
 * (`CallCounter` on `clientConfig`), for RDS DB snapshots: N snapshots go
 * through the source agent's handler (snapshot created, intermediate copy
 * finished), the intake handler, the completion handler and the agent's
 * receipt handler, and the requests each side made are compared with the
 * minimum of `docs/performance.md` (written here as literals).
 *
 * The test's own clients (setup, reading queues) come from the test
 * support's configuration and are not counted. The emulator's copies are
 * instant, so intake settles each copy and the completion event finds it
 * settled; the agent's cleanup (one delete) is not run, so the source side
 * is measured against its minimum less that delete.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { CallCounter, countCalls } from '../../lambdas/adapters/aws-context';
import { agentDeps, vaultDeps } from '../../lambdas/adapters/wiring';
import { intermediateSnapshotId, sourceNames, vaultNames } from '../../lambdas/core/names';
import { silentLog } from '../../lambdas/core/ports';
import { createCompletionHandler } from '../../lambdas/handlers/completion';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import { createSourceAgentHandler } from '../../lambdas/handlers/source-agent';
import { rdsSnapshot } from '../../lambdas/kinds/rds-snapshot/kind';
import { sourceSettings, vaultSettings } from '../../lib/config/runtime';
import { freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { bunkerConfig, createDatabase, createSnapshot, intakeQueue, REGION, TestClients } from './support/bunker';

/** The minimum requests per RDS DB snapshot (docs/performance.md): source 11 of which 1 is the cleanup, vault 11. */
const MIN_SOURCE_WITHOUT_CLEANUP = 10;
const MIN_VAULT = 11;
const RATIO = 1.2;
const N = 5;

const endpoint = emulatorEndpoint();
const aws = new TestClients(endpoint);
const backup = freshAccountId();
const source = freshAccountId();
const config = bunkerConfig(backup, [source]);
const sourceRds = aws.rds(source);
const counter = new CallCounter();
let env: LocalEnvironment;
const measured = { source: 0, vault: 0 };
const perOperation: Record<string, Record<string, number>> = {};

const rdsEvent = (id: string, eventId: string) => ({
  version: '0',
  id: `event-${id}-${eventId}`,
  'detail-type': 'RDS DB Snapshot Event',
  source: 'aws.rds',
  account: source,
  time: new Date().toISOString(),
  region: REGION,
  resources: [],
  detail: { SourceIdentifier: id, EventID: eventId },
});

/** Every message of a queue, as one SQS event, deleted from the queue (a consumed batch). */
async function drain(account: string, queueName: string, want: number): Promise<SQSEvent> {
  const sqs = aws.sqs(account);
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
  const records: SQSEvent['Records'] = [];
  for (let tries = 0; records.length < want && tries < 20; tries += 1) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    for (const m of Messages ?? []) {
      records.push({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        attributes: {} as SQSEvent['Records'][number]['attributes'],
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${REGION}:${account}:${queueName}`,
        awsRegion: REGION,
      });
    }
    if (Messages?.length) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
  }
  return { Records: records };
}

beforeAll(async () => {
  env = await localUp(config, endpoint);
  const shareKey = env.sources[0].shareKeyArn;
  // One snapshot per database, as a night's automated snapshots are: copies of one database would
  // wait for each other, which costs a refused claim and a waiting record each (docs/performance.md).
  const ids = Array.from({ length: N }, (_, i) => `orders-${i}`);
  for (const id of ids) {
    await createDatabase(sourceRds, { id: `db-${id}`, inScope: true, kmsKeyId: shareKey });
    await createSnapshot(sourceRds, `db-${id}`, id);
  }

  // The Lambdas' clients, built with the counter installed, as each function builds them at cold start.
  countCalls(counter);
  try {
    const agentContext = await localContext(endpoint, source, REGION, sourceNames(config.name, REGION).agentRole);
    const agent = createSourceAgentHandler(
      agentDeps(sourceSettings(config, source, REGION, shareKey), agentContext, silentLog),
    );
    const vaultContext = await localContext(endpoint, backup, REGION, vaultNames(config.name).intakeRole);
    const deps = vaultDeps(vaultSettings(config, env.backupKeyArn), vaultContext, silentLog);
    const intake = createIntakeHandler(deps);
    const completion = createCompletionHandler(deps);
    const queue = intakeQueue(config, env, aws.sqs(backup));
    const phase = async (side: 'source' | 'vault', work: () => Promise<unknown>) => {
      counter.reset();
      await work();
      measured[side] += counter.total();
      for (const [key, n] of Object.entries(counter.toJSON())) {
        perOperation[side] = { ...perOperation[side], [key]: (perOperation[side]?.[key] ?? 0) + n };
      }
    };

    // Snapshot created (RDS-EVENT-0042), then the intermediate copy finished (RDS-EVENT-0197).
    await phase('source', async () => {
      for (const id of ids) await agent(rdsEvent(id, 'RDS-EVENT-0042'));
      for (const id of ids) await agent(rdsEvent(intermediateSnapshotId(id), 'RDS-EVENT-0197'));
    });
    const delivered = await queue.receive(N);
    await phase('vault', () => intake(delivered));
    await phase('vault', async () => {
      for (const id of ids) {
        const target = rdsSnapshot.targetName(
          { kind: 'rds-snapshot', partition: 'aws', account: source, region: REGION, id: intermediateSnapshotId(id) },
          0,
        );
        await completion({
          version: '0',
          id: `copy-${id}`,
          'detail-type': 'RDS DB Snapshot Event',
          source: 'aws.rds',
          account: backup,
          time: new Date().toISOString(),
          region: REGION,
          resources: [],
          detail: { SourceIdentifier: target, EventID: 'RDS-EVENT-0197' },
        });
      }
    });
    const receipts = await drain(source, sourceNames(config.name, REGION).receiptsQueue, N);
    await phase('source', () => agent(receipts));
  } finally {
    countCalls(undefined);
  }
}, 240_000);

afterAll(() => aws.destroy());

describe('AWS requests per RDS DB snapshot, counted on the Lambdas’ clients', () => {
  it(`makes at most ${RATIO} times the minimum on the source side`, () => {
    expect(perOperation.source).toBeDefined();
    expect(measured.source / N).toBeLessThanOrEqual(RATIO * MIN_SOURCE_WITHOUT_CLEANUP);
  });

  it(`makes at most ${RATIO} times the minimum on the vault side`, () => {
    expect(perOperation.vault).toBeDefined();
    expect(measured.vault / N).toBeLessThanOrEqual(RATIO * MIN_VAULT);
  });

  it('reports what it counted', () => {
    console.log(
      JSON.stringify({ perArtifact: { source: measured.source / N, vault: measured.vault / N }, perOperation }),
    );
    expect(measured.source + measured.vault).toBeGreaterThan(0);
  });
});
