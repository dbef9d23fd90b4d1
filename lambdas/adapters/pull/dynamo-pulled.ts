/**
 * The pulled records on DynamoDB, in the inventory table next to the copy
 * records: keyed `artifactId`, listed per run through the `by-pull-scope`
 * index (`pullScope`, `artifactId`). Writes are conditional on `version`,
 * as for the copy records. Run records (`pull-run:…`) have no `pullScope`,
 * so the index never lists them.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, paginateQuery, paginateScan } from '@aws-sdk/lib-dynamodb';
import {
  type PulledConfigKey,
  type PulledInventory,
  type PulledKindName,
  type PulledRecord,
  type PullRunRecord,
  pullRunId,
  pullScopeOf,
} from '../../core/pull/types';
import { putNew, putOver, sendConditionalPut } from '../dynamo-conditional';

export class DynamoPulledInventory implements PulledInventory {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly pullScopeIndex: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(artifactId: string): Promise<PulledRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { artifactId }, ConsistentRead: true }),
    );
    return Item?.pullScope ? (Item as PulledRecord) : undefined;
  }

  async listScope(kind: PulledKindName, account: string, region: string): Promise<PulledRecord[]> {
    const records: PulledRecord[] = [];
    const pages = paginateQuery(
      { client: this.doc },
      {
        TableName: this.tableName,
        IndexName: this.pullScopeIndex,
        KeyConditionExpression: 'pullScope = :scope',
        ExpressionAttributeValues: { ':scope': pullScopeOf(kind, account, region) },
      },
    );
    for await (const page of pages) records.push(...((page.Items ?? []) as PulledRecord[]));
    return records;
  }

  async list(): Promise<PulledRecord[]> {
    const records: PulledRecord[] = [];
    const pages = paginateScan(
      { client: this.doc },
      { TableName: this.tableName, FilterExpression: 'attribute_exists(pullScope)' },
    );
    for await (const page of pages) records.push(...((page.Items ?? []) as PulledRecord[]));
    return records;
  }

  async create(record: PulledRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putNew(this.tableName, record));
  }

  async replace(expected: PulledRecord, next: PulledRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putOver(this.tableName, expected, next));
  }

  async getRun(kind: PulledConfigKey, account: string, region: string): Promise<PullRunRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { artifactId: pullRunId(kind, account, region) },
        ConsistentRead: true,
      }),
    );
    return Item as PullRunRecord | undefined;
  }

  /** The last run's record replaces the one before: it is a report, not a history. */
  async putRun(run: PullRunRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: run }));
  }
}
