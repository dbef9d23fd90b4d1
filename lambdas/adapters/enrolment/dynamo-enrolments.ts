/**
 * Enrolment records (`enrolled:<account>`) in the inventory table, written
 * with the same conditional puts as every other record of the table. They
 * carry `enrolment`, never `status`, so the by-status index skips them.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { enrolmentId } from '../../core/enrolment/names';
import type { EnrolmentRecord, Enrolments } from '../../core/enrolment/types';
import { putNew, putOver, sendConditionalPut } from '../dynamo-conditional';

export class DynamoEnrolments implements Enrolments {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(account: string): Promise<EnrolmentRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { artifactId: enrolmentId(account) }, ConsistentRead: true }),
    );
    return Item?.enrolment ? (Item as EnrolmentRecord) : undefined;
  }

  async list(): Promise<EnrolmentRecord[]> {
    const records: EnrolmentRecord[] = [];
    const pages = paginateScan(
      { client: this.doc },
      { TableName: this.tableName, FilterExpression: 'attribute_exists(enrolment)', ConsistentRead: true },
    );
    for await (const page of pages) records.push(...((page.Items ?? []) as EnrolmentRecord[]));
    return records;
  }

  create(record: EnrolmentRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putNew(this.tableName, record));
  }

  replace(expected: EnrolmentRecord, next: EnrolmentRecord): Promise<boolean> {
    return sendConditionalPut(this.doc, putOver(this.tableName, expected, next));
  }
}
