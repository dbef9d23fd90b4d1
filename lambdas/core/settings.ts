/**
 * Runtime settings of the Lambdas. The CDK stacks and the local mode build
 * them from `bunker.config.json` and pass them as environment variables;
 * handlers read and validate them once, at cold start.
 */
import * as z from 'zod/mini';
import './zod-messages';
import { KIND_NAMES, type KindName } from '../kinds/types';
import { SettingsError } from './errors';
import type { PullSettings } from './pull/types';

// Built at their first parse, as every schema here (see `once` below).
const AccountId = z.lazy(() => z.string().check(z.regex(/^\d{12}$/)));
const Region = z.lazy(() => z.string().check(z.minLength(1)));
const NonEmpty = z.lazy(() => z.string().check(z.minLength(1)));
const Arn = z.lazy(() => z.string().check(z.startsWith('arn:')));
const Partition = z.lazy(() => z.enum(['aws', 'aws-cn', 'aws-us-gov']));

/**
 * A schema built the first time it is asked for. Each function reads one of
 * the environments below (the vault's, the source agent's, the pull
 * function's); zod builds a schema when it is declared, so declaring all of
 * them at load made every cold start build the two it never reads. The
 * schemas other modules name are `z.lazy` for the same reason: a schema
 * still, built at its first parse rather than when the bundle loads (zod's
 * construction of a few dozen schemas was most of what a function loaded
 * beyond its SDK clients; see docs/performance.md, "The functions' bundles").
 */
const once = <T>(build: () => T): (() => T) => {
  let built: T | undefined;
  return () => (built ??= build());
};
/** A setting that is JSON text, parsed, then checked against `schema`. */
export const Json = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((text: string, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.issues.push({ code: 'custom', message: 'expected JSON', input: text });
          return z.NEVER;
        }
      }),
    ),
    schema,
  );

export const RegisteredSourceSchema = z.lazy(() =>
  z.object({ account: AccountId, regions: z.array(Region).check(z.minLength(1)) }),
);
export type RegisteredSource = z.infer<typeof RegisteredSourceSchema>;

export const ScopeSettingSchema = z.lazy(() =>
  z.union([
    z.object({ tag: z.object({ key: NonEmpty, value: z.string() }) }),
    z.object({ ids: z.array(NonEmpty).check(z.minLength(1)) }),
  ]),
);
export type ScopeSetting = z.infer<typeof ScopeSettingSchema>;

/** What the vault does with one kind. */
export const KindSettingsSchema = z.lazy(() =>
  z.object({
    enabled: z.boolean(),
    scope: ScopeSettingSchema,
    /** Copies in progress per pool (this kind in one destination Region). */
    copyLimit: z.int().check(z.minimum(1)),
  }),
);
export type KindSettings = z.infer<typeof KindSettingsSchema>;

const kindsSchema = () =>
  z.object(
    Object.fromEntries(KIND_NAMES.map((name) => [name, KindSettingsSchema])) as Record<
      KindName,
      typeof KindSettingsSchema
    >,
  );
export type KindsSettings = { readonly [K in KindName]: KindSettings };

/** How the vault locks its copies (the config's `immutability`, with each lockable kind's `retentionDays`). */
export const ImmutabilitySettingsSchema = z.lazy(() =>
  z.object({
    mode: z.enum(['governance', 'compliance']),
    coolOffHours: z.int().check(z.minimum(0), z.maximum(72)),
    /** Lock days per kind whose copier can lock (EBS, AMI): the kind's `retentionDays`. */
    lockDays: z.partialRecord(z.enum(KIND_NAMES), z.int().check(z.minimum(1))),
  }),
);
export type ImmutabilitySettings = z.infer<typeof ImmutabilitySettingsSchema>;

