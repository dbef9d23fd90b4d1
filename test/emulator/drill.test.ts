/**
 * Restore drills of the snapshot kinds on the emulator, end to end through
 * `bunker drill --endpoint`'s in-process path: the place, the key and the
 * alerts topic found by name, the plan read from the inventory table, each
 * kind's module restoring a real copy in the backup account, the results
 * in the drill log, the alerts on the topic.
 *
 * The copies are made in the backup account the way the pipeline leaves
 * them (a copy under the backup-data key, an `available` record with the
 * size, engine and key read back); one RDS copy is deleted behind Bunker's
 * back and one EBS copy is under another key. What exists before and after
 * is listed with boto3, and the results and alerts are read with boto3 too.
 *
 * The AMI drill launches an instance whose volumes come from the image's
 * encrypted snapshots only through the launcher (tools/moto/bunker_moto.py),
 * as does the EBS volume's key: those tests say "(bunker moto launcher)".
 * moto runs no database: the engine that answers the RDS and Aurora drills'
 * probe is the launcher's listener for each restored database
 * (tools/moto/engine_listeners.py), and those tests say "(launcher: engine
 * greeting)". One RDS copy is tagged for a restore whose port nobody
 * listens on: an engine that does not answer.
 */
import {
  CreateDBClusterSnapshotCommand,
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DeleteDBSnapshotCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import {
  CopyImageCommand,
  CopySnapshotCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillOnEmulator } from '../../cli/drill';
import { localContext } from '../../cli/local/accounts';
import { drillResourceName } from '../../lambdas/core/drill/names';
import type { DrillResult } from '../../lambdas/core/drill/types';
import type { KindName } from '../../lambdas/kinds/types';
import { RdsSnapshotDrill } from '../../lambdas/kinds/rds-snapshot/drill';
import { TcpEngineProbe } from '../../lambdas/adapters/drill/probe-tcp';
import { EbsSnapshotDrill } from '../../lambdas/kinds/ebs-snapshot/drill';
import { emulatorDrillSettings } from '../../cli/drill';
import { clientConfig, DEFAULT_TEST_REGION, freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { createDrillPlace } from '../support/drill-place';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { DRILL_LEFTOVERS_SCRIPT, recordCopy } from './support/drill-records';
import { bunkerConfig } from './support/bunker';
import { createPullVault, type PullVault } from './support/pull';

const endpoint = emulatorEndpoint();
const REGION = DEFAULT_TEST_REGION;
const backup = freshAccountId();
const source = freshAccountId();
const config = bunkerConfig(backup, [source], {
  artifacts: { rds: { enabled: true }, aurora: { enabled: true }, ebs: { enabled: true }, ami: { enabled: true } },
});

/** The drill items of the inventory table, read by boto3. */
const RESULTS_SCRIPT = `
from boto3.dynamodb.types import TypeDeserializer
d = TypeDeserializer()
items = client('dynamodb').scan(TableName=ARGS['table'])['Items']
out([{k: d.deserialize(v) for k, v in item.items()} for item in items if 'drill' in item])
`;

const ALERTS_SCRIPT = `
sqs = client('sqs')
url = sqs.get_queue_url(QueueName=ARGS['queue'])['QueueUrl']
bodies = []
while True:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get('Messages', [])
    if not got: break
    bodies += [json.loads(m['Body'])['Message'] for m in got]
out(bodies)
`;

interface Listing {
  dbInstances: string[];
  dbClusters: string[];
  volumes: string[];
  instances: string[];
}

let vault: PullVault;
let before: Listing;
let exit: number;
let output: string[];
let results: Map<string, DrillResult & { lastPassed?: DrillResult }>;
let alerts: string[];
const ids: Record<string, string> = {};

function record(
  kind: KindName,
  id: string,
  resource: string,
  copyId: string,
  fields: { sizeGiB: number; engine?: string },
) {
  const at = { endpoint, backup, source, region: REGION, table: vault.table, keyArn: vault.keyArn };
  return recordCopy(at, { kind, id, resource, copyId, ...fields });
}

beforeAll(async () => {
  vault = await createPullVault(endpoint, backup, REGION);
  await createDrillPlace(endpoint, backup);
  const rds = new RDSClient(clientConfig(endpoint, backup, REGION));
  const ec2 = new EC2Client(clientConfig(endpoint, backup, REGION));
  const kms = new KMSClient(clientConfig(endpoint, backup, REGION));
  const sns = new SNSClient(clientConfig(endpoint, backup, REGION));
  const sqs = new SQSClient(clientConfig(endpoint, backup, REGION));
  const key = vault.keyArn;
  const otherKey = (await kms.send(new CreateKeyCommand({ Description: 'not the backup-data key' }))).KeyMetadata?.Arn;

  // The alerts topic, read through a queue.
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'bunker-alerts' }));
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'drill-alerts' }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }));

  // RDS: a copy under the backup-data key, one deleted behind Bunker's back, and one whose restored engine
  // never answers (the launcher gives its restore a port nobody listens on).
  for (const db of ['payments-db', 'ledger-db', 'sessions-db']) {
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: db,
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        MasterUsername: 'test',
        MasterUserPassword: 'test-only-password',
        StorageEncrypted: true,
        KmsKeyId: key,
      }),
    );
    await rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: db, DBSnapshotIdentifier: `${db}-nightly` }));
    await rds.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: `${db}-nightly`,
        TargetDBSnapshotIdentifier: `bunker-${db}-copy`,
        KmsKeyId: key,
        ...(db === 'sessions-db' ? { Tags: [{ Key: 'bunker-moto:engine-greeting', Value: 'closed' }] } : {}),
      }),
    );
    await record('rds-snapshot', `${db}-nightly`, db, `bunker-${db}-copy`, { sizeGiB: 20, engine: 'postgres' });
  }
  await rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: 'bunker-ledger-db-copy' }));

  // Aurora, on the MySQL side: its greeting names the version the drill compares with the copy's.
  await rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: 'orders-cluster',
      Engine: 'aurora-mysql',
      MasterUsername: 'test',
      MasterUserPassword: 'test-only-password',
      StorageEncrypted: true,
      KmsKeyId: key,
    }),
  );
  await rds.send(
    new CreateDBClusterSnapshotCommand({
      DBClusterIdentifier: 'orders-cluster',
      DBClusterSnapshotIdentifier: 'orders-nightly',
    }),
  );
  await rds.send(
    new CopyDBClusterSnapshotCommand({
      SourceDBClusterSnapshotIdentifier: 'orders-nightly',
      TargetDBClusterSnapshotIdentifier: 'bunker-orders-copy',
      KmsKeyId: key,
    }),
  );
  // Aurora reports a cluster snapshot's AllocatedStorage as 1.
  await record('aurora-cluster-snapshot', 'orders-nightly', 'orders-cluster', 'bunker-orders-copy', {
    sizeGiB: 1,
    engine: 'aurora-mysql',
  });

  // EBS: a copy under the backup-data key, and one under another key while the record says otherwise.
  for (const [name, copyKey] of [
    ['good', key],
    ['corrupt', otherKey],
  ] as const) {
    const { VolumeId } = await ec2.send(
      new CreateVolumeCommand({ Size: 8, AvailabilityZone: `${REGION}a`, Encrypted: true, KmsKeyId: key }),
    );
    const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId }));
    const copy = await ec2.send(
      new CopySnapshotCommand({
        SourceSnapshotId: SnapshotId,
        SourceRegion: REGION,
        Encrypted: true,
        KmsKeyId: copyKey,
      }),
    );
    ids[name] = VolumeId ?? '';
    ids[`${name}-copy`] = copy.SnapshotId ?? '';
    await record('ebs-snapshot', SnapshotId ?? '', VolumeId ?? '', copy.SnapshotId ?? '', { sizeGiB: 8 });
  }

  // AMI: an image on an encrypted snapshot, copied under the backup-data key.
  const { VolumeId } = await ec2.send(
    new CreateVolumeCommand({ Size: 8, AvailabilityZone: `${REGION}a`, Encrypted: true, KmsKeyId: key }),
  );
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId }));
  const { ImageId } = await ec2.send(
    new RegisterImageCommand({
      Name: 'web-server',
      RootDeviceName: '/dev/xvda',
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId, VolumeSize: 8 } }],
    }),
  );
  const image = await ec2.send(
    new CopyImageCommand({
      SourceImageId: ImageId,
      SourceRegion: REGION,
      Name: 'bunker-web-server',
      Encrypted: true,
      KmsKeyId: key,
    }),
  );
  ids.image = image.ImageId ?? '';
  await record('ami', ImageId ?? '', 'web-server', image.ImageId ?? '', { sizeGiB: 8 });
  for (const client of [rds, ec2, kms, sns, sqs]) client.destroy();

  before = await boto3<Listing>(endpoint, backup, DRILL_LEFTOVERS_SCRIPT);
  output = [];
  const context = await localContext(endpoint, backup, REGION, TEST_ROLE_NAME);
  exit = await drillOnEmulator(config, context, {}, (line) => output.push(line));
  const items = await boto3<(DrillResult & { resource: string; last: DrillResult; lastPassed?: DrillResult })[]>(
    endpoint,
    backup,
    RESULTS_SCRIPT,
    { table: vault.table },
  );
  results = new Map(
    items.map((item) => [item.resource, { ...item.last, ...(item.lastPassed ? { lastPassed: item.lastPassed } : {}) }]),
  );
  alerts = await boto3<string[]>(endpoint, backup, ALERTS_SCRIPT, { queue: 'drill-alerts' });
}, 60_000);

