/**
 * `bunker local up` holds what the synthesized templates say: after it ran,
 * the keys, topics, queues, subscriptions, roles and table read back from
 * the emulator with this test's own SDK clients equal the template documents,
 * with intrinsics resolved for each stack's account and Region. The
 * templates come from this test's own synthesis of the app.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import {
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListKeysCommand,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import {
  GetSubscriptionAttributesCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  SetTopicAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import {
  DeleteObjectCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLoggingCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { App } from 'aws-cdk-lib';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyStack,
  type CfnTemplate,
  type IntrinsicScope,
  pseudoParameters,
  resolveIntrinsics,
  UnsupportedTemplateError,
} from '../../cli/local/template-applier';
import { type LocalEnvironment, localUp } from '../../cli/local/up';
import { buildApp } from '../../lib/app';
import { parseConfig } from '../../lib/config/load';
import type { BunkerConfig } from '../../lib/config/schema';
import { clientConfig, credentialsFor, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';

const endpoint = emulatorEndpoint();
const VAULT_REGION = 'eu-west-1';
const OTHER_REGION = 'eu-central-1';

/** Backup account, a source in the vault's Region, and a source in two Regions (reader role in the first). */
function configFor(backup: string, payments: string, storefront: string): BunkerConfig {
  return parseConfig({
    name: 'bunker',
    backup: { account: backup, region: VAULT_REGION },
    sources: [
      { account: payments, name: 'payments', regions: [VAULT_REGION] },
      { account: storefront, name: 'storefront', regions: [VAULT_REGION, OTHER_REGION] },
    ],
    artifacts: { rds: { enabled: true } },
    alerts: { emails: ['backup-alerts@example.com'] },
  });
}

interface SynthesizedStack {
  readonly stackName: string;
  readonly account: string;
  readonly region: string;
  readonly template: CfnTemplate;
}

/** The app's templates, synthesized here and not by `local up`, vault first. */
function synthesize(config: BunkerConfig): SynthesizedStack[] {
  const outdir = mkdtempSync(join(tmpdir(), 'bunker-local-templates-'));
  try {
    const app = new App({ outdir, builtinCloudFormationValidation: false, context: { [BUNDLING_STACKS]: [] } });
    const built = buildApp(config, app);
    const assembly = app.synth();
    return [built.vault, ...built.sources].map((stack) => ({
      stackName: stack.stackName,
      account: stack.account,
      region: stack.region,
      template: assembly.getStackArtifact(stack.artifactId).template as CfnTemplate,
    }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** SDK clients acting as one account in one Region, through the tests' own credentials. */
class Reader {
  readonly kms: KMSClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly iam: IAMClient;

  constructor(account: string, region: string) {
    const config = clientConfig(endpoint, account, region);
    this.kms = new KMSClient(config);
    this.sns = new SNSClient(config);
    this.sqs = new SQSClient(config);
    this.dynamodb = new DynamoDBClient(config);
    this.iam = new IAMClient(clientConfig(endpoint, account, 'us-east-1'));
  }

  destroy() {
    for (const client of [this.kms, this.sns, this.sqs, this.dynamodb, this.iam]) client.destroy();
  }

  async keyPolicy(keyId: string): Promise<unknown> {
    const { Policy } = await this.kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }));
    return JSON.parse(Policy ?? 'null');
  }

  async keyByAlias(alias: string) {
    const { KeyMetadata } = await this.kms.send(new DescribeKeyCommand({ KeyId: alias }));
    if (!KeyMetadata?.Arn || !KeyMetadata.KeyId) throw new Error(`no key behind ${alias}`);
    return { Arn: KeyMetadata.Arn, KeyId: KeyMetadata.KeyId };
  }

  async topicAttributes(topicArn: string): Promise<Record<string, string>> {
    return (await this.sns.send(new GetTopicAttributesCommand({ TopicArn: topicArn }))).Attributes ?? {};
  }

  async queueAttributes(queueUrl: string): Promise<Record<string, string>> {
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
    );
    return Attributes ?? {};
  }

  async roleTrust(roleName: string): Promise<unknown> {
    const { Role } = await this.iam.send(new GetRoleCommand({ RoleName: roleName }));
    return JSON.parse(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? 'null'));
  }

  async rolePolicy(roleName: string, policyName: string): Promise<unknown> {
    const { PolicyDocument } = await this.iam.send(
      new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
    );
    return JSON.parse(decodeURIComponent(PolicyDocument ?? 'null'));
  }
}

type Resources = CfnTemplate['Resources'];
const ofType = (resources: Resources, type: string) =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

/**
 * What the template's intrinsics resolve to on the emulator: each resource's
 * physical id read back by `reader`, independently of what `local up`
 * recorded. Log groups are not created locally; a policy naming one names
 * "<stack>-<logical id>", the applier's stand-in for CloudFormation's
 * generated name.
 */
