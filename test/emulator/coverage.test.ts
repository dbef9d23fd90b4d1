/**
 * `bunker coverage` on the emulator: one source account with one unprotected
 * resource planted for each reason (in its registered Region and in a Region
 * it does not register) and protected ones beside them, listed through the
 * reader role by the real survey and judged against an inventory written
 * here. Coverage must name every planted unprotected resource, with its
 * reasons, and nothing protected.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
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
import type { CoverageReport } from '../../lambdas/core/coverage/types';
import { newRecord } from '../../lambdas/core/inventory';
import { vaultNames } from '../../lambdas/core/names';
import { PULLED_KIND_OF, type PulledConfigKey, pulledArtifactId, pullScopeOf } from '../../lambdas/core/pull/types';
import { type BunkerConfig, BunkerConfigSchema } from '../../lib/config/schema';
import { freshAccountId, TEST_ROLE_NAME } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { plainTableSpec } from '../support/tables';
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
let report: CoverageReport;
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
      ssm: { enabled: true, scope: TAG, paths: ['/app/'] },
      secrets: { enabled: true, scope: TAG, namePrefixes: ['prod/'] },
      dynamodb: { enabled: true, scope: TAG },
    },
  });
  const home = await clients(HOME);
  const far = await clients(FAR);

  // The source stack of the registered Region: its share key is what says the agent runs there.
  const { KeyMetadata } = await home.kms.send(new CreateKeyCommand({ Description: 'share key' }));
  await home.kms.send(new CreateAliasCommand({ AliasName: 'alias/bunker-share', TargetKeyId: KeyMetadata?.KeyId }));

  // Protected: copied within the RPO (a default-key volume too: the agent here re-keys it).
  const awsEbsKey = (region: string) => `arn:aws:kms:${region}:${source}:key/${AWS_EBS_KEY_ID}`;
  ids.protectedVolume = await volume(home.ec2, HOME, true, awsEbsKey(HOME));
  await home.rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'db-protected',
      Engine: 'postgres',
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: 20,
      MasterUsername: 'admin',
      MasterUserPassword: 'not-a-real-password',
      Tags: TAGS,
    }),
  );
  await home.ssm.send(new PutParameterCommand({ Name: '/app/db', Value: 'v', Type: 'String', Tags: TAGS }));
  await home.secrets.send(new CreateSecretCommand({ Name: 'prod/api', SecretString: 'v', Tags: TAGS }));
  await table(home.dynamo, 'orders', true);

  // Unprotected, one per reason.
  ids.untaggedVolume = await volume(home.ec2, HOME, false); // outside-scope
  ids.staleVolume = await volume(home.ec2, HOME, true); // no-fresh-copy
  ids.farVolume = await volume(far.ec2, FAR, true, awsEbsKey(FAR)); // region-not-registered + default-key
  await far.secrets.send(new CreateSecretCommand({ Name: 'prod/far', SecretString: 'v', Tags: TAGS }));
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
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'db-tde',
      Engine: 'oracle-ee',
      DBInstanceClass: 'db.m5.large',
      AllocatedStorage: 20,
      MasterUsername: 'admin',
      MasterUserPassword: 'not-a-real-password',
      OptionGroupName: 'oracle-tde',
      Tags: TAGS,
    }),
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

  // The inventory: fresh copies of the protected resources, a three-day-old one of the stale volume.
  const now = new Date();
  const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000).toISOString();
  const inventory = new DynamoInventory(vault.dynamo, vault.table, vaultNames(PULL_PREFIX).inventoryStatusIndex);
  const copies: [string, string, string][] = [
    ['ebs-snapshot', ids.protectedVolume, hoursAgo(2)],
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
          sourceId: `copy-of-${resource}`,
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

  report = await readCoverage(config, vault.context, { probeRegions: [FAR] }, now);
}, 60_000);

afterAll(() => {
  for (const destroy of cleanup.splice(0)) destroy();
});

describe('bunker coverage on the emulator', () => {
  it('reports every planted unprotected resource with its reasons, and nothing protected', () => {
    const found = report.findings
      .map((f) => `${f.kind} ${f.region} ${f.resource}: ${f.reasons.map((r) => r.code).join(',')}`)
      .sort();
    expect(found).toEqual(
      [
        'aurora eu-west-1 cluster-off: kind-disabled',
        `ebs eu-west-1 ${ids.untaggedVolume}: outside-scope`,
        `ebs eu-west-1 ${ids.staleVolume}: no-fresh-copy`,
        `ebs us-east-2 ${ids.farVolume}: region-not-registered,default-key`,
        'rds eu-west-1 db-tde: tde',
        'secrets eu-west-1 dev/api: outside-prefix',
        'secrets us-east-2 prod/far: region-not-registered',
        'ssm eu-west-1 /other/x: outside-prefix',
        'dynamodb eu-west-1 events: no-pitr',
      ].sort(),
    );
    expect(report.findings.every((f) => f.account === source)).toBe(true);
    expect(report.checked).toBe(14);
    expect(report.uncovered).toBe(8);
    expect(report.notes).toEqual([]);
    expect(report.incomplete).toBe(false);
    expect(coverageExitCode(report)).toBe(2);
  });

  it('prints a table of what to change, and what it did not look at without --probe-regions', async () => {
    const table = coverageTable(report);
    expect(table).toContain('cluster-off');
    expect(table).toContain('14 resource(s) listed at');
    expect(table).toContain('8 not covered, 1 with advice only.');
    const home = await readCoverage(config, vault.context, { account: source }, new Date());
    expect(home.notes).toEqual([
      `${source}: not probed for resources in Regions it does not register: any (name them with --probe-regions)`,
    ]);
    expect(home.findings.some((f) => f.region === FAR)).toBe(false);
  });
});
