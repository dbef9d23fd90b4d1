/**
 * `bunker recover` on the emulator, through the CLI's own functions, as two
 * IAM users of the backup account (alice requests, bob approves), each
 * through the recovery role under their own user name, and what it did read
 * back with boto3: which snapshot copies are shared with whom, which grants
 * the backup-data key has, what the alerts topic sent.
 *
 * moto issues credentials for AssumeRole but enforces no trust policy: that
 * the role admits no other session name is the template test's
 * (test/infra/recovery.test.ts); here, that the CLI asks for the user's own.
 *
 * moto keeps KMS grants per account and does not enforce them across
 * accounts (nor resource policies, nor service control policies): the test
 * proves what exists, not that AWS would let the recovery account use it.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AwsContext } from '../../lambdas/adapters/aws-context';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { DynamoDrillLog } from '../../lambdas/adapters/drill/dynamo-drill-log';
import { newRecord } from '../../lambdas/core/inventory';
import { vaultNames } from '../../lambdas/core/names';
import { recoveryRoleName } from '../../lambdas/core/recovery/identity';
import {
  recoverApproveCommand,
  recoverListCommand,
  recoverRequestCommand,
  recoverRevokeCommand,
} from '../../cli/recover';
import { readRunbook } from '../../cli/runbook';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import { bunkerConfig, REGION } from './support/bunker';

const endpoint = emulatorEndpoint();
const backup = freshAccountId();
const lost = freshAccountId();
const recovery = freshAccountId();
const config = bunkerConfig(backup, [lost]);
const names = vaultNames(config.name);
const SNAPSHOTS = ['bunker-orders-old', 'bunker-orders-new', 'bunker-ledger-1'];

interface Setup {
  keyArn: string;
  queueUrl: string;
  users: Record<'alice' | 'bob', { accessKeyId: string; secretAccessKey: string }>;
  /** A session `alice` of another role: not an IAM user. */
  operator: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
}
let setup: Setup;
let alice: AwsContext;
let bob: AwsContext;
const lines: string[] = [];
const say = (line: string) => lines.push(line);

/** Who shares each of {@link SNAPSHOTS}, and the grants of the backup-data key, as boto3 reads them. */
const exposure = () =>
  boto3<{
    shared: Record<string, string[]>;
    grants: { GranteePrincipal: string; Operations: string[]; Name: string }[];
  }>(
    endpoint,
    backup,
    `
rds = client('rds')
shared = {}
for snapshot in ARGS['snapshots']:
    attrs = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=snapshot)['DBSnapshotAttributesResult']['DBSnapshotAttributes']
    shared[snapshot] = sorted(v for a in attrs if a['AttributeName'] == 'restore' for v in a.get('AttributeValues', []))
grants = client('kms').list_grants(KeyId=ARGS['key'])['Grants']
out({'shared': shared, 'grants': [{k: g.get(k) for k in ('GranteePrincipal', 'Operations', 'Name')} for g in grants]})
`,
    { snapshots: SNAPSHOTS, key: setup.keyArn },
  );

