/**
 * The source account's tables through the puller role: DynamoDB reads,
 * exports into the source account's own staging bucket, and reads of that
 * bucket. Every call is made with the puller's credentials; nothing here
 * touches the backup account. Items cross the port as DynamoDB JSON with
 * binary values in base64, the export files' own form.
 */
import {
  type AttributeValue,
  DescribeContinuousBackupsCommand,
  DescribeExportCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ExportTableToPointInTimeCommand,
  ListTagsOfResourceCommand,
  paginateListTables,
  ResourceNotFoundException,
  ScanCommand,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import type {
  AttributeDefinition,
  ExportRequest,
  ExportStatus,
  IndexSpec,
  Item,
  KeySchemaElement,
  PitrState,
  Projection,
  ScanPage,
  ScanPageRequest,
  TableSource,
  TableSpec,
  TableSummary,
} from '../../core/pull/dynamodb/types';
import { type AwsContext, clientConfig } from '../aws-context';

type Json = Record<string, unknown>;

/** An SDK attribute value as DynamoDB JSON (binary as base64). */
function valueToJson(value: AttributeValue): Json {
  const v = value as unknown as Record<string, unknown>;
  if (v.B instanceof Uint8Array) return { B: Buffer.from(v.B).toString('base64') };
  if (Array.isArray(v.BS)) return { BS: (v.BS as Uint8Array[]).map((b) => Buffer.from(b).toString('base64')) };
  if (v.M) return { M: itemToJson(v.M as Record<string, AttributeValue>) };
  if (Array.isArray(v.L)) return { L: (v.L as AttributeValue[]).map(valueToJson) };
  const [type] = Object.keys(v).filter((k) => v[k] !== undefined && k !== '$unknown');
  return { [type]: v[type] };
}

function valueFromJson(value: Json): AttributeValue {
  if (typeof value.B === 'string') return { B: Buffer.from(value.B, 'base64') };
  if (Array.isArray(value.BS)) return { BS: (value.BS as string[]).map((b) => Buffer.from(b, 'base64')) };
  if (value.M) return { M: itemFromJson(value.M as Item) };
  if (Array.isArray(value.L)) return { L: (value.L as Json[]).map(valueFromJson) };
  return value as unknown as AttributeValue;
}

export function itemToJson(item: Record<string, AttributeValue>): Item {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, valueToJson(value)]));
}

export function itemFromJson(item: Item): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, valueFromJson(value as Json)]));
}

const capacity = (throughput?: { ReadCapacityUnits?: number; WriteCapacityUnits?: number }) =>
  throughput?.ReadCapacityUnits
    ? { read: throughput.ReadCapacityUnits, write: throughput.WriteCapacityUnits ?? 0 }
    : undefined;

const projectionOf = (projection?: { ProjectionType?: string; NonKeyAttributes?: string[] }): Projection => ({
  ProjectionType: (projection?.ProjectionType ?? 'ALL') as Projection['ProjectionType'],
  ...(projection?.NonKeyAttributes?.length ? { NonKeyAttributes: [...projection.NonKeyAttributes] } : {}),
});

