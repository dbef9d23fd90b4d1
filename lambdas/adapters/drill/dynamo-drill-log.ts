/**
 * Drill results on DynamoDB, in the inventory table next to the copy
 * records: one item per resource (`drill:<kind>:<account>:<region>:<resource>`,
 * {@link drillItemId}) holding its latest drill and its last passed one.
 * Items carry a `drill` attribute so the copy inventory's scans pass them
 * by. A write is conditional on the item's `version`, so two drills of one
 * resource finishing at once both land, one after the other.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import {
  type DrillKind,
  type DrillLog,
  type DrillResult,
  type DrillSummary,
  drillItemId,
} from '../../core/drill/types';
import { type DrillItem, summaryAfter, summaryOf } from '../../core/drill/log';
import { isConditionFailure, putNew, putOver } from '../dynamo-conditional';

export class DynamoDrillLog implements DrillLog {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async record(result: DrillResult): Promise<void> {
    const artifactId = drillItemId(result.subject);
    // A lost race re-reads and writes again: the other drill's result is kept as it should be.
    for (;;) {
      const { Item } = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { artifactId }, ConsistentRead: true }),
      );
      const stored = Item as DrillItem | undefined;
      const next = summaryAfter(stored, result);
      try {
        await this.doc.send(
          new PutCommand(stored ? putOver(this.tableName, stored, next) : putNew(this.tableName, next)),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }

  async latest(filter: { readonly account?: string; readonly kind?: DrillKind } = {}): Promise<DrillSummary[]> {
    const summaries: DrillSummary[] = [];
    const pages = paginateScan(
      { client: this.doc },
      {
        TableName: this.tableName,
        FilterExpression: 'attribute_exists(#drill)',
        ExpressionAttributeNames: { '#drill': 'drill' },
      },
    );
    for await (const page of pages) {
      for (const item of (page.Items ?? []) as DrillItem[]) {
        if (filter.account !== undefined && item.account !== filter.account) continue;
        if (filter.kind !== undefined && item.kind !== filter.kind) continue;
        summaries.push(summaryOf(item));
      }
    }
    return summaries.sort((a, b) => drillItemId(a).localeCompare(drillItemId(b)));
  }
}
