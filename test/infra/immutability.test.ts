/**
 * Backups nobody can delete early, in the synthesized vault template: the
 * data keys' denials (who may not), the alarm rules' event patterns and
 * targets, the locked Recycle Bin rules, the inventory's own key, the vault
 * bucket's Object Lock mode following the configuration, and cdk-nag clean.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BunkerConfigInput } from '../../lib/config/schema';
import {
  actionsOf,
  conditionValues,
  flatten,
  logicalIds,
  policyStatements,
  principalsOf,
  type Statement,
  type TemplateJson,
} from './policy-walk';
import { baseDocument, PAYMENTS, type Synthesized, synthesize } from './support/synth';

const document: BunkerConfigInput = {
  ...baseDocument,
  sources: [{ account: PAYMENTS, name: 'payments', regions: ['eu-west-1'] }],
  artifacts: {
    rds: { enabled: true },
    aurora: { enabled: true },
    ebs: { enabled: true },
    ami: { enabled: true },
    ssm: { enabled: true, retentionDays: 35 },
  },
  immutability: { recycleBinDays: 14, recycleBinUnlockDelayDays: 10 },
};

let all: Synthesized;
let governance: Synthesized;
let rdsOnly: Synthesized;

beforeAll(() => {
  all = synthesize(document);
  governance = synthesize({ ...document, immutability: { mode: 'governance' } });
  // Also the deployment whose organization trail already logs the backup account.
  rdsOnly = synthesize({
    ...document,
    artifacts: { rds: { enabled: true } },
    alerts: { emails: ['backup-alerts@example.com'], trail: 'existing' },
  });
});

const DEPLOYMENT_ROLE =
  'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-*-cfn-exec-role-<AWS::AccountId>-<AWS::Region>';

/** The logical id of the KMS key behind an alias. */
function keyOfAlias(template: TemplateJson, alias: string): string {
  const [aliasId] = logicalIds(template, 'AWS::KMS::Alias', (props) => props.AliasName === alias);
  expect(aliasId, alias).toBeDefined();
  const target = template.Resources[aliasId].Properties?.TargetKeyId as { 'Fn::GetAtt': [string, string] };
  return target['Fn::GetAtt'][0];
}

function keyPolicy(template: TemplateJson, keyId: string): Statement[] {
  return policyStatements(template)
    .filter((found) => found.logicalId === keyId && found.property === 'KeyPolicy')
    .map((found) => found.statement);
}

function ruleNamed(template: TemplateJson, name: string) {
  const [id] = logicalIds(template, 'AWS::Events::Rule', (props) => props.Name === name);
  expect(id, name).toBeDefined();
  return template.Resources[id].Properties as {
    EventPattern: Record<string, unknown>;
    Targets: { Arn: unknown; InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string } }[];
  };
}

describe('the data keys', () => {
  // The alerts key too: disabling it would silence every alarm and tamper alert at once.
  it.each(['alias/bunker-backup-data', 'alias/bunker-inventory', 'alias/bunker-alerts'])(
    '%s denies disabling, scheduling deletion and rewriting its policy to everyone but the deployment role',
    (alias) => {
      const denials = keyPolicy(all.vault, keyOfAlias(all.vault, alias)).filter((s) => s.Effect === 'Deny');
      expect(denials).toHaveLength(1);
      const [deny] = denials;
      expect(principalsOf(deny)).toEqual(['*']);
      expect(actionsOf(deny)).toEqual(['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy']);
      expect(deny.Resource).toBe('*');
      expect(conditionValues(deny, 'ArnNotLike', 'aws:PrincipalArn')).toEqual([DEPLOYMENT_ROLE]);
      // Nothing else in the condition: the account root and every role of the account are refused.
      expect(Object.keys(deny.Condition ?? {})).toEqual(['ArnNotLike']);
    },
  );

  it('encrypts the inventory under a key of its own, not the backup-data key', () => {
    const inventoryKey = keyOfAlias(all.vault, 'alias/bunker-inventory');
    const backupKey = keyOfAlias(all.vault, 'alias/bunker-backup-data');
    const [tableId] = logicalIds(all.vault, 'AWS::DynamoDB::Table', (props) => props.TableName === 'bunker-inventory');
    const sse = all.vault.Resources[tableId].Properties?.SSESpecification as Record<string, unknown>;

    expect(sse.SSEEnabled).toBe(true);
    expect(sse.SSEType).toBe('KMS');
    expect(flatten(sse.KMSMasterKeyId)).toBe(`<${inventoryKey}.Arn>`);
    expect(inventoryKey).not.toBe(backupKey);
    expect(all.vault.Resources[inventoryKey].DeletionPolicy).toBe('Retain');
    expect(all.vault.Resources[inventoryKey].Properties?.EnableKeyRotation).toBe(true);
  });

  it('lets every vault Lambda that reads or writes the table use the inventory key, the pull function included', () => {
    const inventoryKey = `<${keyOfAlias(all.vault, 'alias/bunker-inventory')}.Arn>`;
    const roles = ['bunker-intake', 'bunker-completion', 'bunker-sweep', 'bunker-pull'];
    for (const role of roles) {
      const [roleId] = logicalIds(all.vault, 'AWS::IAM::Role', (props) => props.RoleName === role);
      const policies = logicalIds(all.vault, 'AWS::IAM::Policy', (props) =>
        JSON.stringify(props.Roles).includes(`"${roleId}"`),
      );
      const decrypts = policyStatements(all.vault)
        .filter((found) => policies.includes(found.logicalId))
        .map((found) => found.statement)
        .filter((s) => s.Effect === 'Allow' && actionsOf(s).includes('kms:Decrypt'))
        .flatMap((s) => [s.Resource].flat().map(flatten));
      expect(decrypts, role).toContain(inventoryKey);
    }
  });
});

