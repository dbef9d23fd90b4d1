/**
 * Pulled backups: SSM parameters, Secrets Manager secrets and DynamoDB
 * tables cannot be shared like snapshots, so the vault pulls them on a
 * schedule through the source account's puller role and keeps them in its
 * own storage under the backup-data key.
 *
 * One pipeline for every pulled kind: a {@link PullJob} (a kind, a source
 * account, a Region) arrives on the pull queue (from an EventBridge schedule,
 * `bunker local run`, or a table dump's continuation); the pull handler
 * assumes the puller role and hands the job to the kind's
 * {@link PulledKindModule}, which reads the source, writes what changed to
 * the {@link VaultStore} and records every resource in the
 * {@link PulledInventory}. What differs per kind lives in
 * `lambdas/core/pull/<kind>/`.
 */
import type { Clock, Log } from '../ports';
import type { ScopeSetting } from '../settings';

/** The config keys of the pulled kinds (`artifacts.<key>`). */
export const PULLED_CONFIG_KEYS = ['ssm', 'secrets', 'dynamodb'] as const;
export type PulledConfigKey = (typeof PULLED_CONFIG_KEYS)[number];

/** The record kinds of pulled resources, one per config key. */
export const PULLED_KIND_OF = {
  ssm: 'ssm-parameter',
  secrets: 'secret',
  dynamodb: 'dynamodb-table',
} as const satisfies Record<PulledConfigKey, string>;
export type PulledKindName = (typeof PULLED_KIND_OF)[PulledConfigKey];

/** One scheduled pull: every resource in scope of one kind in one source account and Region. */
export interface PullJob {
  readonly kind: PulledConfigKey;
  readonly account: string;
  readonly region: string;
  /** Set on a continuation: the table whose dump or export copy goes on. */
  readonly table?: string;
}

/**
 * One scheduled pull of a kind in every enrolled account: the accounts of
 * organizational units are not known at synthesis, so one rule per kind
 * queues this, and the pull handler expands it into one {@link PullJob} per
 * active enrolled account and Region when it arrives.
 */
export interface PullFanOutJob {
  readonly kind: PulledConfigKey;
  readonly fanOut: true;
}

/** What the pull queue carries. */
export type PullQueueJob = PullJob | PullFanOutJob;

export const isFanOut = (job: PullQueueJob): job is PullFanOutJob => 'fanOut' in job;

/** Per kind settings, from `artifacts.<key>` of the config. */
export interface SsmPullSettings {
  readonly scope: ScopeSetting;
  /** Parameter path prefixes (`/app/`); a parameter is in scope only under one of them. */
  readonly paths?: readonly string[];
}

export interface SecretsPullSettings {
  readonly scope: ScopeSetting;
  /** Secret name prefixes; a secret is in scope only when its name starts with one. */
  readonly namePrefixes?: readonly string[];
}

export interface DynamoPullSettings {
  readonly scope: ScopeSetting;
  /** Share of a provisioned table's read capacity a scan dump may use (0 < share ≤ 1). */
  readonly scanReadShare: number;
  /** Read capacity units per second a scan dump of an on-demand table may use. */
  readonly scanReadUnitsPerSecond: number;
  /** Parallel scan segments. */
  readonly scanSegments: number;
  /** A full export at least this often; incremental exports chained after it in between. */
  readonly fullExportEveryHours: number;
}

export interface PullSettings {
  readonly ssm?: SsmPullSettings;
  readonly secrets?: SecretsPullSettings;
  readonly dynamodb?: DynamoPullSettings;
}

/**
 * The vault's storage for pulled data: an S3 bucket in the backup account,
 * versioned, Object Lock on with a default retention, encrypted under the
 * backup-data key. Keys are deterministic, so a retried write finds its
 * object and never makes a second one.
 */
export interface VaultStore {
  /** Writes `body` at `key` unless an object is there already (`false`, nothing written). Never overwrites. */
  putOnce(key: string, body: Uint8Array, contentType?: string): Promise<boolean>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** Every key under `prefix`, in key order, with its size in bytes. */
  list(prefix: string): Promise<{ key: string; size: number }[]>;
}

/** The state of a pulled resource in the vault. */
export const PULLED_STATES = ['held', 'deleted-at-source', 'failed', 'pulling'] as const;
export type PulledState = (typeof PULLED_STATES)[number];

/** One version of a value the vault holds (a parameter version, a secret version, a table dump). */
export interface HeldVersion {
  /** The source's version id (SSM version number, secret VersionId, dump id). */
  readonly id: string;
  /** When the source says this version came to be (SSM LastModifiedDate, secret CreatedDate, export time). */
  readonly modifiedAt: string;
  readonly pulledAt: string;
  /** Where it lives in the {@link VaultStore}. */
  readonly objectKey: string;
  /** {@link Fingerprint} of the value (parameters, secrets) or the items' checksum (tables). */
  readonly checksum: string;
  /** Secret staging labels at the time of the pull (`AWSCURRENT`, `AWSPREVIOUS`). */
  readonly labels?: readonly string[];
}

/**
 * The inventory record of one pulled resource. It lives in the inventory
 * table next to the copy records, keyed `<kind>:<account>:<region>:<name>`,
 * and carries `pullScope` (`<kind>:<account>:<region>`) for the index that
 * lists one run's records in one query. Pulled records have `state`, never
 * `status`, so the copy pipeline's status index never sees them.
 */
