/**
 * Restore drills in the vault stack: the isolated place a drill restores
 * into, the drill function and its role, the state machine that waits out a
 * restore, the schedules, and the alarms on the drills' metrics.
 *
 * The place is a VPC with isolated subnets only (no internet or NAT gateway,
 * no endpoints: nothing restored in it can reach anything, and nothing needs
 * to), an RDS subnet group over the subnets, and three security groups:
 * the restored databases' (sends nothing; admits only the probe, on the
 * engines' default ports), the AMI instances' (admits and sends nothing)
 * and the engine probe's (admits nothing; reaches only the databases'
 * group on those ports). The probe function lives in the subnets and asks a
 * restored engine for its protocol's greeting, without credentials; the
 * drill function, outside the VPC, may invoke it and no other function. It is written with the CloudFormation-level
 * constructs: the higher-level VPC looks the account's Availability Zones up
 * at synthesis (credentials for `cdk synth`, dummy zones in tests) and adds a
 * Lambda-backed custom resource to strip the default security group, which
 * nothing here uses. `Fn::GetAZs` lets CloudFormation pick the zones.
 *
 * The drill role can only make what is recognisably a drill's: RDS instances
 * and clusters named `<prefix>-drill-*`, EC2 instances and volumes tagged
 * `bunker:drill` at creation (in the place's subnets and security group
 * only), DynamoDB tables named `<prefix>-drill-*`; and it can delete or
 * terminate only those. It restores only the vault's own copies, and uses
 * the backup-data key only through RDS, EC2 and S3 (reading the vault
 * bucket) of the backup Region.
 *
 * A run is one execution: Plan, then a distributed Map whose every drill is
 * a child execution of its own (`<prefix>-drill/drill:<id>`), polling its
 * restore in its own history. Step Functions limits an execution's history
 * to 25,000 events and its state to 256 KB: the run's history holds the
 * plan and the Map Run (15 events, whatever drills.maxPerRun), its state
 * the plan; a drill's history grows with its polls, which its kind's
 * restore-time target bounds (checked at synthesis: {@link worstDrillEvents}).
 */
import { retentionSettingsToEnv } from '../../lambdas/core/retention/settings';
import { retentionSettings } from './retention';
import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { GIVE_UP_AFTER_TARGETS, MAX_TEARDOWN_TRIES, MAX_WAIT_SECONDS } from '../../lambdas/core/drill/engine';
import { DRILL_ENGINE_PORTS } from '../../lambdas/core/drill/probe';
import { drillSettingsToEnv, type DrillPlace } from '../../lambdas/core/drill/settings';
import type { DrillKind } from '../../lambdas/core/drill/types';
import { vaultBucketName, vaultNames } from '../../lambdas/core/names';
import { drillSettings, enabledKinds, enabledPulledKinds } from '../config/runtime';
import type { BunkerConfig } from '../config/schema';
import { BUNKER_BUNDLING, BUNKER_RUNTIME, BunkerFunction, REPO_ROOT } from './bunker-function';
import { METRICS_NAMESPACE } from './dashboard';
import { acknowledge, NAG_PACK, wildcardFindings } from './nag';

/** The tag every EC2 instance and volume (and RDS resource) a drill makes carries from its creation: the drill id. */
export const DRILL_TAG = 'bunker:drill';
/** The tag of the place's subnets and instances' security group: the drill role may launch into nothing else. */
export const DRILL_PLACE_TAG = 'bunker:drill-place';
/** The tag of the engine probe's security group: the probe's network interfaces may use no other group. */
export const DRILL_PROBE_TAG = 'bunker:drill-probe';
/** Name of the place's VPC (its Name tag), the databases' security group, DB subnet group and state machine. */
export const drillPlaceName = (prefix: string) => `${prefix}-drill`;
/** Name of the AMI instances' security group. */
export const drillInstancesGroupName = (prefix: string) => `${prefix}-drill-instances`;
/** Name of the engine probe's function and security group. */
export const drillProbeName = (prefix: string) => `${prefix}-drill-probe`;
/** What a drill names its RDS instances and clusters and its DynamoDB tables: `<prefix>-drill-<hash>`. */
export const drillResourcePattern = (prefix: string) => `${prefix}-drill-*`;
/** Longest a drill run may take, every drill of it, before Step Functions stops it. */
export const DRILL_RUN_TIMEOUT = Duration.hours(12);
/** When the freshness check runs: once a day, mid-day UTC, so each daily alarm period holds exactly one run. */
export const DRILL_CHECK_SCHEDULE = 'cron(0 12 * * ? *)';
/**
 * The label of the drills' Map Run: each drill runs as a child execution
 * `<prefix>-drill/<label>:<id>`, which is what the state machine's role may
 * describe and stop.
 */
export const DRILL_MAP_LABEL = 'drill';
/** How long the state machine waits when a step asked for no particular wait. */
export const DEFAULT_WAIT_SECONDS = 60;
/** Step Functions' quota on a standard execution's history: past it the execution fails. */
export const EXECUTION_HISTORY_LIMIT = 25_000;
/** What a drill's execution may record at most: the quota less a fifth, for retried tasks and the like. */
export const DRILL_EVENTS_BUDGET = 20_000;
/** Events one step of a drill records: Advance (entered, scheduled, started, succeeded, exited), Done? and a wait or the end (two each). */
export const EVENTS_PER_DRILL_STEP = 9;

/**
 * The most events one drill's execution (a child of the run's Map) can
 * record with a restore-time target of `targetMinutes`: the engine gives a
 * pending restore up at {@link GIVE_UP_AFTER_TARGETS} times its target,
 * polling at most every {@link MAX_WAIT_SECONDS} after two shorter first
 * waits, validates once, and tries the teardown {@link MAX_TEARDOWN_TRIES}
 * times at most; plus the child's ExecutionStarted and its end.
 */