describe('the alarms on tampering', () => {
  it('alarms on a deletion or re-share of a Bunker RDS or Aurora copy by anyone but the pruner', () => {
    const rule = ruleNamed(all.vault, 'bunker-copy-changes');

    expect(rule.EventPattern).toEqual({
      source: ['aws.rds'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['rds.amazonaws.com'],
        eventName: [
          'DeleteDBSnapshot',
          'DeleteDBClusterSnapshot',
          'ModifyDBSnapshotAttribute',
          'ModifyDBClusterSnapshotAttribute',
        ],
        userIdentity: {
          arn: [{ 'anything-but': { wildcard: 'arn:aws*:sts::111111111111:assumed-role/bunker-retention/*' } }],
        },
        requestParameters: {
          $or: [
            { dBSnapshotIdentifier: [{ prefix: { 'equals-ignore-case': 'bunker-' } }] },
            { dBClusterSnapshotIdentifier: [{ prefix: { 'equals-ignore-case': 'bunker-' } }] },
          ],
        },
      },
    });
    expect(rule.Targets).toHaveLength(1);
    const [target] = rule.Targets;
    expect(flatten(target.Arn)).toBe('<AlertsTopic3414BE91>');
    // The message names who did what to which copy.
    expect(target.InputTransformer.InputPathsMap).toMatchObject({
      'detail-userIdentity-arn': '$.detail.userIdentity.arn',
      'detail-eventName': '$.detail.eventName',
      'detail-requestParameters-dBSnapshotIdentifier': '$.detail.requestParameters.dBSnapshotIdentifier',
      'detail-requestParameters-dBClusterSnapshotIdentifier': '$.detail.requestParameters.dBClusterSnapshotIdentifier',
    });
    expect(target.InputTransformer.InputTemplate).toContain(
      '<detail-userIdentity-arn> called <detail-eventName> on the copy <detail-requestParameters-dBSnapshotIdentifier><detail-requestParameters-dBClusterSnapshotIdentifier>',
    );
  });

  it('alarms on a deletion, unlock or re-share of an EBS snapshot or AMI by anyone but the pruner', () => {
    const rule = ruleNamed(all.vault, 'bunker-ec2-copy-changes');

    expect(rule.EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['ec2.amazonaws.com'],
        eventName: [
          'DeleteSnapshot',
          'DeregisterImage',
          'UnlockSnapshot',
          'DisableImageDeregistrationProtection',
          'ModifySnapshotAttribute',
          'ModifyImageAttribute',
        ],
        userIdentity: {
          arn: [{ 'anything-but': { wildcard: 'arn:aws*:sts::111111111111:assumed-role/bunker-retention/*' } }],
        },
      },
    });
    expect(flatten(rule.Targets[0].Arn)).toBe('<AlertsTopic3414BE91>');
  });

  it('alarms on any attempt to disable, delete or rewrite the policy of any Bunker key', () => {
    const rule = ruleNamed(all.vault, 'bunker-key-changes');
    const keys = ['backup-data', 'inventory', 'intake', 'pull', 'alerts', 'trail'].map(
      (name) => `<${keyOfAlias(all.vault, `alias/bunker-${name}`)}.Arn>`,
    );

    const detail = rule.EventPattern.detail as { resources: { ARN: unknown[] } };
    expect(rule.EventPattern.source).toEqual(['aws.kms']);
    expect(rule.EventPattern['detail-type']).toEqual(['AWS API Call via CloudTrail']);
    expect(detail).toMatchObject({
      eventSource: ['kms.amazonaws.com'],
      eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy'],
    });
    // No principal is excepted: even the deployment role's change is worth a look.
    expect(Object.keys(detail)).toEqual(['eventSource', 'eventName', 'resources']);
    expect(detail.resources.ARN.map(flatten)).toEqual(keys);
    expect(rule.Targets[0].InputTransformer.InputTemplate).toContain(
      '<detail-userIdentity-arn> called <detail-eventName> on the key <detail-requestParameters-keyId>',
    );
  });

  it('lets only these rules of this account publish through EventBridge to the alerts topic and its key', () => {
    const rules = ['bunker-copy-changes', 'bunker-ec2-copy-changes', 'bunker-key-changes', 'bunker-trail-changes'].map(
      (name) => `arn:<AWS::Partition>:events:eu-west-1:111111111111:rule/${name}`,
    );
    const fromEvents = policyStatements(all.vault)
      .filter((found) => principalsOf(found.statement).includes('events.amazonaws.com'))
      .filter((found) => found.statement.Sid === 'ImmutabilityRulesPublish');
    expect(fromEvents.map((found) => found.type).sort()).toEqual(['AWS::KMS::Key', 'AWS::SNS::TopicPolicy']);
    for (const { statement } of fromEvents) {
      expect(conditionValues(statement, 'ArnEquals', 'aws:SourceArn')).toEqual(rules);
      expect(conditionValues(statement, 'StringEquals', 'aws:SourceAccount')).toEqual(['111111111111']);
    }
  });
});

