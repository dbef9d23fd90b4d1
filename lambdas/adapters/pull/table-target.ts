/**
 * Where a table restore writes: DynamoDB in the target account and Region
 * (the operator's credentials there). The table is created from the
 * manifest's description, so its indexes, billing, stream, TTL and
 * point-in-time recovery come back as they were.
 */
import {
  BatchWriteItemCommand,
  type CreateTableCommandInput,
  CreateTableCommand,
  DynamoDBClient,
  ImportTableCommand,
  paginateScan,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilImportCompleted,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Item, TableSpec, TableTarget, WriteResult } from '../../core/pull/dynamodb/types';
import { type AwsContext, clientConfig } from '../aws-context';
import { describeTableSpec, itemFromJson, itemToJson } from './table-source';

const WAIT_SECONDS = 600;

const throughput = (c?: { read: number; write: number }) =>
  c ? { ReadCapacityUnits: c.read, WriteCapacityUnits: c.write } : undefined;

/** CreateTable's parameters from a manifest's table (ImportTable takes the same without local indexes). */
export function createTableInput(name: string, spec: TableSpec): CreateTableCommandInput {
  const provisioned = spec.billingMode === 'PROVISIONED';
  return {
    TableName: name,
    KeySchema: [...spec.keySchema],
    AttributeDefinitions: [...spec.attributeDefinitions],
    BillingMode: spec.billingMode,
    ...(provisioned ? { ProvisionedThroughput: throughput(spec.provisioned) } : {}),
    ...(spec.localIndexes.length
      ? {
          LocalSecondaryIndexes: spec.localIndexes.map((index) => ({
            IndexName: index.name,
            KeySchema: [...index.keySchema],
            Projection: { ...index.projection, NonKeyAttributes: index.projection.NonKeyAttributes?.slice() },
          })),
        }
      : {}),
    ...(spec.globalIndexes.length
      ? {
          GlobalSecondaryIndexes: spec.globalIndexes.map((index) => ({
            IndexName: index.name,
            KeySchema: [...index.keySchema],
            Projection: { ...index.projection, NonKeyAttributes: index.projection.NonKeyAttributes?.slice() },
            ...(provisioned ? { ProvisionedThroughput: throughput(index.provisioned) } : {}),
          })),
        }
      : {}),
    ...(spec.streamViewType
      ? {
          StreamSpecification: {
            StreamEnabled: true,
            StreamViewType: spec.streamViewType as 'NEW_AND_OLD_IMAGES',
          },
        }
      : {}),
    ...(spec.tableClass ? { TableClass: spec.tableClass as 'STANDARD' } : {}),
    // A source key is the source account's: the restored table gets the target's AWS-managed KMS key.
    ...(spec.sseType === 'KMS' ? { SSESpecification: { Enabled: true, SSEType: 'KMS' as const } } : {}),
  };
}

export interface SdkTableTargetOptions {
  /**
   * A bucket of the target account for ImportTable's input. Without one the
   * target offers no import and every restore loads with BatchWriteItem.
   */
  readonly importBucket?: string;
}

export class SdkTableTarget implements TableTarget {
  private readonly dynamo: DynamoDBClient;
  private readonly s3: S3Client;
  readonly importTable?: (name: string, spec: TableSpec, files: { name: string; body: Uint8Array }[]) => Promise<void>;

  constructor(context: AwsContext, options: SdkTableTargetOptions = {}) {
    this.dynamo = new DynamoDBClient(clientConfig(context));
    this.s3 = new S3Client({ ...clientConfig(context), forcePathStyle: context.endpoint !== undefined });
    const bucket = options.importBucket;
    if (bucket) this.importTable = (name, spec, files) => this.importInto(bucket, name, spec, files);
  }

  /** TTL and point-in-time recovery are settings of their own, made once the table is ACTIVE. */
  private async settle(name: string, spec: TableSpec): Promise<void> {
    await waitUntilTableExists(
      { client: this.dynamo, maxWaitTime: WAIT_SECONDS, minDelay: 1, maxDelay: 20 },
      { TableName: name },
    );
    if (spec.ttlAttribute) {
      await this.dynamo.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { Enabled: true, AttributeName: spec.ttlAttribute },
        }),
      );
    }
    if (spec.pointInTimeRecovery) {
      await this.dynamo.send(
        new UpdateContinuousBackupsCommand({
          TableName: name,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      );
    }
  }

  async createTable(name: string, spec: TableSpec): Promise<void> {
    await this.dynamo.send(new CreateTableCommand(createTableInput(name, spec)));
    await this.settle(name, spec);
  }

  private async importInto(
    bucket: string,
    name: string,
    spec: TableSpec,
    files: { name: string; body: Uint8Array }[],
  ): Promise<void> {
    if (spec.localIndexes.length > 0) throw new Error('ImportTable cannot create local secondary indexes');
    const prefix = `bunker-restore/${name}/${Date.now()}/`;
    for (const file of files) {
      await this.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${file.name}`, Body: file.body }));
    }
    const input = createTableInput(name, spec);
    const { ImportTableDescription } = await this.dynamo.send(
      new ImportTableCommand({
        S3BucketSource: { S3Bucket: bucket, S3KeyPrefix: prefix },
        InputFormat: 'DYNAMODB_JSON',
        InputCompressionType: 'GZIP',
        TableCreationParameters: {
          TableName: name,
          KeySchema: input.KeySchema,
          AttributeDefinitions: input.AttributeDefinitions,
          BillingMode: input.BillingMode,
          ProvisionedThroughput: input.ProvisionedThroughput,
          GlobalSecondaryIndexes: input.GlobalSecondaryIndexes,
        },
      }),
    );
    const importArn = ImportTableDescription?.ImportArn;
    if (!importArn) throw new Error('ImportTable answered no ImportArn');
    await waitUntilImportCompleted(
      { client: this.dynamo, maxWaitTime: WAIT_SECONDS, minDelay: 1, maxDelay: 30 },
      { ImportArn: importArn },
    );
    await this.settle(name, spec);
    // ImportTable takes no stream specification: the stream is turned on once the table is there.
    if (input.StreamSpecification) {
      await this.dynamo.send(
        new UpdateTableCommand({ TableName: name, StreamSpecification: input.StreamSpecification }),
      );
      await waitUntilTableExists(
        { client: this.dynamo, maxWaitTime: WAIT_SECONDS, minDelay: 1, maxDelay: 20 },
        { TableName: name },
      );
    }
  }

  async batchPut(name: string, items: Item[]): Promise<WriteResult> {
    const { UnprocessedItems } = await this.dynamo.send(
      new BatchWriteItemCommand({
        RequestItems: { [name]: items.map((item) => ({ PutRequest: { Item: itemFromJson(item) } })) },
      }),
    );
    const left = UnprocessedItems?.[name] ?? [];
    return {
      unprocessed: left.flatMap((request) => (request.PutRequest?.Item ? [itemToJson(request.PutRequest.Item)] : [])),
    };
  }

  async *scanAll(name: string): AsyncIterable<Item[]> {
    for await (const page of paginateScan({ client: this.dynamo }, { TableName: name, ConsistentRead: true })) {
      yield (page.Items ?? []).map(itemToJson);
    }
  }

  describeTable(name: string): Promise<TableSpec | undefined> {
    return describeTableSpec(this.dynamo, name);
  }

  destroy(): void {
    this.dynamo.destroy();
    this.s3.destroy();
  }
}
