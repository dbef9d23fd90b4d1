/**
 * Restore drills in the vault template: an isolated network with no way
 * out, a drill role that may make and delete only what is recognisably a
 * drill's and use the backup-data key only through the restoring services,
 * a state machine that runs the drills of a plan a few at a time, the
 * schedules, and the alarms on drills that fail, go stale or stop being
 * checked. cdk-nag clean with every kind enabled. With a second Region, its
 * stack has a place of its own and the drill role the same narrow rights
 * there.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BunkerConfigInput } from '../../lib/config/schema';
import {
  actionsOf,
  asArray,
  type CfnResourceJson,
  flatten,
  type FoundStatement,
  logicalIds,
  policyStatements,
  referencedId,
  type TemplateJson,
} from './policy-walk';
import { BACKUP, baseDocument, type Synthesized, synthesize } from './support/synth';
import { maxTargetMinutes, worstDrillEvents } from '../../lib/constructs/drills';

const document: BunkerConfigInput = {
  ...baseDocument,
  artifacts: {
    rds: { enabled: true },
    aurora: { enabled: true },
    ebs: { enabled: true },
    ami: { enabled: true },
    ssm: { enabled: true },
    secrets: { enabled: true },
    dynamodb: { enabled: true },
  },
  drills: { schedule: 'cron(0 3 ? * SUN *)', concurrency: 3, maxAgeDays: 14 },
};

const ARN = `arn:<AWS::Partition>`;
const RDS = `${ARN}:rds:eu-west-1:${BACKUP}`;
const EC2 = `${ARN}:ec2:eu-west-1:${BACKUP}`;

let synthesized: Synthesized;
let vault: TemplateJson;
let drillRole: string;

beforeAll(() => {
  synthesized = synthesize(document);
  vault = synthesized.vault;
  [drillRole] = logicalIds(vault, 'AWS::IAM::Role', (props) => props.RoleName === 'bunker-drill');
}, 120_000);

const resourcesOf = (type: string): [string, CfnResourceJson][] =>
  Object.entries(vault.Resources).filter(([, resource]) => resource.Type === type);
const only = (type: string): Record<string, unknown> => {
  const found = resourcesOf(type);
  expect(found, type).toHaveLength(1);
  return found[0][1].Properties ?? {};
};
/** The statements of the identity policies (inline and customer managed) attached to a role. */
const statementsOfRole = (roleId: string): FoundStatement[] =>
  policyStatements(vault).filter(
    (found) =>
      (found.type === 'AWS::IAM::Policy' || found.type === 'AWS::IAM::ManagedPolicy') &&
      asArray(vault.Resources[found.logicalId].Properties?.Roles).some((role) => referencedId(role) === roleId),
  );
const roleNamed = (name: string) => logicalIds(vault, 'AWS::IAM::Role', (props) => props.RoleName === name)[0];
const drillStatements = () => statementsOfRole(drillRole);
const resourcesOfStatement = (found: FoundStatement) => asArray(found.statement.Resource).map(flatten).sort();

