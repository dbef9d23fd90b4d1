/**
 * The isolated place a drill restores into, found by the names the vault
 * stack gives it (`bunker drill` against the emulator, where no stack
 * output says where it is): the VPC tagged Name `<prefix>-drill`, its
 * subnets, the databases' security group `<prefix>-drill`, the instances'
 * security group `<prefix>-drill-instances` and the DB subnet group
 * `<prefix>-drill`. The probe function and its group are not looked for:
 * the local mode probes restored engines in-process.
 */
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
} from '@aws-sdk/client-ec2';
import { CreateDBSubnetGroupCommand, DescribeDBSubnetGroupsCommand, RDSClient } from '@aws-sdk/client-rds';
import { BunkerError } from '../../core/errors';
import type { DrillPlace } from '../../core/drill/settings';
import { type AwsContext, clientConfig } from '../aws-context';

/** The name of the drill VPC (its Name tag), the databases' security group and the DB subnet group. */
export const drillPlaceName = (prefix: string) => `${prefix}-drill`;
/** The name of the AMI instances' security group, which admits nothing and sends nothing. */
export const drillInstancesGroupName = (prefix: string) => `${prefix}-drill-instances`;

export async function findDrillPlace(ctx: AwsContext, prefix: string): Promise<DrillPlace> {
  const name = drillPlaceName(prefix);
  const ec2 = new EC2Client(clientConfig(ctx));
  const rds = new RDSClient(clientConfig(ctx));
  try {
    const { Vpcs } = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [name] }] }));
    const vpcId = Vpcs?.[0]?.VpcId;
    if (!vpcId) {
      throw new BunkerError(
        `no VPC tagged Name=${name} in ${ctx.region}: is the vault stack deployed with drills enabled (or \`bunker local up\` run)?`,
      );
    }
    const { Subnets } = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));
    const subnetIds = (Subnets ?? [])
      .map((s) => s.SubnetId)
      .filter((id): id is string => Boolean(id))
      .sort();
    const { SecurityGroups = [] } = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: [name, drillInstancesGroupName(prefix)] },
        ],
      }),
    );
    const securityGroupId = SecurityGroups.find((g) => g.GroupName === name)?.GroupId;
    const instanceSecurityGroupId = SecurityGroups.find(
      (g) => g.GroupName === drillInstancesGroupName(prefix),
    )?.GroupId;
    const groups = await rds
      .send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: name }))
      .catch((error: unknown) => {
        if (/DBSubnetGroupNotFound/.test((error as Error).name)) return undefined;
        throw error;
      });
    if (subnetIds.length === 0 || !securityGroupId || !groups?.DBSubnetGroups?.length) {
      throw new BunkerError(
        `the drill place ${name} in ${ctx.region} is incomplete: ${subnetIds.length} subnet(s), ` +
          `security group ${securityGroupId ?? 'missing'}, DB subnet group ${groups?.DBSubnetGroups?.length ? name : 'missing'}`,
      );
    }
    return {
      vpcId,
      subnetIds,
      securityGroupId,
      dbSubnetGroup: name,
      ...(instanceSecurityGroupId ? { instanceSecurityGroupId } : {}),
    };
  } finally {
    ec2.destroy();
    rds.destroy();
  }
}

/**
 * Makes the place on the emulator as the vault stack names it, for tests
 * and the demo when the local mode has not: a VPC tagged Name
 * `<prefix>-drill` with two subnets in two Availability Zones and no route
 * out, the security groups `<prefix>-drill` (databases) and
 * `<prefix>-drill-instances` (AMI instances) that admit nothing and send
 * nothing (their default egress rules revoked), and the DB subnet group
 * `<prefix>-drill` over the subnets. The stack's databases' group also
 * admits its probe function's group; locally there is no probe function.
 */
export async function createDrillPlace(ctx: AwsContext, prefix: string): Promise<DrillPlace> {
  const name = drillPlaceName(prefix);
  const ec2 = new EC2Client(clientConfig(ctx));
  const rds = new RDSClient(clientConfig(ctx));
  try {
    const { Vpc } = await ec2.send(
      new CreateVpcCommand({
        CidrBlock: '10.42.0.0/16',
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: name }] }],
      }),
    );
    const vpcId = Vpc?.VpcId ?? '';
    const subnetIds: string[] = [];
    for (const [i, zone] of ['a', 'b'].entries()) {
      const { Subnet } = await ec2.send(
        new CreateSubnetCommand({
          VpcId: vpcId,
          CidrBlock: `10.42.${i}.0/24`,
          AvailabilityZone: `${ctx.region}${zone}`,
        }),
      );
      subnetIds.push(Subnet?.SubnetId ?? '');
    }
    const closedGroup = async (groupName: string, what: string) => {
      const { GroupId } = await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: groupName,
          Description: `Bunker restore drills, ${what}: nothing in, nothing out`,
          VpcId: vpcId,
        }),
      );
      await ec2.send(
        new RevokeSecurityGroupEgressCommand({
          GroupId,
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
      );
      return GroupId ?? '';
    };
    const securityGroupId = await closedGroup(name, 'restored databases');
    const instanceSecurityGroupId = await closedGroup(drillInstancesGroupName(prefix), 'restored AMI instances');
    await rds.send(
      new CreateDBSubnetGroupCommand({
        DBSubnetGroupName: name,
        DBSubnetGroupDescription: 'Bunker restore drills',
        SubnetIds: subnetIds,
      }),
    );
    return {
      vpcId,
      subnetIds: [...subnetIds].sort(),
      securityGroupId,
      dbSubnetGroup: name,
      instanceSecurityGroupId,
    };
  } finally {
    ec2.destroy();
    rds.destroy();
  }
}
