/**
 * The drill log's contract, for the DynamoDB adapter on the emulator and
 * the in-memory double alike: the latest drill of each resource and its
 * last passed one, whatever order results land in.
 */
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDrillLog } from '../../lambdas/adapters/drill/dynamo-drill-log';
import type { DrillLog, DrillOutcome, DrillResult } from '../../lambdas/core/drill/types';
import { MemoryDrillLog } from '../../sim/memory-drill-log';
import { clientConfig, DEFAULT_TEST_REGION, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';

const ACCOUNT = '222222222222';
const REGION = 'eu-west-1';

const result = (
  resource: string,
  startedAt: string,
  outcome: DrillOutcome,
  kind: 'rds' | 'ebs' = 'rds',
): DrillResult => ({
  drillId: `${kind}:${ACCOUNT}:${REGION}:${resource}:${startedAt}`,
  subject: {
    kind,
    account: ACCOUNT,
    region: REGION,
    resource,
    artifactId: `x:${resource}`,
    copyId: `copy-${resource}`,
    copyRegion: REGION,
    pick: 'newest',
  },
  outcome,
  startedAt,
  finishedAt: startedAt.replace('T00', 'T01'),
  ...(outcome === 'passed' ? { restoreSeconds: 420 } : {}),
  targetSeconds: 3600,
  checks: [{ name: 'size', ok: outcome === 'passed', detail: '20 GiB' }],
  ...(outcome === 'failed' ? { failure: 'failed checks: size' } : {}),
  tornDown: true,
});

let dynamo: DynamoDBClient;
let table: string;

beforeAll(async () => {
  dynamo = new DynamoDBClient(clientConfig(emulatorEndpoint(), freshAccountId(), DEFAULT_TEST_REGION));
  table = 'bunker-inventory';
  await dynamo.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'artifactId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
    }),
  );
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: table });
});

afterAll(() => dynamo?.destroy());

// Each implementation gets resources of its own, so both can share the one table.
describe.each([
  ['memory', () => new MemoryDrillLog() as DrillLog, 'mem'],
  ['dynamodb (emulator)', () => new DynamoDrillLog(dynamo, table) as DrillLog, 'ddb'],
] as const)('DrillLog: %s', (_name, make, tag) => {
  it('keeps the last passed drill after a later failure, and the failure as the latest', async () => {
    const log = make();
    await log.record(result(`${tag}-a`, '2026-06-01T00:00:00.000Z', 'passed'));
    await log.record(result(`${tag}-a`, '2026-06-08T00:00:00.000Z', 'failed'));

    const [summary] = (await log.latest()).filter((s) => s.resource === `${tag}-a`);

    expect(summary.last.drillId).toBe(`rds:${ACCOUNT}:${REGION}:${tag}-a:2026-06-08T00:00:00.000Z`);
    expect(summary.last.outcome).toBe('failed');
    expect(summary.lastPassed).toEqual(result(`${tag}-a`, '2026-06-01T00:00:00.000Z', 'passed'));
  });

  it('results landing out of order: an older drill never replaces a newer one, latest or passed', async () => {
    const log = make();
    await log.record(result(`${tag}-b`, '2026-06-08T00:00:00.000Z', 'passed'));
    await log.record(result(`${tag}-b`, '2026-06-01T00:00:00.000Z', 'failed'));
    await log.record(result(`${tag}-b`, '2026-05-01T00:00:00.000Z', 'passed'));

    const [summary] = (await log.latest()).filter((s) => s.resource === `${tag}-b`);

    expect(summary.last.startedAt).toBe('2026-06-08T00:00:00.000Z');
    expect(summary.lastPassed?.startedAt).toBe('2026-06-08T00:00:00.000Z');
  });

  it('a resource never passed has no last passed drill; the filters select by kind and account', async () => {
    const log = make();
    await log.record(result(`${tag}-c`, '2026-06-01T00:00:00.000Z', 'failed', 'ebs'));

    const ebs = (await log.latest({ kind: 'ebs' })).filter((s) => s.resource.startsWith(tag));
    expect(ebs.map((s) => [s.resource, s.lastPassed])).toEqual([[`${tag}-c`, undefined]]);
    expect((await log.latest({ account: '999999999999' })).length).toBe(0);
  });
});