async function emulatorScope(stack: SynthesizedStack, reader: Reader): Promise<IntrinsicScope> {
  const refs = new Map<string, string>();
  const attributes = new Map<string, Record<string, string>>();
  const { Resources } = stack.template;
  const topics: string[] = [];
  let token: string | undefined;
  do {
    const page = await reader.sns.send(new ListTopicsCommand({ NextToken: token }));
    topics.push(...(page.Topics ?? []).map((t) => t.TopicArn ?? ''));
    token = page.NextToken;
  } while (token);

  for (const [id, resource] of Object.entries(Resources)) {
    const properties = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::KMS::Alias':
        refs.set(id, String(properties.AliasName));
        break;
      case 'AWS::KMS::Key': {
        const [, alias] = ofType(Resources, 'AWS::KMS::Alias').find(
          ([, a]) => JSON.stringify(a.Properties?.TargetKeyId) === JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }),
        ) ?? [undefined, undefined];
        const key = await reader.keyByAlias(String(alias?.Properties?.AliasName));
        refs.set(id, key.KeyId);
        attributes.set(id, key);
        break;
      }
      case 'AWS::SNS::Topic': {
        const arn = topics.find((t) => t.endsWith(`:${String(properties.TopicName)}`));
        if (!arn) throw new Error(`no topic ${String(properties.TopicName)} on the emulator`);
        refs.set(id, arn);
        attributes.set(id, { TopicArn: arn, TopicName: String(properties.TopicName) });
        break;
      }
      case 'AWS::SQS::Queue': {
        const { QueueUrl } = await reader.sqs.send(new GetQueueUrlCommand({ QueueName: String(properties.QueueName) }));
        const queue = await reader.queueAttributes(QueueUrl ?? '');
        refs.set(id, QueueUrl ?? '');
        attributes.set(id, { Arn: queue.QueueArn, QueueUrl: QueueUrl ?? '', QueueName: String(properties.QueueName) });
        break;
      }
      case 'AWS::DynamoDB::Table': {
        const { Table } = await reader.dynamodb.send(
          new DescribeTableCommand({ TableName: String(properties.TableName) }),
        );
        refs.set(id, String(properties.TableName));
        attributes.set(id, { Arn: Table?.TableArn ?? '' });
        break;
      }
      case 'AWS::IAM::Role': {
        const { Role } = await reader.iam.send(new GetRoleCommand({ RoleName: String(properties.RoleName) }));
        refs.set(id, String(properties.RoleName));
        attributes.set(id, { Arn: Role?.Arn ?? '', RoleId: Role?.RoleId ?? '' });
        break;
      }
      case 'AWS::Logs::LogGroup':
        attributes.set(id, {
          Arn: `arn:aws:logs:${stack.region}:${stack.account}:log-group:${stack.stackName}-${id}:*`,
        });
        break;
    }
  }
  return {
    pseudo: pseudoParameters(stack.stackName, stack.account, stack.region),
    ref(logicalId) {
      const value = refs.get(logicalId);
      if (value === undefined) throw new Error(`${stack.stackName}: nothing on the emulator for Ref ${logicalId}`);
      return value;
    },
    getAtt(logicalId, attribute) {
      const value = attributes.get(logicalId)?.[attribute];
      if (value === undefined)
        throw new Error(`${stack.stackName}: nothing on the emulator for ${logicalId}.${attribute}`);
      return value;
    },
  };
}

interface StackOnEmulator {
  readonly stack: SynthesizedStack;
  readonly reader: Reader;
  /** `value` of the template with intrinsics resolved against the emulator. */
  resolve(value: unknown): unknown;
}

const rootOf = (account: string) => `arn:aws:iam::${account}:root`;