beforeAll(async () => {
  // The vault's parts recover uses, made directly: the inventory table, the backup-data key, the alerts topic.
  setup = await boto3<Setup>(
    endpoint,
    backup,
    `
import json
ddb = client('dynamodb')
ddb.create_table(TableName=ARGS['table'], AttributeDefinitions=[{'AttributeName': 'artifactId', 'AttributeType': 'S'}],
                 KeySchema=[{'AttributeName': 'artifactId', 'KeyType': 'HASH'}], BillingMode='PAY_PER_REQUEST')
kms = client('kms')
key = kms.create_key(Description='backup data')['KeyMetadata']['Arn']
kms.create_alias(AliasName=ARGS['alias'], TargetKeyId=key)
topic = client('sns').create_topic(Name=ARGS['topic'])['TopicArn']
sqs = client('sqs')
queue = sqs.create_queue(QueueName='recover-alerts')['QueueUrl']
queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
client('sns').subscribe(TopicArn=topic, Protocol='sqs', Endpoint=queue_arn)
rds = client('rds')
rds.create_db_instance(DBInstanceIdentifier='vault-source', Engine='postgres', DBInstanceClass='db.t4g.micro',
                       AllocatedStorage=20, MasterUsername='bunker', MasterUserPassword='test-only-not-a-secret',
                       StorageEncrypted=True, KmsKeyId=key)
for snapshot in ARGS['snapshots']:
    rds.create_db_snapshot(DBInstanceIdentifier='vault-source', DBSnapshotIdentifier=snapshot)
iam = client('iam')
iam.create_role(RoleName=ARGS['role'], AssumeRolePolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{
    'Effect': 'Allow', 'Principal': {'AWS': ARGS['account']}, 'Action': 'sts:AssumeRole',
    'Condition': {'StringEquals': {'sts:RoleSessionName': '\${aws:username}', 'aws:PrincipalType': 'User'}}}]}))
users = {}
for name in ('alice', 'bob'):
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)['AccessKey']
    users[name] = {'accessKeyId': k['AccessKeyId'], 'secretAccessKey': k['SecretAccessKey']}
iam.create_role(RoleName='ops', AssumeRolePolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{
    'Effect': 'Allow', 'Principal': {'AWS': ARGS['account']}, 'Action': 'sts:AssumeRole'}]}))
c = client('sts').assume_role(RoleArn=f"arn:aws:iam::{ARGS['account']}:role/ops", RoleSessionName='alice')['Credentials']
operator = {'accessKeyId': c['AccessKeyId'], 'secretAccessKey': c['SecretAccessKey'], 'sessionToken': c['SessionToken']}
out({'keyArn': key, 'queueUrl': queue, 'users': users, 'operator': operator})
`,
    {
      table: names.inventoryTable,
      alias: names.backupKeyAlias,
      topic: `${config.name}-alerts`,
      snapshots: SNAPSHOTS,
      role: recoveryRoleName(config.name),
      account: backup,
    },
  );
  alice = { endpoint, region: REGION, credentials: setup.users.alice };
  bob = { endpoint, region: REGION, credentials: setup.users.bob };
  // The copies as the pipeline records them: two of the database `orders`, one of `ledger`.
  const inventory = new DynamoInventory(
    new DynamoDBClient(clientConfig(endpoint, backup, REGION)),
    names.inventoryTable,
    names.inventoryStatusIndex,
  );
  const copy = (id: string, snapshot: string, resource: string, takenAt: string) =>
    newRecord(
      {
        artifactId: `rds-snapshot:${lost}:${REGION}:${id}`,
        kind: 'rds-snapshot',
        status: 'available',
        sourceAccount: lost,
        sourceRegion: REGION,
        sourceId: id,
        sourceResourceId: resource,
        sourceCreatedAt: takenAt,
        targetId: snapshot,
        targetArn: `arn:aws:rds:${REGION}:${backup}:snapshot:${snapshot}`,
        targetRegion: REGION,
      },
      new Date(takenAt),
    );
  await inventory.create(copy('bunker-share-o1', 'bunker-orders-old', 'orders', '2026-03-01T04:00:00.000Z'));
  await inventory.create(copy('bunker-share-o2', 'bunker-orders-new', 'orders', '2026-03-02T04:00:00.000Z'));
  await inventory.create(copy('bunker-share-l1', 'bunker-ledger-1', 'ledger', '2026-03-02T05:00:00.000Z'));
}, 60_000);

