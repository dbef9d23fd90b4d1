/**
 * `bunker coverage` on the emulator: one source account with one unprotected
 * resource planted for each reason in its registered Region, a volume, a
 * database, a table, a parameter, a secret and two images (one under the
 * AWS-managed EBS key) in a Region it does not register, and protected ones
 * beside them, listed through the reader role by the real survey and judged
 * against an inventory written here. `bunker coverage`'s report (the CLI's
 * `readCoverage`, in process: a child process would add seconds of start-up
 * to a file that already surveys twenty Regions), with no Region named, must
 * look in every Region the account has enabled and name every planted
 * unprotected resource, with its reasons, and nothing protected. What was
 * planted is read back with boto3, independently of Bunker's adapters.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  CreateOptionGroupCommand,
  ModifyOptionGroupCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coverageTable, readCoverage } from '../../cli/coverage';
import { localContext } from '../../cli/local/accounts';
import { clientConfig as sdkConfig } from '../../lambdas/adapters/aws-context';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { createTableInput } from '../../lambdas/adapters/pull/table-target';
import { coverageExitCode } from '../../lambdas/core/coverage/coverage';
import { ReaderRoleSurvey, type Surveyor } from '../../lambdas/adapters/coverage/survey';
import type { CoverageReport } from '../../lambdas/core/coverage/types';
import { newRecord } from '../../lambdas/core/inventory';
import { vaultNames } from '../../lambdas/core/names';
import { PULLED_KIND_OF, type PulledConfigKey, pulledArtifactId, pullScopeOf } from '../../lambdas/core/pull/types';
import { type BunkerConfig, BunkerConfigSchema } from '../../lib/config/schema';
import { freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { plainTableSpec } from '../support/tables';
import { boto3 } from './support/boto3';
import { createPullVault, PULL_PREFIX, type PullVault } from './support/pull';

const endpoint = emulatorEndpoint();
const HOME = 'eu-west-1';
const FAR = 'us-east-2';
const TAGS = [{ Key: 'backup', Value: 'bunker' }];
const TAG = { tag: { key: 'backup', value: 'bunker' } };
/** moto's fixed id of the AWS-managed `aws/ebs` key. */
const AWS_EBS_KEY_ID = '7adeb491-68c9-4a5b-86ec-a86ce5364094';

let source: string;
let vault: PullVault;
let config: BunkerConfig;
/** The report with no Region named, as `bunker coverage` makes it, and its progress lines (the CLI's stderr). */
let report: CoverageReport;
const progress: string[] = [];
/** What boto3 reads in the Region not registered, and the account's enabled Regions. */
let planted: {
  volumes: string[];
  dbs: string[];
  tables: string[];
  parameters: string[];
  secrets: string[];
  images: { id: string; keys: string[] }[];
  ebsAlias: string;
  /** The account's enabled Regions of the `aws` partition (the emulator also lists China's and GovCloud's). */
  enabled: string[];
};
let enabled: string[];
const ids: Record<string, string> = {};
const cleanup: (() => void)[] = [];

async function clients(region: string) {
  const context = await localContext(endpoint, source, region, TEST_ROLE_NAME);
  const made = {
    ec2: new EC2Client(sdkConfig(context)),
    rds: new RDSClient(sdkConfig(context)),
    kms: new KMSClient(sdkConfig(context)),
    ssm: new SSMClient(sdkConfig(context)),
    secrets: new SecretsManagerClient(sdkConfig(context)),
    dynamo: new DynamoDBClient(sdkConfig(context)),
  };
  cleanup.push(...Object.values(made).map((client) => () => client.destroy()));
  return made;
}

type Clients = Awaited<ReturnType<typeof clients>>;

async function volume(ec2: EC2Client, region: string, tagged: boolean, kmsKeyId?: string): Promise<string> {
  const { VolumeId } = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: `${region}a`,
      Size: 1,
      ...(kmsKeyId ? { Encrypted: true, KmsKeyId: kmsKeyId } : {}),
      ...(tagged ? { TagSpecifications: [{ ResourceType: 'volume', Tags: TAGS }] } : {}),
    }),
  );
  return VolumeId as string;
}

