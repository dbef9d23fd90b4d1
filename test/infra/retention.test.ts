/**
 * Who may delete a backup copy or a stored value, in the synthesized
 * templates: every policy of every stack (vault, its second Region, every
 * source) is walked, and the only principal allowed to delete a copy Bunker
 * made or a vault bucket version is the `<name>-retention` role, which only
 * the pruner runs as. The app is built with cdk-nag attached, as `make
 * synth` builds it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BunkerConfigInput } from '../../lib/config/schema';
import {
  actionsOf,
  asArray,
  conditionValues,
  type FoundStatement,
  flatten,
  logicalIds,
  policyStatements,
  principalsOf,
  referencedId,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, PAYMENTS, STOREFRONT, type Synthesized, synthesize } from './support/synth';

const everything: BunkerConfigInput = {
  ...baseDocument,
  artifacts: {
    rds: { enabled: true, retentionDays: 30, minCopies: 2 },
    aurora: { enabled: true },
    ebs: { enabled: true, retentionDays: 7 },
    ami: { enabled: true },
    ssm: { enabled: true, retentionDays: 60, minCopies: 3 },
    secrets: { enabled: true },
    dynamodb: { enabled: true },
  },
};

const copiesOnly: BunkerConfigInput = {
  ...everything,
  artifacts: { ebs: { enabled: true }, ami: { enabled: true } },
};

/** With a second Region (fewer kinds: every kind with a second Region outgrows the intake role's policy). */
const secondHop: BunkerConfigInput = {
  ...everything,
  backup: { account: BACKUP, region: 'eu-west-1', secondRegion: 'eu-north-1' },
  artifacts: { rds: { enabled: true }, ebs: { enabled: true } },
};

let all: Synthesized;
let copies: Synthesized;
let second: Synthesized;

beforeAll(() => {
  all = synthesize(everything);
  copies = synthesize(copiesOnly);
  second = synthesize(secondHop);
});

/** Actions that destroy a backup copy or a stored value, in the backup account. */
const DESTRUCTIVE = [
  'rds:DeleteDBSnapshot',
  'rds:DeleteDBClusterSnapshot',
  'ec2:DeleteSnapshot',
  'ec2:DeregisterImage',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
];

/** Whether an action pattern of a policy (`ec2:Delete*`, `*`) covers `action`. */
function covers(pattern: string, action: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');
  return regex.test(action);
}

const destructiveActions = (found: FoundStatement) =>
  DESTRUCTIVE.filter((action) => actionsOf(found.statement).some((pattern) => covers(pattern, action)));

const roleNamed = (template: TemplateJson, name: string) =>
  logicalIds(template, 'AWS::IAM::Role', (props) => props.RoleName === name)[0];

/** The roles an `AWS::IAM::Policy` is attached to, by logical id. */
const attachedRoles = (template: TemplateJson, policyId: string) =>
  asArray(template.Resources[policyId].Properties?.Roles).map(referencedId);

/** Every Allow statement granting a destructive action, with who holds it. */
function destructiveGrants(template: TemplateJson) {
  return policyStatements(template)
    .filter((found) => found.statement.Effect === 'Allow' && destructiveActions(found).length > 0)
    .map((found) => ({
      found,
      actions: destructiveActions(found),
      roles: found.type === 'AWS::IAM::Policy' ? attachedRoles(template, found.logicalId) : [],
    }));
}

