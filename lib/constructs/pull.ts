/**
 * Pulled backups in the stacks: the vault's Object Lock bucket, pull queue,
 * schedules and pull function (backup account), and each source account's
 * puller role and DynamoDB export staging bucket. Nothing here exists unless
 * the configuration enables a pulled kind.
 */
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  exportBucketName,
  pullerRoleArn,
  pullRoleArn,
  sourceNames,
  vaultBucketName,
  vaultNames,
} from '../../lambdas/core/names';
import type { PulledConfigKey } from '../../lambdas/core/pull/types';
import { pullSettingsToEnv } from '../../lambdas/core/settings';
import {
  enabledPulledKinds,
  pullFanOutSchedules,
  pullHandlerSettings,
  pullSchedules,
  vaultRetentionDays,
} from '../config/runtime';
import type { BunkerConfig, Scope, SourceConfig } from '../config/schema';
import { BunkerFunction } from './bunker-function';
import { acknowledge, NAG_PACK, wildcardFindings } from './nag';

/** Pull runs at once: each holds a source's read quota, so a burst of schedules queues instead of fanning out. */
export const PULL_MAX_CONCURRENCY = 5;
/** How long a DynamoDB export stays in a source's staging bucket: long enough for the vault to copy it, and a retry. */
export const EXPORT_STAGING_DAYS = 7;

/** The retention role's name: the one principal the vault bucket lets delete (after retention). */
export const retentionRoleName = (prefix: string) => `${prefix}-retention`;
/** The access-log bucket of an account and Region (S3 names are global). */
export const accessLogsBucketName = (prefix: string, account: string, region: string) =>
  `${prefix}-access-logs-${account}-${region}`;
/** One rule per kind, source account and Region; deterministic, so policies can name them before they exist. */
export const pullRuleName = (prefix: string, kind: PulledConfigKey, account: string, region: string) =>
  `${prefix}-pull-${kind}-${account}-${region}`;
/** One rule per kind for every enrolled account: it queues `{ kind, fanOut: true }`. */
export const pullFanOutRuleName = (prefix: string, kind: PulledConfigKey) => `${prefix}-pull-${kind}-enrolled`;

/**
 * Actions the vault bucket refuses to everyone but the retention role: no
 * other principal deletes a version, lifts a legal hold or sets a retention
 * (a far-future retention or a hold on everything would keep data, and its
 * cost, beyond any policy).
 */
export const VAULT_DELETE_ACTIONS = [
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
] as const;
/**
 * Actions the vault bucket refuses to everyone, the retention role included:
 * nobody bypasses a retention, and only a deployment changes the default one.
 */
export const VAULT_LOCK_ACTIONS = ['s3:BypassGovernanceRetention', 's3:PutBucketObjectLockConfiguration'] as const;

/**
 * The CDK bootstrap's CloudFormation execution role, the one principal that
 * may change the bucket's default retention (a `retentionDays` change is a
 * deployment). Only CloudFormation can assume it.
 */
