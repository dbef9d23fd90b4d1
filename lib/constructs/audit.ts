/**
 * The auditor in the vault stack: a function every 15 minutes that judges
 * every resource in scope against its RPO (`lambdas/handlers/audit.ts`),
 * and the CloudWatch alarms on its metrics, with actions to the alerts
 * topic. Its role may read the inventory, write only audit records, publish
 * to the alerts topic and assume the source accounts' reader roles.
 */
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { CDK_APP_MODE_CONTEXT } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { type AuditHandlerSettings, auditSettingsToEnv } from '../../lambdas/core/audit/settings';
import type { AuditKind, AuditKindSettings, AuditSettings } from '../../lambdas/core/audit/types';
import { readerRoleArn, vaultNames } from '../../lambdas/core/names';
import { PULLED_KIND_OF } from '../../lambdas/core/pull/types';
import { enabledKinds, enabledPulledKinds } from '../config/runtime';
import { alertAddressProblem, type BunkerConfig } from '../config/schema';
import { BunkerFunction } from './bunker-function';
import { acknowledge, NAG_PACK, wildcardFindings } from './nag';

/** How long a copy may be in progress before the auditor calls it stuck. */
export const STUCK_AFTER_HOURS = 12;
/** The audit function's schedule, and the window its rejected-notification count covers. */
export const AUDIT_EVERY_MINUTES = 15;

/** What the auditor judges: every enabled kind with its RPO (and, for snapshot kinds, its scope). */
export function auditSettings(config: BunkerConfig): AuditSettings {
  const kinds: { [K in AuditKind]?: AuditKindSettings } = {};
  for (const kind of enabledKinds(config)) {
    const policy = config.artifacts[kind.configKey];
    kinds[kind.name] = { rpoHours: policy.rpoHours, scope: policy.scope };
  }
  for (const key of enabledPulledKinds(config))
    kinds[PULLED_KIND_OF[key]] = { rpoHours: config.artifacts[key].rpoHours };
  return {
    prefix: config.name,
    backupAccount: config.backup.account,
    sources: config.sources.map(({ account, regions }) => ({ account, regions })),
    kinds,
    stuckAfterHours: STUCK_AFTER_HOURS,
  };
}

/** Thrown when the vault would deploy with nobody told of a missing backup. */
export class NoAlertAddressError extends Error {}

/**
 * The vault refuses to synthesize without an alert address unless the
 * configuration says so (`alerts.allowNoEmail`): alarms nobody receives are
 * how backups go missing for months. An app synthesized in memory (the
 * local mode, whose emulator mails nobody) is exempt.
 */
export function requireAlertAddress(config: BunkerConfig, scope: Construct): void {
  const problem = alertAddressProblem(config);
  if (!problem || scope.node.tryGetContext(CDK_APP_MODE_CONTEXT) === 'inmemory') return;
  throw new NoAlertAddressError(problem);
}

/** The alerts topic's name in the backup account (the vault stack's `AlertsTopic`). */
export const alertsTopicName = (prefix: string) => `${prefix}-alerts`;

/**
 * An encrypted alerts topic (`<name>-alerts`) in the stack's Region that
 * CloudWatch alarms of the account may publish to, subscribed from
 * `alerts.emails`: the vault Region's, and the second Region's for its own
 * tampering alarms (EventBridge targets a topic of the rule's Region).
 */