export interface VaultSettings {
  readonly prefix: string;
  /** `aws`, `aws-cn` or `aws-us-gov`: where the vault's ARNs live. */
  readonly partition: string;
  readonly backupAccount: string;
  readonly backupRegion: string;
  readonly inventoryTable: string;
  readonly backupKeyArn: string;
  readonly sources: readonly RegisteredSource[];
  readonly kinds: KindsSettings;
  /** Also copy each artifact into this Region of the backup account (a second hop). */
  readonly secondRegion?: string;
  /** Lock available copies against deletion; absent: copies are not locked. */
  readonly immutability?: ImmutabilitySettings;
}

export interface SourceSettings {
  readonly prefix: string;
  readonly partition: string;
  readonly backupAccount: string;
  readonly sourceAccount: string;
  readonly sourceRegion: string;
  readonly shareKeyArn: string;
  readonly intakeTopicArn: string;
  /** Which resources are in scope, per kind the agent handles; a kind that is absent is not handled. */
  readonly scopes: { readonly [K in KindName]?: ScopeSetting };
  /** Kept this long after the vault's receipt. */
  readonly intermediateRetentionHours: number;
  /** Deleted this long after it was made even without a receipt, with an alarm. */
  readonly intermediateHorizonHours: number;
  readonly maxIntermediateSnapshots: number;
  /**
   * Each handled kind's RPO in hours (the config's `rpoHours`): an original
   * that waited half of it for room goes before larger ones. A kind that is
   * absent ages at half of the default 24 hours.
   */
  readonly rpoHours: { readonly [K in KindName]?: number };
}

/** The config's bound on `rpoHours` (31 days): a larger value here was not written by the stack. */
const RpoHours = () => z.number().check(z.positive(), z.maximum(24 * 31));

/** What every function of the backup account is told: where the vault is and what it is called. */
const backupAccountShape = () => ({
  BUNKER_PREFIX: NonEmpty,
  BUNKER_PARTITION: Partition,
  BUNKER_BACKUP_ACCOUNT: AccountId,
  BUNKER_BACKUP_REGION: Region,
  BUNKER_INVENTORY_TABLE: NonEmpty,
});

const vaultEnvSchema = once(() =>
  z.object({
    ...backupAccountShape(),
    BUNKER_BACKUP_KEY_ARN: Arn,
    BUNKER_SOURCES: Json(z.array(RegisteredSourceSchema).check(z.minLength(1))),
    BUNKER_KINDS: Json(kindsSchema()),
    BUNKER_SECOND_REGION: z.optional(Region),
    BUNKER_IMMUTABILITY: z.optional(Json(ImmutabilitySettingsSchema)),
  }),
);

/** A whole number from a variable's text, at least `min`. */
const Count = (min: number) => z.pipe(z.coerce.number(), z.int().check(z.minimum(min)));

const sourceEnvSchema = once(() =>
  z.object({
    BUNKER_PREFIX: NonEmpty,
    BUNKER_PARTITION: Partition,
    BUNKER_BACKUP_ACCOUNT: AccountId,
    BUNKER_SOURCE_ACCOUNT: AccountId,
    BUNKER_SOURCE_REGION: Region,
    BUNKER_SHARE_KEY_ARN: Arn,
    BUNKER_INTAKE_TOPIC_ARN: Arn,
    BUNKER_SCOPES: Json(z.partialRecord(z.enum(KIND_NAMES), ScopeSettingSchema)),
    BUNKER_INTERMEDIATE_RETENTION_HOURS: Count(0),
    BUNKER_INTERMEDIATE_HORIZON_HOURS: Count(1),
    BUNKER_MAX_INTERMEDIATE_SNAPSHOTS: Count(1),
    BUNKER_RPO_HOURS: Json(z.partialRecord(z.enum(KIND_NAMES), RpoHours())),
  }),
);

/** The settings `schema` reads from `env`, or a SettingsError naming every problem with its variable. */
export function parseEnv<T extends z.ZodMiniType>(schema: T, env: Record<string, string | undefined>, what: string) {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(`invalid ${what} settings: ${problems.join('; ')}`);
  }
  return result.data as z.infer<T>;
}

