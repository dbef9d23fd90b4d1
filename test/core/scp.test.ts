/**
 * `bunker scp`: the service control policy for the backup account. Checked
 * as literal JSON where it matters (who is excepted from what), against the
 * grammar AWS Organizations accepts for an SCP (Version, Deny statements
 * with Sid, Action, Resource and Condition of known shapes, no Principal),
 * and against the 5,120-character limit, through the CLI as an operator
 * runs it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { guardedTrailName, prunerRoleName, SCP_MAX_CHARACTERS, scpText, serviceControlPolicy } from '../../cli/scp';
import { parseConfig } from '../../lib/config/load';
import { tamperTrailName, TRAIL_EVENTS } from '../../lib/constructs/immutability';
import { retentionRoleName } from '../../lib/constructs/pull';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const input = {
  name: 'bunker',
  backup: { account: '111111111111', region: 'eu-west-1' },
  sources: [{ account: '222222222222', regions: ['eu-west-1'] }],
};
const config = parseConfig(input, 'test config');

/** Condition operators an SCP may use (IAM's, with the set and IfExists forms). */
const OPERATOR =
  /^(ForAnyValue:|ForAllValues:)?(StringEquals|StringNotEquals|StringLike|StringNotLike|ArnEquals|ArnNotEquals|ArnLike|ArnNotLike|Bool|Null|NumericEquals|NumericLessThan|NumericGreaterThan|DateLessThan|DateGreaterThan|IpAddress|NotIpAddress)(IfExists)?$/;