export function createAlertsTopic(scope: Construct, config: BunkerConfig): sns.Topic {
  const { account } = config.backup;
  const region = Stack.of(scope).region;
  const key = new kms.Key(scope, 'AlertsKey', {
    alias: `alias/${config.name}-alerts`,
    description: `Bunker (${config.name}): encrypts the alerts topic`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': account } },
    }),
  );
  const topic = new sns.Topic(scope, 'AlertsTopic', {
    topicName: alertsTopicName(config.name),
    displayName: `Bunker ${config.name} alerts`,
    masterKey: key,
    enforceSSL: true,
  });
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': account },
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${region}:${account}:alarm:*` },
      },
    }),
  );
  for (const email of config.alerts.emails) topic.addSubscription(new EmailSubscription(email));
  return topic;
}

export function auditHandlerSettings(
  config: BunkerConfig,
  alertsTopicArn: string,
  partition = 'aws',
): AuditHandlerSettings {
  const names = vaultNames(config.name);
  return {
    audit: auditSettings(config),
    partition,
    backupRegion: config.backup.region,
    inventoryTable: names.inventoryTable,
    pullScopeIndex: names.inventoryPullScopeIndex,
    statusIndex: names.inventoryStatusIndex,
    alertsTopicArn,
  };
}

/** The kinds a configuration has the auditor judge, in the order the alarms are made. */
export function auditedKinds(config: BunkerConfig): AuditKind[] {
  return Object.keys(auditSettings(config).kinds) as AuditKind[];
}

export interface AuditProps {
  readonly config: BunkerConfig;
  readonly inventory: dynamodb.ITable;
  /** The key the inventory is encrypted under. */
  readonly inventoryKey: kms.IKey;
  readonly alertsTopic: sns.Topic;
  readonly alarmAction: IAlarmAction;
}

export class Audit extends Construct {
  public readonly fn: BunkerFunction;
  /** Per audited kind: its breaching and its at-risk alarm. */
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AuditProps) {
    super(scope, id);
    const { config, inventory, inventoryKey, alertsTopic, alarmAction } = props;
    const names = vaultNames(config.name);
    const partition = Aws.PARTITION;
    this.fn = new BunkerFunction(this, 'Audit', {
      handler: 'audit',
      roleName: names.auditRole,
      description: 'Judges every resource in scope against its RPO; alarms and alerts on what is missing',
      timeout: Duration.minutes(5),
      environment: {
        ...auditSettingsToEnv(auditHandlerSettings(config, alertsTopic.topicArn, partition)),
        // ENROLLED_SOURCES_ENV of lambdas/adapters/audit/wiring.ts (not imported: the SDK clients stay out of synthesis).
        ...(config.organization ? { BUNKER_ENROLLED_SOURCES: 'true' } : {}),
        POWERTOOLS_SERVICE_NAME: `${config.name}-audit`,
      },
    });
    inventory.grantReadData(this.fn.role);
    // Its records are written under the key the table is encrypted with.
    inventoryKey.grantEncryptDecrypt(this.fn.role);
    this.fn.acknowledgeWildcards(
      { actions: ['kms:GenerateDataKey*', 'kms:ReEncrypt*'], resources: [`${inventory.tableArn}/index/*`] },
      "Granted by Table.grantReadData and Key.grantEncryptDecrypt: the inventory table, its indexes and the backup key only; the wildcards are the key operation families DynamoDB uses with a customer-managed key and the table's index ARNs.",
    );
    // Writes only its own records: the copy and pulled records are never the auditor's to change.
    this.fn.allow({
      actions: ['dynamodb:PutItem'],
      resources: [inventory.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['audit:*'] } },
    });
    this.fn.allow({ actions: ['sns:Publish'], resources: [alertsTopic.topicArn] });
    if (alertsTopic.masterKey) {
      this.fn.allow(
        { actions: ['kms:GenerateDataKey*', 'kms:Decrypt'], resources: [alertsTopic.masterKey.keyArn] },
        'Publishing to the encrypted alerts topic: the alerts key only; GenerateDataKey* is the operation family SNS uses with a customer-managed key.',
      );
    }
    const readerRoles = config.sources.map((source) =>
      readerRoleArn(config.name, source.account, source.regions[0], partition),
    );
    if (enabledKinds(config).length > 0) this.fn.allow({ actions: ['sts:AssumeRole'], resources: readerRoles });
    const organization = config.organization;
    if (organization && enabledKinds(config).length > 0) {
      // Enrolled accounts are found at run time: the reader role of any account of the organization.
      this.fn.allow(
        {
          actions: ['sts:AssumeRole'],
          resources: [readerRoleArn(config.name, '*', organization.units[0].regions[0], partition)],
          conditions: { StringEquals: { 'aws:ResourceOrgID': organization.id } },
        },
        `The reader roles of enrolled accounts, which are found at run time: the role's name is fixed and its account must belong to the organization ${organization.id}; each reader role trusts only the vault's reading roles.`,
      );
    }

    new events.Rule(this, 'Schedule', {
      description: `Judge every resource in scope against its RPO every ${AUDIT_EVERY_MINUTES} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(AUDIT_EVERY_MINUTES)),
      targets: [new targets.LambdaFunction(this.fn.lambda, { retryAttempts: 2 })],
    });

    for (const kind of auditedKinds(config)) {
      for (const [metricName, what] of [
        ['BreachingResources', 'breach their RPO: run "bunker status" to see which and why'],
        ['AtRiskResources', 'are at risk: their next copy cannot finish within the RPO at the measured copy times'],
      ] as const) {
        const alarm = new cloudwatch.Alarm(this, `${metricName}-${kind}`, {
          alarmName: `${config.name}-${kind}-${metricName === 'BreachingResources' ? 'breaching' : 'at-risk'}`,
          alarmDescription: `${kind} resources ${what}`,
          metric: new cloudwatch.Metric({
            namespace: 'Bunker',
            metricName,
            dimensionsMap: { Kind: kind },
            period: Duration.minutes(AUDIT_EVERY_MINUTES),
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // Every audit emits a value, zero included; a missing audit is the error alarm's to report.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
        alarm.addAlarmAction(alarmAction);
        alarm.addOkAction(alarmAction);
        this.alarms.push(alarm);
      }
    }
    new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'The auditor failed (a source it could not list, or an error): see its log group',
      metric: this.fn.lambda.metricErrors({
        period: Duration.minutes(AUDIT_EVERY_MINUTES),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
  }
}

/** What the operator role may do to the inventory table: read, never write. */
export const OPERATOR_TABLE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
] as const;

