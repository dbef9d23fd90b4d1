/**
 * Enrolment in the vault stack: a function every hour that reads the
 * configured organizational units through the management account's
 * org-reader role and gives each ACTIVE account its intake topic and an
 * enrolment record (`lambdas/handlers/enrolment.ts`). Its role may assume
 * that one role, create and configure topics named `<name>-intake-*` in this
 * account and Region only, and read and write the inventory table.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { enrolmentRoleName, intakeTopicPattern, orgReaderRoleArn } from '../../lambdas/core/enrolment/names';
import { type EnrolmentSettings, enrolmentSettingsToEnv } from '../../lambdas/core/enrolment/settings';
import { vaultNames } from '../../lambdas/core/names';
import type { BunkerConfig, OrganizationConfig } from '../config/schema';
import { BunkerFunction } from './bunker-function';

/** How often the units are read: a new account is covered within this (plus the StackSet's own deployment). */
export const ENROLMENT_EVERY_MINUTES = 60;

/** The configuration's organization, or a clear error where one is required. */
export function organizationOf(config: BunkerConfig): OrganizationConfig {
  if (!config.organization) throw new Error('the configuration has no organization');
  return config.organization;
}

/** Every Region of the configured units, in configuration order, each once. */
export function unitRegions(config: BunkerConfig): string[] {
  return [...new Set((config.organization?.units ?? []).flatMap((unit) => unit.regions))];
}

/** The enrolment function's settings, from the configuration and the vault's intake resources. */
export function enrolmentSettings(
  config: BunkerConfig,
  intake: { keyArn: string; queueArn: string; deadLetterQueueArn: string },
  partition = 'aws',
): EnrolmentSettings {
  const organization = organizationOf(config);
  return {
    prefix: config.name,
    partition,
    backupAccount: config.backup.account,
    backupRegion: config.backup.region,
    inventoryTable: vaultNames(config.name).inventoryTable,
    managementAccount: organization.managementAccount,
    units: organization.units.map(({ id, regions }) => ({ id, regions })),
    listedAccounts: config.sources.map((source) => source.account),
    intakeKeyArn: intake.keyArn,
    intakeQueueArn: intake.queueArn,
    deadLetterQueueArn: intake.deadLetterQueueArn,
  };
}

export interface EnrolmentProps {
  readonly config: BunkerConfig;
  readonly inventory: dynamodb.Table;
  /** The inventory table's key. */
  readonly inventoryKey: kms.IKey;
  /** The intake topics' key, queue and dead-letter queue, shared with the listed accounts' topics. */
  readonly intakeKey: kms.IKey;
  readonly intakeQueue: sqs.IQueue;
  readonly intakeDeadLetterQueue: sqs.IQueue;
  readonly alarmAction: IAlarmAction;
}

export class Enrolment extends Construct {
  public readonly enrolment: BunkerFunction;

  constructor(scope: Construct, id: string, props: EnrolmentProps) {
    super(scope, id);
    const { config } = props;
    const organization = organizationOf(config);
    const { account, region } = config.backup;
    const settings = enrolmentSettings(
      config,
      {
        keyArn: props.intakeKey.keyArn,
        queueArn: props.intakeQueue.queueArn,
        deadLetterQueueArn: props.intakeDeadLetterQueue.queueArn,
      },
      Aws.PARTITION,
    );
    this.enrolment = new BunkerFunction(this, 'Enrolment', {
      handler: 'enrolment',
      roleName: enrolmentRoleName(config.name),
      description: 'Gives each account of the configured organizational units its intake topic and enrolment record',
      timeout: Duration.minutes(5),
      environment: { ...enrolmentSettingsToEnv(settings), POWERTOOLS_SERVICE_NAME: `${config.name}-enrolment` },
    });
    const fn = this.enrolment;
    fn.allow({
      actions: ['sts:AssumeRole'],
      resources: [orgReaderRoleArn(config.name, organization.managementAccount, Aws.PARTITION)],
    });
    fn.allow(
      {
        actions: ['sns:CreateTopic', 'sns:SetTopicAttributes', 'sns:Subscribe', 'sns:TagResource'],
        resources: [intakeTopicPattern(config.name, account, region, Aws.PARTITION)],
      },
      "Enrolled accounts' intake topics are named <name>-intake-<account> for accounts found at run time; only topics of that name, in the backup account and Region.",
    );
    fn.allow({ actions: ['kms:DescribeKey'], resources: [props.intakeKey.keyArn] });
    props.inventory.grant(fn.role, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan');
    fn.acknowledgeWildcards(
      { resources: [`${props.inventory.tableArn}/index/*`] },
      "Granted by Table.grant: the inventory table's index ARNs; the function reads and writes only enrolled:<account> items of the table itself.",
    );
    fn.allow({
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
      resources: [props.inventoryKey.keyArn],
    });

    new events.Rule(this, 'EnrolmentSchedule', {
      description: 'Enrol the accounts of the configured organizational units; mark those that left',
      schedule: events.Schedule.rate(Duration.minutes(ENROLMENT_EVERY_MINUTES)),
      targets: [new targets.LambdaFunction(fn.lambda, { retryAttempts: 2 })],
    });
    new cloudwatch.Alarm(this, 'EnrolmentErrorsAlarm', {
      alarmDescription:
        'Enrolment failed: new accounts of the organizational units are not being given intake topics; see its log group',
      metric: fn.lambda.metricErrors({ period: Duration.hours(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(props.alarmAction);
  }
}
