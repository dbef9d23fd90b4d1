/**
 * DynamoDB exports, the change log, the recovery window and Scan's consumed
 * capacity on the emulator. Plain moto writes one data file at a random key,
 * with a malformed ExportArn, no manifests, no incremental export and one
 * read unit for any Scan: these tests exercise Bunker's launcher extension
 * (tools/moto/bunker_moto.py) with the SDK directly, not through Bunker's
 * adapters, so a failure here is a launcher problem.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeContinuousBackupsCommand,
  DescribeExportCommand,
  DynamoDBClient,
  ExportTableToPointInTimeCommand,
  ListExportsCommand,
  PutItemCommand,
  ScanCommand,
  UpdateContinuousBackupsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { advanceEmulatorClock } from './support/dynamodb-clock';

const REGION = 'eu-west-1';
const endpoint = emulatorEndpoint();
const clients: { destroy(): void }[] = [];
afterAll(() => {
  for (const client of clients.splice(0)) client.destroy();
});

/** A fresh account with a PITR table `t` (hash key `pk`) and a bucket `stage-<account>`. */
async function setup(pitr = true) {
  const id = freshAccountId();
  const config = clientConfig(endpoint, id, REGION);
  const dynamo = new DynamoDBClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  clients.push(dynamo, s3);
  const bucket = `stage-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));
  const { TableDescription } = await dynamo.send(
    new CreateTableCommand({
      TableName: 't',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const setPitr = (enabled: boolean) =>
    dynamo.send(
      new UpdateContinuousBackupsCommand({
        TableName: 't',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: enabled },
      }),
    );
  if (pitr) await setPitr(true);
  let offset = 0;
  const advance = async (seconds: number) => {
    offset += seconds;
    await advanceEmulatorClock(endpoint, id, offset);
  };
  const now = () => new Date(Date.now() + offset * 1000);
  const object = async (key: string) => {
    const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from((await Body?.transformToByteArray()) ?? []);
  };
  return { id, dynamo, s3, bucket, tableArn: TableDescription?.TableArn as string, setPitr, advance, now, object };
}

type Setup = Awaited<ReturnType<typeof setup>>;

const put = (s: Setup, pk: string, v: string) =>
  s.dynamo.send(new PutItemCommand({ TableName: 't', Item: { pk: { S: pk }, v: { S: v } } }));

/** Sets `v` by UpdateItem, the change an export must see as well as a put's. */
const update = (s: Setup, pk: string, v: string) =>
  s.dynamo.send(
    new UpdateItemCommand({
      TableName: 't',
      Key: { pk: { S: pk } },
      UpdateExpression: 'SET v = :v',
      ExpressionAttributeValues: { ':v': { S: v } },
    }),
  );

const remove = (s: Setup, pk: string) =>
  s.dynamo.send(new DeleteItemCommand({ TableName: 't', Key: { pk: { S: pk } } }));

/** The lines of every data file of a completed export, each file checked against manifest-files.json. */
async function exportLines(s: Setup, exportArn: string): Promise<Record<string, unknown>[]> {
  const { ExportDescription } = await s.dynamo.send(new DescribeExportCommand({ ExportArn: exportArn }));
  expect(ExportDescription?.ExportStatus).toBe('COMPLETED');
  const summary = JSON.parse((await s.object(ExportDescription?.ExportManifest as string)).toString()) as {
    manifestFilesS3Key: string;
  };
  const lines: Record<string, unknown>[] = [];
  for (const entry of (await s.object(summary.manifestFilesS3Key)).toString().split('\n').filter(Boolean)) {
    const file = JSON.parse(entry) as { dataFileS3Key: string; itemCount: number; md5Checksum: string };
    const body = await s.object(file.dataFileS3Key);
    expect(createHash('md5').update(body).digest('base64')).toBe(file.md5Checksum);
    const decoded = gunzipSync(body)
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(decoded).toHaveLength(file.itemCount);
    lines.push(...decoded);
  }
  return lines;
}

describe('emulator launcher: DynamoDB', () => {
  it('ExportTableToPointInTime writes AWS layout under <S3Prefix>/AWSDynamoDB/<exportId>/ with a well-formed ExportArn', async () => {
    const s = await setup();
    await put(s, 'a', '1');
    await put(s, 'b', '2');
    await s.advance(60);
    const { ExportDescription: started } = await s.dynamo.send(
      new ExportTableToPointInTimeCommand({
        TableArn: s.tableArn,
        S3Bucket: s.bucket,
        S3BucketOwner: s.id,
        S3Prefix: 'exports/t',
        ExportFormat: 'DYNAMODB_JSON',
      }),
    );
    const arn = started?.ExportArn as string;
    expect(arn).toMatch(new RegExp(`^arn:aws:dynamodb:eu-west-1:${s.id}:table/t/export/\\d{13}-[0-9a-f]{8}$`));
    expect(started?.ExportStatus).toBe('IN_PROGRESS');
    const exportId = arn.split('/').pop() as string;
    const { ExportDescription: done } = await s.dynamo.send(new DescribeExportCommand({ ExportArn: arn }));
    expect(done).toMatchObject({
      ExportStatus: 'COMPLETED',
      ExportManifest: `exports/t/AWSDynamoDB/${exportId}/manifest-summary.json`,
      ItemCount: 2,
      ExportType: 'FULL_EXPORT',
    });
    const { Contents } = await s.s3.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: 'exports/t/' }));
    const keys = (Contents ?? []).map((o) => o.Key as string).sort();
    expect(keys).toHaveLength(4);
    expect(keys.filter((k) => !k.includes('/data/'))).toEqual([
      `exports/t/AWSDynamoDB/${exportId}/_started`,
      `exports/t/AWSDynamoDB/${exportId}/manifest-files.json`,
      `exports/t/AWSDynamoDB/${exportId}/manifest-summary.json`,
    ]);
    expect(keys.find((k) => k.includes('/data/'))).toMatch(
      new RegExp(`^exports/t/AWSDynamoDB/${exportId}/data/\\w+\\.json\\.gz$`),
    );
    const summary = JSON.parse((await s.object(`exports/t/AWSDynamoDB/${exportId}/manifest-summary.json`)).toString());
    expect(summary).toMatchObject({
      exportArn: arn,
      tableArn: s.tableArn,
      s3Bucket: s.bucket,
      s3Prefix: 'exports/t',
      manifestFilesS3Key: `exports/t/AWSDynamoDB/${exportId}/manifest-files.json`,
      itemCount: 2,
      outputFormat: 'DYNAMODB_JSON',
      exportType: 'FULL_EXPORT',
    });
    const lines = await exportLines(s, arn);
    expect(lines.sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))).toEqual([
      { Item: { pk: { S: 'a' }, v: { S: '1' } } },
      { Item: { pk: { S: 'b' }, v: { S: '2' } } },
    ]);
    const { ExportSummaries } = await s.dynamo.send(new ListExportsCommand({ TableArn: s.tableArn }));
    expect(ExportSummaries).toEqual([{ ExportArn: arn, ExportStatus: 'COMPLETED', ExportType: 'FULL_EXPORT' }]);
  });

  it('ExportTime is honoured: the export holds the table as it was then', async () => {
    const s = await setup();
    await put(s, 'a', 'before');
    await put(s, 'b', 'kept');
    await s.advance(60);
    const at = s.now();
    await s.advance(60);
    await update(s, 'a', 'after');
    await remove(s, 'b');
    await put(s, 'c', 'new');
    const { ExportDescription } = await s.dynamo.send(
      new ExportTableToPointInTimeCommand({ TableArn: s.tableArn, S3Bucket: s.bucket, S3Prefix: 'p', ExportTime: at }),
    );
    expect(Math.abs((ExportDescription?.ExportTime?.getTime() ?? 0) - at.getTime())).toBeLessThan(1000);
    const lines = await exportLines(s, ExportDescription?.ExportArn as string);
    expect(lines.map((l) => JSON.stringify(l)).sort()).toEqual([
      '{"Item":{"pk":{"S":"a"},"v":{"S":"before"}}}',
      '{"Item":{"pk":{"S":"b"},"v":{"S":"kept"}}}',
    ]);
  });

  it('a repeated ClientToken returns the same export; the same token with other parameters is refused', async () => {
    const s = await setup();
    await s.advance(60);
    const request = {
      TableArn: s.tableArn,
      S3Bucket: s.bucket,
      S3Prefix: 'p',
      ClientToken: 'token-1',
      ExportTime: s.now(),
    };
    const first = await s.dynamo.send(new ExportTableToPointInTimeCommand(request));
    const again = await s.dynamo.send(new ExportTableToPointInTimeCommand(request));
    expect(again.ExportDescription?.ExportArn).toBe(first.ExportDescription?.ExportArn);
    await expect(
      s.dynamo.send(new ExportTableToPointInTimeCommand({ ...request, S3Prefix: 'elsewhere' })),
    ).rejects.toMatchObject({ name: 'ExportConflictException' });
    const { ExportSummaries } = await s.dynamo.send(new ListExportsCommand({ TableArn: s.tableArn }));
    expect(ExportSummaries).toHaveLength(1);
  });

  it('INCREMENTAL_EXPORT holds the window changes of PutItem, UpdateItem, DeleteItem and BatchWriteItem', async () => {
    const s = await setup();
    await put(s, 'a', '1');
    await put(s, 'b', '2');
    await s.advance(60);
    const from = s.now();
    await s.advance(60);
    await put(s, 'a', '10');
    await update(s, 'a', '11');
    await remove(s, 'b');
    await s.dynamo.send(
      new BatchWriteItemCommand({ RequestItems: { t: [{ PutRequest: { Item: { pk: { S: 'c' }, v: { S: '3' } } } }] } }),
    );
    await s.advance(1200);
    const to = s.now();
    await s.advance(60);
    await put(s, 'd', 'after the window');

    await expect(
      s.dynamo.send(
        new ExportTableToPointInTimeCommand({
          TableArn: s.tableArn,
          S3Bucket: s.bucket,
          S3Prefix: 'p',
          ExportType: 'INCREMENTAL_EXPORT',
          IncrementalExportSpecification: { ExportFromTime: from, ExportToTime: new Date(from.getTime() + 600_000) },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });

    const { ExportDescription } = await s.dynamo.send(
      new ExportTableToPointInTimeCommand({
        TableArn: s.tableArn,
        S3Bucket: s.bucket,
        S3Prefix: 'p',
        ExportType: 'INCREMENTAL_EXPORT',
        IncrementalExportSpecification: {
          ExportFromTime: from,
          ExportToTime: to,
          ExportViewType: 'NEW_AND_OLD_IMAGES',
        },
      }),
    );
    expect(ExportDescription?.ExportType).toBe('INCREMENTAL_EXPORT');
    const lines = await exportLines(s, ExportDescription?.ExportArn as string);
    const byKey = Object.fromEntries(
      lines.map((l) => {
        const { Metadata, ...rest } = l as { Metadata: { WriteTimestampMicros: { N: string } } };
        expect(Metadata.WriteTimestampMicros.N).toMatch(/^\d{16}$/);
        return [(l.Keys as { pk: { S: string } }).pk.S, rest];
      }),
    );
    expect(byKey).toEqual({
      a: {
        Keys: { pk: { S: 'a' } },
        NewImage: { pk: { S: 'a' }, v: { S: '11' } },
        OldImage: { pk: { S: 'a' }, v: { S: '1' } },
      },
      b: { Keys: { pk: { S: 'b' } }, OldImage: { pk: { S: 'b' }, v: { S: '2' } } },
      c: { Keys: { pk: { S: 'c' } }, NewImage: { pk: { S: 'c' }, v: { S: '3' } } },
    });
  });

  it('point-in-time recovery off and on again moves EarliestRestorableDateTime; an export from before it is refused', async () => {
    const s = await setup();
    const read = async () =>
      (await s.dynamo.send(new DescribeContinuousBackupsCommand({ TableName: 't' }))).ContinuousBackupsDescription
        ?.PointInTimeRecoveryDescription;
    const first = await read();
    expect(first?.PointInTimeRecoveryStatus).toBe('ENABLED');
    await s.advance(3600);
    expect((await read())?.EarliestRestorableDateTime).toEqual(first?.EarliestRestorableDateTime);
    await s.setPitr(false);
    expect((await read())?.PointInTimeRecoveryStatus).toBe('DISABLED');
    await s.advance(3600);
    await s.setPitr(true);
    const again = await read();
    const moved =
      (again?.EarliestRestorableDateTime?.getTime() ?? 0) - (first?.EarliestRestorableDateTime?.getTime() ?? 0);
    expect(moved).toBeGreaterThanOrEqual(7_200_000);
    expect(moved).toBeLessThan(7_260_000);
    await expect(
      s.dynamo.send(
        new ExportTableToPointInTimeCommand({
          TableArn: s.tableArn,
          S3Bucket: s.bucket,
          S3Prefix: 'p',
          ExportTime: new Date(s.now().getTime() - 1_800_000),
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidExportTimeException' });
  });

  it('Scan reports the read units of what it read: half a unit per 4 KB, a unit when consistent', async () => {
    const s = await setup(false);
    const items = Array.from({ length: 100 }, (_, i) => ({
      PutRequest: { Item: { pk: { S: `item-${String(i).padStart(2, '0')}` }, pad: { S: 'x'.repeat(4000) } } },
    }));
    for (let i = 0; i < 100; i += 25) {
      await s.dynamo.send(new BatchWriteItemCommand({ RequestItems: { t: items.slice(i, i + 25) } }));
    }
    // 100 items of 2 + 7 + 3 + 4,000 bytes: 401,200 bytes, 98 units of 4 KB.
    const eventual = await s.dynamo.send(new ScanCommand({ TableName: 't', ReturnConsumedCapacity: 'TOTAL' }));
    expect(eventual.Count).toBe(100);
    expect(eventual.ConsumedCapacity).toEqual({ TableName: 't', CapacityUnits: 49 });
    const consistent = await s.dynamo.send(
      new ScanCommand({ TableName: 't', ReturnConsumedCapacity: 'TOTAL', ConsistentRead: true }),
    );
    expect(consistent.ConsumedCapacity?.CapacityUnits).toBe(98);
    const page = await s.dynamo.send(new ScanCommand({ TableName: 't', ReturnConsumedCapacity: 'TOTAL', Limit: 10 }));
    expect(page.ConsumedCapacity?.CapacityUnits).toBe(5);
  });

  it('an account clock never goes back', async () => {
    const id = freshAccountId();
    await advanceEmulatorClock(endpoint, id, 120);
    await expect(advanceEmulatorClock(endpoint, id, 60)).rejects.toThrow(/never goes back/);
  });
});
