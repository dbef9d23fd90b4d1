/**
 * `bunker scp`: the service control policy an organization attaches to the
 * backup account, so that no principal of that account but the pruner can
 * delete Bunker's copies or lift what protects them, and none but a CDK
 * deployment can disable Bunker's keys or rewrite its guards.
 *
 * Why an SCP: RDS and Aurora snapshots have no lock of their own, and a key
 * policy or a bucket policy can be rewritten by whoever administers the
 * account. An SCP is set by the organization's management account and binds
 * every principal of the backup account, its root included; nothing inside
 * the account can lift it. The vault stack cannot deploy it: the stack runs
 * inside the account the policy restrains. The alarms of the vault stack
 * (lib/constructs/immutability.ts) still fire on what the SCP refuses.
 *
 * Exceptions are by `aws:PrincipalArn` (the role, whatever its session):
 * the pruner (`<name>-retention`) for deletions after retention, the
 * recovery role (`<name>-recovery`) for re-sharing RDS and Aurora copies
 * with a recovery account (`bunker recover --approve`/`--revoke`, two
 * people; it deletes nothing), and the
 * CDK bootstrap's CloudFormation execution role for what deployments
 * change, the tamper trail included. With `alerts.trail` "existing" the
 * SCP names no trail: Bunker does not know which one it is (an organization
 * trail is out of the backup account's reach anyway). SCPs never restrain service-linked roles nor the management
 * account; the README says so.
 */
import { recoveryRoleName } from '../lambdas/core/recovery/identity';
import type { BunkerConfig } from '../lib/config/schema';

/** AWS's limit on the size of an SCP document, whitespace included. */
export const SCP_MAX_CHARACTERS = 5120;