export const deploymentRoleArn = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/cdk-*-cfn-exec-role-${Aws.ACCOUNT_ID}-${Aws.REGION}`;

const S3_LOGS_BY_BUCKET_POLICY = '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy';

/** Log delivery by bucket policy (aws:SourceArn of the logged bucket), not the LogDeliveryWrite ACL: ACLs stay off. */
function deliverLogsByBucketPolicy(scope: Construct): void {
  scope.node.setContext(S3_LOGS_BY_BUCKET_POLICY, true);
}

/**
 * A bucket for the S3 server access logs of this account and Region's
 * Bunker buckets: who read or wrote what, kept 365 days. S3 log delivery
 * writes only to SSE-S3 buckets, hence no KMS here.
 */
function accessLogsBucket(scope: Construct, prefix: string): s3.Bucket {
  const stack = Stack.of(scope);
  return new s3.Bucket(scope, 'AccessLogs', {
    bucketName: accessLogsBucketName(prefix, stack.account, stack.region),
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    versioned: true,
    lifecycleRules: [
      { id: 'expire-access-logs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) },
    ],
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

export interface PullVaultProps {
  readonly config: BunkerConfig;
  /** The backup-data key: encrypts everything the vault bucket holds. */
  readonly backupKey: kms.IKey;
  /** The inventory table: pulled records live next to the copy records. */
  readonly inventory: dynamodb.Table;
  /** Where the pull alarms go. */
  readonly alarmAction: IAlarmAction;
}

/**
 * The backup account's side of pulled backups: the Object Lock vault bucket,
 * the retention role, the pull queue and its schedules, and the pull
 * function, whose role is the only principal the source accounts' puller
 * roles trust.
 */
export class PullVault extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly retentionRole: iam.Role;
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly queueKey: kms.Key;
  public readonly pull: BunkerFunction;
  /** One per {@link pullSchedules} entry. */
  public readonly rules: readonly events.Rule[];
  /** One per {@link pullFanOutSchedules} entry (with organizational units only). */
  public readonly fanOutRules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: PullVaultProps) {
    super(scope, id);
    deliverLogsByBucketPolicy(this);
    const { config, backupKey, inventory } = props;
    const names = vaultNames(config.name);
    const { account, region } = config.backup;
    const retentionDays = vaultRetentionDays(config);
    if (retentionDays === undefined) throw new Error('PullVault needs an enabled pulled kind');

    // What the pruner of a later change will run as; no function uses it yet.
    this.retentionRole = new iam.Role(this, 'RetentionRole', {
      roleName: retentionRoleName(config.name),
      description: `Bunker (${config.name}): the only principal that may delete from the vault bucket, and only versions whose Object Lock retention has passed; no function uses it yet`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });

    const logs = accessLogsBucket(this, config.name);
    this.bucket = new s3.Bucket(this, 'VaultBucket', {
      bucketName: vaultBucketName(config.name, account, region),
      versioned: true,
      objectLockEnabled: true,
      // The mode of `immutability.mode`, compliance by default: a governance
      // retention yields to anyone who may rewrite the bucket policy, that is
      // any administrator of the backup account, the very principal a
      // ransomware or insider attack takes over. Compliance holds against the
      // account root too; the price is that a retention once written cannot
      // be shortened.
      objectLockDefaultRetention:
        config.immutability.mode === 'governance'
          ? s3.ObjectLockRetention.governance(Duration.days(retentionDays))
          : s3.ObjectLockRetention.compliance(Duration.days(retentionDays)),
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: backupKey,
      // One data key per bucket instead of one KMS call per object: pulls write many small values.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: `${vaultBucketName(config.name, account, region)}/`,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const retentionRoleArn = `arn:${Aws.PARTITION}:iam::${account}:role/${retentionRoleName(config.name)}`;
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheRetentionRoleDeletes',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...VAULT_DELETE_ACTIONS],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': retentionRoleArn } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'NobodyBypassesOrChangesTheLock',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...VAULT_LOCK_ACTIONS],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': deploymentRoleArn } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'NoOtherAccount',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:*'],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 'aws:PrincipalAccount': account } },
      }),
    );
    const retentionPolicy = new iam.Policy(this, 'RetentionPolicy', {
      roles: [this.retentionRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['s3:ListBucket', 's3:ListBucketVersions'],
          resources: [this.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObjectRetention', 's3:GetObjectLegalHold', 's3:DeleteObject', 's3:DeleteObjectVersion'],
          resources: [this.bucket.arnForObjects('*')],
        }),
      ],
    });
    for (const finding of wildcardFindings(this, [], [this.bucket.arnForObjects('*')])) {
      acknowledge(
        retentionPolicy,
        `${NAG_PACK}-IAM5[${finding}]`,
        'Every object version of the vault bucket, whose keys the pulls choose at run time; Object Lock refuses a delete before the retention has passed, whatever this grants.',
      );
    }

    // Only the pull index: one Query lists a run's records, whole (ALL), with no BatchGet round trip.
    inventory.addGlobalSecondaryIndex({
      indexName: names.inventoryPullScopeIndex,
      partitionKey: { name: 'pullScope', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'artifactId', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.queueKey = new kms.Key(this, 'PullQueueKey', {
      alias: `alias/${names.pullQueue}`,
      description: `Bunker (${config.name}): encrypts pull jobs in flight; never backup data`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Literal rule ARNs: a reference from the key to a rule would be a cycle (rule → queue → key).
    const rulePattern = `arn:${Aws.PARTITION}:events:${region}:${account}:rule/${config.name}-pull-*`;
    this.queueKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PullSchedulesSendToTheEncryptedQueue',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': rulePattern } },
      }),
    );
    this.deadLetterQueue = new sqs.Queue(this, 'PullDeadLetterQueue', {
      queueName: names.pullDeadLetterQueue,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.queueKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    this.pull = new BunkerFunction(this, 'Pull', {
      handler: 'pull',
      roleName: names.pullRole,
      description: 'Pulls SSM parameters, secrets and DynamoDB tables in scope from a source account into the vault',
      timeout: Duration.minutes(15),
      memorySize: 1024,
      environment: { POWERTOOLS_SERVICE_NAME: `${config.name}-pull` },
    });
    this.queue = new sqs.Queue(this, 'PullQueue', {
      queueName: names.pullQueue,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.queueKey,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(this.pull.timeout.toSeconds() * 6),
      // A pull that fails three times in a row is left for an operator: the next schedule tries again anyway.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 3 },
    });
    const settings = pullHandlerSettings(config, backupKey.keyArn, this.queue.queueUrl, Aws.PARTITION);
    for (const [key, value] of Object.entries(pullSettingsToEnv(settings))) {
      this.pull.lambda.addEnvironment(key, value);
    }
    this.pull.lambda.addEventSource(
      new SqsEventSource(this.queue, {
        // One job per invocation: a job may take the whole 15 minutes.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: PULL_MAX_CONCURRENCY,
      }),
    );

    const schedules = pullSchedules(config);
    const queueArn = this.queue.queueArn;
    this.rules = schedules.map(
      (schedule) =>
        new events.Rule(this, `Schedule-${schedule.kind}-${schedule.account}-${schedule.region}`, {
          ruleName: pullRuleName(config.name, schedule.kind, schedule.account, schedule.region),
          description: `Pull ${schedule.kind} of ${schedule.account} in ${schedule.region} every ${schedule.everyMinutes} minutes`,
          schedule: events.Schedule.rate(Duration.minutes(schedule.everyMinutes)),
          // Written out instead of targets.SqsQueue, which would add an unconditioned statement to the key.
          targets: [
            {
              bind: () => ({
                arn: queueArn,
                input: events.RuleTargetInput.fromObject({
                  kind: schedule.kind,
                  account: schedule.account,
                  region: schedule.region,
                }),
              }),
            },
          ],
        }),
    );
    this.fanOutRules = pullFanOutSchedules(config).map(
      (schedule) =>
        new events.Rule(this, `FanOut-${schedule.kind}`, {
          ruleName: pullFanOutRuleName(config.name, schedule.kind),
          description: `Pull ${schedule.kind} of every enrolled account every ${schedule.everyMinutes} minutes`,
          schedule: events.Schedule.rate(Duration.minutes(schedule.everyMinutes)),
          targets: [
            {
              bind: () => ({
                arn: queueArn,
                input: events.RuleTargetInput.fromObject({ kind: schedule.kind, fanOut: true }),
              }),
            },
          ],
        }),
    );
    const pullRole = pullRoleArn(config.name, account, Aws.PARTITION);
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PullSchedulesSend',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [queueArn],
        conditions: { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': rulePattern } },
      }),
    );
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        // Anyone else is refused even if an identity policy of this account allows it.
        sid: 'OnlyPullSchedulesAndThePullFunctionSend',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sqs:SendMessage'],
        resources: [queueArn],
        conditions: {
          ArnNotEquals: { 'aws:PrincipalArn': pullRole },
          ArnNotLike: { 'aws:SourceArn': rulePattern },
        },
      }),
    );

    this.grantPullRights(config, backupKey);

    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric) =>
      new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(props.alarmAction);
    alarm(
      'PullDeadLettersAlarm',
      'Pull jobs failed three times in a row: see the pull dead-letter queue and the pull log group',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );
    alarm(
      'PullErrorsAlarm',
      'Pull failed: see its log group',
      this.pull.lambda.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
    );

    new CfnOutput(this, 'VaultBucketName', { value: this.bucket.bucketName, description: 'Pulled backups' });
    new CfnOutput(this, 'PullQueueUrl', { value: this.queue.queueUrl, description: 'Pull jobs' });
  }

  /**
   * The pull function reads sources only through their puller roles and
   * writes only to the vault: objects it never deletes or overwrites,
   * inventory records it never deletes, continuations on its own queue.
   */
  private grantPullRights(config: BunkerConfig, backupKey: kms.IKey): void {
    const fn = this.pull;
    const bucketArn = this.bucket.bucketArn;
    fn.allow({ actions: ['s3:ListBucket'], resources: [bucketArn] });
    fn.allow(
      { actions: ['s3:GetObject', 's3:PutObject'], resources: [this.bucket.arnForObjects('*')] },
      'Objects of the vault bucket only, keyed by kind, account, Region and name at run time; the bucket refuses deletes and Object Lock refuses overwrites of a version.',
    );
    fn.allow({
      actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [backupKey.keyArn],
    });
    const table = `arn:${Aws.PARTITION}:dynamodb:${config.backup.region}:${config.backup.account}:table/${vaultNames(config.name).inventoryTable}`;
    fn.allow({
      actions: [
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:DescribeTable',
      ],
      resources: [table, `${table}/index/${vaultNames(config.name).inventoryPullScopeIndex}`],
    });
    // Continuations; with the event source's own grant to receive, the queue key through SQS.
    this.queue.grantSendMessages(fn.role);
    fn.acknowledgeWildcards(
      { actions: ['kms:ReEncrypt*', 'kms:GenerateDataKey*'] },
      "Granted by Queue.grantSendMessages and the SQS event source: the pull queue's own key only; the wildcards are the key operation families SQS uses to encrypt and decrypt messages.",
    );
    fn.allow({
      actions: ['sts:AssumeRole'],
      resources: config.sources.map((source) => pullerRoleArn(config.name, source.account, Aws.PARTITION)),
    });
    const organization = config.organization;
    if (organization) {
      // Enrolled accounts are found at run time: the puller role of any account of the organization.
      fn.allow(
        {
          actions: ['sts:AssumeRole'],
          resources: [pullerRoleArn(config.name, '*', Aws.PARTITION)],
          conditions: { StringEquals: { 'aws:ResourceOrgID': organization.id } },
        },
        `The puller roles of enrolled accounts, which are found at run time: the role's name is fixed and its account must belong to the organization ${organization.id}; each puller role trusts only this role.`,
      );
      // The fan-out lists the enrolment records, which no index holds.
      fn.allow({ actions: ['dynamodb:Scan'], resources: [table] });
    }
  }
}

