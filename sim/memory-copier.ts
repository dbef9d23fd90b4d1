/**
 * A test double of the {@link ArtifactCopier} port for ANY kind: source
 * artifacts shared with the backup account, and the backup account's copies
 * in progress, held in memory. It is a stand-in, not a model of one service:
 * it keeps only what the pipeline's decisions depend on, the same way for
 * every kind.
 *
 * - A copy is `pending` until its duration (an option: some copies slow) is
 *   up, then `available` under the requested key (for an AMI, every backing
 *   snapshot under it) or `failed` (an option: some copies fail).
 * - Copies are keyed by their deterministic name. RDS-like kinds name the copy
 *   as asked (the id is the name); EC2-like kinds get an id from the
 *   {@link Prng} (`snap-…`, `ami-…`) and a `bunker:copy-name` tag. A copy to
 *   a name that exists answers `exists` with that copy's id.
 * - AWS's own quota of copies in progress per Region: one more copy than
 *   the quota allows is answered with {@link CopyQuotaExceededError}.
 * - A source that does not exist, is not shared with the backup account or
 *   is not available is refused with {@link CopyRefusedError}.
 * - `listShared` lists the sources of the given accounts in a Region shared
 *   with the backup account (test/emulator/shared-listing-contract.test.ts
 *   holds it to the adapters' behaviour).
 * - A source's `scopeTags` are its own; its production resource's tags are
 *   given apart (`addSource`'s `resourceTags`) and read only on demand by
 *   `resourceScopeTags` (not for AMIs, whose copier has none), combined as
 *   the adapters do: for EBS the volume's under the snapshot's own, for the
 *   others the resource's, else the snapshot's own. The reads are counted
 *   ({@link MemoryCopier.resourceReads}).
 *
 * For the tests it records the peak number of copies in progress per Region,
 * the copy requests per source, and which copies finished since the last
 * look (the copy events AWS would send). EBS and AMI copies can be locked
 * (`protect`: one lock per copy, kept when asked again, refusing when
 * {@link MemoryCopier.lockFails} is set); the other kinds have no `protect`,
 * as their copiers have none. Nothing here reads a real clock or
 * `Math.random`: the same {@link ManualClock}, {@link Prng} seed and calls
 * give the same run.
 */
import { CopyQuotaExceededError, CopyRefusedError } from '../lambdas/core/errors';
import { TAG_COPY_NAME } from '../lambdas/core/pipeline/copy';
import { artifactId, KINDS } from '../lambdas/kinds/registry';
import { MAX_COPIES_PER_LOOK } from '../lambdas/kinds/types';
import type {
  ArtifactCopier,
  ArtifactRef,
  ArtifactState,
  ChildView,
  CopyLocation,
  CopyProtection,
  CopyRequest,
  CopyStarted,
  CopyView,
  KindName,
  ProtectedCopy,
  SourceView,
} from '../lambdas/kinds/types';
import type { ManualClock, Prng } from './memory-aws';

/** What the behaviour options of a {@link MemoryCopier} see of one copy being started. */
export interface MemoryCopyContext {
  readonly request: CopyRequest;
  /** Copies of the same source this double made before, that fail or failed. */
  readonly failedBefore: number;
  /** Copies of the same source this double made before. */
  readonly startedBefore: number;
}

export interface MemoryCopierOptions {
  /** The account the copies are made in; sources are copyable only if shared with it. */
  readonly backupAccount: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** How long a copy stays `pending`. @default 5 minutes for every copy */
  readonly copyDurationMs?: (copy: MemoryCopyContext, prng: Prng) => number;
  /** Whether a copy ends `failed` instead of `available`. @default never */
  readonly copyFails?: (copy: MemoryCopyContext, prng: Prng) => boolean;
  /**
   * Copies in progress AWS allows per Region before it answers "not now".
   * @default the kind's `defaultCopyLimit` from the registry
   */
  readonly quota?: number;
}