export function worstDrillEvents(targetMinutes: number): number {
  const restoring = 1 + 2 + Math.ceil((GIVE_UP_AFTER_TARGETS * targetMinutes * 60) / MAX_WAIT_SECONDS);
  return (restoring + 1 + MAX_TEARDOWN_TRIES) * EVENTS_PER_DRILL_STEP + 2;
}

/** The place's address space: two /24 subnets are ample for the few restores that run at once. */
const VPC_CIDR = '10.64.0.0/16';
const SUBNET_CIDRS = ['10.64.0.0/24', '10.64.1.0/24'] as const;

/**
 * EC2 gives a new group an allow-all egress rule unless one is named: this
 * one matches no packet (CDK's own "disallow all traffic" rule for
 * allowAllOutbound: false).
 */
const MATCH_NOTHING: ec2.CfnSecurityGroup.EgressProperty = {
  ipProtocol: 'icmp',
  fromPort: 252,
  toPort: 86,
  cidrIp: '255.255.255.255/32',
  description: 'Disallow all traffic',
};

/** The longest restore-time target whose drill stays within {@link DRILL_EVENTS_BUDGET}. */
export function maxTargetMinutes(): number {
  const steps = Math.floor((DRILL_EVENTS_BUDGET - 2) / EVENTS_PER_DRILL_STEP) - 1 - MAX_TEARDOWN_TRIES - 3;
  return Math.floor((steps * MAX_WAIT_SECONDS) / (GIVE_UP_AFTER_TARGETS * 60));
}

/** The kinds a configuration drills, by config key (the `Kind` dimension of the drill metrics). */
export function drillKinds(config: BunkerConfig): DrillKind[] {
  return [...enabledKinds(config).map((kind) => kind.configKey), ...enabledPulledKinds(config)];
}

/**
 * The role names of the drills' principals. IAM is global: the second
 * Region's place (`region`) names its flow-log and probe roles with its
 * Region; the drill function, its state machine and schedule are the vault
 * Region's alone.
 */
export function drillRoleNames(prefix: string, region?: string) {
  const of = (name: string) => (region ? `${name}-${region}` : name);
  return {
    fn: `${prefix}-drill`,
    stateMachine: `${prefix}-drill-states`,
    schedule: `${prefix}-drill-schedule`,
    flowLogs: of(`${prefix}-drill-flow-logs`),
    probe: of(`${prefix}-drill-probe`),
  };
}

/** The isolated place of one Region, as {@link buildDrillPlace} makes it. */
export interface DrillPlaceResources {
  readonly vpc: ec2.CfnVPC;
  readonly subnets: readonly ec2.CfnSubnet[];
  /** The restored databases' group: admits only the probe, on the engines' ports; sends nothing. */
  readonly securityGroup: ec2.CfnSecurityGroup;
  /** The AMI instances' group: admits nothing, sends nothing. */
  readonly instanceSecurityGroup: ec2.CfnSecurityGroup;
  readonly dbSubnetGroup: rds.CfnDBSubnetGroup;
  /** The engine probe in the drill network, when an RDS kind is enabled. */
  readonly probe?: NodejsFunction;
  /** What the drill function is told of it. */
  readonly place: DrillPlace;
}

/**
 * The isolated place a drill restores into, in `scope`'s Region: the vault
 * stack's, and with `backup.secondRegion` the second Region's stack's, since
 * a restore can only use a snapshot of its own Region. Both have the same
 * names (the drill function finds the second Region's by them) and the same
 * construct ids under their `Drills` scope, so the vault stack's resources
 * keep the logical ids they had: its named groups and subnet group could
 * not be replaced in place. IAM is global: `roles` names the place's roles
 * apart in each Region ({@link drillRoleNames}).
 */