export interface PullSourceProps {
  readonly config: BunkerConfig;
  readonly source: SourceConfig;
  /** This stack's Region. */
  readonly region: string;
  /** Whether this stack makes the account's puller role (IAM is global: the first listed Region's stack does). */
  readonly createPullerRole: boolean;
}

/**
 * A source account's side of pulled backups: the read-only puller role
 * (once per account) and, when tables are pulled, the staging bucket their
 * exports land in (every Region).
 */
export class PullSource extends Construct {
  public readonly pullerRole?: iam.Role;
  public readonly exportBucket?: s3.Bucket;

  constructor(scope: Construct, id: string, props: PullSourceProps) {
    super(scope, id);
    deliverLogsByBucketPolicy(this);
    const { config, source, region } = props;
    const kinds = enabledPulledKinds(config);
    const pullerArn = pullerRoleArn(config.name, source.account, Aws.PARTITION);
    if (config.artifacts.dynamodb.enabled) {
      const logs = accessLogsBucket(this, config.name);
      const name = exportBucketName(config.name, source.account, region);
      this.exportBucket = new s3.Bucket(this, 'ExportStaging', {
        bucketName: name,
        // SSE-S3, not a KMS key: the puller would need rights on the key
        // for DynamoDB to write and for the vault to read, and the share
        // key's policy is kept to the snapshot copy services. The vault
        // re-encrypts every export under its backup-data key, and exports
        // leave this bucket after a week.
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        serverAccessLogsBucket: logs,
        serverAccessLogsPrefix: `${name}/`,
        lifecycleRules: [
          {
            id: 'expire-exports',
            expiration: Duration.days(EXPORT_STAGING_DAYS),
            abortIncompleteMultipartUploadAfter: Duration.days(1),
          },
        ],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.exportBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'NoOtherAccount',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:*'],
          resources: [this.exportBucket.bucketArn, this.exportBucket.arnForObjects('*')],
          conditions: { StringNotEquals: { 'aws:PrincipalAccount': source.account } },
        }),
      );
      this.exportBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          // Exports hold whole tables: of this account, only the puller (and DynamoDB on its behalf) writes and reads them.
          sid: 'OnlyThePullerReadsAndWritesExports',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [this.exportBucket.arnForObjects('*')],
          conditions: { ArnNotEquals: { 'aws:PrincipalArn': pullerArn } },
        }),
      );
    }
    if (!props.createPullerRole || kinds.length === 0) return;

    const backup = config.backup;
    this.pullerRole = new iam.Role(this, 'PullerRole', {
      roleName: sourceNames(config.name, region).pullerRole,
      description: `Bunker (${config.name}): lets the pull function of ${backup.account} read the parameters, secrets and tables in scope`,
      // The account and a condition rather than the role ARN: IAM refuses a
      // trust naming a role that does not exist yet, and the vault may be
      // deployed after this stack.
      assumedBy: new iam.AccountPrincipal(backup.account).withConditions({
        ArnEquals: { 'aws:PrincipalArn': pullRoleArn(config.name, backup.account, Aws.PARTITION) },
      }),
      maxSessionDuration: Duration.hours(1),
    });
    const statements = pullerStatements(config, source);
    const policy = new iam.Policy(this, 'PullerPolicy', { roles: [this.pullerRole], statements });
    const findings = new Set(
      statements.flatMap((statement) => wildcardFindings(this, statement.actions, statement.resources)),
    );
    for (const finding of findings) {
      acknowledge(
        policy,
        `${NAG_PACK}-IAM5[${finding}]`,
        finding === 'Resource::*'
          ? 'Listing calls (ssm:DescribeParameters, secretsmanager:ListSecrets, dynamodb:ListTables, dynamodb:ListExports, tag:GetResources) are only authorized on "*", and kms:Decrypt of keys unknown at deploy time only through SSM, Secrets Manager or DynamoDB; read-only, in the registered Regions only.'
          : 'Names of parameters, secrets, tables and export objects are chosen in the source account at run time: only the configured name prefixes, this account and the registered Regions are fixed; read-only except DynamoDB writing exports into the staging bucket.',
      );
    }
  }
}