/** A copy as the double holds it. */
export interface MemoryCopy {
  readonly targetId: string;
  readonly targetName: string;
  readonly region: string;
  /** {@link artifactId} of the source. */
  readonly source: string;
  readonly kmsKeyArn: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly startedAtMs: number;
  readonly readyAtMs: number;
  readonly outcome: 'available' | 'failed';
  readonly children: readonly string[];
}

/** A copy whose time came up: what a copy event would announce. */
export interface FinishedCopy {
  readonly targetId: string;
  readonly region: string;
  readonly state: 'available' | 'failed';
}

/** What happened to the copy requests of one source. */
export interface SourceRequests {
  /** Every `copy` call. */
  requests: number;
  /** Calls that started a copy. */
  started: number;
  /** Calls answered `exists`. */
  exists: number;
  /** Calls answered with {@link CopyQuotaExceededError}. */
  quotaAnswers: number;
  /** Calls refused with {@link CopyRefusedError}. */
  refused: number;
}

/** The kinds whose copy is named by the service (an id), not by the caller. */
const EC2_ID_PREFIX: Partial<Record<KindName, string>> = { 'ebs-snapshot': 'snap', ami: 'ami' };
const DEFAULT_DURATION_MS = 5 * 60_000;

/** The service's status words, per family, for `pending`, `available` and `failed`. */
const DETAIL: Record<'rds' | 'ebs' | 'ami', Record<ArtifactState, string>> = {
  rds: { pending: 'creating', available: 'available', failed: 'failed' },
  ebs: { pending: 'pending', available: 'completed', failed: 'error' },
  ami: { pending: 'pending', available: 'available', failed: 'failed' },
};

/** The test double of a kind's copier; see the module comment. */
export class MemoryCopier implements ArtifactCopier {
  /** Quota answers given so far, every Region. */
  quotaErrors = 0;

  private readonly partition: string;
  private readonly sources = new Map<string, SourceView>();
  private readonly copies = new Map<string, MemoryCopy>();
  private readonly quotas = new Map<string, number>();
  private readonly peaks = new Map<string, number>();
  private readonly perSource = new Map<string, SourceRequests>();
  private readonly reported = new Set<string>();

  /** Calls of `resourceScopeTags`: the reads of a resource's tags the adapter would make. */
  resourceReads = 0;
  /** Only the kinds whose describe leaves the resource's tags to a read of their own (not AMIs). */
  readonly resourceScopeTags?: (view: SourceView) => Promise<Readonly<Record<string, string>>>;
  private readonly resourceTags = new Map<string, Readonly<Record<string, string>>>();

  /** Set by a test: `protect` throws, as a lock AWS refused would. */
  lockFails = false;
  /** Only the kinds AWS can lock (EBS snapshot lock, AMI deregistration protection). */
  readonly protect?: (copy: CopyView, protection: CopyProtection) => Promise<ProtectedCopy>;
  private readonly locks = new Map<string, ProtectedCopy>();

  constructor(
    readonly kind: KindName,
    private readonly clock: ManualClock,
    private readonly prng: Prng,
    private readonly options: MemoryCopierOptions,
  ) {
    this.partition = options.partition ?? 'aws';
    if (EC2_ID_PREFIX[kind]) this.protect = (copy, protection) => this.lock(copy, protection);
    if (kind !== 'ami') this.resourceScopeTags = (view) => this.readResource(view);
  }

  // -- setup -----------------------------------------------------------------

