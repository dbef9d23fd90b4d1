/**
 * The source agent for EBS snapshots and AMIs, in each production account
 * and Region: makes in-scope snapshots and images shareable, shares them with
 * the backup account only and tells the vault, with identifiers only. Same
 * steps, tags and sweep as the RDS agent (`../rds-source-agent.ts`): the
 * cap, held-back originals, housekeeping and receipts are the shared core's
 * (`./engine.ts`); this module is the two kinds' ports of it.
 *
 * It always works on an intermediate copy under the share key and never
 * shares, copies over or deletes production's own snapshots or images; it
 * only tags one once the vault holds its copy (`bunker:backed-up-at`). Snapshots under the
 * AWS-managed `aws/ebs` key cannot be shared usefully (no other account can
 * use that key), unencrypted ones would leave the account in the clear, and
 * snapshots made by Data Lifecycle Manager or AWS Backup are deleted by their
 * policies, possibly before the vault has copied them; copying every one
 * keeps one path, lets the agent's delete right stop at what it tagged
 * `bunker:intermediate=true`, and makes cleanup uniform.
 *
 * EBS: CopySnapshot has no idempotency token and EC2 assigns the id, so the
 * intermediate's deterministic name is its `bunker:copy-name` tag, set
 * atomically by the copy, and the agent looks for it before copying. Two
 * agents racing on duplicate events can still both copy: the oldest copy is
 * the one announced (`canonical`), the sweep deletes the other.
 * AMI: CopyImage is idempotent by its client token and an AMI name is unique
 * per account and Region, so the deterministic name serves both. The copy
 * re-encrypts every backing snapshot under the share key; the agent shares
 * the image and every backing snapshot.
 */
import { hash, INTERMEDIATE_DESCRIPTION, INTERMEDIATE_PREFIX } from '../../kinds/shared';
import { sameKmsKey } from '../keys';
import { notificationOf, sourceBacklogOf } from '../notification';
import { TAG_COPY_NAME } from '../pipeline/copy';
import { inScope } from '../scope';
import type { ScopeSetting } from '../settings';
import type { Receipt } from '../receipts';
import type { Ec2Image, Ec2Snapshot, SourceEc2 } from './ec2-ports';
import { agentMemory, type PendingCount, readOnce, type Releasable } from './memory';
import {
  type AgentContext,
  type AgentStep,
  type AgentSweepSummary,
  copyFinished,
  guarded,
  heldBack,
  housekeeping,
  backlogTags,
  type KindPort,
  pendingOf,
  type ReceiptMarks,
  type ReceiptStep,
  recordCopied,
  requestCopy,
  sweepCounted,
  sweepDue,
  type SweepMode,
  sweepOriginals,
  Tally,
  TAG_INTERMEDIATE,
  TAG_INTERMEDIATE_OF,
  TAG_NOTIFIED_AT,
  TAG_SOURCE_CREATED_AT,
} from './engine';
import { type IntermediateFate, intermediateFate, TAG_BACKED_UP_AT, TAG_COPIED_AT } from './retention';
import { scopeTagsToCarry } from './carried-scope';
import { memo, scopeCacheOf } from './scope-cache';

export type { AgentStep, AgentSweepSummary, ReceiptStep } from './engine';
export type { Ec2Image, Ec2Snapshot, SourceEc2 } from './ec2-ports';

/** What the EC2 source agent works with. */
export interface Ec2AgentDeps extends AgentContext {
  readonly ec2: SourceEc2;
}

/** On an EBS intermediate: the production volume, which the vault judges scope on (copies report `vol-ffffffff`). */
export const TAG_SOURCE_VOLUME = 'bunker:source-volume';
/** On an intermediate image and its backing snapshots: the production image it was copied from. */
export const TAG_SOURCE_IMAGE = 'bunker:source-image';

/** EC2 allows 50 user tags per resource; `aws:` tags do not count and cannot be set. */
const TAG_LIMIT = 50;
const HOUR_MS = 3_600_000;
/** AMI states after which an image never becomes available. */
const FAILED_IMAGE = new Set(['failed', 'invalid', 'error', 'deregistered', 'disabled']);

/**
 * The deterministic name of the intermediate of a production snapshot or
 * image: `bunker-share-snap-…` (its `bunker:copy-name` tag) or
 * `bunker-share-ami-…` (its AMI name). EC2 ids are unique per Region, so the
 * id alone names it.
 */
export function intermediateEc2Name(productionId: string): string {
  return `${INTERMEDIATE_PREFIX}-${productionId}`;
}

const named = (value: string | undefined) => (value ?? '').startsWith(`${INTERMEDIATE_PREFIX}-`);

/** An EBS intermediate the agent made: tagged as one, of a production snapshot, under a `bunker-share-` name. */
export function isEbsIntermediate(snapshot: Ec2Snapshot): boolean {
  const { tags } = snapshot;
  return (
    tags[TAG_INTERMEDIATE] === 'true' &&
    Boolean(tags[TAG_INTERMEDIATE_OF]) &&
    tags[TAG_SOURCE_IMAGE] === undefined &&
    named(tags[TAG_COPY_NAME])
  );
}

/** A backing snapshot of an intermediate image: the agent's to delete once its image is gone. */
export function isIntermediateImageStorage(snapshot: Ec2Snapshot): boolean {
  const { tags } = snapshot;
  return tags[TAG_INTERMEDIATE] === 'true' && Boolean(tags[TAG_SOURCE_IMAGE]) && named(tags[TAG_COPY_NAME]);
}

