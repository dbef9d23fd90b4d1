/**
 * What `bunker recover` relies on in the synthesized templates: the
 * `<name>-recovery` role it acts through (trusted by the backup account's
 * IAM users under their own user name only, exactly the rights recover
 * needs, nothing deleted), and the
 * backup-data keys (the vault Region's and the second Region's) let the
 * backup account's own IAM decide who may create and revoke grants, and no
 * Deny in their policies would defeat a grant to the recovery account (an
 * explicit Deny in a key policy wins over any grant). The keys' policies
 * still name no other account: the recovery account's right exists only as
 * a grant, listed and revoked by `bunker recover`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  asArray,
  flatten,
  logicalIds,
  policyStatements,
  principalsOf,
  referencedId,
  type Statement,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, PAYMENTS, STOREFRONT, type Synthesized, synthesize } from './support/synth';

let synthesized: Synthesized;

beforeAll(() => {
  synthesized = synthesize({
    ...baseDocument,
    backup: { account: BACKUP, region: 'eu-west-1', secondRegion: 'us-east-1' },
  });
});

/** The key policy of the key behind `alias` in `template`. */
function backupKeyPolicy(template: TemplateJson): Statement[] {
  const [aliasId] = logicalIds(template, 'AWS::KMS::Alias', (props) => props.AliasName === 'alias/bunker-backup-data');
  expect(aliasId).toBeDefined();
  const target = template.Resources[aliasId].Properties?.TargetKeyId as { 'Fn::GetAtt': [string, string] };
  return policyStatements(template)
    .filter((found) => found.logicalId === target['Fn::GetAtt'][0] && found.property === 'KeyPolicy')
    .map((found) => found.statement);
}

/** What a grant for a cross-account copy lets its grantee do ({@link GRANT_OPERATIONS}). */
const GRANTED = ['kms:Decrypt', 'kms:DescribeKey', 'kms:CreateGrant'];

const denies = (statement: Statement, action: string) =>
  statement.Effect === 'Deny' &&
  actionsOf(statement).some(
    (a) => a === action || a === 'kms:*' || a === '*' || (a.endsWith('*') && action.startsWith(a.slice(0, -1))),
  );

describe('the backup-data keys and a recovery grant', () => {
  const templates = () =>
    [
      ['vault Region', synthesized.vault],
      ['second Region', synthesized.templates.get('bunker-vault-us-east-1') as TemplateJson],
    ] as const;

  it.each(['vault Region', 'second Region'])(
    'the %s key denies none of the operations a recovery grant gives',
    (where) => {
      const [, template] = templates().find(([name]) => name === where) ?? [];
      const policy = backupKeyPolicy(template as TemplateJson);

      expect(policy.length).toBeGreaterThan(0);
      for (const action of GRANTED) expect(policy.filter((s) => denies(s, action)).map((s) => s.Sid)).toEqual([]);
    },
  );

  it.each(['vault Region', 'second Region'])(
    'the %s key leaves grants to the backup account IAM and names no other account',
    (where) => {
      const [, template] = templates().find(([name]) => name === where) ?? [];
      const policy = backupKeyPolicy(template as TemplateJson);
      const principals = policy.filter((s) => s.Effect === 'Allow').flatMap(principalsOf);

      expect(
        policy.some(
          (s) =>
            s.Effect === 'Allow' && actionsOf(s).includes('kms:*') && principalsOf(s).some((p) => p.includes(':root')),
        ),
      ).toBe(true);
      expect(principals.filter((p) => p.includes(PAYMENTS) || p.includes(STOREFRONT))).toEqual([]);
    },
  );
});

/** The statements of the policies attached to the role named `name` in the vault template, by Sid. */
function rolePolicy(template: TemplateJson, roleId: string): Record<string, Statement> {
  const statements = policyStatements(template).filter(
    (found) =>
      found.type === 'AWS::IAM::Policy' &&
      asArray(template.Resources[found.logicalId].Properties?.Roles).some((r) => referencedId(r) === roleId),
  );
  return Object.fromEntries(statements.map((found) => [found.statement.Sid ?? '', found.statement]));
}

