/**
 * In-memory EC2 behind the source agent's {@link SourceEc2} port, for the
 * core's tests: accounts and Regions with volumes, EBS snapshots, AMIs and
 * their block devices, KMS keys, sharing, copies that take time on a
 * {@link ManualClock}, and copy quotas.
 *
 * It behaves like the SDK adapter (`lambdas/adapters/agent-ec2.ts`) on AWS
 * wherever the agent's decisions depend on it, and
 * `test/emulator/source-ec2-contract.test.ts` runs the same cases against
 * both so the two cannot drift. What the emulator cannot show is a setting
 * or a rule here, outside the contract: copies that stay `pending` for a
 * while and may fail, the copies-in-progress quotas, throttling, EC2's
 * refusal of `aws:` tag keys, its refusal to share a snapshot under the
 * AWS-managed `aws/ebs` key, and a copy reporting no volume (`vol-ffffffff`).
 *
 * Nothing here reads a real clock or `Math.random`: given the same clock and
 * calls, everything happens the same way, ids included.
 */
import { createHash } from 'node:crypto';
import type {
  Ec2Image,
  Ec2Snapshot,
  ImageCopyRequest,
  SnapshotCopyRequest,
  SourceEc2,
  TagFilter,
} from '../lambdas/core/agent/ec2-ports';
import { CopyQuotaExceededError } from '../lambdas/core/errors';
import { kmsKeyIdOf } from '../lambdas/core/keys';
import type { Clock } from '../lambdas/core/ports';
import { AwsServiceError, type FaultPhase } from './memory-aws';

/** The clock the double's copies take time on, re-exported for tests that only need EC2. */
export { ManualClock } from './memory-aws';

/** One call of a {@link SourceEc2} method, as fault rules and counters see it. */
export interface Ec2Call {
  readonly method: keyof SourceEc2;
  readonly account: string;
  readonly region: string;
  /** The snapshot, image, volume or copy source the call is about. */
  readonly subject?: string;
}

/** A copy as the behaviour hooks see it. */
export interface Ec2CopyContext {
  readonly kind: 'snapshot' | 'image';
  readonly account: string;
  readonly region: string;
  readonly sourceId: string;
  readonly kmsKeyArn: string;
}

/** How a {@link MemoryEc2World} behaves where AWS leaves room: timing, outcomes, quotas. */
export interface Ec2WorldOptions {
  readonly clock: Clock;
  /** @default 'aws' */
  readonly partition?: string;
  /** How long a CopySnapshot stays `pending`. @default 600_000 (10 minutes) */
  readonly snapshotCopyMs?: number;
  /** How long a CopyImage (the image and its new backing snapshots) stays `pending`. @default 1_200_000 (20 minutes) */
  readonly imageCopyMs?: number;
  /** How a copy ends. @default - it succeeds */
  readonly copyOutcome?: (copy: Ec2CopyContext) => 'succeeded' | 'failed';
  /**
   * CopySnapshot copies in progress per account and Region before EC2
   * answers `ResourceLimitExceeded` (AWS: 20 per destination Region).
   * @default 20
   */
  readonly snapshotCopyQuota?: number;
  /** CopyImage copies in progress per account and Region (the AMI kind's default copy limit). @default 100 */
  readonly imageCopyQuota?: number;
  /** Throttling on top of the quotas: answers "not now" when it returns true. @default - never */
  readonly throttle?: (copy: Ec2CopyContext) => boolean;
}

/** A volume to add with {@link MemoryEc2World.addVolume}. */
export interface NewVolume {
  /** @default true */
  readonly encrypted?: boolean;
  /** @default - the account's `aws/ebs` key when encrypted */
  readonly kmsKeyId?: string;
  /** @default 8 */
  readonly sizeGiB?: number;
  readonly tags?: Readonly<Record<string, string>>;
}

/** A snapshot to add with {@link MemoryEc2World.addSnapshot}: encryption, key and size come from the volume. */
export interface NewEc2Snapshot {
  readonly volumeId: string;
  /** Production tags, `aws:` ones included (Data Lifecycle Manager's `aws:dlm:lifecycle-policy-id`, say). */
  readonly tags?: Readonly<Record<string, string>>;
  /** @default - now */
  readonly startTime?: Date;
  /** It shows `pending` for this long. @default 0 (completed at once) */
  readonly readyInMs?: number;
  /** @default 'completed' */
  readonly finalState?: 'completed' | 'error';
}

