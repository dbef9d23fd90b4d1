/**
 * The audit records on DynamoDB, in the inventory table: keyed `artifactId`
 * (`audit:…`), marked by `auditScope`. They carry `state`, never `status` or
 * `pullScope`, so the status index and the pull-scope index never list
 * them. Writes are conditional on `version`, as for every record of the table.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import type { AuditRecord, AuditRecords } from '../../core/audit/types';
import { putNew, putOver, sendConditionalPut } from '../dynamo-conditional';

export class DynamoAuditRecords implements AuditRecords {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(artifactId: string): Promise<AuditRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { artifactId }, ConsistentRead: true }),
    );
    return Item?.auditScope ? (Item as AuditRecord) : undefined;
  }

  async list(): Promise<AuditRecord[]> {
    const records: AuditRecord[] = [];
    const pages = paginateScan(
      { client: this.doc },
      { TableName: this.tableName, FilterExpression: 'attribute_exists(auditScope)', ConsistentRead: true },
    );
    for await (const page of pages) records.push(...((page.Items ?? []) as AuditRecord[]));
    return records;
  }

  async create(record: AuditRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putNew(this.tableName, record));
  }

  async replace(expected: AuditRecord, next: AuditRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putOver(this.tableName, expected, next));
  }
}