/** An image backed by one snapshot under `kmsKeyId`; the volume it was taken of is deleted, so only the image is left. */
async function image(ec2: EC2Client, region: string, name: string, kmsKeyId: string): Promise<string> {
  const root = await volume(ec2, region, false, kmsKeyId);
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId: root }));
  await ec2.send(new DeleteVolumeCommand({ VolumeId: root }));
  const { ImageId } = await ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      Architecture: 'x86_64',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId } }],
      TagSpecifications: [{ ResourceType: 'image', Tags: TAGS }],
    }),
  );
  return ImageId as string;
}

async function table(dynamo: DynamoDBClient, name: string, pitr: boolean): Promise<void> {
  await dynamo.send(
    new CreateTableCommand({ ...createTableInput(name, { ...plainTableSpec({ name }), arn: '' }), Tags: TAGS }),
  );
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: name });
  if (pitr) {
    await dynamo.send(
      new UpdateContinuousBackupsCommand({
        TableName: name,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
  }
}

const database = (identifier: string, extra: Record<string, string> = {}) =>
  new CreateDBInstanceCommand({
    DBInstanceIdentifier: identifier,
    Engine: 'postgres',
    DBInstanceClass: 'db.t3.micro',
    AllocatedStorage: 20,
    MasterUsername: 'admin',
    MasterUserPassword: 'not-a-real-password',
    Tags: TAGS,
    ...extra,
  });

/** The registered Region: the source stack's share key, protected resources, and one unprotected per reason. */
async function plantHome(home: Clients, awsEbsKey: string): Promise<void> {
  // The source stack of the registered Region: its share key is what says the agent runs there.
  const { KeyMetadata } = await home.kms.send(new CreateKeyCommand({ Description: 'share key' }));
  await home.kms.send(new CreateAliasCommand({ AliasName: 'alias/bunker-share', TargetKeyId: KeyMetadata?.KeyId }));

  // Protected: copied within the RPO (a default-key volume and image too: the agent here re-keys them).
  ids.protectedVolume = await volume(home.ec2, HOME, true, awsEbsKey);
  ids.protectedImage = await image(home.ec2, HOME, 'web-home', awsEbsKey);
  await home.rds.send(database('db-protected'));
  await home.ssm.send(new PutParameterCommand({ Name: '/app/db', Value: 'v', Type: 'String', Tags: TAGS }));
  await home.secrets.send(new CreateSecretCommand({ Name: 'prod/api', SecretString: 'v', Tags: TAGS }));
  await table(home.dynamo, 'orders', true);

  // Unprotected in the registered Region, one per reason.
  ids.untaggedVolume = await volume(home.ec2, HOME, false); // outside-scope
  ids.staleVolume = await volume(home.ec2, HOME, true); // no-fresh-copy
  await home.rds.send(
    new CreateOptionGroupCommand({
      OptionGroupName: 'oracle-tde',
      EngineName: 'oracle-ee',
      MajorEngineVersion: '19',
      OptionGroupDescription: 'TDE',
    }),
  );
  await home.rds.send(
    new ModifyOptionGroupCommand({ OptionGroupName: 'oracle-tde', OptionsToInclude: [{ OptionName: 'TDE' }] }),
  );
  await home.rds.send(
    database('db-tde', { Engine: 'oracle-ee', DBInstanceClass: 'db.m5.large', OptionGroupName: 'oracle-tde' }),
  );
  await home.rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: 'cluster-off',
      Engine: 'aurora-postgresql',
      MasterUsername: 'admin',
      MasterUserPassword: 'not-a-real-password',
      Tags: TAGS,
    }),
  ); // kind-disabled
  await home.ssm.send(new PutParameterCommand({ Name: '/other/x', Value: 'v', Type: 'String', Tags: TAGS }));
  await home.secrets.send(new CreateSecretCommand({ Name: 'dev/api', SecretString: 'v', Tags: TAGS }));
  await table(home.dynamo, 'events', false); // no-pitr (advice only)
}