describe('who may delete a copy or a stored value', () => {
  it('synthesizes with no unacknowledged cdk-nag finding', () => {
    for (const synthesized of [all, copies, second]) {
      expect(synthesized.synthError).toBeUndefined();
      const report = JSON.parse(synthesized.validationReport) as { pluginReports: { violations?: unknown[] }[] };
      expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
    }
  });

  it('in the vault stack, only the retention role holds a delete or deregister action, in an identity policy', () => {
    for (const synthesized of [all, copies, second]) {
      const retention = roleNamed(synthesized.vault, 'bunker-retention');
      expect(retention).toBeDefined();
      const grants = destructiveGrants(synthesized.vault);
      expect(grants.length).toBeGreaterThan(0);
      for (const grant of grants) {
        expect(grant.found.type, JSON.stringify(grant.found.statement)).toBe('AWS::IAM::Policy');
        expect(grant.roles, grant.found.logicalId).toEqual([retention]);
      }
    }
  });

  it("bounds the pruner's copy deletions to what Bunker made: the bunker:managed-by tag, and bunker-* RDS names", () => {
    const grants = destructiveGrants(all.vault).filter((grant) => !grant.actions.some((a) => a.startsWith('s3:')));
    const actions = grants.flatMap((grant) => grant.actions).sort();
    expect(actions).toEqual([
      'ec2:DeleteSnapshot',
      'ec2:DeleteSnapshot',
      'ec2:DeregisterImage',
      'rds:DeleteDBClusterSnapshot',
      'rds:DeleteDBSnapshot',
    ]);
    for (const { found } of grants) {
      expect(conditionValues(found.statement, 'StringEquals', 'aws:ResourceTag/bunker:managed-by')).toEqual(['bunker']);
      for (const resource of asArray(found.statement.Resource).map(flatten)) {
        if (resource.includes(':rds:'))
          expect(resource).toMatch(/^arn:<AWS::Partition>:rds:eu-west-1:111111111111:(cluster-)?snapshot:bunker-\*$/);
        else expect(resource).toMatch(/^arn:<AWS::Partition>:ec2:eu-west-1::(snapshot|image)\/\*$/);
      }
    }
  });

  it("reaches the second Region's copies too, under the same conditions", () => {
    const resources = destructiveGrants(second.vault)
      .filter((grant) => !grant.actions.some((action) => action.startsWith('s3:')))
      .flatMap((grant) => asArray(grant.found.statement.Resource).map(flatten));
    expect(resources.sort()).toEqual([
      'arn:<AWS::Partition>:ec2:eu-north-1::snapshot/*',
      'arn:<AWS::Partition>:ec2:eu-west-1::snapshot/*',
      'arn:<AWS::Partition>:rds:eu-north-1:111111111111:snapshot:bunker-*',
      'arn:<AWS::Partition>:rds:eu-west-1:111111111111:snapshot:bunker-*',
    ]);
  });

  it('no other stack of the backup account (the second Region) grants any delete action', () => {
    const template = second.templates.get('bunker-vault-eu-north-1') as TemplateJson;
    expect(template).toBeDefined();
    expect(destructiveGrants(template)).toEqual([]);
  });

  it('no source-account principal can delete in the backup account: source stacks delete only their own intermediates', () => {
    const sources = [...all.templates.entries()].filter(([name]) => name.startsWith('bunker-source-'));
    expect(sources).toHaveLength(3);
    for (const [name, template] of sources) {
      for (const grant of destructiveGrants(template)) {
        const statement = grant.found.statement;
        expect(grant.found.type, name).toBe('AWS::IAM::Policy');
        const resources = asArray(statement.Resource).map(flatten);
        for (const resource of resources) {
          expect(resource, name).not.toContain(BACKUP);
          if (resource.includes(':rds:')) expect(resource, name).toMatch(/:(cluster-)?snapshot:bunker-share-\*$/);
        }
        if (resources.some((resource) => resource.includes(':ec2:'))) {
          expect(conditionValues(statement, 'StringEquals', 'aws:ResourceTag/bunker:intermediate'), name).toEqual([
            'true',
          ]);
        }
      }
      // What a source stack may do in the backup account at all: publish to its intake topic, through the intake key.
      for (const found of policyStatements(template)) {
        if (
          !asArray(found.statement.Resource)
            .map(flatten)
            .some((resource) => resource.includes(BACKUP))
        )
          continue;
        for (const action of actionsOf(found.statement)) {
          expect(['sns:Publish', 'kms:GenerateDataKey*', 'kms:Decrypt'], `${name} ${action}`).toContain(action);
        }
      }
    }
  });

  it('no vault resource policy grants a source account anything destructive', () => {
    for (const found of policyStatements(all.vault)) {
      if (found.statement.Effect !== 'Allow' || found.type === 'AWS::IAM::Policy') continue;
      const fromSources = principalsOf(found.statement).some((p) => p.includes(PAYMENTS) || p.includes(STOREFRONT));
      if (fromSources) expect(destructiveActions(found), found.logicalId).toEqual([]);
    }
  });

  it('the vault bucket denies deletion, retention changes and legal holds to every principal but the retention role', () => {
    const [bucketId] = logicalIds(all.vault, 'AWS::S3::Bucket', (props) =>
      flatten(props.BucketName).startsWith('bunker-vault-'),
    );
    const [policyId] = logicalIds(
      all.vault,
      'AWS::S3::BucketPolicy',
      (props) => referencedId(props.Bucket) === bucketId,
    );
    const deny = policyStatements(all.vault)
      .filter((found) => found.logicalId === policyId)
      .map((found) => found.statement)
      .find((statement) => statement.Sid === 'OnlyTheRetentionRoleDeletes');
    expect(deny?.Effect).toBe('Deny');
    expect(principalsOf(deny as never)).toEqual(['*']);
    expect(actionsOf(deny as never)).toEqual([
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
    ]);
    expect(conditionValues(deny as never, 'ArnNotEquals', 'aws:PrincipalArn')).toEqual([
      'arn:<AWS::Partition>:iam::111111111111:role/bunker-retention',
    ]);
  });
});