/**
 * What the puller may do in one source account, per enabled pulled kind,
 * only in its registered Regions. A list-of-names scope names the resources
 * themselves; a tag scope adds `aws:ResourceTag/<key>` to the actions IAM
 * checks against the resource's tags.
 */
export function pullerStatements(config: BunkerConfig, source: SourceConfig): iam.PolicyStatement[] {
  const partition = Aws.PARTITION;
  const { account, regions } = source;
  const statements: iam.PolicyStatement[] = [];
  /** `StringEquals` of the registered Regions, and of the scope's tag when there is one. */
  const scoped = (scope: Scope | undefined) => ({
    StringEquals: {
      'aws:RequestedRegion': regions,
      ...(scope && 'tag' in scope ? { [`aws:ResourceTag/${scope.tag.key}`]: scope.tag.value } : {}),
    },
  });
  const inRegions = scoped(undefined);
  const viaServices: string[] = [];
  const listing: string[] = [];

  const { ssm, secrets, dynamodb } = config.artifacts;
  if (ssm.enabled) {
    listing.push('ssm:DescribeParameters');
    // A parameter's ARN is "parameter" followed by its name, with a "/" added when the name has none.
    const arnName = (name: string) => (name.startsWith('/') ? name : `/${name}`);
    const named = 'ids' in ssm.scope ? ssm.scope.ids.map(arnName) : (ssm.paths ?? ['/']).map((path) => `${path}*`);
    const parameters = regions.flatMap((r) =>
      named.map((name) => `arn:${partition}:ssm:${r}:${account}:parameter${name}`),
    );
    statements.push(
      new iam.PolicyStatement({
        sid: 'ReadParametersInScope',
        actions: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParameterHistory'],
        resources: parameters,
        conditions: scoped(ssm.scope),
      }),
    );
    // No ssm:GetParametersByPath: IAM authorizes it on the path, which carries
    // no tags, so a tag scope could not narrow it, and the pull never asks by
    // path (it lists with DescribeParameters and reads named parameters).
    viaServices.push(...regions.map((r) => `ssm.${r}.amazonaws.com`));
  }
  if (secrets.enabled) {
    listing.push('secretsmanager:ListSecrets');
    // A secret's ARN ends in "-" and six random characters after its name.
    const named =
      'ids' in secrets.scope
        ? secrets.scope.ids.map((name) => `${name}-??????`)
        : (secrets.namePrefixes ?? ['']).map((prefix) => `${prefix}*`);
    statements.push(
      new iam.PolicyStatement({
        sid: 'ReadSecretsInScope',
        actions: [
          'secretsmanager:GetSecretValue',
          'secretsmanager:DescribeSecret',
          'secretsmanager:ListSecretVersionIds',
        ],
        resources: regions.flatMap((r) =>
          named.map((name) => `arn:${partition}:secretsmanager:${r}:${account}:secret:${name}`),
        ),
        conditions: scoped(secrets.scope),
      }),
    );
    viaServices.push(...regions.map((r) => `secretsmanager.${r}.amazonaws.com`));
  }
  if (dynamodb.enabled) {
    listing.push('dynamodb:ListTables', 'dynamodb:ListExports');
    const named = 'ids' in dynamodb.scope ? dynamodb.scope.ids : ['*'];
    const tables = regions.flatMap((r) =>
      named.map((name) => `arn:${partition}:dynamodb:${r}:${account}:table/${name}`),
    );
    statements.push(
      new iam.PolicyStatement({
        sid: 'ReadTablesInScope',
        actions: [
          'dynamodb:DescribeTable',
          'dynamodb:DescribeContinuousBackups',
          'dynamodb:DescribeTimeToLive',
          'dynamodb:Scan',
          'dynamodb:ExportTableToPointInTime',
        ],
        resources: tables,
        conditions: scoped(dynamodb.scope),
      }),
      new iam.PolicyStatement({
        // Tags decide the scope, so reading them cannot depend on them.
        sid: 'ReadTableTagsAndExports',
        actions: ['dynamodb:ListTagsOfResource', 'dynamodb:DescribeExport'],
        resources: [...tables, ...tables.map((table) => `${table}/export/*`)],
        conditions: inRegions,
      }),
      new iam.PolicyStatement({
        // DynamoDB writes an export with the caller's rights (PutObjectAcl for its bucket-owner ACL).
        sid: 'WriteAndReadExportsInTheStagingBuckets',
        actions: ['s3:PutObject', 's3:PutObjectAcl', 's3:AbortMultipartUpload', 's3:GetObject'],
        resources: regions.map((r) => `arn:${partition}:s3:::${exportBucketName(config.name, account, r)}/*`),
      }),
      new iam.PolicyStatement({
        sid: 'ListTheStagingBuckets',
        actions: ['s3:ListBucket'],
        resources: regions.map((r) => `arn:${partition}:s3:::${exportBucketName(config.name, account, r)}`),
      }),
    );
    viaServices.push(...regions.map((r) => `dynamodb.${r}.amazonaws.com`));
  }
  statements.push(
    new iam.PolicyStatement({
      sid: 'ListResourcesAndTags',
      actions: [...listing, 'tag:GetResources'],
      resources: ['*'],
      conditions: inRegions,
    }),
    new iam.PolicyStatement({
      // SecureStrings, secrets and tables may be under any key of the account; only through their services.
      sid: 'DecryptThroughThePulledServices',
      actions: ['kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'kms:ViaService': viaServices } },
    }),
  );
  return statements;
}