/** The Region not registered: in scope otherwise, but no agent and no pull there. */
async function plantFar(far: Clients, awsEbsKey: string): Promise<void> {
  ids.farVolume = await volume(far.ec2, FAR, true, awsEbsKey); // + default-key
  await far.secrets.send(new CreateSecretCommand({ Name: 'prod/far', SecretString: 'v', Tags: TAGS }));
  await far.ssm.send(new PutParameterCommand({ Name: '/app/far', Value: 'v', Type: 'String', Tags: TAGS }));
  await far.rds.send(database('db-far'));
  await table(far.dynamo, 'far-orders', true);
  ids.farImage = await image(far.ec2, FAR, 'web-far', awsEbsKey); // + default-key, told by its snapshot
  const { KeyMetadata: farKey } = await far.kms.send(new CreateKeyCommand({ Description: 'a key of their own' }));
  ids.farOwnKeyImage = await image(far.ec2, FAR, 'web-far-own-key', farKey?.Arn as string);
}

beforeAll(async () => {
  source = freshAccountId();
  vault = await createPullVault(endpoint, freshAccountId(), HOME);
  cleanup.push(() => vault.destroy());
  config = BunkerConfigSchema.parse({
    name: PULL_PREFIX,
    backup: { account: vault.account, region: HOME },
    sources: [{ account: source, regions: [HOME] }],
    alerts: { allowNoEmail: true },
    artifacts: {
      rds: { enabled: true, scope: TAG },
      aurora: { enabled: false },
      ebs: { enabled: true, scope: TAG },
      ami: { enabled: true, scope: TAG },
      ssm: { enabled: true, scope: TAG, paths: ['/app/'] },
      secrets: { enabled: true, scope: TAG, namePrefixes: ['prod/'] },
      dynamodb: { enabled: true, scope: TAG },
    },
  });
  const awsEbsKey = (region: string) => `arn:aws:kms:${region}:${source}:key/${AWS_EBS_KEY_ID}`;
  // The two Regions are planted side by side: the emulator's first use of each costs most of the time.
  await Promise.all([plantHome(await clients(HOME), awsEbsKey(HOME)), plantFar(await clients(FAR), awsEbsKey(FAR))]);

  // The inventory: fresh copies of the protected resources, a three-day-old one of the stale volume.
  const now = new Date();
  const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000).toISOString();
  const inventory = new DynamoInventory(vault.dynamo, vault.table, vaultNames(PULL_PREFIX).inventoryStatusIndex);
  const copies: [string, string, string][] = [
    ['ebs-snapshot', ids.protectedVolume, hoursAgo(2)],
    ['ami', ids.protectedImage, hoursAgo(2)],
    ['rds-snapshot', 'db-protected', hoursAgo(2)],
    ['ebs-snapshot', ids.staleVolume, hoursAgo(72)],
  ];
  for (const [kind, resource, at] of copies) {
    await inventory.create(
      newRecord(
        {
          artifactId: `${kind}:${source}:${HOME}:copy-of-${resource}`,
          kind: kind as 'ebs-snapshot',
          status: 'available',
          sourceAccount: source,
          sourceRegion: HOME,
          // An image's copy is of the image itself; a snapshot's of its volume or instance.
          sourceId: kind === 'ami' ? resource : `copy-of-${resource}`,
          sourceResourceId: resource,
          sourceCreatedAt: at,
        },
        new Date(at),
      ),
    );
  }
  const held: [PulledConfigKey, string][] = [
    ['ssm', '/app/db'],
    ['secrets', 'prod/api'],
    ['dynamodb', 'orders'],
    ['dynamodb', 'events'],
  ];
  for (const [key, name] of held) {
    const kind = PULLED_KIND_OF[key];
    const pulledAt = hoursAgo(1);
    await vault.records.create({
      artifactId: pulledArtifactId(kind, source, HOME, name),
      kind,
      pullScope: pullScopeOf(kind, source, HOME),
      state: 'held',
      sourceAccount: source,
      sourceRegion: HOME,
      sourceId: name,
      latest: { id: 'v1', modifiedAt: pulledAt, pulledAt, objectKey: `held/${name}`, checksum: 'c' },
      createdAt: pulledAt,
      updatedAt: pulledAt,
      version: 1,
    });
  }

  // What is there, read with boto3 as the source account, sharing nothing with the survey; beside it, the
  // report as \`bunker coverage\` makes it with no Region named: every enabled Region is looked in.
  [planted, report] = await Promise.all([
    boto3<typeof planted>(
      endpoint,
      source,
      `
ec2 = client('ec2')
images = ec2.describe_images(Owners=['self'])['Images']
keys = {}
for image in images:
    for mapping in image.get('BlockDeviceMappings', []):
        snap = mapping['Ebs']['SnapshotId']
        keys[snap] = ec2.describe_snapshots(SnapshotIds=[snap])['Snapshots'][0].get('KmsKeyId', '')
aliases = client('kms').list_aliases()['Aliases']
out({
    'volumes': sorted(v['VolumeId'] for v in ec2.describe_volumes()['Volumes']),
    'dbs': sorted(d['DBInstanceIdentifier'] for d in client('rds').describe_db_instances()['DBInstances']),
    'tables': sorted(client('dynamodb').list_tables()['TableNames']),
    'parameters': sorted(p['Name'] for p in client('ssm').describe_parameters()['Parameters']),
    'secrets': sorted(s['Name'] for s in client('secretsmanager').list_secrets()['SecretList']),
    'images': sorted(({'id': i['ImageId'], 'keys': [keys[m['Ebs']['SnapshotId']] for m in i['BlockDeviceMappings']]} for i in images), key=lambda i: i['id']),
    'ebsAlias': next(a['TargetKeyId'] for a in aliases if a['AliasName'] == 'alias/aws/ebs'),
    'enabled': sorted(r['RegionName'] for r in ec2.describe_regions()['Regions']
                      if r['OptInStatus'] != 'not-opted-in' and not r['RegionName'].startswith(('cn-', 'us-gov-'))),
})
`,
      {},
      FAR,
    ),
    readCoverage(config, vault.context, { progress: (line) => progress.push(line) }, now),
  ]);
  enabled = planted.enabled;
}, 120_000);

