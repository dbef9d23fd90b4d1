/**
 * The sweep's right to list what the sources share with the backup account
 * (takeInShared), on the synthesized vault template: the enabled kinds'
 * listing actions, only in the registered source Regions, for the sweep
 * role alone.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  asArray,
  conditionValues,
  flatten,
  logicalIds,
  policyStatements,
  referencedId,
  type Statement,
  type TemplateJson,
} from './policy-walk';
import { baseDocument, synthesize } from './support/synth';

/** The statements of the identity policies attached to the role named `name`. */
function roleStatements(template: TemplateJson, name: string): Statement[] {
  const [roleId] = logicalIds(template, 'AWS::IAM::Role', (props) => props.RoleName === name);
  expect(roleId, name).toBeDefined();
  const policies = new Set(
    logicalIds(template, 'AWS::IAM::Policy', (props) =>
      asArray(props.Roles).some((role) => referencedId(role) === roleId),
    ),
  );
  return policyStatements(template)
    .filter((found) => policies.has(found.logicalId) || (found.logicalId === roleId && found.property === 'Policies'))
    .map((found) => found.statement);
}

const LISTING = [
  'ec2:DescribeImages',
  'ec2:DescribeSnapshots',
  'rds:DescribeDBClusterSnapshots',
  'rds:DescribeDBSnapshots',
];

/**
 * The statements that grant a listing of snapshots or images held to the source Regions: the sweep's. (EC2's
 * describes of the vault's own copies are on "*" too, for every vault role, with no Region condition.)
 */
const listings = (statements: Statement[]) =>
  statements.filter(
    (s) =>
      actionsOf(s).some((action) => LISTING.includes(action)) &&
      conditionValues(s, 'StringEquals', 'aws:RequestedRegion').length > 0,
  );

describe('the sweep role lists shared artifacts in the source Regions', () => {
  let vault: TemplateJson;

  beforeAll(() => {
    vault = synthesize({
      ...baseDocument,
      artifacts: { rds: { enabled: true }, aurora: { enabled: true }, ebs: { enabled: true }, ami: { enabled: true } },
    }).vault;
  });

  it('grants the listing actions of every enabled kind, on "*", only in the registered source Regions', () => {
    const [listing, ...others] = listings(roleStatements(vault, 'bunker-sweep'));
    expect(others).toEqual([]);
    expect(listing.Effect).toBe('Allow');
    expect([...actionsOf(listing)].sort()).toEqual(LISTING);
    expect(listing.Resource).toBe('*');
    expect(conditionValues(listing, 'StringEquals', 'aws:RequestedRegion').sort()).toEqual([
      'eu-central-1',
      'eu-west-1',
    ]);
  });

  it('may read the sources through their reader roles, as intake does, to check what it lists', () => {
    const assumes = roleStatements(vault, 'bunker-sweep').filter((s) => actionsOf(s).includes('sts:AssumeRole'));
    expect(assumes.flatMap((s) => asArray(s.Resource).map(flatten))).toEqual([
      'arn:<AWS::Partition>:iam::222222222222:role/bunker-reader',
      'arn:<AWS::Partition>:iam::333333333333:role/bunker-reader',
    ]);
  });

  it('gives no other vault role the listing', () => {
    for (const role of ['bunker-intake', 'bunker-completion']) {
      expect(listings(roleStatements(vault, role)), role).toEqual([]);
    }
  });
});
