/**
 * The drill of an AMI copy: launch one instance of it in the isolated
 * place's first subnet with only the drill security group (no egress, no
 * public address), wait until it runs, check it (this image, every volume
 * under the backup-data key, no way out), terminate it and delete any
 * volume it left.
 *
 * "Running" is what EC2 reports; whether the operating system booted is
 * what the instance's status checks would add, and whether its services
 * answer needs a network path in, which a drill does not have yet.
 */
import {
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { DRILL_TAG, drillHash, drillTags } from '../../core/drill/names';
import type { DrillSettings } from '../../core/drill/settings';
import type { DrillCheck, DrillModule, DrillSubject, RestoreProgress } from '../../core/drill/types';
import { check, orMissing, sendsNothing } from '../../adapters/drill/checks';
import { sameKmsKey } from '../../core/keys';
import { drillVolumes } from '../ebs-snapshot/drill';

/** The smallest current instance type of each architecture: the drill proves the image launches, not its load. */
export const AMI_DRILL_INSTANCE_TYPES: Readonly<Record<string, _InstanceType>> = {
  arm64: 't4g.micro',
  x86_64: 't3.micro',
};

const GONE = new Set(['terminated', 'shutting-down']);

export class AmiDrill implements DrillModule {
  readonly kind = 'ami' as const;

  constructor(
    private readonly ec2: EC2Client,
    private readonly settings: DrillSettings,
  ) {}

  private async instance(id: string): Promise<Instance | undefined> {
    const answer = await orMissing(this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
    return answer?.Reservations?.[0]?.Instances?.[0];
  }

  /** The drill's live instance, found by its tag: what a replayed start finds. */
  private async launched(drillId: string): Promise<Instance | undefined> {
    const { Reservations } = await this.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: `tag:${DRILL_TAG}`, Values: [drillId] }] }),
    );
    return (Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => !GONE.has(i.State?.Name ?? ''));
  }

  async start(drillId: string, subject: DrillSubject): Promise<Record<string, string>> {
    const running = await this.launched(drillId);
    if (running?.InstanceId) return { instance: running.InstanceId, drillId };
    const image = (await orMissing(this.ec2.send(new DescribeImagesCommand({ ImageIds: [subject.copyId] }))))
      ?.Images?.[0];
    if (!image) throw new Error(`the image copy ${subject.copyId} is not found`);
    const tags = drillTags(this.settings.prefix, drillId);
    const { Instances } = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: subject.copyId,
        InstanceType: AMI_DRILL_INSTANCE_TYPES[image.Architecture ?? 'x86_64'] ?? 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: this.settings.place.subnetIds[0],
        SecurityGroupIds: [this.settings.place.securityGroupId],
        // A lost answer is retried with the same token and launches nothing twice.
        ClientToken: `${this.settings.prefix}-drill-${drillHash(drillId)}`,
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: { HttpTokens: 'required' },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
    );
    const id = Instances?.[0]?.InstanceId;
    if (!id) throw new Error('RunInstances answered no instance id');
    return { instance: id, drillId };
  }

  async progress(handle: Readonly<Record<string, string>>): Promise<RestoreProgress> {
    const instance = await this.instance(handle.instance);
    const state = instance?.State?.Name;
    if (state === 'running') return { state: 'usable', detail: `instance ${handle.instance} running` };
    if (state === 'pending') return { state: 'pending', detail: `instance ${handle.instance} pending` };
    const reason = instance?.StateReason?.Message ? `: ${instance.StateReason.Message}` : '';
    return { state: 'failed', detail: `instance ${handle.instance} ${state ?? 'is gone'}${reason}` };
  }

  async validate(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<DrillCheck[]> {
    const instance = await this.instance(handle.instance);
    if (!instance) return [check('status', false, `instance ${handle.instance} is gone`)];
    const volumeIds = (instance.BlockDeviceMappings ?? []).map((m) => m.Ebs?.VolumeId).filter((v): v is string => !!v);
    const { Volumes = [] } = volumeIds.length
      ? await this.ec2.send(new DescribeVolumesCommand({ VolumeIds: volumeIds }))
      : { Volumes: [] };
    const rootId = instance.BlockDeviceMappings?.find((m) => m.DeviceName === instance.RootDeviceName)?.Ebs?.VolumeId;
    const root = Volumes.find((v) => v.VolumeId === rootId);
    const wrong = Volumes.filter((v) => !v.Encrypted || !sameKmsKey(v.KmsKeyId, this.settings.backupKeyArn));
    const groups = (instance.SecurityGroups ?? []).map((g) => g.GroupId ?? '');
    const { SecurityGroups = [] } = await this.ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: [this.settings.place.securityGroupId] }),
    );
    const egress = SecurityGroups[0]?.IpPermissionsEgress ?? [];
    return [
      check('status', instance.State?.Name === 'running', `instance ${instance.State?.Name ?? 'unknown'}`),
      check(
        'image',
        instance.ImageId === subject.copyId,
        `launched from ${instance.ImageId ?? '?'}, the copy is ${subject.copyId}`,
      ),
      check(
        'key',
        root !== undefined && wrong.length === 0,
        root === undefined
          ? `no root volume at ${instance.RootDeviceName ?? '?'}`
          : wrong.length === 0
            ? `${Volumes.length} volume(s), the root included, encrypted under the backup-data key`
            : `not under the backup-data key: ${wrong.map((v) => `${v.VolumeId} (${v.Encrypted ? (v.KmsKeyId ?? 'unnamed key') : 'unencrypted'})`).join(', ')}`,
      ),
      check(
        'isolated',
        groups.length === 1 &&
          groups[0] === this.settings.place.securityGroupId &&
          sendsNothing(egress) &&
          !instance.PublicIpAddress,
        `security groups ${groups.join(', ') || 'none'}, ${sendsNothing(egress) ? 'no egress' : `${egress.length} egress rule(s) that let packets out`}, ${instance.PublicIpAddress ? 'a' : 'no'} public address`,
      ),
    ];
  }

  async tearDown(handle: Readonly<Record<string, string>>): Promise<boolean> {
    const instance = handle.instance ? await this.instance(handle.instance) : undefined;
    if (instance && instance.State?.Name !== 'terminated') {
      if (instance.State?.Name !== 'shutting-down') {
        await orMissing(this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [handle.instance] })));
      }
      const after = await this.instance(handle.instance);
      if (after && after.State?.Name !== 'terminated') return false;
    }
    // Volumes the image kept on termination (DeleteOnTermination false) were tagged at launch.
    let left = 0;
    for (const volume of handle.drillId ? await drillVolumes(this.ec2, handle.drillId) : []) {
      if (volume.State === 'in-use') {
        left += 1;
        continue;
      }
      await orMissing(this.ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId })));
    }
    return left === 0;
  }
}