describe('the pruner', () => {
  const prunerOf = (template: TemplateJson) => {
    const functions = logicalIds(
      template,
      'AWS::Lambda::Function',
      (props) =>
        flatten(
          (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
            ?.POWERTOOLS_SERVICE_NAME,
        ) === 'bunker-pruner',
    );
    expect(functions).toHaveLength(1);
    return { id: functions[0], props: template.Resources[functions[0]].Properties as Record<string, unknown> };
  };

  it('is the one function that runs as the retention role, trusted by Lambda only', () => {
    for (const synthesized of [all, copies]) {
      const role = roleNamed(synthesized.vault, 'bunker-retention');
      const { id } = prunerOf(synthesized.vault);
      const users = logicalIds(
        synthesized.vault,
        'AWS::Lambda::Function',
        (props) => referencedId(props.Role) === role,
      );
      expect(users).toEqual([id]);
      const trust = policyStatements(synthesized.vault).filter(
        (found) => found.logicalId === role && found.property === 'AssumeRolePolicyDocument',
      );
      expect(trust.map((found) => principalsOf(found.statement))).toEqual([['lambda.amazonaws.com']]);
    }
  });

  it('may list and delete the vault bucket versions, and read table manifests, and nothing else of the bucket', () => {
    const role = roleNamed(all.vault, 'bunker-retention');
    const grants = policyStatements(all.vault)
      .filter((found) => found.type === 'AWS::IAM::Policy' && attachedRoles(all.vault, found.logicalId).includes(role))
      .map((found) => found.statement)
      .filter((statement) => actionsOf(statement).some((action) => action.startsWith('s3:')))
      .map((statement) => ({ actions: actionsOf(statement), resources: asArray(statement.Resource).map(flatten) }));
    expect(grants).toEqual([
      {
        actions: ['s3:GetObject'],
        resources: ['arn:<AWS::Partition>:s3:::bunker-vault-111111111111-eu-west-1/dynamodb/*'],
      },
      { actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: ['<PulledVaultBucketC040D001.Arn>'] },
      {
        actions: ['s3:GetObjectRetention', 's3:GetObjectLegalHold', 's3:DeleteObject', 's3:DeleteObjectVersion'],
        resources: ['<PulledVaultBucketC040D001.Arn>/*'],
      },
    ]);
  });

  it('runs once a day', () => {
    const { id } = prunerOf(all.vault);
    const rules = logicalIds(all.vault, 'AWS::Events::Rule', (props) =>
      asArray(props.Targets as unknown[]).some((target) => referencedId((target as { Arn: unknown }).Arn) === id),
    );
    expect(rules.map((rule) => all.vault.Resources[rule].Properties?.ScheduleExpression)).toEqual(['rate(1 day)']);
  });

  it("carries each enabled kind's retention and minCopies, and the vault bucket only when a pulled kind is enabled", () => {
    const variables = (template: TemplateJson) =>
      (prunerOf(template).props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(JSON.parse(variables(all.vault).BUNKER_RETENTION as string)).toEqual({
      copies: {
        'rds-snapshot': { retentionDays: 30, minCopies: 2 },
        'aurora-cluster-snapshot': { retentionDays: 35, minCopies: 1 },
        'ebs-snapshot': { retentionDays: 7, minCopies: 1 },
        ami: { retentionDays: 35, minCopies: 1 },
      },
      values: { ssm: { retentionDays: 60, minCopies: 3 }, secrets: { retentionDays: 35, minCopies: 1 } },
      tables: { retentionDays: 35, minCopies: 1 },
      vaultBucket: 'bunker-vault-111111111111-eu-west-1',
    });
    expect(JSON.parse(variables(copies.vault).BUNKER_RETENTION as string)).toEqual({
      copies: {
        'ebs-snapshot': { retentionDays: 35, minCopies: 1 },
        ami: { retentionDays: 35, minCopies: 1 },
      },
      values: {},
    });
  });

  it('does not exist when no kind is enabled', () => {
    const none = synthesize({ ...copiesOnly, artifacts: {} });
    expect(roleNamed(none.vault, 'bunker-retention')).toBeUndefined();
    expect(destructiveGrants(none.vault)).toEqual([]);
  });
});