describe('the recovery role', () => {
  const role = () => {
    const [roleId] = logicalIds(synthesized.vault, 'AWS::IAM::Role', (props) => props.RoleName === 'bunker-recovery');
    expect(roleId).toBeDefined();
    return { roleId, props: synthesized.vault.Resources[roleId].Properties ?? {} };
  };

  it('is trusted by the backup account’s IAM users only, each under their own user name as the session name', () => {
    const { props } = role();
    const trust = props.AssumeRolePolicyDocument as { Statement: Statement[] };

    expect(trust.Statement).toHaveLength(1);
    const [statement] = trust.Statement;
    expect(statement.Effect).toBe('Allow');
    expect(actionsOf(statement)).toEqual(['sts:AssumeRole']);
    expect(principalsOf(statement).map((p) => p.replace('<AWS::Partition>', 'aws'))).toEqual([
      `arn:aws:iam::${BACKUP}:root`,
    ]);
    expect(statement.Condition).toEqual({
      StringEquals: { 'sts:RoleSessionName': '${aws:username}', 'aws:PrincipalType': 'User' },
    });
    expect(props.MaxSessionDuration).toBe(3600);
  });

  it('may do exactly what recover needs, each on its own resources', () => {
    const policy = rolePolicy(synthesized.vault, role().roleId);
    const shape = Object.fromEntries(
      Object.entries(policy).map(([sid, s]) => [
        sid,
        { actions: actionsOf(s), resources: asArray(s.Resource).map(flatten) },
      ]),
    );
    const regions = ['eu-west-1', 'us-east-1'];

    expect(Object.values(policy).every((s) => s.Effect === 'Allow')).toBe(true);
    expect(shape).toEqual({
      ReadTheCopyRecords: {
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'],
        resources: [
          expect.stringMatching(/^<Inventory.*\.Arn>$/),
          expect.stringMatching(/^<Inventory.*\.Arn>\/index\/\*$/),
        ],
      },
      WriteRecoveryItemsOnly: {
        actions: ['dynamodb:PutItem'],
        resources: [expect.stringMatching(/^<Inventory.*\.Arn>$/)],
      },
      InventoryKeyThroughDynamoDbOnly: {
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [expect.stringMatching(/^<InventoryKey.*\.Arn>$/)],
      },
      ShareTheVaultsRdsCopies: {
        actions: ['rds:ModifyDBSnapshotAttribute'],
        resources: regions.map((r) => `arn:<AWS::Partition>:rds:${r}:${BACKUP}:snapshot:bunker-*`),
      },
      ShareTheVaultsAuroraCopies: {
        actions: ['rds:ModifyDBClusterSnapshotAttribute'],
        resources: regions.map((r) => `arn:<AWS::Partition>:rds:${r}:${BACKUP}:cluster-snapshot:bunker-*`),
      },
      ShareTheVaultsEc2Copies: {
        actions: ['ec2:ModifySnapshotAttribute', 'ec2:ModifyImageAttribute'],
        resources: regions.flatMap((r) => [
          `arn:<AWS::Partition>:ec2:${r}::snapshot/*`,
          `arn:<AWS::Partition>:ec2:${r}::image/*`,
        ]),
      },
      GrantTheCopyOperationsOnTheBackupDataKeys: {
        actions: ['kms:CreateGrant'],
        resources: regions.map((r) => `arn:<AWS::Partition>:kms:${r}:${BACKUP}:key/*`),
      },
      ListAndRevokeGrantsOnTheBackupDataKeys: {
        actions: ['kms:ListGrants', 'kms:RevokeGrant', 'kms:DescribeKey'],
        resources: regions.map((r) => `arn:<AWS::Partition>:kms:${r}:${BACKUP}:key/*`),
      },
      TellTheAlertsTopic: { actions: ['sns:Publish'], resources: [expect.stringMatching(/^<AlertsTopic.*>$/)] },
      AlertsKeyThroughSnsOnly: {
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: [expect.stringMatching(/^<AlertsKey.*\.Arn>$/)],
      },
    });
  });

  it('writes recovery items only, grants only the copy operations, on the backup-data keys only, and shares only Bunker’s EC2 copies', () => {
    const policy = rolePolicy(synthesized.vault, role().roleId);
    const backupKey = { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/bunker-backup-data'] } };

    expect(policy.WriteRecoveryItemsOnly.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['recovery:*'] },
    });
    expect(policy.GrantTheCopyOperationsOnTheBackupDataKeys.Condition).toEqual({
      ...backupKey,
      'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'DescribeKey', 'CreateGrant'] },
      Null: { 'kms:GrantOperations': 'false' },
    });
    expect(policy.ListAndRevokeGrantsOnTheBackupDataKeys.Condition).toEqual(backupKey);
    expect(policy.ShareTheVaultsEc2Copies.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/bunker:managed-by': 'bunker' },
    });
    expect(policy.InventoryKeyThroughDynamoDbOnly.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' },
    });
    expect(policy.AlertsKeyThroughSnsOnly.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'sns.eu-west-1.amazonaws.com' },
    });
  });

  it('may delete nothing, and synthesizes without an unacknowledged cdk-nag finding', () => {
    const actions = Object.values(rolePolicy(synthesized.vault, role().roleId)).flatMap(actionsOf);

    expect(actions.filter((a) => /Delete|Deregister|Remove|Update|Lock|\*$/.test(a))).toEqual(['kms:GenerateDataKey*']);
    expect(synthesized.synthError).toBeUndefined();
  });
});
