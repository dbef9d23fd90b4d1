/**
 * The inventory on DynamoDB: one item per backup copy (or rejected message),
 * keyed by `artifactId`, with a `status` index for the sweep and the CLI.
 * Every write is conditional, so two workers racing on one record can never
 * both win.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
} from '@aws-sdk/lib-dynamodb';
import { type CopyStatus, type InventoryFilter, type InventoryRecord, matchesFilter } from '../core/inventory';
import type { Inventory } from '../core/ports';

const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error as { name?: string })?.name === 'ConditionalCheckFailedException';

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
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: record,
          ConditionExpression: 'attribute_not_exists(artifactId)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async replace(expected: InventoryRecord, next: InventoryRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: next,
          ConditionExpression: '#status = :status AND updatedAt = :updatedAt',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':status': expected.status, ':updatedAt': expected.updatedAt },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
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
      records.push(...((page.Items ?? []) as InventoryRecord[]));
    }
    return records;
  }
}
