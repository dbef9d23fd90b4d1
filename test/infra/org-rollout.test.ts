/**
 * The organization-wide rollout on the templates: the org stack's StackSet
 * and org-reader role in the management account, the account-agnostic
 * source template it deploys, and what the vault admits of enrolled accounts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config/load';
import { describeOrganization } from '../../lib/config/schema';
import { ENROLLED_SOURCES_ENV } from '../../lambdas/adapters/audit/wiring';
import {
  actionsOf,
  flatten,
  policyStatements,
  principalIsAccount,
  principalsOf,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, type Synthesized, synthesize } from './support/synth';

const MANAGEMENT = '999999999999';
const PROD = 'ou-ab12-prod0001';
const DATA = 'ou-ab12-data0001';

const organizationDocument = {
  ...baseDocument,
  artifacts: { rds: { enabled: true }, ebs: { enabled: true }, ssm: { enabled: true } },
  organization: {
    id: 'o-a1b2c3d4e5',
    managementAccount: MANAGEMENT,
    units: [
      { id: PROD, regions: ['eu-west-1', 'eu-central-1'] },
      { id: DATA, regions: ['eu-west-1'] },
    ],
  },
};

const resourcesOf = (template: TemplateJson, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

describe('organizational units on the templates', () => {
  let synth: Synthesized;
  let org: TemplateJson;
  let sourceTemplate: TemplateJson & { Conditions?: Record<string, unknown> };

  beforeAll(() => {
    synth = synthesize(organizationDocument);
    const built = synth.built;
    if (!built.org) throw new Error('no org stack');
    org = JSON.parse(readFileSync(join(synth.outdir, built.org.templateFile), 'utf8')) as TemplateJson;
    sourceTemplate = JSON.parse(
      readFileSync(join(synth.outdir, built.org.template.templateFile), 'utf8'),
    ) as TemplateJson;
  });

  it('synthesizes the org stack and one asset stack per Region in the management account, cdk-nag clean', () => {
    expect(synth.synthError).toBeUndefined();
    expect(synth.built.org?.stackName).toBe('bunker-org');
    expect(synth.built.org?.account).toBe(MANAGEMENT);
    expect(synth.built.orgAssets.map((stack) => [stack.stackName, stack.account, stack.region])).toEqual([
      ['bunker-org-assets-eu-west-1', MANAGEMENT, 'eu-west-1'],
      ['bunker-org-assets-eu-central-1', MANAGEMENT, 'eu-central-1'],
    ]);
  });

  it('deploys a service-managed StackSet to each unit in its Regions, with auto-deployment', () => {
    const [[, stackSet]] = resourcesOf(org, 'AWS::CloudFormation::StackSet');
    expect(stackSet.Properties).toMatchObject({
      StackSetName: 'bunker-source',
      PermissionModel: 'SERVICE_MANAGED',
      CallAs: 'SELF',
      AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false },
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      StackInstancesGroup: [
        {
          DeploymentTargets: { AccountFilterType: 'NONE', OrganizationalUnitIds: [PROD] },
          Regions: ['eu-west-1', 'eu-central-1'],
        },
        { DeploymentTargets: { AccountFilterType: 'NONE', OrganizationalUnitIds: [DATA] }, Regions: ['eu-west-1'] },
      ],
    });
  });

  it("takes the account from AWS::AccountId in the source template: no account id of the config's sources is in it", () => {
    const text = JSON.stringify(sourceTemplate);
    expect(text).not.toContain('222222222222');
    expect(text).not.toContain('333333333333');
    const [[, agent]] = resourcesOf(sourceTemplate, 'AWS::Lambda::Function');
    const env = (agent.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.BUNKER_SOURCE_ACCOUNT).toEqual({ Ref: 'AWS::AccountId' });
    expect(flatten(env.BUNKER_INTAKE_TOPIC_ARN)).toBe(
      'arn:,<AWS::Partition>,:sns:eu-west-1:111111111111:bunker-intake-,<AWS::AccountId>'.replace(/,/g, ''),
    );
  });

  it('makes the reader and puller roles only in the roles Region (a condition on AWS::Region), and everything else everywhere', () => {
    expect(sourceTemplate.Conditions).toEqual({
      AccountWideRolesRegion: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] },
    });
    const conditioned = Object.entries(sourceTemplate.Resources)
      .filter(([, resource]) => (resource as { Condition?: string }).Condition === 'AccountWideRolesRegion')
      .map(([, resource]) => [resource.Type, flatten(resource.Properties?.RoleName ?? resource.Properties?.Roles)]);
    expect(conditioned.sort()).toEqual([
      ['AWS::IAM::Policy', '<PulledPullerRoleD2015614>'],
      ['AWS::IAM::Policy', '<ReaderRole6150FC74>'],
      ['AWS::IAM::Role', 'bunker-puller'],
      ['AWS::IAM::Role', 'bunker-reader'],
    ]);
    const roles = resourcesOf(sourceTemplate, 'AWS::IAM::Role').map(([, role]) => flatten(role.Properties?.RoleName));
    expect(roles.sort()).toEqual(['bunker-puller', 'bunker-reader', 'bunker-source-agent-<AWS::Region>']);
  });

  it('grants the backup account nothing to write in the source template: reading, decrypting through the copy services, publishing receipts', () => {
    const granted = policyStatements(sourceTemplate)
      .filter(({ statement }) => statement.Effect === 'Allow')
      .filter(({ statement }) => principalsOf(statement).some((p) => principalIsAccount(p, BACKUP)))
      .flatMap(({ statement }) => actionsOf(statement));
    expect([...new Set(granted)].sort()).toEqual([
      'kms:CreateGrant',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:GenerateDataKey*',
      'sns:Publish',
      'sts:AssumeRole',
    ]);
    const publish = policyStatements(sourceTemplate).filter(
      ({ statement }) =>
        actionsOf(statement).includes('sns:Publish') &&
        principalsOf(statement).some((p) => principalIsAccount(p, BACKUP)),
    );
    expect(publish.filter(({ statement }) => statement.Effect === 'Allow').map(({ logicalId }) => logicalId)).toEqual([
      expect.stringMatching(/^ReceiptsTopicPolicy/),
    ]);
  });

  it('lets the org-reader role list and describe only, assumed by the enrolment role of the backup account only', () => {
    const [[, role]] = resourcesOf(org, 'AWS::IAM::Role').filter(([id]) => id.startsWith('OrgReaderRole'));
    expect(role.Properties?.RoleName).toBe('bunker-org-reader');
    const trust = (role.Properties?.AssumeRolePolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
    expect(
      trust.map((s) => flatten((s.Condition as { ArnEquals: Record<string, unknown> }).ArnEquals['aws:PrincipalArn'])),
    ).toEqual(['arn:<AWS::Partition>:iam::111111111111:role/bunker-enrolment']);
    const actions = policyStatements(org)
      .filter(({ logicalId }) => logicalId.startsWith('OrgReaderPolicy'))
      .flatMap(({ statement }) => actionsOf(statement));
    expect(actions).toEqual([
      'organizations:DescribeAccount',
      'organizations:ListAccountsForParent',
      'organizations:ListChildren',
      'organizations:ListParents',
    ]);
  });

  it('lets the enrolment role create and configure topics named bunker-intake-* of the backup account and Region only', () => {
    const statements = policyStatements(synth.vault).filter(({ logicalId }) =>
      logicalId.startsWith('EnrolmentRoleDefaultPolicy'),
    );
    const sns = statements.filter(({ statement }) => actionsOf(statement).some((a) => a.startsWith('sns:')));
    expect(sns.map(({ statement }) => [actionsOf(statement), flatten(statement.Resource)])).toEqual([
      [
        ['sns:CreateTopic', 'sns:SetTopicAttributes', 'sns:Subscribe', 'sns:TagResource'],
        'arn:<AWS::Partition>:sns:eu-west-1:111111111111:bunker-intake-*',
      ],
    ]);
    const assume = statements.filter(({ statement }) => actionsOf(statement).includes('sts:AssumeRole'));
    expect(assume.map(({ statement }) => flatten(statement.Resource))).toEqual([
      'arn:<AWS::Partition>:iam::999999999999:role/bunker-org-reader',
    ]);
  });

  it('admits enrolled topics on the intake queue, its dead-letter queue and the intake key by name, in the backup account', () => {
    const pattern = 'arn:<AWS::Partition>:sns:eu-west-1:111111111111:bunker-intake-*';
    const sourceArnLike = policyStatements(synth.vault)
      .filter(({ logicalId }) => logicalId.startsWith('Intake'))
      .filter(
        ({ statement }) => (statement.Condition as { ArnLike?: Record<string, unknown> })?.ArnLike?.['aws:SourceArn'],
      )
      .map(({ logicalId, statement }) => [
        logicalId.replace(/[0-9A-F]{8}$/, ''),
        flatten((statement.Condition as { ArnLike: Record<string, unknown> }).ArnLike['aws:SourceArn']),
      ]);
    expect(sourceArnLike.sort()).toEqual([
      ['IntakeDeadLetterQueuePolicy', pattern],
      ['IntakeKey', pattern],
      ['IntakeQueuePolicy', pattern],
    ]);
  });

  it("lets only the organization's Bunker source agents use the intake key, only through SNS, never anyone else", () => {
    const open = policyStatements(synth.vault).filter(
      ({ statement }) => statement.Effect === 'Allow' && principalsOf(statement).includes('*'),
    );
    expect(open.map(({ logicalId, statement }) => [logicalId.replace(/[0-9A-F]{8}$/, ''), statement.Sid])).toEqual([
      ['IntakeKey', 'OrganizationSourceAgentsPublishThroughSns'],
    ]);
    expect(open[0].statement.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'sns.eu-west-1.amazonaws.com', 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' },
      ArnLike: {
        'aws:PrincipalArn': {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::*:role/bunker-source-agent-*']],
        },
      },
    });
  });

  /** `[resource, condition]` of each sts:AssumeRole statement of a role's default policy. */
  const assumed = (policyPrefix: string) =>
    policyStatements(synth.vault)
      .filter(({ logicalId }) => logicalId.startsWith(policyPrefix))
      .filter(({ statement }) => actionsOf(statement).includes('sts:AssumeRole'))
      .map(({ statement }) => [flatten(statement.Resource), statement.Condition]);

  it("lets the audit role assume the listed sources' reader roles, and any account's of the organization only", () => {
    expect(assumed('AuditRoleDefaultPolicy')).toEqual([
      [
        'arn:<AWS::Partition>:iam::222222222222:role/bunker-reader,arn:<AWS::Partition>:iam::333333333333:role/bunker-reader',
        undefined,
      ],
      ['arn:<AWS::Partition>:iam::*:role/bunker-reader', { StringEquals: { 'aws:ResourceOrgID': 'o-a1b2c3d4e5' } }],
    ]);
    const audit = resourcesOf(synth.vault, 'AWS::Lambda::Function')
      .map(([, fn]) => (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables)
      .filter((variables) => variables.POWERTOOLS_SERVICE_NAME === 'bunker-audit');
    expect(audit.map((env) => env[ENROLLED_SOURCES_ENV])).toEqual(['true']);
  });

  it("lets the pull role assume the listed sources' puller roles, any account's of the organization only, and scan for enrolments", () => {
    expect(assumed('PulledPullRoleDefaultPolicy')).toEqual([
      [
        'arn:<AWS::Partition>:iam::222222222222:role/bunker-puller,arn:<AWS::Partition>:iam::333333333333:role/bunker-puller',
        undefined,
      ],
      ['arn:<AWS::Partition>:iam::*:role/bunker-puller', { StringEquals: { 'aws:ResourceOrgID': 'o-a1b2c3d4e5' } }],
    ]);
    const scans = policyStatements(synth.vault)
      .filter(({ logicalId }) => logicalId.startsWith('PulledPullRoleDefaultPolicy'))
      .filter(({ statement }) => actionsOf(statement).includes('dynamodb:Scan'))
      .map(({ statement }) => [actionsOf(statement), flatten(statement.Resource)]);
    expect(scans).toEqual([
      [['dynamodb:Scan'], 'arn:<AWS::Partition>:dynamodb:eu-west-1:111111111111:table/bunker-inventory'],
    ]);
  });

  it('queues one fan-out job per pulled kind for the enrolled accounts, on the pull queue at the kind rate', () => {
    const fanOut = resourcesOf(synth.vault, 'AWS::Events::Rule')
      .filter(([id]) => id.startsWith('PulledFanOut'))
      .map(([, rule]) => {
        const [target] = rule.Properties?.Targets as { Arn: unknown; Input: string }[];
        return [rule.Properties?.Name, rule.Properties?.ScheduleExpression, flatten(target.Arn), target.Input];
      });
    expect(fanOut).toEqual([
      [
        'bunker-pull-ssm-enrolled',
        'rate(12 hours)',
        expect.stringMatching(/^<PulledPullQueue[0-9A-F]{8}\.Arn>$/),
        '{"kind":"ssm","fanOut":true}',
      ],
    ]);
  });
});

describe('organization in the configuration', () => {
  it('refuses a unit without the roles Region and a management account that is the backup account', () => {
    const bad = {
      ...organizationDocument,
      organization: {
        ...organizationDocument.organization,
        managementAccount: BACKUP,
        units: [
          { id: PROD, regions: ['eu-west-1'] },
          { id: DATA, regions: ['us-east-1'] },
        ],
      },
    };
    let error: unknown;
    try {
      parseConfig(bad, 'test config');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = String((error as Error).message);
    expect(message).toContain('organization.units[1].regions');
    expect(message).toContain("expected eu-west-1 among the Regions: the first unit's first Region holds");
    expect(message).toContain('organization.managementAccount');
  });

  it('is described in one line for config validate', () => {
    expect(describeOrganization(parseConfig(organizationDocument, 'test config'))).toBe(
      'organization o-a1b2c3d4e5: StackSet bunker-source from management account 999999999999 to 2 unit(s) and their child units: ou-ab12-prod0001 (eu-west-1, eu-central-1), ou-ab12-data0001 (eu-west-1); account-wide roles in eu-west-1; the vault enrols their accounts every hour.',
    );
    expect(describeOrganization(parseConfig(baseDocument, 'test config'))).toBeUndefined();
  });
});
