/**
 * What `bunker recover` relies on in the synthesized templates: the
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
  logicalIds,
  policyStatements,
  principalsOf,
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