describe('local up against the synthesized templates', () => {
  const backup = freshAccountId();
  const payments = freshAccountId();
  const storefront = freshAccountId();
  const config = configFor(backup, payments, storefront);
  const readers: Reader[] = [];
  const stacks: StackOnEmulator[] = [];
  let env: LocalEnvironment;
  let secondRun: string[];
  const byName = (stackName: string) => {
    const found = stacks.find((s) => s.stack.stackName === stackName);
    if (!found) throw new Error(`no stack ${stackName}`);
    return found;
  };
  const vault = () => byName('bunker-vault');

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    secondRun = [];
    await localUp(config, endpoint, (line) => secondRun.push(line));
    for (const stack of synthesize(config)) {
      const reader = new Reader(stack.account, stack.region);
      readers.push(reader);
      const scope = await emulatorScope(stack, reader);
      stacks.push({ stack, reader, resolve: (value) => resolveIntrinsics(value, scope) });
    }
  });
  afterAll(() => readers.forEach((r) => r.destroy()));

  it('applies the vault and one source stack per account and Region', () => {
    expect(stacks.map(({ stack }) => [stack.stackName, stack.account, stack.region])).toEqual([
      ['bunker-vault', backup, VAULT_REGION],
      [`bunker-source-${payments}-${VAULT_REGION}`, payments, VAULT_REGION],
      [`bunker-source-${storefront}-${VAULT_REGION}`, storefront, VAULT_REGION],
      [`bunker-source-${storefront}-${OTHER_REGION}`, storefront, OTHER_REGION],
    ]);
    expect(env.sources.map((s) => [s.account, s.region])).toEqual([
      [payments, VAULT_REGION],
      [storefront, VAULT_REGION],
      [storefront, OTHER_REGION],
    ]);
  });

  it('gives every KMS key the template key policy, description and rotation, behind its alias', async () => {
    let keys = 0;
    for (const { stack, reader, resolve } of stacks) {
      for (const [id, key] of ofType(stack.template.Resources, 'AWS::KMS::Key')) {
        const { KeyId } = resolve({ KeyId: { Ref: id } }) as { KeyId: string };
        expect(await reader.keyPolicy(KeyId), `${stack.stackName}/${id}`).toEqual(resolve(key.Properties?.KeyPolicy));
        const { KeyMetadata } = await reader.kms.send(new DescribeKeyCommand({ KeyId }));
        expect(KeyMetadata?.Description).toBe(key.Properties?.Description);
        const { KeyRotationEnabled } = await reader.kms.send(new GetKeyRotationStatusCommand({ KeyId }));
        expect(KeyRotationEnabled).toBe(key.Properties?.EnableKeyRotation);
        keys++;
      }
    }
    // Backup-data, inventory, intake, alerts and trail keys; a share key and a receipts key per source stack.
    expect(keys).toBe(11);
  });

  it("gives the share key of a source's second Region the RDS of both Regions, literally", async () => {
    const { reader } = byName(`bunker-source-${storefront}-${OTHER_REGION}`);
    const key = await reader.keyByAlias('alias/bunker-share');
    expect(env.sources[2].shareKeyArn).toBe(key.Arn);
    const viaRds = { 'kms:ViaService': ['rds.eu-central-1.amazonaws.com', 'rds.eu-west-1.amazonaws.com'] };

    expect(await reader.keyPolicy(key.KeyId)).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: rootOf(storefront) }, Action: 'kms:*', Resource: '*' },
        {
          Sid: 'BackupAccountDescribes',
          Effect: 'Allow',
          Principal: { AWS: rootOf(backup) },
          Action: 'kms:DescribeKey',
          Resource: '*',
        },
        {
          Sid: 'BackupAccountDecryptsThroughCopyServicesOnly',
          Effect: 'Allow',
          Principal: { AWS: rootOf(backup) },
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: viaRds },
        },
        {
          Sid: 'BackupAccountLetsCopyServicesGrant',
          Effect: 'Allow',
          Principal: { AWS: rootOf(backup) },
          Action: 'kms:CreateGrant',
          Resource: '*',
          Condition: { StringEquals: viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        },
      ],
    });
  });

  it('gives every topic the template topic policy, KMS key and display name', async () => {
    let policies = 0;
    for (const { stack, reader, resolve } of stacks) {
      for (const [id, policy] of ofType(stack.template.Resources, 'AWS::SNS::TopicPolicy')) {
        for (const topicArn of resolve(policy.Properties?.Topics) as string[]) {
          const attributes = await reader.topicAttributes(topicArn);
          expect(JSON.parse(attributes.Policy), `${stack.stackName}/${id}`).toEqual(
            resolve(policy.Properties?.PolicyDocument),
          );
          policies++;
        }
      }
      for (const [id, topic] of ofType(stack.template.Resources, 'AWS::SNS::Topic')) {
        const attributes = await reader.topicAttributes(resolve({ Ref: id }) as string);
        expect(attributes.KmsMasterKeyId).toBe(resolve(topic.Properties?.KmsMasterKeyId));
        expect(attributes.DisplayName).toBe(topic.Properties?.DisplayName);
      }
    }
    // The two sources' intake topics, the alerts topic, and a receipts topic per source stack.
    expect(policies).toBe(6);
  });

  it("lets only the source's own agent roles publish to its intake topic, literally", async () => {
    const topicArn = `arn:aws:sns:${VAULT_REGION}:${backup}:bunker-intake-${storefront}`;
    expect(env.topicArns[storefront]).toBe(topicArn);
    const { Policy } = await vault().reader.topicAttributes(topicArn);

    expect(JSON.parse(Policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'AllowPublishThroughSSLOnly',
          Effect: 'Deny',
          Principal: '*',
          Action: 'sns:Publish',
          Resource: topicArn,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        {
          Sid: 'ThisSourceAccountsAgentsPublish',
          Effect: 'Allow',
          Principal: { AWS: rootOf(storefront) },
          Action: 'sns:Publish',
          Resource: topicArn,
          Condition: {
            ArnEquals: {
              'aws:PrincipalArn': [
                `arn:aws:iam::${storefront}:role/bunker-source-agent-eu-west-1`,
                `arn:aws:iam::${storefront}:role/bunker-source-agent-eu-central-1`,
              ],
            },
          },
        },
      ],
    });
  });

  it('gives every queue the template queue policy, KMS key, retention and redrive policy', async () => {
    const { stack, reader, resolve } = vault();
    let checked = 0;
    for (const [id, policy] of ofType(stack.template.Resources, 'AWS::SQS::QueuePolicy')) {
      for (const queueUrl of resolve(policy.Properties?.Queues) as string[]) {
        const { Policy } = await reader.queueAttributes(queueUrl);
        expect(JSON.parse(Policy), id).toEqual(resolve(policy.Properties?.PolicyDocument));
      }
    }
    for (const [id, queue] of ofType(stack.template.Resources, 'AWS::SQS::Queue')) {
      const attributes = await reader.queueAttributes(resolve({ Ref: id }) as string);
      const { QueueName, VisibilityTimeout, RedrivePolicy, ...rest } = resolve(queue.Properties) as Record<
        string,
        unknown
      >;
      expect(Object.keys(rest).sort()).toEqual(
        QueueName === 'bunker-intake' ? ['KmsMasterKeyId'] : ['KmsMasterKeyId', 'MessageRetentionPeriod'],
      );
      for (const [name, value] of Object.entries(rest)) expect(attributes[name], `${id}.${name}`).toBe(String(value));
      if (RedrivePolicy) expect(JSON.parse(attributes.RedrivePolicy)).toEqual(RedrivePolicy);
      if (QueueName === 'bunker-intake') {
        // The one local change: a failed message comes back within the same `local run`.
        expect(VisibilityTimeout).toBe(360);
        expect(attributes.VisibilityTimeout).toBe('1');
      }
      checked++;
    }
    expect(checked).toBe(2);
  });

  it('redrives the intake queue and its subscription to the dead-letter queue, literally', async () => {
    const { reader } = vault();
    const dlqArn = `arn:aws:sqs:${VAULT_REGION}:${backup}:bunker-intake-dlq`;
    const queue = await reader.queueAttributes(env.queueUrl);
    expect(JSON.parse(queue.RedrivePolicy)).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 });
    expect(queue.KmsMasterKeyId).toBe(env.intakeKeyArn);
    expect((await reader.queueAttributes(env.deadLetterQueueUrl)).MessageRetentionPeriod).toBe('1209600');

    for (const topicArn of Object.values(env.topicArns)) {
      const { Subscriptions } = await reader.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
      expect(Subscriptions?.map((s) => [s.Protocol, s.Endpoint])).toEqual([['sqs', queue.QueueArn]]);
      const { Attributes } = await reader.sns.send(
        new GetSubscriptionAttributesCommand({ SubscriptionArn: Subscriptions?.[0].SubscriptionArn }),
      );
      // Enveloped, not raw: the envelope names the topic, and so the sender.
      expect(Attributes?.RawMessageDelivery).toBe('false');
      expect(JSON.parse(Attributes?.RedrivePolicy ?? 'null')).toEqual({ deadLetterTargetArn: dlqArn });
    }
  });

  it('subscribes as every template subscription says', async () => {
    const { stack, reader, resolve } = vault();
    const subscriptions = ofType(stack.template.Resources, 'AWS::SNS::Subscription');
    for (const [id, subscription] of subscriptions) {
      const { TopicArn, Protocol, Endpoint, ...attributes } = resolve(subscription.Properties) as Record<
        string,
        unknown
      >;
      const found = await reader.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: String(TopicArn) }));
      const match = found.Subscriptions?.filter((s) => s.Protocol === Protocol && s.Endpoint === Endpoint) ?? [];
      expect(match, id).toHaveLength(1);
      const actual = await reader.sns.send(
        new GetSubscriptionAttributesCommand({ SubscriptionArn: match[0].SubscriptionArn }),
      );
      for (const [name, value] of Object.entries(attributes)) {
        const text = actual.Attributes?.[name] ?? '';
        expect(typeof value === 'object' ? JSON.parse(text) : text, `${id}.${name}`).toEqual(
          typeof value === 'object' ? value : String(value),
        );
      }
    }
    // The intake queue's, one per source's topic, and the alerts e-mail's.
    expect(subscriptions).toHaveLength(3);
  });

  it('gives every role the template trust policy, settings and exactly the inline policies of its stack', async () => {
    let roles = 0;
    for (const { stack, reader, resolve } of stacks) {
      const policies = ofType(stack.template.Resources, 'AWS::IAM::Policy');
      for (const [id, role] of ofType(stack.template.Resources, 'AWS::IAM::Role')) {
        const roleName = String(role.Properties?.RoleName);
        expect(await reader.roleTrust(roleName), `${stack.stackName}/${id}`).toEqual(
          resolve(role.Properties?.AssumeRolePolicyDocument),
        );
        const { Role } = await reader.iam.send(new GetRoleCommand({ RoleName: roleName }));
        expect(Role?.Description).toBe(role.Properties?.Description);
        expect(Role?.MaxSessionDuration).toBe(role.Properties?.MaxSessionDuration ?? 3600);

        const attached = policies.filter(([, p]) => (resolve(p.Properties?.Roles) as string[]).includes(roleName));
        const { PolicyNames } = await reader.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
        expect(PolicyNames?.sort()).toEqual(attached.map(([, p]) => String(p.Properties?.PolicyName)).sort());
        for (const [policyId, policy] of attached) {
          expect(
            await reader.rolePolicy(roleName, String(policy.Properties?.PolicyName)),
            `${stack.stackName}/${policyId}`,
          ).toEqual(resolve(policy.Properties?.PolicyDocument));
        }
        roles++;
      }
    }
    // Four vault Lambda roles (intake, completion, sweep, audit), the pruner's retention role and the operator's
    // read-only role, the role `bunker recover` acts through; the drills' five roles (function, state machine,
    // schedule, flow logs, engine probe); an agent role per source stack; one reader role per source account.
    expect(roles).toBe(7 + 5 + 3 + 2);
  });

  it("lets only the vault's intake, audit, sweep and operator roles assume the reader role, literally", async () => {
    const { reader } = byName(`bunker-source-${storefront}-${VAULT_REGION}`);

    expect(await reader.roleTrust('bunker-reader')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: rootOf(backup) },
          Action: 'sts:AssumeRole',
          Condition: {
            ArnEquals: {
              'aws:PrincipalArn': [
                `arn:aws:iam::${backup}:role/bunker-intake`,
                `arn:aws:iam::${backup}:role/bunker-audit`,
                `arn:aws:iam::${backup}:role/bunker-sweep`,
                `arn:aws:iam::${backup}:role/bunker-operator`,
              ],
            },
          },
        },
      ],
    });
  });

  it('creates the inventory table with the template schema, encryption, recovery and deletion protection', async () => {
    const { stack, reader, resolve } = vault();
    const [[, table]] = ofType(stack.template.Resources, 'AWS::DynamoDB::Table');
    const expected = resolve(table.Properties) as Record<string, unknown> & {
      GlobalSecondaryIndexes: Record<string, unknown>[];
      SSESpecification: { KMSMasterKeyId: string };
    };
    const { Table } = (await reader.dynamodb.send(new DescribeTableCommand({ TableName: env.tableName }))) as {
      Table: TableDescription;
    };

    expect(Table.TableName).toBe(expected.TableName);
    expect(Table.KeySchema).toEqual(expected.KeySchema);
    expect(Table.AttributeDefinitions).toEqual(expected.AttributeDefinitions);
    expect(
      Table.GlobalSecondaryIndexes?.map(({ IndexName, KeySchema, Projection }) => ({
        IndexName,
        KeySchema,
        Projection,
      })),
    ).toEqual(expected.GlobalSecondaryIndexes);
    expect(Table.BillingModeSummary?.BillingMode).toBe(expected.BillingMode);
    expect(Table.DeletionProtectionEnabled).toBe(expected.DeletionProtectionEnabled);
    expect(Table.SSEDescription).toEqual({
      Status: 'ENABLED',
      SSEType: 'KMS',
      KMSMasterKeyArn: expected.SSESpecification.KMSMasterKeyId,
    });
    // The inventory's own key, not the backup-data key.
    expect(Table.SSEDescription?.KMSMasterKeyArn).toBe((await reader.keyByAlias('alias/bunker-inventory')).Arn);
    expect(Table.SSEDescription?.KMSMasterKeyArn).not.toBe(env.backupKeyArn);
    const { ContinuousBackupsDescription } = await reader.dynamodb.send(
      new DescribeContinuousBackupsCommand({ TableName: env.tableName }),
    );
    expect(ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe('ENABLED');
    expect(expected).toMatchObject({
      TableName: 'bunker-inventory',
      KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('changes nothing on a second run, and says so for each stack', () => {
    expect(secondRun.filter((line) => /^ {2}(created|set|put|rewrote|subscribed) /.test(line))).toEqual([]);
    const summaries = secondRun.filter((line) => line.includes(' created, '));
    expect(summaries).toHaveLength(4);
    for (const line of summaries) {
      expect(line).toMatch(/^ {2}0 created, 0 policy document\(s\) written, \d+ already as in the template; /);
    }
  });
});

describe('local up on an emulator whose policies drifted from the templates', () => {
  it('rewrites the key, topic, trust and inline policies back to the templates and reports each', async () => {
    const backup = freshAccountId();
    const payments = freshAccountId();
    const storefront = freshAccountId();
    const config = configFor(backup, payments, storefront);
    await localUp(config, endpoint);
    const vault = new Reader(backup, VAULT_REGION);
    const source = new Reader(payments, VAULT_REGION);
    try {
      const topicArn = `arn:aws:sns:${VAULT_REGION}:${backup}:bunker-intake-${payments}`;
      const shareKey = await source.keyByAlias('alias/bunker-share');
      const [agentPolicy] =
        (await source.iam.send(new ListRolePoliciesCommand({ RoleName: 'bunker-source-agent-eu-west-1' })))
          .PolicyNames ?? [];
      const before = {
        topic: JSON.parse((await vault.topicAttributes(topicArn)).Policy),
        shareKey: await source.keyPolicy(shareKey.KeyId),
        trust: await source.roleTrust('bunker-reader'),
        agent: await source.rolePolicy('bunker-source-agent-eu-west-1', agentPolicy),
      };
      const stale = JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: rootOf(payments) }, Action: '*', Resource: '*' }],
      });
      await vault.sns.send(
        new SetTopicAttributesCommand({ TopicArn: topicArn, AttributeName: 'Policy', AttributeValue: stale }),
      );
      await source.kms.send(new PutKeyPolicyCommand({ KeyId: shareKey.KeyId, PolicyName: 'default', Policy: stale }));
      // IAM accepts only sts:AssumeRole* actions in a trust policy.
      const staleTrust = JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: rootOf(payments) }, Action: 'sts:AssumeRole' }],
      });
      await source.iam.send(
        new UpdateAssumeRolePolicyCommand({ RoleName: 'bunker-reader', PolicyDocument: staleTrust }),
      );
      await source.iam.send(
        new PutRolePolicyCommand({
          RoleName: 'bunker-source-agent-eu-west-1',
          PolicyName: agentPolicy,
          PolicyDocument: stale,
        }),
      );
      const progress: string[] = [];

      await localUp(config, endpoint, (line) => progress.push(line));

      expect(progress.filter((line) => /^ {2}(created|set|put|rewrote|subscribed) /.test(line))).toEqual([
        `  set the policy of SNS topic bunker-intake-${payments}`,
        '  rewrote the key policy of KMS key alias/bunker-share',
        '  rewrote the trust policy of IAM role bunker-reader',
        `  put policy ${agentPolicy} on IAM role bunker-source-agent-eu-west-1`,
      ]);
      expect(JSON.parse((await vault.topicAttributes(topicArn)).Policy)).toEqual(before.topic);
      expect(await source.keyPolicy(shareKey.KeyId)).toEqual(before.shareKey);
      expect(await source.roleTrust('bunker-reader')).toEqual(before.trust);
      expect(await source.rolePolicy('bunker-source-agent-eu-west-1', agentPolicy)).toEqual(before.agent);
    } finally {
      vault.destroy();
      source.destroy();
    }
  });
});

