/**
 * The source backlog board on DynamoDB (`SourceBacklogs`,
 * lambdas/core/pipeline/backlog.ts): one item per pool and source account
 * in the inventory table, keyed `backlog:<pool>|<account>`, beside the copy
 * records it orders. Not a table of its own: the inventory's sparse queue
 * index already sorts within a partition, so "the longest backlog of a
 * pool" is one `Limit: 1` query of it, and the vault functions' rights on
 * the table and its indexes already cover the board.
 *
 * While an entry's backlog is above 0 the item carries the queue index's
 * attributes: `queue` = `backlog:<pool>` (no copy record's queue starts so)
 * and `queueKey` = `<999999 - backlog, 6 digits>#<account>`, so the
 * longest backlog sorts first and, on a tie, the lowest account. A report
 * of 0 keeps the item without them: the entry leaves the index, and its
 * `at` still refuses a late, older report of a backlog that is gone.
 *
 * Every report is one `PutItem` conditional on the stored `at` being no
 * newer, so reports racing from several intake containers keep the newest.
 * Each item expires by the table's TTL (`expiresAt`) a day after its report
 * ({@link BACKLOG_EXPIRY_MS}): the core lets a stale entry go itself (`forget`,
 * one conditional delete) when a board turn finds none of its account's
 * records waiting, and the TTL removes what no turn let go.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { QUEUE_INDEX } from '../core/inventory';
import { BACKLOG_EXPIRY_MS, type BacklogEntry, type SourceBacklogs } from '../core/pipeline/backlog';
import { isConditionFailure } from './dynamo-conditional';

/** The key prefix of the board's items: the inventory's readers leave them out. */
export const BACKLOG_PREFIX = 'backlog:';
/** Backlogs sort by their complement to this, in as many digits: a notification bounds a backlog to 100,000. */
const BACKLOG_CEILING = 999_999;

/** The board item's key of `account` in `pool`. */
export const backlogKey = (pool: string, account: string) => ({ artifactId: `${BACKLOG_PREFIX}${pool}|${account}` });

/** The queue index partition of `pool`'s board. */
export const backlogQueue = (pool: string) => `${BACKLOG_PREFIX}${pool}`;

/** The entry's sort key in its queue: the longest backlog first, the lowest account first on a tie. */
export function backlogQueueKey(backlog: number, account: string): string {
  const rank = BACKLOG_CEILING - Math.min(Math.max(Math.trunc(backlog), 0), BACKLOG_CEILING);
  return `${String(rank).padStart(6, '0')}#${account}`;
}

interface BacklogItem {
  readonly artifactId: string;
  readonly pool: string;
  readonly account: string;
  readonly backlog: number;
  readonly at: string;
  /** Epoch seconds: the table's TTL attribute. */
  readonly expiresAt: number;
  readonly queue?: string;
  readonly queueKey?: string;
}

export class DynamoSourceBacklogs implements SourceBacklogs {
  private readonly doc: DynamoDBDocumentClient;
  /**
   * The read of each pool's board in flight: intake handles an SQS batch's
   * records at once, and each may free a slot on a backlog turn before the
   * container's first read is remembered (`RingMemory`), so concurrent
   * reads of one pool share one request.
   */
  private readonly reading = new Map<string, Promise<BacklogEntry | undefined>>();

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly queueIndex: string = QUEUE_INDEX,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async report(pool: string, entry: BacklogEntry): Promise<void> {
    const listed = entry.backlog > 0;
    const item: BacklogItem = {
      ...backlogKey(pool, entry.account),
      pool,
      account: entry.account,
      backlog: entry.backlog,
      at: entry.at,
      expiresAt: Math.floor((Date.parse(entry.at) + BACKLOG_EXPIRY_MS) / 1000),
      ...(listed ? { queue: backlogQueue(pool), queueKey: backlogQueueKey(entry.backlog, entry.account) } : {}),
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          // ISO 8601 instants of one format compare as strings; an equal `at` is the same report again.
          ConditionExpression: 'attribute_not_exists(artifactId) OR #at <= :at',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':at': entry.at },
        }),
      );
    } catch (error) {
      // A newer report is recorded: this one lost, which is the answer, not a failure.
      if (!isConditionFailure(error)) throw error;
    }
  }

  longest(pool: string): Promise<BacklogEntry | undefined> {
    const inFlight = this.reading.get(pool);
    if (inFlight) return inFlight;
    const read = this.readLongest(pool).finally(() => this.reading.delete(pool));
    this.reading.set(pool, read);
    return read;
  }

  private async readLongest(pool: string): Promise<BacklogEntry | undefined> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: this.queueIndex,
        KeyConditionExpression: '#queue = :queue',
        ExpressionAttributeNames: { '#queue': 'queue' },
        ExpressionAttributeValues: { ':queue': backlogQueue(pool) },
        Limit: 1,
      }),
    );
    const item = Items?.[0] as BacklogItem | undefined;
    return item ? { account: item.account, backlog: Number(item.backlog), at: item.at } : undefined;
  }

  async forget(pool: string, account: string, at: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: backlogKey(pool, account),
          ConditionExpression: '#at = :at',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':at': at },
        }),
      );
    } catch (error) {
      // A newer report replaced it (or it is gone): nothing stale is left to forget.
      if (!isConditionFailure(error)) throw error;
    }
  }
}
