/**
 * The reader role's listings for `bunker coverage`: metadata of every kind,
 * enabled or not, in every Region (a Region not registered is what coverage
 * looks for), the copiers' own reads held to the registered Regions, and no
 * action that reads a value, an item or snapshot data; the puller's value
 * reads stay in the registered Regions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, conditionValues, policyStatements, type FoundStatement, type TemplateJson } from './policy-walk';
import { baseDocument, PAYMENTS, STOREFRONT, type Synthesized, synthesize } from './support/synth';

const COVERAGE = [
  'dynamodb:DescribeContinuousBackups',
  'dynamodb:DescribeTable',
  'dynamodb:ListTables',
  'dynamodb:ListTagsOfResource',
  'ec2:DescribeImages',
  'ec2:DescribeRegions',
  'ec2:DescribeSnapshots',
  'ec2:DescribeVolumes',
  'kms:ListAliases',
  'rds:DescribeDBClusters',
  'rds:DescribeDBInstances',
  'rds:DescribeOptionGroups',
  'secretsmanager:ListSecrets',
  'ssm:DescribeParameters',
  'tag:GetResources',
];

const readerStatements = (template: TemplateJson): FoundStatement[] =>
  policyStatements(template).filter(({ logicalId }) => logicalId.startsWith('ReaderPolicy'));

describe('the reader role for coverage', () => {
  /** Snapshot kinds whose copiers read more than coverage lists, and every pulled kind. */
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesize({
      ...baseDocument,
      artifacts: {
        rds: { enabled: true },
        ami: { enabled: true },
        ssm: { enabled: true },
        secrets: { enabled: true },
        dynamodb: { enabled: true },
      },
    });
  });

  it('lists every kind in every Region, even with only a pulled kind enabled', () => {
    const ssmOnly = synthesize({ ...baseDocument, artifacts: { ssm: { enabled: true } } });
    for (const key of [`${PAYMENTS}/eu-west-1`, `${STOREFRONT}/eu-central-1`]) {
      const statements = readerStatements(ssmOnly.sources.get(key) as TemplateJson);
      expect(
        statements.map(({ statement }) => [statement.Sid, actionsOf(statement).sort()]),
        key,
      ).toEqual([['ListMetadataInEveryRegion', COVERAGE]]);
      expect(statements[0].statement.Condition, key).toBeUndefined();
      expect(statements[0].statement.Resource, key).toBe('*');
    }
  });

  it('holds the copiers’ own reads to the registered Regions, and grants nothing that reads data', () => {
    for (const [key, regions] of [
      [`${PAYMENTS}/eu-west-1`, ['eu-west-1']],
      [`${STOREFRONT}/eu-central-1`, ['eu-central-1', 'eu-west-1']],
    ] as const) {
      const statements = readerStatements(synth.sources.get(key) as TemplateJson);
      expect(
        statements.map(({ statement }) => statement.Sid),
        key,
      ).toEqual(['ListMetadataInEveryRegion', 'CopierReadsInRegisteredRegions']);
      const [everywhere, registered] = statements.map(({ statement }) => statement);
      expect(everywhere.Condition, key).toBeUndefined();
      expect(actionsOf(everywhere).sort(), key).toEqual(COVERAGE);
      // What the RDS and AMI copiers read beyond coverage's listings (each action granted once).
      expect(actionsOf(registered).sort(), key).toEqual([
        'ec2:DescribeImageAttribute',
        'ec2:DescribeSnapshotAttribute',
        'ec2:DescribeTags',
        'rds:DescribeDBSnapshotAttributes',
        'rds:DescribeDBSnapshots',
        'rds:ListTagsForResource',
      ]);
      expect(conditionValues(registered, 'StringEquals', 'aws:RequestedRegion'), key).toEqual(regions);
      expect(Object.keys(registered.Condition ?? {}), key).toEqual(['StringEquals']);
      const all = statements.flatMap(({ statement }) => actionsOf(statement));
      for (const reads of ['ssm:GetParameter', 'secretsmanager:GetSecretValue', 'dynamodb:Scan', 'dynamodb:Export']) {
        expect(all.some((action) => action.startsWith(reads))).toBe(false);
      }
      expect(all.some((action) => action.startsWith('kms:') && action !== 'kms:ListAliases')).toBe(false);
    }
  });

  it('keeps the puller’s reads of values, items and exports in the registered Regions', () => {
    const key = `${STOREFRONT}/eu-central-1`;
    const puller = policyStatements(synth.sources.get(key) as TemplateJson).filter(
      ({ type, statement }) =>
        type === 'AWS::IAM::Policy' &&
        actionsOf(statement).some((a) => /^(ssm:GetParameter|secretsmanager:GetSecretValue|dynamodb:Scan)/.test(a)),
    );
    expect(puller.map(({ statement }) => statement.Sid).sort()).toEqual([
      'ReadParametersInScope',
      'ReadSecretsInScope',
      'ReadTablesInScope',
    ]);
    for (const { statement } of puller) {
      expect(conditionValues(statement, 'StringEquals', 'aws:RequestedRegion'), statement.Sid).toEqual([
        'eu-central-1',
        'eu-west-1',
      ]);
    }
    const decrypt = policyStatements(synth.sources.get(key) as TemplateJson).find(
      ({ statement }) => statement.Sid === 'DecryptThroughThePulledServices',
    );
    expect(conditionValues(decrypt?.statement as never, 'StringEquals', 'kms:ViaService').sort()).toEqual([
      'dynamodb.eu-central-1.amazonaws.com',
      'dynamodb.eu-west-1.amazonaws.com',
      'secretsmanager.eu-central-1.amazonaws.com',
      'secretsmanager.eu-west-1.amazonaws.com',
      'ssm.eu-central-1.amazonaws.com',
      'ssm.eu-west-1.amazonaws.com',
    ]);
  });
});
