/**
 * `backup.secondRegion` on the templates: a stack in the backup account's
 * second Region holds a backup-data key only the backup account may use,
 * and the vault Lambdas may use it only through that Region's copy services.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BunkerApp } from '../../lib/app';
import { parseConfig } from '../../lib/config/load';
import { actionsOf, conditionValues, policyStatements, principalsOf, type TemplateJson } from './policy-walk';

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
    const keys = Object.entries(region.Resources).filter(([, r]) => r.Type === 'AWS::KMS::Key');
    const aliases = Object.values(region.Resources).filter((r) => r.Type === 'AWS::KMS::Alias');
    expect(keys).toHaveLength(1);
    expect(aliases.map((a) => a.Properties?.AliasName)).toEqual(['alias/bunker-backup-data']);
    const [[keyId, key]] = keys;
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.Properties?.EnableKeyRotation).toBe(true);
    const principals = policyStatements(region)
      .filter((found) => found.logicalId === keyId)
      .flatMap((found) => principalsOf(found.statement));
    expect(new Set(principals)).toEqual(new Set([`arn:<AWS::Partition>:iam::${BACKUP}:root`]));
  });

  it('lets the vault Lambdas use that key only through the copy services of the second Region', () => {
    const onSecondKeys = policyStatements(vault).filter(
      (found) =>
        found.type === 'AWS::IAM::Policy' &&
        JSON.stringify(found.statement.Resource ?? '').includes(':kms:us-east-1:111111111111:key/*'),
    );
    expect(onSecondKeys.length).toBeGreaterThan(0);
    for (const { statement } of onSecondKeys) {
      const via = conditionValues(statement, 'StringEquals', 'kms:ViaService');
      const alias = conditionValues(statement, 'StringEquals', 'kms:RequestAlias');
      if (actionsOf(statement).includes('kms:DescribeKey')) {
        expect(alias).toEqual(['alias/bunker-backup-data']);
      } else {
        expect(via.sort()).toEqual(['ec2.us-east-1.amazonaws.com', 'rds.us-east-1.amazonaws.com']);
      }
    }
  });

  it('tells the Lambdas the second Region through their settings', () => {
    // intake, completion, sweep and the pruner (which deletes second-hop copies past their retention);
    // the auditor judges first copies only and needs no second Region.
    const functions = Object.values(vault.Resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        (r.Properties?.Environment as { Variables: Record<string, unknown> }).Variables.POWERTOOLS_SERVICE_NAME !==
          'bunker-audit',
    );
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      expect(
        (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables.BUNKER_SECOND_REGION,
      ).toBe('us-east-1');
    }
  });
});