export function vaultSettingsFromEnv(env: Record<string, string | undefined> = process.env): VaultSettings {
  const e = parseEnv(vaultEnvSchema(), env, 'vault');
  return {
    prefix: e.BUNKER_PREFIX,
    partition: e.BUNKER_PARTITION,
    backupAccount: e.BUNKER_BACKUP_ACCOUNT,
    backupRegion: e.BUNKER_BACKUP_REGION,
    inventoryTable: e.BUNKER_INVENTORY_TABLE,
    backupKeyArn: e.BUNKER_BACKUP_KEY_ARN,
    sources: e.BUNKER_SOURCES,
    kinds: e.BUNKER_KINDS,
    ...(e.BUNKER_SECOND_REGION ? { secondRegion: e.BUNKER_SECOND_REGION } : {}),
    ...(e.BUNKER_IMMUTABILITY ? { immutability: e.BUNKER_IMMUTABILITY } : {}),
  };
}

export function vaultSettingsToEnv(s: VaultSettings): Record<string, string> {
  return {
    BUNKER_PREFIX: s.prefix,
    BUNKER_PARTITION: s.partition,
    BUNKER_BACKUP_ACCOUNT: s.backupAccount,
    BUNKER_BACKUP_REGION: s.backupRegion,
    BUNKER_INVENTORY_TABLE: s.inventoryTable,
    BUNKER_BACKUP_KEY_ARN: s.backupKeyArn,
    BUNKER_SOURCES: JSON.stringify(s.sources),
    BUNKER_KINDS: JSON.stringify(s.kinds),
    ...(s.secondRegion ? { BUNKER_SECOND_REGION: s.secondRegion } : {}),
    ...(s.immutability ? { BUNKER_IMMUTABILITY: JSON.stringify(s.immutability) } : {}),
  };
}

export function sourceSettingsFromEnv(env: Record<string, string | undefined> = process.env): SourceSettings {
  const e = parseEnv(sourceEnvSchema(), env, 'source agent');
  return {
    prefix: e.BUNKER_PREFIX,
    partition: e.BUNKER_PARTITION,
    backupAccount: e.BUNKER_BACKUP_ACCOUNT,
    sourceAccount: e.BUNKER_SOURCE_ACCOUNT,
    sourceRegion: e.BUNKER_SOURCE_REGION,
    shareKeyArn: e.BUNKER_SHARE_KEY_ARN,
    intakeTopicArn: e.BUNKER_INTAKE_TOPIC_ARN,
    scopes: e.BUNKER_SCOPES,
    intermediateRetentionHours: e.BUNKER_INTERMEDIATE_RETENTION_HOURS,
    intermediateHorizonHours: e.BUNKER_INTERMEDIATE_HORIZON_HOURS,
    maxIntermediateSnapshots: e.BUNKER_MAX_INTERMEDIATE_SNAPSHOTS,
    rpoHours: e.BUNKER_RPO_HOURS,
  };
}

export function sourceSettingsToEnv(s: SourceSettings): Record<string, string> {
  return {
    BUNKER_PREFIX: s.prefix,
    BUNKER_PARTITION: s.partition,
    BUNKER_BACKUP_ACCOUNT: s.backupAccount,
    BUNKER_SOURCE_ACCOUNT: s.sourceAccount,
    BUNKER_SOURCE_REGION: s.sourceRegion,
    BUNKER_SHARE_KEY_ARN: s.shareKeyArn,
    BUNKER_INTAKE_TOPIC_ARN: s.intakeTopicArn,
    BUNKER_SCOPES: JSON.stringify(s.scopes),
    BUNKER_INTERMEDIATE_RETENTION_HOURS: String(s.intermediateRetentionHours),
    BUNKER_INTERMEDIATE_HORIZON_HOURS: String(s.intermediateHorizonHours),
    BUNKER_MAX_INTERMEDIATE_SNAPSHOTS: String(s.maxIntermediateSnapshots),
    BUNKER_RPO_HOURS: JSON.stringify(s.rpoHours),
  };
}

const PullScopeSchema = ScopeSettingSchema;
const prefixesSchema = () => z.array(NonEmpty).check(z.minLength(1));

