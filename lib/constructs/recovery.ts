/**
 * The `<name>-recovery` role: what `bunker recover` acts through in the
 * backup account, and the one principal besides the pruner that the
 * service control policy of `bunker scp` lets re-share RDS and Aurora
 * copies.
 *
 * Its trust policy admits the backup account's IAM users only, and only
 * under their own user name as the session name (`sts:RoleSessionName` =
 * `${aws:username}`): a session of this role is therefore one person, and
 * the two-person rule can tell the requester from the approver by the
 * session name (lambdas/core/recovery/identity.ts). Which users may assume
 * it at all is the backup account's own IAM (an identity policy granting
 * `sts:AssumeRole` on it), as for the operator role.
 *
 * Its rights are what `--request`, `--approve`, `--revoke` and `--list`
 * need and nothing else: reading the copy records and writing recovery
 * items of the inventory, sharing and unsharing the vault's copies,
 * granting and revoking on the backup-data keys (grants limited to what a
 * recovery grant gives), publishing to the alerts topic. No delete of any
 * kind.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { TAG_MANAGED_BY } from '../../lambdas/core/pipeline/copy';
import { vaultNames } from '../../lambdas/core/names';
import { recoveryRoleName } from '../../lambdas/core/recovery/identity';
import { GRANT_OPERATIONS, recoveryItemId } from '../../lambdas/core/recovery/types';
import type { BunkerConfig } from '../config/schema';
import { acknowledge, NAG_PACK, wildcardFindings } from './nag';

export interface RecoveryRoleProps {
  readonly config: BunkerConfig;
  readonly inventory: dynamodb.Table;
  readonly inventoryKey: kms.IKey;
  readonly alertsTopic: sns.Topic;
}

/** What the recovery role may do to the inventory: read the copy records, write recovery items. */
export const RECOVERY_TABLE_READS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'] as const;