/** An intermediate image the agent made: tagged as one, under a `bunker-share-` name. */
export function isIntermediateImage(image: Ec2Image): boolean {
  return image.tags[TAG_INTERMEDIATE] === 'true' && named(image.name);
}

/**
 * Production's own tags to carry onto an intermediate, so the vault (which
 * judges scope on the intermediate it is told about) sees what the agent
 * judged: the scope tag first, then the others, within EC2's 50 tags
 * (leaving room for `ours`, `bunker:notified-at` and `bunker:copied-at`). `aws:` tags are
 * reserved to AWS and other `bunker:` tags are the agent's own: neither is copied.
 */
export function carriedTags(
  production: Readonly<Record<string, string>>,
  ours: Readonly<Record<string, string>>,
  scope: ScopeSetting | undefined,
): Record<string, string> {
  const room = TAG_LIMIT - Object.keys(ours).length - 2;
  const first = scope && 'tag' in scope ? scope.tag.key : undefined;
  // The scope tag is carried even when it is a `bunker:` key (the default scope is `bunker:backup`).
  const eligible = Object.keys(production).filter(
    (key) => !key.startsWith('aws:') && (!key.startsWith('bunker:') || key === first),
  );
  const ordered = first && eligible.includes(first) ? [first, ...eligible.filter((k) => k !== first)] : eligible;
  const carried: Record<string, string> = {};
  for (const key of ordered.slice(0, Math.max(0, room))) carried[key] = production[key];
  return { ...carried, ...ours };
}

// ---------------------------------------------------------------------------
// EBS snapshots
// ---------------------------------------------------------------------------

/**
 * Handles one EBS snapshot by id (an "EBS Snapshot Notification" for
 * createSnapshot or copySnapshot): an in-scope production snapshot gets an
 * intermediate; an intermediate gets shared and announced.
 */
export async function processEbsSnapshot(snapshotId: string, deps: Ec2AgentDeps): Promise<AgentStep> {
  const snapshot = await deps.ec2.describeSnapshot(snapshotId);
  if (!snapshot) return 'gone';
  if (isEbsIntermediate(snapshot)) {
    // Whichever copy the event is about, the one to announce is the canonical one.
    const [canonical] = await intermediatesOf(snapshot.tags[TAG_INTERMEDIATE_OF], deps);
    const step = await shareAndNotifySnapshot(canonical ?? snapshot, deps);
    if (snapshot.state === 'completed') copyFinished(ebsPort(deps).memory, snapshot.id);
    await housekeeping(ebsPort(deps), deps, snapshot.state === 'completed' ? 'quota' : 'nothing');
    return step;
  }
  // Anything else the agent tagged (an intermediate image's storage) is never an original.
  if (snapshot.tags[TAG_INTERMEDIATE]) return 'out-of-scope';
  // Already in the backup account: its intermediate may be gone, and must not be made again.
  if (snapshot.tags[TAG_BACKED_UP_AT]) return 'already-notified';
  const step = await rekeySnapshot(snapshot, deps, {});
  await housekeeping(ebsPort(deps), deps, 'nothing');
  return step;
}

/** What a sweep already knows, so it need not ask again per snapshot. */
interface Known {
  /** The sweep's count of intermediates awaiting the vault; counted on demand when unknown. */
  pending?: PendingCount;
  /** The sweep's per-sweep read of a volume's tags; set only by the sweep, which trusts recent scope verdicts. */
  volumeTags?: (volumeId: string) => Promise<Record<string, string> | undefined>;
  /** The sweep's listing, just made, shows no intermediate of the original: no lookup by name before copying. */
  listed?: boolean;
  /** Found by a count or the sweep, or held back at the cap, rather than by its own event: it waited. */
  waited?: boolean;
}

/** A deferred EBS original, with the tags it was judged in scope by (they are carried onto its intermediate). */
interface DeferredSnapshot {
  readonly snapshot: Ec2Snapshot;
  readonly tags: Readonly<Record<string, string>>;
}

/** How the EC2 kinds' failures read in the log, as they always have. */
const FAILURE = { message: 'snapshot or image could not be handled; the next sweep retries', field: 'id' } as const;

const madeAt = (iso: string | undefined) => (iso ? { madeAt: Date.parse(iso) } : {});

/**
 * The EBS kind's port of the shared core (`./engine.ts`). Its count lists
 * the whole account, not only the intermediates: one page up to 1,000
 * snapshots either way, and it shows the originals still without an
 * intermediate. Of several copies of one original, the canonical one counts
 * and is announced; a copy left of an original the vault already holds is a
 * duplicate, for the sweep to delete: it neither blocks nor is announced.
 */
