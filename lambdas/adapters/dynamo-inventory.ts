/**
 * The inventory on DynamoDB: one item per backup copy (or rejected message),
 * keyed by `artifactId`, with a `status` index for the sweep and the CLI.
 * Every write is conditional on the record's `version`, so two workers
 * racing on one record can never both win.
 *
 * Copy slots: one counter item per pool (`slots:copying:<pool>`, a kind in
 * a destination Region; attribute `inUse`) changes in the same transaction
 * as every record that enters or leaves `copying`, so it always equals the
 * number of the pool's copies in progress and a claim beyond the limit
 * fails atomically, however many Lambdas run. A source resource's one slot
 * is a `resource:<key>` item naming its holder, put in the claim's
 * transaction and deleted in the release's.
 *
 * A record is stored without what it can derive (`lambdas/core/inventory-item.ts`:
 * {@link itemOf} and {@link recordOf}), so most writes bill one write unit
 * where the whole record would bill two. Each item carries the queue
 * index's attributes (`queue`, `queueKey`), derived from the record on
 * every write and stripped on every read, so the scheduler's "next waiting record" and
 * "expired claim" are single-item queries of a sparse index, and the
 * sweep's follow-ups of available copies read only the unfinished ones.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  afterAccountKey,
  claimsQueue,
  copyingQueue,
  type CopyStatus,
  expiredBefore,
  followUpQueue,
  type InventoryFilter,
  type InventoryRecord,
  matchesFilter,
  QUEUE_INDEX,
  resourceKeyOf,
  waitingQueue,
} from '../core/inventory';
import { itemOf, recordOf } from '../core/inventory-item';
import type { Inventory } from '../core/ports';
import { BACKLOG_PREFIX } from './dynamo-backlogs';
import { cancelledConditions, isConditionFailure, putNew, putOver, sendConditionalPut } from './dynamo-conditional';

const SLOTS_PREFIX = 'slots:copying:';
/** BatchGetItem reads at most 100 keys a request. */
const BATCH_GET_LIMIT = 100;
/** Unprocessed keys are asked for again (the SDK retries errors, not unprocessed keys), this many times at most. */
const BATCH_GET_ATTEMPTS = 6;
const RESOURCE_PREFIX = 'resource:';

/**
 * Pulled records (they carry `pullScope`), pull run records and the
 * auditor's records (`auditScope`) share the table but are not copies: the
 * copy inventory's readers never see them.
 */
/** Items of the table that are not copies: pulled records, audit records, pull runs and enrolments. */
const isPulledItem = (item: object) =>
  'pullScope' in item ||
  'auditScope' in item ||
  'enrolment' in item ||
  'drill' in item ||
  'recovery' in item ||
  (item as { kind?: unknown }).kind === 'pull-run';
const slotsKey = (pool: string) => ({ artifactId: `${SLOTS_PREFIX}${pool}` });
/** The slot counters, the source resources' slots and the backlog board's entries: items of the table that are no record. */
const isBookkeeping = (id: string) =>
  id.startsWith(SLOTS_PREFIX) || id.startsWith(RESOURCE_PREFIX) || id.startsWith(BACKLOG_PREFIX);

function poolOfRecord(record: InventoryRecord): string {
  if (!record.pool) throw new Error(`record ${record.artifactId} has no copy pool`);
  return record.pool;
}