/** The zod form of {@link PullSettings}: what the pull handler accepts from its environment. Built when first asked for. */
export const pullSettingsSchema = once(
  () =>
    z.object({
      ssm: z.optional(z.object({ scope: PullScopeSchema, paths: z.optional(prefixesSchema()) })),
      secrets: z.optional(z.object({ scope: PullScopeSchema, namePrefixes: z.optional(prefixesSchema()) })),
      dynamodb: z.optional(
        z.object({
          scope: PullScopeSchema,
          scanReadShare: z.number().check(z.gt(0), z.maximum(1)),
          scanReadUnitsPerSecond: z.int().check(z.minimum(1)),
          scanSegments: z.int().check(z.minimum(1), z.maximum(64)),
          fullExportEveryHours: z.int().check(z.minimum(1)),
        }),
      ),
    }) satisfies z.ZodMiniType<PullSettings>,
);

/** What the pull function needs: where the vault keeps pulled data, and what each enabled pulled kind pulls. */
export interface PullHandlerSettings {
  readonly prefix: string;
  readonly partition: string;
  readonly backupAccount: string;
  readonly backupRegion: string;
  readonly inventoryTable: string;
  /** The inventory's index by `pullScope` (`vaultNames(prefix).inventoryPullScopeIndex`). */
  readonly pullScopeIndex: string;
  /** The Object Lock bucket pulled values and table dumps are written to. */
  readonly vaultBucket: string;
  readonly backupKeyArn: string;
  /** Where a run that does not finish in one invocation queues its continuation. */
  readonly pullQueueUrl: string;
  readonly sources: readonly RegisteredSource[];
  /** Only the enabled pulled kinds are present. */
  readonly pull: PullSettings;
}

const pullEnvSchema = once(() =>
  z.object({
    ...backupAccountShape(),
    BUNKER_PULL_SCOPE_INDEX: NonEmpty,
    BUNKER_VAULT_BUCKET: z.string().check(z.minLength(3)),
    BUNKER_BACKUP_KEY_ARN: Arn,
    BUNKER_PULL_QUEUE_URL: z.url(),
    BUNKER_SOURCES: Json(z.array(RegisteredSourceSchema).check(z.minLength(1))),
    BUNKER_PULL: Json(pullSettingsSchema()),
  }),
);

export function pullSettingsFromEnv(env: Record<string, string | undefined> = process.env): PullHandlerSettings {
  const e = parseEnv(pullEnvSchema(), env, 'pull');
  return {
    prefix: e.BUNKER_PREFIX,
    partition: e.BUNKER_PARTITION,
    backupAccount: e.BUNKER_BACKUP_ACCOUNT,
    backupRegion: e.BUNKER_BACKUP_REGION,
    inventoryTable: e.BUNKER_INVENTORY_TABLE,
    pullScopeIndex: e.BUNKER_PULL_SCOPE_INDEX,
    vaultBucket: e.BUNKER_VAULT_BUCKET,
    backupKeyArn: e.BUNKER_BACKUP_KEY_ARN,
    pullQueueUrl: e.BUNKER_PULL_QUEUE_URL,
    sources: e.BUNKER_SOURCES,
    pull: e.BUNKER_PULL,
  };
}

export function pullSettingsToEnv(s: PullHandlerSettings): Record<string, string> {
  return {
    BUNKER_PREFIX: s.prefix,
    BUNKER_PARTITION: s.partition,
    BUNKER_BACKUP_ACCOUNT: s.backupAccount,
    BUNKER_BACKUP_REGION: s.backupRegion,
    BUNKER_INVENTORY_TABLE: s.inventoryTable,
    BUNKER_PULL_SCOPE_INDEX: s.pullScopeIndex,
    BUNKER_VAULT_BUCKET: s.vaultBucket,
    BUNKER_BACKUP_KEY_ARN: s.backupKeyArn,
    BUNKER_PULL_QUEUE_URL: s.pullQueueUrl,
    BUNKER_SOURCES: JSON.stringify(s.sources),
    BUNKER_PULL: JSON.stringify(s.pull),
  };
}