function ebsPort(deps: Ec2AgentDeps): KindPort<DeferredSnapshot, Ec2Snapshot> {
  return {
    kind: 'ebs-snapshot',
    memory: agentMemory(deps.memory, deps.ec2).of<DeferredSnapshot, Ec2Snapshot>('ebs-snapshot'),
    noun: 'snapshot',
    failure: FAILURE,
    scopeInListing: false,
    count: async () => {
      const all = await deps.ec2.listSnapshots();
      const groups = new Map<string, Ec2Snapshot[]>();
      for (const snapshot of all.filter(isEbsIntermediate)) {
        const of = snapshot.tags[TAG_INTERMEDIATE_OF];
        groups.set(of, [...(groups.get(of) ?? []), snapshot]);
      }
      const backedUp = new Set(all.filter((s) => s.tags[TAG_BACKED_UP_AT]).map((s) => s.id));
      const intermediates = [...groups]
        .map(([of, group]) => ({ of, canonical: group.sort(canonicalOrder)[0] }))
        .filter(({ of, canonical }) => !backedUp.has(of) || Boolean(canonical.tags[TAG_NOTIFIED_AT]))
        .map(({ canonical }) => ({
          id: canonical.id,
          tags: canonical.tags,
          ready: canonical.state === 'completed',
          ...madeAt(canonical.startTime),
          announce: () => shareAndNotifySnapshot(canonical, deps),
        }));
      const originals = all.filter((s) => s.state === 'completed' && !groups.has(s.id) && !s.tags[TAG_INTERMEDIATE]);
      return { intermediates, originals };
    },
    view: (snapshot) => ({ id: snapshot.id, tags: snapshot.tags, takenAt: snapshot.startTime }),
    originalOf: (deferred) => deferred.snapshot,
    releasable,
    retire: (id) => deleteGuarded(id, FATE_WORDS['delete-copied'], 'info', deps),
    startDeferred: ({ snapshot, tags }, pending) => copyOrCarryOn(snapshot, tags, deps, { pending, waited: true }),
    candidateStarter: () => {
      const volumeTags = memo((id: string) => deps.ec2.volumeTags(id));
      // Judged first (a verdict remembered costs nothing: production images' backing snapshots are candidates
      // too, and out of scope), then looked up by name before copying: another environment may have started it.
      return (snapshot, pending) => rekeySnapshot(snapshot, deps, { pending, volumeTags, waited: true });
    },
  };
}

/** The AMI kind's port of the shared core: an image's scope is in its own tags, which its listing gives. */
function amiPort(deps: Ec2AgentDeps): KindPort<Ec2Image, Ec2Image> {
  return {
    kind: 'ami',
    memory: agentMemory(deps.memory, deps.ec2).of<Ec2Image>('ami'),
    noun: 'image',
    failure: FAILURE,
    scopeInListing: true,
    count: async () => {
      const all = await deps.ec2.listImages();
      const covered = new Set(all.filter(isIntermediateImage).map((i) => i.tags[TAG_SOURCE_IMAGE]));
      return {
        intermediates: all.filter(isIntermediateImage).map((image) => ({
          id: image.id,
          tags: image.tags,
          ready: image.state === 'available',
          ...madeAt(image.createdAt),
          announce: () => shareAndNotifyImage(image, deps),
        })),
        originals: all.filter((i) => i.state === 'available' && !covered.has(i.id) && !i.tags[TAG_INTERMEDIATE]),
      };
    },
    view: (image) => ({ id: image.id, tags: image.tags, takenAt: image.createdAt }),
    originalOf: (image) => image,
    releasable,
    retire: (id) => deregisterGuarded(id, deps),
    startDeferred: (image, pending) => copyImageOrCarryOn(image, deps, { pending, waited: true }),
    candidateStarter: () => (image, pending) => rekeyImage(image, deps, { pending, waited: true }),
  };
}

/**
 * What the release order reads of an EBS snapshot or an AMI: its size (an
 * AMI's is the sum of its block devices' volume sizes) and when it was
 * taken, from the describe or listing that found it.
 */
const releasable = readOnce((original: Ec2Snapshot | Ec2Image): Releasable => {
  const taken = 'snapshotIds' in original ? original.createdAt : original.startTime;
  return {
    ...(original.sizeGiB !== undefined ? { sizeGiB: original.sizeGiB } : {}),
    ...(taken ? { takenAt: Date.parse(taken) } : {}),
  };
});

/** Deregisters a confirmed intermediate image whose retention ended; a failure is left to the sweep. */
async function deregisterGuarded(imageId: string, deps: Ec2AgentDeps): Promise<void> {
  try {
    await deps.ec2.deregisterImage(imageId);
    deps.log.info('intermediate image deregistered', { imageId, why: FATE_WORDS['delete-copied'] });
  } catch (error) {
    deps.log.error('intermediate image could not be deregistered; the next sweep retries', {
      imageId,
      error: String(error),
    });
  }
}

/** The agent's intermediates of one production snapshot, the canonical one first (see {@link canonicalOrder}). */
async function intermediatesOf(productionId: string, deps: Ec2AgentDeps): Promise<Ec2Snapshot[]> {
  const found = await deps.ec2.listSnapshots({ key: TAG_COPY_NAME, value: intermediateEc2Name(productionId) });
  return found.filter(isEbsIntermediate).sort(canonicalOrder);
}

/**
 * Copies that did not fail before failed ones, then the oldest, then the
 * lowest id: every agent that sees the same copies picks the same one.
 */
function canonicalOrder(a: Ec2Snapshot, b: Ec2Snapshot): number {
  const failed = Number(a.state === 'error') - Number(b.state === 'error');
  return failed || (a.startTime ?? '').localeCompare(b.startTime ?? '') || a.id.localeCompare(b.id);
}

