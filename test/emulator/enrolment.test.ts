/**
 * Organization-wide enrolment on the emulator, through the real adapters:
 * an account created in a unit (two levels down) is enrolled by the
 * enrolment handler, its intake topic has the one-account policy (read back
 * with boto3), and a notification it publishes there is accepted by intake;
 * once it has left the units, the next one is rejected. The enrolment
 * ports' in-memory doubles run the same contract cases as the adapters.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateAccountCommand,
  CreateOrganizationalUnitCommand,
  CreateOrganizationCommand,
  ListRootsCommand,
  MoveAccountCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../cli/local/accounts';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { DynamoInventory } from '../../lambdas/adapters/dynamo-inventory';
import { DynamoEnrolments } from '../../lambdas/adapters/enrolment/dynamo-enrolments';
import { enrolmentDeps, sourceRegistry } from '../../lambdas/adapters/enrolment/wiring';
import { orgReaderClient, SdkOrganizationDirectory } from '../../lambdas/adapters/enrolment/organizations';
import { SnsIntakeTopics } from '../../lambdas/adapters/enrolment/sns-intake-topics';
import type {
  EnrolmentRecord,
  Enrolments,
  IntakeTopics,
  OrganizationDirectory,
} from '../../lambdas/core/enrolment/types';
import { rejectionId } from '../../lambdas/core/names';
import { silentLog } from '../../lambdas/core/ports';
import { createEnrolmentHandler } from '../../lambdas/handlers/enrolment';
import { createIntakeHandler } from '../../lambdas/handlers/intake';
import { vaultSettings } from '../../lib/config/runtime';
import type { BunkerConfig } from '../../lib/config/schema';
import { enrolmentSettings } from '../../lib/constructs/enrolment';
import { MemoryEnrolments, MemoryIntakeTopics, MemoryOrganization } from '../../sim/memory-enrolment';
import { clientConfig, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';
import { boto3 } from './support/boto3';
import {
  bunkerConfig,
  createDatabase,
  createKey,
  createSnapshot,
  intakeQueue,
  notificationV2,
  publish,
  REGION,
  realVaultDeps,
  shareSnapshot,
  TestClients,
} from './support/bunker';

const endpoint = emulatorEndpoint();

/** An organization on the emulator: root → prod → team, and the units' ids. */
interface Org {
  readonly management: string;
  readonly client: OrganizationsClient;
  readonly orgId: string;
  readonly root: string;
  readonly prod: string;
  readonly team: string;
}

async function createOrg(): Promise<Org> {
  const management = freshAccountId();
  const client = new OrganizationsClient(clientConfig(endpoint, management, 'us-east-1'));
  const { Organization } = await client.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
  const { Roots } = await client.send(new ListRootsCommand({}));
  const root = Roots?.[0]?.Id ?? '';
  const unit = async (parent: string, name: string) =>
    (await client.send(new CreateOrganizationalUnitCommand({ ParentId: parent, Name: name }))).OrganizationalUnit?.Id ??
    '';
  const prod = await unit(root, 'prod');
  const team = await unit(prod, 'team');
  return { management, client, orgId: Organization?.Id ?? '', root, prod, team };
}

/** A new account of the organization, moved from the root into `unit`. */
async function createAccount(org: Org, name: string, unit: string): Promise<string> {
  const { CreateAccountStatus } = await org.client.send(
    new CreateAccountCommand({ AccountName: name, Email: `${name}@example.com` }),
  );
  const account = CreateAccountStatus?.AccountId ?? '';
  await org.client.send(
    new MoveAccountCommand({ AccountId: account, SourceParentId: org.root, DestinationParentId: unit }),
  );
  return account;
}

