/**
 * The backup account's side of AWS for every snapshot kind, at fleet scale,
 * on the simulation's virtual clock: the shared sources the vault reads
 * through the reader roles, and the copies it makes. One
 * {@link ArtifactCopier} per kind ({@link CopyWorld.copier}), behaving as
 * `MemoryCopier` (`./memory-copier`) does where the pipeline's decisions
 * depend on it, and holding to the copy contract the SDK copiers hold to on
 * the emulator (test/emulator/shared-listing-contract.test.ts), plus what
 * the bound is about:
 *
 * - every copy takes the duration drawn for its artifact (per kind: a fixed
 *   part, a part per GiB, a log-normal spread), known before the run so
 *   the bound is computed from exactly the durations used;
 * - AWS's quota of copies in progress per pool (kind and Region): one more
 *   is answered with {@link CopyQuotaExceededError};
 * - copies of one source resource (DB instance, cluster, volume, image) run
 *   one after another, as AWS queues them: a copy accepted while another of
 *   the same resource runs waits for it, holding its place in the quota;
 * - a copy that finishes raises the kind's copy event
 *   ({@link CopyWorldOptions.onFinished}); the simulation decides whether
 *   and when it is delivered.
 *
 * Everything is indexed (by name, id, pool, resource), so a call costs the
 * same with ten or ten thousand copies; `MemoryCopier` scans every copy.
 */
import { CopyQuotaExceededError, CopyRefusedError } from '../lambdas/core/errors';
import { TAG_COPY_NAME } from '../lambdas/core/pipeline/copy';
import { KINDS, poolOf } from '../lambdas/kinds/registry';
import type {
  ArtifactCopier,
  ArtifactRef,
  CopyLocation,
  CopyRequest,
  CopyStarted,
  CopyView,
  KindName,
  SourceView,
} from '../lambdas/kinds/types';
import type { EventLoop } from './clock';

/** A shared source as the simulation sets it up (without source agents). */
export interface SimSource {
  readonly ref: ArtifactRef;
  /** The production resource it is a snapshot of: copies of one resource run one after another. */
  readonly resourceId: string;
  readonly sizeGiB: number;
  /** When the source agent announced it (the burst's arrival). */
  readonly producedAtMs: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** What the run knows of the artifact a source is of: what the copy's time and the figures hang on. */
export interface SourceFacts {
  /** The run's key of the production artifact (`<kind>:<account>:<production id>`). */
  readonly key: string;
  /** Copies of one resource run one after another. */
  readonly resourceKey: string;
  /** How long its copy takes, drawn before the run. */
  readonly durationMs: number;
}

/** Where the copy world reads the shared sources: as the reader role sees them, and what the run knows of them. */
export interface SourceReader {
  describe(ref: ArtifactRef): Promise<SourceView | undefined>;
  /** The production resource's tags, as the kind's copier reads them on demand (`ArtifactCopier.resourceScopeTags`). */
  resourceScopeTags?(view: SourceView): Promise<Readonly<Record<string, string>>>;
  /** What the `accounts` share with the backup account in `region`, as the sweep lists it (one listing). */
  listShared(kind: KindName, region: string, accounts: readonly string[]): Promise<ArtifactRef[]>;
  factsOf(ref: ArtifactRef, view: SourceView): SourceFacts | undefined;
}

/** The source view of a {@link SimSource}: shared with the backup account, encrypted under the share key, available. */
export function simSourceView(source: SimSource, backupAccount: string): SourceView {
  const { ref } = source;
  const keyArn = `arn:${ref.partition}:kms:${ref.region}:${ref.account}:key/share`;
  const sharedWith = [backupAccount];
  return {
    ref,
    arn: KINDS[ref.kind].arn(ref),
    ownerAccount: ref.account,
    state: 'available',
    detail: ref.kind === 'ebs-snapshot' ? 'completed' : 'available',
    encrypted: true,
    keyArn,
    sharedWith,
    producedAt: new Date(source.producedAtMs).toISOString(),
    resourceId: source.resourceId,
    scopeIds: [source.resourceId, ref.id],
    scopeTags: source.tags,
    sizeGiB: source.sizeGiB,
    ...(ref.kind === 'ami'
      ? { children: [{ id: `snap-${ref.id.slice(4)}`, encrypted: true, keyArn, sharedWith }] }
      : {}),
  };
}

export interface CopyWorldOptions {
  readonly loop: EventLoop;
  readonly backupAccount: string;
  readonly partition: string;
  /** AWS's quota of copies in progress per Region, per kind. */
  readonly quotas: Readonly<Record<KindName, number>>;
  readonly sources: SourceReader;
  /** A copy finished: the copy event AWS sends. */
  readonly onFinished: (kind: KindName, targetId: string, region: string) => void;
}

interface HeldCopy {
  readonly kind: KindName;
  readonly targetId: string;
  readonly targetName: string;
  readonly region: string;
  /** The run's key of the production artifact ({@link SourceFacts.key}). */
  readonly artifact: string;
  readonly kmsKeyArn: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly acceptedAtMs: number;
  /** When the copy's own transfer starts: after the copies of its resource accepted before it. */
  readonly startsAtMs: number;
  readonly endsAtMs: number;
  readonly childId?: string;
  /** The source's size, which a copy of an RDS kind or an EBS snapshot reports as its own (not an AMI's). */
  readonly sizeGiB?: number;
}

/** One change of the copies in progress of a pool: the time series the chart and the tests read. */
export interface InFlightPoint {
  readonly atMs: number;
  readonly inFlight: number;
}

/** Every copy request's outcome per source, for the loss and duplicate counts. */
export interface SourceOutcome {
  started: number;
  exists: number;
  quotaAnswers: number;
}

const EC2_PREFIX: Partial<Record<KindName, string>> = { 'ebs-snapshot': 'snap', ami: 'ami' };

/** See the module comment. */
export class CopyWorld {
  private readonly byName = new Map<string, HeldCopy>();
  private readonly byId = new Map<string, HeldCopy>();
  private readonly inFlight = new Map<string, number>();
  private readonly resourceFreeAt = new Map<string, number>();
  private readonly outcomes = new Map<string, SourceOutcome>();
  private readonly series = new Map<string, InFlightPoint[]>();
  private readonly peaks = new Map<string, number>();
  private ids = 0;
  /** Every copy accepted, in order. */
  readonly accepted: HeldCopy[] = [];