  /**
   * Adds a source artifact as the source agent leaves it: owned by
   * `ref.account`, shared with the backup account (an AMI's backing snapshot
   * too), encrypted, available, in scope by its ids (`ref.id` and
   * `resourceId` when given). `view` overrides any of that.
   * `resourceTags`: the production resource's tags (absent: the resource
   * is gone), read only by `resourceScopeTags`.
   */
  addSource(
    ref: ArtifactRef,
    view: Partial<Omit<SourceView, 'ref'>> = {},
    resourceTags?: Readonly<Record<string, string>>,
  ): SourceView {
    if (ref.kind !== this.kind) throw new Error(`a ${this.kind} copier cannot hold the ${ref.kind} ${ref.id}`);
    const keyArn = `arn:${ref.partition}:kms:${ref.region}:${ref.account}:key/memory-share-key`;
    const sharedWith = [this.options.backupAccount];
    const resourceId = view.resourceId;
    const source: SourceView = {
      ref,
      arn: KINDS[this.kind].arn(ref),
      ownerAccount: ref.account,
      state: 'available',
      detail: this.detail('available'),
      encrypted: true,
      keyArn,
      sharedWith,
      producedAt: this.clock.now().toISOString(),
      scopeIds: [ref.id, ...(resourceId ? [resourceId] : [])],
      scopeTags: {},
      sizeGiB: 20,
      ...(this.kind === 'ami' ? { children: [{ id: this.ec2Id('snap'), encrypted: true, keyArn, sharedWith }] } : {}),
      ...view,
    };
    this.sources.set(artifactId(ref), source);
    if (resourceTags) this.resourceTags.set(artifactId(ref), { ...resourceTags });
    else this.resourceTags.delete(artifactId(ref));
    return source;
  }

  /** Overrides AWS's quota of copies in progress in one Region. */
  setQuota(region: string, quota: number): void {
    this.quotas.set(region, quota);
  }

  // -- the port --------------------------------------------------------------

  async describeSource(ref: ArtifactRef): Promise<SourceView | undefined> {
    await Promise.resolve();
    const source = this.sources.get(artifactId(ref));
    return source ? structuredClone(source) : undefined;
  }

  /**
   * The sources held under `region` and one of the `accounts` that are
   * shared with the backup account, by account and id. Every source here is
   * taken to be one the source agent made (the adapters' name filters have
   * nothing to act on), and a source is listed under the account it was
   * added for even when its view names another owner, so the core's
   * re-check of the owner is testable.
   */
  async listShared(region: string, accounts: readonly string[]): Promise<ArtifactRef[]> {
    await Promise.resolve();
    const wanted = new Set(accounts);
    return [...this.sources.values()]
      .filter((s) => wanted.has(s.ref.account) && s.ref.region === region)
      .filter((s) => s.sharedWith.includes(this.options.backupAccount))
      .map((s) => ({ ...s.ref }))
      .sort((a, b) => a.account.localeCompare(b.account) || a.id.localeCompare(b.id));
  }

  async copy(request: CopyRequest): Promise<CopyStarted> {
    await Promise.resolve();
    const id = artifactId(request.ref);
    const counts = this.requestsOf(id);
    counts.requests += 1;
    const source = this.sources.get(id);
    if (!source || source.arn !== request.sourceArn || !source.sharedWith.includes(this.options.backupAccount)) {
      counts.refused += 1;
      throw new CopyRefusedError(`${request.sourceArn} does not exist or is not shared with this account`);
    }
    if (source.state !== 'available') {
      counts.refused += 1;
      throw new CopyRefusedError(`${request.sourceArn} is ${source.detail}, not available`);
    }
    const existing = this.byName(request.targetName, request.targetRegion);
    if (existing) {
      counts.exists += 1;
      return { outcome: 'exists', targetId: existing.targetId };
    }
    const quota = this.quotaOf(request.targetRegion);
    if (this.inProgress(request.targetRegion) >= quota) {
      counts.quotaAnswers += 1;
      this.quotaErrors += 1;
      throw new CopyQuotaExceededError(
        `too many ${KINDS[this.kind].label} copies in progress in ${request.targetRegion}; the limit is ${quota}`,
      );
    }
    const earlier = this.copiesOf(request.ref);
    const context: MemoryCopyContext = {
      request,
      failedBefore: earlier.filter((c) => c.outcome === 'failed').length,
      startedBefore: earlier.length,
    };
    const now = this.clock.epochMs;
    const prefix = EC2_ID_PREFIX[this.kind];
    const targetId = prefix ? this.ec2Id(prefix) : request.targetName;
    const copy: MemoryCopy = {
      targetId,
      targetName: request.targetName,
      region: request.targetRegion,
      source: id,
      kmsKeyArn: request.kmsKeyArn,
      tags: { ...request.tags, ...(prefix ? { [TAG_COPY_NAME]: request.targetName } : {}) },
      startedAtMs: now,
      readyAtMs: now + (this.options.copyDurationMs?.(context, this.prng) ?? DEFAULT_DURATION_MS),
      outcome: this.options.copyFails?.(context, this.prng) ? 'failed' : 'available',
      children: (source.children ?? []).map(() => this.ec2Id('snap')),
    };
    this.copies.set(this.key(targetId, request.targetRegion), copy);
    counts.started += 1;
    this.peaks.set(
      request.targetRegion,
      Math.max(this.peaks.get(request.targetRegion) ?? 0, this.inProgress(request.targetRegion)),
    );
    return { outcome: 'started', targetId };
  }

