/**
 * The drill of an AMI copy: launch one instance of it in the isolated
 * place's first subnet with only the instances' security group (nothing in,
 * nothing out, no public address), wait until it runs and EC2's status
 * checks pass, check it (this image, every volume under the backup-data
 * key, no way in or out), terminate it and delete any volume it left.
 *
 * The status checks are what EC2 sees from outside the guest: the system
 * check (the host, its network and power) and the instance check (the
 * guest answers on its network interface, so the operating system booted).
 * Whether the image's own services come up is not checked: that needs a
 * way into the instance, which the drill deliberately does not open.
 */
import {
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
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

/**
 * A running instance's progress by EC2's two status checks: usable when
 * both are `ok`, failed when either is `impaired` (the guest did not boot,
 * or its host failed), else still initializing.
 */
export function statusChecksProgress(
  id: string,
  instanceStatus: string | undefined,
  systemStatus: string | undefined,
): RestoreProgress {
  const words = `instance ${id} running, status checks: instance ${instanceStatus ?? 'unknown'}, system ${systemStatus ?? 'unknown'}`;
  if (instanceStatus === 'ok' && systemStatus === 'ok') return { state: 'usable', detail: words };
  if (instanceStatus === 'impaired' || systemStatus === 'impaired') return { state: 'failed', detail: words };
  return { state: 'pending', detail: words };
}

export class AmiDrill implements DrillModule {
  readonly kind = 'ami' as const;

  constructor(
    private readonly ec2: EC2Client,
    private readonly settings: DrillSettings,
  ) {}

  /** The instances' group: the place's own, or (in a place made before the probe) the one group for all. */
  private get securityGroupId(): string {
    return this.settings.place.instanceSecurityGroupId ?? this.settings.place.securityGroupId;
  }

  /** EC2's instance and system status checks of a running instance. */
  private async statusChecks(id: string): Promise<{ instance?: string; system?: string }> {
    const answer = await orMissing(
      this.ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id], IncludeAllInstances: true })),
    );
    const status = answer?.InstanceStatuses?.[0];
    return { instance: status?.InstanceStatus?.Status, system: status?.SystemStatus?.Status };
  }

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
        SecurityGroupIds: [this.securityGroupId],
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
    if (state === 'running') {
      const checks = await this.statusChecks(handle.instance);
      return statusChecksProgress(handle.instance, checks.instance, checks.system);
    }
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
      new DescribeSecurityGroupsCommand({ GroupIds: [this.securityGroupId] }),
    );
    const egress = SecurityGroups[0]?.IpPermissionsEgress ?? [];
    const ingress = SecurityGroups[0]?.IpPermissions ?? [];
    const checks = await this.statusChecks(handle.instance);
    return [
      check('status', instance.State?.Name === 'running', `instance ${instance.State?.Name ?? 'unknown'}`),
      check(
        'status checks',
        checks.instance === 'ok' && checks.system === 'ok',
        `instance ${checks.instance ?? 'unknown'}, system ${checks.system ?? 'unknown'}`,
      ),
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
          groups[0] === this.securityGroupId &&
          ingress.length === 0 &&
          sendsNothing(egress) &&
          !instance.PublicIpAddress,
        `security groups ${groups.join(', ') || 'none'}, ${ingress.length === 0 ? 'no ingress' : `${ingress.length} ingress rule(s) that let packets in`}, ${sendsNothing(egress) ? 'no egress' : `${egress.length} egress rule(s) that let packets out`}, ${instance.PublicIpAddress ? 'a' : 'no'} public address`,
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
