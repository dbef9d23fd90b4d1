/**
 * The vault: everything Bunker keeps in the backup account. Production
 * accounts may only publish "a snapshot is ready" to its intake topic; the
 * vault pulls the snapshots itself and encrypts them with a key no other
 * account can use.
 */
import { Arn, ArnFormat, Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENROLLED_SOURCES_ENV, intakeTopicPattern } from '../../lambdas/core/enrolment/names';
import { intakeTopicName, readerRoleArn, receiptsTopicArn, sourceNames, vaultNames } from '../../lambdas/core/names';
import { QUEUE_INDEX } from '../../lambdas/core/inventory';
import { vaultSettingsToEnv } from '../../lambdas/core/settings';
import { enabledKinds, enabledPulledKinds, vaultSettings } from '../config/runtime';
import type { BunkerConfig } from '../config/schema';
import { Audit, createAlertsTopic, OperatorRole, requireAlertAddress } from '../constructs/audit';
import { Enrolment, unitRegions } from '../constructs/enrolment';
import { BunkerFunction, type BunkerHandlerName } from '../constructs/bunker-function';
import { BunkerDashboard } from '../constructs/dashboard';
import { Drills } from '../constructs/drills';
import { Immutability } from '../constructs/immutability';
import { PullVault } from '../constructs/pull';
import { RecoveryRole } from '../constructs/recovery';
import { Retention } from '../constructs/retention';

/** How many intake deliveries are handled at once: a flood of bad messages cannot take every Lambda. */
export const INTAKE_MAX_CONCURRENCY = 5;

export interface VaultStackProps extends StackProps {
  /** The validated configuration; `backup` says where this stack goes. */
  readonly config: BunkerConfig;
}

/** The backup account's stack: keys, intake, inventory and the three vault Lambdas. */
export class VaultStack extends Stack {
  /** Encrypts the backup copies and pulled data; usable by the backup account only. */
  public readonly backupKey: kms.Key;
  /** Encrypts the inventory table only. */
  public readonly inventoryKey: kms.Key;
  /** Key denials, deletion and key-change alarms, locked Recycle Bin rules. */
  public readonly immutability: Immutability;
  /** Encrypts the intake topic and queues; source accounts may use it only through SNS. */
  public readonly intakeKey: kms.Key;
  /** One per source account, by account id: only that account's agents may publish to it. */
  public readonly intakeTopics: ReadonlyMap<string, sns.Topic>;
  public readonly intakeQueue: sqs.Queue;
  public readonly intakeDeadLetterQueue: sqs.Queue;
  public readonly inventory: dynamodb.Table;
  public readonly alertsTopic: sns.Topic;
  /** The auditor (expected versus actual) and its alarms. */
  public readonly audit: Audit;
  public readonly intake: BunkerFunction;
  public readonly completion: BunkerFunction;
  public readonly sweep: BunkerFunction;
  /** Pulled backups (vault bucket, pull queue, schedules, pull function), when a pulled kind is enabled. */
  public readonly pull?: PullVault;
  /** Enrolment of the organizational units' accounts, when `organization` is set. */
  public readonly enrolment?: Enrolment;
  /** The operator's read-only role (`<name>-operator`) for `bunker status`, `inventory` and `report`. */
  public readonly operator: OperatorRole;

