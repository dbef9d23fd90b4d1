/**
 * What Bunker puts in a production account, one stack per Region: a key to
 * re-encrypt snapshots so they can be shared, the agent that does it and
 * tells the vault, and (once per account) the read-only role the vault uses
 * to check what it is told.
 */
import {
  Aws,
  CfnCondition,
  CfnOutput,
  CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import {
  INTERMEDIATE_PREFIX,
  intakeTopicArn,
  sourceNames,
  sourceStackName,
  vaultNames,
} from '../../lambdas/core/names';
import { sourceSettingsToEnv } from '../../lambdas/core/settings';
import { enabledKinds, enabledPulledKinds, sourceSettings } from '../config/runtime';
import type { BunkerConfig } from '../config/schema';
import { BunkerFunction } from '../constructs/bunker-function';
import { PullSource } from '../constructs/pull';
import { acknowledge, NAG_PACK } from '../constructs/nag';

/** RDS events that mean a snapshot may be ready to re-key and share. */
export const SOURCE_EVENT_IDS = [
  'RDS-EVENT-0091', // automated snapshot created
  'RDS-EVENT-0042', // manual snapshot created
  'RDS-EVENT-0197', // copy finished (the agent's own re-keyed intermediate)
] as const;

/** Read-only actions of the reader role the vault's intake assumes: exactly what the enabled kinds' copiers call. */
export function readerActions(config: BunkerConfig): string[] {
  return [...new Set(enabledKinds(config).flatMap((kind) => kind.infra.readerActions))].sort();
}

/**
 * What `bunker coverage` lists through the reader role, whatever kinds are
 * enabled (a disabled kind's resources are what it reports), in every
 * Region (a Region not registered is what it looks for): metadata only.
 * None reads a value, an item or a snapshot's data: ListSecrets and
 * DescribeParameters return names, tags and versions, DescribeTable and
 * DescribeContinuousBackups a table's settings, DescribeSnapshots an
 * image's snapshots' keys, DescribeRegions which Regions the account has
 * enabled.
 */
export const COVERAGE_READER_ACTIONS = [
  'dynamodb:DescribeContinuousBackups',
  'dynamodb:DescribeTable',
  'dynamodb:ListTables',
  'dynamodb:ListTagsOfResource',
  'ec2:DescribeImages',
  'ec2:DescribeRegions',
  'ec2:DescribeSnapshots',
  'ec2:DescribeVolumes',
  'kms:ListAliases',
  'rds:DescribeDBClusters',
  'rds:DescribeDBInstances',
  'rds:DescribeOptionGroups',
  'secretsmanager:ListSecrets',
  'ssm:DescribeParameters',
  'tag:GetResources',
] as const;

export interface SourceStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: BunkerConfig;
  /** The production account this stack is deployed to; one of `config.sources`. */
  readonly sourceAccount: string;
  /** The Region this stack is deployed to; one of that source's `regions`. */
  readonly region: string;
  /**
   * Whether this stack creates the account's reader role. IAM is global, so
   * exactly one stack per account does: the one of its first listed Region.
   * @default - true when `region` is the account's first listed Region
   */
  readonly createReaderRole?: boolean;
}

/** One production account and Region: share key, source agent and, once per account, the reader role. */
export class SourceStack extends Stack {
  /** Re-encrypts snapshots so the backup account can copy them; the backup account may only decrypt via RDS. */
  public readonly shareKey: kms.Key;
  /** The account's read-only role for the vault Lambdas, if this stack owns it. */
  public readonly readerRole?: iam.Role;
  public readonly agent: BunkerFunction;
  /** Where the vault says "copied": only the vault's Lambda roles may publish. */
  public readonly receiptsTopic: sns.Topic;
  /** The puller role (first listed Region's stack) and export staging bucket, when a pulled kind is enabled. */
  public readonly pull?: PullSource;

