/**
 * Expected versus actual: the auditor lists every production resource in
 * scope through each source's reader role, finds its newest available copy
 * in the inventory and judges it against its kind's RPO. Copies are aged
 * from when production took the snapshot, by the service's own timestamps
 * (`sourceCreatedAt`, read by intake from the service's Describe), never
 * from a tag the source account controls.
 */
import * as z from 'zod/mini';
import '../zod-messages';
import { type KindName, KIND_NAMES } from '../../kinds/types';
import type { PulledKindName } from '../pull/types';
import { RegisteredSourceSchema, ScopeSettingSchema, type ScopeSetting } from '../settings';

/** What the auditor judges: the snapshot kinds and the pulled kinds. */
export type AuditKind = KindName | PulledKindName;

export const AUDIT_KINDS = [
  ...KIND_NAMES,
  'ssm-parameter',
  'secret',
  'dynamodb-table',
] as const satisfies readonly AuditKind[];

/** `ok`: within the RPO. `at-risk`: within it, but the next copy cannot finish in time. `breach`: outside it. */
export const AUDIT_STATES = ['breach', 'at-risk', 'ok'] as const;
export type AuditState = (typeof AUDIT_STATES)[number];

/** Why a resource breaches, in one word the CLI and the alarms share. */
export type BreachReason = 'never copied' | 'late' | 'failed' | 'stuck' | 'nothing shared';

/** A production resource in scope, as the source's service reports it through the reader role. */
export interface DiscoveredResource {
  /** DB instance or cluster identifier, `vol-…`, the image's name (what copy records call `sourceResourceId`). */
  readonly id: string;
  /** Identifiers the scope's `ids` are matched against. */
  readonly scopeIds: readonly string[];
  /** The resource's tags, for a tag scope. */
  readonly tags: Readonly<Record<string, string>>;
  /** When production last took a snapshot of it (the service's own time), if it did. */
  readonly newestSnapshotAt?: string;
}

/** Lists the production resources of one snapshot kind in a source account and Region. */
export interface ScopeDiscovery {
  resources(kind: KindName, account: string, region: string): Promise<DiscoveredResource[]>;
}

/** One readable message to the alerts topic. */
export interface AlertPublisher {
  publish(subject: string, message: string): Promise<void>;
}

/**
 * A breach's start and end, kept in the inventory table as
 * `audit:<kind>:<account>:<region>:<resource>`. Audit records carry
 * `auditScope` and `state`, never `status` or `pullScope`, so neither the
 * copy pipeline's status index nor the pulled records' index sees them.
 */
export interface AuditRecord {
  readonly artifactId: string;
  readonly auditScope: string;
  readonly kind: AuditKind;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  /** `breach` while it lasts, `ok` once it ended. */
  readonly state: 'breach' | 'ok';
  readonly reason?: string;
  /** When the current state began (as the auditor saw it). */
  readonly since: string;
  readonly updatedAt: string;
  readonly version: number;
}

/** The audit records of the inventory. Writes are conditional on `version`; a lost race answers `false`. */
export interface AuditRecords {
  get(artifactId: string): Promise<AuditRecord | undefined>;
  list(): Promise<AuditRecord[]>;
  create(record: AuditRecord): Promise<boolean>;
  replace(expected: AuditRecord, next: AuditRecord): Promise<boolean>;
}

export const auditRecordId = (kind: AuditKind, account: string, region: string, resource: string) =>
  `audit:${kind}:${account}:${region}:${resource}`;
export const auditScopeOf = (kind: AuditKind, account: string, region: string) => `${kind}:${account}:${region}`;

/** What the auditor judges one kind by. */
export const AuditKindSettingsSchema = z.lazy(() =>
  z.object({
    rpoHours: z.number().check(z.positive()),
    /** Snapshot kinds: the scope the source agent shares by. Pulled kinds are scoped by their pulls. */
    scope: z.optional(ScopeSettingSchema),
  }),
);
export interface AuditKindSettings {
  readonly rpoHours: number;
  readonly scope?: ScopeSetting;
}

export const AuditSettingsSchema = z.lazy(() =>
  z.object({
    prefix: z.string().check(z.minLength(1)),
    backupAccount: z.string().check(z.regex(/^\d{12}$/)),
    sources: z.array(RegisteredSourceSchema),
    /** Only the enabled kinds are present. */
    kinds: z.partialRecord(z.enum(AUDIT_KINDS), AuditKindSettingsSchema),
    /** A copy in progress longer than this is stuck. */
    stuckAfterHours: z.number().check(z.positive()),
  }),
);
export interface AuditSettings {
  readonly prefix: string;
  readonly backupAccount: string;
  readonly sources: readonly { readonly account: string; readonly regions: readonly string[] }[];
  readonly kinds: { readonly [K in AuditKind]?: AuditKindSettings };
  readonly stuckAfterHours: number;
}

/** One resource in scope, judged. */
export interface ResourceAudit {
  readonly kind: AuditKind;
  readonly account: string;
  readonly region: string;
  readonly resource: string;
  readonly rpoHours: number;
  readonly state: AuditState;
  readonly reason?: BreachReason;
  /** The reason in words an operator can act on. */
  readonly detail?: string;
  /** The newest available copy (copy record id, or the pulled version id). */
  readonly newestCopy?: string;
  /** When production took what the newest copy holds (pulled kinds: when the vault last confirmed it). */
  readonly newestCopyAt?: string;
  readonly ageHours?: number;
  /** The longest copy measured for this resource (`completedAt - copyStartedAt`), in hours. */
  readonly longestCopyHours?: number;
}

/** A breach that started or ended at this audit. */
export interface BreachTransition {
  readonly audit: ResourceAudit;
  readonly change: 'started' | 'ended';
  readonly subject: string;
  readonly message: string;
}

export interface AuditReport {
  readonly at: string;
  /** Breaches first, then at-risk, then ok; within a state by kind, account, Region, resource. */
  readonly resources: readonly ResourceAudit[];
  readonly transitions: readonly BreachTransition[];
  /** Copy records whose newest status is `failed`. */
  readonly failedCopies: number;
  /** Copy records waiting (`expected`) on a copy or snapshot quota. */
  readonly copiesWaitingOnQuota: number;
  /** Notifications rejected within the last audit window. */
  readonly rejectedNotifications: number;
  /** Source accounts and Regions whose resources could not be listed, with the error: judged as unknown. */
  readonly unreachable: readonly string[];
}
