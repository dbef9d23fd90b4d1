/**
 * The auditor in the templates: its role may assume the source accounts'
 * reader roles (and they trust it), it writes only audit records, it runs
 * every 15 minutes, the breaching and at-risk alarms of every enabled kind
 * act on the alerts topic, and the vault refuses to synthesize without an
 * alert address unless the configuration allows it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BunkerConfigInput } from '../../lib/config/schema';
import {
  actionsOf,
  asArray,
  conditionValues,
  flatten,
  logicalIds,
  policyStatements,
  referencedId,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, PAYMENTS, STOREFRONT, synthesize } from './support/synth';

const document: BunkerConfigInput = {
  ...baseDocument,
  artifacts: { rds: { enabled: true, rpoHours: 6 }, ebs: { enabled: true }, ssm: { enabled: true } },
};

/** Synthesizes and throws what synthesis threw: these tests assert on a clean synthesis only. */
function synthesizeClean(input: BunkerConfigInput) {
  const synthesized = synthesize(input);
  if (synthesized.synthError) throw synthesized.synthError;
  return synthesized;
}

let vault: TemplateJson;
/** Source templates by `account/region`. */
let sources: Map<string, TemplateJson>;
let auditRoleId: string;

beforeAll(() => {
  ({ vault, sources } = synthesizeClean(document));
  [auditRoleId] = logicalIds(vault, 'AWS::IAM::Role', (props) => props.RoleName === 'bunker-audit');
}, 120_000);

/** The statements of the policies attached to the audit role. */
const auditStatements = () =>
  policyStatements(vault).filter(
    (found) =>
      found.type === 'AWS::IAM::Policy' &&
      asArray(vault.Resources[found.logicalId].Properties?.Roles).some((role) => referencedId(role) === auditRoleId),
  );

describe('the audit function', () => {
  it('has a role named bunker-audit that may assume exactly the reader role of each source account', () => {
    expect(auditRoleId).toBeDefined();
    const assume = auditStatements().filter((found) => actionsOf(found.statement).includes('sts:AssumeRole'));
    expect(assume).toHaveLength(1);
    expect(asArray(assume[0].statement.Resource).map(flatten).sort()).toEqual([
      `arn:<AWS::Partition>:iam::${PAYMENTS}:role/bunker-reader`,
      `arn:<AWS::Partition>:iam::${STOREFRONT}:role/bunker-reader`,
    ]);
  });

  it('is trusted by every reader role, next to intake and the sweep', () => {
    const readers = [...sources.values()].flatMap((template) =>
      logicalIds(template, 'AWS::IAM::Role', (props) => props.RoleName === 'bunker-reader').map((id) => ({
        template,
        id,
      })),
    );
    // One reader role per account: in its first listed Region's stack.
    expect(readers).toHaveLength(2);
    for (const { template, id } of readers) {
      const trust = policyStatements(template).filter(
        (found) => found.logicalId === id && found.property === 'AssumeRolePolicyDocument',
      );
      expect(conditionValues(trust[0].statement, 'ArnEquals', 'aws:PrincipalArn')).toEqual([
        `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-intake`,
        `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-audit`,
        `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-sweep`,
        `arn:<AWS::Partition>:iam::${BACKUP}:role/bunker-operator`,
      ]);
    }
  });

  it('writes to the inventory only items whose key starts with audit:', () => {
    const writes = auditStatements().filter((found) =>
      actionsOf(found.statement).some((action) => /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(action)),
    );
    expect(writes.map((found) => actionsOf(found.statement))).toEqual([['dynamodb:PutItem']]);
    expect(conditionValues(writes[0].statement, 'ForAllValues:StringLike', 'dynamodb:LeadingKeys')).toEqual([
      'audit:*',
    ]);
  });

  it('publishes only to the alerts topic', () => {
    const [topic] = logicalIds(vault, 'AWS::SNS::Topic', (props) => props.TopicName === 'bunker-alerts');
    const publish = auditStatements().filter((found) => actionsOf(found.statement).includes('sns:Publish'));
    expect(publish.flatMap((found) => asArray(found.statement.Resource).map(referencedId))).toEqual([topic]);
  });

  it('runs every 15 minutes', () => {
    const [fn] = logicalIds(vault, 'AWS::Lambda::Function', (props) => flatten(props.Role).includes(auditRoleId));
    const rules = Object.values(vault.Resources).filter(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        asArray(r.Properties?.Targets as unknown[]).some((t) => flatten((t as { Arn: unknown }).Arn).includes(fn)),
    );
    expect(rules.map((rule) => rule.Properties?.ScheduleExpression)).toEqual(['rate(15 minutes)']);
  });
});

