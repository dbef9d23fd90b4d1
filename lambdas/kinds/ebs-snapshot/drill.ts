/**
 * The drill of an EBS snapshot copy: create a volume from it in the
 * Availability Zone of the isolated place's first subnet, check it against
 * the copy's record (size, encryption, the backup-data key, made from this
 * copy), delete it. The volume takes the copy's own key (no KmsKeyId is
 * passed), so the key check reads what the copy is really under.
 */
import {
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import { DRILL_TAG, drillHash, drillTags } from '../../core/drill/names';
import type { DrillSettings } from '../../core/drill/settings';
import type { DrillCheck, DrillModule, DrillSubject, RestoreProgress } from '../../core/drill/types';
import { check, type CopyFacts, keyCheck, orMissing, sizeCheck } from '../../adapters/drill/checks';

/** Volumes a drill made, by its tag, that are not on their way out. */
export async function drillVolumes(ec2: EC2Client, drillId: string): Promise<Volume[]> {
  const { Volumes } = await ec2.send(
    new DescribeVolumesCommand({ Filters: [{ Name: `tag:${DRILL_TAG}`, Values: [drillId] }] }),
  );
  return (Volumes ?? []).filter((v) => v.State !== 'deleting' && v.State !== 'deleted');
}

export class EbsSnapshotDrill implements DrillModule {
  readonly kind = 'ebs' as const;

  constructor(
    private readonly ec2: EC2Client,
    private readonly settings: DrillSettings,
    private readonly facts: CopyFacts,
  ) {}

  private async volume(id: string): Promise<Volume | undefined> {
    const answer = await orMissing(this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] })));
    const volume = answer?.Volumes?.[0];
    return volume && volume.State !== 'deleted' ? volume : undefined;
  }

  async start(drillId: string, subject: DrillSubject): Promise<Record<string, string>> {
    // A replayed start finds the first one's volume by its tag (CreateVolume's token covers a lost answer).
    const [made] = await drillVolumes(this.ec2, drillId);
    if (made?.VolumeId) return { volume: made.VolumeId, drillId };
    const { Subnets } = await this.ec2.send(
      new DescribeSubnetsCommand({ SubnetIds: [this.settings.place.subnetIds[0]] }),
    );
    const zone = Subnets?.[0]?.AvailabilityZone;
    if (!zone) throw new Error(`the drill subnet ${this.settings.place.subnetIds[0]} is not found`);
    const { VolumeId } = await this.ec2.send(
      new CreateVolumeCommand({
        SnapshotId: subject.copyId,
        AvailabilityZone: zone,
        VolumeType: 'gp3',
        ClientToken: `${this.settings.prefix}-drill-${drillHash(drillId)}`,
        TagSpecifications: [{ ResourceType: 'volume', Tags: drillTags(this.settings.prefix, drillId) }],
      }),
    );
    if (!VolumeId) throw new Error('CreateVolume answered no volume id');
    return { volume: VolumeId, drillId };
  }

  async progress(handle: Readonly<Record<string, string>>): Promise<RestoreProgress> {
    const volume = await this.volume(handle.volume);
    if (!volume) return { state: 'failed', detail: `volume ${handle.volume} is gone` };
    if (volume.State === 'available') return { state: 'usable', detail: `volume ${handle.volume} available` };
    if (volume.State === 'creating') return { state: 'pending', detail: `volume ${handle.volume} creating` };
    return { state: 'failed', detail: `volume ${handle.volume} ${volume.State ?? 'unknown'}` };
  }

  async validate(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<DrillCheck[]> {
    const volume = await this.volume(handle.volume);
    if (!volume) return [check('status', false, `volume ${handle.volume} is gone`)];
    const record = await this.facts.record(subject.artifactId);
    return [
      check('status', volume.State === 'available', `volume ${volume.State ?? 'unknown'}`),
      check(
        'from the copy',
        volume.SnapshotId === subject.copyId,
        `made from ${volume.SnapshotId ?? 'no snapshot'}, the copy is ${subject.copyId}`,
      ),
      keyCheck(volume.Encrypted, volume.KmsKeyId, this.settings.backupKeyArn),
      sizeCheck(volume.Size, record?.sizeGiB),
    ];
  }

  async tearDown(handle: Readonly<Record<string, string>>): Promise<boolean> {
    const ids = new Set([
      handle.volume,
      ...(handle.drillId ? (await drillVolumes(this.ec2, handle.drillId)).map((v) => v.VolumeId) : []),
    ]);
    let left = 0;
    for (const id of ids) {
      const volume = id ? await this.volume(id) : undefined;
      if (!id || !volume) continue;
      if (volume.State !== 'deleting') await orMissing(this.ec2.send(new DeleteVolumeCommand({ VolumeId: id })));
      if (await this.volume(id)) left += 1;
    }
    return left === 0;
  }
}