  constructor(private readonly options: CopyWorldOptions) {}

  /** The kind's copier, as the vault's Lambdas reach it. */
  copier(kind: KindName): ArtifactCopier {
    return {
      kind,
      describeSource: (ref) => this.options.sources.describe(ref),
      listShared: (region, accounts) => this.options.sources.listShared(kind, region, accounts),
      ...(this.options.sources.resourceScopeTags && kind !== 'ami'
        ? {
            resourceScopeTags: async (view: SourceView) =>
              (await this.options.sources.resourceScopeTags?.(view)) ?? view.scopeTags,
          }
        : {}),
      copy: async (request) => this.copy(kind, request, await this.options.sources.describe(request.ref)),
      describeCopy: async (location) => {
        const found = this.find(kind, location);
        return found ? this.view(found) : undefined;
      },
    };
  }

  // -- inspection (not port calls) -------------------------------------------

  /** Copies in progress now, per pool. */
  inProgress(pool: string): number {
    return this.inFlight.get(pool) ?? 0;
  }

  /** The copies-in-progress time series of each pool (a point per change). */
  timeSeries(): ReadonlyMap<string, readonly InFlightPoint[]> {
    return this.series;
  }

  peak(pool: string): number {
    return this.peaks.get(pool) ?? 0;
  }

  // -- internals -------------------------------------------------------------

