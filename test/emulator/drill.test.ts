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
 * listens on, one for a listener that never answers and one for a listener
 * of another protocol: engines that do not answer. moto reports EC2 status
 * checks `ok` at once; two image copies are tagged for the launcher's status
 * checks (tools/moto/instance_status.py) that initialize for a while or
 * report the instance impaired: "(launcher: status checks)".
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
  CreateSnapshotCommand,
  CreateTagsCommand,
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
import { DRILL_LEFTOVERS_SCRIPT, ebsSnapshotCopy, recordCopy } from './support/drill-records';
import { bunkerConfig } from './support/bunker';
import { createPullVault, type PullVault } from './support/pull';

const endpoint = emulatorEndpoint();
const REGION = DEFAULT_TEST_REGION;
const backup = freshAccountId();
const source = freshAccountId();
const config = bunkerConfig(backup, [source], {
  artifacts: { rds: { enabled: true }, aurora: { enabled: true }, ebs: { enabled: true }, ami: { enabled: true } },
  // Fifteen drills, four at a time: the emulator's restores are instant, the silent listener costs the probe's timeout.
  drills: { concurrency: 4 },
});

const GREETING_TAG = 'bunker-moto:engine-greeting';

/**
 * The SQL Server and Oracle copies: each edition restores and answers its
 * protocol; two are tagged for a listener that speaks MySQL instead of TDS,
 * or never answers.
 */
const OTHER_ENGINES = [
  { db: 'reports-db', engine: 'sqlserver-se', version: '15.00.4153.1.v1' },
  { db: 'timesheets-db', engine: 'sqlserver-ex', version: '16.00.4095.4.v1' },
  { db: 'billing-db', engine: 'oracle-ee', version: '19.0.0.0.ru-2024-01.rur-2024-01.r1' },
  { db: 'hr-db', engine: 'oracle-se2', version: '19.0.0.0.ru-2024-01.rur-2024-01.r1', name: 'HR' },
  { db: 'audit-db', engine: 'sqlserver-se', version: '15.00.4153.1.v1', greeting: 'as:mysql' },
  { db: 'assets-db', engine: 'oracle-se2', version: '19.0.0.0.ru-2024-01.rur-2024-01.r1', greeting: 'silent' },
] as const;

/** The drill items of the inventory table, read by boto3. */
const RESULTS_SCRIPT = `
from boto3.dynamodb.types import TypeDeserializer
d = TypeDeserializer()
items = client('dynamodb').scan(TableName=ARGS['table'])['Items']
out([{k: d.deserialize(v) for k, v in item.items()} for item in items if 'drill' in item])
`;