async function rekeySnapshot(snapshot: Ec2Snapshot, deps: Ec2AgentDeps, known: Known): Promise<AgentStep> {
  const scope = deps.settings.scopes['ebs-snapshot'];
  if (!scope) return 'out-of-scope';
  const port = ebsPort(deps);
  const { memory } = port;
  const { volumeId } = snapshot;
  const now = deps.clock.now().getTime();
  // The sweep need not judge again an original this container deferred: it was judged in scope.
  const deferred = known.volumeTags ? memory.deferred.get(snapshot.id) : undefined;
  let tags = deferred?.tags;
  if (!tags) {
    const verdicts = scopeCacheOf(deps.memory ?? deps.ec2, 'ebs-snapshot');
    const resource = volumeId ?? snapshot.id;
    if (known.volumeTags && verdicts.knownOutOfScope(resource, snapshot.tags, now)) return 'out-of-scope';
    const readVolume = known.volumeTags ?? ((id: string) => deps.ec2.volumeTags(id));
    // A volume judged in scope minutes ago (its snapshots held back and started one by one): not read again.
    const recent = volumeId ? verdicts.recentInScope(volumeId, now) : undefined;
    const ofVolume = recent ?? (volumeId ? await readVolume(volumeId) : undefined);
    // As the vault judges it: the volume's tags, overridden by the snapshot's own.
    tags = { ...ofVolume, ...snapshot.tags };
    const ids = volumeId ? [volumeId, snapshot.id] : [snapshot.id];
    const wanted = inScope(scope, ids, tags);
    verdicts.judged(resource, snapshot.tags, wanted, now, recent ? undefined : ofVolume);
    if (!wanted) {
      memory.deferred.delete(snapshot.id);
      return 'out-of-scope';
    }
  }
  if (snapshot.state !== 'completed') return 'pending';
  const pending = known.pending ?? (await pendingOf(port, deps));
  // Held back at the cap, it is started when a receipt frees room (the lookup then finds an intermediate made
  // already). The sweep, the backstop, asks AWS again about a quota it refused minutes ago.
  const held = heldBack(port, deps, snapshot.id, { snapshot, tags }, pending, known.volumeTags !== undefined, now);
  if (held) return held;
  return copyOrCarryOn(snapshot, tags, deps, { ...known, pending });
}

/**
 * Requests an original's intermediate copy, judged in scope and with room
 * for it, unless one exists: then carries that one on.
 */
async function copyOrCarryOn(
  snapshot: Ec2Snapshot,
  tags: Readonly<Record<string, string>>,
  deps: Ec2AgentDeps,
  known: Known & { readonly pending: PendingCount },
): Promise<AgentStep> {
  const port = ebsPort(deps);
  // CopySnapshot has no idempotency token: the one lookup that keeps a repeated event from copying twice.
  const intermediate: Ec2Snapshot | undefined = known.listed
    ? undefined
    : (await intermediatesOf(snapshot.id, deps))[0];
  if (intermediate) {
    port.memory.deferred.delete(snapshot.id);
    if (intermediate.state !== 'completed') return 'rekeying';
    return shareAndNotifySnapshot(intermediate, deps);
  }
  const { volumeId } = snapshot;
  const ours: Record<string, string> = {
    [TAG_INTERMEDIATE]: 'true',
    [TAG_INTERMEDIATE_OF]: snapshot.id,
    ...(volumeId ? { [TAG_SOURCE_VOLUME]: volumeId } : {}),
    ...(snapshot.startTime ? { [TAG_SOURCE_CREATED_AT]: snapshot.startTime } : {}),
    [TAG_COPY_NAME]: intermediateEc2Name(snapshot.id),
    ...backlogTags(known.waited === true, known.pending, deps),
    // The tags it was judged in scope by (the volume's under its own), as the vault reads them on demand.
    ...scopeTagsToCarry(deps.settings.scopes['ebs-snapshot'], tags),
  };
  const copyId = await requestCopy(port, deps, snapshot.id, { snapshot, tags }, () =>
    deps.ec2.copySnapshot({
      sourceId: snapshot.id,
      kmsKeyArn: deps.settings.shareKeyArn,
      description: `${INTERMEDIATE_DESCRIPTION}${snapshot.id}, shareable with ${deps.settings.backupAccount}`,
      tags: carriedTags(tags, ours, deps.settings.scopes['ebs-snapshot']),
    }),
  );
  if (copyId === undefined) return 'waiting-for-quota';
  known.pending.count += 1;
  deps.log.info('intermediate copy requested', {
    snapshotId: snapshot.id,
    intermediateId: copyId,
    why: shareBlocker(snapshot, deps.settings.shareKeyArn) ?? 'uniform share path',
  });
  // Just started: no describe of it; its own copySnapshot event (or the sweep) shares it when it completes.
  return 'rekeying';
}

/**
 * Why a snapshot could not be shared usefully as it is; `undefined` when it
 * could. The agent copies in every case (see the module comment) but logs
 * this, so an operator sees what the copy fixes.
 */
export function shareBlocker(snapshot: Ec2Snapshot, shareKeyArn: string): string | undefined {
  if (!snapshot.encrypted) return 'unencrypted: re-encrypted under the share key';
  if (!sameKmsKey(snapshot.kmsKeyId, shareKeyArn)) return 'encrypted under a key the backup account cannot use';
  return undefined;
}