describe('the operator role (bunker status --operator)', () => {
  let operatorRoleId: string;
  beforeAll(() => {
    [operatorRoleId] = logicalIds(vault, 'AWS::IAM::Role', (props) => props.RoleName === 'bunker-operator');
  });
  const operatorStatements = () =>
    policyStatements(vault).filter(
      (found) =>
        (found.type === 'AWS::IAM::Policy' || found.type === 'AWS::IAM::ManagedPolicy') &&
        asArray(vault.Resources[found.logicalId].Properties?.Roles).some(
          (role) => referencedId(role) === operatorRoleId,
        ),
    );

  it('is trusted by the backup account alone, with no condition of its own', () => {
    const trust = policyStatements(vault).filter(
      (found) => found.logicalId === operatorRoleId && found.property === 'AssumeRolePolicyDocument',
    );
    expect(trust.map((found) => found.statement.Effect)).toEqual(['Allow']);
    expect(trust.map((found) => flatten((found.statement.Principal as { AWS: unknown }).AWS))).toEqual([
      `arn:<AWS::Partition>:iam::${BACKUP}:root`,
    ]);
    expect(actionsOf(trust[0].statement)).toEqual(['sts:AssumeRole']);
  });

  it('may write, delete or encrypt nothing: only reads, listings and AssumeRole', () => {
    const actions = operatorStatements().flatMap((found) => actionsOf(found.statement));
    expect(actions.sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'kms:Decrypt',
      'kms:DescribeKey',
      's3:ListBucket',
      's3:ListBucketVersions',
      'sts:AssumeRole',
    ]);
    expect(operatorStatements().every((found) => found.statement.Effect === 'Allow')).toBe(true);
  });

  it('decrypts with the inventory key only, and only through DynamoDB', () => {
    const [inventoryKey] = logicalIds(vault, 'AWS::KMS::Key', (props) =>
      String(props.Description).includes('encrypts the inventory table'),
    );
    const kms = operatorStatements().filter((found) => actionsOf(found.statement).some((a) => a.startsWith('kms:')));
    expect(kms).toHaveLength(1);
    expect(asArray(kms[0].statement.Resource).map(referencedId)).toEqual([inventoryKey]);
    expect(conditionValues(kms[0].statement, 'StringEquals', 'kms:ViaService')).toEqual([
      'dynamodb.eu-west-1.amazonaws.com',
    ]);
  });

  it("lists the vault bucket's keys but reads no value, and assumes exactly the reader roles", () => {
    const [bucket] = logicalIds(
      vault,
      'AWS::S3::Bucket',
      (props) => props.BucketName === `bunker-vault-${BACKUP}-eu-west-1`,
    );
    const s3 = operatorStatements().filter((found) => actionsOf(found.statement).some((a) => a.startsWith('s3:')));
    expect(s3.flatMap((found) => asArray(found.statement.Resource).map(flatten))).toEqual([`<${bucket}.Arn>`]);
    const assume = operatorStatements().filter((found) => actionsOf(found.statement).includes('sts:AssumeRole'));
    expect(assume.flatMap((found) => asArray(found.statement.Resource).map(flatten)).sort()).toEqual([
      `arn:<AWS::Partition>:iam::${PAYMENTS}:role/bunker-reader`,
      `arn:<AWS::Partition>:iam::${STOREFRONT}:role/bunker-reader`,
    ]);
  });

  it('reads only the inventory table and its indexes', () => {
    const [table] = logicalIds(vault, 'AWS::DynamoDB::Table', (props) => props.TableName === 'bunker-inventory');
    const reads = operatorStatements().filter((found) =>
      actionsOf(found.statement).some((a) => a.startsWith('dynamodb:')),
    );
    expect(reads.flatMap((found) => asArray(found.statement.Resource).map(flatten))).toEqual([
      `<${table}.Arn>`,
      `<${table}.Arn>/index/*`,
    ]);
  });
});

describe('the audit alarms', () => {
  it('alarm on breaching and at-risk resources of every enabled kind, with actions to the alerts topic', () => {
    const [topic] = logicalIds(vault, 'AWS::SNS::Topic', (props) => props.TopicName === 'bunker-alerts');
    const alarms = Object.values(vault.Resources)
      // The auditor's alarms; the pruner's (CopiesNotBunkers) is asserted in test/infra/retention.test.ts.
      .filter(
        (r) =>
          r.Type === 'AWS::CloudWatch::Alarm' &&
          r.Properties?.Namespace === 'Bunker' &&
          ['BreachingResources', 'AtRiskResources'].includes(r.Properties.MetricName as string),
      )
      .map((r) => r.Properties ?? {});
    expect(
      alarms.map((a) => `${a.MetricName as string} ${(a.Dimensions as { Value: string }[])[0].Value}`).sort(),
    ).toEqual([
      'AtRiskResources ebs-snapshot',
      'AtRiskResources rds-snapshot',
      'AtRiskResources ssm-parameter',
      'BreachingResources ebs-snapshot',
      'BreachingResources rds-snapshot',
      'BreachingResources ssm-parameter',
    ]);
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        Dimensions: [{ Name: 'Kind', Value: expect.any(String) }],
      });
      expect(asArray(alarm.AlarmActions).map(referencedId)).toEqual([topic]);
      expect(asArray(alarm.OKActions).map(referencedId)).toEqual([topic]);
    }
  });
});

describe('an alert address', () => {
  it('is required: the vault refuses to synthesize without one', () => {
    expect(() => synthesizeClean({ ...document, alerts: { emails: [] } })).toThrow(
      'alerts.emails: expected at least one e-mail address to tell when a backup is missing, late or failed; or set "alerts": { "allowNoEmail": true } to deploy with nobody e-mailed',
    );
  });

  it('may be left out when alerts.allowNoEmail says so', () => {
    const { vault: allowed } = synthesizeClean({ ...document, alerts: { emails: [], allowNoEmail: true } });
    expect(logicalIds(allowed, 'AWS::SNS::Subscription', (props) => props.Protocol === 'email')).toEqual([]);
    expect(logicalIds(allowed, 'AWS::SNS::Topic', (props) => props.TopicName === 'bunker-alerts')).toHaveLength(1);
  });
});
