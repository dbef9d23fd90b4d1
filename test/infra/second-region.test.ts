/**
 * `backup.secondRegion` on the templates: a stack in the backup account's
 * second Region holds a backup-data key only the backup account may use,
 * and the vault Lambdas may use it only through that Region's copy services.
 * The Region is guarded like the vault's: the key's denial, the tampering
 * alarms to an alerts topic of its own, and a locked Recycle Bin.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BunkerApp } from '../../lib/app';
import { parseConfig } from '../../lib/config/load';
import {
  actionsOf,
  conditionValues,
  flatten,
  logicalIds,
  policyStatements,
  principalsOf,
  type TemplateJson,
} from './policy-walk';

/** The logical id of the KMS key behind an alias. */
function keyOfAlias(template: TemplateJson, alias: string): string {
  const [aliasId] = logicalIds(template, 'AWS::KMS::Alias', (props) => props.AliasName === alias);
  const target = template.Resources[aliasId].Properties?.TargetKeyId as { 'Fn::GetAtt': [string, string] };
  return target['Fn::GetAtt'][0];
}

const BACKUP = '111111111111';

describe('a second Region of the backup account', () => {
  let built: BunkerApp;
  let outdir: string;
  let region: TemplateJson;
  let vault: TemplateJson;

  beforeAll(() => {
    const config = parseConfig({
      backup: { account: BACKUP, region: 'eu-west-1', secondRegion: 'us-east-1' },
      sources: [{ account: '222222222222', regions: ['eu-west-1'] }],
      artifacts: { rds: { enabled: true }, ebs: { enabled: true } },
      alerts: { emails: ['backup-alerts@example.com'] },
    });
    outdir = mkdtempSync(join(tmpdir(), 'bunker-second-region-'));
    built = buildApp(config, new App({ outdir }));
    built.app.synth();
    region = Template.fromStack(built.vaultRegion as NonNullable<BunkerApp['vaultRegion']>).toJSON() as TemplateJson;
    vault = Template.fromStack(built.vault).toJSON() as TemplateJson;
  });

  it('synthesizes the key stack in the second Region with no unacknowledged cdk-nag finding', () => {
    expect(built.vaultRegion?.stackName).toBe('bunker-vault-us-east-1');
    expect(built.vaultRegion?.region).toBe('us-east-1');
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('keeps the second Region’s backup-data key to the backup account, rotated, retained, under the same alias', () => {
    const aliases = Object.values(region.Resources).filter((r) => r.Type === 'AWS::KMS::Alias');
    // The backup-data key, and the key of this Region's alerts topic.
    expect(aliases.map((a) => a.Properties?.AliasName).sort()).toEqual([
      'alias/bunker-alerts',
      'alias/bunker-backup-data',
    ]);
    const keyId = keyOfAlias(region, 'alias/bunker-backup-data');
    const key = region.Resources[keyId];
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.Properties?.EnableKeyRotation).toBe(true);
    const principals = policyStatements(region)
      .filter((found) => found.logicalId === keyId && found.statement.Effect === 'Allow')
      .flatMap((found) => principalsOf(found.statement));
    expect(new Set(principals)).toEqual(new Set([`arn:<AWS::Partition>:iam::${BACKUP}:root`]));
  });

  it('denies disabling, scheduling the deletion of or rewriting that key to all but a deployment', () => {
    const denials = policyStatements(region)
      .filter((found) => found.logicalId === keyOfAlias(region, 'alias/bunker-backup-data'))
      .map((found) => found.statement)
      .filter((statement) => statement.Effect === 'Deny');
    expect(denials).toHaveLength(1);
    expect(principalsOf(denials[0])).toEqual(['*']);
    expect(actionsOf(denials[0])).toEqual(['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy']);
    expect(conditionValues(denials[0], 'ArnNotLike', 'aws:PrincipalArn')).toEqual([
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-*-cfn-exec-role-<AWS::AccountId>-<AWS::Region>',
    ]);
  });

  it('alarms on tampering in that Region to an alerts topic of its own, e-mailed like the vault’s', () => {
    const [topicId] = logicalIds(region, 'AWS::SNS::Topic', (props) => props.TopicName === 'bunker-alerts');
    expect(topicId).toBeDefined();
    const rules = logicalIds(region, 'AWS::Events::Rule', () => true).map(
      (id) => region.Resources[id].Properties ?? {},
    );
    expect(rules.map((rule) => rule.Name).sort()).toEqual([
      'bunker-copy-changes',
      'bunker-ec2-copy-changes',
      'bunker-key-changes',
      'bunker-trail-changes',
    ]);
    for (const rule of rules) {
      expect((rule.Targets as { Arn: unknown }[]).map((target) => flatten(target.Arn))).toEqual([`<${topicId}>`]);
    }
    const keyRule = rules.find((rule) => rule.Name === 'bunker-key-changes') as {
      EventPattern: { detail: { resources: { ARN: unknown[] } } };
    };
    expect(keyRule.EventPattern.detail.resources.ARN.map(flatten)).toEqual([
      `<${keyOfAlias(region, 'alias/bunker-backup-data')}.Arn>`,
      `<${keyOfAlias(region, 'alias/bunker-alerts')}.Arn>`,
    ]);
    // The alerts key is guarded like the data key: disabling it would silence that Region's alarms.
    const alertsDenials = policyStatements(region)
      .filter((found) => found.logicalId === keyOfAlias(region, 'alias/bunker-alerts'))
      .map((found) => found.statement)
      .filter((statement) => statement.Effect === 'Deny');
    expect(alertsDenials.map(actionsOf)).toEqual([['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy']]);
    const publish = policyStatements(region).filter((found) => found.statement.Sid === 'ImmutabilityRulesPublish');
    expect(publish.length).toBe(2);
    for (const { statement } of publish) {
      expect(conditionValues(statement, 'ArnEquals', 'aws:SourceArn')).toEqual(
        ['copy-changes', 'ec2-copy-changes', 'key-changes', 'trail-changes'].map(
          (name) => `arn:<AWS::Partition>:events:us-east-1:${BACKUP}:rule/bunker-${name}`,
        ),
      );
    }
    const emails = logicalIds(region, 'AWS::SNS::Subscription', () => true).map(
      (id) => region.Resources[id].Properties ?? {},
    );
    expect(emails.map((sub) => [sub.Protocol, sub.Endpoint])).toEqual([['email', 'backup-alerts@example.com']]);
  });

  it('keeps deleted EBS snapshots of that Region in a locked Recycle Bin, and deploys no second trail there', () => {
    const bins = logicalIds(region, 'AWS::Rbin::Rule', () => true).map((id) => region.Resources[id].Properties ?? {});
    expect(bins.map((rule) => [rule.ResourceType, rule.LockConfiguration])).toEqual([
      ['EBS_SNAPSHOT', { UnlockDelayValue: 7, UnlockDelayUnit: 'DAYS' }],
    ]);
    // The vault's trail is multi-Region: it logs this Region's calls.
    expect(logicalIds(region, 'AWS::CloudTrail::Trail', () => true)).toEqual([]);
    const trails = logicalIds(vault, 'AWS::CloudTrail::Trail', () => true);
    expect(trails.map((id) => vault.Resources[id].Properties?.IsMultiRegionTrail)).toEqual([true]);
  });

  it('lets the vault Lambdas use that key only through the copy services of the second Region', () => {
    const onSecondKeys = policyStatements(vault).filter(
      (found) =>
        found.type === 'AWS::IAM::Policy' &&
        // The recovery role grants on the key itself, by alias (test/infra/recovery.test.ts).
        !found.logicalId.startsWith('Recovery') &&
        JSON.stringify(found.statement.Resource ?? '').includes(':kms:us-east-1:111111111111:key/*'),
    );
    expect(onSecondKeys.length).toBeGreaterThan(0);
    for (const found of onSecondKeys) {
      const { statement } = found;
      const via = conditionValues(statement, 'StringEquals', 'kms:ViaService');
      const alias = conditionValues(statement, 'StringEquals', 'kms:RequestAlias');
      if (actionsOf(statement).includes('kms:DescribeKey') && via.length === 0) {
        // Looked up by alias (the copiers find the key by its alias).
        expect(alias).toEqual(['alias/bunker-backup-data']);
      } else {
        // Used through the services only; the drills' restore also asks that the key carry the vault's alias.
        if (found.logicalId.startsWith('Drills')) {
          expect(conditionValues(statement, 'ForAnyValue:StringEquals', 'kms:ResourceAliases')).toEqual([
            'alias/bunker-backup-data',
          ]);
        }
        expect(via.sort()).toEqual(['ec2.us-east-1.amazonaws.com', 'rds.us-east-1.amazonaws.com']);
      }
    }
  });

  it('tells the Lambdas the second Region through their settings', () => {
    // intake, completion, sweep, the pruner (which deletes second-hop copies past their retention) and the
    // drills (which restore second-hop copies in their Region); the auditor judges first copies only and needs no
    // second Region, and the engine probe only asks a restored database for its greeting.
    const functions = Object.values(vault.Resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        !['bunker-audit', 'bunker-drill-probe'].includes(
          (r.Properties?.Environment as { Variables: Record<string, string> }).Variables.POWERTOOLS_SERVICE_NAME,
        ),
    );
    expect(functions).toHaveLength(5);
    for (const fn of functions) {
      expect(
        (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables.BUNKER_SECOND_REGION,
      ).toBe('us-east-1');
    }
  });
});