/** The alerts on the topic (through its queue), and the state of every instance launched from each image copy. */
const ALERTS_SCRIPT = `
sqs = client('sqs')
url = sqs.get_queue_url(QueueName=ARGS['queue'])['QueueUrl']
bodies = []
while True:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get('Messages', [])
    if not got: break
    bodies += [json.loads(m['Body'])['Message'] for m in got]
reservations = client('ec2').describe_instances(Filters=[{'Name': 'image-id', 'Values': ARGS['images']}])['Reservations']
launched = {}
for r in reservations:
    for i in r['Instances']:
        launched.setdefault(i['ImageId'], []).append(i['State']['Name'])
out({'alerts': bodies, 'launched': launched})
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
/** The states of the instances launched from each image copy, by image id, read by boto3 after the drills. */
let launched: Record<string, string[]>;
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
        ...(db === 'sessions-db' ? { Tags: [{ Key: GREETING_TAG, Value: 'closed' }] } : {}),
      }),
    );
    await record('rds-snapshot', `${db}-nightly`, db, `bunker-${db}-copy`, { sizeGiB: 20, engine: 'postgres' });
  }
  await rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: 'bunker-ledger-db-copy' }));

  // SQL Server and Oracle, whose restores' listeners speak TDS and TNS (or, tagged, do not).
  for (const other of OTHER_ENGINES) {
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: other.db,
        Engine: other.engine,
        EngineVersion: other.version,
        DBInstanceClass: 'db.m5.large',
        AllocatedStorage: 20,
        MasterUsername: 'test',
        MasterUserPassword: 'test-only-password',
        StorageEncrypted: true,
        KmsKeyId: key,
        // An Oracle database's name is its service: the probe asks the restored listener for it.
        ...('name' in other ? { DBName: other.name } : {}),
      }),
    );
    await rds.send(
      new CreateDBSnapshotCommand({ DBInstanceIdentifier: other.db, DBSnapshotIdentifier: `${other.db}-nightly` }),
    );
    await rds.send(
      new CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: `${other.db}-nightly`,
        TargetDBSnapshotIdentifier: `bunker-${other.db}-copy`,
        KmsKeyId: key,
        ...('greeting' in other ? { Tags: [{ Key: GREETING_TAG, Value: other.greeting }] } : {}),
      }),
    );
    await record('rds-snapshot', `${other.db}-nightly`, other.db, `bunker-${other.db}-copy`, {
      sizeGiB: 20,
      engine: other.engine,
    });
  }

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
    const made = await ebsSnapshotCopy(ec2, REGION, key, copyKey);
    ids[name] = made.volumeId;
    ids[`${name}-copy`] = made.copyId;
    await record('ebs-snapshot', made.snapshotId, made.volumeId, made.copyId, { sizeGiB: 8 });
  }

  // AMI: images on an encrypted snapshot, copied under the backup-data key; two copies' instances get the
  // launcher's status checks: initializing for two answers then ok, and impaired (a guest that does not boot).
  for (const [name, checks] of [
    ['web-server', undefined],
    ['batch-worker', 'initializing:2'],
    ['kiosk', 'impaired'],
  ] as const) {
    const { VolumeId } = await ec2.send(
      new CreateVolumeCommand({ Size: 8, AvailabilityZone: `${REGION}a`, Encrypted: true, KmsKeyId: key }),
    );
    const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId }));
    const { ImageId } = await ec2.send(
      new RegisterImageCommand({
        Name: name,
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
        Name: `bunker-${name}`,
        Encrypted: true,
        KmsKeyId: key,
      }),
    );
    if (checks) {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [image.ImageId ?? ''],
          Tags: [{ Key: 'bunker-moto:status-checks', Value: checks }],
        }),
      );
    }
    ids[name] = image.ImageId ?? '';
    await record('ami', ImageId ?? '', name, image.ImageId ?? '', { sizeGiB: 8 });
  }
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
  ({ alerts, launched } = await boto3<{ alerts: string[]; launched: Record<string, string[]> }>(
    endpoint,
    backup,
    ALERTS_SCRIPT,
    { queue: 'drill-alerts', images: [ids['web-server'], ids['batch-worker'], ids.kiosk] },
  ));
}, 60_000);

afterAll(() => vault?.destroy());

const checksOf = (result: DrillResult | undefined) => (result?.checks ?? []).map((c) => `${c.name}:${c.ok}`);

describe('bunker drill on the emulator', () => {
  it('drills the newest copy of every resource with a copy, and exits 2 because six failed', () => {
    expect([...results.keys()].sort()).toEqual(
      [
        'assets-db',
        'audit-db',
        'batch-worker',
        'billing-db',
        'hr-db',
        'kiosk',
        'timesheets-db',
        'ledger-db',
        'orders-cluster',
        'payments-db',
        'reports-db',
        'sessions-db',
        'web-server',
        ids.good,
        ids.corrupt,
      ].sort(),
    );
    expect(exit).toBe(2);
    expect(output[0]).toBe('15 drill(s) planned.');
    expect([...results.values()].filter((r) => r.outcome === 'failed')).toHaveLength(6);
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

  it.each([
    ['reports-db', "TDS PRELOGIN response from SQL Server 15.0.4153, the copy's sqlserver-se 15.00.4153.1.v1"],
    ['timesheets-db', "TDS PRELOGIN response from SQL Server 16.0.4095, the copy's sqlserver-ex 16.00.4095.4.v1"],
    ['billing-db', 'the Oracle TNS listener answered REFUSE (TNS-12504)'],
    // Named HR: the listener hands on a CONNECT for its service. Unnamed (moto gives no default): no service asked.
    ['hr-db', 'the Oracle TNS listener answered ACCEPT for the service HR'],
  ])(
    'restores the SQL Server or Oracle copy %s, whose engine answers its own protocol (launcher: engine greeting)',
    (db, detail) => {
      const result = results.get(db);
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
      expect(result?.checks.find((c) => c.name === 'engine answers')?.detail).toBe(detail);
      expect(result?.tornDown).toBe(true);
    },
  );

  it.each([
    ['audit-db', 'answered as MySQL (server 15.00.4153.1.v1), not with a TDS PRELOGIN response'],
    ['assets-db', "no answer: the connection opened but a TNS listener's answer never came"],
  ])(
    'fails the drill of %s, whose restore answers another protocol or nothing, tears it down, and alerts (launcher: engine greeting)',
    (db, why) => {
      const result = results.get(db);
      expect(result?.outcome).toBe('failed');
      expect(result?.failure).toBe(`failed checks: engine answers (${why})`);
      expect(result?.tornDown).toBe(true);
      expect(result?.lastPassed).toBeUndefined();
      expect(alerts.filter((text) => text.includes(db))).toHaveLength(1);
    },
  );

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
    expect(result?.subject.copyId).toBe(ids['web-server']);
  });

  const waits = (resource: string) =>
    output.filter(
      (line) => line.includes(`ami ${resource} (`) && line.endsWith(': waiting for the restore to be usable'),
    ).length;

  it('waits while the status checks initialize, then passes (launcher: status checks)', () => {
    const result = results.get('batch-worker');
    expect(result?.outcome).toBe('passed');
    expect(result?.checks.find((c) => c.name === 'status checks')).toEqual({
      name: 'status checks',
      ok: true,
      detail: 'instance ok, system ok',
    });
    // After the launch, and after each of the two answers `initializing`; an image whose checks pass at once waits once.
    expect(waits('batch-worker')).toBe(3);
    expect(waits('web-server')).toBe(1);
  });

  it('fails the drill of an image whose instance is impaired, terminates the instance, and alerts (launcher: status checks)', () => {
    const result = results.get('kiosk');
    expect(result?.outcome).toBe('failed');
    expect(result?.failure).toMatch(
      /^the restore failed: instance i-[0-9a-f]+ running, status checks: instance impaired, system ok$/,
    );
    expect(result?.tornDown).toBe(true);
    expect(result?.lastPassed).toBeUndefined();
    expect(alerts.filter((text) => text.includes('kiosk'))).toHaveLength(1);
    // Every instance launched from each image copy, read with boto3: one each, terminated.
    expect(launched).toEqual({
      [ids.kiosk]: ['terminated'],
      [ids['batch-worker']]: ['terminated'],
      [ids['web-server']]: ['terminated'],
    });
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
    expect(alerts).toHaveLength(6);
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

  it("a SQL Server restore's listener answers a PRELOGIN and an Oracle one a TNS CONNECT, sent by Python's own socket (launcher: engine greeting)", async () => {
    // Restored, greeted and deleted by boto3 and Python's socket: the packets are built here from MS-TDS 2.2.6.5
    // and the TNS header (length, checksum, type, flags, header checksum), not by Bunker's probe.
    const answers = await boto3<{ sqlserver: unknown[]; oracle: unknown[][] }>(
      endpoint,
      backup,
      `
import socket, struct, re
rds = client('rds')
def restore(copy, name):
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=copy)
    return rds.describe_db_instances(DBInstanceIdentifier=name)['DBInstances'][0]['Endpoint']