describe('bunker recover on the emulator', () => {
  let id = '';
  const nothingShared = { 'bunker-orders-old': [], 'bunker-orders-new': [], 'bunker-ledger-1': [] };

  const session = (user: string) => `arn:aws:sts::${backup}:assumed-role/bunker-recovery/${user}`;

  it('records a request for one resource, by alice through the recovery role under her name, and shares nothing', async () => {
    const request = await recoverRequestCommand(
      config,
      alice,
      { account: lost, toAccount: recovery, kind: 'rds', resource: 'orders' },
      say,
    );
    id = request.id;

    expect(request.copies.map((copy) => copy.copyId)).toEqual(['bunker-orders-new']);
    expect(request.requestedBy.arn).toBe(session('alice'));
    expect(request.state).toBe('pending');
    expect(lines).toContain(`  bunker recover --approve ${id}`);
    expect(await exposure()).toEqual({ shared: nothingShared, grants: [] });
  });

  it('refuses the approval of the requester, through the role or with her own rights, and changes nothing', async () => {
    await expect(recoverApproveCommand(config, alice, id, {}, say)).rejects.toThrow('may not approve it');
    await expect(recoverApproveCommand(config, { ...alice, recoveryRole: false }, id, {}, say)).rejects.toThrow(
      'may not approve it',
    );

    expect(await exposure()).toEqual({ shared: nothingShared, grants: [] });
    const [listed] = await recoverListCommand(config, bob, say);
    expect(listed).toMatchObject({ id, state: 'pending', shared: [], grants: [] });
    expect(listed.approvedBy).toBeUndefined();
  });

  it('approved by bob, shares exactly the chosen copy with exactly the recovery account and grants it the copy operations', async () => {
    const request = await recoverApproveCommand(config, bob, id, {}, say);

    expect(await exposure()).toEqual({
      shared: { 'bunker-orders-old': [], 'bunker-orders-new': [recovery], 'bunker-ledger-1': [] },
      grants: [
        {
          GranteePrincipal: `arn:aws:iam::${recovery}:root`,
          Operations: ['Decrypt', 'DescribeKey', 'CreateGrant'],
          Name: `bunker-recovery-${id}`,
        },
      ],
    });
    expect(request).toMatchObject({ state: 'open', approvedBy: { arn: session('bob') } });
    expect(lines.join('\n')).toContain(
      `aws rds copy-db-snapshot --region ${REGION} --source-db-snapshot-identifier arn:aws:rds:${REGION}:${backup}:snapshot:bunker-orders-new`,
    );
  });

  it('approved again (a re-run), makes no second share or grant', async () => {
    await recoverApproveCommand(config, bob, id, {}, say);

    const { grants, shared } = await exposure();
    expect(grants).toHaveLength(1);
    expect(shared['bunker-orders-new']).toEqual([recovery]);
  });

  it('revoked, leaves no share and no grant', async () => {
    const request = await recoverRevokeCommand(config, alice, id, say);

    expect(await exposure()).toEqual({ shared: nothingShared, grants: [] });
    expect(request).toMatchObject({ state: 'revoked', revokedBy: { arn: session('alice') } });
  });

  it('refuses a caller that is not an IAM user, saying how to run instead, and records nothing', async () => {
    const before = await recoverListCommand(config, bob, say);
    const operator = { endpoint, region: REGION, credentials: setup.operator };

    await expect(
      recoverRequestCommand(config, operator, { account: lost, toAccount: recovery, kind: 'rds' }, say),
    ).rejects.toThrow(/is not an IAM user: the recovery role bunker-recovery.*--no-recovery-role/);
    expect(await recoverListCommand(config, bob, say)).toEqual(before);
  });

  it('told the alerts topic at the request, the approval and the revocation', async () => {
    const subjects = await boto3<string[]>(
      endpoint,
      backup,
      `
import json
sqs = client('sqs')
subjects = []
for _ in range(5):
    for m in sqs.receive_message(QueueUrl=ARGS['queue'], MaxNumberOfMessages=10).get('Messages', []):
        subjects.append(json.loads(m['Body'])['Subject'])
out(sorted(subjects))
`,
      { queue: setup.queueUrl },
    );

    expect(subjects).toEqual([
      `Bunker bunker: recovery of ${lost} approved`,
      `Bunker bunker: recovery of ${lost} requested`,
      `Bunker bunker: recovery of ${lost} revoked`,
    ]);
  });
});

describe('bunker runbook on the emulator', () => {
  it('names the newest copy of each resource from the inventory, timed by the drill log or the target', async () => {
    const context = clientConfig(endpoint, backup, REGION);
    await new DynamoDrillLog(new DynamoDBClient(context), names.inventoryTable).record({
      drillId: 'd1',
      subject: {
        kind: 'rds',
        account: lost,
        region: REGION,
        resource: 'ledger',
        artifactId: `rds-snapshot:${lost}:${REGION}:bunker-share-l1`,
        copyId: 'bunker-ledger-1',
        copyRegion: REGION,
        pick: 'newest',
      },
      outcome: 'passed',
      startedAt: '2026-03-03T00:00:00.000Z',
      finishedAt: '2026-03-03T00:30:00.000Z',
      restoreSeconds: 1500,
      targetSeconds: 3600,
      checks: [],
      tornDown: true,
    });

    const runbook = await readRunbook(config, context, { account: lost }, new Date('2026-03-05T00:00:00.000Z'));

    expect(
      runbook.stages.map((stage) => [
        stage.name,
        stage.steps.map((step) => step.resources.map((r) => [r.copyId, r.seconds, r.basis])),
      ]),
    ).toEqual([['data stores', [[['bunker-ledger-1', 1500, 'measured']], [['bunker-orders-new', 3600, 'target']]]]]);
    // The default RDS target, 60 minutes, is the slower of the stage's two parallel steps.
    expect(runbook.criticalPathSeconds).toBe(3600);
  });
});
