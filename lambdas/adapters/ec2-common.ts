/**
 * What the EBS and AMI copiers share: EC2 clients of the backup account per
 * Region, snapshot and volume reads, and EC2's status words in Bunker's.
 */
import {
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import type { ArtifactState, ChildView } from '../kinds/types';
import { CopyQuotaExceededError, CopyRefusedError } from '../core/errors';
import { type AwsContext, clientConfig } from './aws-context';
import { classifyAwsError, describeAwsError } from './aws-errors';
import { tagsOf } from './reader-role';

/** EC2 clients of the backup account, one per Region. */
export class BackupEc2Clients {
  private readonly clients = new Map<string, EC2Client>();

  constructor(private readonly context: AwsContext) {}

  clientFor(region: string): EC2Client {
    let client = this.clients.get(region);
    if (!client) {
      client = new EC2Client(clientConfig(this.context, region));
      this.clients.set(region, client);
    }
    return client;
  }
}

export async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (classifyAwsError(error) === 'not-found') return undefined;
    throw error;
  }
}

/** EBS snapshot states (`pending`, `completed`, `error`, `recoverable`, `recovering`) and AMI states. */
export function ec2State(state: string | undefined): ArtifactState {
  if (state === 'completed' || state === 'available') return 'available';
  if (state === 'pending' || state === 'recovering' || state === 'transient') return 'pending';
  return 'failed';
}

/** One snapshot by id, asking only for snapshots `owner` owns (`self` in the caller's account). */
export async function describeSnapshot(client: EC2Client, id: string, owner: string): Promise<Snapshot | undefined> {
  const answer = await orUndefined(client.send(new DescribeSnapshotsCommand({ SnapshotIds: [id], OwnerIds: [owner] })));
  return answer?.Snapshots?.find((s) => s.SnapshotId === id);
}

/** Accounts a snapshot's createVolumePermission names. */
export async function snapshotSharedWith(client: EC2Client, id: string): Promise<string[]> {
  const { CreateVolumePermissions } = await client.send(
    new DescribeSnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission' }),
  );
  return (CreateVolumePermissions ?? []).map((p) => p.UserId).filter((id): id is string => Boolean(id));
}

/** A volume's tags; `undefined` when the volume no longer exists. */
export async function volumeTags(client: EC2Client, volumeId: string): Promise<Record<string, string> | undefined> {
  const answer = await orUndefined(client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })));
  const volume = answer?.Volumes?.[0];
  return volume ? tagsOf(volume.Tags) : undefined;
}

export function childOf(snapshot: Snapshot, sharedWith?: string[]): ChildView {
  return {
    id: snapshot.SnapshotId ?? '',
    encrypted: snapshot.Encrypted === true,
    keyArn: snapshot.KmsKeyId,
    ...(sharedWith ? { sharedWith } : {}),
  };
}

/** EC2's answer to a copy request in Bunker's words: quotas wait, refusals fail, the rest is retried. */
export function copyError(service: string, error: unknown): Error {
  const { class: kind, code, message } = describeAwsError(error);
  const what = `${code}: ${message}`;
  if (kind === 'quota' || kind === 'throttled') return new CopyQuotaExceededError(what, { cause: error });
  if (kind === 'not-found' || kind === 'refused')
    return new CopyRefusedError(`${service} refused the copy: ${what}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