/** DescribeTable, DescribeTimeToLive and DescribeContinuousBackups as a {@link TableSpec}; undefined when gone. */
export async function describeTableSpec(client: DynamoDBClient, name: string): Promise<TableSpec | undefined> {
  let table: TableDescription | undefined;
  try {
    table = (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
  if (!table?.TableArn) return undefined;
  const [ttl, backups] = await Promise.all([
    client.send(new DescribeTimeToLiveCommand({ TableName: name })),
    client.send(new DescribeContinuousBackupsCommand({ TableName: name })),
  ]);
  const provisioned = table.BillingModeSummary?.BillingMode !== 'PAY_PER_REQUEST';
  const ttlOn = ttl.TimeToLiveDescription?.TimeToLiveStatus === 'ENABLED';
  return {
    name,
    arn: table.TableArn,
    keySchema: (table.KeySchema ?? []) as KeySchemaElement[],
    attributeDefinitions: (table.AttributeDefinitions ?? []) as AttributeDefinition[],
    billingMode: provisioned ? 'PROVISIONED' : 'PAY_PER_REQUEST',
    ...(provisioned ? { provisioned: capacity(table.ProvisionedThroughput) } : {}),
    localIndexes: (table.LocalSecondaryIndexes ?? []).map((index): IndexSpec => ({
      name: index.IndexName ?? '',
      keySchema: (index.KeySchema ?? []) as KeySchemaElement[],
      projection: projectionOf(index.Projection),
    })),
    globalIndexes: (table.GlobalSecondaryIndexes ?? []).map((index): IndexSpec => ({
      name: index.IndexName ?? '',
      keySchema: (index.KeySchema ?? []) as KeySchemaElement[],
      projection: projectionOf(index.Projection),
      ...(provisioned ? { provisioned: capacity(index.ProvisionedThroughput) } : {}),
    })),
    ...(table.StreamSpecification?.StreamEnabled ? { streamViewType: table.StreamSpecification.StreamViewType } : {}),
    ...(ttlOn && ttl.TimeToLiveDescription?.AttributeName
      ? { ttlAttribute: ttl.TimeToLiveDescription.AttributeName }
      : {}),
    pointInTimeRecovery:
      backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus === 'ENABLED',
    ...(table.TableClassSummary?.TableClass ? { tableClass: table.TableClassSummary.TableClass } : {}),
    ...(table.SSEDescription?.SSEType ? { sseType: table.SSEDescription.SSEType } : {}),
  };
}

export class SdkTableSource implements TableSource {
  private readonly dynamo: DynamoDBClient;
  private readonly s3: S3Client;

  /**
   * @param context - the puller role's credentials in the source account and Region
   * @param stagingBucket - `exportBucketName(prefix, account, region)`: the source account's own bucket
   * @param stagingOwner - the source account, named to DynamoDB as the bucket's owner
   */
  constructor(
    context: AwsContext,
    private readonly stagingBucket: string,
    private readonly stagingOwner: string,
  ) {
    this.dynamo = new DynamoDBClient(clientConfig(context));
    this.s3 = new S3Client({ ...clientConfig(context), forcePathStyle: context.endpoint !== undefined });
  }

  async listTables(): Promise<TableSummary[]> {
    const names: string[] = [];
    for await (const page of paginateListTables({ client: this.dynamo }, {})) names.push(...(page.TableNames ?? []));
    const tables: TableSummary[] = [];
    for (const name of names) {
      const spec = await this.dynamo.send(new DescribeTableCommand({ TableName: name })).catch((error: unknown) => {
        if (error instanceof ResourceNotFoundException) return undefined;
        throw error;
      });
      const arn = spec?.Table?.TableArn;
      if (!arn) continue;
      // ListTagsOfResource has no SDK paginator; a table has at most 50 tags, one page.
      const { Tags } = await this.dynamo.send(new ListTagsOfResourceCommand({ ResourceArn: arn }));
      tables.push({ name, arn, tags: Object.fromEntries((Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) });
    }
    return tables;
  }

  describeTable(name: string): Promise<TableSpec | undefined> {
    return describeTableSpec(this.dynamo, name);
  }

  async pitr(name: string): Promise<PitrState> {
    const { ContinuousBackupsDescription: backups } = await this.dynamo.send(
      new DescribeContinuousBackupsCommand({ TableName: name }),
    );
    const pitr = backups?.PointInTimeRecoveryDescription;
    if (pitr?.PointInTimeRecoveryStatus !== 'ENABLED') return { enabled: false };
    return {
      enabled: true,
      ...(pitr.EarliestRestorableDateTime ? { earliestRestorable: pitr.EarliestRestorableDateTime } : {}),
      ...(pitr.LatestRestorableDateTime ? { latestRestorable: pitr.LatestRestorableDateTime } : {}),
    };
  }

  async scanPage(request: ScanPageRequest): Promise<ScanPage> {
    const page = await this.dynamo.send(
      new ScanCommand({
        TableName: request.table,
        Segment: request.segment,
        TotalSegments: request.totalSegments,
        Limit: request.limit,
        ReturnConsumedCapacity: 'TOTAL',
        ...(request.startKey ? { ExclusiveStartKey: itemFromJson(request.startKey) } : {}),
      }),
    );
    return {
      items: (page.Items ?? []).map(itemToJson),
      consumed: page.ConsumedCapacity?.CapacityUnits ?? 0,
      ...(page.LastEvaluatedKey ? { lastKey: itemToJson(page.LastEvaluatedKey) } : {}),
    };
  }

  async startExport(request: ExportRequest): Promise<{ arn: string }> {
    const { ExportDescription } = await this.dynamo.send(
      new ExportTableToPointInTimeCommand({
        TableArn: request.tableArn,
        S3Bucket: this.stagingBucket,
        S3BucketOwner: this.stagingOwner,
        S3Prefix: request.prefix,
        ExportFormat: 'DYNAMODB_JSON',
        ExportType: request.type,
        ClientToken: request.clientToken,
        ...(request.type === 'FULL_EXPORT'
          ? { ExportTime: request.exportTime }
          : {
              IncrementalExportSpecification: {
                ExportFromTime: request.from,
                ExportToTime: request.to,
                ExportViewType: 'NEW_AND_OLD_IMAGES',
              },
            }),
      }),
    );
    if (!ExportDescription?.ExportArn) throw new Error(`ExportTableToPointInTime answered no ExportArn`);
    return { arn: ExportDescription.ExportArn };
  }

  async describeExport(arn: string): Promise<ExportStatus> {
    const { ExportDescription: d } = await this.dynamo.send(new DescribeExportCommand({ ExportArn: arn }));
    const status = (d?.ExportStatus ?? 'IN_PROGRESS') as ExportStatus['status'];
    const failure = [d?.FailureCode, d?.FailureMessage].filter(Boolean).join(': ');
    return {
      arn,
      status,
      ...(failure ? { failure } : {}),
      ...(d?.ExportManifest ? { manifestKey: d.ExportManifest } : {}),
    };
  }

  async readStaging(key: string): Promise<Uint8Array | undefined> {
    try {
      const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.stagingBucket, Key: key }));
      return Body ? await Body.transformToByteArray() : undefined;
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  destroy(): void {
    this.dynamo.destroy();
    this.s3.destroy();
  }
}