describe('applyStack on a template with a resource it does not know', () => {
  it('fails naming the resource and creates nothing, not even the resources before it', async () => {
    const account = freshAccountId();
    const template: CfnTemplate = {
      Resources: {
        Key: { Type: 'AWS::KMS::Key', Properties: { Description: 'before the bucket' } },
        KeyAlias: { Type: 'AWS::KMS::Alias', Properties: { AliasName: 'alias/early', TargetKeyId: { Ref: 'Key' } } },
        Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { StateMachineName: 'bunker-reports' } },
      },
    };
    const contextFor = async (target: string, region: string) => ({
      endpoint,
      region,
      credentials: await credentialsFor(endpoint, target),
    });

    await expect(
      applyStack({ stackName: 'reports', account, region: VAULT_REGION, template }, { contextFor }),
    ).rejects.toThrow(
      new UnsupportedTemplateError(
        'reports/Machine: the local applier does not know AWS::StepFunctions::StateMachine; teach cli/local/template-applier.ts to create it, or list it as skipped with the reason',
      ),
    );
    const kms = new KMSClient(clientConfig(endpoint, account, VAULT_REGION));
    try {
      expect((await kms.send(new ListKeysCommand({}))).Keys).toEqual([]);
    } finally {
      kms.destroy();
    }
  });
});