  private copy(kind: KindName, request: CopyRequest, view: SourceView | undefined): CopyStarted {
    const facts = view ? this.options.sources.factsOf(request.ref, view) : undefined;
    if (
      !view ||
      !facts ||
      view.arn !== request.sourceArn ||
      view.state !== 'available' ||
      !view.sharedWith.includes(this.options.backupAccount)
    ) {
      throw new CopyRefusedError(
        `${request.sourceArn} does not exist, is not available or is not shared with this account`,
      );
    }
    const outcome = this.outcomeFor(facts.key);
    const existing = this.byName.get(`${request.targetRegion}/${request.targetName}`);
    if (existing) {
      outcome.exists += 1;
      return { outcome: 'exists', targetId: existing.targetId };
    }
    const pool = poolOf(kind, request.targetRegion);
    const quota = this.options.quotas[kind];
    if (this.inProgress(pool) >= quota) {
      outcome.quotaAnswers += 1;
      throw new CopyQuotaExceededError(
        `too many ${KINDS[kind].label} copies in progress in ${request.targetRegion}; the limit is ${quota}`,
      );
    }
    const now = this.options.loop.epochMs;
    const startsAtMs = Math.max(now, this.resourceFreeAt.get(facts.resourceKey) ?? now);
    const endsAtMs = startsAtMs + facts.durationMs;
    this.resourceFreeAt.set(facts.resourceKey, endsAtMs);
    const prefix = EC2_PREFIX[kind];
    this.ids += 1;
    const targetId = prefix ? `${prefix}-${this.ids.toString(16).padStart(17, '0')}` : request.targetName;
    const copy: HeldCopy = {
      kind,
      targetId,
      targetName: request.targetName,
      region: request.targetRegion,
      artifact: facts.key,
      kmsKeyArn: request.kmsKeyArn,
      tags: { ...request.tags, ...(prefix ? { [TAG_COPY_NAME]: request.targetName } : {}) },
      acceptedAtMs: now,
      startsAtMs,
      endsAtMs,
      ...(kind === 'ami' ? { childId: `snap-${(this.ids + 0x8000000).toString(16).padStart(17, '0')}` } : {}),
      ...(kind !== 'ami' && view.sizeGiB !== undefined ? { sizeGiB: view.sizeGiB } : {}),
    };
    this.byName.set(`${copy.region}/${copy.targetName}`, copy);
    this.byId.set(`${copy.region}/${copy.targetId}`, copy);
    this.accepted.push(copy);
    outcome.started += 1;
    this.move(pool, +1);
    this.options.loop.at(endsAtMs, () => {
      this.move(pool, -1);
      this.options.onFinished(kind, copy.targetId, copy.region);
    });
    return { outcome: 'started', targetId };
  }

  private move(pool: string, delta: number): void {
    const now = this.options.loop.epochMs;
    const inFlight = this.inProgress(pool) + delta;
    this.inFlight.set(pool, inFlight);
    this.peaks.set(pool, Math.max(this.peak(pool), inFlight));
    let points = this.series.get(pool);
    if (!points) {
      points = [];
      this.series.set(pool, points);
    }
    const last = points[points.length - 1];
    if (last && last.atMs === now) points[points.length - 1] = { atMs: now, inFlight };
    else points.push({ atMs: now, inFlight });
  }

  /** Every copy request's outcome for a production artifact ({@link SourceFacts.key}). */
  outcomeOf(key: string): SourceOutcome {
    return this.outcomes.get(key) ?? { started: 0, exists: 0, quotaAnswers: 0 };
  }

  private outcomeFor(id: string): SourceOutcome {
    let outcome = this.outcomes.get(id);
    if (!outcome) {
      outcome = { started: 0, exists: 0, quotaAnswers: 0 };
      this.outcomes.set(id, outcome);
    }
    return outcome;
  }

  /** By id when one of the kind's form is given (the id is the name for RDS kinds), else by the deterministic name. */
  private find(kind: KindName, location: CopyLocation): HeldCopy | undefined {
    const byId =
      location.targetId !== undefined && (!EC2_PREFIX[kind] || KINDS[kind].isId(location.targetId))
        ? this.byId.get(`${location.region}/${location.targetId}`)
        : undefined;
    const found = byId ?? this.byName.get(`${location.region}/${location.targetName}`);
    return found && found.kind === kind ? found : undefined;
  }

  private view(copy: HeldCopy): CopyView {
    const done = this.options.loop.epochMs >= copy.endsAtMs;
    const { kind } = copy;
    return {
      targetId: copy.targetId,
      arn: KINDS[kind].arn({
        partition: this.options.partition,
        account: this.options.backupAccount,
        region: copy.region,
        id: copy.targetId,
      }),
      region: copy.region,
      state: done ? 'available' : 'pending',
      detail: done ? (kind === 'ebs-snapshot' ? 'completed' : 'available') : kind === 'ami' ? 'pending' : 'creating',
      encrypted: true,
      ...(kind === 'ami' ? {} : { keyArn: copy.kmsKeyArn }),
      ...(copy.sizeGiB !== undefined ? { sizeGiB: copy.sizeGiB } : {}),
      tags: copy.tags,
      ...(copy.childId ? { children: [{ id: copy.childId, encrypted: true, keyArn: copy.kmsKeyArn }] } : {}),
    };
  }
}