describe('the drill infrastructure', () => {
  it('synthesizes with no unacknowledged cdk-nag finding', () => {
    expect(String(synthesized.synthError ?? '')).toBe('');
    const report = JSON.parse(synthesized.validationReport) as { pluginReports: { violations?: unknown[] }[] };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('does not exist when drills are disabled', () => {
    const { vault: without } = synthesize({ ...baseDocument, drills: { enabled: false } });
    const types = Object.values(without.Resources).map((resource) => resource.Type);
    expect(types).not.toContain('AWS::EC2::VPC');
    expect(types).not.toContain('AWS::StepFunctions::StateMachine');
    expect(logicalIds(without, 'AWS::IAM::Role', (props) => String(props.RoleName).includes('drill'))).toEqual([]);
  }, 60_000);
});

describe('the isolated place', () => {
  it('is a VPC named bunker-drill with two isolated subnets in the first two zones, no public addresses', () => {
    const [vpc] = logicalIds(vault, 'AWS::EC2::VPC');
    expect(only('AWS::EC2::VPC').Tags).toEqual([{ Key: 'Name', Value: 'bunker-drill' }]);
    const subnets = resourcesOf('AWS::EC2::Subnet').map(([, subnet]) => subnet.Properties ?? {});
    expect(subnets.map((s) => [referencedId(s.VpcId), s.AvailabilityZone, s.MapPublicIpOnLaunch])).toEqual([
      [vpc, { 'Fn::Select': [0, { 'Fn::GetAZs': '' }] }, false],
      [vpc, { 'Fn::Select': [1, { 'Fn::GetAZs': '' }] }, false],
    ]);
  });

  it('has no way out: no internet or NAT gateway, no route, no endpoint, no public address', () => {
    const types = new Set(Object.values(vault.Resources).map((resource) => resource.Type));
    for (const type of [
      'AWS::EC2::InternetGateway',
      'AWS::EC2::EgressOnlyInternetGateway',
      'AWS::EC2::VPCGatewayAttachment',
      'AWS::EC2::NatGateway',
      'AWS::EC2::EIP',
      'AWS::EC2::Route',
      'AWS::EC2::VPCEndpoint',
      'AWS::EC2::TransitGatewayAttachment',
      'AWS::EC2::VPCPeeringConnection',
    ]) {
      expect(types.has(type), type).toBe(false);
    }
  });

  /** A group by name, and its standalone rules as [port, the other group]. */
  const group = (name: string) => {
    const [[id, resource]] = resourcesOf('AWS::EC2::SecurityGroup').filter(([, g]) => g.Properties?.GroupName === name);
    const rules = (type: string, other: string) =>
      resourcesOf(type)
        .map(([, rule]) => rule.Properties ?? {})
        .filter((rule) => referencedId(rule.GroupId) === id)
        .map((rule) => [rule.IpProtocol, rule.FromPort, rule.ToPort, referencedId(rule[other])]);
    return {
      id,
      props: resource.Properties ?? {},
      ingress: rules('AWS::EC2::SecurityGroupIngress', 'SourceSecurityGroupId'),
      egress: rules('AWS::EC2::SecurityGroupEgress', 'DestinationSecurityGroupId'),
    };
  };
  // EC2's allow-all egress replaced by a rule that matches no packet.
  const MATCH_NOTHING = [
    {
      CidrIp: '255.255.255.255/32',
      Description: 'Disallow all traffic',
      FromPort: 252,
      IpProtocol: 'icmp',
      ToPort: 86,
    },
  ];
  const ENGINE_PORTS = [1433, 1521, 3306, 5432, 50000];

  it('has three security groups: the databases’, the AMI instances’ and the engine probe’s', () => {
    expect(resourcesOf('AWS::EC2::SecurityGroup').map(([, g]) => g.Properties?.GroupName)).toEqual([
      'bunker-drill',
      'bunker-drill-instances',
      'bunker-drill-probe',
    ]);
  });

  it('keeps the AMI instances in a group that admits nothing and sends nothing', () => {
    const instances = group('bunker-drill-instances');
    expect(instances.props.SecurityGroupIngress).toBeUndefined();
    expect(instances.props.SecurityGroupEgress).toEqual(MATCH_NOTHING);
    expect([instances.ingress, instances.egress]).toEqual([[], []]);
    // No rule of another group names it either.
    const named = [...resourcesOf('AWS::EC2::SecurityGroupIngress'), ...resourcesOf('AWS::EC2::SecurityGroupEgress')]
      .map(([, rule]) => rule.Properties ?? {})
      .filter((rule) =>
        [rule.SourceSecurityGroupId, rule.DestinationSecurityGroupId].some((g) => referencedId(g) === instances.id),
      );
    expect(named).toEqual([]);
  });

  it('admits into the databases’ group only the probe’s group, on the engines’ default ports, and sends nothing', () => {
    const databases = group('bunker-drill');
    const probe = group('bunker-drill-probe');
    expect(databases.props.SecurityGroupIngress).toBeUndefined();
    expect(databases.props.SecurityGroupEgress).toEqual(MATCH_NOTHING);
    expect(databases.egress).toEqual([]);
    expect(databases.ingress).toEqual(ENGINE_PORTS.map((port) => ['tcp', port, port, probe.id]));
  });

  it('lets the probe’s group out only to the databases’ group on those ports, and admits nothing into it', () => {
    const databases = group('bunker-drill');
    const probe = group('bunker-drill-probe');
    expect(probe.props.SecurityGroupIngress).toBeUndefined();
    expect(probe.ingress).toEqual([]);
    expect(probe.props.SecurityGroupEgress).toEqual(MATCH_NOTHING);
    expect(probe.egress).toEqual(ENGINE_PORTS.map((port) => ['tcp', port, port, databases.id]));
  });

  it('has a DB subnet group named bunker-drill over the two subnets, and flow logs of all traffic', () => {
    const group = only('AWS::RDS::DBSubnetGroup');
    expect(group.DBSubnetGroupName).toBe('bunker-drill');
    expect(asArray(group.SubnetIds).map(referencedId)).toEqual(logicalIds(vault, 'AWS::EC2::Subnet'));
    const flowLog = only('AWS::EC2::FlowLog');
    expect(flowLog).toMatchObject({ ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    expect(referencedId(flowLog.ResourceId)).toBe(logicalIds(vault, 'AWS::EC2::VPC')[0]);
  });

  it('is handed to the drill function in its settings', () => {
    const [fn] = logicalIds(vault, 'AWS::Lambda::Function', (props) => props.FunctionName === 'bunker-drill');
    const variables = (vault.Resources[fn].Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    const [vpc] = logicalIds(vault, 'AWS::EC2::VPC');
    const [subnet1, subnet2] = logicalIds(vault, 'AWS::EC2::Subnet');
    const [databases, instances] = logicalIds(vault, 'AWS::EC2::SecurityGroup');
    expect(JSON.parse(flatten(variables.BUNKER_DRILL_PLACE))).toEqual({
      vpcId: `<${vpc}>`,
      subnetIds: [`<${subnet1}>`, `<${subnet2}>`],
      securityGroupId: `<${databases}.GroupId>`,
      dbSubnetGroup: 'bunker-drill',
      instanceSecurityGroupId: `<${instances}.GroupId>`,
      probeFunction: 'bunker-drill-probe',
    });
    expect(JSON.parse(String(variables.BUNKER_DRILL_KINDS))).toEqual([
      'rds',
      'aurora',
      'ebs',
      'ami',
      'ssm',
      'secrets',
      'dynamodb',
    ]);
    expect(variables.BUNKER_DRILL_MAX_AGE_DAYS).toBe('14');
    // Each kind's retention (the default 35 days), so a scheduled drill's older pick is one the pruner keeps.
    const retention = JSON.parse(String(variables.BUNKER_RETENTION)) as {
      copies: Record<string, { retentionDays: number }>;
    };
    expect(retention.copies['rds-snapshot'].retentionDays).toBe(35);
    expect(retention.copies.ami.retentionDays).toBe(35);
  });
});

describe('the drill role (bunker-drill)', () => {
  it('may do exactly these actions: reads, restores, drill-made things, and nothing else', () => {
    const actions = [...new Set(drillStatements().flatMap((found) => actionsOf(found.statement)))].sort();
    expect(actions).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:CreateTable',
      'dynamodb:DeleteTable',
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListTagsOfResource',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:TagResource',
      'ec2:CreateTags',
      'ec2:CreateVolume',
      'ec2:DeleteVolume',
      'ec2:DescribeImages',
      'ec2:DescribeInstanceStatus',
      'ec2:DescribeInstances',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeSnapshots',
      'ec2:DescribeSubnets',
      'ec2:DescribeVolumes',
      'ec2:RunInstances',
      'ec2:TerminateInstances',
      'kms:CreateGrant',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:Encrypt',
      'kms:GenerateDataKey*',
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:ReEncrypt*',
      'lambda:InvokeFunction',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'rds:AddTagsToResource',
      'rds:CreateDBInstance',
      'rds:DeleteDBCluster',
      'rds:DeleteDBInstance',
      'rds:DescribeDBClusterSnapshots',
      'rds:DescribeDBClusters',
      'rds:DescribeDBInstances',
      'rds:DescribeDBSnapshots',
      'rds:RestoreDBClusterFromSnapshot',
      'rds:RestoreDBInstanceFromDBSnapshot',
      's3:GetObject',
      's3:GetObjectVersion',
      's3:ListBucket',
      's3:ListBucketVersions',
      'sns:Publish',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('deletes only drill-named RDS databases, drill-tagged EC2 volumes and instances, and drill-named tables', () => {
    const deletes = drillStatements().filter((found) =>
      actionsOf(found.statement).some((action) => /:(Delete|Terminate|Remove|Deregister|Detach)/.test(action)),
    );
    expect(
      deletes.map((found) => ({
        actions: actionsOf(found.statement),
        resources: resourcesOfStatement(found),
        condition: found.statement.Condition,
      })),
    ).toEqual([
      {
        actions: [
          'dynamodb:CreateTable',
          'dynamodb:DescribeTable',
          'dynamodb:BatchWriteItem',
          'dynamodb:Scan',
          'dynamodb:DeleteTable',
          'dynamodb:TagResource',
          'dynamodb:ListTagsOfResource',
        ],
        resources: [`${ARN}:dynamodb:eu-west-1:${BACKUP}:table/bunker-drill-*`],
        condition: undefined,
      },
      {
        actions: ['rds:DeleteDBInstance', 'rds:DeleteDBCluster'],
        resources: [`${RDS}:cluster:bunker-drill-*`, `${RDS}:db:bunker-drill-*`],
        condition: { Null: { 'aws:ResourceTag/bunker:drill': 'false' } },
      },
      {
        actions: ['ec2:DeleteVolume', 'ec2:TerminateInstances'],
        resources: [`${EC2}:instance/*`, `${EC2}:volume/*`],
        condition: { Null: { 'aws:ResourceTag/bunker:drill': 'false' } },
      },
    ]);
  });

  it('writes to the inventory only items whose key starts with drill:', () => {
    const writes = drillStatements().filter((found) => actionsOf(found.statement).includes('dynamodb:PutItem'));
    expect(writes.map((found) => found.statement.Condition)).toEqual([
      { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['drill:*'] } },
    ]);
    const [table] = logicalIds(vault, 'AWS::DynamoDB::Table', (props) => props.TableName === 'bunker-inventory');
    expect(resourcesOfStatement(writes[0])).toEqual([`<${table}.Arn>`]);
  });

  it('restores only the vault’s own copies, into drill-named databases of the drill subnet group, tagged at creation', () => {
    const [restore] = drillStatements().filter((found) =>
      actionsOf(found.statement).includes('rds:RestoreDBInstanceFromDBSnapshot'),
    );
    expect(resourcesOfStatement(restore)).toEqual([
      `${RDS}:cluster-pg:*`,
      `${RDS}:cluster-snapshot:bunker-*`,
      `${RDS}:cluster:bunker-drill-*`,
      `${RDS}:db:bunker-drill-*`,
      `${RDS}:og:*`,
      `${RDS}:pg:*`,
      `${RDS}:snapshot:bunker-*`,
      `${RDS}:subgrp:bunker-drill`,
    ]);
    expect(restore.statement.Condition).toEqual({ Null: { 'aws:RequestTag/bunker:drill': 'false' } });
  });

  it('launches and makes volumes only from its own account’s copies, tagged, in the drill subnets and group', () => {
    const ec2Creates = drillStatements()
      .filter((found) => actionsOf(found.statement).some((a) => a === 'ec2:RunInstances' || a === 'ec2:CreateVolume'))
      .map((found) => ({ resources: resourcesOfStatement(found), condition: found.statement.Condition }));
    expect(ec2Creates).toEqual([
      {
        resources: [`${ARN}:ec2:eu-west-1::image/*`, `${ARN}:ec2:eu-west-1::snapshot/*`],
        condition: { StringEquals: { 'ec2:Owner': BACKUP } },
      },
      {
        resources: [`${EC2}:instance/*`, `${EC2}:volume/*`],
        condition: { Null: { 'aws:RequestTag/bunker:drill': 'false' } },
      },
      {
        resources: [`${EC2}:security-group/*`, `${EC2}:subnet/*`],
        condition: { StringEquals: { 'aws:ResourceTag/bunker:drill-place': 'bunker' } },
      },
      {
        resources: [`${EC2}:network-interface/*`],
        condition: { Bool: { 'ec2:AssociatePublicIpAddress': 'false' } },
      },
    ]);
    // The place's subnets and the instances' group carry the tag the role asks for; the databases' and the
    // probe's groups do not, so no instance can be launched into a group the probe reaches or is.
    const tagged = [...resourcesOf('AWS::EC2::Subnet'), ...resourcesOf('AWS::EC2::SecurityGroup')]
      .filter(([, resource]) =>
        asArray(resource.Properties?.Tags as unknown[]).some(
          (t) => (t as { Key: string }).Key === 'bunker:drill-place',
        ),
      )
      .map(([, resource]) => resource.Properties?.GroupName ?? 'subnet');
    expect(tagged).toEqual(['subnet', 'subnet', 'bunker-drill-instances']);
  });

  it('uses the backup-data key only through RDS, EC2, S3 and DynamoDB of the backup Region', () => {
    const [backupKey] = logicalIds(vault, 'AWS::KMS::Key', (props) =>
      String(props.Description).includes('encrypts backup copies'),
    );
    const onBackupKey = drillStatements().filter((found) => resourcesOfStatement(found).includes(`<${backupKey}.Arn>`));
    // The default policy's (the vault bucket's and the table drills'), then the restore policy's.
    expect(onBackupKey.map((found) => [actionsOf(found.statement), found.statement.Condition])).toEqual([
      [['kms:Decrypt'], { StringEquals: { 'kms:ViaService': ['s3.eu-west-1.amazonaws.com'] } }],
      // A table drill's table is under the backup-data key.
      [
        ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:DescribeKey', 'kms:CreateGrant'],
        { StringEquals: { 'kms:ViaService': ['dynamodb.eu-west-1.amazonaws.com'] } },
      ],
      [
        ['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncrypt*', 'kms:DescribeKey'],
        { StringEquals: { 'kms:ViaService': ['rds.eu-west-1.amazonaws.com', 'ec2.eu-west-1.amazonaws.com'] } },
      ],
      [
        ['kms:CreateGrant'],
        {
          StringEquals: { 'kms:ViaService': ['rds.eu-west-1.amazonaws.com', 'ec2.eu-west-1.amazonaws.com'] },
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        },
      ],
    ]);
    // No statement reaches a key by wildcard.
    for (const found of drillStatements()) {
      if (actionsOf(found.statement).some((action) => action.startsWith('kms:'))) {
        expect(resourcesOfStatement(found).join(','), found.logicalId).not.toContain(':key/');
      }
    }
  });
});

describe('the engine probe (bunker-drill-probe)', () => {
  const probeFunction = () => {
    const [id] = logicalIds(vault, 'AWS::Lambda::Function', (props) => props.FunctionName === 'bunker-drill-probe');
    return vault.Resources[id].Properties ?? {};
  };

  it('may be invoked by the drill role, which may invoke no other function', () => {
    const invokes = drillStatements().filter((found) =>
      actionsOf(found.statement).some((a) => a.startsWith('lambda:')),
    );
    expect(invokes.map((found) => [actionsOf(found.statement), resourcesOfStatement(found)])).toEqual([
      [['lambda:InvokeFunction'], [`${ARN}:lambda:eu-west-1:${BACKUP}:function:bunker-drill-probe`]],
    ]);
  });

  it('runs in the two drill subnets with only its own group, and knows the VPC’s CIDR', () => {
    const fn = probeFunction();
    const [probeGroup] = logicalIds(
      vault,
      'AWS::EC2::SecurityGroup',
      (props) => props.GroupName === 'bunker-drill-probe',
    );
    const vpcConfig = fn.VpcConfig as { SecurityGroupIds: unknown[]; SubnetIds: unknown[] };
    expect(vpcConfig.SecurityGroupIds.map(referencedId)).toEqual([probeGroup]);
    expect(vpcConfig.SubnetIds.map(referencedId)).toEqual(logicalIds(vault, 'AWS::EC2::Subnet'));
    expect((fn.Environment as { Variables: Record<string, unknown> }).Variables.BUNKER_PROBE_CIDR).toBe('10.64.0.0/16');
    expect(fn.Timeout).toBe(30);
  });

  it('has a role with no data or key rights: its logs and its network interfaces in the drill VPC only', () => {
    const role = roleNamed('bunker-drill-probe');
    expect(referencedId(probeFunction().Role)).toBe(role);
    const statements = statementsOfRole(role);
    const actions = [...new Set(statements.flatMap((found) => actionsOf(found.statement)))].sort();
    expect(actions).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:UnassignPrivateIpAddresses',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const eni = `${ARN}:ec2:<AWS::Region>:<AWS::AccountId>`;
    expect(
      statements
        .filter((found) => actionsOf(found.statement).some((action) => action.startsWith('ec2:')))
        .map((found) => [actionsOf(found.statement), resourcesOfStatement(found), found.statement.Condition]),
    ).toEqual([
      [['ec2:CreateNetworkInterface'], [`${eni}:network-interface/*`], undefined],
      // Only in the drill subnets and with the probe's own group, found by their tags.
      [
        ['ec2:CreateNetworkInterface'],
        [`${eni}:subnet/*`],
        { StringEquals: { 'aws:ResourceTag/bunker:drill-place': 'bunker' } },
      ],
      [
        ['ec2:CreateNetworkInterface'],
        [`${eni}:security-group/*`],
        { StringEquals: { 'aws:ResourceTag/bunker:drill-probe': 'bunker' } },
      ],
      [
        ['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        [`${eni}:network-interface/*`],
        undefined,
      ],
      [['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], ['*'], undefined],
    ]);
    // The one group tagged for the probe's interfaces is its own.
    const probeTagged = resourcesOf('AWS::EC2::SecurityGroup')
      .filter(([, g]) =>
        asArray(g.Properties?.Tags as { Key: string }[]).some((tag) => tag.Key === 'bunker:drill-probe'),
      )
      .map(([, g]) => g.Properties?.GroupName);
    expect(probeTagged).toEqual(['bunker-drill-probe']);
  });
});

/** The state machine's definition, with references as `<Name>`. */
function definition(): {
  States: Record<string, Record<string, unknown>>;
  TimeoutSeconds: number;
} {
  return JSON.parse(flatten(only('AWS::StepFunctions::StateMachine').DefinitionString)) as ReturnType<
    typeof definition
  >;
}

describe('the drill state machine', () => {
  it('is named bunker-drill, stops after 12 hours, logs every event and traces', () => {
    const machine = only('AWS::StepFunctions::StateMachine');
    expect(machine.StateMachineName).toBe('bunker-drill');
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    expect(definition().TimeoutSeconds).toBe(43_200);
  });

  it('plans with the input plan and action "plan", then runs the drills three at a time', () => {
    const { States } = definition();
    expect(States['Mark plan']).toMatchObject({ Type: 'Pass', Result: 'plan', ResultPath: '$.plan.action' });
    expect(States.Plan).toMatchObject({
      Type: 'Task',
      Resource: `${ARN}:states:::lambda:invoke`,
      Parameters: {
        FunctionName: `${ARN}:lambda:<AWS::Region>:<AWS::AccountId>:function:bunker-drill`,
        'Payload.$': '$.plan',
      },
      OutputPath: '$.Payload',
      Next: 'Each drill',
    });
    expect(States['Each drill']).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.drills',
      MaxConcurrency: 3,
      // Each drill a child execution with its own history (25,000 events) and state: a run's history holds
      // the plan and the Map Run only, whatever the number of drills and of their polls.
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      Label: 'drill',
      // The drills' final states are in the inventory, not in the run's state.
      ResultPath: null,
    });
    // No item reader or result writer: the plan's drills are the items, and nothing is written to S3.
    expect(Object.keys(States['Each drill']).sort()).toEqual([
      'Comment',
      'End',
      'ItemProcessor',
      'ItemsPath',
      'Label',
      'MaxConcurrency',
      'ResultPath',
      'Type',
    ]);
  });

  it('advances each drill until it is done, waiting as long as the step asks', () => {
    const processor = definition().States['Each drill'].ItemProcessor as {
      StartAt: string;
      States: Record<string, Record<string, unknown>>;
    };
    expect(processor.StartAt).toBe('Advance');
    const { Advance, 'Done?': done, 'Wait as asked': waitAsked, Wait: wait } = processor.States;
    expect(Advance).toMatchObject({
      Parameters: { Payload: { action: 'advance', 'state.$': '$' } },
      OutputPath: '$.Payload',
      Next: 'Done?',
    });
    // Lambda's service errors and throttling are retried; anything else ends this drill, not the others.
    expect((Advance.Retry as { ErrorEquals: string[] }[]).flatMap((retry) => retry.ErrorEquals)).toEqual([
      'Lambda.ClientExecutionTimeoutException',
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
    ]);
    expect(Advance.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Drill step failed' }]);
    expect(done).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.done', BooleanEquals: true, Next: 'Drill finished' },
        { Variable: '$.waitSeconds', IsPresent: true, Next: 'Wait as asked' },
      ],
      Default: 'Wait',
    });
    expect(waitAsked).toEqual({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Advance' });
    expect(wait).toEqual({ Type: 'Wait', Seconds: 60, Next: 'Advance' });
  });

  it('may invoke only the drill function, start only itself and describe and stop only its drills’ executions; only the schedule may start it', () => {
    const machineActions = statementsOfRole(roleNamed('bunker-drill-states')).filter(
      (found) => !actionsOf(found.statement).some((a) => a.startsWith('logs:') || a.startsWith('xray:')),
    );
    expect(
      machineActions.map((found) => [
        found.logicalId,
        actionsOf(found.statement),
        resourcesOfStatement(found),
        found.statement.Condition,
      ]),
    ).toEqual([
      [
        expect.stringMatching(/^DrillsStateMachineRoleDefaultPolicy/),
        ['lambda:InvokeFunction'],
        [
          `${ARN}:lambda:<AWS::Region>:<AWS::AccountId>:function:bunker-drill`,
          `${ARN}:lambda:<AWS::Region>:<AWS::AccountId>:function:bunker-drill:*`,
        ],
        undefined,
      ],
      // The Map Run starts each drill as a child execution of this state machine…
      [
        expect.stringMatching(/^DrillsStateMachineRoleDefaultPolicy/),
        ['states:StartExecution'],
        [`${ARN}:states:eu-west-1:${BACKUP}:stateMachine:bunker-drill`],
        undefined,
      ],
      // …and describes and stops those children (bunker-drill/<label>:<id>), not the runs themselves.
      [
        expect.stringMatching(/^DrillsStateMachineRoleDefaultPolicy/),
        ['states:DescribeExecution', 'states:StopExecution'],
        [`${ARN}:states:eu-west-1:${BACKUP}:execution:bunker-drill/drill:*`],
        undefined,
      ],
    ]);
    // Its logs and traces: Step Functions' log delivery and X-Ray actions, which take no resource.
    const service = statementsOfRole(roleNamed('bunker-drill-states')).filter((found) =>
      actionsOf(found.statement).some((a) => a.startsWith('logs:') || a.startsWith('xray:')),
    );
    expect(service.flatMap(resourcesOfStatement)).toEqual(['*', '*']);
    const schedule = statementsOfRole(roleNamed('bunker-drill-schedule'));
    expect(schedule.map((found) => [actionsOf(found.statement), resourcesOfStatement(found)])).toEqual([
      [['states:StartExecution'], [`${ARN}:states:eu-west-1:${BACKUP}:stateMachine:bunker-drill`]],
    ]);
  });
});

describe("a drill run's histories", () => {
  it('bound each drill’s own history by its kind’s restore-time target: 9 events a step, given up at twice the target', () => {
    // 60 min: 1 start + 2 short waits + 120 polls a minute for 2 hours, 1 validation, 60 teardown tries.
    expect(worstDrillEvents(60)).toBe(1_658);
    expect(worstDrillEvents(90)).toBe(2_198);
    expect(worstDrillEvents(10)).toBe(758);
    // The longest target within 20,000 events (a fifth under Step Functions' 25,000): 18 hours less a minute.
    expect(maxTargetMinutes()).toBe(1_079);
    expect(worstDrillEvents(1_079)).toBe(20_000);
    expect(worstDrillEvents(1_080)).toBe(20_018);
  });

  it('refuse a target whose drill could outgrow its history, and synthesize the longest that fits', () => {
    const withTarget = (rds: number) => ({
      ...document,
      drills: { ...document.drills, restoreTargetMinutes: { rds } },
    });
    expect(() => synthesize(withTarget(1_080))).toThrow(
      "drills.restoreTargetMinutes.rds: expected at most 1079 minutes (18 hours): a longer drill could outgrow its execution's history",
    );
    expect(() => synthesize(withTarget(1_079))).not.toThrow();
  });
});

describe('the drill schedules', () => {
  const rules = () => resourcesOf('AWS::Events::Rule').map(([, rule]) => rule.Properties ?? {});

  it('start the state machine on drills.schedule with a scheduled plan', () => {
    const [scheduled] = rules().filter((rule) => rule.ScheduleExpression === 'cron(0 3 ? * SUN *)');
    const [target] = asArray(scheduled.Targets as Record<string, unknown>[]);
    expect(flatten(target.Arn)).toBe(`${ARN}:states:eu-west-1:${BACKUP}:stateMachine:bunker-drill`);
    expect(JSON.parse(String(target.Input))).toEqual({ plan: { scheduled: true } });
    expect(referencedId(target.RoleArn)).toBe(roleNamed('bunker-drill-schedule'));
  });

  it('run the check once a day, at noon UTC', () => {
    const [fn] = logicalIds(vault, 'AWS::Lambda::Function', (props) => props.FunctionName === 'bunker-drill');
    const [check] = rules().filter((rule) =>
      asArray(rule.Targets as Record<string, unknown>[]).some((t) => referencedId(t.Arn) === fn),
    );
    expect(check.ScheduleExpression).toBe('cron(0 12 * * ? *)');
    expect(JSON.parse(String((check.Targets as Record<string, unknown>[])[0].Input))).toEqual({ action: 'check' });
  });
});

describe('the drill alarms', () => {
  const alarms = () =>
    resourcesOf('AWS::CloudWatch::Alarm')
      .map(([, alarm]) => alarm.Properties ?? {})
      .filter((alarm) => String(alarm.AlarmName).startsWith('bunker-drill-'));
  const named = (name: string) => alarms().find((alarm) => alarm.AlarmName === name) ?? {};

  it('all act on the alerts topic', () => {
    const [topic] = logicalIds(vault, 'AWS::SNS::Topic', (props) => props.TopicName === 'bunker-alerts');
    expect(alarms()).toHaveLength(2 * 7 + 4);
    for (const alarm of alarms()) {
      expect(asArray(alarm.AlarmActions).map(referencedId), String(alarm.AlarmName)).toEqual([topic]);
    }
  });

  it('fire on any failed drill and on a kind unproven for longer than drills.maxAgeDays, per kind', () => {
    for (const kind of ['rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb']) {
      expect(named(`bunker-drill-failed-${kind}`)).toMatchObject({
        Namespace: 'Bunker',
        MetricName: 'DrillsFailed',
        Dimensions: [{ Name: 'Kind', Value: kind }],
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(named(`bunker-drill-unproven-${kind}`)).toMatchObject({
        MetricName: 'DaysSinceProvenRestore',
        Dimensions: [{ Name: 'Kind', Value: kind }],
        Statistic: 'Maximum',
        Threshold: 14,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  it('fire on stale sources, and when the check has published nothing for two daily periods', () => {
    expect(named('bunker-drill-stale-sources')).toMatchObject({
      MetricName: 'StaleDrillSources',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(named('bunker-drill-check-stopped')).toMatchObject({
      MetricName: 'StaleDrillSources',
      Statistic: 'SampleCount',
      Period: 86_400,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
    });
  });

  it('fire on a failed, timed-out or aborted run and on errors of the drill function', () => {
    const run = named('bunker-drill-run-failed');
    const metrics = (
      run.Metrics as { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string } } }[]
    )
      .map((m) => m.Expression ?? m.MetricStat?.Metric.MetricName)
      .sort();
    expect(metrics).toEqual([
      'ExecutionsAborted',
      'ExecutionsFailed',
      'ExecutionsTimedOut',
      'failed + timedOut + aborted',
    ]);
    expect(named('bunker-drill-errors')).toMatchObject({ MetricName: 'Errors', Threshold: 0 });
  });
});

describe('with a second Region (backup.secondRegion)', () => {
  const SECOND = 'eu-central-1';
  let both: Synthesized;
  let region: TemplateJson;
  let role: string;

  beforeAll(() => {
    // The snapshot kinds only: they are the ones with second-hop copies.
    both = synthesize({
      ...document,
      backup: { ...baseDocument.backup, secondRegion: SECOND },
      artifacts: { rds: { enabled: true }, aurora: { enabled: true }, ebs: { enabled: true }, ami: { enabled: true } },
    });
    region = both.templates.get(`bunker-vault-${SECOND}`) as TemplateJson;
    [role] = logicalIds(both.vault, 'AWS::IAM::Role', (props) => props.RoleName === 'bunker-drill');
  }, 120_000);

  const typesIn = (template: TemplateJson) => Object.values(template.Resources).map((resource) => resource.Type);
  const propsOf = (template: TemplateJson, type: string) =>
    Object.values(template.Resources)
      .filter((resource) => resource.Type === type)
      .map((resource) => resource.Properties ?? {});
  /** The drill role's statements in the policies attached to it, in the vault template, by policy type. */
  const roleStatements = (type: string) =>
    policyStatements(both.vault).filter(
      (found) =>
        found.type === type &&
        asArray(both.vault.Resources[found.logicalId].Properties?.Roles).some((r) => referencedId(r) === role),
    );

  it('synthesizes both stacks with no unacknowledged cdk-nag finding', () => {
    expect(String(both.synthError ?? '')).toBe('');
    const report = JSON.parse(both.validationReport) as { pluginReports: { violations?: unknown[] }[] };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('gives the second Region an isolated place with the vault Region’s names, and no drill engine of its own', () => {
    expect(propsOf(region, 'AWS::EC2::VPC').map((props) => props.Tags)).toEqual([
      [{ Key: 'Name', Value: 'bunker-drill' }],
    ]);
    expect(propsOf(region, 'AWS::EC2::Subnet').map((props) => [props.CidrBlock, props.MapPublicIpOnLaunch])).toEqual([
      ['10.64.0.0/24', false],
      ['10.64.1.0/24', false],
    ]);
    expect(propsOf(region, 'AWS::EC2::SecurityGroup').map((props) => props.GroupName)).toEqual([
      'bunker-drill',
      'bunker-drill-instances',
      'bunker-drill-probe',
    ]);
    expect(propsOf(region, 'AWS::RDS::DBSubnetGroup').map((props) => props.DBSubnetGroupName)).toEqual([
      'bunker-drill',
    ]);
    expect(propsOf(region, 'AWS::EC2::FlowLog').map((props) => props.TrafficType)).toEqual(['ALL']);
    const types = typesIn(region);
    for (const way of [
      'AWS::EC2::InternetGateway',
      'AWS::EC2::NatGateway',
      'AWS::EC2::Route',
      'AWS::EC2::VPCEndpoint',
    ]) {
      expect(types, way).not.toContain(way);
    }
    expect(types).not.toContain('AWS::StepFunctions::StateMachine');
    expect(propsOf(region, 'AWS::Lambda::Function').map((props) => props.FunctionName)).toEqual(['bunker-drill-probe']);
    // IAM is global: the place's roles are named with their Region.
    expect(
      propsOf(region, 'AWS::IAM::Role')
        .map((props) => props.RoleName)
        .filter((name) => String(name).startsWith('bunker-drill'))
        .sort(),
    ).toEqual(['bunker-drill-flow-logs-eu-central-1', 'bunker-drill-probe-eu-central-1']);
  });

  it('tells the vault’s one drill function the second Region', () => {
    const [fn] = logicalIds(both.vault, 'AWS::Lambda::Function', (props) => props.FunctionName === 'bunker-drill');
    const variables = (both.vault.Resources[fn].Properties?.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(variables.BUNKER_SECOND_REGION).toBe(SECOND);
  });

  it('gives the drill role the same restore rights in the second Region as in the first, on that Region’s backup-data key only', () => {
    const [backupKey] = logicalIds(both.vault, 'AWS::KMS::Key', (props) =>
      String(props.Description).includes('encrypts backup copies'),
    );
    const alias = { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/bunker-backup-data'] } };
    const secondKeys = `${ARN}:kms:${SECOND}:${BACKUP}:key/*`;
    // The role's inline policies only: nothing overflows into a managed policy.
    expect(roleStatements('AWS::IAM::ManagedPolicy')).toEqual([]);
    const statements = roleStatements('AWS::IAM::Policy').map((found) => found.statement);
    // Every RDS, EC2 and probe right on a resource of the vault Region names the same resource in the second.
    const restoring = statements.filter((statement) =>
      actionsOf(statement).some((action) => /^(rds|ec2|lambda):/.test(action)),
    );
    let paired = 0;
    for (const statement of restoring) {
      const resources = asArray(statement.Resource).map(flatten);
      for (const resource of resources.filter((r) => r.includes(':eu-west-1:'))) {
        expect(resources, JSON.stringify(statement.Action)).toContain(resource.replace(':eu-west-1:', `:${SECOND}:`));
        paired += 1;
      }
    }
    // The 25 vault-Region resources of the RDS, EC2 and probe rights, each with its second-Region twin.
    expect(paired).toBe(25);
    // The second Region's key through RDS and EC2 of that Region only, and only the key with the vault's alias.
    const onKeys = statements.filter((statement) => asArray(statement.Resource).map(flatten).includes(secondKeys));
    const via = { 'kms:ViaService': [`rds.${SECOND}.amazonaws.com`, `ec2.${SECOND}.amazonaws.com`] };
    expect(
      onKeys.map((statement) => [actionsOf(statement), asArray(statement.Resource).map(flatten), statement.Condition]),
    ).toEqual([
      // Finding the key by its alias (the default policy), then restoring with it (the restore policy).
      [['kms:DescribeKey'], [secondKeys], { StringEquals: { 'kms:RequestAlias': 'alias/bunker-backup-data' } }],
      [
        ['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncrypt*', 'kms:DescribeKey'],
        [secondKeys],
        { StringEquals: via, ...alias },
      ],
      [
        ['kms:CreateGrant'],
        [secondKeys],
        { StringEquals: via, Bool: { 'kms:GrantIsForAWSResource': 'true' }, ...alias },
      ],
    ]);
    // The vault Region's key keeps its own statements, naming it alone.
    const onFirstKey = statements.filter(
      (statement) =>
        asArray(statement.Resource).map(flatten).includes(`<${backupKey}.Arn>`) &&
        actionsOf(statement).includes('kms:GenerateDataKeyWithoutPlaintext'),
    );
    expect(onFirstKey.map((statement) => [asArray(statement.Resource).map(flatten), statement.Condition])).toEqual([
      [
        [`<${backupKey}.Arn>`],
        { StringEquals: { 'kms:ViaService': ['rds.eu-west-1.amazonaws.com', 'ec2.eu-west-1.amazonaws.com'] } },
      ],
    ]);
    // Finding the place there by its names.
    expect(
      statements
        .filter((statement) => actionsOf(statement).includes('rds:DescribeDBSubnetGroups'))
        .map((statement) => asArray(statement.Resource).map(flatten)),
    ).toEqual([[`${ARN}:rds:${SECOND}:${BACKUP}:subgrp:bunker-drill`]]);
  });
});