describe('the trail the alarms read (alerts.trail "create", the default)', () => {
  const TRAIL_ARN = 'arn:<AWS::Partition>:cloudtrail:eu-west-1:111111111111:trail/bunker-tamper';
  const trailOf = (template: TemplateJson) =>
    logicalIds(template, 'AWS::CloudTrail::Trail', () => true).map((id) => template.Resources[id].Properties ?? {});
  const trailBucket = (template: TemplateJson) =>
    logicalIds(template, 'AWS::S3::Bucket', (props) => props.BucketName === 'bunker-trail-111111111111-eu-west-1');

  it('logs the management write events of every Region, with log file validation, under a key of its own', () => {
    const trails = trailOf(all.vault);
    expect(trails).toHaveLength(1);
    const [trail] = trails;
    expect(trail).toMatchObject({
      TrailName: 'bunker-tamper',
      IsLogging: true,
      IsMultiRegionTrail: true,
      IncludeGlobalServiceEvents: true,
      EnableLogFileValidation: true,
      EventSelectors: [{ IncludeManagementEvents: true, ReadWriteType: 'WriteOnly' }],
    });
    expect(flatten(trail.S3BucketName)).toBe(`<${trailBucket(all.vault)[0]}>`);
    expect(flatten(trail.KMSKeyId)).toBe(`<${keyOfAlias(all.vault, 'alias/bunker-trail')}.Arn>`);
  });

  it('writes to a bucket of its own, under Object Lock for 365 days in the mode of immutability.mode, encrypted with its key', () => {
    const [bucketId] = trailBucket(all.vault);
    const bucket = all.vault.Resources[bucketId];
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties?.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } },
    });
    const [governanceBucket] = trailBucket(governance.vault);
    expect(governance.vault.Resources[governanceBucket].Properties?.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 365 } },
    });
    const encryption = bucket.Properties?.BucketEncryption as {
      ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: Record<string, unknown> }[];
    };
    expect(encryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: { 'Fn::GetAtt': [keyOfAlias(all.vault, 'alias/bunker-trail'), 'Arn'] },
    });
  });

  it('lets CloudTrail write to the bucket and encrypt with the key only for this trail', () => {
    const [bucketId] = trailBucket(all.vault);
    const fromCloudTrail = policyStatements(all.vault).filter((found) =>
      principalsOf(found.statement).includes('cloudtrail.amazonaws.com'),
    );
    expect(fromCloudTrail.map((found) => actionsOf(found.statement)).sort()).toEqual([
      ['kms:DescribeKey'],
      ['kms:GenerateDataKey*'],
      ['s3:GetBucketAcl'],
      ['s3:PutObject'],
    ]);
    for (const { statement } of fromCloudTrail) {
      expect(statement.Effect).toBe('Allow');
      expect(conditionValues(statement, 'StringEquals', 'aws:SourceArn')).toEqual([TRAIL_ARN]);
    }
    const put = fromCloudTrail.find((found) => actionsOf(found.statement).includes('s3:PutObject'));
    expect(flatten(put?.statement.Resource)).toBe(`<${bucketId}.Arn>/AWSLogs/111111111111/*`);
  });

  it("denies disabling or deleting the trail's key to all but a deployment, and alarms on changes to any trail", () => {
    const denials = keyPolicy(all.vault, keyOfAlias(all.vault, 'alias/bunker-trail')).filter(
      (s) => s.Effect === 'Deny',
    );
    expect(denials.map(actionsOf)).toEqual([['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy']]);
    const rule = ruleNamed(all.vault, 'bunker-trail-changes');
    expect(rule.EventPattern).toEqual({
      source: ['aws.cloudtrail'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['cloudtrail.amazonaws.com'],
        eventName: ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'],
      },
    });
    expect(flatten(rule.Targets[0].Arn)).toBe('<AlertsTopic3414BE91>');
  });

  it('is not created with alerts.trail "existing", whose trail changes are still alarmed', () => {
    expect(trailOf(rdsOnly.vault)).toEqual([]);
    expect(trailBucket(rdsOnly.vault)).toEqual([]);
    expect(logicalIds(rdsOnly.vault, 'AWS::KMS::Alias', (props) => props.AliasName === 'alias/bunker-trail')).toEqual(
      [],
    );
    ruleNamed(rdsOnly.vault, 'bunker-trail-changes');
  });
});