afterAll(() => vault?.destroy());

const checksOf = (result: DrillResult | undefined) => (result?.checks ?? []).map((c) => `${c.name}:${c.ok}`);

describe('bunker drill on the emulator', () => {
  it('drills the newest copy of every resource with a copy, and exits 2 because three failed', () => {
    expect([...results.keys()].sort()).toEqual(
      ['ledger-db', 'orders-cluster', 'payments-db', 'sessions-db', 'web-server', ids.good, ids.corrupt].sort(),
    );
    expect(exit).toBe(2);
    expect(output[0]).toBe('7 drill(s) planned.');
    expect(
      output.some((line) => /^ {2}\[\d+s\] rds payments-db .*: waiting for the restore to be usable$/.test(line)),
    ).toBe(true);
  });

  it('restores, validates and times an RDS copy: status, engine, key, size, not public, isolated, the engine answers (launcher: engine greeting)', () => {
    const result = results.get('payments-db');
    expect(result?.outcome).toBe('passed');
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
    expect(result?.checks.find((c) => c.name === 'engine answers')?.detail).toBe(
      'PostgreSQL answered the SSLRequest with N and asks for an MD5 password',
    );
    // boto3 reads DynamoDB numbers as decimals, handed back as text.
    expect(String(result?.restoreSeconds)).toMatch(/^\d+$/);
    expect(Number(result?.targetSeconds)).toBe(3600);
    expect(result?.tornDown).toBe(true);
    expect(result?.lastPassed?.drillId).toBe(result?.drillId);
  });

  it('restores an Aurora copy as a cluster with one instance, whose MySQL greeting names the copy’s version (launcher: engine greeting)', () => {
    const result = results.get('orders-cluster');
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
    // moto's default Aurora MySQL version; the launcher announces its MySQL-compatible 5.7.
    expect(result?.checks.find((c) => c.name === 'engine answers')?.detail).toBe(
      "MySQL protocol 10 handshake from server 5.7.0, the copy's aurora-mysql 5.7.mysql_aurora.2.07.2",
    );
  });

  it('fails the drill of a copy whose restored engine does not answer, tears it down, and alerts (launcher: engine greeting)', () => {
    const result = results.get('sessions-db');
    expect(result?.outcome).toBe('failed');
    expect(result?.failure).toMatch(
      /^failed checks: engine answers \(no connection: port \d+ refused the connection\)$/,
    );
    expect(checksOf(result).filter((c) => c.endsWith(':false'))).toEqual(['engine answers:false']);
    expect(result?.tornDown).toBe(true);
    expect(result?.lastPassed).toBeUndefined();
    expect(alerts.filter((text) => text.includes('sessions-db'))).toHaveLength(1);
  });

  it('restores an EBS copy as a volume under the backup-data key (bunker moto launcher)', () => {
    const result = results.get(ids.good);
    expect(result?.failure).toBeUndefined();
    expect(checksOf(result)).toEqual([
      'status:true',
      'from the copy:true',
      'key:true',
      'size:true',
      'restore time:true',
    ]);
  });

  it('launches an AMI copy in the isolated subnet with its volumes under the backup-data key (bunker moto launcher)', () => {
    const result = results.get('web-server');
    expect(result?.failure).toBeUndefined();
    expect(checksOf(result)).toEqual([
      'status:true',
      'status checks:true',
      'image:true',
      'key:true',
      'isolated:true',
      'restore time:true',
    ]);
    expect(result?.subject.copyId).toBe(ids.image);
  });

  it('fails the drill of a copy deleted behind Bunker’s back, and alerts', () => {
    const result = results.get('ledger-db');
    expect(result?.outcome).toBe('failed');
    expect(result?.failure).toMatch(/^the restore could not start: .*bunker-ledger-db-copy/);
    expect(result?.restoreSeconds).toBeUndefined();
    expect(result?.lastPassed).toBeUndefined();
    expect(alerts.filter((text) => text.includes('ledger-db'))).toHaveLength(1);
  });

  it('fails the drill of a copy under another key, naming the key check, and alerts (bunker moto launcher)', () => {
    const result = results.get(ids.corrupt);
    expect(result?.outcome).toBe('failed');
    expect(result?.failure).toMatch(
      /^failed checks: key \(encrypted under arn:aws:kms:.*, expected the backup-data key/,
    );
    expect(result?.tornDown).toBe(true);
    const alert = alerts.find((text) => text.includes(ids.corrupt));
    expect(alert).toContain(`Copy: ${ids['corrupt-copy']} in ${REGION} (newest copy of 2026-11-20T00:00:00.000Z).`);
    expect(alerts).toHaveLength(3);
  });

  it('leaves nothing behind: the same instances, clusters, volumes and running instances as before', async () => {
    expect(await boto3<Listing>(endpoint, backup, DRILL_LEFTOVERS_SCRIPT)).toEqual(before);
  });

  it('names and tags what a drill makes as the vault stack scopes its rights, and reports the listener as its endpoint (launcher: engine greeting)', async () => {
    const context = await localContext(endpoint, backup, REGION, TEST_ROLE_NAME);
    const settings = await emulatorDrillSettings(config, context);
    const rds = new RDSClient(clientConfig(endpoint, backup, REGION));
    const ec2 = new EC2Client(clientConfig(endpoint, backup, REGION));
    const facts = { record: async () => undefined };
    const drillId = `rds:${source}:${REGION}:payments-db:2026-11-22T00:00:00.000Z`;
    const subject = {
      kind: 'rds' as const,
      account: source,
      region: REGION,
      resource: 'payments-db',
      artifactId: 'x',
      copyId: 'bunker-payments-db-copy',
      copyRegion: REGION,
      pick: 'newest' as const,
    };
    const rdsDrill = new RdsSnapshotDrill(rds, settings, facts, new TcpEngineProbe());
    const ebsDrill = new EbsSnapshotDrill(ec2, settings, facts);
    const rdsHandle = await rdsDrill.start(drillId, subject);
    // A replayed start makes nothing twice.
    expect(await rdsDrill.start(drillId, subject)).toEqual(rdsHandle);
    const ebsHandle = await ebsDrill.start(drillId, { ...subject, kind: 'ebs' as const, copyId: ids['good-copy'] });
    expect(await ebsDrill.start(drillId, { ...subject, kind: 'ebs' as const, copyId: ids['good-copy'] })).toEqual(
      ebsHandle,
    );

    // What moto reports, read with boto3; the listener it names is greeted by Python's own socket (an SSLRequest).
    const made = await boto3<{
      rds: [string, Record<string, string>][];
      volumes: [string, Record<string, string>][];
      endpoint: { Address: string; Port: number };
      answer: string;
    }>(
      endpoint,
      backup,
      `
import socket, struct
rds = client('rds'); ec2 = client('ec2')
tags = lambda l: {t['Key']: t['Value'] for t in l or []}
drills = [i for i in rds.describe_db_instances()['DBInstances'] if '-drill-' in i['DBInstanceIdentifier']]
s = socket.create_connection((drills[0]['Endpoint']['Address'], drills[0]['Endpoint']['Port']), timeout=2)
s.sendall(struct.pack('>II', 8, 80877103))
answer = s.recv(1).decode()
s.close()
out({
  'rds': [[i['DBInstanceIdentifier'], tags(i.get('TagList'))] for i in drills],
  'volumes': [[v['VolumeId'], tags(v.get('Tags'))] for v in ec2.describe_volumes(Filters=[{'Name': 'tag:bunker:drill', 'Values': [ARGS['drillId']]}])['Volumes']],
  'endpoint': drills[0]['Endpoint'],
  'answer': answer,
})
`,
      { drillId },
    );
    const name = drillResourceName('bunker', drillId);
    expect(name).toMatch(/^bunker-drill-[0-9a-f]{12}$/);
    expect(made.rds).toEqual([[name, { 'bunker:drill': drillId, Name: name, 'bunker:managed-by': 'bunker' }]]);
    expect(made.volumes).toEqual([
      [ebsHandle.volume, { 'bunker:drill': drillId, Name: name, 'bunker:managed-by': 'bunker' }],
    ]);
    expect(made.endpoint.Address).toBe('127.0.0.1');
    expect(made.endpoint.Port).not.toBe(5432);
    expect(made.answer).toBe('N');
    const checks = await rdsDrill.validate(rdsHandle, subject);
    expect(checks.find((c) => c.name === 'engine answers')).toEqual({
      name: 'engine answers',
      ok: true,
      detail: 'PostgreSQL answered the SSLRequest with N and asks for an MD5 password',
    });

    expect(await rdsDrill.tearDown(rdsHandle)).toBe(true);
    expect(await ebsDrill.tearDown(ebsHandle)).toBe(true);
    expect(await rdsDrill.tearDown(rdsHandle)).toBe(true);
    expect(await boto3<Listing>(endpoint, backup, DRILL_LEFTOVERS_SCRIPT)).toEqual(before);
    rds.destroy();
    ec2.destroy();
  });
});