afterAll(() => {
  for (const destroy of cleanup.splice(0)) destroy();
});

describe('bunker coverage on the emulator', () => {
  it('has what was planted in the Region not registered, as boto3 reads it', () => {
    expect(planted).toEqual({
      volumes: [ids.farVolume],
      dbs: ['db-far'],
      tables: ['far-orders'],
      parameters: ['/app/far'],
      secrets: ['prod/far'],
      images: [
        { id: ids.farImage, keys: [`arn:aws:kms:${FAR}:${source}:key/${AWS_EBS_KEY_ID}`] },
        { id: ids.farOwnKeyImage, keys: [expect.not.stringContaining(AWS_EBS_KEY_ID)] },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      ebsAlias: AWS_EBS_KEY_ID,
      enabled: expect.arrayContaining([HOME, FAR]),
    });
  });

  it('looks in every enabled Region with no Region named, and reports every planted unprotected resource with its fix, and nothing protected', () => {
    const found = report.findings
      .map((f) => `${f.kind} ${f.region} ${f.resource}: ${f.reasons.map((r) => r.code).join(',')}`)
      .sort();
    expect(found).toEqual(
      [
        'aurora eu-west-1 cluster-off: kind-disabled',
        `ebs eu-west-1 ${ids.untaggedVolume}: outside-scope`,
        `ebs eu-west-1 ${ids.staleVolume}: no-fresh-copy`,
        'rds eu-west-1 db-tde: tde',
        'secrets eu-west-1 dev/api: outside-prefix',
        'ssm eu-west-1 /other/x: outside-prefix',
        'dynamodb eu-west-1 events: no-pitr',
        `ebs us-east-2 ${ids.farVolume}: region-not-registered,default-key`,
        `ami us-east-2 ${ids.farImage}: region-not-registered,default-key`,
        `ami us-east-2 ${ids.farOwnKeyImage}: region-not-registered`,
        'rds us-east-2 db-far: region-not-registered',
        'dynamodb us-east-2 far-orders: region-not-registered',
        'ssm us-east-2 /app/far: region-not-registered',
        'secrets us-east-2 prod/far: region-not-registered',
      ].sort(),
    );
    expect(report.findings.every((f) => f.account === source)).toBe(true);
    const far = report.findings.find((f) => f.resource === ids.farImage);
    expect(far?.reasons.map((r) => r.fix)).toEqual([
      `add "us-east-2" to the regions of source ${source} in the configuration and deploy its source stack`,
      `deploy the source stack to ${source} us-east-2 (its agent re-keys every snapshot in scope under the share key), or re-encrypt it under a customer-managed key`,
    ]);
    expect(report.checked).toBe(20);
    expect(report.uncovered).toBe(13);
    expect(report.notes).toEqual([]);
    expect(report.unknown).toEqual([]);
    expect(report.incomplete).toBe(false);
    expect(coverageExitCode(report)).toBe(2);
  });

  it('says how many Regions it looks in for the account, and what it found in each (the CLI writes it to stderr)', () => {
    expect(progress[0]).toBe(
      `${source}: ${enabled.length} Region(s) enabled; looking in 1 registered and ${enabled.length - 1} not registered`,
    );
    expect(progress.slice(1).sort()).toEqual(
      enabled
        .map((region) =>
          region === HOME
            ? `${source} ${HOME}: 13 resource(s)`
            : `${source} ${region} (not registered): ${region === FAR ? 7 : 0} resource(s)`,
        )
        .sort(),
    );
  });

  it('narrows to the Regions --probe-regions names, and says what it left out and what is not enabled', async () => {
    const narrowed = await readCoverage(config, vault.context, { probeRegions: [FAR, 'ap-east-1'] }, new Date());
    expect(narrowed.findings.filter((f) => f.region === FAR)).toHaveLength(7);
    expect(narrowed.notes).toEqual([
      `${source}: not looked in, left out by --probe-regions: ${enabled.filter((r) => r !== HOME && r !== FAR).join(', ')}`,
      `${source}: not enabled in the account, so nothing can be there: ap-east-1`,
    ]);
    const table = coverageTable(narrowed);
    expect(table).toContain('db-far');
    expect(table).toContain('20 resource(s) listed at');
    expect(table).toContain('13 not covered, 1 with advice only.');
    expect(coverageExitCode(narrowed)).toBe(2);
  });

  it('reports Regions the reader role is refused in as unknown, with what to do (double: the emulator enforces no IAM policy, so an older reader role is a surveyor refused outside the registered Region)', async () => {
    const real = new ReaderRoleSurvey(vault.context, config.name);
    const denied = (action: string) =>
      `AccessDenied: User: arn:aws:sts::${source}:assumed-role/bunker-reader/bunker-coverage is not authorized to perform: ${action}`;
    const older: Surveyor = {
      enabledRegions: () =>
        Promise.reject(Object.assign(new Error(denied('ec2:DescribeRegions')), { name: 'UnauthorizedOperation' })),
      survey: (account, region, registered) =>
        registered
          ? real.survey(account, region, registered)
          : Promise.resolve({
              account,
              region,
              registered,
              resources: [],
              unlisted: (['keys', 'rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb'] as const).map(
                (kind) => ({ kind, reason: denied(kind) }),
              ),
            }),
    };
    const lines: string[] = [];
    const refused = await readCoverage(
      config,
      vault.context,
      { surveyor: older, probeRegions: [FAR, 'sa-east-1'], progress: (line) => lines.push(line) },
      new Date(),
    );
    expect(refused.findings.some((f) => f.region !== HOME)).toBe(false);
    expect(refused.unknown.map((u) => u.region)).toEqual(['sa-east-1', FAR]);
    expect(refused.notes).toEqual([
      `${source}: could not list anything in 2 Region(s) it does not register: sa-east-1, us-east-2 (${denied('rds')}); what is there is unknown, not nothing: redeploy the source stack of ${source} in its first listed Region (its reader role bunker-reader may list metadata in every Region), and where a service control policy denies a Region, let that role list there`,
      `${source}: could not learn which Regions it has enabled (UnauthorizedOperation: ${denied('ec2:DescribeRegions')}), so only its registered Regions and those --probe-regions names were looked in: redeploy its source stack (its reader role may call ec2:DescribeRegions)`,
    ]);
    expect(refused.incomplete).toBe(false);
    expect(lines[0]).toBe(
      `${source}: could not ask which Regions are enabled (UnauthorizedOperation: ${denied('ec2:DescribeRegions')}); looking in 1 registered and 2 not registered`,
    );
  });
});