  constructor(scope: Construct, id: string, props: SourceStackProps) {
    const { config, sourceAccount, region, createReaderRole, ...stackProps } = props;
    const source = config.sources.find((candidate) => candidate.account === sourceAccount);
    if (!source) throw new Error(`${sourceAccount} is not a source account of the configuration`);
    if (!source.regions.includes(region)) {
      throw new Error(`${region} is not a Region of source account ${sourceAccount} in the configuration`);
    }
    super(scope, id, {
      stackName: sourceStackName(config.name, sourceAccount, region),
      description: `Bunker source (${config.name}): share key and agent of ${sourceAccount} in ${region}`,
      ...stackProps,
      env: { account: sourceAccount, region },
    });
    const built = addSourceResources(this, {
      config,
      sourceAccount,
      region,
      regions: source.regions,
      roles: createReaderRole ?? source.regions[0] === region,
    });
    this.shareKey = built.shareKey;
    this.agent = built.agent;
    this.receiptsTopic = built.receiptsTopic;
    this.readerRole = built.readerRole;
    this.pull = built.pull;
  }
}

export interface SourceResourcesProps {
  /** The validated configuration. */
  readonly config: BunkerConfig;
  /** The production account: a listed source's id, or `AWS::AccountId` in the StackSet's template. */
  readonly sourceAccount: string;
  /** The stack's Region: a listed Region, or `AWS::Region` in the StackSet's template. */
  readonly region: string;
  /** The Regions registered for the account: the reader role reads only there. */
  readonly regions: readonly string[];
  /**
   * Whether this stack makes the account-wide roles (reader, puller), IAM being global: a boolean for a
   * listed source's stack, a CloudFormation condition in the StackSet's template, which serves every Region.
   */
  readonly roles: boolean | CfnCondition;
}

/** What {@link addSourceResources} made. */
export interface SourceResources {
  readonly shareKey: kms.Key;
  readonly readerRole?: iam.Role;
  readonly agent: BunkerFunction;
  readonly receiptsTopic: sns.Topic;
  readonly pull?: PullSource;
}

/**
 * The source stack's body, added to `stack` itself (not to a child
 * construct, so a listed source's logical ids stay what they were): the
 * one body of both a listed source's stack and the StackSet's template.
 */
