/**
 * Coverage: what production has that Bunker does not back up, and why.
 *
 * The auditor judges the resources in scope; coverage looks at everything
 * the read-only reader roles can list, in scope or not, of enabled kinds or
 * not, in registered Regions and in every other Region the account has
 * enabled (`./regions.ts`), and says for each resource that has no fresh copy, or cannot be copied as it
 * stands, what to change. Pure: resources listed by the adapters
 * (`lambdas/adapters/coverage/`), the configuration and the inventory in;
 * findings out.
 */
import type { ArtifactKind } from '../../../lib/config/schema';
import type { InventoryRecord } from '../inventory';
import type { PulledRecord, PullRunRecord } from '../pull/types';
import type { ScopeSetting } from '../settings';

/**
 * Why a resource is not covered, one code each:
 *
 * - `region-not-registered`: found in a Region the account's source entry
 *   does not list: no source agent and no pull there.
 * - `kind-disabled`: `artifacts.<kind>.enabled` is false.
 * - `outside-scope`: not matched by `artifacts.<kind>.scope`.
 * - `outside-prefix`: a parameter under none of `artifacts.ssm.paths`, a
 *   secret under none of `artifacts.secrets.namePrefixes`.
 * - `no-fresh-copy`: in scope, but its newest copy is older than the RPO,
 *   failed, stuck, or there is none (the auditor's judgement).
 * - `default-key`: under the AWS-managed `aws/rds` or `aws/ebs` key, which
 *   no other account can use, with no source agent in its account and Region
 *   to re-key its snapshots under the share key.
 * - `tde`: an Oracle or SQL Server instance with the TDE option: AWS does not
 *   share its snapshots with another account, re-keyed or not.
 * - `no-pitr`: a table without point-in-time recovery: the pull falls back
 *   from exports to a throttled scan. Not blocking: it is still copied.
 */
export const COVERAGE_CODES = [
  'region-not-registered',
  'kind-disabled',
  'outside-scope',
  'outside-prefix',
  'no-fresh-copy',
  'default-key',
  'tde',
  'no-pitr',
] as const;
export type CoverageCode = (typeof COVERAGE_CODES)[number];

/** A production resource as the reader role lists it, with the facts coverage judges. */
export interface FoundResource {
  readonly kind: ArtifactKind;
  /** DB instance or cluster identifier, `vol-…`, `ami-…`, parameter name, secret name, table name. */
  readonly id: string;
  /** What a scope's `ids` match: the id, and the ARN where the service gives one (secrets). */
  readonly scopeIds: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  /**
   * The AWS-managed key it is encrypted under (`aws/rds`, `aws/ebs`), when it
   * is; for an image, the key of any of its backing snapshots.
   */
  readonly defaultKey?: string;
  /** RDS: the engine. */
  readonly engine?: string;
  /** RDS: the option group with the TDE option, when the instance has one. */
  readonly tdeOptionGroup?: string;
  /** DynamoDB: whether point-in-time recovery is on. */
  readonly pointInTimeRecovery?: boolean;
}

/** What the reader role listed in one account and Region. */
export interface PlaceSurvey {
  readonly account: string;
  readonly region: string;
  /** Whether the configuration (or an enrolment) registers this Region for the account. */
  readonly registered: boolean;
  /**
   * Whether Bunker's source agent runs here (its share key's alias exists);
   * `undefined` when that could not be told.
   */
  readonly agent?: boolean;
  readonly resources: readonly FoundResource[];
  /** Kinds that could not be listed here, with why (an access denial, an error). */
  readonly unlisted: readonly { readonly kind: ArtifactKind | 'keys'; readonly reason: string }[];
}

/** What coverage reads of one kind's configuration (`artifacts.<kind>`). */
/** What coverage learned of one source account's Regions besides the registered ones. */
export interface AccountRegions {
  readonly account: string;
  /**
   * Why the account's enabled Regions could not be learned (the reader role
   * was refused DescribeRegions), when they could not: then only the
   * Regions named by `--probe-regions` were looked in besides the registered ones.
   */
  readonly unlearned?: string;
  /** Whether `--probe-regions` named the Regions to look in. */
  readonly named: boolean;
  /** Enabled Regions not registered that `--probe-regions` left out. */
  readonly skipped: readonly string[];
  /** Regions `--probe-regions` named that the account has not enabled. */
  readonly notEnabled: readonly string[];
}

export interface CoverageKindConfig {
  readonly enabled: boolean;
  readonly scope: ScopeSetting;
  readonly rpoHours: number;
  /** `artifacts.ssm.paths`. */
  readonly paths?: readonly string[];
  /** `artifacts.secrets.namePrefixes`. */
  readonly namePrefixes?: readonly string[];
}

export interface CoverageInput {
  /** `config.name`: names the share key alias in the advice. */
  readonly prefix: string;
  readonly kinds: Readonly<Record<ArtifactKind, CoverageKindConfig>>;
  /** A copy in progress longer than this is stuck (the auditor's setting). */
  readonly stuckAfterHours: number;
  readonly places: readonly PlaceSurvey[];
  /** The copy records of the inventory. */
  readonly copies: readonly InventoryRecord[];
  readonly pulled: readonly PulledRecord[];
  readonly runs: readonly PullRunRecord[];
  /** What was learned of each account's Regions, and what was not looked in (said in the notes). */
  readonly accounts?: readonly AccountRegions[];
  readonly now: Date;
}

export interface CoverageReason {
  readonly code: CoverageCode;
  /** Whether it leaves the resource without a usable copy (the exit status counts only these). */
  readonly blocking: boolean;
  /** What is wrong, in words (never a value). */
  readonly detail: string;
  /** What to change. */
  readonly fix: string;
}

export interface CoverageFinding {
  readonly kind: ArtifactKind;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  readonly reasons: readonly CoverageReason[];
}

export interface CoverageReport {
  readonly at: string;
  /** Resources listed. */
  readonly checked: number;
  /** Every resource with a reason, blocking ones first, then by kind, account, Region, resource. */
  readonly findings: readonly CoverageFinding[];
  /** Resources with a blocking reason. */
  readonly uncovered: number;
  /** What coverage could not see: kinds not listed, Regions not looked in or refused, each with what to do. */
  readonly notes: readonly string[];
  /**
   * Regions not registered where the reader role could list nothing (an
   * older source stack, a service control policy): what is there is
   * unknown, not nothing. Also in the notes, with what to do.
   */
  readonly unknown: readonly { readonly account: string; readonly region: string; readonly reason: string }[];
  /** Listings that failed in registered Regions: coverage is incomplete (an error). */
  readonly incomplete: boolean;
}
