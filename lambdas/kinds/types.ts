/**
 * The seam between the one pipeline and the artifact kinds it serves.
 *
 * Bunker's identity of an artifact is its kind, account, Region and id
 * ({@link ArtifactRef}), never a service ARN: EC2 ARNs carry no account, and
 * ownership is proven from what the service reports in a Describe, not from
 * any name. What differs per kind lives in one folder per kind
 * (`lambdas/kinds/<kind>/`): `kind.ts` is pure knowledge of the kind (no AWS
 * SDK: the core and the CDK stacks import it), `copier.ts` implements the
 * {@link ArtifactCopier} port with the SDK.
 */

/** Every snapshot kind Bunker copies, in the order the CLI lists them. */
export const KIND_NAMES = ['rds-snapshot', 'aurora-cluster-snapshot', 'ebs-snapshot', 'ami'] as const;
export type KindName = (typeof KIND_NAMES)[number];

/** The key of a kind in `bunker.config.json`'s `artifacts` and `limits`. */
export type KindConfigKey = 'rds' | 'aurora' | 'ebs' | 'ami';

/** Bunker's identity of an artifact in a source account. */
export interface ArtifactRef {
  readonly kind: KindName;
  /** `aws`, `aws-cn` or `aws-us-gov`: ARNs are built in it. */
  readonly partition: string;
  readonly account: string;
  readonly region: string;
  /** The service's own id: a DB (cluster) snapshot identifier, `snap-…`, `ami-…`. */
  readonly id: string;
}

/** Where a snapshot is in its life, in Bunker's words; `detail` keeps the service's own word. */
export type ArtifactState = 'pending' | 'available' | 'failed';

/** A backing snapshot of an AMI, as the owner's account reports it. */
export interface ChildView {
  readonly id: string;
  readonly encrypted: boolean;
  readonly keyArn?: string;
  /** Accounts the snapshot is shared with (createVolumePermission); only known for a source. */
  readonly sharedWith?: readonly string[];
}

/**
 * A source artifact as the backup account sees it through the source's
 * reader role. Every field comes from the service's answer, none from a
 * notification.
 */
export interface SourceView {
  readonly ref: ArtifactRef;
  readonly arn: string;
  /** The account the service says owns the artifact. */
  readonly ownerAccount: string;
  readonly state: ArtifactState;
  /** The service's status word (`creating`, `completed`, `pending`, …). */
  readonly detail: string;
  readonly encrypted: boolean;
  readonly keyArn?: string;
  /** Accounts the artifact is shared with (restore, createVolumePermission, launchPermission). */
  readonly sharedWith: readonly string[];
  /** When production took it, by the service's own timestamps. */
  readonly producedAt?: string;
  /** The production resource it is a snapshot of (DB instance, cluster, volume, or the image itself). */
  readonly resourceId?: string;
  /** The production snapshot an intermediate was made from, when the source agent made one. */
  readonly productionId?: string;
  /** What scope is judged on: identifiers (resource, production snapshot) and tags, as the service reports them. */
  readonly scopeIds: readonly string[];
  /**
   * The tags the describe gave. For the kinds whose copier reads the
   * resource's tags on demand ({@link ArtifactCopier.resourceScopeTags}: RDS,
   * Aurora, EBS) the artifact's own, where an intermediate carries the
   * agent's reading of the scope tag (`lambdas/core/agent/carried-scope.ts`);
   * for the others every tag scope is judged on (an image's own).
   */
  readonly scopeTags: Readonly<Record<string, string>>;
  readonly sizeGiB?: number;
  readonly engine?: string;
  /** An AMI's backing snapshots. */
  readonly children?: readonly ChildView[];
}

/** The backup account's copy of an artifact. */
export interface CopyView {
  readonly targetId: string;
  readonly arn: string;
  readonly region: string;
  readonly state: ArtifactState;
  readonly detail: string;
  readonly encrypted: boolean;
  /** The key the copy is under; for an AMI, see `children`. */
  readonly keyArn?: string;
  readonly sizeGiB?: number;
  readonly tags: Readonly<Record<string, string>>;
  /** An AMI copy's backing snapshots, each with its key. */
  readonly children?: readonly ChildView[];
}