export function buildDrillPlace(
  scope: Construct,
  config: BunkerConfig,
  roles: ReturnType<typeof drillRoleNames> = drillRoleNames(config.name),
): DrillPlaceResources {
  const prefix = config.name;
  const place = drillPlaceName(prefix);
  const vpc = new ec2.CfnVPC(scope, 'Vpc', {
    cidrBlock: VPC_CIDR,
    enableDnsSupport: true,
    enableDnsHostnames: true,
    tags: [{ key: 'Name', value: place }],
  });
  // No route table of its own: the VPC's main one holds only the local route, and nothing here adds another.
  const subnets = SUBNET_CIDRS.map(
    (cidrBlock, index) =>
      new ec2.CfnSubnet(scope, `Subnet${index + 1}`, {
        vpcId: vpc.ref,
        cidrBlock,
        availabilityZone: Fn.select(index, Fn.getAzs()),
        mapPublicIpOnLaunch: false,
        tags: [
          { key: 'Name', value: `${place}-${index + 1}` },
          { key: DRILL_PLACE_TAG, value: prefix },
        ],
      }),
  );
  const securityGroup = new ec2.CfnSecurityGroup(scope, 'SecurityGroup', {
    groupName: place,
    groupDescription: `Bunker (${prefix}): restored databases of drills; admits only the engine probe, sends nothing`,
    vpcId: vpc.ref,
    securityGroupEgress: [MATCH_NOTHING],
    // Not tagged as the place: the drill role may launch instances into the instances' group only.
    tags: [{ key: 'Name', value: place }],
  });
  const instanceSecurityGroup = new ec2.CfnSecurityGroup(scope, 'InstanceSecurityGroup', {
    groupName: drillInstancesGroupName(prefix),
    groupDescription: `Bunker (${prefix}): instances of AMI drills; admits nothing and sends nothing`,
    vpcId: vpc.ref,
    securityGroupEgress: [MATCH_NOTHING],
    tags: [
      { key: 'Name', value: drillInstancesGroupName(prefix) },
      { key: DRILL_PLACE_TAG, value: prefix },
    ],
  });
  const dbSubnetGroup = new rds.CfnDBSubnetGroup(scope, 'DbSubnetGroup', {
    dbSubnetGroupName: place,
    dbSubnetGroupDescription: `Bunker (${prefix}): isolated subnets of restore drills`,
    subnetIds: subnets.map((subnet) => subnet.ref),
  });

  // Flow logs: any packet in or out of a drill's restore is recorded, rejected ones included.
  const flowLogGroup = new logs.LogGroup(scope, 'FlowLogs', {
    retention: logs.RetentionDays.ONE_YEAR,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const flowLogsRole = new iam.Role(scope, 'FlowLogsRole', {
    roleName: roles.flowLogs,
    description: `Bunker (${prefix}): delivers the drill network's flow logs to their log group`,
    assumedBy: new iam.ServicePrincipal('vpc-flow-logs.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': config.backup.account } },
    }),
  });
  flowLogsRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      resources: [flowLogGroup.logGroupArn],
    }),
  );
  new ec2.CfnFlowLog(scope, 'FlowLog', {
    resourceId: vpc.ref,
    resourceType: 'VPC',
    trafficType: 'ALL',
    logDestinationType: 'cloud-watch-logs',
    logGroupName: flowLogGroup.logGroupName,
    deliverLogsPermissionArn: flowLogsRole.roleArn,
  });

  // The engine probe: only where databases are drilled.
  const probe = enabledKinds(config).some((kind) => kind.infra.service === 'rds')
    ? engineProbe(scope, prefix, { vpc, subnets, securityGroup }, roles.probe)
    : undefined;

  return {
    vpc,
    subnets,
    securityGroup,
    instanceSecurityGroup,
    dbSubnetGroup,
    ...(probe ? { probe } : {}),
    place: {
      vpcId: vpc.ref,
      subnetIds: subnets.map((subnet) => subnet.ref),
      securityGroupId: securityGroup.attrGroupId,
      dbSubnetGroup: place,
      instanceSecurityGroupId: instanceSecurityGroup.attrGroupId,
      ...(probe ? { probeFunction: drillProbeName(prefix) } : {}),
    },
  };
}

/**
 * The engine probe: a function in the drill subnets with a group of its
 * own whose only way out is the databases' group on the engines' default
 * ports, which in turn admits only it. Its role may write its logs and
 * manage the function's network interfaces in the drill VPC; nothing
 * else: no data, no key, no AWS client in its code.
 */
