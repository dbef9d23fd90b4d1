/**
 * Retention in the vault stack: the daily pruner, `<name>-pruner`, running
 * as the `<name>-retention` role. That role is the one principal of Bunker
 * whose policy allows deleting a backup copy (RDS, Aurora, EBS, AMI) or a
 * vault bucket object version; every other vault role copies, reads and
 * tags only (`test/infra/retention.test.ts` walks every policy to hold it).
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { vaultBucketName } from '../../lambdas/core/names';
import { TAG_MANAGED_BY } from '../../lambdas/core/pipeline/copy';
import type { RetentionPolicies } from '../../lambdas/core/retention/prune';
import { type RetentionSettings, retentionSettingsToEnv } from '../../lambdas/core/retention/settings';
import { vaultSettingsToEnv } from '../../lambdas/core/settings';
import type { KindName } from '../../lambdas/kinds/types';
import { enabledKinds, enabledPulledKinds, vaultSettings } from '../config/runtime';
import type { BunkerConfig } from '../config/schema';
import { BunkerFunction } from './bunker-function';
import { retentionRoleName } from './pull';

/** The pruner's function name suffix, and its role's. */
export const prunerFunctionName = (prefix: string) => `${prefix}-pruner`;

/** The actions that delete a backup copy: only the retention role's policy may hold them. */
export const COPY_DELETE_ACTIONS = [
  'rds:DeleteDBSnapshot',
  'rds:DeleteDBClusterSnapshot',
  'ec2:DeleteSnapshot',
  'ec2:DeregisterImage',
] as const;

/** Each enabled kind's and pulled value kind's retention, and the vault bucket when a pulled kind is enabled. */
export function retentionSettings(config: BunkerConfig): RetentionSettings {
  const copies: { [K in KindName]?: { retentionDays: number; minCopies: number } } = {};
  for (const kind of enabledKinds(config)) {
    const { retentionDays, minCopies } = config.artifacts[kind.configKey];
    copies[kind.name] = { retentionDays, minCopies };
  }
  const values: { -readonly [K in keyof RetentionPolicies['values']]: RetentionPolicies['values'][K] } = {};
  for (const key of ['ssm', 'secrets'] as const) {
    const { enabled, retentionDays, minCopies } = config.artifacts[key];
    if (enabled) values[key] = { retentionDays, minCopies };
  }
  const { dynamodb } = config.artifacts;
  const tables = dynamodb.enabled
    ? { retentionDays: dynamodb.retentionDays, minCopies: dynamodb.minCopies }
    : undefined;
  const pulled = enabledPulledKinds(config).length > 0;
  return {
    policies: { copies, values, ...(tables ? { tables } : {}) },
    ...(pulled ? { vaultBucket: vaultBucketName(config.name, config.backup.account, config.backup.region) } : {}),
  };
}

export interface RetentionProps {
  readonly config: BunkerConfig;
  readonly backupKey: kms.IKey;
  readonly inventory: dynamodb.Table;
  readonly alarmAction: IAlarmAction;
  /**
   * The `<name>-retention` role the pulled-backups construct made (the vault
   * bucket's policy names it); without pulled kinds, this construct makes it.
   */
  readonly retentionRole?: iam.Role;
}

export class Retention extends Construct {
  public readonly role: iam.Role;
  public readonly pruner: BunkerFunction;

