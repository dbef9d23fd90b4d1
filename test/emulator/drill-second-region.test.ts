/**
 * `bunker drill --endpoint` with `backup.secondRegion`: the second-hop
 * copies are restored in the second Region's own place (made here with the
 * vault stack's names, as the second Region's stack makes it), validated
 * against that Region's backup-data key, timed, torn down, and logged apart
 * from the vault Region's drill of the same resource.
 *
 * The copies are made in the backup account as the pipeline leaves them:
 * an RDS and an EBS copy in the second Region under its key with `available`
 * hop-2 records `<artifactId>@<region>`, the RDS resource's first copy in
 * the vault Region beside it, and a hop-2 record whose copy is missing. The
 * drill items, the alerts and what exists in both Regions before and after
 * are read with boto3. As in drill.test.ts, the restored engine's greeting
 * is the launcher's listener ("launcher: engine greeting") and the EBS
 * volume's key comes from its snapshot through the launcher.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CopyDBSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillOnEmulator } from '../../cli/drill';
import { localContext } from '../../cli/local/accounts';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import type { DrillResult } from '../../lambdas/core/drill/types';
import { newRecord } from '../../lambdas/core/inventory';
import { vaultNames } from '../../lambdas/core/names';
import type { KindName } from '../../lambdas/kinds/types';
import { clientConfig, DEFAULT_TEST_REGION, freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { createDrillPlace } from '../support/drill-place';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { bunkerConfig } from './support/bunker';
import { createPullVault, type PullVault } from './support/pull';
import { ebsSnapshotCopy } from './support/drill-records';

const endpoint = emulatorEndpoint();
const REGION = DEFAULT_TEST_REGION;
const SECOND = 'eu-central-1';
const backup = freshAccountId();
const source = freshAccountId();
const config = bunkerConfig(backup, [source], {
  backup: { account: backup, region: REGION, secondRegion: SECOND },
  artifacts: { rds: { enabled: true }, ebs: { enabled: true } },
});

interface DrillItem {
  artifactId: string;
  resource: string;
  copyRegion: string;
  hop?: string;
  last: DrillResult;
  lastPassed?: DrillResult;
}

/**
 * One boto3 run (each costs a Python start): what a drill could leave behind in each Region, as
 * DRILL_LEFTOVERS_SCRIPT lists it, and with `table` and `queue` the drill items and the alerts.
 */
const READ_SCRIPT = `
from boto3.dynamodb.types import TypeDeserializer
def listing(region):
    rds = boto3.client('rds', endpoint_url=os.environ['BOTO3_ENDPOINT'], region_name=region)
    ec2 = boto3.client('ec2', endpoint_url=os.environ['BOTO3_ENDPOINT'], region_name=region)
    return {
        'dbInstances': sorted(i['DBInstanceIdentifier'] for i in rds.describe_db_instances()['DBInstances']),
        'dbClusters': sorted(c['DBClusterIdentifier'] for c in rds.describe_db_clusters()['DBClusters']),
        'volumes': sorted(v['VolumeId'] for v in ec2.describe_volumes()['Volumes']),
        'instances': sorted(i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances']
                            if i['State']['Name'] != 'terminated'),
    }
result = {'listing': {region: listing(region) for region in ARGS['regions']}}
if 'table' in ARGS:
    d = TypeDeserializer()
    found = client('dynamodb').scan(TableName=ARGS['table'])['Items']
    result['items'] = [{k: d.deserialize(v) for k, v in item.items()} for item in found if 'drill' in item]
    sqs = client('sqs')
    url = sqs.get_queue_url(QueueName=ARGS['queue'])['QueueUrl']
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get('Messages', [])
        if not got: break
        bodies += [json.loads(m['Body'])['Message'] for m in got]
    result['alerts'] = bodies
out(result)
`;

interface Read {
  listing: Record<string, Listing>;
  items?: DrillItem[];
  alerts?: string[];
}

interface Listing {
  dbInstances: string[];
  dbClusters: string[];
  volumes: string[];
  instances: string[];
}

let vault: PullVault;
let secondKey: string;
let before: Record<string, Listing>;
let after: Record<string, Listing>;
let exit: number;
let output: string[];
let items: Map<string, DrillItem>;
let alerts: string[];
const ids: Record<string, string> = {};