  /** By id when one is given (the id is the name for RDS-like kinds), else by the deterministic name. */
  async describeCopy(location: CopyLocation): Promise<CopyView | undefined> {
    await Promise.resolve();
    const found =
      location.targetId !== undefined && (!EC2_ID_PREFIX[this.kind] || KINDS[this.kind].isId(location.targetId))
        ? this.copies.get(this.key(location.targetId, location.region))
        : this.byName(location.targetName, location.region);
    return found ? this.view(found) : undefined;
  }

  /** Each location as {@link describeCopy} finds it, in one call: the batched look's double. */
  async describeCopies(locations: readonly CopyLocation[], region: string): Promise<CopyView[]> {
    if (locations.length > MAX_COPIES_PER_LOOK) throw new Error(`memory: more than ${MAX_COPIES_PER_LOOK} ids`);
    const found: CopyView[] = [];
    for (const location of locations) {
      const copy = await this.describeCopy({ ...location, region });
      if (copy) found.push(copy);
    }
    return found;
  }

  private async readResource(view: SourceView): Promise<Readonly<Record<string, string>>> {
    await Promise.resolve();
    this.resourceReads += 1;
    const ofResource = this.resourceTags.get(artifactId(view.ref));
    if (this.kind === 'ebs-snapshot') return { ...ofResource, ...view.scopeTags };
    return ofResource ? { ...ofResource } : { ...view.scopeTags };
  }

  private async lock(copy: CopyView, protection: CopyProtection): Promise<ProtectedCopy> {
    await Promise.resolve();
    if (this.lockFails) throw new Error(`memory: locking ${copy.targetId} refused`);
    const key = this.key(copy.targetId, copy.region);
    if (!this.copies.has(key)) throw new Error(`memory: no copy ${copy.targetId} in ${copy.region}`);
    const held = this.locks.get(key);
    if (held) return held;
    const until = new Date(this.clock.epochMs + protection.days * 86_400_000).toISOString();
    const mode =
      protection.mode === 'compliance' && protection.coolOffHours > 0 ? 'compliance-cooloff' : protection.mode;
    const lock = { lockedUntil: until, lock: this.kind === 'ami' ? `${mode}+deregistration-protection` : mode };
    this.locks.set(key, lock);
    return lock;
  }

  // -- inspection for tests (no side effects on the double's behaviour) ------

  /** The lock on a copy, if `protect` set one. */
  lockOf(targetId: string, region: string): ProtectedCopy | undefined {
    return this.locks.get(this.key(targetId, region));
  }

  /** Copies pending now in a Region. */
  inProgress(region: string): number {
    const now = this.clock.epochMs;
    let pending = 0;
    for (const copy of this.copies.values()) if (copy.region === region && now < copy.readyAtMs) pending += 1;
    return pending;
  }