  constructor(scope: Construct, id: string, props: VaultStackProps) {
    const { config, ...stackProps } = props;
    super(scope, id, {
      stackName: vaultNames(config.name).stack,
      description: `Bunker vault (${config.name}): backup keys, intake and inventory in the backup account`,
      // Deleting this stack by mistake would orphan the backups' key and inventory.
      terminationProtection: true,
      ...stackProps,
      env: { account: config.backup.account, region: config.backup.region },
    });
    requireAlertAddress(config, this);
    const names = vaultNames(config.name);
    const { account, region } = config.backup;
    const sourceAccounts = config.sources.map((source) => source.account);

    this.backupKey = new kms.Key(this, 'BackupKey', {
      alias: names.backupKeyAlias,
      description: `Bunker (${config.name}): encrypts backup copies and pulled data; no other account may use it`,
      enableKeyRotation: true,
      // The backups are unreadable without it: never delete it with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
      // The default key policy only names this account's root; nothing is
      // added, so no source account can use or schedule the deletion of it.
    });

    // The inventory's own key: disabling or losing it must not take the backups' key with it, nor the reverse.
    this.inventoryKey = new kms.Key(this, 'InventoryKey', {
      alias: `alias/${config.name}-inventory`,
      description: `Bunker (${config.name}): encrypts the inventory table; never backup data`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.intakeKey = new kms.Key(this, 'IntakeKey', {
      alias: names.intakeKeyAlias,
      description: `Bunker (${config.name}): encrypts intake notifications in flight; never backup data`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Literal ARNs, not references: the topics are encrypted with this key,
    // so a reference from the key policy to a topic would be a cycle.
    const topicArnOf = (source: string) =>
      Arn.format(
        { service: 'sns', resource: intakeTopicName(config.name, source), arnFormat: ArnFormat.NO_RESOURCE_NAME },
        this,
      );
    const intakeTopicArns = sourceAccounts.map(topicArnOf);
    // With organizational units, enrolled accounts' topics are made at run time: admitted by name, in this account only.
    const organization = config.organization;
    const intakeTopicsCondition = organization
      ? { ArnLike: { 'aws:SourceArn': intakeTopicPattern(config.name, account, region, Aws.PARTITION) } }
      : { ArnEquals: { 'aws:SourceArn': intakeTopicArns } };
    const snsInThisRegion = `sns.${region}.amazonaws.com`;
    this.intakeKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RegisteredSourcesPublishThroughSns',
        principals: sourceAccounts.map((source) => new iam.AccountPrincipal(source)),
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:ViaService': snsInThisRegion } },
      }),
    );
    this.intakeKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'IntakeTopicsDeliverToEncryptedQueues',
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ...intakeTopicsCondition,
        },
      }),
    );

    if (organization) {
      this.intakeKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OrganizationSourceAgentsPublishThroughSns',
          principals: [new iam.AnyPrincipal()],
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: ['*'],
          // Bunker's source agents of this organization only, and only through SNS here; which topic
          // each may publish on is the topic's own policy (one account each).
          conditions: {
            StringEquals: { 'kms:ViaService': snsInThisRegion, 'aws:PrincipalOrgID': organization.id },
            ArnLike: { 'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::*:role/${config.name}-source-agent-*` },
          },
        }),
      );
    }

    // One topic per source account: SNS names the topic in the envelope it
    // delivers, so the topic (not the message text) says who sent it, and
    // each topic's policy admits only that account's source agents.
    const topics = new Map<string, sns.Topic>();
    for (const source of config.sources) {
      const topic = new sns.Topic(this, `IntakeTopic${source.account}`, {
        topicName: intakeTopicName(config.name, source.account),
        displayName: `Bunker ${config.name} intake from ${source.account}`,
        masterKey: this.intakeKey,
        enforceSSL: true,
      });
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'ThisSourceAccountsAgentsPublish',
          principals: [new iam.AccountPrincipal(source.account)],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          // Of the source account, only its Bunker agents: a compromised
          // workload there cannot flood the intake.
          conditions: { ArnEquals: { 'aws:PrincipalArn': sourceAgentRoleArns(config, source.account) } },
        }),
      );
      topics.set(source.account, topic);
    }
    this.intakeTopics = topics;

    const settingsEnv = vaultSettingsToEnv(vaultSettings(config, this.backupKey.keyArn, Aws.PARTITION));
    const vaultFunction = (
      id: string,
      handler: BunkerHandlerName,
      roleName: string,
      description: string,
      timeout: Duration,
    ) =>
      new BunkerFunction(this, id, {
        handler,
        roleName,
        description,
        timeout,
        environment: { ...settingsEnv, POWERTOOLS_SERVICE_NAME: `${config.name}-${handler}` },
      });
    this.intake = vaultFunction(
      'Intake',
      'intake',
      names.intakeRole,
      'Checks each "snapshot shared" notification and starts the copy into the vault',
      Duration.seconds(60),
    );
    this.completion = vaultFunction(
      'Completion',
      'completion',
      names.completionRole,
      'Records finished and failed snapshot copies in the inventory',
      Duration.seconds(60),
    );
    this.sweep = vaultFunction(
      'Sweep',
      'sweep',
      names.sweepRole,
      'Finds copies whose events were lost and retries what is due',
      Duration.minutes(5),
    );
    // With organizational units, the sweep also looks at what enrolled accounts shared (it reads their enrolments).
    if (config.organization) this.sweep.lambda.addEnvironment(ENROLLED_SOURCES_ENV, 'true');

    this.intakeDeadLetterQueue = new sqs.Queue(this, 'IntakeDeadLetterQueue', {
      queueName: names.intakeDeadLetterQueue,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.intakeKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.intakeQueue = new sqs.Queue(this, 'IntakeQueue', {
      queueName: names.intakeQueue,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.intakeKey,
      enforceSSL: true,
      // A message must not reappear while a batch is still being handled,
      // retries included (AWS's advice for Lambda event sources: 6x timeout).
      visibilityTimeout: Duration.seconds(this.intake.timeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.intakeDeadLetterQueue, maxReceiveCount: 5 },
    });
    // Written out instead of SqsSubscription, which would add an unconditioned
    // (or, with the feature flag, cyclic) sns.amazonaws.com statement to the key.
    // Only the intake topics may write to the queue: nothing reaches intake but SNS envelopes.
    const queuePolicy = this.intakeQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'IntakeTopicsDeliver',
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.intakeQueue.queueArn],
        conditions: organization
          ? intakeTopicsCondition
          : { ArnEquals: { 'aws:SourceArn': [...topics.values()].map((topic) => topic.topicArn) } },
      }),
    );
    if (organization) {
      // Enrolled topics' subscriptions send what SNS cannot deliver here, like the listed topics' do.
      this.intakeDeadLetterQueue.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'EnrolledIntakeTopicsDeadLetters',
          principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [this.intakeDeadLetterQueue.queueArn],
          conditions: intakeTopicsCondition,
        }),
      );
    }
    for (const [source, topic] of topics) {
      const subscription = new sns.Subscription(this, `IntakeSubscription${source}`, {
        topic,
        protocol: sns.SubscriptionProtocol.SQS,
        endpoint: this.intakeQueue.queueArn,
        // Not raw: SNS's envelope names the topic, which is how intake knows the sender.
        rawMessageDelivery: false,
        // A message SNS cannot deliver lands next to those the intake gave up
        // on, so the one dead-letter alarm covers both.
        deadLetterQueue: this.intakeDeadLetterQueue,
      });
      // SNS confirms the subscription by delivering to the queue: the policy must come first.
      if (queuePolicy.policyDependable) subscription.node.addDependency(queuePolicy.policyDependable);
    }

    this.intake.lambda.addEventSource(
      new SqsEventSource(this.intakeQueue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: INTAKE_MAX_CONCURRENCY,
      }),
    );

    // One rule per enabled kind, built from the kind registry: the events
    // only say which copy to re-read, so a broad pattern is safe.
    for (const kind of enabledKinds(config)) {
      const { source, detailType, detail } = kind.infra.copyEvents;
      new events.Rule(this, `CopyEvents-${kind.name}`, {
        description: `${kind.label} copies into the vault finished or failed`,
        eventPattern: { source: [source], detailType: [detailType], ...(detail ? { detail: { ...detail } } : {}) },
        targets: [
          new targets.LambdaFunction(this.completion.lambda, {
            retryAttempts: 4,
            maxEventAge: Duration.hours(2),
          }),
        ],
      });
    }
    new events.Rule(this, 'SweepSchedule', {
      description: 'Events are best-effort: reconcile the inventory with the copies every 15 minutes',
      schedule: events.Schedule.rate(Duration.minutes(15)),
      targets: [new targets.LambdaFunction(this.sweep.lambda, { retryAttempts: 2 })],
    });

    this.inventory = new dynamodb.Table(this, 'Inventory', {
      tableName: names.inventoryTable,
      partitionKey: { name: 'artifactId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      // Rejected messages expire, so a flood of bad messages cannot grow the table for good.
      timeToLiveAttribute: 'expiresAt',
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.inventoryKey,
    });
    this.inventory.addGlobalSecondaryIndex({
      indexName: names.inventoryStatusIndex,
      partitionKey: { name: 'status', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'updatedAt', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // The scheduler's sparse queue index: waiting records by pool and account, unconfirmed claims by lease.
    this.inventory.addGlobalSecondaryIndex({
      indexName: QUEUE_INDEX,
      partitionKey: { name: 'queue', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'queueKey', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    // Intake and the sweep (what was shared but never announced) read sources through the reader role;
    // completion reads the vault's own copies only.
    this.grantVaultRights(this.intake, config, true);
    this.grantVaultRights(this.completion, config, false);
    this.grantVaultRights(this.sweep, config, true);
    // The sweep lists, as the backup account, what the sources share with it but never announced (takeInShared).
    const listing = [...new Set(enabledKinds(config).flatMap((kind) => kind.infra.sharedListingActions))];
    const sourceRegions = [
      ...new Set([
        ...config.sources.flatMap((source) => source.regions),
        ...(config.organization ? unitRegions(config) : []),
      ]),
    ];
    if (listing.length > 0 && sourceRegions.length > 0) {
      this.sweep.allow(
        { actions: listing, resources: ['*'], conditions: { StringEquals: { 'aws:RequestedRegion': sourceRegions } } },
        `${listing.join(', ')} list what other accounts share with the backup account and are authorized only on "*"; read-only, and only in the registered source Regions.`,
      );
    }

    this.alertsTopic = createAlertsTopic(this, config);
    const alarmAction = new SnsAction(this.alertsTopic);
    new cloudwatch.Alarm(this, 'IntakeDeadLettersAlarm', {
      alarmDescription: 'Intake notifications were given up on or could not be delivered: see the dead-letter queue',
      metric: this.intakeDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
    for (const [id, fn] of [
      ['IntakeErrorsAlarm', this.intake],
      ['CompletionErrorsAlarm', this.completion],
      ['SweepErrorsAlarm', this.sweep],
    ] as const) {
      new cloudwatch.Alarm(this, id, {
        alarmDescription: `${fn.node.id} failed: see its log group`,
        metric: fn.lambda.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(alarmAction);
    }

    this.audit = new Audit(this, 'Audit', {
      config,
      inventory: this.inventory,
      // The audit records are written under the table's own key, not the backup-data key.
      inventoryKey: this.inventoryKey,
      alertsTopic: this.alertsTopic,
      alarmAction,
    });

    if (enabledPulledKinds(config).length > 0) {
      this.pull = new PullVault(this, 'Pulled', {
        config,
        backupKey: this.backupKey,
        inventory: this.inventory,
        alarmAction,
      });
    }
    this.operator = new OperatorRole(this, 'Operator', {
      config,
      inventory: this.inventory,
      inventoryKey: this.inventoryKey,
      vaultBucket: this.pull?.bucket,
    });
    // `bunker recover` acts through it: the one principal besides the pruner the SCP lets re-share copies.
    new RecoveryRole(this, 'Recovery', {
      config,
      inventory: this.inventory,
      inventoryKey: this.inventoryKey,
      alertsTopic: this.alertsTopic,
    });
    if (enabledKinds(config).length > 0 || this.pull) {
      const { backupKey, inventory, pull } = this;
      new Retention(this, 'Retention', {
        config,
        backupKey,
        inventory,
        alarmAction,
        retentionRole: pull?.retentionRole,
      });
    }

    // Restore drills: the isolated place, the drill function, its state machine, schedules and alarms.
    if (config.drills.enabled) {
      const { backupKey, inventory, inventoryKey, alertsTopic } = this;
      new Drills(this, 'Drills', { config, backupKey, inventory, inventoryKey, alertsTopic, alarmAction });
    }

    if (organization) {
      this.enrolment = new Enrolment(this, 'Enrolment', {
        config,
        inventory: this.inventory,
        inventoryKey: this.inventoryKey,
        intakeKey: this.intakeKey,
        intakeQueue: this.intakeQueue,
        intakeDeadLetterQueue: this.intakeDeadLetterQueue,
        alarmAction,
      });
    }

    new BunkerDashboard(this, 'Operations', {
      config,
      functions: [this.intake, this.completion, this.sweep, ...(this.pull ? [this.pull.pull] : [])].map(
        (f) => f.lambda,
      ),
      deadLetterQueues: [this.intakeDeadLetterQueue, ...(this.pull ? [this.pull.deadLetterQueue] : [])],
    });

    if (this.pull) {
      // The pull function writes its records next to the copies': the table's key, named (no wildcard).
      this.pull.pull.allow({
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [this.inventoryKey.keyArn],
      });
    }
    this.immutability = new Immutability(this, 'Immutability', {
      config,
      dataKeys: [this.backupKey, this.inventoryKey],
      watchedKeys: [this.backupKey, this.inventoryKey, this.intakeKey, ...(this.pull ? [this.pull.queueKey] : [])],
      alertsTopic: this.alertsTopic,
      // One multi-Region trail, here: the second Region's rules read it too.
      deployTrail: true,
    });

    new CfnOutput(this, 'BackupKeyArn', {
      value: this.backupKey.keyArn,
      description: 'Encrypts the backup copies',
    });
    for (const [source, topic] of topics) {
      new CfnOutput(this, `IntakeTopicArn${source}`, {
        value: topic.topicArn,
        description: `Source agents of ${source} publish here`,
      });
    }
    new CfnOutput(this, 'InventoryTableName', {
      value: this.inventory.tableName,
      description: 'The inventory',
    });
    new CfnOutput(this, 'AlertsTopicArn', {
      value: this.alertsTopic.topicArn,
      description: 'Alarms go here',
    });
  }

  /**
   * What every vault Lambda needs: the inventory, the backup key, and for
   * each enabled kind (from the kind registry) copying shared artifacts in
   * and reading its own copies; reading sources goes through the reader role.
   */
  private grantVaultRights(fn: BunkerFunction, config: BunkerConfig, readsSources: boolean): void {
    const { account, region } = config.backup;
    const partition = Aws.PARTITION;
    const kinds = enabledKinds(config);

    this.inventory.grantReadWriteData(fn.role);
    this.backupKey.grantEncryptDecrypt(fn.role);
    fn.acknowledgeWildcards(
      {
        actions: ['kms:GenerateDataKey*', 'kms:ReEncrypt*'],
        resources: [`${this.inventory.tableArn}/index/*`],
      },
      "Granted by Table.grantReadWriteData and Key.grantEncryptDecrypt: the inventory table, its by-status index and the backup key only; the wildcards are the key operation families DynamoDB uses with a customer-managed key and the table's index ARNs.",
    );
    fn.allow({ actions: ['kms:DescribeKey'], resources: [this.backupKey.keyArn] });
    fn.allow({
      // RDS and EC2 make a grant on the backup key for the copy they encrypt with it.
      actions: ['kms:CreateGrant'],
      resources: [this.backupKey.keyArn],
      conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    });
    if (kinds.length === 0) return;

    // One statement per kind for its copies in the vault Region and, with a second Region, its second hop there:
    // a statement per Region and kind outgrew the 10 KB of a role's inline policies with every kind enabled.
    const second = config.backup.secondRegion;
    const copyRegions = [region, ...(second ? [second] : [])];
    // One statement per service for its kinds' copies in the vault Region and, with a second Region, their second
    // hop there: a statement per kind and Region outgrew a role's inline policy with every kind enabled.
    for (const service of [...new Set(kinds.map((kind) => kind.infra.service))]) {
      const ofService = kinds.filter((kind) => kind.infra.service === service);
      fn.allow(
        {
          actions: [...new Set(ofService.flatMap((kind) => kind.infra.vaultCopyActions))],
          resources: [
            ...new Set(
              ofService.flatMap((kind) => copyRegions.flatMap((r) => kind.infra.vaultCopyArns(partition, account, r))),
            ),
          ],
        },
        `${ofService.map((kind) => kind.label).join(' and ')} copies (and second-hop copies) are named at run time (the kinds' targetName); RDS names all start with "bunker-", and EC2 ARNs carry no account or name to narrow by.`,
      );
      const describe = [...new Set(ofService.flatMap((kind) => kind.infra.vaultDescribeActions))];
      if (describe.length > 0) {
        fn.allow(
          { actions: describe, resources: ['*'] },
          `${describe.join(', ')} have no resource-level permissions in EC2: they are only authorized on "*", and they are read-only.`,
        );
      }
    }

    if (second) {
      const secondKeys = [`arn:${partition}:kms:${second}:${account}:key/*`];
      const secondServices = [...new Set(kinds.map((kind) => kind.infra.service))].map(
        (service) => `${service}.${second}.amazonaws.com`,
      );
      const secondKeyReason = `The backup-data key of ${second} is created by the stack of that Region and its id is unknown here; this account's own keys only, usable only through the copy services of that Region.`;
      fn.allow(
        {
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant'],
          resources: secondKeys,
          conditions: { StringEquals: { 'kms:ViaService': secondServices } },
        },
        secondKeyReason,
      );
      fn.allow(
        {
          // The Lambdas find the key by its alias, and compare every copy's key with it by whole ARN.
          actions: ['kms:DescribeKey'],
          resources: secondKeys,
          conditions: { StringEquals: { 'kms:RequestAlias': vaultNames(config.name).backupKeyAlias } },
        },
        secondKeyReason,
      );
    }

    // The sources: one statement per purpose for all sources, Regions and kinds together, never a statement or an
    // ARN per account and Region: those outgrew the role's inline policy at three accounts in several Regions (CDK
    // reckons 150 characters per ARN with a partition in it). Keys and topics are named for every account and
    // Region and narrowed by aws:ResourceAccount to the registered accounts; RDS snapshots per account in any
    // Region; EC2's, whose ARNs carry no account, in any Region. The Regions are then fixed by kms:ViaService and
    // aws:RequestedRegion, by each source's own key and topic policies, and by intake, which re-reads every
    // artifact it copies against the registry.
    // Enrolled accounts are not known at synthesis: with organizational units, any account (`*`) in the units'
    // Regions, with no aws:ResourceAccount narrowing; each source's share key, shares and reader role trust decide.
    const orgWide = config.organization ? [{ account: '*', regions: unitRegions(config) }] : [];
    const sources = [...config.sources, ...orgWide];
    const orgReason = orgWide.length
      ? ' With organizational units the account is "*": enrolled accounts are found at run time.'
      : '';
    const sourceAccounts = sources.map((source) => source.account);
    const sourceRegions = [...new Set(sources.flatMap((source) => source.regions))];
    const services = [...new Set(kinds.map((kind) => kind.infra.service))];
    const sourceArns = kinds.flatMap((kind) =>
      kind.infra.service === 'rds'
        ? sourceAccounts.flatMap((a) => kind.infra.sourceArns(partition, a, '*'))
        : kind.infra.sourceArns(partition, '', '*'),
    );
    fn.allow(
      {
        actions: [...new Set(kinds.flatMap((kind) => kind.infra.vaultSourceActions))],
        resources: [...new Set(sourceArns)],
      },
      `Copies what the registered source accounts share with the vault: their names are chosen in those accounts; RDS ARNs are named per registered account, EC2 ARNs carry no account at all, and intake copies only an artifact it has re-read in a registered account and Region.${orgReason}`,
    );
    const ofSources: Record<string, string[]> = orgWide.length ? {} : { 'aws:ResourceAccount': sourceAccounts };
    const sourceKeys = [`arn:${partition}:kms:*:*:key/*`];
    const allRegions = [...new Set([region, ...sourceRegions])];
    const viaServices = services.flatMap((service) => allRegions.map((r) => `${service}.${r}.amazonaws.com`));
    const shareKeyReason = `The share and receipts keys of the source accounts are created by their source stacks and their ids are unknown here; keys of the registered accounts only (aws:ResourceAccount), usable only through ${services.join(' and ')} or SNS (kms:ViaService) of the registered Regions, and only as far as each key's own policy allows.`;
    // Decrypt for the copy services, GenerateDataKey* for publishing to the encrypted receipts topics: one statement,
    // each key's own policy admitting only its use (the share key through RDS and EC2, the receipts key through SNS).
    fn.allow(
      {
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: sourceKeys,
        conditions: {
          StringEquals: {
            ...ofSources,
            'kms:ViaService': [...viaServices, ...sourceRegions.map((r) => `sns.${r}.amazonaws.com`)],
          },
        },
      },
      shareKeyReason,
    );
    fn.allow(
      {
        actions: ['kms:CreateGrant'],
        resources: sourceKeys,
        conditions: {
          StringEquals: { ...ofSources, 'kms:ViaService': viaServices },
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        },
      },
      shareKeyReason,
    );
    fn.allow(
      {
        actions: ['kms:DescribeKey'],
        resources: sourceKeys,
        conditions: { StringEquals: { ...ofSources, 'aws:RequestedRegion': sourceRegions } },
      },
      shareKeyReason,
    );
    // Receipts: "your intermediate is copied" to each source agent's topic, which exists only in its registered Regions.
    fn.allow(
      {
        actions: ['sns:Publish'],
        resources: [receiptsTopicArn(config.name, '*', '*', partition)],
        conditions: { StringEquals: { ...ofSources, 'aws:RequestedRegion': sourceRegions } },
      },
      `The receipts topic has the same name in every source account and Region: the registered accounts' only (aws:ResourceAccount), in the registered Regions only (aws:RequestedRegion), and each topic's policy admits only the vault's roles.${orgReason}`,
    );
    if (readsSources) {
      fn.allow(
        {
          actions: ['sts:AssumeRole'],
          resources: sources.map((source) => readerRoleArn(config.name, source.account, source.regions[0], partition)),
        },
        `The reader roles of the source accounts, by name; each trusts only the vault roles that read.${orgReason}`,
      );
    }
  }
}

/** A source account's agent role ARNs (one per Region): the only principals that publish to its intake topic. */
export function sourceAgentRoleArns(config: BunkerConfig, account: string): string[] {
  const source = config.sources.find((s) => s.account === account);
  return (source?.regions ?? []).map(
    (region) => `arn:${Aws.PARTITION}:iam::${account}:role/${sourceNames(config.name, region).agentRole}`,
  );
}