function engineProbe(
  scope: Construct,
  prefix: string,
  network: Pick<DrillPlaceResources, 'vpc' | 'subnets' | 'securityGroup'>,
  roleName: string,
): NodejsFunction {
  const name = drillProbeName(prefix);
  const probeGroup = new ec2.CfnSecurityGroup(scope, 'ProbeSecurityGroup', {
    groupName: name,
    groupDescription: `Bunker (${prefix}): engine probe of drills; admits nothing, reaches only restored databases`,
    vpcId: network.vpc.ref,
    securityGroupEgress: [MATCH_NOTHING],
    tags: [
      { key: 'Name', value: name },
      { key: DRILL_PROBE_TAG, value: prefix },
    ],
  });
  // Separate rule resources: each group names the other, which inline rules cannot without a cycle.
  for (const port of DRILL_ENGINE_PORTS) {
    new ec2.CfnSecurityGroupEgress(scope, `ProbeEgress${port}`, {
      groupId: probeGroup.attrGroupId,
      ipProtocol: 'tcp',
      fromPort: port,
      toPort: port,
      destinationSecurityGroupId: network.securityGroup.attrGroupId,
      description: `The engine probe asks restored databases on port ${port}`,
    });
    new ec2.CfnSecurityGroupIngress(scope, `DatabaseIngress${port}`, {
      groupId: network.securityGroup.attrGroupId,
      ipProtocol: 'tcp',
      fromPort: port,
      toPort: port,
      sourceSecurityGroupId: probeGroup.attrGroupId,
      description: `Only the engine probe reaches a restored database, on port ${port}`,
    });
  }

  const role = new iam.Role(scope, 'ProbeRole', {
    roleName,
    description: `Bunker (${prefix}): engine probe of drills; logs and its network interfaces only`,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  const logGroup = new logs.LogGroup(scope, 'ProbeLogs', {
    retention: logs.RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  logGroup.grantWrite(role);
  const { region, account, partition } = { region: Aws.REGION, account: Aws.ACCOUNT_ID, partition: Aws.PARTITION };
  const ec2Arn = (resource: string) => `arn:${partition}:ec2:${region}:${account}:${resource}`;
  // What Lambda does with the role to attach the function to the drill subnets (the rights of
  // AWSLambdaVPCAccessExecutionRole): new interfaces only in the drill subnets and with the probe's group,
  // both found by their tags, as the drill role finds the place (their ids are known after deployment).
  const statements = [
    { actions: ['ec2:CreateNetworkInterface'], resources: [ec2Arn('network-interface/*')] },
    {
      actions: ['ec2:CreateNetworkInterface'],
      resources: [ec2Arn('subnet/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${DRILL_PLACE_TAG}`]: prefix } },
    },
    {
      actions: ['ec2:CreateNetworkInterface'],
      resources: [ec2Arn('security-group/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${DRILL_PROBE_TAG}`]: prefix } },
    },
    {
      actions: ['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
      resources: [ec2Arn('network-interface/*')],
    },
    { actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], resources: ['*'] },
  ];
  for (const statement of statements) role.addToPrincipalPolicy(new iam.PolicyStatement(statement));

  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'VpcByRef', {
    vpcId: network.vpc.ref,
    availabilityZones: network.subnets.map((subnet) => subnet.attrAvailabilityZone),
    isolatedSubnetIds: network.subnets.map((subnet) => subnet.ref),
  });
  const fn = new NodejsFunction(scope, 'Probe', {
    entry: join(REPO_ROOT, 'lambdas', 'handlers', 'drill-probe.ts'),
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    functionName: name,
    description: "Asks a restored database's engine for its protocol's greeting, in the drill network",
    runtime: BUNKER_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    // A few seconds per connection at most (lambdas/adapters/drill/probe-tcp.ts), two connections for PostgreSQL.
    timeout: Duration.seconds(30),
    role,
    logGroup,
    tracing: lambda.Tracing.ACTIVE,
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: name,
      BUNKER_PROBE_CIDR: VPC_CIDR,
    },
    bundling: BUNKER_BUNDLING,
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    securityGroups: [
      ec2.SecurityGroup.fromSecurityGroupId(scope, 'ProbeGroupByRef', probeGroup.attrGroupId, {
        allowAllOutbound: false,
        mutable: false,
      }),
    ],
  });
  const policy = role.node.tryFindChild('DefaultPolicy');
  if (policy) {
    const wildcards = statements.flatMap((statement) => statement.resources);
    for (const finding of wildcardFindings(scope, [], [...new Set(wildcards)])) {
      acknowledge(
        policy,
        `${NAG_PACK}-IAM5[${finding}]`,
        "Lambda names the function's network interfaces at run time, and the drill subnets and the probe's group are found by their tags (bunker:drill-place, bunker:drill-probe); DescribeNetworkInterfaces, DescribeSubnets and X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions.",
      );
    }
  }
  return fn;
}

export interface DrillsProps {
  readonly config: BunkerConfig;
  /** The backup-data key: what every copy (and the vault bucket) is encrypted with. */
  readonly backupKey: kms.IKey;
  readonly inventory: dynamodb.ITable;
  /** The key the inventory is encrypted under: drill results are written under it. */
  readonly inventoryKey: kms.IKey;
  readonly alertsTopic: sns.Topic;
  readonly alarmAction: IAlarmAction;
}

/** The isolated place, the drill function, the state machine, schedules and alarms. */
export class Drills extends Construct {
  public readonly vpc: ec2.CfnVPC;
  public readonly subnets: readonly ec2.CfnSubnet[];
  /** The restored databases' group: admits only the probe, on the engines' ports; sends nothing. */
  public readonly securityGroup: ec2.CfnSecurityGroup;
  /** The AMI instances' group: admits nothing, sends nothing. */
  public readonly instanceSecurityGroup: ec2.CfnSecurityGroup;
  public readonly dbSubnetGroup: rds.CfnDBSubnetGroup;
  /** The engine probe in the drill network, when an RDS kind is enabled. */
  public readonly probe?: NodejsFunction;
  public readonly fn: BunkerFunction;
  public readonly stateMachine: sfn.StateMachine;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: DrillsProps) {
    super(scope, id);
    const { config, backupKey, alertsTopic, alarmAction } = props;
    const prefix = config.name;
    const place = drillPlaceName(prefix);
    const roles = drillRoleNames(prefix);
    const kinds = drillKinds(config);
    // A run's history holds its plan and Map Run only, whatever drills.maxPerRun; each drill's, its own
    // polls, bounded by its kind's target: the configuration refuses a target over maxTargetMinutes().

    // --- The isolated place ------------------------------------------------
    const built = buildDrillPlace(this, config, roles);
    this.vpc = built.vpc;
    this.subnets = built.subnets;
    this.securityGroup = built.securityGroup;
    this.instanceSecurityGroup = built.instanceSecurityGroup;
    this.dbSubnetGroup = built.dbSubnetGroup;
    if (built.probe) this.probe = built.probe;
    const drillPlace = built.place;

    // --- The drill function --------------------------------------------------
    this.fn = new BunkerFunction(this, 'Drill', {
      handler: 'drill',
      roleName: roles.fn,
      description: 'Restores copies in the isolated drill network, validates, times and tears them down',
      timeout: Duration.minutes(5),
      memorySize: 512,
      environment: {
        ...drillSettingsToEnv({
          ...drillSettings(config, backupKey.keyArn, drillPlace, alertsTopic.topicArn, Aws.PARTITION),
          // The second Region's copies are drilled in its own place, found there by name when first needed.
          ...(config.backup.secondRegion ? { secondRegion: config.backup.secondRegion } : {}),
        }),
        // Each kind's retention: a scheduled drill's older pick stays within it.
        ...retentionSettingsToEnv(retentionSettings(config)),
        POWERTOOLS_SERVICE_NAME: `${prefix}-drill`,
      },
    });
    // The place is made before the function that names it, and kept until the function is gone.
    this.fn.lambda.node.addDependency(this.dbSubnetGroup, this.securityGroup, this.instanceSecurityGroup);
    if (this.probe) this.fn.lambda.node.addDependency(this.probe);
    this.grantDrillRights(config, props, kinds);

    // --- The state machine ---------------------------------------------------
    // Named by ARN (an imported function), not by reference: the local mode applies the
    // role's policy, which then names nothing the emulator does not hold.
    const functionArn = `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:${place}`;
    (this.fn.lambda.node.defaultChild as lambda.CfnFunction).functionName = place;
    const drillFunction = lambda.Function.fromFunctionArn(this, 'DrillByArn', functionArn);
    const invoke = (id: string, payload: sfn.TaskInput, comment: string) => {
      const task = new tasks.LambdaInvoke(this, id, {
        lambdaFunction: drillFunction,
        payload,
        // The function's answer alone is the state's output (a plan, or the drill's next state).
        outputPath: '$.Payload',
        comment,
      });
      // Throttling delays a drill, never fails it; the default retry covers Lambda's service errors.
      task.addRetry({
        errors: ['Lambda.TooManyRequestsException'],
        interval: Duration.seconds(5),
        maxAttempts: 10,
        backoffRate: 2,
        maxDelay: Duration.minutes(5),
        jitterStrategy: sfn.JitterType.FULL,
      });
      return task;
    };
    const markPlan = new sfn.Pass(this, 'Mark plan', {
      comment: 'The plan payload is the input plan with action "plan"',
      result: sfn.Result.fromString('plan'),
      resultPath: '$.plan.action',
    });
    const plan = invoke(
      'Plan',
      sfn.TaskInput.fromJsonPathAt('$.plan'),
      'Which copies to drill: { drills: DrillState[] }',
    );
    const advance = invoke(
      'Advance',
      sfn.TaskInput.fromObject({ action: 'advance', state: sfn.JsonPath.entirePayload }),
      'One step of one drill; idempotent for its drill id, so a retried step makes nothing twice',
    );
    const finished = new sfn.Succeed(this, 'Drill finished');
    const unfinished = new sfn.Pass(this, 'Drill step failed', {
      comment: 'The other drills go on; the function error alarm reports this one',
    });
    advance.addCatch(unfinished, { errors: ['States.ALL'], resultPath: '$.error' });
    const waitAsked = new sfn.Wait(this, 'Wait as asked', {
      time: sfn.WaitTime.secondsPath('$.waitSeconds'),
    }).next(advance);
    const waitDefault = new sfn.Wait(this, 'Wait', {
      time: sfn.WaitTime.duration(Duration.seconds(DEFAULT_WAIT_SECONDS)),
    }).next(advance);
    const done = new sfn.Choice(this, 'Done?')
      .when(sfn.Condition.booleanEquals('$.done', true), finished)
      .when(sfn.Condition.isPresent('$.waitSeconds'), waitAsked)
      .otherwise(waitDefault);
    const drills = new sfn.DistributedMap(this, 'Each drill', {
      itemsPath: '$.drills',
      maxConcurrency: config.drills.concurrency,
      comment: `At most ${config.drills.concurrency} restores at once (drills.concurrency), each its own execution`,
      label: DRILL_MAP_LABEL,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      // The drills' final states are in the inventory; kept here, a full run's would pass the 256 KB state limit.
      resultPath: sfn.JsonPath.DISCARD,
    });
    drills.itemProcessor(advance.next(done));

    const machineLogs = new logs.LogGroup(this, 'StateMachineLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const machineRole = new iam.Role(this, 'StateMachineRole', {
      roleName: roles.stateMachine,
      description: `Bunker (${prefix}): runs the drill state machine; invokes the drill function only`,
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': config.backup.account } },
      }),
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: place,
      comment: 'Restore drills: plan, then each drill step by step, waiting out each restore',
      definitionBody: sfn.DefinitionBody.fromChainable(markPlan.next(plan).next(drills)),
      role: machineRole,
      timeout: DRILL_RUN_TIMEOUT,
      tracingEnabled: true,
      // The states carry identifiers only; still, no execution data in the logs.
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    this.stateMachine.node.addDependency(this.fn);
    // The Map Run starts each drill as a child execution of this state machine, and describes and stops
    // them. CDK's own policy for it names the parent's executions (`<name>:*`) and adds redrives, which
    // nothing here does: in its place, this machine by name and its Map Run's children only.
    this.stateMachine.node.tryRemoveChild('DistributedMapPolicy');
    const statesArn = (resource: string) =>
      `arn:${Aws.PARTITION}:states:${config.backup.region}:${config.backup.account}:${resource}`;
    const childExecutions = statesArn(`execution:${place}/${DRILL_MAP_LABEL}:*`);
    machineRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [statesArn(`stateMachine:${place}`)] }),
    );
    machineRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [childExecutions],
      }),
    );
    const machinePolicy = machineRole.node.tryFindChild('DefaultPolicy');
    if (machinePolicy) {
      for (const finding of wildcardFindings(this, [], [`${functionArn}:*`, '*', childExecutions])) {
        acknowledge(
          machinePolicy,
          `${NAG_PACK}-IAM5[${finding}]`,
          "The drill function and its versions (granted by LambdaInvoke), the drills' child executions of this state machine's Map Run (named by Step Functions at run time), and the log delivery and X-Ray actions of Step Functions logging and tracing, which have no resource-level permissions.",
        );
      }
    }

    // --- Schedules -----------------------------------------------------------
    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      roleName: roles.schedule,
      description: `Bunker (${prefix}): starts the scheduled drill run`,
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': config.backup.account } },
      }),
    });
    // By name, not by reference (as above): the policy names the state machine literally.
    const machineByName = sfn.StateMachine.fromStateMachineName(this, 'StateMachineByName', place);
    new events.Rule(this, 'Schedule', {
      description: `Scheduled restore drills (${config.drills.schedule})`,
      schedule: events.Schedule.expression(config.drills.schedule),
      targets: [
        new targets.SfnStateMachine(machineByName, {
          input: events.RuleTargetInput.fromObject({ plan: { scheduled: true } }),
          role: scheduleRole,
          retryAttempts: 4,
        }),
      ],
    }).node.addDependency(this.stateMachine);
    new events.Rule(this, 'CheckSchedule', {
      description: 'Daily: publish the days since each kind was last proven restorable, and the stale sources',
      schedule: events.Schedule.expression(DRILL_CHECK_SCHEDULE),
      targets: [
        new targets.LambdaFunction(this.fn.lambda, {
          event: events.RuleTargetInput.fromObject({ action: 'check' }),
          retryAttempts: 2,
        }),
      ],
    });

    // --- Alarms --------------------------------------------------------------
    const metric = (metricName: string, statistic: string, period: Duration, dimensionsMap?: Record<string, string>) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap, statistic, period });
    const alarm = (id: string, alarmProps: cloudwatch.AlarmProps, okToo = false) => {
      const made = new cloudwatch.Alarm(this, id, alarmProps);
      made.addAlarmAction(alarmAction);
      if (okToo) made.addOkAction(alarmAction);
      this.alarms.push(made);
      return made;
    };
    for (const kind of kinds) {
      alarm(`Failed-${kind}`, {
        alarmName: `${prefix}-drill-failed-${kind}`,
        alarmDescription: `A ${kind} restore drill failed (did not restore, validate or meet its target): run "bunker status"`,
        metric: metric('DrillsFailed', cloudwatch.Stats.SUM, Duration.hours(1), { Kind: kind }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // Published only when a drill ends: no drill is no failure.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm(
        `Unproven-${kind}`,
        {
          alarmName: `${prefix}-drill-unproven-${kind}`,
          alarmDescription: `No ${kind} copy has been proven restorable for more than ${config.drills.maxAgeDays} days (drills.maxAgeDays)`,
          metric: metric('DaysSinceProvenRestore', cloudwatch.Stats.MAXIMUM, Duration.days(1), { Kind: kind }),
          threshold: config.drills.maxAgeDays,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // A missing check is the check-stopped alarm's to report.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
        true,
      );
    }
    alarm(
      'StaleSources',
      {
        alarmName: `${prefix}-drill-stale-sources`,
        alarmDescription: `Source accounts with no passed drill for more than ${config.drills.maxAgeDays} days: run "bunker status"`,
        metric: metric('StaleDrillSources', cloudwatch.Stats.MAXIMUM, Duration.days(1)),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
      true,
    );
    alarm('CheckStopped', {
      alarmName: `${prefix}-drill-check-stopped`,
      alarmDescription:
        'The daily drill check published nothing for more than a day: nobody would hear of drills going stale',
      metric: metric('StaleDrillSources', cloudwatch.Stats.SAMPLE_COUNT, Duration.days(1)),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      // Two daily periods without a check: today's is still empty until the check runs at noon.
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm('RunFailed', {
      alarmName: `${prefix}-drill-run-failed`,
      alarmDescription: 'A drill run failed, timed out or was aborted: see the state machine executions',
      metric: new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: {
          failed: this.stateMachine.metricFailed({ statistic: cloudwatch.Stats.SUM }),
          timedOut: this.stateMachine.metricTimedOut({ statistic: cloudwatch.Stats.SUM }),
          aborted: this.stateMachine.metricAborted({ statistic: cloudwatch.Stats.SUM }),
        },
        period: Duration.hours(1),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('ErrorsAlarm', {
      alarmName: `${prefix}-drill-errors`,
      alarmDescription: 'The drill function failed (a drill step may have left restored resources): see its log group',
      metric: this.fn.lambda.metricErrors({ period: Duration.hours(1), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** The drill role: read the inventory, restore the vault's copies into the place, make and delete drills' things only. */
  private grantDrillRights(config: BunkerConfig, props: DrillsProps, kinds: readonly DrillKind[]): void {
    const { backupKey, inventory, inventoryKey, alertsTopic } = props;
    const fn = this.fn;
    const prefix = config.name;
    const { account, region } = config.backup;
    const partition = Aws.PARTITION;
    const named = drillResourcePattern(prefix);
    const snapshotKinds = enabledKinds(config);
    const rdsKinds = snapshotKinds.filter((kind) => kind.infra.service === 'rds');
    const ec2Kinds = snapshotKinds.filter((kind) => kind.infra.service === 'ec2');
    const pulled = enabledPulledKinds(config);

    // The inventory: every record read (the copies to drill), only drill items written.
    inventory.grantReadData(fn.role);
    inventoryKey.grantEncryptDecrypt(fn.role);
    fn.acknowledgeWildcards(
      { actions: ['kms:GenerateDataKey*', 'kms:ReEncrypt*'], resources: [`${inventory.tableArn}/index/*`] },
      "Granted by Table.grantReadData and Key.grantEncryptDecrypt: the inventory table, its indexes and the inventory key only; the wildcards are the key operation families DynamoDB uses with a customer-managed key and the table's index ARNs.",
    );
    fn.allow({
      actions: ['dynamodb:PutItem'],
      resources: [inventory.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['drill:*'] } },
    });
    fn.allow({ actions: ['sns:Publish'], resources: [alertsTopic.topicArn] });
    if (alertsTopic.masterKey) {
      fn.allow(
        { actions: ['kms:GenerateDataKey*', 'kms:Decrypt'], resources: [alertsTopic.masterKey.keyArn] },
        'Publishing to the encrypted alerts topic: the alerts key only; GenerateDataKey* is the operation family SNS uses with a customer-managed key.',
      );
    }
    // The backup-data key through S3, reading the vault bucket: never directly, no Decrypt outside S3.
    const via = (services: readonly string[]) => ({
      'kms:ViaService': services.map((service) => `${service}.${region}.amazonaws.com`),
    });
    if (pulled.length > 0) {
      const bucket = `arn:${partition}:s3:::${vaultBucketName(prefix, account, region)}`;
      fn.allow({ actions: ['kms:Decrypt'], resources: [backupKey.keyArn], conditions: { StringEquals: via(['s3']) } });
      // ListBucketVersions: a drill checks that a held object was written once (no version put over it).
      fn.allow({ actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: [bucket] });
      fn.allow(
        { actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [`${bucket}/*`] },
        'The pulled values in the vault bucket, whose keys the pulls choose at run time: read only, to decrypt and compare with their checksums.',
      );
    }

    // Restoring the vault's copies into each Region's place: the vault Region's and, with a second Region, the
    // second-hop copies into that Region's place (the same names; found there by them at run time).
    const second = rdsKinds.length > 0 || ec2Kinds.length > 0 ? config.backup.secondRegion : undefined;
    const secondKeys = second ? `arn:${partition}:kms:${second}:${account}:key/*` : undefined;
    // Both Regions' backup-data keys have the vault's alias; the second's id is made by that Region's stack.
    const withAlias = { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [vaultNames(prefix).backupKeyAlias] } };
    const keyReason = `The backup-data key of ${second} is made by that Region's stack and its id is unknown here: only the key with the vault's key alias (kms:ResourceAliases), this account's, in that Region.`;
    // An inline policy of its own: CDK's size estimate would move part of the default policy into a managed
    // policy otherwise; the role's inline policies together stay within IAM's 10,240 characters (about 9,000
    // with a 20-character prefix and both Regions).
    // Made only when a snapshot kind gives it statements: with only pulled kinds there is nothing to restore here.
    let restorePolicy: iam.Policy | undefined;
    this.grantRestoreRights(
      config,
      [region, ...(second ? [second] : [])],
      [
        { region, arn: backupKey.keyArn },
        ...(second && secondKeys ? [{ region: second, arn: secondKeys, conditions: withAlias }] : []),
      ],
      (statement, reason) => {
        restorePolicy ??= new iam.Policy(this, 'RestorePolicy', { roles: [fn.role] });
        restorePolicy.addStatements(new iam.PolicyStatement(statement));
        const findings = wildcardFindings(this, statement.actions ?? [], statement.resources ?? []);
        const why = secondKeys && statement.resources?.includes(secondKeys) ? `${reason ?? ''} ${keyReason}` : reason;
        if (findings.length > 0 && !why) throw new Error(`${this.node.path}: ${findings.join(', ')} need a reason`);
        for (const finding of findings) acknowledge(restorePolicy, `${NAG_PACK}-IAM5[${finding}]`, why ?? '');
      },
    );
    if (second && secondKeys) {
      // Finding the second Region's place and key by name (lambdas/adapters/drill/place.ts, kms-keys.ts).
      fn.allow(
        { actions: ['ec2:DescribeVpcs', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups'], resources: ['*'] },
        `EC2 Describe calls have no resource-level permissions; read-only, to find the drill place of ${second} by its names.`,
      );
      fn.allow({
        actions: ['rds:DescribeDBSubnetGroups'],
        resources: [`arn:${partition}:rds:${second}:${account}:subgrp:${drillPlaceName(prefix)}`],
      });
      fn.allow(
        {
          actions: ['kms:DescribeKey'],
          resources: [secondKeys],
          conditions: { StringEquals: { 'kms:RequestAlias': vaultNames(prefix).backupKeyAlias } },
        },
        keyReason,
      );
    }
    if (rdsKinds.length > 0) {
      // The engine probe of each place, by name, and no other function: the only way to a restored database. A
      // policy of its own: CDK's size estimate would move part of the default policy into a managed policy otherwise.
      new iam.Policy(this, 'ProbeInvokePolicy', {
        roles: [fn.role],
        statements: [
          new iam.PolicyStatement({
            actions: ['lambda:InvokeFunction'],
            resources: [region, ...(second ? [second] : [])].map(
              (r) => `arn:${partition}:lambda:${r}:${account}:function:${drillProbeName(prefix)}`,
            ),
          }),
        ],
      });
    }

    if (kinds.includes('dynamodb')) {
      fn.allow(
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
          resources: [`arn:${partition}:dynamodb:${region}:${account}:table/${named}`],
        },
        `A DynamoDB drill creates, loads, reads and deletes a table of its own, named ${named} at run time, tagged with its drill (the tag carries the load position); no other table.`,
      );
      // The drill table is under the backup-data key: DynamoDB uses it on the role's behalf, never the role directly.
      fn.allow(
        {
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:DescribeKey', 'kms:CreateGrant'],
          resources: [backupKey.keyArn],
          conditions: { StringEquals: via(['dynamodb']) },
        },
        'GenerateDataKey* is the operation family DynamoDB uses for a table under a customer-managed key; the backup-data key only, only through DynamoDB.',
      );
    }
  }

  /**
   * The rights to restore the vault's copies in `regions` into each Region's
   * place, make and delete a drill's own restores there and nothing else.
   * With a second Region each statement names both Regions' resources: the
   * second Region gets exactly the first's rights, and the role's inline
   * policies stay within their 10,240 characters (a statement per Region
   * outgrew them). `key` names the backup-data keys.
   */
  private grantRestoreRights(
    config: BunkerConfig,
    regions: readonly string[],
    keys: readonly {
      readonly region: string;
      readonly arn: string;
      readonly conditions?: Record<string, Record<string, unknown>>;
    }[],
    allow: (statement: iam.PolicyStatementProps, wildcardReason?: string) => void,
  ): void {
    const prefix = config.name;
    const { account } = config.backup;
    const partition = Aws.PARTITION;
    const named = drillResourcePattern(prefix);
    const snapshotKinds = enabledKinds(config);
    const rdsKinds = snapshotKinds.filter((kind) => kind.infra.service === 'rds');
    const ec2Kinds = snapshotKinds.filter((kind) => kind.infra.service === 'ec2');
    // The backup-data key: restoring an encrypted copy lets RDS or EC2 use it on the role's behalf. Never
    // directly: no Decrypt outside those services.
    const restoreServices = [...(rdsKinds.length > 0 ? ['rds'] : []), ...(ec2Kinds.length > 0 ? ['ec2'] : [])];
    // Each Region's key through its own Region's services only: a key is of one Region, and so is a restore.
    for (const key of restoreServices.length > 0 ? keys : []) {
      const via = { 'kms:ViaService': restoreServices.map((service) => `${service}.${key.region}.amazonaws.com`) };
      allow(
        {
          actions: ['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncrypt*', 'kms:DescribeKey'],
          resources: [key.arn],
          conditions: { StringEquals: via, ...key.conditions },
        },
        'ReEncrypt* is the key operation family RDS and EC2 use to restore an encrypted copy; the backup-data key only, only through them.',
      );
      allow({
        actions: ['kms:CreateGrant'],
        resources: [key.arn],
        conditions: { StringEquals: via, Bool: { 'kms:GrantIsForAWSResource': 'true' }, ...key.conditions },
      });
    }
    if (rdsKinds.length > 0) {
      const rdsArn = (resource: string) =>
        regions.map((region) => `arn:${partition}:rds:${region}:${account}:${resource}`);
      const drillDatabases = [...rdsArn(`db:${named}`), ...rdsArn(`cluster:${named}`)];
      const copies = regions.flatMap((region) =>
        rdsKinds.flatMap((kind) => kind.infra.vaultCopyArns(partition, account, region)),
      );
      allow(
        {
          actions: ['rds:RestoreDBInstanceFromDBSnapshot', 'rds:RestoreDBClusterFromSnapshot', 'rds:CreateDBInstance'],
          resources: [
            ...copies,
            ...drillDatabases,
            ...rdsArn(`subgrp:${drillPlaceName(prefix)}`),
            ...rdsArn('og:*'),
            ...rdsArn('pg:*'),
            ...rdsArn('cluster-pg:*'),
          ],
          // Tagged with its drill at creation, or not made at all.
          conditions: { Null: { [`aws:RequestTag/${DRILL_TAG}`]: 'false' } },
        },
        `Restores the vault's own copies (named at run time) into ${named} instances and clusters in the drill subnet group only; option and parameter groups are only attached, and RDS names the default ones by engine.`,
      );
      allow(
        {
          actions: ['rds:AddTagsToResource'],
          resources: drillDatabases,
          conditions: { Null: { [`aws:RequestTag/${DRILL_TAG}`]: 'false' } },
        },
        `Tags a drill's own ${named} instances and clusters as it makes them; the drill names its resources at run time.`,
      );
      allow(
        {
          actions: ['rds:DeleteDBInstance', 'rds:DeleteDBCluster'],
          resources: drillDatabases,
          conditions: { Null: { [`aws:ResourceTag/${DRILL_TAG}`]: 'false' } },
        },
        `Deletes only what a drill made: named ${named} and tagged ${DRILL_TAG}.`,
      );
      allow(
        {
          actions: [
            'rds:DescribeDBInstances',
            'rds:DescribeDBClusters',
            'rds:DescribeDBSnapshots',
            'rds:DescribeDBClusterSnapshots',
          ],
          resources: [...rdsArn('*')],
        },
        'Read-only: where a restore is, and the copy it is of; this account and Region only.',
      );
    }

    if (ec2Kinds.length > 0) {
      const ec2Arn = (resource: string, owner = account) =>
        regions.map((region) => `arn:${partition}:ec2:${region}:${owner}:${resource}`);
      const drillOwn = [...ec2Arn('volume/*'), ...ec2Arn('instance/*')];
      allow(
        {
          actions: ['ec2:CreateVolume', 'ec2:RunInstances'],
          resources: [...ec2Arn('snapshot/*', ''), ...ec2Arn('image/*', '')],
          // The vault's own copies: EC2 ARNs of snapshots and images carry no account, their owner does.
          conditions: { StringEquals: { 'ec2:Owner': account } },
        },
        "Snapshot and image ARNs carry no account and the copies' ids are chosen at run time: the backup account's own copies only (ec2:Owner).",
      );
      allow(
        {
          actions: ['ec2:CreateVolume', 'ec2:RunInstances'],
          resources: drillOwn,
          conditions: { Null: { [`aws:RequestTag/${DRILL_TAG}`]: 'false' } },
        },
        `Volumes and instances get their ids at creation: only tagged ${DRILL_TAG} as they are made.`,
      );
      allow(
        {
          actions: ['ec2:RunInstances'],
          resources: [...ec2Arn('subnet/*'), ...ec2Arn('security-group/*')],
          conditions: { StringEquals: { [`aws:ResourceTag/${DRILL_PLACE_TAG}`]: prefix } },
        },
        `The drill subnets and security group only (tagged ${DRILL_PLACE_TAG}), whose ids are known after deployment.`,
      );
      allow(
        {
          actions: ['ec2:RunInstances'],
          resources: ec2Arn('network-interface/*'),
          conditions: { Bool: { 'ec2:AssociatePublicIpAddress': 'false' } },
        },
        "An instance's network interface gets its id at launch; in a drill subnet (above) and never with a public address.",
      );
      allow(
        {
          actions: ['ec2:CreateTags'],
          resources: drillOwn,
          conditions: { StringEquals: { 'ec2:CreateAction': ['CreateVolume', 'RunInstances'] } },
        },
        'Tags only as a drill volume or instance is made (ec2:CreateAction), never an existing resource.',
      );
      allow(
        {
          actions: ['ec2:DeleteVolume', 'ec2:TerminateInstances'],
          resources: drillOwn,
          conditions: { Null: { [`aws:ResourceTag/${DRILL_TAG}`]: 'false' } },
        },
        `Deletes and terminates only what a drill made: tagged ${DRILL_TAG}.`,
      );
      allow(
        {
          actions: [
            'ec2:DescribeVolumes',
            'ec2:DescribeInstances',
            'ec2:DescribeInstanceStatus',
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSubnets',
            'ec2:DescribeSnapshots',
            'ec2:DescribeImages',
          ],
          resources: ['*'],
        },
        'EC2 Describe calls have no resource-level permissions; read-only.',
      );
    }
  }
}