async function shareAndNotifySnapshot(snapshot: Ec2Snapshot, deps: Ec2AgentDeps): Promise<AgentStep> {
  if (snapshot.state !== 'completed') return 'pending';
  if (snapshot.tags[TAG_NOTIFIED_AT]) return 'already-notified';
  // Sharing is idempotent: asking once costs less than asking whether it is shared, then sharing.
  await deps.ec2.shareSnapshot(snapshot.id, deps.settings.backupAccount);
  await publish('ebs-snapshot', snapshot.id, deps);
  // Tagged after publishing: a crash in between publishes twice, which intake absorbs; never zero times.
  await deps.ec2.tag(snapshot.id, { [TAG_NOTIFIED_AT]: deps.clock.now().toISOString() });
  deps.log.info('EBS snapshot shared and announced', { snapshotId: snapshot.id });
  return 'notified';
}

async function publish(kind: 'ebs-snapshot' | 'ami', id: string, deps: Ec2AgentDeps): Promise<void> {
  const { sourceAccount, sourceRegion } = deps.settings;
  await deps.publisher.publish(
    notificationOf({
      kind,
      sourceAccount,
      sourceRegion,
      id,
      publishedAt: deps.clock.now(),
      sourceBacklog: sourceBacklogOf(
        (kind === 'ami' ? amiPort(deps) : ebsPort(deps)).memory,
        deps.clock.now().getTime(),
      ),
    }),
  );
}

// ---------------------------------------------------------------------------
// AMIs
// ---------------------------------------------------------------------------

/**
 * Handles one image by id (an "EC2 AMI State Change" to available): an
 * in-scope production image gets an intermediate; an intermediate gets
 * shared, with every backing snapshot, and announced.
 */
export async function processImage(imageId: string, deps: Ec2AgentDeps): Promise<AgentStep> {
  const image = await deps.ec2.describeImage(imageId);
  if (!image) return 'gone';
  if (isIntermediateImage(image)) {
    const step = await shareAndNotifyImage(image, deps);
    if (image.state === 'available') copyFinished(amiPort(deps).memory, image.id);
    await housekeeping(amiPort(deps), deps, image.state === 'available' ? 'quota' : 'nothing');
    return step;
  }
  // Tagged by the agent but not under its name: never an original, never shared.
  if (image.tags[TAG_INTERMEDIATE]) return 'out-of-scope';
  if (image.tags[TAG_BACKED_UP_AT]) return 'already-notified';
  const step = await rekeyImage(image, deps, {});
  await housekeeping(amiPort(deps), deps, 'nothing');
  return step;
}

async function rekeyImage(image: Ec2Image, deps: Ec2AgentDeps, known: Known): Promise<AgentStep> {
  const scope = deps.settings.scopes.ami;
  const port = amiPort(deps);
  if (!scope || !inScope(scope, [image.id], image.tags)) {
    port.memory.deferred.delete(image.id);
    return 'out-of-scope';
  }
  if (image.state !== 'available') return 'pending';
  const pending = known.pending ?? (await pendingOf(port, deps));
  // The sweep's listing, just made, is the backstop that asks AWS again about a quota it refused minutes ago.
  const held = heldBack(port, deps, image.id, image, pending, known.listed === true, deps.clock.now().getTime());
  if (held) return held;
  return copyImageOrCarryOn(image, deps, { ...known, pending });
}

/** Requests an original image's intermediate copy, with room for it, unless one exists: then carries that one on. */
async function copyImageOrCarryOn(
  image: Ec2Image,
  deps: Ec2AgentDeps,
  known: Known & { readonly pending: PendingCount },
): Promise<AgentStep> {
  const port = amiPort(deps);
  const { memory } = port;
  const name = intermediateEc2Name(image.id);
  // Whether the intermediate exists already, and is the agent's: the copy's answer could tell neither.
  const intermediate = known.listed ? undefined : await deps.ec2.imageByName(name);
  if (intermediate && !isIntermediateImage(intermediate)) {
    // An image the agent did not make holds the name: sharing it would share something of production's.
    deps.log.error('an image not made by the agent holds the intermediate name; not sharing it', {
      imageId: image.id,
      name,
      holder: intermediate.id,
    });
    memory.deferred.delete(image.id);
    return 'pending';
  }
  if (intermediate) {
    memory.deferred.delete(image.id);
    if (intermediate.state !== 'available') return 'rekeying';
    return shareAndNotifyImage(intermediate, deps);
  }
  const ours: Record<string, string> = {
    [TAG_INTERMEDIATE]: 'true',
    [TAG_SOURCE_IMAGE]: image.id,
    // The vault's AMI copier reads the production id from this tag, as for every kind.
    [TAG_INTERMEDIATE_OF]: image.id,
    ...(image.createdAt ? { [TAG_SOURCE_CREATED_AT]: image.createdAt } : {}),
    ...backlogTags(known.waited === true, known.pending, deps),
  };
  const copyId = await requestCopy(port, deps, image.id, image, () =>
    deps.ec2.copyImage({
      sourceId: image.id,
      name,
      // The same name gives the same token: a retried request returns the first copy.
      clientToken: hash(name, 64),
      kmsKeyArn: deps.settings.shareKeyArn,
      description: `${INTERMEDIATE_DESCRIPTION}${image.id}, shareable with ${deps.settings.backupAccount}`,
      imageTags: carriedTags(image.tags, ours, deps.settings.scopes.ami),
      snapshotTags: { [TAG_INTERMEDIATE]: 'true', [TAG_SOURCE_IMAGE]: image.id, [TAG_COPY_NAME]: name },
    }),
  );
  if (copyId === undefined) return 'waiting-for-quota';
  known.pending.count += 1;
  deps.log.info('intermediate image copy requested', { imageId: image.id, intermediateId: copyId });
  // Just started: its own state change to available (or the sweep) shares it.
  return 'rekeying';
}

