/**
 * The reader role's listings for `bunker coverage`: metadata of every kind,
 * enabled or not, only in the registered Regions, and no action that reads
 * a value, an item or snapshot data.
 */
import { describe, expect, it } from 'vitest';
import { actionsOf, conditionValues, policyStatements } from './policy-walk';
import { baseDocument, PAYMENTS, STOREFRONT, synthesize } from './support/synth';

const COVERAGE = [
  'dynamodb:DescribeContinuousBackups',
  'dynamodb:DescribeTable',
  'dynamodb:ListTables',
  'dynamodb:ListTagsOfResource',
  'ec2:DescribeImages',
  'ec2:DescribeVolumes',
  'kms:ListAliases',
  'rds:DescribeDBClusters',
  'rds:DescribeDBInstances',
  'rds:DescribeOptionGroups',
  'secretsmanager:ListSecrets',
  'ssm:DescribeParameters',
  'tag:GetResources',
];

describe('the reader role for coverage', () => {
  it('lists every kind, in the registered Regions only, even with only a pulled kind enabled', () => {
    const synth = synthesize({ ...baseDocument, artifacts: { ssm: { enabled: true } } });
    for (const [key, regions] of [
      [`${PAYMENTS}/eu-west-1`, ['eu-west-1']],
      [`${STOREFRONT}/eu-central-1`, ['eu-central-1', 'eu-west-1']],
    ] as const) {
      const statements = policyStatements(synth.sources.get(key) as never).filter(({ logicalId }) =>
        logicalId.startsWith('ReaderPolicy'),
      );
      expect(
        statements.map(({ statement }) => actionsOf(statement).sort()),
        key,
      ).toEqual([COVERAGE]);
      expect(conditionValues(statements[0].statement, 'StringEquals', 'aws:RequestedRegion'), key).toEqual(regions);
      expect(statements[0].statement.Resource, key).toBe('*');
    }
  });

  it('keeps the copiers’ actions in a statement of their own, and grants nothing that reads data', () => {
    const synth = synthesize(baseDocument);
    const statements = policyStatements(synth.sources.get(`${PAYMENTS}/eu-west-1`) as never).filter(({ logicalId }) =>
      logicalId.startsWith('ReaderPolicy'),
    );
    expect(statements).toHaveLength(2);
    const all = statements.flatMap(({ statement }) => actionsOf(statement));
    // Each action once: what the copiers already list is not granted twice.
    expect(all).toHaveLength(new Set(all).size);
    expect(COVERAGE.filter((action) => !all.includes(action))).toEqual([]);
    expect(actionsOf(statements[1].statement).sort()).toEqual(
      COVERAGE.filter((action) => !['rds:DescribeDBInstances'].includes(action)),
    );
    for (const reads of ['ssm:GetParameter', 'secretsmanager:GetSecretValue', 'dynamodb:Scan', 'kms:Decrypt']) {
      expect(all.some((action) => action.startsWith(reads))).toBe(false);
    }
  });
});
