/**
 * Recovery requests on DynamoDB, in the inventory table next to the copy
 * records (`recovery:<id>`). Items carry a `recovery` attribute, so the
 * copy inventory's scans (`isPulledItem` in ../dynamo-inventory.ts) pass
 * them by. Every write is conditional on the item's `version`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { type RecoveryRequest, type RecoveryRequests, recoveryItemId } from '../../core/recovery/types';
import { putNew, putOver, sendConditionalPut } from '../dynamo-conditional';

export class DynamoRecoveryRequests implements RecoveryRequests {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(id: string): Promise<RecoveryRequest | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { artifactId: recoveryItemId(id) }, ConsistentRead: true }),
    );
    return Item as RecoveryRequest | undefined;
  }

  async create(request: RecoveryRequest): Promise<boolean> {
    return sendConditionalPut(this.doc, putNew(this.tableName, request));
  }

  async replace(expected: RecoveryRequest, next: RecoveryRequest): Promise<boolean> {
    return sendConditionalPut(this.doc, putOver(this.tableName, expected, next));
  }

  async list(): Promise<RecoveryRequest[]> {
    const requests: RecoveryRequest[] = [];
    const pages = paginateScan(
      { client: this.doc },
      {
        TableName: this.tableName,
        FilterExpression: 'attribute_exists(#recovery)',
        ExpressionAttributeNames: { '#recovery': 'recovery' },
      },
    );
    for await (const page of pages) requests.push(...((page.Items ?? []) as RecoveryRequest[]));
    return requests.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt) || a.id.localeCompare(b.id));
  }
}
