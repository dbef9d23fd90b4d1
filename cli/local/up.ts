/**
 * `bunker local up`: creates on the emulator what the vault and source
 * stacks create in AWS, with the same names. Idempotent: running it again
 * finds what exists and creates only what is missing.
 *
 * The emulator stores resource policies but does not enforce them (see
 * docs/architecture.md); they are written anyway so the emulator's state
 * reads like the real accounts, and the synthesized templates' tests are
 * where the policies are proven.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, GetRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateTopicCommand, ListSubscriptionsByTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig, type AwsContext } from '../../lambdas/adapters/aws-context';
import { intakeTopicName, sourceNames, vaultNames } from '../../lambdas/core/names';
import type { BunkerConfig } from '../../lib/config/schema';
import { localContext } from './accounts';

/** The role the local mode acts as in each account (the vault and agent Lambdas' roles in AWS). */
export const LOCAL_OPERATOR_ROLE = 'bunker-local-operator';

export interface LocalSource {
  readonly account: string;
  readonly region: string;
  readonly shareKeyArn: string;
}

export interface LocalEnvironment {
  readonly endpoint: string;
  readonly backupKeyArn: string;
  readonly intakeKeyArn: string;
  /** The intake topic of each source account, by account id. */
  readonly topicArns: Readonly<Record<string, string>>;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  readonly sources: readonly LocalSource[];
}

type Progress = (line: string) => void;

async function ensureKey(
  kms: KMSClient,
  alias: string,
  description: string,
  policy: object,
  progress: Progress,
): Promise<string> {
  try {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: alias }));
    if (KeyMetadata?.Arn) return KeyMetadata.Arn;
  } catch (error) {
    if ((error as Error).name !== 'NotFoundException') throw error;
  }
  const { KeyMetadata } = await kms.send(
    new CreateKeyCommand({ Description: description, Policy: JSON.stringify(policy), KeySpec: 'SYMMETRIC_DEFAULT' }),
  );
  if (!KeyMetadata?.Arn || !KeyMetadata.KeyId) throw new Error(`the emulator did not create ${alias}`);
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: KeyMetadata.KeyId }));
  progress(`  created KMS key ${alias}`);
  return KeyMetadata.Arn;
}

async function ensureRole(
  iam: IAMClient,
  roleName: string,
  trust: object,
  inline: { name: string; document: object } | undefined,
  progress: Progress,
): Promise<void> {
  try {
    await iam.send(new GetRoleCommand({ RoleName: roleName }));
    return;
  } catch (error) {
    if ((error as Error).name !== 'NoSuchEntityException' && (error as Error).name !== 'NoSuchEntity') throw error;
  }
  await iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(trust) }));
  if (inline) {
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: inline.name,
        PolicyDocument: JSON.stringify(inline.document),
      }),
    );
  }
  progress(`  created IAM role ${roleName}`);
}

const accountRoot = (account: string) => `arn:aws:iam::${account}:root`;

