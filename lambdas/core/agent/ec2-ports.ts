/**
 * The port through which the source agent reaches EC2 in its own account and
 * Region, for EBS snapshots and AMIs. Domain shapes only, never SDK shapes:
 * the SDK adapter is `lambdas/adapters/agent-ec2.ts`, the in-memory double
 * `sim/memory-ec2.ts`, and `test/emulator/source-ec2-contract.test.ts` runs
 * the same cases against both.
 */

/** One tag, as a listing filter. */
export interface TagFilter {
  readonly key: string;
  readonly value: string;
}

/** What the agent needs to know of an EBS snapshot the account owns. */
export interface Ec2Snapshot {
  /** `snap-…` */
  readonly id: string;
  /**
   * The volume it was taken of. `undefined` when EC2 names none: a copy
   * reports the placeholder `vol-ffffffff`, which the adapter drops.
   */
  readonly volumeId?: string;
  /** `pending`, `completed`, `error`, `recoverable`, `recovering`, as EC2 reports it. */
  readonly state: string;
  readonly encrypted: boolean;
  /** The key ARN EC2 reports; unset when unencrypted. */
  readonly kmsKeyId?: string;
  /** When EC2 started the snapshot (for a copy: when the copy started), ISO 8601. */
  readonly startTime?: string;
  readonly sizeGiB?: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** What the agent needs to know of an AMI the account owns. */
export interface Ec2Image {
  /** `ami-…` */
  readonly id: string;
  readonly name: string;
  /** `pending`, `available`, `failed`, `invalid`, `error`, … as EC2 reports it. */
  readonly state: string;
  /** EC2's CreationDate, ISO 8601. */
  readonly createdAt?: string;
  /** The EBS snapshots the image boots from, in block device mapping order. */
  readonly snapshotIds: readonly string[];
  /**
   * The sum of its EBS block devices' volume sizes, when the port reports it
   * (DescribeImages gives each mapping's `VolumeSize`): the agent releases
   * larger images first. Unknown: released oldest first.
   */
  readonly sizeGiB?: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** CopySnapshot in the same Region, encrypted under `kmsKeyArn`. */
export interface SnapshotCopyRequest {
  readonly sourceId: string;
  readonly kmsKeyArn: string;
  readonly description: string;
  /** Set atomically with the copy (TagSpecifications), so the copy is findable by them from its first moment. */
  readonly tags: Readonly<Record<string, string>>;
}

/** CopyImage in the same Region, every backing snapshot encrypted under `kmsKeyArn`. */
export interface ImageCopyRequest {
  readonly sourceId: string;
  /** The new image's name: unique per account and Region. */
  readonly name: string;
  /** CopyImage's idempotency token (at most 64 ASCII characters). */
  readonly clientToken: string;
  readonly kmsKeyArn: string;
  readonly description: string;
  readonly imageTags: Readonly<Record<string, string>>;
  /** Tags of the new backing snapshots. */
  readonly snapshotTags: Readonly<Record<string, string>>;
}

/**
 * The source account's own EC2 in one Region, as the source agent uses it.
 * Reads answer `undefined` for what does not exist (or is not the account's
 * own); copies throw `CopyQuotaExceededError` for quotas and throttling;
 * other AWS errors are thrown as AWS gave them.
 */
export interface SourceEc2 {
  /** One of the account's own snapshots; `undefined` when missing or another account's. */
  describeSnapshot(snapshotId: string): Promise<Ec2Snapshot | undefined>;
  /** The account's own snapshots in this Region, only those carrying `tag` when given. */
  listSnapshots(tag?: TagFilter): Promise<Ec2Snapshot[]>;
  /** A volume's tags; `undefined` when the volume no longer exists. */
  volumeTags(volumeId: string): Promise<Record<string, string> | undefined>;
  /**
   * Starts a copy and answers its new id. CopySnapshot has no idempotency
   * token: every call makes a new snapshot, so look for one by tag first.
   * Throws `CopyQuotaExceededError` when copies in progress are at the quota.
   */
  copySnapshot(request: SnapshotCopyRequest): Promise<string>;
  /** Accounts in the snapshot's createVolumePermission. Throws when the snapshot does not exist. */
  snapshotSharedWith(snapshotId: string): Promise<string[]>;
  /** Adds `account` to the snapshot's createVolumePermission. */
  shareSnapshot(snapshotId: string, account: string): Promise<void>;
  /** Deletes a snapshot; one already gone is success. Throws `InvalidSnapshot.InUse` while an image is backed by it. */
  deleteSnapshot(snapshotId: string): Promise<void>;

  /** One of the account's own registered images; `undefined` when missing, deregistered or another account's. */
  describeImage(imageId: string): Promise<Ec2Image | undefined>;
  /** The account's own registered images in this Region, only those carrying `tag` when given. */
  listImages(tag?: TagFilter): Promise<Ec2Image[]>;
  /** The account's own registered image of that name, if any. */
  imageByName(name: string): Promise<Ec2Image | undefined>;
  /**
   * Starts CopyImage and answers the new image's id. The same client token
   * answers the first copy's id; a name already taken answers the image of
   * that name. Throws `CopyQuotaExceededError` for quotas and throttling.
   */
  copyImage(request: ImageCopyRequest): Promise<string>;
  /** Accounts in the image's launchPermission. Throws when the image does not exist. */
  imageSharedWith(imageId: string): Promise<string[]>;
  /** Adds `account` to the image's launchPermission. */
  shareImage(imageId: string, account: string): Promise<void>;
  /** Deregisters an image, leaving its backing snapshots; one already gone is success. */
  deregisterImage(imageId: string): Promise<void>;

  /** Adds or overwrites tags on a snapshot or an image (CreateTags). */
  tag(resourceId: string, tags: Readonly<Record<string, string>>): Promise<void>;
}