export class RecoveryRole extends Construct {
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: RecoveryRoleProps) {
    super(scope, id);
    const { config, inventory, inventoryKey, alertsTopic } = props;
    const { account, region } = config.backup;
    const partition = Aws.PARTITION;
    const regions = [region, ...(config.backup.secondRegion ? [config.backup.secondRegion] : [])];
    this.role = new iam.Role(this, 'Role', {
      roleName: recoveryRoleName(config.name),
      description: `Bunker (${config.name}): bunker recover; assumed by an IAM user of this account under its own user name only`,
      // IAM users of this account, each under their own name: the session name is the person.
      assumedBy: new iam.AccountPrincipal(account).withConditions({
        StringEquals: { 'sts:RoleSessionName': '${aws:username}', 'aws:PrincipalType': 'User' },
      }),
      maxSessionDuration: Duration.hours(1),
    });
    const managedByBunker = { StringEquals: { [`aws:ResourceTag/${TAG_MANAGED_BY}`]: 'bunker' } };
    // The backup-data key of each Region, by its alias: the second Region's key is another stack's.
    const backupKeys = {
      resources: regions.map((r) => `arn:${partition}:kms:${r}:${account}:key/*`),
      alias: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [vaultNames(config.name).backupKeyAlias] } },
    };
    const copies = {
      rds: regions.map((r) => `arn:${partition}:rds:${r}:${account}:snapshot:${config.name}-*`),
      aurora: regions.map((r) => `arn:${partition}:rds:${r}:${account}:cluster-snapshot:${config.name}-*`),
      ec2: regions.flatMap((r) => [`arn:${partition}:ec2:${r}::snapshot/*`, `arn:${partition}:ec2:${r}::image/*`]),
    };
    const statements: [iam.PolicyStatement, string | undefined][] = [
      [
        new iam.PolicyStatement({
          sid: 'ReadTheCopyRecords',
          actions: [...RECOVERY_TABLE_READS],
          resources: [inventory.tableArn, `${inventory.tableArn}/index/*`],
        }),
        "The inventory's indexes (by status, by pull scope): read-only actions on this one table's index ARNs.",
      ],
      [
        new iam.PolicyStatement({
          sid: 'WriteRecoveryItemsOnly',
          actions: ['dynamodb:PutItem'],
          resources: [inventory.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [recoveryItemId('*')] } },
        }),
        undefined,
      ],
      [
        new iam.PolicyStatement({
          sid: 'InventoryKeyThroughDynamoDbOnly',
          actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
          resources: [inventoryKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${region}.amazonaws.com` } },
        }),
        undefined,
      ],
      [
        new iam.PolicyStatement({
          sid: 'ShareTheVaultsRdsCopies',
          actions: ['rds:ModifyDBSnapshotAttribute'],
          resources: copies.rds,
        }),
        `RDS copies are named at run time; only those named "${config.name}-*" in this account.`,
      ],
      [
        new iam.PolicyStatement({
          sid: 'ShareTheVaultsAuroraCopies',
          actions: ['rds:ModifyDBClusterSnapshotAttribute'],
          resources: copies.aurora,
        }),
        `Aurora copies are named at run time; only those named "${config.name}-*" in this account.`,
      ],
      [
        new iam.PolicyStatement({
          sid: 'ShareTheVaultsEc2Copies',
          actions: ['ec2:ModifySnapshotAttribute', 'ec2:ModifyImageAttribute'],
          resources: copies.ec2,
          conditions: managedByBunker,
        }),
        `EC2 ARNs carry no account or name to narrow by; the condition limits it to snapshots and images tagged ${TAG_MANAGED_BY}=bunker, which Bunker sets when it copies.`,
      ],
      [
        new iam.PolicyStatement({
          sid: 'GrantTheCopyOperationsOnTheBackupDataKeys',
          actions: ['kms:CreateGrant'],
          resources: backupKeys.resources,
          conditions: {
            ...backupKeys.alias,
            'ForAllValues:StringEquals': { 'kms:GrantOperations': [...GRANT_OPERATIONS] },
            Null: { 'kms:GrantOperations': 'false' },
          },
        }),
        'The backup-data key of each Region is made by its own stack: named by its alias (kms:ResourceAliases), not its id.',
      ],
      [
        new iam.PolicyStatement({
          sid: 'ListAndRevokeGrantsOnTheBackupDataKeys',
          actions: ['kms:ListGrants', 'kms:RevokeGrant', 'kms:DescribeKey'],
          resources: backupKeys.resources,
          conditions: backupKeys.alias,
        }),
        'The backup-data key of each Region is made by its own stack: named by its alias (kms:ResourceAliases), not its id.',
      ],
      [
        new iam.PolicyStatement({
          sid: 'TellTheAlertsTopic',
          actions: ['sns:Publish'],
          resources: [alertsTopic.topicArn],
        }),
        undefined,
      ],
    ];
    if (alertsTopic.masterKey) {
      statements.push([
        new iam.PolicyStatement({
          sid: 'AlertsKeyThroughSnsOnly',
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: [alertsTopic.masterKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `sns.${region}.amazonaws.com` } },
        }),
        'SNS asks for a data key of the alerts key to encrypt what is published (GenerateDataKey and its WithoutPlaintext form).',
      ]);
    }
    const policy = new iam.Policy(this, 'Policy', {
      roles: [this.role],
      statements: statements.map(([statement]) => statement),
    });
    for (const [statement, reason] of statements) {
      if (!reason) continue;
      const json = statement.toStatementJson() as { Action: string | string[]; Resource: string | string[] };
      const actions = ([] as string[]).concat(json.Action);
      const resources = ([] as string[]).concat(json.Resource);
      for (const finding of wildcardFindings(this, actions, resources)) {
        acknowledge(policy, `${NAG_PACK}-IAM5[${finding}]`, reason);
      }
    }
  }
}