export class DynamoInventory implements Inventory {
  private readonly doc: DynamoDBDocumentClient;
  /**
   * The pools whose last walk query in this container found a record
   * waiting: a hint of the order of {@link nextWaiting}'s two queries, never
   * of its answer.
   */
  private readonly backlogged = new Set<string>();

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly statusIndex: string,
    private readonly queueIndex: string = QUEUE_INDEX,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(artifactId: string): Promise<InventoryRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { artifactId }, ConsistentRead: true }),
    );
    return Item ? recordOf(Item) : undefined;
  }

  async existing(artifactIds: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const ids = [...new Set(artifactIds)];
    for (let start = 0; start < ids.length; start += BATCH_GET_LIMIT) {
      let keys: Record<string, unknown>[] | undefined = ids
        .slice(start, start + BATCH_GET_LIMIT)
        .map((artifactId) => ({ artifactId }));
      // DynamoDB may leave keys unprocessed under load: ask again for those, with the SDK's backoff between tries.
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt >= BATCH_GET_ATTEMPTS) throw new Error(`inventory batch read left ${keys.length} key(s) unread`);
        const answer: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: { Keys: keys, ProjectionExpression: 'artifactId', ConsistentRead: true },
            },
          }),
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) found.add(String(item.artifactId));
        keys = answer.UnprocessedKeys?.[this.tableName]?.Keys;
        if (keys && keys.length > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
    return found;
  }

  async create(record: InventoryRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putNew(this.tableName, itemOf(record)));
  }

  /** Takes a source resource's one slot for `record`, as a transaction item (it may hold it already). */
  private resourceTake(resource: string, record: InventoryRecord) {
    return {
      Put: {
        TableName: this.tableName,
        Item: { artifactId: `${RESOURCE_PREFIX}${resource}`, holder: record.artifactId },
        ConditionExpression: 'attribute_not_exists(artifactId) OR holder = :holder',
        ExpressionAttributeValues: { ':holder': record.artifactId },
      },
    };
  }

  /** Gives a source resource's slot back, unless another record holds it, as a transaction item. */
  private resourceRelease(resource: string, record: InventoryRecord) {
    return {
      Delete: {
        TableName: this.tableName,
        Key: { artifactId: `${RESOURCE_PREFIX}${resource}` },
        ConditionExpression: 'attribute_not_exists(artifactId) OR holder = :holder',
        ExpressionAttributeValues: { ':holder': record.artifactId },
      },
    };
  }

  /** Takes (`+1`, only below `limit`) or gives back (`-1`) a copy slot, as a transaction item. */
  private slotChange(pool: string, delta: 1 | -1, limit?: number) {
    return {
      TableName: this.tableName,
      Key: slotsKey(pool),
      UpdateExpression: 'ADD inUse :delta',
      ...(limit === undefined
        ? { ExpressionAttributeValues: { ':delta': delta } }
        : {
            ConditionExpression: 'attribute_not_exists(inUse) OR inUse < :limit',
            ExpressionAttributeValues: { ':delta': delta, ':limit': limit },
          }),
    };
  }

  async replace(expected: InventoryRecord, next: InventoryRecord): Promise<boolean> {
    if (next.status === 'copying' && expected.status !== 'copying') {
      throw new Error(`entering copying must take a copy slot: use claimCopy for ${next.artifactId}`);
    }
    try {
      if (expected.status === 'copying' && next.status !== 'copying') {
        const resource = resourceKeyOf(expected);
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: putOver(this.tableName, expected, itemOf(next)) },
              { Update: this.slotChange(poolOfRecord(expected), -1) },
              ...(resource ? [this.resourceRelease(resource, expected)] : []),
            ],
          }),
        );
      } else {
        await this.doc.send(new PutCommand(putOver(this.tableName, expected, itemOf(next))));
      }
      return true;
    } catch (error) {
      if (isConditionFailure(error) || cancelledConditions(error)?.[0]) return false;
      throw error;
    }
  }

  async claimCopy(
    expected: InventoryRecord | undefined,
    next: InventoryRecord,
    limit: number,
  ): Promise<'claimed' | 'conflict' | 'full' | 'busy'> {
    const resource = resourceKeyOf(next);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: expected ? putOver(this.tableName, expected, itemOf(next)) : putNew(this.tableName, itemOf(next)) },
            { Update: this.slotChange(poolOfRecord(next), 1, limit) },
            ...(resource ? [this.resourceTake(resource, next)] : []),
          ],
        }),
      );
      return 'claimed';
    } catch (error) {
      const failed = cancelledConditions(error);
      if (failed?.[0]) return 'conflict';
      if (failed?.[1]) return 'full';
      if (failed?.[2]) return 'busy';
      throw error;
    }
  }

  async copiesInProgress(pool: string): Promise<number> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: slotsKey(pool), ConsistentRead: true }),
    );
    return Number(Item?.inUse ?? 0);
  }

  async listByStatus(status: CopyStatus): Promise<InventoryRecord[]> {
    return this.partition(this.statusIndex, 'status', status);
  }

  /** Every record of one partition of an index (`key` = `value`), page after page. */
  private async partition(indexName: string, key: string, value: string): Promise<InventoryRecord[]> {
    const records: InventoryRecord[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tableName,
        IndexName: indexName,
        KeyConditionExpression: '#key = :value',
        ExpressionAttributeNames: { '#key': key },
        ExpressionAttributeValues: { ':value': value },
      },
    );
    for await (const page of pages) records.push(...(page.Items ?? []).map(recordOf));
    return records;
  }

  async nextWaiting(pool: string, afterAccount?: string): Promise<InventoryRecord | undefined> {
    const queue = waitingQueue(pool);
    // During a backlog the ring's next step first: records wait past nearly every account, so
    // one query usually answers; only the wrap round to the first account asks again.
    if (afterAccount !== undefined && this.backlogged.has(pool)) {
      const past = await this.firstQueued(queue, '>', afterAccountKey(afterAccount));
      if (past) return past;
      const wrapped = await this.firstQueued(queue);
      if (!wrapped) this.backlogged.delete(pool);
      return wrapped;
    }
    // Otherwise the first waiting record first: an empty queue (the usual answer) costs one query, and
    // so does a first record already past the account; only otherwise is the ring's next step asked.
    const first = await this.firstQueued(queue);
    if (first) this.backlogged.add(pool);
    else this.backlogged.delete(pool);
    if (!first || afterAccount === undefined || (first.sourceAccount ?? '') > afterAccount) return first;
    return (await this.firstQueued(queue, '>', afterAccountKey(afterAccount))) ?? first;
  }

  async expiredClaim(pool: string, now: Date): Promise<InventoryRecord | undefined> {
    return this.firstQueued(claimsQueue(pool), '<', expiredBefore(now));
  }

  async copiesInFlight(pool: string, limit: number): Promise<InventoryRecord[]> {
    return this.queued(copyingQueue(pool), limit);
  }

  async awaitingFollowUp(pool: string): Promise<InventoryRecord[]> {
    return this.partition(this.queueIndex, 'queue', followUpQueue(pool));
  }

  /** One item of the queue index: a query of one partition, `Limit: 1`, above or below a bound. */
  private async firstQueued(queue: string, op?: '<' | '>', bound?: string): Promise<InventoryRecord | undefined> {
    const [first] = await this.queued(queue, 1, op, bound);
    return first;
  }

  /** The first `limit` items of one partition of the queue index, in key order: one query. */
  private async queued(queue: string, limit: number, op?: '<' | '>', bound?: string): Promise<InventoryRecord[]> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: this.queueIndex,
        KeyConditionExpression: op ? '#queue = :queue AND #queueKey ' + op + ' :bound' : '#queue = :queue',
        ExpressionAttributeNames: { '#queue': 'queue', ...(op ? { '#queueKey': 'queueKey' } : {}) },
        ExpressionAttributeValues: { ':queue': queue, ...(op ? { ':bound': bound } : {}) },
        Limit: limit,
      }),
    );
    return (Items ?? []).map(recordOf);
  }

  async list(filter: InventoryFilter = {}): Promise<InventoryRecord[]> {
    const records = filter.status ? await this.listByStatus(filter.status) : await this.scan();
    return records.filter((record) => matchesFilter(record, filter));
  }

  private async scan(): Promise<InventoryRecord[]> {
    const records: InventoryRecord[] = [];
    for await (const page of paginateScan({ client: this.doc }, { TableName: this.tableName })) {
      const items = (page.Items ?? []).filter((item) => !isBookkeeping(String(item.artifactId)) && !isPulledItem(item));
      records.push(...items.map(recordOf));
    }
    return records;
  }
}
