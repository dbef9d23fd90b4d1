/**
 * The drill place in the local mode: `bunker local up` applies the vault
 * template's isolated network to the emulator, so `bunker drill --endpoint`
 * finds it by name as the drill handler does in AWS: the VPC tagged
 * `bunker-drill`, its two subnets, the databases' security group and the DB
 * subnet group named `bunker-drill`, the AMI instances' group
 * `bunker-drill-instances`. The engine probe function is not deployed
 * locally (the local mode probes in-process), so neither are the rules that
 * let it reach the databases. Read back with this test's own SDK clients.
 * The vault template is applied as `local up` applies it (applyStack).
 */
import {
  DescribeInternetGatewaysCommand,
  DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type SecurityGroup,
  type Subnet,
  type Vpc,
} from '@aws-sdk/client-ec2';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { DescribeDBSubnetGroupsCommand, RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStack } from '../../cli/local/template-applier';
import { findDrillPlace } from '../../lambdas/adapters/drill/place';
import { synthesizeStacks } from '../../cli/local/up';
import { parseConfig } from '../../lib/config/load';
import { clientConfig, credentialsFor, freshAccountId } from '../support/aws';
import { emulatorEndpoint } from '../support/emulator';

const endpoint = emulatorEndpoint();
const REGION = 'eu-west-1';