export interface OperatorRoleProps {
  readonly config: BunkerConfig;
  readonly inventory: dynamodb.ITable;
  /** The key the inventory is encrypted under: usable by the operator only through DynamoDB. */
  readonly inventoryKey: kms.IKey;
  /** The vault bucket of pulled data, when there is one: its keys may be listed, its values never read. */
  readonly vaultBucket?: s3.IBucket;
}

/**
 * `<name>-operator`: the role `bunker status`, `inventory` and `report` run
 * as in AWS (`--operator`). `status` runs the audit live, which lists each
 * source's resources through its reader role, and the reader roles trust
 * only named roles of the backup account: the audit function's, intake's,
 * and this one. It trusts the backup account itself, so that account's IAM
 * (a policy allowing `sts:AssumeRole` on it, with an MFA condition if the
 * operator wants one) decides who may use it; and it can only read: the
 * inventory and its indexes, the inventory key only through DynamoDB, the
 * vault bucket's list of keys but no value, and the reader roles.
 */
export class OperatorRole extends Construct {
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: OperatorRoleProps) {
    super(scope, id);
    const { config, inventory, inventoryKey, vaultBucket } = props;
    const { account, region } = config.backup;
    const partition = Aws.PARTITION;
    this.role = new iam.Role(this, 'Role', {
      roleName: vaultNames(config.name).operatorRole,
      description: `Bunker (${config.name}): read-only operator role for bunker status, inventory and report; reads the inventory and the sources through their reader roles`,
      assumedBy: new iam.AccountPrincipal(account),
      maxSessionDuration: Duration.hours(1),
    });
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadTheInventory',
        actions: [...OPERATOR_TABLE_ACTIONS],
        resources: [inventory.tableArn, `${inventory.tableArn}/index/*`],
      }),
      new iam.PolicyStatement({
        sid: 'InventoryKeyThroughDynamoDbOnly',
        actions: ['kms:Decrypt', 'kms:DescribeKey'],
        resources: [inventoryKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${region}.amazonaws.com` } },
      }),
      new iam.PolicyStatement({
        sid: 'ListTheSourcesThroughTheirReaderRoles',
        actions: ['sts:AssumeRole'],
        resources: config.sources.map((source) =>
          readerRoleArn(config.name, source.account, source.regions[0], partition),
        ),
      }),
      ...(vaultBucket
        ? [
            new iam.PolicyStatement({
              sid: 'ListTheVaultKeysNotTheirValues',
              actions: ['s3:ListBucket', 's3:ListBucketVersions'],
              resources: [vaultBucket.bucketArn],
            }),
          ]
        : []),
    ];
    const policy = new iam.Policy(this, 'Policy', { roles: [this.role], statements });
    for (const finding of wildcardFindings(this, [], [`${inventory.tableArn}/index/*`])) {
      acknowledge(
        policy,
        `${NAG_PACK}-IAM5[${finding}]`,
        "The inventory's indexes (by status, by pull scope): read-only actions on this one table's index ARNs.",
      );
    }
  }
}