/** An image to add with {@link MemoryEc2World.addImage}, backed by snapshots the account owns. */
export interface NewImage {
  readonly name: string;
  readonly snapshotIds: readonly string[];
  readonly tags?: Readonly<Record<string, string>>;
  /** @default - now */
  readonly createdAt?: Date;
  /** It shows `pending` for this long. @default 0 (available at once) */
  readonly readyInMs?: number;
}

/** A copy EC2 accepted. */
export interface Ec2CopyLogEntry extends Ec2CopyContext {
  readonly targetId: string;
  readonly at: Date;
}

/** A snapshot deleted or an image deregistered through the port. */
export interface Ec2RemovalLogEntry {
  readonly account: string;
  readonly region: string;
  readonly id: string;
  readonly at: Date;
}

/**
 * A fault the double injects: a crash, a timeout, a lost response.
 * Deliberately not a `BunkerError` nor an AWS error the core could recognise.
 */
export class SimulatedEc2Fault extends Error {
  constructor(
    readonly call: Ec2Call,
    readonly phase: FaultPhase,
  ) {
    super(`simulated fault ${phase} source-ec2.${call.method}${call.subject ? ` (${call.subject})` : ''}`);
    this.name = 'SimulatedEc2Fault';
  }
}

interface FaultRule {
  readonly match: (call: Ec2Call) => boolean;
  readonly phase: FaultPhase;
  remaining: number;
  readonly error?: Error;
}

interface StoredVolume {
  readonly id: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly sizeGiB: number;
  readonly tags: Record<string, string>;
}

interface StoredSnapshot {
  readonly id: string;
  readonly volumeId?: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly sizeGiB: number;
  readonly startMs: number;
  readonly readyAtMs: number;
  readonly finalState: 'completed' | 'error';
  /** Set for a copy made by CopySnapshot or CopyImage: which quota it counts against. */
  readonly copiedBy?: 'snapshot' | 'image';
  readonly tags: Record<string, string>;
  readonly sharedWith: Set<string>;
}

interface StoredImage {
  readonly id: string;
  readonly name: string;
  readonly snapshotIds: readonly string[];
  /** The sum of its block devices' volume sizes, fixed at registration as EC2 records each mapping's `VolumeSize`. */
  readonly sizeGiB: number;
  readonly createdMs: number;
  readonly readyAtMs: number;
  readonly finalState: 'available' | 'failed';
  readonly copied: boolean;
  readonly tags: Record<string, string>;
  readonly launch: Set<string>;
  deregistered: boolean;
}

interface KmsKey {
  readonly arn: string;
  readonly account: string;
  /** The AWS-managed `aws/ebs` key: usable only by its account, so never worth sharing under. */
  readonly awsManaged: boolean;
  readonly usableBy: Set<string>;
}

interface RegionState {
  readonly volumes: Map<string, StoredVolume>;
  readonly snapshots: Map<string, StoredSnapshot>;
  readonly images: Map<string, StoredImage>;
  /** CopyImage client tokens: the request they were used for and the image they made. */
  readonly tokens: Map<string, { readonly sourceId: string; readonly imageId: string }>;
  snapshotCopyQuota?: number;
  imageCopyQuota?: number;
}

const TAG_LIMIT = 50;

const notFoundSnapshot = (id: string) =>
  new AwsServiceError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
