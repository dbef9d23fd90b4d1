/**
 * The source backlog board's contract, for the DynamoDB adapter on the
 * emulator and the in-memory double the simulation uses alike: the newest
 * report wins whatever order reports land in, a backlog of 0 takes the
 * account off the board, the longest backlog comes first and the lowest
 * account on a tie, an entry older than two hours is answered as stale and
 * let go only when a board turn says so, and pools are apart. The stored items are read back once with boto3.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoSourceBacklogs } from '../../lambdas/adapters/dynamo-backlogs';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import {
  type BacklogLead,
  forgetStaleLead,
  longestBacklog,
  type SourceBacklogs,
} from '../../lambdas/core/pipeline/backlog';
import type { VaultDeps } from '../../lambdas/core/pipeline/copy';
import { silentLog } from '../../lambdas/core/ports';
import { ManualClock } from '../../sim/memory-aws';
import { MemorySourceBacklogs } from '../../sim/memory-backlogs';
import { clientConfig, DEFAULT_TEST_REGION, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';

const TABLE = 'bunker-inventory';
const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const T1 = '2026-03-01T04:00:00.000Z';
const T2 = '2026-03-01T04:05:00.000Z';
const T3 = '2026-03-01T04:10:00.000Z';

const endpoint = emulatorEndpoint();
const account = freshAccountId();
let dynamo: DynamoDBClient;

beforeAll(async () => {
  dynamo = new DynamoDBClient(clientConfig(endpoint, account, DEFAULT_TEST_REGION));
  // The inventory table's shape (lib/stacks/vault-stack.ts): its key, the queue index and the TTL attribute.
  await dynamo.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'artifactId', AttributeType: 'S' },
        { AttributeName: 'queue', AttributeType: 'S' },
        { AttributeName: 'queueKey', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-queue',
          KeySchema: [
            { AttributeName: 'queue', KeyType: 'HASH' },
            { AttributeName: 'queueKey', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: TABLE });
  await dynamo.send(
    new UpdateTimeToLiveCommand({
      TableName: TABLE,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    }),
  );
});

afterAll(() => dynamo?.destroy());

// Each implementation reports to pools of its own, so both share the one table.
describe.each([
  ['memory', () => new MemorySourceBacklogs() as SourceBacklogs, 'mem'],
  ['dynamodb (emulator)', () => new DynamoSourceBacklogs(dynamo, TABLE) as SourceBacklogs, 'ddb'],
] as const)('SourceBacklogs: %s', (_name, make, tag) => {
  const pool = (name: string) => `rds-snapshot@${tag}-${name}`;

  it('keeps the newest report of an account, whatever order reports land in', async () => {
    const board = make();
    await board.report(pool('newest'), { account: A, backlog: 10, at: T2 });
    await board.report(pool('newest'), { account: A, backlog: 30, at: T1 });
    const afterOlder = await board.longest(pool('newest'));
    await board.report(pool('newest'), { account: A, backlog: 20, at: T3 });

    expect(afterOlder).toEqual({ account: A, backlog: 10, at: T2 });
    expect(await board.longest(pool('newest'))).toEqual({ account: A, backlog: 20, at: T3 });
  });

  it('takes an account off the board at 0, and a late older report does not put it back', async () => {
    const board = make();
    await board.report(pool('zero'), { account: A, backlog: 50, at: T1 });
    await board.report(pool('zero'), { account: B, backlog: 5, at: T1 });
    await board.report(pool('zero'), { account: A, backlog: 0, at: T2 });
    const afterZero = await board.longest(pool('zero'));
    await board.report(pool('zero'), { account: A, backlog: 60, at: T1 });

    expect(afterZero).toEqual({ account: B, backlog: 5, at: T1 });
    expect(await board.longest(pool('zero'))).toEqual({ account: B, backlog: 5, at: T1 });
  });

  it('answers the longest backlog, and the lowest account on a tie', async () => {
    const board = make();
    await board.report(pool('ties'), { account: C, backlog: 7, at: T1 });
    await board.report(pool('ties'), { account: A, backlog: 7, at: T1 });
    await board.report(pool('ties'), { account: B, backlog: 7, at: T1 });
    const tie = await board.longest(pool('ties'));
    // 100,000 (a notification's bound) above 99,999: the index key's digits hold both.
    await board.report(pool('ties'), { account: C, backlog: 100_000, at: T2 });
    await board.report(pool('ties'), { account: B, backlog: 99_999, at: T2 });

    expect(tie).toEqual({ account: A, backlog: 7, at: T1 });
    expect(await board.longest(pool('ties'))).toEqual({ account: C, backlog: 100_000, at: T2 });
  });

  it('answers an entry older than two hours as stale, and after a stale lead is let go, the next one', async () => {
    const board = make();
    const clock = new ManualClock('2026-03-01T06:00:00.001Z');
    // No `ring`: every read goes to the board. Only what `longestBacklog` reads of the deps.
    const deps = { backlogs: board, clock, log: silentLog } as unknown as VaultDeps;
    await board.report(pool('age'), { account: A, backlog: 90, at: '2026-03-01T04:00:00.000Z' });
    await board.report(pool('age'), { account: B, backlog: 10, at: '2026-03-01T04:00:00.001Z' });

    const first = await longestBacklog(deps, pool('age'));
    const kept = await board.longest(pool('age'));
    // A board turn found none of A's records waiting: the walk lets the stale lead go.
    await forgetStaleLead(deps, pool('age'), first as BacklogLead);
    const second = await longestBacklog(deps, pool('age'));

    expect(first).toEqual({ account: A, at: '2026-03-01T04:00:00.000Z', stale: true });
    expect(kept).toEqual({ account: A, backlog: 90, at: '2026-03-01T04:00:00.000Z' });
    expect(second).toEqual({ account: B, at: '2026-03-01T04:00:00.001Z', stale: false });
    expect(await board.longest(pool('age'))).toEqual({ account: B, backlog: 10, at: '2026-03-01T04:00:00.001Z' });
  });

  it('forgets an entry only if it is still the report read', async () => {
    const board = make();
    await board.report(pool('forget'), { account: A, backlog: 10, at: T1 });
    await board.report(pool('forget'), { account: A, backlog: 12, at: T2 });
    await board.forget(pool('forget'), A, T1);
    const kept = await board.longest(pool('forget'));
    await board.forget(pool('forget'), A, T2);

    expect(kept).toEqual({ account: A, backlog: 12, at: T2 });
    expect(await board.longest(pool('forget'))).toBeUndefined();
  });

  it('keeps pools apart', async () => {
    const board = make();
    await board.report(pool('one'), { account: A, backlog: 10, at: T1 });
    await board.report(pool('two'), { account: B, backlog: 20, at: T1 });

    expect(await board.longest(pool('one'))).toEqual({ account: A, backlog: 10, at: T1 });
    expect(await board.longest(pool('two'))).toEqual({ account: B, backlog: 20, at: T1 });
    expect(await board.longest(pool('three'))).toBeUndefined();
  });
});

describe('the board in the inventory table (emulator)', () => {
  const POOL = 'ebs-snapshot@eu-west-1';

  it('stores one item per pool and account, in the queue index while the backlog is above 0, expiring a day after its report (read with boto3)', async () => {
    const board = new DynamoSourceBacklogs(dynamo, TABLE);
    await board.report(POOL, { account: A, backlog: 42, at: T1 });
    await board.report(POOL, { account: B, backlog: 0, at: T2 });

    const items = await boto3<Record<string, unknown>[]>(
      endpoint,
      account,
      `
from boto3.dynamodb.types import TypeDeserializer
d = TypeDeserializer()
items = client('dynamodb').scan(TableName=ARGS['table'])['Items']
mine = [{k: d.deserialize(v) for k, v in item.items()} for item in items if item['artifactId']['S'].startswith(ARGS['prefix'])]
out(sorted(mine, key=lambda item: item['artifactId']))
`,
      { table: TABLE, prefix: `backlog:${POOL}|` },
    );

    expect(items).toEqual([
      {
        artifactId: 'backlog:ebs-snapshot@eu-west-1|111111111111',
        pool: POOL,
        account: A,
        backlog: '42',
        at: T1,
        expiresAt: '1772424000',
        queue: 'backlog:ebs-snapshot@eu-west-1',
        queueKey: '999957#111111111111',
      },
      {
        artifactId: 'backlog:ebs-snapshot@eu-west-1|222222222222',
        pool: POOL,
        account: B,
        backlog: '0',
        at: T2,
        expiresAt: '1772424300',
      },
    ]);
  });

  it("answers concurrent reads of one pool with one query (an SQS batch's records free slots at once)", async () => {
    const counted = new DynamoDBClient(clientConfig(endpoint, account, DEFAULT_TEST_REGION));
    const sent: string[] = [];
    counted.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize' },
    );
    const board = new DynamoSourceBacklogs(counted, TABLE);
    await board.report('rds-snapshot@batch', { account: B, backlog: 8, at: T1 });
    sent.length = 0;

    const reads = await Promise.all([1, 2, 3].map(() => board.longest('rds-snapshot@batch')));
    const later = await board.longest('rds-snapshot@batch');
    counted.destroy();

    expect(reads).toEqual([1, 2, 3].map(() => ({ account: B, backlog: 8, at: T1 })));
    expect(later).toEqual({ account: B, backlog: 8, at: T1 });
    expect(sent).toEqual(['QueryCommand', 'QueryCommand']);
  });

  it("is not listed among the inventory's records", async () => {
    const board = new DynamoSourceBacklogs(dynamo, TABLE);
    await board.report('rds-snapshot@listing', { account: C, backlog: 3, at: T1 });

    const records = await new DynamoInventory(dynamo, TABLE, 'by-status').list();

    expect(records.filter((r) => r.artifactId.startsWith('backlog:'))).toEqual([]);
  });
});