describe('the drill place after local up', () => {
  const backup = freshAccountId();
  const config = parseConfig({
    name: 'bunker',
    backup: { account: backup, region: REGION },
    sources: [{ account: freshAccountId(), regions: [REGION] }],
    artifacts: { rds: { enabled: true }, ebs: { enabled: true } },
    alerts: { allowNoEmail: true },
  });
  const ec2 = new EC2Client(clientConfig(endpoint, backup, REGION));
  const rds = new RDSClient(clientConfig(endpoint, backup, REGION));
  const iam = new IAMClient(clientConfig(endpoint, backup, 'us-east-1'));
  let vpc: Vpc;
  let subnets: Subnet[];
  let group: SecurityGroup;
  let instances: SecurityGroup;
  let firstRun: string[];
  let secondRun: string[];

  beforeAll(async () => {
    // The vault stack as `local up` applies it, twice; the source stacks hold nothing of drills.
    const { vault } = synthesizeStacks(config);
    const contextFor = async (account: string, region: string) => ({
      endpoint,
      region,
      credentials: await credentialsFor(endpoint, account),
    });
    firstRun = [];
    await applyStack(vault, { contextFor, progress: (line) => firstRun.push(line) });
    secondRun = [];
    await applyStack(vault, { contextFor, progress: (line) => secondRun.push(line) });
    const { Vpcs } = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['bunker-drill'] }] }),
    );
    expect(Vpcs).toHaveLength(1);
    vpc = Vpcs?.[0] ?? {};
    ({ Subnets: subnets = [] } = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId ?? ''] }] }),
    ));
    const { SecurityGroups } = await ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['bunker-drill'] }] }),
    );
    expect(SecurityGroups).toHaveLength(1);
    group = SecurityGroups?.[0] ?? {};
    const { SecurityGroups: instanceGroups } = await ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['bunker-drill-instances'] }] }),
    );
    expect(instanceGroups).toHaveLength(1);
    instances = instanceGroups?.[0] ?? {};
  });
  afterAll(() => [ec2, rds, iam].forEach((client) => client.destroy()));

  it('is one VPC named bunker-drill, with two subnets in two Availability Zones and no public addresses', () => {
    expect(vpc.CidrBlock).toBe('10.64.0.0/16');
    expect(subnets.map((s) => s.CidrBlock).sort()).toEqual(['10.64.0.0/24', '10.64.1.0/24']);
    expect(new Set(subnets.map((s) => s.AvailabilityZone)).size).toBe(2);
    expect(subnets.map((s) => s.MapPublicIpOnLaunch)).toEqual([false, false]);
    for (const subnet of subnets) {
      expect(subnet.Tags).toContainEqual({ Key: 'bunker:drill-place', Value: 'bunker' });
    }
  });

  it('has no way out: no internet or NAT gateway, and only the local route', async () => {
    const vpcFilter = [{ Name: 'attachment.vpc-id', Values: [vpc.VpcId ?? ''] }];
    expect((await ec2.send(new DescribeInternetGatewaysCommand({ Filters: vpcFilter }))).InternetGateways).toEqual([]);
    const { NatGateways } = await ec2.send(
      new DescribeNatGatewaysCommand({ Filter: [{ Name: 'vpc-id', Values: [vpc.VpcId ?? ''] }] }),
    );
    expect(NatGateways ?? []).toEqual([]);
    const { RouteTables } = await ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId ?? ''] }] }),
    );
    expect(RouteTables?.flatMap((table) => table.Routes ?? []).map((route) => route.GatewayId)).toEqual(['local']);
  });

  it('has the security groups bunker-drill and bunker-drill-instances, which admit nothing and send nothing anywhere', () => {
    for (const closed of [group, instances]) {
      expect(closed.VpcId).toBe(vpc.VpcId);
      expect(closed.IpPermissions).toEqual([]);
      // EC2's allow-all egress is gone; the one rule left matches no packet (ICMP type 252 code 86 to a broadcast /32).
      expect(
        closed.IpPermissionsEgress?.map(({ IpProtocol, FromPort, ToPort, IpRanges }) => ({
          IpProtocol,
          FromPort,
          ToPort,
          cidrs: IpRanges?.map((range) => range.CidrIp),
        })),
      ).toEqual([{ IpProtocol: 'icmp', FromPort: 252, ToPort: 86, cidrs: ['255.255.255.255/32'] }]);
    }
  });

  it('is found by the local mode with the instances’ group, and no probe function (it probes in-process)', async () => {
    const context = { endpoint, region: REGION, credentials: await credentialsFor(endpoint, backup) };
    const place = await findDrillPlace(context, 'bunker');
    expect(place.securityGroupId).toBe(group.GroupId);
    expect(place.instanceSecurityGroupId).toBe(instances.GroupId);
    expect(place.probeFunction).toBeUndefined();
  });

  it('has the DB subnet group bunker-drill over exactly the two subnets', async () => {
    const { DBSubnetGroups } = await rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: 'bunker-drill' }));
    expect(DBSubnetGroups?.[0]?.VpcId).toBe(vpc.VpcId);
    expect(DBSubnetGroups?.[0]?.Subnets?.map((s) => s.SubnetIdentifier).sort()).toEqual(
      subnets.map((s) => s.SubnetId).sort(),
    );
  });

  it('creates the drill roles, but neither the state machine, the flow log nor the probe’s rules, and says so', async () => {
    for (const name of [
      'bunker-drill',
      'bunker-drill-states',
      'bunker-drill-schedule',
      'bunker-drill-flow-logs',
      'bunker-drill-probe',
    ]) {
      expect((await iam.send(new GetRoleCommand({ RoleName: name }))).Role?.RoleName).toBe(name);
    }
    // The vault's summary line: the local mode runs drill steps in-process, and keeps no logs for a flow log.
    const [vaultSummary] = firstRun.filter((line) => line.includes(' created, '));
    expect(vaultSummary).toContain('AWS::StepFunctions::StateMachine');
    expect(vaultSummary).toContain('AWS::EC2::FlowLog');
    // The probe's rules between the groups are not applied: the local mode has no probe function.
    expect(vaultSummary).toContain('AWS::EC2::SecurityGroupIngress');
    expect(vaultSummary).toContain('AWS::EC2::SecurityGroupEgress');
  });

  it('finds it all again on a second run, and creates nothing twice', () => {
    expect(secondRun.filter((line) => /^ {2}created /.test(line))).toEqual([]);
  });
});