export interface CopyRequest {
  readonly ref: ArtifactRef;
  /**
   * What is copied: the shared source (a first copy), or, for the second
   * hop into another Region of the backup account, the vault's own first copy.
   */
  readonly sourceArn: string;
  readonly sourceId: string;
  readonly sourceRegion: string;
  /** Deterministic: the same artifact and generation always give the same name. */
  readonly targetName: string;
  readonly targetRegion: string;
  readonly kmsKeyArn: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface CopyStarted {
  readonly outcome: 'started' | 'exists';
  /** The copy's id when the service assigns it (EBS, AMI); the name for RDS kinds. */
  readonly targetId?: string;
}

/** The most ids one batched describe takes: the filter's limit of DescribeDBSnapshots and its kin. */
export const MAX_COPIES_PER_LOOK = 100;

/** Where a copy is, by the id the service gave it or, before that is known, by its deterministic name. */
export interface CopyLocation {
  readonly targetName: string;
  readonly targetId?: string;
  readonly region: string;
}

/** How a copy is kept from early deletion: the config's `immutability` and the kind's `retentionDays`. */
export interface CopyProtection {
  /** EBS snapshot lock mode; governance locks yield to principals allowed `ec2:UnlockSnapshot`. */
  readonly mode: 'governance' | 'compliance';
  /** The lock lasts this many days from when it is set (the kind's `retentionDays`). */
  readonly days: number;
  /** Compliance only: how long a new lock can still be lifted (0: none). */
  readonly coolOffHours: number;
}

/** What protects a copy now, as read back from the service. */
export interface ProtectedCopy {
  /** When the (earliest) snapshot lock ends: nothing may delete the copy before. */
  readonly lockedUntil: string;
  /** For people and the record: `compliance`, `governance`, `compliance-cooloff`, with `+deregistration-protection` for an AMI. */
  readonly lock: string;
}

/**
 * The SDK side of a kind: reads sources through the reader role, requests
 * and reads copies in the backup account. Throws `CopyQuotaExceededError`
 * on a quota or throttling (back-pressure) and `CopyRefusedError` when AWS
 * refuses for a reason retrying will not fix.
 */
export interface ArtifactCopier {
  readonly kind: KindName;
  /** `undefined` when the artifact does not exist in that account (or the account does not own it). */
  describeSource(ref: ArtifactRef): Promise<SourceView | undefined>;
  /**
   * The tags a tag scope is judged on once the production resource's are
   * read (one request, through the reader role): for the view of
   * {@link describeSource} with a `resourceId`, when the tags the agent
   * carried onto its intermediate do not settle it. RDS and Aurora: the
   * DB instance's or cluster's tags, a deleted one's snapshot its own; EBS:
   * the volume's, under the snapshot's own. Kinds whose describe gives
   * every tag scope is judged on (AMI) have none.
   */
  resourceScopeTags?(view: SourceView): Promise<Readonly<Record<string, string>>>;
  /**
   * The artifacts the `accounts` own in `region` that are shared with the
   * backup account, listed with the backup account's own credentials (what
   * AWS lets it restore or copy), never through the reader role: the
   * sweep's net for notifications that were lost. Each ref carries its
   * owner; nothing of an account not asked for. Only the source agent's
   * intermediates of the kind (by the name or description the backup
   * account can see: tags of another account's artifact are not visible to
   * it). One paginated listing of the Region per call, whatever the number
   * of accounts and artifacts (EC2 takes 200 owners a request, so one per
   * 200 accounts); no accounts, no request. The answer is a hint, each
   * artifact is described and checked again before it is copied.
   */
  listShared(region: string, accounts: readonly string[]): Promise<ArtifactRef[]>;
  copy(request: CopyRequest): Promise<CopyStarted>;
  describeCopy(location: CopyLocation): Promise<CopyView | undefined>;
  /**
   * Several copies in one Region with one request (up to
   * {@link MAX_COPIES_PER_LOOK} ids): a pool's look at its copies in flight.
   * Answers the copies found, in any order; a copy not found is left out.
   * Kinds without it are looked at one by one, by their events.
   */
  describeCopies?(locations: readonly CopyLocation[], region: string): Promise<CopyView[]>;
  /**
   * Locks an available copy against deletion for `protection.days`
   * (EBS snapshot lock; for an AMI, deregistration protection with cooldown
   * and a lock on each backing snapshot). Idempotent: a copy already locked
   * keeps its lock, so calling again never moves the end of it. Kinds with
   * no lock of their own (RDS, Aurora) have no `protect`.
   */
  protect?(copy: CopyView, protection: CopyProtection): Promise<ProtectedCopy>;
}

/** One copier per kind: the compiler insists that a new kind brings its copier. */
export type Copiers = { readonly [K in KindName]: ArtifactCopier };

/** Pure knowledge of a kind: the core, the CLI and the CDK stacks read it. */
export interface Kind {
  readonly name: KindName;
  readonly configKey: KindConfigKey;
  /** For people: "RDS DB snapshot". */
  readonly label: string;
  /** What the artifact is a snapshot of, for people: "DB instance". */
  readonly resourceLabel: string;
  /** Copies in progress per destination Region AWS allows by default (`../shared/aws-facts.md`). */
  readonly defaultCopyLimit: number;
  /** Whether an id is of this kind's form (also what keeps hostile text out of names). */
  isId(id: string): boolean;
  arn(ref: Omit<ArtifactRef, 'kind'>): string;
  /** An ARN of this kind, in any partition, or `undefined`. EC2 ARNs carry no account: pass `account`. */
  parseArn(arn: string, account?: string): ArtifactRef | undefined;
  /**
   * The copy's deterministic name: the same artifact and generation always
   * give the same name, so a retried or duplicated copy finds the first.
   * `generation` moves on only after a failed copy.
   */
  targetName(ref: ArtifactRef, generation: number): string;
  /** The copy's id in a copy event (EventBridge `detail`), or `undefined` when the event is not one of its copies. */
  copyEventTarget(detailType: string, detail: Readonly<Record<string, unknown>>): string | undefined;
  /**
   * The event AWS sends in the backup account when a copy of this kind
   * finishes: what the local mode delivers to completion in AWS's place.
   */
  finishedCopyEvent(targetId: string, region: string, partition: string): CopyEvent;
  /** What the vault stack needs to build from the registry. */
  readonly infra: KindInfra;
}

/** An EventBridge event in the words completion reads. */
export interface CopyEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** What the CDK stacks build per kind, read from the registry so no second list drifts. */
export interface KindInfra {
  /** The service the copies are made by, for `kms:ViaService` (`rds`, `ec2`). */
  readonly service: 'rds' | 'ec2';
  /** EventBridge pattern (source, detail-type, detail) of its copy events in the backup account. */
  readonly copyEvents: { readonly source: string; readonly detailType: string; readonly detail?: object };
  /** Read-only actions the reader role grants for this kind. */
  readonly readerActions: readonly string[];
  /** Actions the vault Lambdas need on their own copies. */
  readonly vaultCopyActions: readonly string[];
  /** Read-only listing actions that AWS authorizes only on `*` (EC2's Describe calls). */
  readonly vaultDescribeActions: readonly string[];
  /** Actions the vault Lambdas need on the shared source artifacts. */
  readonly vaultSourceActions: readonly string[];
  /**
   * Read-only actions the sweep lists the artifacts shared with the backup
   * account with (`ArtifactCopier.listShared`), in the source Regions.
   */
  readonly sharedListingActions: readonly string[];
  /** ARN patterns of the vault's copies in a Region (`*` allowed), for the grants. */
  vaultCopyArns(partition: string, account: string, region: string): string[];
  /** ARN patterns of a source account's artifacts in a Region. */
  sourceArns(partition: string, account: string, region: string): string[];
}