async function shareAndNotifyImage(image: Ec2Image, deps: Ec2AgentDeps): Promise<AgentStep> {
  if (image.state !== 'available') return 'pending';
  if (image.tags[TAG_NOTIFIED_AT]) return 'already-notified';
  const { backupAccount } = deps.settings;
  // The storage first: CopyImage by the backup account needs every backing snapshot shared too.
  // Sharing is idempotent: no asking first.
  for (const snapshotId of image.snapshotIds) await deps.ec2.shareSnapshot(snapshotId, backupAccount);
  await deps.ec2.shareImage(image.id, backupAccount);
  await publish('ami', image.id, deps);
  // Tagged after publishing: a crash in between publishes twice, which intake absorbs; never zero times.
  await deps.ec2.tag(image.id, { [TAG_NOTIFIED_AT]: deps.clock.now().toISOString() });
  deps.log.info('image and its backing snapshots shared and announced', { imageId: image.id });
  return 'notified';
}

// ---------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------

const since = (iso: string | undefined, fallback: number) => (iso ? Date.parse(iso) : fallback);

/**
 * A backing snapshot of an intermediate image whose image is gone is deleted
 * only once this old: CopyImage registers its image at once, so this covers
 * no more than a listing that lags behind.
 */
const ORPHAN_GRACE_MS = HOUR_MS;

/**
 * The hourly sweep: what the events missed, for both kinds. Handles in-scope
 * originals made within the hard horizon that have no intermediate yet,
 * announces available intermediates not yet announced, deletes those the
 * vault confirmed copying (`intermediateRetentionHours` after its receipt)
 * and, loudly, those past `intermediateHorizonHours` with no receipt (an
 * image is deregistered, then its backing snapshots deleted), and deletes
 * failed or duplicate copies that were never announced. It deletes nothing
 * not tagged `bunker:intermediate=true`, and one item's failure is logged
 * and never stops the others. `mode` `scheduled` is the hourly schedule's:
 * the account is listed only when `sweepDue` (`./engine.ts`) for either kind.
 */