const notFoundImage = (id: string) =>
  new AwsServiceError('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);

const hex = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/**
 * EC2 and KMS of any number of accounts and Regions. Set it up directly
 * (`createKey`, `addVolume`, `addSnapshot`, `addImage`); let the agent reach
 * it only through {@link MemoryEc2World.sourceEc2}, which applies EC2's rules:
 *
 * - reads see the caller's own snapshots and images only; a deregistered
 *   image is gone;
 * - a copy is `pending` until its time is up, then `completed`/`available`
 *   (or `error`/`failed`); status is computed from the clock, so advancing it
 *   is all it takes;
 * - CopySnapshot makes a new snapshot each call, tagged atomically; CopyImage
 *   answers the first image for a repeated client token or a taken name, and
 *   copies every backing snapshot under the requested key;
 * - only a completed snapshot or an available image can be copied, and only
 *   under a key the account may use;
 * - a snapshot backing a registered image cannot be deleted;
 * - copies in progress per account and Region are bounded by quotas.
 */
export class MemoryEc2World {
  /** Every copy EC2 accepted, oldest first. */
  readonly copies: Ec2CopyLogEntry[] = [];
  /** Every snapshot deleted through the port, oldest first. */
  readonly deletions: Ec2RemovalLogEntry[] = [];
  /** Every image deregistered through the port, oldest first. */
  readonly deregistrations: Ec2RemovalLogEntry[] = [];
  /** Quota or throttling answers given so far. */
  quotaErrors = 0;
  /** Calls per port method. */
  readonly calls = new Map<string, number>();

  private readonly clock: Clock;
  private readonly partition: string;
  private readonly regions = new Map<string, RegionState>();
  private readonly keys = new Map<string, KmsKey>();
  private readonly rules: FaultRule[] = [];
  private sequence = 0;

  constructor(private readonly options: Ec2WorldOptions) {
    this.clock = options.clock;
    this.partition = options.partition ?? 'aws';
  }

  // -- setup (not port calls) --------------------------------------------------

  /** Creates (or returns) a customer-managed key, usable by its owner and by `usableBy`. */
  createKey(account: string, region: string, alias: string, usableBy: readonly string[] = []): string {
    const hash = hex(`${account}/${region}/${alias}`, 32);
    const id = `${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20)}`;
    let key = this.keys.get(id);
    if (!key) {
      key = {
        arn: `arn:${this.partition}:kms:${region}:${account}:key/${id}`,
        account,
        awsManaged: alias === 'aws/ebs',
        usableBy: new Set(),
      };
      this.keys.set(id, key);
    }
    for (const other of usableBy) key.usableBy.add(other);
    return key.arn;
  }

  /** The account's AWS-managed `aws/ebs` key in a Region. */
  defaultKey(account: string, region: string): string {
    return this.createKey(account, region, 'aws/ebs');
  }

  addVolume(account: string, region: string, volume: NewVolume = {}): string {
    const encrypted = volume.encrypted ?? true;
    const id = this.newId(account, region, 'vol');
    this.region(account, region).volumes.set(id, {
      id,
      encrypted,
      ...(encrypted ? { kmsKeyId: volume.kmsKeyId ?? this.defaultKey(account, region) } : {}),
      sizeGiB: volume.sizeGiB ?? 8,
      tags: { ...volume.tags },
    });
    return id;
  }

  /** Deletes a volume; its snapshots stay, as in EC2. */
  removeVolume(account: string, region: string, volumeId: string): void {
    this.region(account, region).volumes.delete(volumeId);
  }

  /** Adds a snapshot of a volume as EC2 would have taken it (no port call, no quota). */
  addSnapshot(account: string, region: string, snapshot: NewEc2Snapshot): Ec2Snapshot {
    const state = this.region(account, region);
    const volume = state.volumes.get(snapshot.volumeId);
    if (!volume) throw new Error(`volume ${snapshot.volumeId} does not exist in ${account}/${region}`);
    const now = this.clock.now().getTime();
    const stored: StoredSnapshot = {
      id: this.newId(account, region, 'snap'),
      volumeId: volume.id,
      encrypted: volume.encrypted,
      ...(volume.kmsKeyId ? { kmsKeyId: volume.kmsKeyId } : {}),
      sizeGiB: volume.sizeGiB,
      startMs: snapshot.startTime?.getTime() ?? now,
      readyAtMs: now + (snapshot.readyInMs ?? 0),
      finalState: snapshot.finalState ?? 'completed',
      tags: { ...snapshot.tags },
      sharedWith: new Set(),
    };
    state.snapshots.set(stored.id, stored);
    return this.snapshotView(stored);
  }

  /** Registers an image backed by snapshots the account owns (no port call). */
  addImage(account: string, region: string, image: NewImage): Ec2Image {
    const state = this.region(account, region);
    for (const id of image.snapshotIds) {
      if (!state.snapshots.has(id)) throw new Error(`snapshot ${id} does not exist in ${account}/${region}`);
    }
    const now = this.clock.now().getTime();
    const stored: StoredImage = {
      id: this.newId(account, region, 'ami'),
      name: image.name,
      snapshotIds: [...image.snapshotIds],
      // Each device as large as its snapshot: RegisterImage's default VolumeSize.
      sizeGiB: image.snapshotIds.reduce((sum, id) => sum + (state.snapshots.get(id)?.sizeGiB ?? 0), 0),
      createdMs: image.createdAt?.getTime() ?? now,
      readyAtMs: now + (image.readyInMs ?? 0),
      finalState: 'available',
      copied: false,
      tags: { ...image.tags },
      launch: new Set(),
      deregistered: false,
    };
    state.images.set(stored.id, stored);
    return this.imageView(stored);
  }

  setSnapshotCopyQuota(account: string, region: string, limit: number): void {
    this.region(account, region).snapshotCopyQuota = limit;
  }

  setImageCopyQuota(account: string, region: string, limit: number): void {
    this.region(account, region).imageCopyQuota = limit;
  }

  /** Throws `error` (a {@link SimulatedEc2Fault} by default) at the next `times` calls that match. */
  fail(
    match: Partial<Ec2Call> | ((call: Ec2Call) => boolean),
    options: { readonly phase?: FaultPhase; readonly times?: number; readonly error?: Error } = {},
  ): this {
    const test =
      typeof match === 'function'
        ? match
        : (call: Ec2Call) => Object.entries(match).every(([key, value]) => call[key as keyof Ec2Call] === value);
    this.rules.push({
      match: test,
      phase: options.phase ?? 'before',
      remaining: options.times ?? 1,
      error: options.error,
    });
    return this;
  }

  // -- inspection (not port calls) ---------------------------------------------

  snapshot(account: string, region: string, snapshotId: string): Ec2Snapshot | undefined {
    const found = this.regions.get(`${account}/${region}`)?.snapshots.get(snapshotId);
    return found ? this.snapshotView(found) : undefined;
  }

  /** A volume's tags (`undefined` once it is deleted), as DescribeVolumes answers the reader role. */
  volumeTags(account: string, region: string, volumeId: string): Record<string, string> | undefined {
    const volume = this.regions.get(`${account}/${region}`)?.volumes.get(volumeId);
    return volume ? { ...volume.tags } : undefined;
  }

  /** Every snapshot an account owns in a Region, oldest first. */
  snapshots(account: string, region: string): Ec2Snapshot[] {
    return this.ownSnapshots(account, region).map((s) => this.snapshotView(s));
  }

  /** A registered image (not a deregistered one). */
  image(account: string, region: string, imageId: string): Ec2Image | undefined {
    const found = this.regions.get(`${account}/${region}`)?.images.get(imageId);
    return found && !found.deregistered ? this.imageView(found) : undefined;
  }

  /** Every image an account has registered in a Region, oldest first. */
  images(account: string, region: string): Ec2Image[] {
    return this.ownImages(account, region).map((i) => this.imageView(i));
  }

  /** Accounts in a snapshot's createVolumePermission. */
  snapshotSharedWith(account: string, region: string, snapshotId: string): string[] {
    return [...(this.regions.get(`${account}/${region}`)?.snapshots.get(snapshotId)?.sharedWith ?? [])];
  }

  /** Accounts in an image's launchPermission. */
  imageSharedWith(account: string, region: string, imageId: string): string[] {
    return [...(this.regions.get(`${account}/${region}`)?.images.get(imageId)?.launch ?? [])];
  }

  // -- the port ------------------------------------------------------------------

  /** The source agent's EC2 in one account and Region. */
  sourceEc2(account: string, region: string): SourceEc2 {
    const call = (method: keyof SourceEc2, subject?: string): Ec2Call => ({ method, account, region, subject });
    const own = () => this.region(account, region);
    const snapshotOf = (id: string) => {
      const found = own().snapshots.get(id);
      if (!found) throw notFoundSnapshot(id);
      return found;
    };
    const imageOf = (id: string) => {
      const found = own().images.get(id);
      if (!found || found.deregistered) throw notFoundImage(id);
      return found;
    };
    return {
      describeSnapshot: (id) => this.run(call('describeSnapshot', id), () => this.snapshot(account, region, id)),
      listSnapshots: (tag) =>
        this.run(call('listSnapshots', tag?.key), () =>
          this.ownSnapshots(account, region)
            .filter((s) => carries(s.tags, tag))
            .map((s) => this.snapshotView(s)),
        ),
      volumeTags: (volumeId) =>
        this.run(call('volumeTags', volumeId), () => {
          const volume = own().volumes.get(volumeId);
          return volume ? { ...volume.tags } : undefined;
        }),
      copySnapshot: (request) =>
        this.run(call('copySnapshot', request.sourceId), () => this.copySnapshot(account, region, request)),
      snapshotSharedWith: (id) => this.run(call('snapshotSharedWith', id), () => [...snapshotOf(id).sharedWith]),
      shareSnapshot: (id, other) =>
        this.run(call('shareSnapshot', id), () => {
          const snapshot = snapshotOf(id);
          checkAccount(other);
          if (snapshot.kmsKeyId && this.key(snapshot.kmsKeyId)?.awsManaged) {
            throw new AwsServiceError(
              'OperationNotPermitted',
              `Snapshots encrypted with the AWS managed key can't be shared: ${id}`,
            );
          }
          snapshot.sharedWith.add(other);
        }),
      deleteSnapshot: (id) =>
        this.run(call('deleteSnapshot', id), () => {
          const state = own();
          if (!state.snapshots.has(id)) return;
          const user = [...state.images.values()].find((i) => !i.deregistered && i.snapshotIds.includes(id));
          if (user) {
            throw new AwsServiceError('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.id}`);
          }
          state.snapshots.delete(id);
          this.deletions.push({ account, region, id, at: this.clock.now() });
        }),
      describeImage: (id) => this.run(call('describeImage', id), () => this.image(account, region, id)),
      listImages: (tag) =>
        this.run(call('listImages', tag?.key), () =>
          this.ownImages(account, region)
            .filter((i) => carries(i.tags, tag))
            .map((i) => this.imageView(i)),
        ),
      imageByName: (name) =>
        this.run(call('imageByName', name), () => {
          const found = this.ownImages(account, region).find((i) => i.name === name);
          return found ? this.imageView(found) : undefined;
        }),
      copyImage: (request) =>
        this.run(call('copyImage', request.sourceId), () => this.copyImage(account, region, request)),
      imageSharedWith: (id) => this.run(call('imageSharedWith', id), () => [...imageOf(id).launch]),
      shareImage: (id, other) =>
        this.run(call('shareImage', id), () => {
          const image = imageOf(id);
          checkAccount(other);
          image.launch.add(other);
        }),
      deregisterImage: (id) =>
        this.run(call('deregisterImage', id), () => {
          const image = own().images.get(id);
          if (!image || image.deregistered) return;
          image.deregistered = true;
          this.deregistrations.push({ account, region, id, at: this.clock.now() });
        }),
      tag: (resourceId, tags) =>
        this.run(call('tag', resourceId), () => {
          const target = resourceId.startsWith('ami-') ? imageOf(resourceId) : snapshotOf(resourceId);
          checkTags(target.tags, tags);
          Object.assign(target.tags, tags);
        }),
    };
  }

  // -- internals -------------------------------------------------------------------

  private async run<T>(call: Ec2Call, effect: () => T): Promise<T> {
    this.calls.set(call.method, (this.calls.get(call.method) ?? 0) + 1);
    this.check(call, 'before');
    const result = effect();
    this.check(call, 'after');
    return result;
  }

  private check(call: Ec2Call, phase: FaultPhase): void {
    const rule = this.rules.find((r) => r.remaining > 0 && r.phase === phase && r.match(call));
    if (!rule) return;
    rule.remaining -= 1;
    throw rule.error ?? new SimulatedEc2Fault(call, phase);
  }

  private copySnapshot(account: string, region: string, request: SnapshotCopyRequest): string {
    const state = this.region(account, region);
    const source = state.snapshots.get(request.sourceId);
    if (!source) throw notFoundSnapshot(request.sourceId);
    if (this.snapshotState(source) !== 'completed') {
      throw new AwsServiceError('IncorrectState', `Snapshot is in invalid state - ${this.snapshotState(source)}`);
    }
    const context: Ec2CopyContext = {
      kind: 'snapshot',
      account,
      region,
      sourceId: source.id,
      kmsKeyArn: request.kmsKeyArn,
    };
    const limit = state.snapshotCopyQuota ?? this.options.snapshotCopyQuota ?? 20;
    if (this.copiesInProgress(account, region, 'snapshot') >= limit) {
      this.quotaErrors += 1;
      throw new CopyQuotaExceededError(
        `ResourceLimitExceeded: Too many snapshot copies in progress. The limit is ${limit} for this destination region.`,
      );
    }
    this.throttled(context);
    this.checkKey(request.kmsKeyArn, account);
    checkTags({}, request.tags);
    const copy = this.newCopy(account, region, source, context, this.options.snapshotCopyMs ?? 600_000, 'snapshot');
    Object.assign(copy.tags, request.tags);
    return copy.id;
  }

  private copyImage(account: string, region: string, request: ImageCopyRequest): string {
    const state = this.region(account, region);
    const earlier = state.tokens.get(request.clientToken);
    if (earlier) {
      if (earlier.sourceId !== request.sourceId) {
        throw new AwsServiceError(
          'IdempotentParameterMismatch',
          `The client token ${request.clientToken} was already used for another request`,
        );
      }
      return earlier.imageId;
    }
    // EC2 answers InvalidAMIName.Duplicate; the port answers the image that holds the name.
    const holder = this.ownImages(account, region).find((i) => i.name === request.name);
    if (holder) return holder.id;
    const source = state.images.get(request.sourceId);
    if (!source || source.deregistered) throw notFoundImage(request.sourceId);
    if (this.imageState(source) !== 'available') {
      throw new AwsServiceError('IncorrectState', `Image ${source.id} is ${this.imageState(source)}, not available`);
    }
    const context: Ec2CopyContext = {
      kind: 'image',
      account,
      region,
      sourceId: source.id,
      kmsKeyArn: request.kmsKeyArn,
    };
    const limit = state.imageCopyQuota ?? this.options.imageCopyQuota ?? 100;
    if (this.copiesInProgress(account, region, 'image') >= limit) {
      this.quotaErrors += 1;
      throw new CopyQuotaExceededError(
        `ResourceLimitExceeded: Too many image copies in progress. The limit is ${limit} for this destination region.`,
      );
    }
    this.throttled(context);
    this.checkKey(request.kmsKeyArn, account);
    checkTags({}, request.imageTags);
    checkTags({}, request.snapshotTags);
    const backing = source.snapshotIds.map((id) => {
      const found = state.snapshots.get(id);
      if (!found) throw notFoundSnapshot(id);
      return found;
    });
    const duration = this.options.imageCopyMs ?? 1_200_000;
    const outcome = this.options.copyOutcome?.(context) ?? 'succeeded';
    const snapshotIds = backing.map((snapshot) => {
      const copy = this.newCopy(account, region, snapshot, context, duration, 'image', outcome);
      Object.assign(copy.tags, request.snapshotTags);
      return copy.id;
    });
    const now = this.clock.now().getTime();
    const image: StoredImage = {
      id: this.newId(account, region, 'ami'),
      name: request.name,
      snapshotIds,
      sizeGiB: source.sizeGiB,
      createdMs: now,
      readyAtMs: now + duration,
      finalState: outcome === 'succeeded' ? 'available' : 'failed',
      copied: true,
      tags: { ...request.imageTags },
      launch: new Set(),
      deregistered: false,
    };
    state.images.set(image.id, image);
    state.tokens.set(request.clientToken, { sourceId: source.id, imageId: image.id });
    this.copies.push({ ...context, targetId: image.id, at: new Date(now) });
    return image.id;
  }

  private newCopy(
    account: string,
    region: string,
    source: StoredSnapshot,
    context: Ec2CopyContext,
    duration: number,
    copiedBy: 'snapshot' | 'image',
    outcome = this.options.copyOutcome?.(context) ?? 'succeeded',
  ): StoredSnapshot {
    const now = this.clock.now().getTime();
    const copy: StoredSnapshot = {
      id: this.newId(account, region, 'snap'),
      // EC2 reports `vol-ffffffff` for a copy: it was taken of no volume of this account.
      encrypted: true,
      kmsKeyId: context.kmsKeyArn,
      sizeGiB: source.sizeGiB,
      startMs: now,
      readyAtMs: now + duration,
      finalState: outcome === 'succeeded' ? 'completed' : 'error',
      copiedBy,
      tags: {},
      sharedWith: new Set(),
    };
    this.region(account, region).snapshots.set(copy.id, copy);
    if (copiedBy === 'snapshot') this.copies.push({ ...context, targetId: copy.id, at: new Date(now) });
    return copy;
  }

  private throttled(context: Ec2CopyContext): void {
    if (!this.options.throttle?.(context)) return;
    this.quotaErrors += 1;
    throw new CopyQuotaExceededError(`RequestLimitExceeded: Request limit exceeded (${context.kind} copy)`);
  }

  private checkKey(keyRef: string, account: string): void {
    const key = this.key(keyRef);
    const usable = key ? key.account === account || key.usableBy.has(account) : keyRef.split(':')[4] === account;
    if (!usable) {
      throw new AwsServiceError('KMS.NotFoundException', `The key ${keyRef} is not accessible to ${account}`);
    }
  }

  private key(keyRef: string): KmsKey | undefined {
    const id = kmsKeyIdOf(keyRef);
    return id ? this.keys.get(id) : undefined;
  }

  /** Copies made by CopySnapshot (`snapshot`) or CopyImage (`image`, counted per image) still pending. */
  private copiesInProgress(account: string, region: string, kind: 'snapshot' | 'image'): number {
    const now = this.clock.now().getTime();
    if (kind === 'snapshot') {
      return this.ownSnapshots(account, region).filter((s) => s.copiedBy === 'snapshot' && now < s.readyAtMs).length;
    }
    return this.ownImages(account, region).filter((i) => i.copied && now < i.readyAtMs).length;
  }

  private newId(account: string, region: string, prefix: 'snap' | 'ami' | 'vol'): string {
    this.sequence += 1;
    return `${prefix}-${hex(`${account}/${region}/${prefix}/${this.sequence}`, 17)}`;
  }

  private region(account: string, region: string): RegionState {
    const id = `${account}/${region}`;
    let state = this.regions.get(id);
    if (!state) {
      state = { volumes: new Map(), snapshots: new Map(), images: new Map(), tokens: new Map() };
      this.regions.set(id, state);
    }
    return state;
  }

  private ownSnapshots(account: string, region: string): StoredSnapshot[] {
    return [...(this.regions.get(`${account}/${region}`)?.snapshots.values() ?? [])].sort(
      (a, b) => a.startMs - b.startMs || a.id.localeCompare(b.id),
    );
  }

  private ownImages(account: string, region: string): StoredImage[] {
    return [...(this.regions.get(`${account}/${region}`)?.images.values() ?? [])]
      .filter((i) => !i.deregistered)
      .sort((a, b) => a.createdMs - b.createdMs || a.id.localeCompare(b.id));
  }

  private snapshotState(s: StoredSnapshot): string {
    return this.clock.now().getTime() < s.readyAtMs ? 'pending' : s.finalState;
  }

  private imageState(i: StoredImage): string {
    return this.clock.now().getTime() < i.readyAtMs ? 'pending' : i.finalState;
  }

  private snapshotView(s: StoredSnapshot): Ec2Snapshot {
    return {
      id: s.id,
      ...(s.volumeId ? { volumeId: s.volumeId } : {}),
      state: this.snapshotState(s),
      encrypted: s.encrypted,
      ...(s.kmsKeyId ? { kmsKeyId: s.kmsKeyId } : {}),
      startTime: new Date(s.startMs).toISOString(),
      sizeGiB: s.sizeGiB,
      tags: { ...s.tags },
    };
  }

  private imageView(i: StoredImage): Ec2Image {
    return {
      id: i.id,
      name: i.name,
      state: this.imageState(i),
      createdAt: new Date(i.createdMs).toISOString(),
      snapshotIds: [...i.snapshotIds],
      // EC2 gives an image at least a root device; one registered here with none reports no size, as the adapter would.
      ...(i.snapshotIds.length > 0 ? { sizeGiB: i.sizeGiB } : {}),
      tags: { ...i.tags },
    };
  }
}

function carries(tags: Readonly<Record<string, string>>, tag: TagFilter | undefined): boolean {
  return tag === undefined || tags[tag.key] === tag.value;
}

function checkAccount(account: string): void {
  if (!/^\d{12}$/.test(account)) {
    throw new AwsServiceError('InvalidParameterValue', `Invalid value '${account}' for userId`);
  }
}

/** EC2's tag rules: `aws:` keys are reserved to AWS; at most 50 user tags per resource. */
function checkTags(existing: Readonly<Record<string, string>>, added: Readonly<Record<string, string>>): void {
  const reserved = Object.keys(added).find((key) => key.startsWith('aws:'));
  if (reserved) {
    throw new AwsServiceError('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved: ${reserved}`);
  }
  const keys = new Set([...Object.keys(existing), ...Object.keys(added)].filter((key) => !key.startsWith('aws:')));
  if (keys.size > TAG_LIMIT) {
    throw new AwsServiceError('TagLimitExceeded', `The maximum number of tags for a resource is ${TAG_LIMIT}`);
  }
}
