/**
 * Restore drills: a copy counts only once it is proven to restore.
 *
 * A drill takes one copy the vault holds (the newest of a resource, or a
 * random older one within retention), restores it into an isolated place in
 * the backup account, waits until the restore is usable, validates it
 * beyond "the call succeeded" (the engine answers, sizes and counts match,
 * the keys are the expected ones), tears everything down and records the
 * result: proven restorable at T, in N seconds.
 *
 * One engine serves every kind: what differs per kind lives in one
 * {@link DrillModule} per kind, behind the same port, as the copy pipeline's
 * kinds do. The engine is a step function over a JSON {@link DrillState}:
 * {@link DrillStep} is called again and again, with a wait of `waitSeconds`
 * in between, until `done`. In AWS the loop is a Step Functions state
 * machine (a restore outlasts a Lambda invocation); the CLI against the
 * emulator runs the same steps in-process.
 */
import type { ArtifactKind } from '../../../lib/config/schema';

/** A drill's kind, by its config key (`rds`, `aurora`, `ebs`, `ami`, `ssm`, `secrets`, `dynamodb`). */
export type DrillKind = ArtifactKind;

/** Which copy of a resource a drill restores. */
export type DrillPick = 'newest' | 'older';

/** The copy a drill restores, as the inventory records it. */
export interface DrillSubject {
  readonly kind: DrillKind;
  readonly account: string;
  readonly region: string;
  /**
   * The production resource: the DB instance, cluster, volume or image a
   * snapshot copy is of, the parameter or secret name, the table name.
   */
  readonly resource: string;
  /** The inventory record of the copy (`<kind>:<account>:<region>:<id>`). */
  readonly artifactId: string;
  /** The copy in the backup account: the RDS identifier, `snap-…`, `ami-…`, or the vault object key. */
  readonly copyId: string;
  /** The Region of the backup account the copy is in. */
  readonly copyRegion: string;
  /**
   * 2 for the second hop: the copy in the backup account's second Region
   * (`backup.secondRegion`), the one a recovery uses when the vault Region
   * is lost. It is drilled there and proven apart from the first copy.
   * Absent for the first hop, so drill states and results written before
   * second-Region drills read as first-hop ones.
   */
  readonly hop?: 2;
  /** When production made what was copied (the source's own timestamp). */
  readonly copiedFrom?: string;
  readonly pick: DrillPick;
}

/** One validation of a restored copy: what was checked, and what was found. */
export interface DrillCheck {
  /** `engine answers`, `size`, `item count`, `checksum`, `key`, … */
  readonly name: string;
  readonly ok: boolean;
  /** What was expected and what was found, in words (never a value). */
  readonly detail: string;
}

/** Where a drill is. */
export type DrillPhase = 'restoring' | 'validating' | 'tearing-down' | 'done';

/**
 * A drill in progress: plain JSON, the whole state the next step needs
 * (Step Functions passes it from one step to the next).
 */
export interface DrillState {
  /** `<kind>:<account>:<region>:<resource>:<startedAt>`: unique and deterministic for a start. */
  readonly drillId: string;
  readonly subject: DrillSubject;
  readonly phase: DrillPhase;
  readonly startedAt: string;
  /** What the kind's module made and must tear down: identifiers only. */
  readonly handle?: Readonly<Record<string, string>>;
  /** When the restore was first usable: the end of the timed restore. */
  readonly usableAt?: string;
  readonly checks?: readonly DrillCheck[];
  /** Why the drill failed, when it did, in words an operator can act on. */
  readonly failure?: string;
  /** Seconds to wait before the next step. */
  readonly waitSeconds?: number;
  /** Teardown attempts that found something still there: bounded, then the drill says what was left behind. */
  readonly teardownTries?: number;
  readonly done: boolean;
}

/** How a drill ended. */
export type DrillOutcome = 'passed' | 'failed';

/** A finished drill, as the inventory keeps it. */
export interface DrillResult {
  readonly drillId: string;
  readonly subject: DrillSubject;
  readonly outcome: DrillOutcome;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Seconds from the start of the restore until it was usable; absent when it never was. */
  readonly restoreSeconds?: number;
  /** The kind's restore-time target, in seconds, the drill was judged against. */
  readonly targetSeconds: number;
  readonly checks: readonly DrillCheck[];
  readonly failure?: string;
  /** Whether everything the drill made is gone again. */
  readonly tornDown: boolean;
}

/** What a kind's restore is doing. */
export type RestoreProgress =
  | { readonly state: 'pending'; readonly detail: string }
  | { readonly state: 'usable'; readonly detail: string }
  | { readonly state: 'failed'; readonly detail: string };

/**
 * What differs per kind in a drill. Every method is idempotent for the same
 * `drillId`: a step that ran twice (a retried Lambda, a replayed state
 * machine step) finds what the first made and makes nothing twice.
 */
export interface DrillModule {
  readonly kind: DrillKind;
  /** Starts the restore of the subject's copy into the isolated place; returns what it made. */
  start(drillId: string, subject: DrillSubject): Promise<Readonly<Record<string, string>>>;
  /** Where the restore is. */
  progress(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<RestoreProgress>;
  /** Validates a usable restore against what the inventory says of the copy. */
  validate(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<DrillCheck[]>;
  /** Deletes everything the drill made; `true` once nothing is left. Safe to call again. */
  tearDown(handle: Readonly<Record<string, string>>, subject: DrillSubject): Promise<boolean>;
}

/** The drill modules of the enabled kinds. */
export type DrillModules = Partial<Record<DrillKind, DrillModule>>;

/**
 * Where drill results are kept: the inventory table, one item per resource
 * and copy Region for its latest drill ({@link drillItemId}) with
 * the last passed drill kept beside it, so the newest proof survives a
 * later failure and a failure is never hidden by an older proof.
 */
export interface DrillLog {
  record(result: DrillResult): Promise<void>;
  /** The latest drill of each resource, filtered. */
  latest(filter?: { readonly account?: string; readonly kind?: DrillKind }): Promise<DrillSummary[]>;
}

/** The latest drill of one resource's copies in one Region, and its last passed one. */
export interface DrillSummary {
  readonly kind: DrillKind;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  /** 2 for the second Region's copies ({@link DrillSubject.hop}). */
  readonly hop?: 2;
  /** The Region of the copies drilled; absent in items written before second-Region drills (the vault Region). */
  readonly copyRegion?: string;
  readonly last: DrillResult;
  /** The newest drill that passed, possibly `last`. */
  readonly lastPassed?: DrillResult;
}

/** What names a resource's copies in one Region: the resource, and for the second hop the Region. */
export type DrillScope = Pick<DrillSubject, 'kind' | 'account' | 'region' | 'resource'> &
  Partial<Pick<DrillSubject, 'hop' | 'copyRegion'>>;

/**
 * `<kind>:<account>:<region>:<resource>` for the first hop's copies and
 * `…:<resource>@<copyRegion>` for the second Region's (as the inventory
 * names a second-hop copy `<artifactId>@<region>`): each is planned, proven
 * and found stale on its own, so a passed first-hop drill never hides a
 * failed second-Region one. The first hop keeps the key it had before
 * second-Region drills, so older drill items need no migration.
 */
export function drillKey(scope: DrillScope): string {
  const base = `${scope.kind}:${scope.account}:${scope.region}:${scope.resource}`;
  return scope.hop === 2 ? `${base}@${scope.copyRegion ?? ''}` : base;
}

/** The inventory key of a resource's drill item, per copy Region: `drill:` and its {@link drillKey}. */
export function drillItemId(scope: DrillScope): string {
  return `drill:${drillKey(scope)}`;
}