export async function sweepEc2Source(deps: Ec2AgentDeps, mode: SweepMode = 'full'): Promise<AgentSweepSummary> {
  const now = deps.clock.now().getTime();
  // Both kinds from the same two listings (an image's storage is told from EBS originals by the images): listed
  // when either kind is due, and then both are swept.
  const due = [ebsPort(deps), amiPort(deps)].some((port) => sweepDue(mode, port.memory, deps.settings, now));
  if (!due) return new Tally().summary();
  // Originals are looked at for as long as an intermediate of theirs could be kept: one waiting
  // on the cap or a quota is found again by every sweep until the horizon.
  const windowStart = now - deps.settings.intermediateHorizonHours * HOUR_MS;
  const tally = new Tally();
  const snapshots = await deps.ec2.listSnapshots();
  const images = await deps.ec2.listImages();
  /** Snapshots this sweep already deleted or tried to: never tried twice in one sweep. */
  const handled = new Set<string>();

  // -- EBS intermediates ------------------------------------------------------
  const groups = new Map<string, Ec2Snapshot[]>();
  for (const snapshot of snapshots.filter(isEbsIntermediate)) {
    const of = snapshot.tags[TAG_INTERMEDIATE_OF];
    groups.set(of, [...(groups.get(of) ?? []), snapshot]);
  }
  const covered = new Set<string>();
  const backedUp = new Set(snapshots.filter((s) => s.tags[TAG_BACKED_UP_AT]).map((s) => s.id));
  const ebs = ebsPort(deps);
  // Only the intermediates that await the vault count against the cap; the sweep counts them afresh.
  const pendingSnapshots: PendingCount = { count: 0, at: now };
  for (const [productionId, group] of groups) {
    const [canonical] = group.sort(canonicalOrder);
    for (const snapshot of group) {
      tally.examined += 1;
      const gone = await retireSnapshot(
        snapshot,
        snapshot === canonical && !backedUp.has(productionId),
        now,
        tally,
        deps,
      );
      if (gone === undefined) {
        tally.count(await guarded(ebs, deps, () => shareAndNotifySnapshot(snapshot, deps), snapshot.id));
      }
      if (gone) {
        ebs.memory.retained.delete(snapshot.id);
        continue;
      }
      if (!snapshot.tags[TAG_COPIED_AT]) pendingSnapshots.count += 1;
      covered.add(productionId);
    }
  }

  // -- AMI intermediates ------------------------------------------------------
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  const liveNames = new Set<string>();
  const coveredImages = new Set<string>();
  const ami = amiPort(deps);
  const pendingImages: PendingCount = { count: 0, at: now };
  for (const image of images.filter(isIntermediateImage)) {
    tally.examined += 1;
    const fate = FAILED_IMAGE.has(image.state)
      ? 'failed'
      : image.state === 'available'
        ? intermediateFate(image.tags, since(image.createdAt, now), now, deps.settings)
        : 'keep';
    if (fate === 'keep') {
      tally.count(await guarded(ami, deps, () => shareAndNotifyImage(image, deps), image.id));
    } else if (await retireImage(image, fate, byId, handled, deps)) {
      tally.removed(fate);
      ami.memory.retained.delete(image.id);
      continue;
    }
    if (!image.tags[TAG_COPIED_AT]) pendingImages.count += 1;
    liveNames.add(image.name);
    coveredImages.add(image.tags[TAG_SOURCE_IMAGE] ?? '');
  }

  // -- Backing snapshots whose image is gone: a delete that failed after the deregistration, in an earlier sweep
  for (const snapshot of snapshots.filter(isIntermediateImageStorage)) {
    const orphan = !liveNames.has(snapshot.tags[TAG_COPY_NAME]) && !handled.has(snapshot.id);
    if (orphan && since(snapshot.startTime, now) < now - ORPHAN_GRACE_MS) {
      await deleteGuarded(snapshot.id, 'backing snapshot of a deregistered intermediate image', 'info', deps);
    }
  }

  // -- Originals the events missed --------------------------------------------
  // The sweep leaves its counts for the events that follow; it is the backstop, so it tries a copy AWS refused
  // minutes ago, and forgets deferred originals that have an intermediate or are gone.
  const snapshotIds = new Set(snapshots.map((s) => s.id));
  const imageIds = new Set(images.map((i) => i.id));
  sweepCounted(ebs.memory, pendingSnapshots, (id) => covered.has(id) || !snapshotIds.has(id));
  sweepCounted(ami.memory, pendingImages, (id) => coveredImages.has(id) || !imageIds.has(id));
  const recent = (iso: string | undefined) => since(iso, now) >= windowStart;
  const agedOut = (message: string, id: string) => {
    tally.agedOutUncopied += 1;
    deps.log.error(message, { id, horizonHours: deps.settings.intermediateHorizonHours });
  };
  if (deps.settings.scopes['ebs-snapshot']) {
    const volumeTags = memo((id: string) => deps.ec2.volumeTags(id));
    const scope = deps.settings.scopes['ebs-snapshot'];
    const verdicts = scopeCacheOf(deps.memory ?? deps.ec2, 'ebs-snapshot');
    // A snapshot backing a registered image is that image's storage, backed up with it when the image is in
    // scope: the sweep leaves it to its image rather than read its volume's tags every hour (its own event, if
    // EBS sends one, still judges it).
    const storage = new Set(images.flatMap((i) => i.snapshotIds));
    for (const s of snapshots) {
      if (
        s.tags[TAG_INTERMEDIATE] ||
        s.tags[TAG_BACKED_UP_AT] ||
        covered.has(s.id) ||
        storage.has(s.id) ||
        recent(s.startTime)
      )
        continue;
      if (verdicts.knownOutOfScope(s.volumeId ?? s.id, s.tags, now)) continue;
      const ofVolume = s.volumeId ? await volumeTags(s.volumeId).catch(() => undefined) : undefined;
      const ids = s.volumeId ? [s.volumeId, s.id] : [s.id];
      const wanted = inScope(scope, ids, { ...ofVolume, ...s.tags });
      verdicts.judged(s.volumeId ?? s.id, s.tags, wanted, now);
      if (wanted) {
        agedOut('an in-scope EBS snapshot is older than the horizon and was never copied to the vault', s.id);
      }
    }
    const originals = snapshots.filter(
      (s) =>
        !s.tags[TAG_INTERMEDIATE] &&
        !s.tags[TAG_BACKED_UP_AT] &&
        !covered.has(s.id) &&
        !storage.has(s.id) &&
        recent(s.startTime),
    );
    // The listing just made shows no intermediate of it: no lookup before the copy.
    await sweepOriginals(ebs, deps, originals, pendingSnapshots, tally, now, (snapshot) =>
      rekeySnapshot(snapshot, deps, { pending: pendingSnapshots, volumeTags, listed: true, waited: true }),
    );
  }
  if (deps.settings.scopes.ami) {
    const scope = deps.settings.scopes.ami;
    for (const i of images) {
      if (i.tags[TAG_INTERMEDIATE] || i.tags[TAG_BACKED_UP_AT] || coveredImages.has(i.id) || recent(i.createdAt))
        continue;
      if (inScope(scope, [i.id], i.tags)) {
        agedOut('an in-scope AMI is older than the horizon and was never copied to the vault', i.id);
      }
    }
    const originals = images.filter(
      (i) => !i.tags[TAG_INTERMEDIATE] && !i.tags[TAG_BACKED_UP_AT] && !coveredImages.has(i.id) && recent(i.createdAt),
    );
    const names = new Set(images.map((i) => i.name));
    // No lookup by name when the listing shows no image holding it (of the agent's or not).
    await sweepOriginals(ami, deps, originals, pendingImages, tally, now, (image) =>
      rekeyImage(image, deps, {
        pending: pendingImages,
        listed: !names.has(intermediateEc2Name(image.id)),
        waited: true,
      }),
    );
  }
  return tally.summary();
}

/**
 * Deletes an EBS intermediate whose time has come: copied by the vault and
 * kept long enough, past the horizon with no receipt (loudly), a failed
 * copy, or a completed duplicate of the canonical copy that was never
 * announced. `true` once deleted, `false` when the delete failed (the next
 * sweep retries), `undefined` when it stays.
 */