describe('local up with every pulled kind enabled', () => {
  const backup = freshAccountId();
  const payments = freshAccountId();
  const storefront = freshAccountId();
  const config = parseConfig({
    name: 'bunker',
    backup: { account: backup, region: VAULT_REGION },
    sources: [
      { account: payments, regions: [VAULT_REGION] },
      // The puller role comes from the first listed Region's stack.
      { account: storefront, regions: [OTHER_REGION, VAULT_REGION] },
    ],
    artifacts: {
      rds: { enabled: true },
      ssm: { enabled: true, retentionDays: 30 },
      secrets: { enabled: true, retentionDays: 90 },
      dynamodb: { enabled: true, retentionDays: 60 },
    },
  });
  const vaultBucket = `bunker-vault-${backup}-${VAULT_REGION}`;
  const s3Of = (account: string, region: string) =>
    new S3Client({ ...clientConfig(endpoint, account, region), forcePathStyle: true });
  let env: LocalEnvironment;
  let secondRun: string[];
  let s3: S3Client;
  let vault: Reader;

  beforeAll(async () => {
    env = await localUp(config, endpoint);
    secondRun = [];
    await localUp(config, endpoint, (line) => secondRun.push(line));
    s3 = s3Of(backup, VAULT_REGION);
    vault = new Reader(backup, VAULT_REGION);
  });
  afterAll(() => {
    s3?.destroy();
    vault?.destroy();
  });

  it('creates the vault bucket in the backup account: versioned, Object Lock for the longest retention, SSE-KMS', async () => {
    expect(env.pull?.vaultBucket).toBe(vaultBucket);
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: vaultBucket }))).Status).toBe('Enabled');
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: vaultBucket }));
    // toMatchObject: the emulator also answers "Years": 0 next to the days.
    expect(lock.ObjectLockConfiguration).toMatchObject({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 90 } },
    });
    const backupKey = await vault.keyByAlias('alias/bunker-backup-data');
    const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: vaultBucket }));
    expect(encryption.ServerSideEncryptionConfiguration?.Rules).toEqual([
      {
        ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: backupKey.Arn },
        BucketKeyEnabled: true,
      },
    ]);
    expect(
      (await s3.send(new GetPublicAccessBlockCommand({ Bucket: vaultBucket }))).PublicAccessBlockConfiguration,
    ).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const logging = await s3.send(new GetBucketLoggingCommand({ Bucket: vaultBucket }));
    expect(logging.LoggingEnabled).toEqual({
      TargetBucket: `bunker-access-logs-${backup}-${VAULT_REGION}`,
      TargetPrefix: `${vaultBucket}/`,
    });
  });

  it('stores only the bucket policy statements the emulator evaluates as written: no conditioned denials', async () => {
    // All of the vault bucket's statements are conditioned denials, which the emulator would apply to every call.
    await expect(s3.send(new GetBucketPolicyCommand({ Bucket: vaultBucket }))).rejects.toMatchObject({
      name: 'NoSuchBucketPolicy',
    });
    const logs = `bunker-access-logs-${backup}-${VAULT_REGION}`;
    const { Policy } = await s3.send(new GetBucketPolicyCommand({ Bucket: logs }));
    expect(JSON.parse(Policy ?? '{}')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: `arn:aws:s3:::${logs}/${vaultBucket}/*`,
          Condition: {
            ArnLike: { 'aws:SourceArn': `arn:aws:s3:::${vaultBucket}` },
            StringEquals: { 'aws:SourceAccount': backup },
          },
        },
      ],
    });
  });

  it('keeps a version written to the vault bucket from being deleted before its retention', async () => {
    const { VersionId } = await s3.send(
      new PutObjectCommand({ Bucket: vaultBucket, Key: 'ssm/probe.json', Body: '{}', ContentType: 'application/json' }),
    );
    expect(VersionId).toBeDefined();
    // Refused by Object Lock (the bucket has no policy locally); the emulator's 403 has no body the SDK can name.
    await expect(
      s3.send(new DeleteObjectCommand({ Bucket: vaultBucket, Key: 'ssm/probe.json', VersionId })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    const kept = await s3.send(new HeadObjectCommand({ Bucket: vaultBucket, Key: 'ssm/probe.json', VersionId }));
    expect(kept.ObjectLockMode).toBe('COMPLIANCE');
  });

  it('lists the vault bucket in the backup account only', async () => {
    const inBackup = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name);
    expect(inBackup).toContain(vaultBucket);
    const other = s3Of(payments, VAULT_REGION);
    try {
      const inSource = (await other.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name);
      expect(inSource).not.toContain(vaultBucket);
    } finally {
      other.destroy();
    }
  });

  it('creates the export staging bucket in every source Region, SSE-S3, expiring exports after 7 days', async () => {
    for (const [account, region] of [
      [payments, VAULT_REGION],
      [storefront, OTHER_REGION],
      [storefront, VAULT_REGION],
    ]) {
      const client = s3Of(account, region);
      const bucket = `bunker-exports-${account}-${region}`;
      try {
        await expect(client.send(new HeadBucketCommand({ Bucket: bucket })), bucket).resolves.toBeDefined();
        const encryption = await client.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
        expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault).toEqual({
          SSEAlgorithm: 'AES256',
        });
        const lifecycle = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
        expect(lifecycle.Rules?.map((rule) => [rule.ID, rule.Status, rule.Expiration?.Days])).toEqual([
          ['expire-exports', 'Enabled', 7],
        ]);
      } finally {
        client.destroy();
      }
    }
  });

  it('adds the by-pull-scope index to the inventory table, beside the status and queue indexes', async () => {
    const { Table } = await vault.dynamodb.send(new DescribeTableCommand({ TableName: 'bunker-inventory' }));
    expect(
      Table?.GlobalSecondaryIndexes?.map(({ IndexName, KeySchema, Projection }) => ({
        IndexName,
        KeySchema,
        Projection,
      })),
    ).toEqual([
      {
        IndexName: 'by-status',
        KeySchema: [
          { AttributeName: 'status', KeyType: 'HASH' },
          { AttributeName: 'updatedAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: 'by-queue',
        KeySchema: [
          { AttributeName: 'queue', KeyType: 'HASH' },
          { AttributeName: 'queueKey', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: 'by-pull-scope',
        KeySchema: [
          { AttributeName: 'pullScope', KeyType: 'HASH' },
          { AttributeName: 'artifactId', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
  });

  it('creates the puller role in each source account, trusting only the pull role', async () => {
    for (const account of [payments, storefront]) {
      const source = new Reader(account, VAULT_REGION);
      try {
        expect(await source.roleTrust('bunker-puller')).toEqual({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: rootOf(backup) },
              Action: 'sts:AssumeRole',
              Condition: { ArnEquals: { 'aws:PrincipalArn': `arn:aws:iam::${backup}:role/bunker-pull` } },
            },
          ],
        });
        const { PolicyNames } = await source.iam.send(new ListRolePoliciesCommand({ RoleName: 'bunker-puller' }));
        expect(PolicyNames?.length).toBe(1);
      } finally {
        source.destroy();
      }
    }
  });

  it('creates the pull queue and its dead-letter queue, three receives before it', async () => {
    const queue = await vault.queueAttributes(env.pull?.queueUrl ?? '');
    const deadLetters = await vault.queueAttributes(env.pull?.deadLetterQueueUrl ?? '');
    expect(JSON.parse(queue.RedrivePolicy)).toEqual({ deadLetterTargetArn: deadLetters.QueueArn, maxReceiveCount: 3 });
    expect(queue.KmsMasterKeyId).toBe((await vault.keyByAlias('alias/bunker-pull')).Arn);
  });

  it('changes nothing on a second run', () => {
    expect(secondRun.filter((line) => /^ {2}(created|set|put|rewrote|subscribed) /.test(line))).toEqual([]);
  });
});

describe('applyStack on an inventory table made before the pull index', () => {
  it('adds the index the template gained, and says so', async () => {
    const account = freshAccountId();
    const table = (index?: Record<string, unknown>): CfnTemplate => ({
      Resources: {
        Table: {
          Type: 'AWS::DynamoDB::Table',
          Properties: {
            TableName: 'bunker-inventory',
            AttributeDefinitions: [
              { AttributeName: 'artifactId', AttributeType: 'S' },
              ...(index ? [{ AttributeName: 'pullScope', AttributeType: 'S' }] : []),
            ],
            KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
            ...(index ? { GlobalSecondaryIndexes: [index] } : {}),
          },
        },
      },
    });
    const index = {
      IndexName: 'by-pull-scope',
      KeySchema: [
        { AttributeName: 'pullScope', KeyType: 'HASH' },
        { AttributeName: 'artifactId', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    };
    const contextFor = async (target: string, region: string) => ({
      endpoint,
      region,
      credentials: await credentialsFor(endpoint, target),
    });
    await applyStack({ stackName: 'inventory', account, region: VAULT_REGION, template: table() }, { contextFor });
    const progress: string[] = [];

    await applyStack(
      { stackName: 'inventory', account, region: VAULT_REGION, template: table(index) },
      { contextFor, progress: (line) => progress.push(line) },
    );

    expect(progress[0]).toBe('  created index by-pull-scope of DynamoDB table bunker-inventory');
    const dynamodb = new DynamoDBClient(clientConfig(endpoint, account, VAULT_REGION));
    try {
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: 'bunker-inventory' }));
      expect(
        Table?.GlobalSecondaryIndexes?.map(({ IndexName, KeySchema, Projection }) => ({
          IndexName,
          KeySchema,
          Projection,
        })),
      ).toEqual([index]);
    } finally {
      dynamodb.destroy();
    }
  });
});