describe('the service control policy', () => {
  it('lets only the pruner delete Bunker’s RDS and Aurora copies', () => {
    const statement = serviceControlPolicy(config).Statement.find((s) => s.Sid === 'OnlyThePrunerDeletesRdsCopies');

    expect(statement).toEqual({
      Sid: 'OnlyThePrunerDeletesRdsCopies',
      Effect: 'Deny',
      Action: ['rds:DeleteDBSnapshot', 'rds:DeleteDBClusterSnapshot'],
      Resource: [
        'arn:aws:rds:*:111111111111:snapshot:bunker-*',
        'arn:aws:rds:*:111111111111:cluster-snapshot:bunker-*',
      ],
      Condition: { ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/bunker-retention'] } },
    });
  });

  it('lets only the pruner and the recovery role re-share Bunker’s RDS and Aurora copies', () => {
    const statement = serviceControlPolicy(config).Statement.find(
      (s) => s.Sid === 'OnlyThePrunerOrRecoveryReSharesRdsCopies',
    );

    expect(statement).toEqual({
      Sid: 'OnlyThePrunerOrRecoveryReSharesRdsCopies',
      Effect: 'Deny',
      Action: ['rds:ModifyDBSnapshotAttribute', 'rds:ModifyDBClusterSnapshotAttribute'],
      Resource: [
        'arn:aws:rds:*:111111111111:snapshot:bunker-*',
        'arn:aws:rds:*:111111111111:cluster-snapshot:bunker-*',
      ],
      Condition: {
        ArnNotLike: {
          'aws:PrincipalArn': [
            'arn:aws:iam::111111111111:role/bunker-retention',
            'arn:aws:iam::111111111111:role/bunker-recovery',
          ],
        },
      },
    });
  });

  it('excepts the recovery role from no deletion', () => {
    const deletions = serviceControlPolicy(config).Statement.filter((s) =>
      s.Action.some((a) => /:Delete|:Deregister|:ScheduleKeyDeletion/.test(a)),
    );

    expect(deletions.map((s) => s.Sid)).toEqual([
      'OnlyThePrunerDeletesRdsCopies',
      'OnlyThePrunerDeletesOrUnlocksEc2Copies',
      'OnlyADeploymentDisablesOrDeletesKeys',
      'OnlyThePrunerDeletesPulledData',
      'OnlyADeploymentChangesTheVaultBucket',
      'OnlyADeploymentChangesTheGuards',
      'OnlyADeploymentChangesTheTamperTrail',
    ]);
    expect(JSON.stringify(deletions.map((s) => s.Condition))).not.toContain('bunker-recovery');
  });

  it('lets only the pruner delete or unlock EBS and AMI copies, and only the vault Lambdas lock them', () => {
    const statement = serviceControlPolicy(config).Statement.find(
      (s) => s.Sid === 'OnlyThePrunerDeletesOrUnlocksEc2Copies',
    );

    expect(statement?.Action).toEqual([
      'ec2:DeleteSnapshot',
      'ec2:DeregisterImage',
      'ec2:UnlockSnapshot',
      'ec2:DisableImageDeregistrationProtection',
      'ec2:LockSnapshot',
    ]);
    expect(statement?.Resource).toEqual(['arn:aws:ec2:*::snapshot/*', 'arn:aws:ec2:*::image/*']);
    expect(statement?.Condition).toEqual({
      ArnNotLike: {
        'aws:PrincipalArn': [
          'arn:aws:iam::111111111111:role/bunker-retention',
          'arn:aws:iam::111111111111:role/bunker-intake',
          'arn:aws:iam::111111111111:role/bunker-completion',
          'arn:aws:iam::111111111111:role/bunker-sweep',
        ],
      },
    });
  });

  it('lets only a CDK deployment disable, delete or rewrite the policy of any key of the backup account', () => {
    const statement = serviceControlPolicy(config).Statement.find(
      (s) => s.Sid === 'OnlyADeploymentDisablesOrDeletesKeys',
    );

    expect(statement).toEqual({
      Sid: 'OnlyADeploymentDisablesOrDeletesKeys',
      Effect: 'Deny',
      Action: ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy'],
      Resource: ['arn:aws:kms:*:111111111111:key/*'],
      Condition: {
        ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/cdk-*-cfn-exec-role-111111111111-*'] },
      },
    });
  });

  it('keeps the vault bucket’s versions to the pruner, its lock unbypassable and its configuration to deployments', () => {
    const statements = serviceControlPolicy(config).Statement;
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid);

    expect(bySid('OnlyThePrunerDeletesPulledData')).toEqual({
      Sid: 'OnlyThePrunerDeletesPulledData',
      Effect: 'Deny',
      Action: ['s3:DeleteObjectVersion'],
      Resource: ['arn:aws:s3:::bunker-vault-111111111111-*/*'],
      Condition: { ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/bunker-retention'] } },
    });
    // Nobody at all: no Condition.
    expect(bySid('NobodyBypassesObjectLock')).toEqual({
      Sid: 'NobodyBypassesObjectLock',
      Effect: 'Deny',
      Action: ['s3:BypassGovernanceRetention'],
      Resource: ['arn:aws:s3:::bunker-vault-111111111111-*', 'arn:aws:s3:::bunker-vault-111111111111-*/*'],
    });
    expect(bySid('OnlyADeploymentChangesTheVaultBucket')?.Action).toContain('s3:PutBucketObjectLockConfiguration');
  });

  it('keeps the guards (alarm rules, Recycle Bin rules, the pruner’s and recovery roles, the functions) to deployments', () => {
    const statement = serviceControlPolicy(config).Statement.find((s) => s.Sid === 'OnlyADeploymentChangesTheGuards');

    expect(statement?.Resource).toEqual([
      'arn:aws:events:*:111111111111:rule/bunker-*',
      'arn:aws:rbin:*:111111111111:rule/*',
      'arn:aws:iam::111111111111:role/bunker-retention',
      'arn:aws:iam::111111111111:role/bunker-recovery',
      'arn:aws:lambda:*:111111111111:function:bunker-*',
    ]);
    expect(statement?.Action).toEqual(
      expect.arrayContaining(['rbin:UnlockRule', 'iam:PassRole', 'iam:UpdateAssumeRolePolicy', 'events:DisableRule']),
    );
    expect(statement?.Condition).toEqual({
      ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/cdk-*-cfn-exec-role-111111111111-*'] },
    });
  });

  it('lets only a CDK deployment stop, delete or narrow the trail the tampering alarms read', () => {
    const statement = serviceControlPolicy(config).Statement.find(
      (s) => s.Sid === 'OnlyADeploymentChangesTheTamperTrail',
    );

    expect(statement).toEqual({
      Sid: 'OnlyADeploymentChangesTheTamperTrail',
      Effect: 'Deny',
      Action: [
        'cloudtrail:StopLogging',
        'cloudtrail:DeleteTrail',
        'cloudtrail:UpdateTrail',
        'cloudtrail:PutEventSelectors',
      ],
      Resource: ['arn:aws:cloudtrail:*:111111111111:trail/bunker-tamper'],
      Condition: {
        ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/cdk-*-cfn-exec-role-111111111111-*'] },
      },
    });
    // The same calls the trail-changes rule alarms on.
    expect(statement?.Action).toEqual(TRAIL_EVENTS.map((event) => `cloudtrail:${event}`));
  });

  it('names no trail when an existing trail, not Bunker’s, feeds the alarms', () => {
    const existing = parseConfig({ ...input, alerts: { trail: 'existing' } }, 'test config');

    expect(serviceControlPolicy(existing).Statement.flatMap((s) => s.Action)).not.toContain('cloudtrail:StopLogging');
  });

  it('names the pruner and the trail as the stacks name the retention role and the tamper trail', () => {
    expect(prunerRoleName('bunker')).toBe(retentionRoleName('bunker'));
    expect(guardedTrailName('bunker')).toBe(tamperTrailName('bunker'));
  });

  it('is an SCP AWS accepts: Version, only Deny statements with unique Sids, service actions, ARNs, known conditions', () => {
    const policy = serviceControlPolicy(config);

    expect(Object.keys(policy)).toEqual(['Version', 'Statement']);
    expect(policy.Version).toBe('2012-10-17');
    const sids = policy.Statement.map((s) => s.Sid);
    expect(new Set(sids).size).toBe(sids.length);
    for (const statement of policy.Statement) {
      const where = statement.Sid;
      // An SCP statement names no principal: it applies to every principal of the account.
      for (const key of Object.keys(statement)) {
        expect(['Sid', 'Effect', 'Action', 'Resource', 'Condition'], where).toContain(key);
      }
      expect(statement.Sid, where).toMatch(/^[A-Za-z0-9]+$/);
      expect(statement.Effect, where).toBe('Deny');
      expect(statement.Action.length, where).toBeGreaterThan(0);
      for (const action of statement.Action) expect(action, where).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      const resources = statement.Resource === '*' ? [] : statement.Resource;
      for (const resource of resources) expect(resource, where).toMatch(/^arn:aws:[a-z0-9-]+:[a-z0-9*-]*:\d{0,12}:.+$/);
      for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
        expect(operator, where).toMatch(OPERATOR);
        for (const [key, values] of Object.entries(keys)) {
          expect(key, where).toMatch(/^aws:[A-Za-z]+$/);
          expect(values.length, where).toBeGreaterThan(0);
        }
      }
    }
  });

  it('fits AWS’s 5,120-character limit with room for a longer name', () => {
    const long = parseConfig({ ...input, name: 'a-twenty-char-prefix' }, 'test config');

    expect(scpText(config).length).toBeLessThan(SCP_MAX_CHARACTERS);
    expect(scpText(long).length).toBeLessThan(SCP_MAX_CHARACTERS);
    expect(scpText(long, 'aws-us-gov').length).toBeLessThan(SCP_MAX_CHARACTERS);
  });

  it('is printed by `bunker scp --config FILE` as compact JSON for the partition asked', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bunker-scp-')), 'bunker.config.json');
    writeFileSync(file, JSON.stringify(input));

    const run = spawnSync(
      join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      ['bin/bunker.ts', 'scp', '--config', file, '--partition', 'aws-cn'],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );

    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).not.toContain('\n');
    const printed = JSON.parse(run.stdout) as { Statement: { Resource?: string[] }[] };
    expect(printed.Statement[0].Resource).toEqual([
      'arn:aws-cn:rds:*:111111111111:snapshot:bunker-*',
      'arn:aws-cn:rds:*:111111111111:cluster-snapshot:bunker-*',
    ]);
  });
});