async function retireSnapshot(
  snapshot: Ec2Snapshot,
  canonical: boolean,
  now: number,
  tally: Tally,
  deps: Ec2AgentDeps,
): Promise<boolean | undefined> {
  const announced = Boolean(snapshot.tags[TAG_NOTIFIED_AT]);
  let fate: IntermediateFate | 'failed' | 'duplicate' = 'keep';
  if (snapshot.state === 'error') fate = 'failed';
  else if (snapshot.state === 'completed' && !canonical && !announced) fate = 'duplicate';
  else if (snapshot.state === 'completed') {
    fate = intermediateFate(snapshot.tags, since(snapshot.startTime, now), now, deps.settings);
  }
  if (fate === 'keep') return undefined;
  const level = fate === 'delete-past-horizon' ? 'error' : 'info';
  if (!(await deleteGuarded(snapshot.id, FATE_WORDS[fate], level, deps))) return false;
  tally.removed(fate);
  return true;
}

const FATE_WORDS: Readonly<Record<Exclude<IntermediateFate, 'keep'> | 'failed' | 'duplicate', string>> = {
  'delete-copied': 'copied by the vault',
  'delete-past-horizon': 'past the hard horizon with no receipt from the vault',
  failed: 'failed copy, never announced',
  duplicate: 'duplicate of the canonical copy, never announced',
};

/**
 * Deregisters an intermediate image, then deletes those of its backing
 * snapshots the agent tagged as its own. `true` once the image is
 * deregistered: a snapshot that cannot be deleted yet (EC2 frees it
 * eventually) is left to a later sweep's orphan cleanup. Every snapshot it
 * tries goes into `tried`.
 */
async function retireImage(
  image: Ec2Image,
  fate: Exclude<IntermediateFate, 'keep'> | 'failed',
  known: ReadonlyMap<string, Ec2Snapshot>,
  tried: Set<string>,
  deps: Ec2AgentDeps,
): Promise<boolean> {
  const why = FATE_WORDS[fate];
  try {
    await deps.ec2.deregisterImage(image.id);
  } catch (error) {
    deps.log.error('intermediate image could not be deregistered; the next sweep retries', {
      imageId: image.id,
      why,
      error: String(error),
    });
    return false;
  }
  const fields = { imageId: image.id, why, horizonHours: deps.settings.intermediateHorizonHours };
  if (fate === 'delete-past-horizon') deps.log.error('intermediate image deregistered past the hard horizon', fields);
  else deps.log.info('intermediate image deregistered', fields);
  for (const snapshotId of image.snapshotIds) {
    const snapshot = known.get(snapshotId);
    if (!snapshot || !isIntermediateImageStorage(snapshot)) {
      deps.log.warn('backing snapshot not tagged as the agent’s; left alone', { imageId: image.id, snapshotId });
      continue;
    }
    tried.add(snapshotId);
    await deleteGuarded(snapshotId, `backing snapshot of ${image.id}`, 'info', deps);
  }
  return true;
}

/** A failed delete must not stop the sweep: it is the backstop for lost events. */
async function deleteGuarded(
  snapshotId: string,
  why: string,
  level: 'info' | 'error',
  deps: Ec2AgentDeps,
): Promise<boolean> {
  try {
    await deps.ec2.deleteSnapshot(snapshotId);
    deps.log[level]('intermediate snapshot deleted', { snapshotId, why });
    return true;
  } catch (error) {
    deps.log.error('intermediate snapshot could not be deleted; the next sweep retries', {
      snapshotId,
      why,
      error: String(error),
    });
    return false;
  }
}

// ---------------------------------------------------------------------------
// Receipts
// ---------------------------------------------------------------------------

/**
 * The vault's receipt for one EBS or AMI intermediate: tags it
 * `bunker:copied-at`, so the sweep may delete it. Re-reads it first, and
 * only ever marks the agent's own intermediates (for an image, the image:
 * its backing snapshots go with it).
 */
export async function recordEc2Receipt(receipt: Receipt, deps: Ec2AgentDeps): Promise<ReceiptStep> {
  const { sourceAccount, sourceRegion } = deps.settings;
  if (receipt.account !== sourceAccount || receipt.region !== sourceRegion) return 'not-handled';
  if (receipt.kind === 'ebs-snapshot') {
    const snapshot = await deps.ec2.describeSnapshot(receipt.id);
    if (!snapshot) return 'gone';
    if (!isEbsIntermediate(snapshot)) return 'not-an-intermediate';
    return recordCopied(ebsPort(deps), deps, marks(snapshot.id, snapshot.tags, receipt.copiedAt, deps));
  }
  if (receipt.kind === 'ami') {
    const image = await deps.ec2.describeImage(receipt.id);
    if (!image) return 'gone';
    if (!isIntermediateImage(image)) return 'not-an-intermediate';
    return recordCopied(amiPort(deps), deps, marks(image.id, image.tags, receipt.copiedAt, deps, TAG_SOURCE_IMAGE));
  }
  return 'not-handled';
}

/** A receipt's tag requests: by id, as EC2 tags snapshots and images alike; the original is named on the intermediate. */
function marks(
  id: string,
  tags: Readonly<Record<string, string>>,
  copiedAt: string,
  deps: Ec2AgentDeps,
  originalTag = TAG_INTERMEDIATE_OF,
): ReceiptMarks {
  const originalId = tags[originalTag];
  return {
    id,
    tags,
    copiedAt,
    original: async () => {
      if (originalId) await deps.ec2.tag(originalId, { [TAG_BACKED_UP_AT]: copiedAt });
    },
    intermediate: () => deps.ec2.tag(id, { [TAG_COPIED_AT]: copiedAt }),
  };
}