  constructor(scope: Construct, id: string, props: RetentionProps) {
    super(scope, id);
    const { config, backupKey, inventory } = props;
    const { account, region } = config.backup;
    const partition = Aws.PARTITION;
    const description = `Bunker (${config.name}): the pruner's role, the only principal that may delete backup copies Bunker made and vault bucket versions, after their retention`;
    this.role =
      props.retentionRole ??
      new iam.Role(this, 'RetentionRole', {
        roleName: retentionRoleName(config.name),
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description,
      });
    // The pulled-backups construct made it for this function; say that it is used now.
    (this.role.node.defaultChild as iam.CfnRole).description = description;

    const env = {
      ...vaultSettingsToEnv(vaultSettings(config, backupKey.keyArn, partition)),
      ...retentionSettingsToEnv(retentionSettings(config)),
    };
    this.pruner = new BunkerFunction(this, 'Pruner', {
      handler: 'pruner',
      role: this.role,
      description: 'Deletes backup copies and stored versions past their retention, never the newest of a resource',
      timeout: Duration.minutes(15),
      environment: { ...env, POWERTOOLS_SERVICE_NAME: prunerFunctionName(config.name) },
    });
    const fn = this.pruner;

    inventory.grantReadWriteData(this.role);
    backupKey.grantEncryptDecrypt(this.role);
    fn.acknowledgeWildcards(
      { actions: ['kms:GenerateDataKey*', 'kms:ReEncrypt*'], resources: [`${inventory.tableArn}/index/*`] },
      'Granted by Table.grantReadWriteData and Key.grantEncryptDecrypt: the inventory table, its indexes and the backup key only; the pruner lists available records by the status index and records each deletion.',
    );

    const regions = [region, ...(config.backup.secondRegion ? [config.backup.secondRegion] : [])];
    const managedByBunker = { StringEquals: { [`aws:ResourceTag/${TAG_MANAGED_BY}`]: 'bunker' } };
    for (const kind of enabledKinds(config)) {
      if (kind.name === 'rds-snapshot' || kind.name === 'aurora-cluster-snapshot') {
        const cluster = kind.name === 'aurora-cluster-snapshot';
        const resources = regions.map(
          (r) => `arn:${partition}:rds:${r}:${account}:${cluster ? 'cluster-snapshot' : 'snapshot'}:bunker-*`,
        );
        fn.allow(
          { actions: [cluster ? 'rds:DescribeDBClusterSnapshots' : 'rds:DescribeDBSnapshots'], resources },
          `${kind.label} copies are named at run time; every Bunker copy's identifier starts with "bunker-".`,
        );
        fn.allow(
          {
            actions: [cluster ? 'rds:DeleteDBClusterSnapshot' : 'rds:DeleteDBSnapshot'],
            resources,
            conditions: managedByBunker,
          },
          `${kind.label} copies are named at run time; only those named "bunker-*" and tagged ${TAG_MANAGED_BY}=bunker, which Bunker sets when it copies.`,
        );
      } else {
        const images = kind.name === 'ami';
        fn.allow(
          {
            actions: images ? ['ec2:DescribeImages', 'ec2:DescribeSnapshots'] : ['ec2:DescribeSnapshots'],
            resources: ['*'],
          },
          'EC2 Describe actions have no resource-level permissions: they are only authorized on "*", and they are read-only.',
        );
        const resources = regions.flatMap((r) => [
          `arn:${partition}:ec2:${r}::snapshot/*`,
          ...(images ? [`arn:${partition}:ec2:${r}::image/*`] : []),
        ]);
        fn.allow(
          {
            actions: images ? ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'] : ['ec2:DeleteSnapshot'],
            resources,
            conditions: managedByBunker,
          },
          `EC2 ARNs carry no account or name to narrow by; the condition limits it to snapshots and images tagged ${TAG_MANAGED_BY}=bunker, which Bunker sets when it copies (an AMI's backing snapshots included).`,
        );
      }
    }

    const settings = retentionSettings(config);
    if (settings.policies.tables && settings.vaultBucket) {
      // The deletes themselves are granted with the vault bucket (lib/constructs/pull.ts); reading a dump's manifest is the pruner's own need.
      fn.allow(
        {
          actions: ['s3:GetObject'],
          resources: [`arn:${partition}:s3:::${settings.vaultBucket}/dynamodb/*`],
        },
        'Table dump manifests are keyed by table and dump id, chosen at run time; only the dynamodb/ prefix of the vault bucket, read-only.',
      );
    }

    new events.Rule(this, 'Daily', {
      description: 'Deletes what is past its retention, once a day',
      schedule: events.Schedule.rate(Duration.days(1)),
      targets: [new targets.LambdaFunction(fn.lambda, { retryAttempts: 2 })],
    });
    new cloudwatch.Alarm(this, 'PrunerErrorsAlarm', {
      alarmDescription: 'The pruner failed: see its log group; nothing past its retention was deleted by this run',
      metric: fn.lambda.metricErrors({ period: Duration.hours(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(props.alarmAction);
    new cloudwatch.Alarm(this, 'NotBunkersAlarm', {
      alarmDescription:
        'An available inventory record points at a copy whose tags do not say Bunker made it: the pruner left it; find who changed the copy or the record',
      metric: new cloudwatch.Metric({
        namespace: 'Bunker',
        metricName: 'CopiesNotBunkers',
        dimensionsMap: { service: prunerFunctionName(config.name) },
        period: Duration.days(1),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(props.alarmAction);
  }
}