export function addSourceResources(stack: Stack, props: SourceResourcesProps): SourceResources {
  const { config, sourceAccount, region, regions, roles } = props;
  const source = { account: sourceAccount, regions: [...regions] };
  const names = sourceNames(config.name, region);
  const backup = config.backup;
  // The services of the enabled kinds, in this Region and the vault's: a
  // single-step cross-Region copy uses the key through the vault Region's service.
  const services = [...new Set(['rds', ...enabledKinds(config).map((kind) => kind.infra.service)])];
  const viaCopyServices = services.flatMap((service) => [
    ...new Set([`${service}.${region}.amazonaws.com`, `${service}.${backup.region}.amazonaws.com`]),
  ]);

  const shareKey = new kms.Key(stack, 'ShareKey', {
    alias: names.shareKeyAlias,
    description: `Bunker (${config.name}): re-encrypts snapshots shared with backup account ${backup.account}`,
    enableKeyRotation: true,
    // Shared intermediates in flight are unreadable without it.
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const backupAccount = new iam.AccountPrincipal(backup.account);
  shareKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'BackupAccountDescribes',
      principals: [backupAccount],
      actions: ['kms:DescribeKey'],
      resources: ['*'],
    }),
  );
  shareKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'BackupAccountDecryptsThroughCopyServicesOnly',
      principals: [backupAccount],
      actions: ['kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'kms:ViaService': viaCopyServices } },
    }),
  );
  shareKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'BackupAccountLetsCopyServicesGrant',
      principals: [backupAccount],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        StringEquals: { 'kms:ViaService': viaCopyServices },
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      },
    }),
  );

  const ownsReaderRole = roles !== false;
  let readerRole: iam.Role | undefined;
  if (ownsReaderRole) {
    readerRole = new iam.Role(stack, 'ReaderRole', {
      roleName: names.readerRole,
      description: `Bunker (${config.name}): lets the vault Lambdas of ${backup.account} read the metadata of the snapshots and images in scope`,
      assumedBy: backupAccount.withConditions({
        // Intake checks what it is told, the sweep what was shared but never announced, the auditor and the
        // operator (`bunker status`) list what is in scope; completion reads the vault's own copies only.
        ArnEquals: {
          'aws:PrincipalArn': [
            vaultNames(config.name).intakeRole,
            vaultNames(config.name).auditRole,
            vaultNames(config.name).sweepRole,
            vaultNames(config.name).operatorRole,
          ].map((role) => `arn:${Aws.PARTITION}:iam::${backup.account}:role/${role}`),
        },
      }),
      maxSessionDuration: Duration.hours(1),
    });
    // Coverage's metadata listings in every Region: a resource in a Region the configuration does not
    // register is what it must find. The copiers' own reads stay in the registered Regions.
    const registered = { StringEquals: { 'aws:RequestedRegion': source.regions } };
    const copierOnly = readerActions(config).filter(
      (action) => !(COVERAGE_READER_ACTIONS as readonly string[]).includes(action),
    );
    const readPolicy = new iam.Policy(stack, 'ReaderPolicy', {
      roles: [readerRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'ListMetadataInEveryRegion',
          actions: [...COVERAGE_READER_ACTIONS],
          resources: ['*'],
        }),
        ...(copierOnly.length > 0
          ? [
              new iam.PolicyStatement({
                sid: 'CopierReadsInRegisteredRegions',
                actions: copierOnly,
                resources: ['*'],
                conditions: registered,
              }),
            ]
          : []),
      ],
    });
    acknowledge(
      readPolicy,
      `${NAG_PACK}-IAM5[Resource::*]`,
      'Read-only Describe/List calls only, which AWS authorizes only on "*": bunker coverage\'s metadata listings (names, tags, settings and keys; no value, item or snapshot data) in every Region, since an unregistered Region is what it looks for, and the enabled kinds\' snapshot reads in the registered Regions only; the role sees nothing beyond this account.',
    );
  }

  const agent = new BunkerFunction(stack, 'SourceAgent', {
    handler: 'source-agent',
    roleName: names.agentRole,
    description: 'Re-keys RDS snapshots in scope under the share key, shares them with the vault and notifies it',
    timeout: Duration.minutes(2),
    environment: {
      ...sourceSettingsToEnv(sourceSettings(config, sourceAccount, region, shareKey.keyArn, Aws.PARTITION)),
      POWERTOOLS_SERVICE_NAME: `${config.name}-source-agent`,
      // The hourly sweep lists a quiet kind once every 6 hours (`sweepModeFromEnv`, lambdas/handlers/source-agent.ts).
      BUNKER_AGENT_SWEEP: 'scheduled',
    },
  });
  grantAgentRights(agent, shareKey, config, sourceAccount, region);
  const receiptsTopic = createReceipts(stack, agent, config);

  if (config.artifacts.rds.enabled) {
    new events.Rule(stack, 'SnapshotEvents', {
      description: 'RDS snapshots created or copied: candidates to share with the vault',
      eventPattern: {
        source: ['aws.rds'],
        detailType: ['RDS DB Snapshot Event'],
        detail: { EventID: [...SOURCE_EVENT_IDS] },
      },
      targets: [new targets.LambdaFunction(agent.lambda, { retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
  }
  if (config.artifacts.ebs.enabled) {
    new events.Rule(stack, 'EbsSnapshotEvents', {
      description: 'EBS snapshots created or copied: candidates to share with the vault',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EBS Snapshot Notification'],
        detail: { event: ['createSnapshot', 'copySnapshot'], result: ['succeeded'] },
      },
      targets: [new targets.LambdaFunction(agent.lambda, { retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
  }
  if (config.artifacts.ami.enabled) {
    new events.Rule(stack, 'ImageEvents', {
      description: 'AMIs that became available: candidates to share with the vault',
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 AMI State Change'], detail: { State: ['available'] } },
      targets: [new targets.LambdaFunction(agent.lambda, { retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
  }
  if (config.artifacts.aurora.enabled) {
    new events.Rule(stack, 'ClusterSnapshotEvents', {
      // Every cluster snapshot event: the agent re-reads the snapshot, so no event id list has to be exact.
      description: 'Aurora cluster snapshots created or copied: candidates to share with the vault',
      eventPattern: { source: ['aws.rds'], detailType: ['RDS DB Cluster Snapshot Event'] },
      targets: [new targets.LambdaFunction(agent.lambda, { retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
  }
  new events.Rule(stack, 'SweepSchedule', {
    description: 'Events are best-effort: look for missed snapshots every hour',
    schedule: events.Schedule.rate(Duration.hours(1)),
    targets: [new targets.LambdaFunction(agent.lambda, { retryAttempts: 2 })],
  });

  let pull: PullSource | undefined;
  if (enabledPulledKinds(config).length > 0) {
    // IAM is global: the puller role is made by the stack that makes the reader role.
    pull = new PullSource(stack, 'Pulled', { config, source, region, createPullerRole: ownsReaderRole });
  }

  new CfnOutput(stack, 'ShareKeyArn', {
    value: shareKey.keyArn,
    description: 'Encrypts shared intermediates',
  });
  if (readerRole) {
    const output = new CfnOutput(stack, 'ReaderRoleArn', {
      value: readerRole.roleArn,
      description: 'Assumed by the vault',
    });
    if (roles instanceof CfnCondition) {
      // One template serves every Region: the account-wide roles exist only where the condition holds.
      output.condition = roles;
      onlyWhere(roles, [
        readerRole,
        stack.node.tryFindChild('ReaderPolicy'),
        pull?.pullerRole,
        pull?.node.tryFindChild('PullerPolicy'),
      ]);
    }
  }
  return { shareKey, agent, receiptsTopic, ...(readerRole ? { readerRole } : {}), ...(pull ? { pull } : {}) };
}

/**
 * The vault's receipts: a topic only the vault's Lambda roles may publish
 * to (backup → production; never a right of production in the backup
 * account), delivered to a queue the agent reads, so a receipt survives an
 * agent that is down and a failed one ends in a dead-letter queue.
 */
function createReceipts(stack: Stack, agent: BunkerFunction, config: BunkerConfig): sns.Topic {
  const names = sourceNames(config.name, stack.region);
  const backup = config.backup;
  const key = new kms.Key(stack, 'ReceiptsKey', {
    alias: names.receiptsKeyAlias,
    description: `Bunker (${config.name}): encrypts the vault's receipts in flight; never backup data`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const topicArn = `arn:${Aws.PARTITION}:sns:${stack.region}:${stack.account}:${names.receiptsTopic}`;
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'VaultPublishesThroughSns',
      principals: [new iam.AccountPrincipal(backup.account)],
      actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'kms:ViaService': `sns.${stack.region}.amazonaws.com` } },
    }),
  );
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'ReceiptsTopicDeliversToEncryptedQueue',
      principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
      actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account }, ArnEquals: { 'aws:SourceArn': topicArn } },
    }),
  );
  const topic = new sns.Topic(stack, 'ReceiptsTopic', {
    topicName: names.receiptsTopic,
    displayName: `Bunker ${config.name} receipts from the vault`,
    masterKey: key,
    enforceSSL: true,
  });
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'VaultLambdasPublish',
      principals: [new iam.AccountPrincipal(backup.account)],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        ArnEquals: {
          'aws:PrincipalArn': [
            vaultNames(config.name).completionRole,
            vaultNames(config.name).sweepRole,
            vaultNames(config.name).intakeRole,
          ].map((role) => `arn:${Aws.PARTITION}:iam::${backup.account}:role/${role}`),
        },
      },
    }),
  );
  const deadLetters = new sqs.Queue(stack, 'ReceiptsDeadLetterQueue', {
    queueName: names.receiptsDeadLetterQueue,
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const queue = new sqs.Queue(stack, 'ReceiptsQueue', {
    queueName: names.receiptsQueue,
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    visibilityTimeout: Duration.seconds(agent.timeout.toSeconds() * 6),
    deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
  });
  const queuePolicy = queue.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'ReceiptsTopicDelivers',
      principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
      actions: ['sqs:SendMessage'],
      resources: [queue.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': topic.topicArn } },
    }),
  );
  const subscription = new sns.Subscription(stack, 'ReceiptsSubscription', {
    topic,
    protocol: sns.SubscriptionProtocol.SQS,
    endpoint: queue.queueArn,
    rawMessageDelivery: true,
  });
  if (queuePolicy.policyDependable) subscription.node.addDependency(queuePolicy.policyDependable);
  agent.lambda.addEventSource(new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true }));
  new CfnOutput(stack, 'ReceiptsTopicArn', {
    value: topic.topicArn,
    description: 'The vault publishes receipts here',
  });

  // Loud by design: an intermediate deleted with no receipt, or a receipt the agent could not record.
  new cloudwatch.Alarm(stack, 'IntermediatesExpiredUncopiedAlarm', {
    alarmDescription:
      'The source agent deleted an intermediate past the hard horizon with no receipt from the vault: a snapshot may not be in the backup account',
    metric: new cloudwatch.Metric({
      namespace: 'Bunker',
      metricName: 'IntermediatesExpiredUncopied',
      dimensionsMap: { service: `${config.name}-source-agent` },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.hours(1),
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  new cloudwatch.Alarm(stack, 'SnapshotsAgedOutUncopiedAlarm', {
    alarmDescription:
      'An in-scope snapshot or image is older than the hard horizon and the vault never confirmed a copy: it will not be backed up',
    metric: new cloudwatch.Metric({
      namespace: 'Bunker',
      metricName: 'SnapshotsAgedOutUncopied',
      dimensionsMap: { service: `${config.name}-source-agent` },
      statistic: cloudwatch.Stats.MAXIMUM,
      // A quiet kind is counted by the sweep once every 6 hours: a shorter period would clear the alarm between counts.
      period: Duration.hours(6),
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  new cloudwatch.Alarm(stack, 'ReceiptsDeadLettersAlarm', {
    alarmDescription: 'Receipts from the vault the agent could not record: see the receipts dead-letter queue',
    metric: deadLetters.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: cloudwatch.Stats.MAXIMUM,
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return topic;
}

function grantAgentRights(
  agent: BunkerFunction,
  shareKey: kms.Key,
  config: BunkerConfig,
  account: string,
  region: string,
): void {
  const partition = Aws.PARTITION;
  const rdsHere = `rds.${region}.amazonaws.com`;
  const snapshots = `arn:${partition}:rds:${region}:${account}:snapshot:*`;
  const instances = `arn:${partition}:rds:${region}:${account}:db:*`;
  const intermediates = `arn:${partition}:rds:${region}:${account}:snapshot:${INTERMEDIATE_PREFIX}-*`;

  if (config.artifacts.rds.enabled) {
    agent.allow(
      { actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBInstances'], resources: ['*'] },
      'rds:DescribeDBSnapshots and rds:DescribeDBInstances without an identifier (the hourly sweep lists them) are only authorized on "*"; both are read-only.',
    );
    agent.allow(
      {
        actions: ['rds:ListTagsForResource', 'rds:DescribeDBSnapshotAttributes'],
        resources: [snapshots, instances],
      },
      'Scope is decided by tags on any snapshot or instance of this account and Region; read-only.',
    );
    agent.allow(
      { actions: ['rds:CopyDBSnapshot', 'rds:AddTagsToResource'], resources: [snapshots] },
      'The agent copies any in-scope snapshot of this account and Region (automated ones are named by RDS) into a bunker-share-* intermediate and tags it.',
    );
    agent.allow(
      { actions: ['rds:ModifyDBSnapshotAttribute', 'rds:DeleteDBSnapshot'], resources: [intermediates] },
      "Sharing and deleting are limited to the agent's own intermediates, all named bunker-share-* (intermediateSnapshotId).",
    );
  }
  if (config.artifacts.aurora.enabled) {
    const clusterSnapshots = `arn:${partition}:rds:${region}:${account}:cluster-snapshot:*`;
    const clusters = `arn:${partition}:rds:${region}:${account}:cluster:*`;
    agent.allow(
      { actions: ['rds:DescribeDBClusterSnapshots', 'rds:DescribeDBClusters'], resources: ['*'] },
      'rds:DescribeDBClusterSnapshots and rds:DescribeDBClusters without an identifier (the hourly sweep lists them) are only authorized on "*"; both are read-only.',
    );
    agent.allow(
      {
        actions: ['rds:ListTagsForResource', 'rds:DescribeDBClusterSnapshotAttributes'],
        resources: [clusterSnapshots, clusters],
      },
      'Scope is decided by tags on any cluster or cluster snapshot of this account and Region; read-only.',
    );
    agent.allow(
      { actions: ['rds:CopyDBClusterSnapshot', 'rds:AddTagsToResource'], resources: [clusterSnapshots] },
      'The agent copies any in-scope cluster snapshot of this account and Region (automated ones are named by RDS) into a bunker-share-* intermediate and tags it.',
    );
    agent.allow(
      {
        actions: ['rds:ModifyDBClusterSnapshotAttribute', 'rds:DeleteDBClusterSnapshot'],
        resources: [`arn:${partition}:rds:${region}:${account}:cluster-snapshot:${INTERMEDIATE_PREFIX}-*`],
      },
      "Sharing and deleting are limited to the agent's own cluster snapshot intermediates, all named bunker-share-* (intermediateSnapshotId).",
    );
  }

  const ec2Kinds = config.artifacts.ebs.enabled || config.artifacts.ami.enabled;
  if (ec2Kinds) {
    const ec2Snapshots = `arn:${partition}:ec2:${region}::snapshot/*`;
    const images = `arn:${partition}:ec2:${region}::image/*`;
    agent.allow(
      {
        actions: [
          'ec2:DescribeSnapshots',
          'ec2:DescribeSnapshotAttribute',
          'ec2:DescribeVolumes',
          'ec2:DescribeImages',
          'ec2:DescribeImageAttribute',
        ],
        resources: ['*'],
      },
      'EC2 Describe calls have no resource-level permissions: they are only authorized on "*", and they are read-only.',
    );
    agent.allow(
      { actions: ['ec2:CopySnapshot', 'ec2:CopyImage'], resources: [ec2Snapshots, images] },
      'The agent copies any in-scope EBS snapshot or AMI of this Region (their ids are chosen by EC2) into an intermediate under the share key; EC2 ARNs carry no account to narrow by.',
    );
    // Tags decide what the agent may delete, so who may set which tag is narrow:
    agent.allow(
      {
        // the tags a copy is made with (bunker:intermediate among them), only as part of the copy;
        actions: ['ec2:CreateTags'],
        resources: [ec2Snapshots, images],
        conditions: { StringEquals: { 'ec2:CreateAction': ['CopySnapshot', 'CopyImage'] } },
      },
      'Tags set by CopySnapshot and CopyImage on the copies they create, whose ids EC2 chooses; only at creation (ec2:CreateAction).',
    );
    agent.allow(
      {
        // the agent's later marks, only on its own intermediates;
        actions: ['ec2:CreateTags'],
        resources: [ec2Snapshots, images],
        conditions: {
          StringEquals: { 'aws:ResourceTag/bunker:intermediate': 'true' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['bunker:notified-at', 'bunker:copied-at'] },
        },
      },
      "Marks on the agent's own intermediates (tagged bunker:intermediate at their creation); only these two keys.",
    );
    agent.allow(
      {
        // and on production's own snapshots and images, only the one mark that the vault holds their copy.
        actions: ['ec2:CreateTags'],
        resources: [ec2Snapshots, images],
        conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['bunker:backed-up-at'] } },
      },
      "The one tag the agent sets on production's snapshots and images (bunker:backed-up-at); never bunker:intermediate, so production can never be made deletable.",
    );
    agent.allow(
      {
        actions: [
          'ec2:ModifySnapshotAttribute',
          'ec2:DeleteSnapshot',
          'ec2:ModifyImageAttribute',
          'ec2:DeregisterImage',
        ],
        resources: [ec2Snapshots, images],
        // Only what the agent made: its intermediates carry this tag from their creation.
        conditions: { StringEquals: { 'aws:ResourceTag/bunker:intermediate': 'true' } },
      },
      "Sharing, deleting and deregistering are limited to the agent's own intermediates by their bunker:intermediate tag; EC2 ids are chosen by EC2, so no name narrows them.",
    );
  }
  const agentServices = [rdsHere, ...(ec2Kinds ? [`ec2.${region}.amazonaws.com`] : [])];

  agent.allow({ actions: ['kms:DescribeKey'], resources: [shareKey.keyArn] });
  agent.allow(
    {
      actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
      resources: [shareKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': agentServices } },
    },
    'The share key only, and only through RDS or EC2: ReEncrypt* and GenerateDataKey* are the key operation families they use to encrypt a snapshot copy.',
  );
  agent.allow({
    actions: ['kms:CreateGrant'],
    resources: [shareKey.keyArn],
    conditions: {
      StringEquals: { 'kms:ViaService': agentServices },
      Bool: { 'kms:GrantIsForAWSResource': 'true' },
    },
  });

  const ownKeys = `arn:${partition}:kms:${region}:${account}:key/*`;
  const ownKeysReason =
    'Snapshots in scope may be encrypted with aws/rds, aws/ebs or any customer key of this account, unknown at deploy time; usable only through RDS or EC2 (kms:ViaService) to read them for the copy.';
  agent.allow(
    {
      actions: ['kms:Decrypt', 'kms:DescribeKey'],
      resources: [ownKeys],
      conditions: { StringEquals: { 'kms:ViaService': agentServices } },
    },
    ownKeysReason,
  );
  agent.allow(
    {
      actions: ['kms:CreateGrant'],
      resources: [ownKeys],
      conditions: {
        StringEquals: { 'kms:ViaService': agentServices },
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      },
    },
    ownKeysReason,
  );

  const backup = config.backup;
  agent.allow({
    actions: ['sns:Publish'],
    resources: [intakeTopicArn(config.name, backup.account, backup.region, account, partition)],
  });
  agent.allow(
    {
      actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      resources: [`arn:${partition}:kms:${backup.region}:${backup.account}:key/*`],
      conditions: { StringEquals: { 'kms:ViaService': `sns.${backup.region}.amazonaws.com` } },
    },
    'Publishing to the encrypted intake topic needs its key, whose id the vault stack creates and this stack cannot know; only through SNS of the backup Region, and the key policy there admits nothing else.',
  );
}

/** Makes every CloudFormation resource under `scopes` exist only where `condition` holds. */
function onlyWhere(condition: CfnCondition, scopes: readonly (IConstruct | undefined)[]): void {
  for (const scope of scopes) {
    for (const child of scope?.node.findAll() ?? []) {
      if (child instanceof CfnResource) child.cfnOptions.condition = condition;
    }
  }
}