export interface PulledRecord {
  readonly artifactId: string;
  readonly kind: PulledKindName;
  readonly pullScope: string;
  readonly state: PulledState;
  readonly sourceAccount: string;
  readonly sourceRegion: string;
  /** Parameter name, secret name or table name. */
  readonly sourceId: string;
  readonly sourceArn?: string;
  /** Why the record is in its state, in words an operator can act on (never a value). */
  readonly reason?: string;
  /** `String` | `StringList` | `SecureString` | `string` | `binary` | `table`. */
  readonly valueType?: string;
  /** How many values (versions) or items (tables) the newest held version has or holds. */
  readonly count?: number;
  /** The checksum of the newest held version. */
  readonly checksum?: string;
  /** The newest held version. Every version ever pulled stays in the store (`<prefix>/<name>/…`). */
  readonly latest?: HeldVersion;
  /** Ids of every version held, for change detection (secrets; bounded to the newest 100). */
  readonly heldVersionIds?: readonly string[];
  /** When the resource was first seen missing at the source; the backup stays. */
  readonly deletedAt?: string;
  readonly firstPulledAt?: string;
  readonly lastChangedAt?: string;
  /** Kind-specific state (a table's export chain, a scan's checkpoint). */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Incremented by every write: the condition of optimistic concurrency. */
  readonly version: number;
}

/** What one run did, per kind, account and Region: the run record and the log line. */
export interface PullRunSummary {
  readonly kind: PulledConfigKey;
  readonly account: string;
  readonly region: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Resources in scope at the source. */
  readonly inScope: number;
  /** Resources with a new version written. */
  readonly changed: number;
  readonly unchanged: number;
  /** Newly seen missing at the source this run. */
  readonly deleted: number;
  readonly failed: number;
  /** Objects written to the vault store by this run. */
  readonly dataWrites: number;
  /** True when the run wrote nothing because nothing changed. */
  readonly nothingChanged: boolean;
  /** True when work goes on in a continuation (a table larger than one invocation). */
  readonly continued: boolean;
  /** RPO breaches found (a point-in-time recovery gap), each with its reason. */
  readonly breaches: readonly string[];
}

/** The record of the last run of one kind in one account and Region: `pull-run:<kind>:<account>:<region>`. */
export interface PullRunRecord {
  readonly artifactId: string;
  readonly kind: 'pull-run';
  readonly lastRunAt: string;
  readonly summary: PullRunSummary;
  readonly version: number;
}

/** The pulled records of the inventory. Every write is conditional; a lost race answers `false`. */
export interface PulledInventory {
  get(artifactId: string): Promise<PulledRecord | undefined>;
  /** Every record of one kind in one account and Region (one index query). */
  listScope(kind: PulledKindName, account: string, region: string): Promise<PulledRecord[]>;
  /** Every pulled record, for the CLI. */
  list(): Promise<PulledRecord[]>;
  /** Writes a new record unless one with its id exists. */
  create(record: PulledRecord): Promise<boolean>;
  /** Replaces `expected` with `next` only if the stored version is still `expected.version`. */
  replace(expected: PulledRecord, next: PulledRecord): Promise<boolean>;
  getRun(kind: PulledConfigKey, account: string, region: string): Promise<PullRunRecord | undefined>;
  putRun(run: PullRunRecord): Promise<void>;
}

/**
 * HMAC-SHA256 of a value under the vault's fingerprint key, so the
 * inventory can say "unchanged" and a restore can say "equal" without
 * holding anything a reader could test guesses against.
 */
export interface Fingerprint {
  of(bytes: Uint8Array): string;
}

/** Everything a kind's pull needs; the source-side clients come through the kind's own port. */
export interface PullContext {
  readonly job: PullJob;
  readonly store: VaultStore;
  readonly records: PulledInventory;
  readonly fingerprint: Fingerprint;
  readonly clock: Clock;
  readonly log: Log;
  /** Epoch milliseconds by which the run must have saved its work (the Lambda's time left, minus a margin). */
  readonly deadline: number;
  /** Queues the job again (a table dump that goes on), after `delaySeconds`. */
  continueLater(job: PullJob, delaySeconds: number): Promise<void>;
}

export const pulledArtifactId = (kind: PulledKindName, account: string, region: string, name: string) =>
  `${kind}:${account}:${region}:${name}`;
export const pullScopeOf = (kind: PulledKindName, account: string, region: string) => `${kind}:${account}:${region}`;
export const pullRunId = (kind: PulledConfigKey, account: string, region: string) =>
  `pull-run:${kind}:${account}:${region}`;

/*
 * Where the pieces live (one folder per pulled kind, as for the snapshot kinds):
 *
 * - `lambdas/core/pull/run.ts`: `runPull(ctx, settings, sources)`, the one
 *   entry the pull handler and the local mode call: dispatches the job to
 *   its kind and writes the run record.
 * - `lambdas/core/pull/ssm/`, `secrets/`, `dynamodb/`: each kind's pure pull
 *   (`pullSsm`, `pullSecrets`, `pullTables`) over its own source port, and
 *   its restore (`lambdas/core/pull/restore/`).
 * - Value objects in the store are keyed
 *   `<ssm|secrets>/<account>/<region>/<encodeURIComponent(name)>/<modifiedAt compact UTC>-<encodeURIComponent(versionId)>.json`,
 *   so key order is time order and a restore `--at T` picks the last key
 *   whose time is not after T. Table dumps live under
 *   `dynamodb/<account>/<region>/<table>/<dumpId>/` with a `manifest.json`.
 */
