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
 * fails atomically, however many Lambdas run.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { type CopyStatus, type InventoryFilter, type InventoryRecord, matchesFilter } from '../core/inventory';
import type { Inventory } from '../core/ports';
import { cancelledConditions, isConditionFailure, putNew, putOver, sendConditionalPut } from './dynamo-conditional';

const SLOTS_PREFIX = 'slots:copying:';

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
  (item as { kind?: unknown }).kind === 'pull-run';
const slotsKey = (pool: string) => ({ artifactId: `${SLOTS_PREFIX}${pool}` });

function poolOfRecord(record: InventoryRecord): string {
  if (!record.pool) throw new Error(`record ${record.artifactId} has no copy pool`);
  return record.pool;
}

export class DynamoInventory implements Inventory {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly statusIndex: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(artifactId: string): Promise<InventoryRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { artifactId }, ConsistentRead: true }),
    );
    return Item as InventoryRecord | undefined;
  }

  async create(record: InventoryRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putNew(this.tableName, record));
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
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: putOver(this.tableName, expected, next) },
              { Update: this.slotChange(poolOfRecord(expected), -1) },
            ],
          }),
        );
      } else {
        await this.doc.send(new PutCommand(putOver(this.tableName, expected, next)));
      }
      return true;
    } catch (error) {
      if (isConditionFailure(error) || cancelledConditions(error)?.[0]) return false;
      throw error;
    }
  }

  async claimCopy(
    expected: InventoryRecord,
    next: InventoryRecord,
    limit: number,
  ): Promise<'claimed' | 'conflict' | 'full'> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: putOver(this.tableName, expected, next) },
            { Update: this.slotChange(poolOfRecord(next), 1, limit) },
          ],
        }),
      );
      return 'claimed';
    } catch (error) {
      const failed = cancelledConditions(error);
      if (failed?.[0]) return 'conflict';
      if (failed?.[1]) return 'full';
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
    const records: InventoryRecord[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tableName,
        IndexName: this.statusIndex,
        KeyConditionExpression: '#status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':status': status },
      },
    );
    for await (const page of pages) records.push(...((page.Items ?? []) as InventoryRecord[]));
    return records;
  }

  async list(filter: InventoryFilter = {}): Promise<InventoryRecord[]> {
    const records = filter.status ? await this.listByStatus(filter.status) : await this.scan();
    return records.filter((record) => matchesFilter(record, filter));
  }

  private async scan(): Promise<InventoryRecord[]> {
    const records: InventoryRecord[] = [];
    for await (const page of paginateScan({ client: this.doc }, { TableName: this.tableName })) {
      const items = (page.Items ?? []) as InventoryRecord[];
      records.push(...items.filter((item) => !item.artifactId.startsWith(SLOTS_PREFIX) && !isPulledItem(item)));
    }
    return records;
  }
}