  /** The most copies ever in progress at once in a Region. */
  peakInProgress(region: string): number {
    return this.peaks.get(region) ?? 0;
  }

  /** Copies whose time is up and that were not reported before, in the order they finished: the copy events. */
  takeFinished(): FinishedCopy[] {
    const now = this.clock.epochMs;
    const finished = [...this.copies.values()]
      .filter((c) => c.readyAtMs <= now && !this.reported.has(this.key(c.targetId, c.region)))
      .sort((a, b) => a.readyAtMs - b.readyAtMs || a.targetId.localeCompare(b.targetId));
    for (const c of finished) this.reported.add(this.key(c.targetId, c.region));
    return finished.map((c) => ({ targetId: c.targetId, region: c.region, state: c.outcome }));
  }

  /** Every copy of a source, oldest first, as `describeCopy` shows it now. */
  copiesOf(ref: ArtifactRef): MemoryCopy[] {
    const id = artifactId(ref);
    return [...this.copies.values()].filter((c) => c.source === id).sort((a, b) => a.startedAtMs - b.startedAtMs);
  }

  /** The state of a held copy now. */
  stateOf(copy: MemoryCopy): ArtifactState {
    return this.clock.epochMs < copy.readyAtMs ? 'pending' : copy.outcome;
  }

  /** What happened to the copy requests of a source. */
  requestsFor(ref: ArtifactRef): SourceRequests {
    return { ...this.requestsOf(artifactId(ref)) };
  }

  /** Copies held, every Region. */
  get size(): number {
    return this.copies.size;
  }

  // -- internals -------------------------------------------------------------

  private key(targetId: string, region: string): string {
    return `${region}/${targetId}`;
  }

  private byName(name: string, region: string): MemoryCopy | undefined {
    for (const copy of this.copies.values()) if (copy.region === region && copy.targetName === name) return copy;
    return undefined;
  }

  private quotaOf(region: string): number {
    return this.quotas.get(region) ?? this.options.quota ?? KINDS[this.kind].defaultCopyLimit;
  }

  private requestsOf(id: string): SourceRequests {
    let counts = this.perSource.get(id);
    if (!counts) {
      counts = { requests: 0, started: 0, exists: 0, quotaAnswers: 0, refused: 0 };
      this.perSource.set(id, counts);
    }
    return counts;
  }

  /** `snap-`/`ami-` and 17 hex digits from the Prng, never one already held. */
  private ec2Id(prefix: string): string {
    for (;;) {
      const id = `${prefix}-${Array.from({ length: 17 }, () => this.prng.int(16).toString(16)).join('')}`;
      const taken =
        [...this.copies.values()].some((c) => c.targetId === id || c.children.includes(id)) ||
        [...this.sources.values()].some((s) => s.ref.id === id || (s.children ?? []).some((c) => c.id === id));
      if (!taken) return id;
    }
  }

  private detail(state: ArtifactState): string {
    const family = this.kind === 'ami' ? 'ami' : this.kind === 'ebs-snapshot' ? 'ebs' : 'rds';
    return DETAIL[family][state];
  }

  private view(copy: MemoryCopy): CopyView {
    const state = this.stateOf(copy);
    const children: ChildView[] | undefined =
      this.kind === 'ami' ? copy.children.map((id) => ({ id, encrypted: true, keyArn: copy.kmsKeyArn })) : undefined;
    return {
      targetId: copy.targetId,
      arn: KINDS[this.kind].arn({
        partition: this.partition,
        account: this.options.backupAccount,
        region: copy.region,
        id: copy.targetId,
      }),
      region: copy.region,
      state,
      detail: this.detail(state),
      encrypted: true,
      ...(this.kind === 'ami' ? {} : { keyArn: copy.kmsKeyArn }),
      sizeGiB: 20,
      tags: { ...copy.tags },
      ...(children ? { children } : {}),
    };
  }
}