describe('enrolment of an organizational unit through the real adapters', () => {
  const clients = new TestClients(endpoint);
  let org: Org;
  let config: BunkerConfig;
  let env: LocalEnvironment;
  let newcomer: string;
  let enrol: () => ReturnType<ReturnType<typeof createEnrolmentHandler>>;

  beforeAll(async () => {
    org = await createOrg();
    const [backup, listed] = [freshAccountId(), freshAccountId()];
    config = bunkerConfig(backup, [listed], {
      organization: { id: org.orgId, managementAccount: org.management, units: [{ id: org.prod, regions: [REGION] }] },
    });
    env = await localUp(config, endpoint);
    newcomer = await createAccount(org, 'ledger', org.team);
    const context = await localContext(endpoint, backup, REGION, 'bunker-enrolment');
    const settings = enrolmentSettings(config, {
      keyArn: env.intakeKeyArn,
      queueArn: `arn:aws:sqs:${REGION}:${backup}:bunker-intake`,
      deadLetterQueueArn: `arn:aws:sqs:${REGION}:${backup}:bunker-intake-dlq`,
    });
    enrol = createEnrolmentHandler(enrolmentDeps(settings, context, silentLog));
  });

  afterAll(() => {
    org.client.destroy();
    clients.destroy();
  });

  it('enrols the account created in a child unit, once, with a topic only its agents may publish on', async () => {
    const first = await enrol();
    const second = await enrol();

    expect(first.enrolled).toEqual([newcomer]);
    expect(second).toEqual({ enrolled: [], updated: [], departed: [], unchanged: 1, conflicts: 0 });
    const topicArn = `arn:aws:sns:${REGION}:${config.backup.account}:bunker-intake-${newcomer}`;
    const seen = await boto3<{ attributes: Record<string, string>; subscriptions: Record<string, string>[] }>(
      endpoint,
      config.backup.account,
      `
sns = client('sns')
attributes = sns.get_topic_attributes(TopicArn=ARGS['topic'])['Attributes']
subscriptions = []
for s in sns.list_subscriptions_by_topic(TopicArn=ARGS['topic'])['Subscriptions']:
    subscriptions.append({'Endpoint': s['Endpoint'], **sns.get_subscription_attributes(SubscriptionArn=s['SubscriptionArn'])['Attributes']})
out({'attributes': attributes, 'subscriptions': subscriptions})
`,
      { topic: topicArn },
    );
    expect(seen.attributes.KmsMasterKeyId).toBe(env.intakeKeyArn);
    const policy = JSON.parse(seen.attributes.Policy) as { Statement: Record<string, unknown>[] };
    expect(policy.Statement.find((s) => s.Effect === 'Allow')).toEqual({
      Sid: 'ThisSourceAccountsAgentsPublish',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${newcomer}:root` },
      Action: 'sns:Publish',
      Resource: topicArn,
      Condition: { ArnEquals: { 'aws:PrincipalArn': [`arn:aws:iam::${newcomer}:role/bunker-source-agent-${REGION}`] } },
    });
    expect(seen.subscriptions).toHaveLength(1);
    expect(seen.subscriptions[0]).toMatchObject({
      Endpoint: `arn:aws:sqs:${REGION}:${config.backup.account}:bunker-intake`,
      RawMessageDelivery: 'false',
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: `arn:aws:sqs:${REGION}:${config.backup.account}:bunker-intake-dlq`,
      }),
    });
  });

  it("leaves the enrolment records out of the inventory's list of copies (what bunker inventory shows)", async () => {
    await enrol();
    const inventory = new DynamoInventory(
      new DynamoDBClient(clientConfig(endpoint, config.backup.account)),
      'bunker-inventory',
      'by-status',
    );
    const enrolled = await new DynamoEnrolments(
      new DynamoDBClient(clientConfig(endpoint, config.backup.account)),
      'bunker-inventory',
    ).get(newcomer);

    expect(enrolled?.account).toBe(newcomer);
    expect((await inventory.list()).filter((record) => record.artifactId.startsWith('enrolled:'))).toEqual([]);
  });

  it("accepts the enrolled account's notification on its topic, and rejects the next once it has left the units", async () => {
    await enrol();
    const rds = clients.rds(newcomer);
    const key = await createKey(clients.kms(newcomer), 'the share key');
    await createDatabase(rds, { id: 'ledger-db', inScope: true, kmsKeyId: key });
    await createSnapshot(rds, 'ledger-db', 'bunker-share-ledger');
    await shareSnapshot(rds, 'bunker-share-ledger', config.backup.account);
    const backupContext = await localContext(endpoint, config.backup.account, REGION, 'bunker-intake');
    const deps = await realVaultDeps(config, env, endpoint);
    const handler = createIntakeHandler({
      ...deps,
      registry: sourceRegistry(vaultSettings(config, env.backupKeyArn), backupContext),
    });
    const queue = intakeQueue(config, env, clients.sqs(config.backup.account));
    const sns: SNSClient = clients.sns(newcomer);
    const topicArn = `arn:aws:sns:${REGION}:${config.backup.account}:bunker-intake-${newcomer}`;

    await publish(sns, topicArn, notificationV2(newcomer, 'bunker-share-ledger'));
    const accepted = await queue.deliver(handler, 1);

    expect(accepted.response.batchItemFailures).toEqual([]);
    const record = await deps.inventory.get(`rds-snapshot:${newcomer}:${REGION}:bunker-share-ledger`);
    expect(record).toMatchObject({ sourceAccount: newcomer, kind: 'rds-snapshot' });
    expect(['copying', 'available']).toContain(record?.status);

    await org.client.send(
      new MoveAccountCommand({ AccountId: newcomer, SourceParentId: org.team, DestinationParentId: org.root }),
    );
    expect((await enrol()).departed).toEqual([newcomer]);
    const later = notificationV2(newcomer, 'bunker-share-ledger-2');
    await publish(sns, topicArn, later);
    const freshRegistry = createIntakeHandler({
      ...deps,
      registry: sourceRegistry(vaultSettings(config, env.backupKeyArn), backupContext),
    });
    const rejected = await queue.deliver(freshRegistry, 1);

    expect(rejected.response.batchItemFailures).toEqual([]);
    const rejection = await deps.inventory.get(rejectionId(rejected.event.Records[0].body));
    expect(rejection).toMatchObject({
      status: 'rejected',
      reason: `delivered through ${topicArn}, not the intake topic of a registered source account`,
    });
    expect(await deps.inventory.get(`rds-snapshot:${newcomer}:${REGION}:bunker-share-ledger-2`)).toBeUndefined();
  });
});

/** One organization tree for a contract case: the same units and accounts in the double and on the emulator. */
interface DirectoryCase {
  readonly name: string;
  readonly make: () => Promise<{
    directory: OrganizationDirectory;
    root: string;
    prod: string;
    team: string;
    account: string;
  }>;
}

const directories: DirectoryCase[] = [
  {
    name: 'MemoryOrganization',
    make: async () => {
      const directory = new MemoryOrganization()
        .addUnit('ou-ab12-prod0001', 'r-ab12')
        .addUnit('ou-ab12-team0001', 'ou-ab12-prod0001')
        .addAccount('555555555555', 'ou-ab12-team0001');
      return { directory, root: 'r-ab12', prod: 'ou-ab12-prod0001', team: 'ou-ab12-team0001', account: '555555555555' };
    },
  },
  {
    name: 'SdkOrganizationDirectory on the emulator',
    make: async () => {
      const org = await createOrg();
      const account = await createAccount(org, 'contract', org.team);
      const context = await localContext(endpoint, freshAccountId(), REGION, 'bunker-enrolment');
      const roleArn = `arn:aws:iam::${org.management}:role/bunker-org-reader`;
      const directory = new SdkOrganizationDirectory(orgReaderClient(context, roleArn));
      return { directory, root: org.root, prod: org.prod, team: org.team, account };
    },
  },
];

describe.each(directories)('OrganizationDirectory contract: $name', ({ make }) => {
  it('lists the child units of a parent and the accounts directly in a unit, ACTIVE', async () => {
    const { directory, root, prod, team, account } = await make();

    expect(await directory.childUnits(root)).toEqual([prod]);
    expect(await directory.childUnits(prod)).toEqual([team]);
    expect(await directory.childUnits(team)).toEqual([]);
    expect(await directory.accountsIn(prod)).toEqual([]);
    expect(await directory.accountsIn(team)).toEqual([{ id: account, status: 'ACTIVE' }]);
  });
});

interface StoreCase {
  readonly name: string;
  readonly make: () => Promise<{ enrolments: Enrolments; topics: IntakeTopics; backup: string }>;
}

const stores: StoreCase[] = [
  {
    name: 'memory doubles',
    make: async () => {
      const backup = freshAccountId();
      const topics = new MemoryIntakeTopics({
        prefix: 'bunker',
        backupAccount: backup,
        backupRegion: REGION,
        intakeKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/intake',
        intakeQueueArn: `arn:aws:sqs:${REGION}:${backup}:bunker-intake`,
      });
      return { enrolments: new MemoryEnrolments(), topics, backup };
    },
  },
  {
    name: 'DynamoEnrolments and SnsIntakeTopics on the emulator',
    make: async () => {
      const backup = freshAccountId();
      const env = await localUp(bunkerConfig(backup, [freshAccountId()]), endpoint);
      const enrolments = new DynamoEnrolments(
        new DynamoDBClient(clientConfig(endpoint, backup, REGION)),
        env.tableName,
      );
      const topics = new SnsIntakeTopics(new SNSClient(clientConfig(endpoint, backup, REGION)), {
        prefix: 'bunker',
        partition: 'aws',
        intakeKeyArn: env.intakeKeyArn,
        intakeQueueArn: `arn:aws:sqs:${REGION}:${backup}:bunker-intake`,
        deadLetterQueueArn: `arn:aws:sqs:${REGION}:${backup}:bunker-intake-dlq`,
      });
      return { enrolments, topics, backup };
    },
  },
];

const recordOf = (account: string, version = 1): EnrolmentRecord => ({
  artifactId: `enrolled:${account}`,
  enrolment: 'active',
  account,
  regions: [REGION],
  units: ['ou-ab12-prod0001'],
  topicArn: `arn:aws:sns:${REGION}:111111111111:bunker-intake-${account}`,
  enrolledAt: '2026-03-01T04:30:00.000Z',
  updatedAt: '2026-03-01T04:30:00.000Z',
  version,
});

describe.each(stores)('enrolment stores contract: $name', ({ make }) => {
  let made: Awaited<ReturnType<StoreCase['make']>>;

  beforeAll(async () => {
    made = await make();
  });

  it('creates a record once, replaces it only from its current version, and lists enrolment records only', async () => {
    const { enrolments } = made;
    const first = recordOf('555555555555');

    expect(await enrolments.create(first)).toBe(true);
    expect(await enrolments.create(first)).toBe(false);
    const departed = { ...first, enrolment: 'departed' as const, departedAt: '2026-03-01T05:30:00.000Z', version: 2 };
    expect(await enrolments.replace(first, departed)).toBe(true);
    expect(await enrolments.replace(first, { ...first, version: 2 })).toBe(false);
    expect(await enrolments.get('555555555555')).toEqual(departed);
    expect(await enrolments.get('666666666666')).toBeUndefined();
    expect(await enrolments.list()).toEqual([departed]);
  });

  it("makes an account's intake topic once however often it is asked, named for the account in the backup account", async () => {
    const { topics, backup } = made;

    const first = await topics.ensure('555555555555', [REGION]);
    const again = await topics.ensure('555555555555', [REGION, 'eu-central-1']);

    expect(first).toBe(`arn:aws:sns:${REGION}:${backup}:bunker-intake-555555555555`);
    expect(again).toBe(first);
  });
});