/** An `available` record of a copy: with `hop`, the second hop in the second Region under its key. */
async function record(
  kind: KindName,
  id: string,
  resource: string,
  copyId: string,
  fields: { sizeGiB: number; engine?: string; hop?: 2 },
) {
  const first = `${kind}:${source}:${REGION}:${id}`;
  const dynamo = new DynamoDBClient(clientConfig(endpoint, backup, REGION));
  await new DynamoInventory(dynamo, vault.table, 'by-status').create(
    newRecord(
      {
        artifactId: fields.hop ? `${first}@${SECOND}` : first,
        kind,
        status: 'available',
        sourceAccount: source,
        sourceRegion: REGION,
        sourceId: id,
        sourceResourceId: resource,
        sourceCreatedAt: '2026-11-20T00:00:00.000Z',
        targetName: copyId,
        targetId: copyId,
        targetRegion: fields.hop ? SECOND : REGION,
        kmsKeyArn: fields.hop ? secondKey : vault.keyArn,
        sizeGiB: fields.sizeGiB,
        ...(fields.engine ? { engine: fields.engine } : {}),
        ...(fields.hop ? { hop: 2 as const, hopSourceRegion: REGION } : {}),
      },
      new Date('2026-11-20T01:00:00.000Z'),
    ),
  );
  dynamo.destroy();
}

beforeAll(async () => {
  vault = await createPullVault(endpoint, backup, REGION);
  // The second Region's stack: its backup-data key under the vault's alias, and its drill place.
  const kms = new KMSClient(clientConfig(endpoint, backup, SECOND));
  secondKey = (await kms.send(new CreateKeyCommand({ Description: 'bunker backup-data key (second Region)' })))
    .KeyMetadata?.Arn as string;
  await kms.send(new CreateAliasCommand({ AliasName: vaultNames('bunker').backupKeyAlias, TargetKeyId: secondKey }));
  await createDrillPlace(endpoint, backup, 'bunker', REGION);
  await createDrillPlace(endpoint, backup, 'bunker', SECOND);

  const sns = new SNSClient(clientConfig(endpoint, backup, REGION));
  const sqs = new SQSClient(clientConfig(endpoint, backup, REGION));
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'bunker-alerts' }));
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'drill-alerts' }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }));

  // RDS: payments-db's first copy in the vault Region and its second hop in the second Region, each under
  // its Region's key; ledger-db's second hop is recorded but its copy is gone.
  for (const [region, key, copyId] of [
    [REGION, vault.keyArn, 'bunker-payments-db-copy'],
    [SECOND, secondKey, 'bunker-payments-db-second'],
  ] as const) {
    const rds = new RDSClient(clientConfig(endpoint, backup, region));
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'payments-db',
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        MasterUsername: 'test',
        MasterUserPassword: 'test-only-password',
        StorageEncrypted: true,
        KmsKeyId: key,
      }),
    );
    await rds.send(
      new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'payments-db', DBSnapshotIdentifier: 'payments-nightly' }),
    );
    await rds.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: 'payments-nightly',
        TargetDBSnapshotIdentifier: copyId,
        KmsKeyId: key,
      }),
    );
    rds.destroy();
  }
  await record('rds-snapshot', 'payments-nightly', 'payments-db', 'bunker-payments-db-copy', {
    sizeGiB: 20,
    engine: 'postgres',
  });
  await record('rds-snapshot', 'payments-nightly', 'payments-db', 'bunker-payments-db-second', {
    sizeGiB: 20,
    engine: 'postgres',
    hop: 2,
  });
  await record('rds-snapshot', 'ledger-nightly', 'ledger-db', 'bunker-ledger-db-second', {
    sizeGiB: 20,
    engine: 'postgres',
    hop: 2,
  });

  // EBS: a second-hop copy under the second Region's key.
  const ec2 = new EC2Client(clientConfig(endpoint, backup, SECOND));
  const made = await ebsSnapshotCopy(ec2, SECOND, secondKey);
  ids.volume = made.volumeId;
  ids.copy = made.copyId;
  await record('ebs-snapshot', made.snapshotId, ids.volume, ids.copy, { sizeGiB: 8, hop: 2 });
  for (const client of [kms, sns, sqs, ec2]) client.destroy();

  const regions = [REGION, SECOND];
  before = (await boto3<Read>(endpoint, backup, READ_SCRIPT, { regions }, REGION)).listing;
  output = [];
  const context = await localContext(endpoint, backup, REGION, TEST_ROLE_NAME);
  exit = await drillOnEmulator(config, context, {}, (line) => output.push(line));
  const read = await boto3<Read>(
    endpoint,
    backup,
    READ_SCRIPT,
    { regions, table: vault.table, queue: 'drill-alerts' },
    REGION,
  );
  after = read.listing;
  items = new Map((read.items ?? []).map((item) => [item.artifactId, item]));
  alerts = read.alerts ?? [];
}, 60_000);