async function upVault(config: BunkerConfig, context: AwsContext, progress: Progress) {
  const names = vaultNames(config.name);
  const { account, region } = config.backup;
  const kms = new KMSClient(clientConfig(context));
  const adminOnly = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'BackupAccountOnly',
        Effect: 'Allow',
        Principal: { AWS: accountRoot(account) },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
  const backupKeyArn = await ensureKey(kms, names.backupKeyAlias, 'Bunker backup data', adminOnly, progress);
  const intakeKeyArn = await ensureKey(
    kms,
    names.intakeKeyAlias,
    'Bunker intake topic and queue',
    {
      ...adminOnly,
      Statement: [
        ...adminOnly.Statement,
        {
          Sid: 'SourcesPublishThroughSnsOnly',
          Effect: 'Allow',
          Principal: { AWS: config.sources.map((s) => accountRoot(s.account)) },
          Action: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': `sns.${region}.amazonaws.com` } },
        },
      ],
    },
    progress,
  );

  const sns = new SNSClient(clientConfig(context));
  const topicArns: Record<string, string> = {};
  for (const source of config.sources) {
    const name = intakeTopicName(config.name, source.account);
    const { TopicArn } = await sns.send(
      new CreateTopicCommand({
        Name: name,
        Attributes: {
          KmsMasterKeyId: intakeKeyArn,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'ThisSourceAccountsAgentsPublish',
                Effect: 'Allow',
                Principal: { AWS: accountRoot(source.account) },
                Action: 'sns:Publish',
                Resource: `arn:aws:sns:${region}:${account}:${name}`,
                Condition: {
                  ArnEquals: {
                    'aws:PrincipalArn': source.regions.map(
                      (r) => `arn:aws:iam::${source.account}:role/${sourceNames(config.name, r).agentRole}`,
                    ),
                  },
                },
              },
            ],
          }),
        },
      }),
    );
    if (!TopicArn) throw new Error(`the emulator did not create the intake topic ${name}`);
    topicArns[source.account] = TopicArn;
  }

  const sqs = new SQSClient(clientConfig(context));
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: names.intakeDeadLetterQueue,
      Attributes: { KmsMasterKeyId: intakeKeyArn, MessageRetentionPeriod: String(14 * 24 * 3600) },
    }),
  );
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: names.intakeQueue,
      Attributes: {
        KmsMasterKeyId: intakeKeyArn,
        // Short in the local mode so a retried message comes back within one `local run`.
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
      },
    }),
  );
  const queueArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  if (!queue.QueueUrl || !dlq.QueueUrl || !queueArn) throw new Error('the emulator did not create the intake queues');
  for (const [source, topicArn] of Object.entries(topicArns)) {
    const subscriptions = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
    if (!subscriptions.Subscriptions?.some((s) => s.Endpoint === queueArn)) {
      // Not raw: SNS's envelope names the topic, which is how intake knows the sender.
      await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));
      progress(`  subscribed queue ${names.intakeQueue} to topic ${intakeTopicName(config.name, source)}`);
    }
  }

  const dynamo = new DynamoDBClient(clientConfig(context));
  try {
    await dynamo.send(new DescribeTableCommand({ TableName: names.inventoryTable }));
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    await dynamo.send(
      new CreateTableCommand({
        TableName: names.inventoryTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'artifactId', AttributeType: 'S' },
          { AttributeName: 'status', AttributeType: 'S' },
          { AttributeName: 'updatedAt', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'artifactId', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: names.inventoryStatusIndex,
            KeySchema: [
              { AttributeName: 'status', KeyType: 'HASH' },
              { AttributeName: 'updatedAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        SSESpecification: { Enabled: true, SSEType: 'KMS', KMSMasterKeyId: backupKeyArn },
        DeletionProtectionEnabled: true,
      }),
    );
    await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: names.inventoryTable });
    await dynamo.send(
      new UpdateContinuousBackupsCommand({
        TableName: names.inventoryTable,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
    progress(`  created inventory table ${names.inventoryTable}`);
  }

  const iam = new IAMClient(clientConfig(context, 'us-east-1'));
  const lambdaTrust = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  };
  for (const role of [names.intakeRole, names.completionRole, names.sweepRole]) {
    await ensureRole(iam, role, lambdaTrust, undefined, progress);
  }

  return {
    backupKeyArn,
    intakeKeyArn,
    topicArns,
    queueUrl: queue.QueueUrl,
    deadLetterQueueUrl: dlq.QueueUrl,
    tableName: names.inventoryTable,
  };
}

async function upSource(
  config: BunkerConfig,
  account: string,
  region: string,
  ownsReaderRole: boolean,
  context: AwsContext,
  progress: Progress,
): Promise<LocalSource> {
  const names = sourceNames(config.name, region);
  const backup = config.backup.account;
  const kms = new KMSClient(clientConfig(context));
  const shareKeyArn = await ensureKey(
    kms,
    names.shareKeyAlias,
    'Bunker share key: lets the backup account copy shared snapshots',
    {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'SourceAccountAdmin',
          Effect: 'Allow',
          Principal: { AWS: accountRoot(account) },
          Action: 'kms:*',
          Resource: '*',
        },
        {
          Sid: 'BackupAccountCopiesThroughRds',
          Effect: 'Allow',
          Principal: { AWS: accountRoot(backup) },
          Action: ['kms:Decrypt', 'kms:CreateGrant'],
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': `rds.${region}.amazonaws.com` } },
        },
        {
          Sid: 'BackupAccountDescribes',
          Effect: 'Allow',
          Principal: { AWS: accountRoot(backup) },
          Action: 'kms:DescribeKey',
          Resource: '*',
        },
      ],
    },
    progress,
  );
  const iam = new IAMClient(clientConfig(context, 'us-east-1'));
  if (ownsReaderRole) {
    await ensureRole(
      iam,
      names.readerRole,
      {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: accountRoot(backup) },
            Action: 'sts:AssumeRole',
            Condition: {
              ArnEquals: { 'aws:PrincipalArn': `arn:aws:iam::${backup}:role/${vaultNames(config.name).intakeRole}` },
            },
          },
        ],
      },
      {
        name: 'read-only',
        document: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: [
                'rds:DescribeDBSnapshots',
                'rds:DescribeDBSnapshotAttributes',
                'rds:DescribeDBInstances',
                'rds:ListTagsForResource',
              ],
              Resource: '*',
            },
          ],
        },
      },
      progress,
    );
  }
  return { account, region, shareKeyArn };
}

/** Creates (or finds) the vault and every source account's resources on the emulator. */
export async function localUp(
  config: BunkerConfig,
  endpoint: string,
  progress: Progress = () => {},
): Promise<LocalEnvironment> {
  progress(`vault: backup account ${config.backup.account} in ${config.backup.region}`);
  const backupContext = await localContext(endpoint, config.backup.account, config.backup.region, LOCAL_OPERATOR_ROLE);
  const vault = await upVault(config, backupContext, progress);
  const sources: LocalSource[] = [];
  for (const source of config.sources) {
    for (const [index, region] of source.regions.entries()) {
      progress(`source: account ${source.account}${source.name ? ` (${source.name})` : ''} in ${region}`);
      const context = await localContext(endpoint, source.account, region, LOCAL_OPERATOR_ROLE);
      sources.push(await upSource(config, source.account, region, index === 0, context, progress));
    }
  }
  return { endpoint, ...vault, sources };
}