export interface ScpStatement {
  readonly Sid: string;
  readonly Effect: 'Deny';
  readonly Action: readonly string[];
  readonly Resource: readonly string[] | '*';
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

export interface ServiceControlPolicy {
  readonly Version: '2012-10-17';
  readonly Statement: readonly ScpStatement[];
}

/** The pruner's role: the same name as `retentionRoleName` in lib/constructs/pull.ts (a test holds them equal). */
export const prunerRoleName = (prefix: string) => `${prefix}-retention`;

/** The trail of the tampering alarms: the same name as in lib/constructs/immutability.ts (a test holds them equal). */
export const guardedTrailName = (prefix: string) => `${prefix}-tamper`;

/**
 * The service control policy for the backup account of `config`, in
 * `partition`. Every statement is a Deny: an SCP grants nothing, it only
 * caps what the account's own policies may grant.
 */
export function serviceControlPolicy(config: BunkerConfig, partition = 'aws'): ServiceControlPolicy {
  const { account } = config.backup;
  const prefix = config.name;
  const role = (name: string) => `arn:${partition}:iam::${account}:role/${name}`;
  const pruner = role(prunerRoleName(prefix));
  const recovery = role(recoveryRoleName(prefix));
  const deployment = role(`cdk-*-cfn-exec-role-${account}-*`);
  const exceptPruner = { ArnNotLike: { 'aws:PrincipalArn': [pruner] } };
  const exceptDeployment = { ArnNotLike: { 'aws:PrincipalArn': [deployment] } };
  const vaultBuckets = `arn:${partition}:s3:::${prefix}-vault-${account}-*`;
  const rdsCopies = [
    `arn:${partition}:rds:*:${account}:snapshot:${prefix}-*`,
    `arn:${partition}:rds:*:${account}:cluster-snapshot:${prefix}-*`,
  ];
  const statements: ScpStatement[] = [
    {
      // RDS and Aurora copies have no lock: this and the alarm are their protection.
      Sid: 'OnlyThePrunerDeletesRdsCopies',
      Effect: 'Deny',
      Action: ['rds:DeleteDBSnapshot', 'rds:DeleteDBClusterSnapshot'],
      Resource: rdsCopies,
      Condition: exceptPruner,
    },
    {
      // A recovery shares copies with another account: only through the recovery role, whose sessions are persons.
      Sid: 'OnlyThePrunerOrRecoveryReSharesRdsCopies',
      Effect: 'Deny',
      Action: ['rds:ModifyDBSnapshotAttribute', 'rds:ModifyDBClusterSnapshotAttribute'],
      Resource: rdsCopies,
      Condition: { ArnNotLike: { 'aws:PrincipalArn': [pruner, recovery] } },
    },
    {
      // EC2 ARNs name no copy and a tag can be removed first: every snapshot and image of the backup account.
      Sid: 'OnlyThePrunerDeletesOrUnlocksEc2Copies',
      Effect: 'Deny',
      Action: [
        'ec2:DeleteSnapshot',
        'ec2:DeregisterImage',
        'ec2:UnlockSnapshot',
        'ec2:DisableImageDeregistrationProtection',
        // A governance lock can be shortened by locking again.
        'ec2:LockSnapshot',
      ],
      Resource: [`arn:${partition}:ec2:*::snapshot/*`, `arn:${partition}:ec2:*::image/*`],
      Condition: {
        ArnNotLike: {
          'aws:PrincipalArn': [
            pruner,
            // The vault Lambdas lock each copy as it settles.
            role(`${prefix}-intake`),
            role(`${prefix}-completion`),
            role(`${prefix}-sweep`),
          ],
        },
      },
    },
    {
      // Every key of the backup account: an alias can be moved off a key before it is deleted.
      Sid: 'OnlyADeploymentDisablesOrDeletesKeys',
      Effect: 'Deny',
      Action: ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy'],
      Resource: [`arn:${partition}:kms:*:${account}:key/*`],
      Condition: exceptDeployment,
    },
    {
      Sid: 'OnlyThePrunerDeletesPulledData',
      Effect: 'Deny',
      Action: ['s3:DeleteObjectVersion'],
      Resource: [`${vaultBuckets}/*`],
      Condition: exceptPruner,
    },
    {
      Sid: 'NobodyBypassesObjectLock',
      Effect: 'Deny',
      Action: ['s3:BypassGovernanceRetention'],
      Resource: [vaultBuckets, `${vaultBuckets}/*`],
    },
    {
      // The bucket's lock and its policy's denials stand unless a deployment changes them.
      Sid: 'OnlyADeploymentChangesTheVaultBucket',
      Effect: 'Deny',
      Action: [
        's3:PutBucketObjectLockConfiguration',
        's3:PutBucketPolicy',
        's3:DeleteBucketPolicy',
        's3:PutLifecycleConfiguration',
      ],
      Resource: [vaultBuckets],
      Condition: exceptDeployment,
    },
    {
      // The guards themselves: the alarm rules, the Recycle Bin rules, and whoever may act as the pruner or the
      // recovery role (whose trust makes its session name the person).
      Sid: 'OnlyADeploymentChangesTheGuards',
      Effect: 'Deny',
      Action: [
        'events:DeleteRule',
        'events:DisableRule',
        'events:PutRule',
        'events:RemoveTargets',
        'rbin:UnlockRule',
        'rbin:UpdateRule',
        'rbin:DeleteRule',
        'iam:UpdateAssumeRolePolicy',
        'iam:PutRolePolicy',
        'iam:AttachRolePolicy',
        'iam:PassRole',
        'lambda:UpdateFunctionCode',
        'lambda:UpdateFunctionConfiguration',
      ],
      Resource: [
        `arn:${partition}:events:*:${account}:rule/${prefix}-*`,
        `arn:${partition}:rbin:*:${account}:rule/*`,
        pruner,
        recovery,
        `arn:${partition}:lambda:*:${account}:function:${prefix}-*`,
      ],
      Condition: exceptDeployment,
    },
  ];
  if (config.alerts.trail === 'create') {
    statements.push({
      // The alarms above read this trail's events: stopping or narrowing it would silence them first.
      Sid: 'OnlyADeploymentChangesTheTamperTrail',
      Effect: 'Deny',
      Action: [
        'cloudtrail:StopLogging',
        'cloudtrail:DeleteTrail',
        'cloudtrail:UpdateTrail',
        'cloudtrail:PutEventSelectors',
      ],
      Resource: [`arn:${partition}:cloudtrail:*:${account}:trail/${guardedTrailName(prefix)}`],
      Condition: exceptDeployment,
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/** The policy as `aws organizations create-policy --content` takes it: compact, so it stays under the size limit. */
export function scpText(config: BunkerConfig, partition = 'aws'): string {
  const text = JSON.stringify(serviceControlPolicy(config, partition));
  if (text.length > SCP_MAX_CHARACTERS) {
    throw new Error(`the service control policy has ${text.length} characters; AWS allows ${SCP_MAX_CHARACTERS}`);
  }
  return text;
}
