/**
 * The isolated place restore drills use, made on the emulator the way the
 * vault stack names it: a VPC tagged Name `<prefix>-drill` with two subnets
 * in two Availability Zones, a security group `<prefix>-drill` that admits
 * nothing and sends nothing (its default egress rule revoked), and the DB
 * subnet group `<prefix>-drill` over the subnets.
 */
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
} from '@aws-sdk/client-ec2';
import { CreateDBSubnetGroupCommand, RDSClient } from '@aws-sdk/client-rds';
import type { DrillPlace } from '../../lambdas/core/drill/settings';
import { clientConfig, DEFAULT_TEST_REGION } from './aws';

export async function createDrillPlace(
  endpoint: string,
  account: string,
  prefix = 'bunker',
  region = DEFAULT_TEST_REGION,
): Promise<DrillPlace> {
  const name = `${prefix}-drill`;
  const ec2 = new EC2Client(clientConfig(endpoint, account, region));
  const rds = new RDSClient(clientConfig(endpoint, account, region));
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
        new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.42.${i}.0/24`, AvailabilityZone: `${region}${zone}` }),
      );
      subnetIds.push(Subnet?.SubnetId ?? '');
    }
    const { GroupId } = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: 'Bunker restore drills: nothing in, nothing out',
        VpcId: vpcId,
      }),
    );
    const securityGroupId = GroupId ?? '';
    await ec2.send(
      new RevokeSecurityGroupEgressCommand({
        GroupId: securityGroupId,
        IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    await rds.send(
      new CreateDBSubnetGroupCommand({
        DBSubnetGroupName: name,
        DBSubnetGroupDescription: 'Bunker restore drills',
        SubnetIds: subnetIds,
      }),
    );
    return { vpcId, subnetIds: [...subnetIds].sort(), securityGroupId, dbSubnetGroup: name };
  } finally {
    ec2.destroy();
    rds.destroy();
  }
}