afterAll(() => vault?.destroy());

const checksOf = (result: DrillResult | undefined) => (result?.checks ?? []).map((c) => `${c.name}:${c.ok}`);

describe('bunker drill with a second Region on the emulator', () => {
  it('drills the vault Region’s copy and every second-hop copy, one drill item per resource and Region', () => {
    expect(output[0]).toBe('4 drill(s) planned.');
    expect([...items.keys()].sort()).toEqual(
      [
        `drill:ebs:${source}:${REGION}:${ids.volume}@${SECOND}`,
        `drill:rds:${source}:${REGION}:ledger-db@${SECOND}`,
        `drill:rds:${source}:${REGION}:payments-db`,
        `drill:rds:${source}:${REGION}:payments-db@${SECOND}`,
      ].sort(),
    );
    expect(exit).toBe(2);
  });

  it('restores the RDS second-hop copy in the second Region under its key, and the engine answers (launcher: engine greeting)', () => {
    const item = items.get(`drill:rds:${source}:${REGION}:payments-db@${SECOND}`);
    const result = item?.last;
    expect([item?.copyRegion, String(item?.hop), result?.subject.copyId]).toEqual([
      SECOND,
      '2',
      'bunker-payments-db-second',
    ]);
    expect(result?.failure).toBeUndefined();
    expect(checksOf(result)).toEqual([
      'status:true',
      'engine:true',
      'key:true',
      'size:true',
      'not public:true',
      'isolated:true',
      'engine answers:true',
      'restore time:true',
    ]);
    expect(String(result?.restoreSeconds)).toMatch(/^\d+$/);
    expect(result?.tornDown).toBe(true);
    // The vault Region's drill of the same resource is its own item: both keys passed their own Region's check.
    const first = items.get(`drill:rds:${source}:${REGION}:payments-db`)?.last;
    expect([first?.outcome, first?.subject.copyRegion, checksOf(first).includes('key:true')]).toEqual([
      'passed',
      REGION,
      true,
    ]);
  });

  it('restores the EBS second-hop copy as a volume in the second Region under its key (bunker moto launcher)', () => {
    const result = items.get(`drill:ebs:${source}:${REGION}:${ids.volume}@${SECOND}`)?.last;
    expect(result?.failure).toBeUndefined();
    expect(checksOf(result)).toEqual([
      'status:true',
      'from the copy:true',
      'key:true',
      'size:true',
      'restore time:true',
    ]);
    expect(result?.subject.copyId).toBe(ids.copy);
  });

  it('fails the drill of a missing second-hop copy and alerts, naming the copy and its Region', () => {
    const item = items.get(`drill:rds:${source}:${REGION}:ledger-db@${SECOND}`);
    expect(item?.last.outcome).toBe('failed');
    expect(item?.last.failure).toMatch(/^the restore could not start: .*bunker-ledger-db-second/);
    expect(item?.lastPassed).toBeUndefined();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain(
      `Copy: bunker-ledger-db-second in ${SECOND} (newest copy of 2026-11-20T00:00:00.000Z).`,
    );
  });

  it('leaves nothing behind in either Region', () => {
    expect(after).toEqual(before);
    // The copies' own databases are all there is: what the drills restored is gone.
    expect(after[SECOND].dbInstances).toEqual(['payments-db']);
    expect(after[SECOND].volumes).toEqual([ids.volume]);
  });
});