def recv_packet(s, length_of):
    data = b''
    while len(data) < 8 or len(data) < length_of(data):
        chunk = s.recv(4096)
        if not chunk: break
        data += chunk
    return data
at = restore('bunker-reports-db-copy', 'python-prelogin')
s = socket.create_connection((at['Address'], at['Port']), timeout=2)
# VERSION (6 bytes at 11) and ENCRYPTION (1 byte at 17, off), the terminator, then the data.
options = bytes([0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xff]) + bytes(6) + bytes([0])
s.sendall(struct.pack('>BBHHBB', 0x12, 0x01, 8 + len(options), 0, 1, 0) + options)
answer = recv_packet(s, lambda d: struct.unpack('>H', d[2:4])[0])
s.close()
payload, version = answer[8:], None
at_ = 0
while payload[at_] != 0xff:
    token, offset, length = struct.unpack('>BHH', payload[at_:at_ + 5])
    if token == 0x00:
        major, minor, build, sub = struct.unpack('>BBHH', payload[offset:offset + 6])
        version = [major, minor, build, sub]
    at_ += 5
sqlserver = [answer[0], answer[1], version]
at = restore('bunker-billing-db-copy', 'python-tns')
oracle = []
for service in ['', 'ORCL']:
    data = ('(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=%s))(ADDRESS=(PROTOCOL=TCP)(HOST=%s)(PORT=%d)))' % (service, at['Address'], at['Port'])).encode()
    # CONNECT: version 314, lowest 300, options 0, SDU 8192, TDU 65535, characteristics, turnaround 0, one; data at 58.
    body = struct.pack('>HHHHHHHHHH', 314, 300, 0, 8192, 65535, 0x7f08, 0, 1, len(data), 58) + bytes(58 - 28) + data
    s = socket.create_connection((at['Address'], at['Port']), timeout=2)
    s.sendall(struct.pack('>HHBBH', 8 + len(body), 0, 1, 0, 0) + body)
    answer = recv_packet(s, lambda d: struct.unpack('>H', d[0:2])[0])
    s.close()
    err = re.search(rb'[(]ERR=([0-9]+)[)]', answer)
    oracle.append([service, answer[4], int(err.group(1)) if err else None])
for name in ['python-prelogin', 'python-tns']:
    rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
out({'sqlserver': sqlserver, 'oracle': oracle})
`,
    );
    // A tabular result (0x04), end of message, and VERSION 15.0 build 4153 sub-build 1 (RDS's 15.00.4153.1.v1).
    expect(answers.sqlserver).toEqual([4, 1, [15, 0, 4153, 1]]);
    // No service named: REFUSE (4) with TNS-12504; the database's service (RDS's default ORCL): ACCEPT (2).
    expect(answers.oracle).toEqual([
      ['', 4, 12504],
      ['ORCL', 2, null],
    ]);
  });
});