describe('the Recycle Bin', () => {
  it('keeps deleted EBS snapshots and AMIs of the Region for recycleBinDays, under rules locked for the unlock delay', () => {
    const rules = logicalIds(all.vault, 'AWS::Rbin::Rule', () => true).map(
      (id) => all.vault.Resources[id].Properties as Record<string, unknown>,
    );

    expect(rules.map((rule) => rule.ResourceType).sort()).toEqual(['EBS_SNAPSHOT', 'EC2_IMAGE']);
    for (const rule of rules) {
      expect(rule.RetentionPeriod).toEqual({ RetentionPeriodValue: 14, RetentionPeriodUnit: 'DAYS' });
      expect(rule.LockConfiguration).toEqual({ UnlockDelayValue: 10, UnlockDelayUnit: 'DAYS' });
      // AWS locks only Region-level rules: no resource tags, no exclusion tags.
      expect(rule.ResourceTags).toBeUndefined();
      expect(rule.ExcludeResourceTags).toBeUndefined();
    }
  });

  it('makes no Recycle Bin rule when no EC2 kind is enabled', () => {
    expect(logicalIds(rdsOnly.vault, 'AWS::Rbin::Rule', () => true)).toEqual([]);
    expect(rdsOnly.synthError).toBeUndefined();
  });
});

describe('the vault bucket’s Object Lock', () => {
  const lockOf = (template: TemplateJson) => {
    const [id] = logicalIds(
      template,
      'AWS::S3::Bucket',
      (props) => props.BucketName === 'bunker-vault-111111111111-eu-west-1',
    );
    return template.Resources[id].Properties?.ObjectLockConfiguration;
  };

  it('is in compliance mode by default', () => {
    expect(lockOf(all.vault)).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 35 } },
    });
  });

  it('follows immutability.mode governance', () => {
    expect(lockOf(governance.vault)).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 35 } },
    });
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the app with every kind enabled, nor in governance mode, nor with an existing trail', () => {
    for (const synthesized of [all, governance, rdsOnly]) {
      expect(synthesized.synthError).toBeUndefined();
      const report = JSON.parse(readFileSync(join(synthesized.outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: { violations?: unknown[] }[];
      };
      expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
    }
  });
});
