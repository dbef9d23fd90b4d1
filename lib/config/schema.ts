/**
 * The one schema of `bunker.config.json`, shared by the CDK app, the CLI and
 * the local mode. Every message says what was expected so that, together
 * with the key path added by {@link formatConfigIssues}, an operator can fix
 * the file without reading this code.
 */
import { z } from 'zod';
import { ALL_KINDS } from '../../lambdas/kinds/registry';
import type { KindConfigKey } from '../../lambdas/kinds/types';

/** The pulled kinds: the vault reads them on a schedule through each source account's puller role. */
const PULLED_KINDS = ['ssm', 'secrets', 'dynamodb'] as const;
type PulledKindKey = (typeof PULLED_KINDS)[number];

/** Every kind's key under `artifacts`: the snapshot kinds of the registry, then the pulled kinds. */
export const ARTIFACT_KINDS = [...ALL_KINDS.map((kind) => kind.configKey), ...PULLED_KINDS] as readonly (
  KindConfigKey | (typeof PULLED_KINDS)[number]
)[];
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export const AccountIdSchema = z
  .string({ error: 'expected a 12-digit AWS account id as a string' })
  .regex(/^\d{12}$/, { error: 'expected a 12-digit AWS account id' });

export const RegionSchema = z
  .string({ error: 'expected an AWS Region name such as "eu-west-1"' })
  .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/, {
    error: 'expected an AWS Region name such as "eu-west-1"',
  });

const TagScopeSchema = z
  .object({
    tag: z
      .object({
        key: z.string().min(1, { error: 'expected a non-empty tag key' }).max(128),
        value: z.string().max(256, { error: 'expected a tag value of at most 256 characters' }),
      })
      .strict()
      .describe('Back up resources carrying this tag (on the DB instance for RDS).'),
  })
  .strict();

const IdsScopeSchema = z
  .object({
    ids: z
      .array(z.string().min(1, { error: 'expected a non-empty resource identifier' }))
      .min(1, { error: 'expected at least one resource identifier' })
      .describe('Back up exactly these resources (DB instance identifiers for RDS).'),
  })
  .strict();

/** Which resources of a kind are backed up: those carrying a tag, or a fixed list of identifiers. */
export const ScopeSchema = z.union([TagScopeSchema, IdsScopeSchema], {
  error: 'expected either { "tag": { "key": ..., "value": ... } } or { "ids": [ ... ] }',
});
export type Scope = z.infer<typeof ScopeSchema>;

export const DEFAULT_SCOPE: Scope = { tag: { key: 'bunker:backup', value: 'true' } };

export const ArtifactPolicySchema = z
  .object({
    enabled: z
      .boolean({ error: 'expected true or false' })
      .default(false)
      .describe('Whether Bunker backs up this kind.'),
    scope: ScopeSchema.default(DEFAULT_SCOPE).describe(
      'Which resources are in scope: a tag, or a list of identifiers.',
    ),
    rpoHours: z
      .number({ error: 'expected a number of hours' })
      .positive({ error: 'expected a positive number of hours' })
      .max(24 * 31, { error: 'expected at most 744 hours (31 days)' })
      .default(24)
      .describe(
        'Recovery point objective: the newest copy may be at most this old, in hours. The auditor alarms and alerts on any resource in scope whose newest copy is older, missing, failed or stuck.',
      ),
    retentionDays: z
      .number({ error: 'expected a whole number of days' })
      .int({ error: 'expected a whole number of days' })
      .min(1, { error: 'expected at least 1 day' })
      .max(3650, { error: 'expected at most 3650 days' })
      .default(35)
      .describe(
        "How long backup copies are kept, in days: the daily pruner deletes older ones, except the newest minCopies of each source resource (and never a resource's newest copy). EBS and AMI copies are also locked this long, and pulled data kept this long under Object Lock (immutability).",
      ),
    minCopies: z
      .number({ error: 'expected a whole number of copies' })
      .int({ error: 'expected a whole number of copies' })
      .min(1, { error: "expected at least 1: a resource's newest copy is never deleted" })
      .max(1000, { error: 'expected at most 1000 copies' })
      .default(1)
      .describe('Copies of each source resource kept whatever their age (at least 1).'),
  })
  .strict()
  .describe('Policy of one artifact kind.');
export type ArtifactPolicy = z.infer<typeof ArtifactPolicySchema>;

/**
 * The fewest minutes between two pulls of a kind. DynamoDB's incremental
 * exports cover windows of at least 15 minutes, so tables are pulled no more
 * often than that; parameters and secrets every 5 minutes at most, which
 * keeps the source's read quotas (about 40 GetParameter calls a second) free
 * for the source's own workloads.
 */
export const MIN_PULL_EVERY_MINUTES: Readonly<Record<PulledKindKey, number>> = { ssm: 5, secrets: 5, dynamodb: 15 };
/** At least one pull a day, whatever the RPO. */
export const MAX_PULL_EVERY_MINUTES = 1440;

/**
 * How often a pulled kind is pulled when `pullEveryMinutes` is not set: half
 * the RPO, so a run that fails still leaves the next one inside the RPO;
 * never more often than the kind allows, at least daily.
 */
export function defaultPullEveryMinutes(kind: PulledKindKey, rpoHours: number): number {
  const half = Math.floor((rpoHours * 60) / 2);
  return Math.min(MAX_PULL_EVERY_MINUTES, Math.max(MIN_PULL_EVERY_MINUTES[kind], half));
}

/** The fields every pulled kind adds to or words differently from a snapshot kind's policy. */
function pulledPolicyFields(kind: PulledKindKey) {
  const min = MIN_PULL_EVERY_MINUTES[kind];
  return {
    rpoHours: ArtifactPolicySchema.shape.rpoHours.describe(
      'Recovery point objective: the newest pulled version may be at most this old, in hours. It sets how often the vault pulls (every half of it, unless pullEveryMinutes says otherwise), and the auditor alarms on a late or failed pull.',
    ),
    retentionDays: ArtifactPolicySchema.shape.retentionDays.describe(
      "How long what the vault stores is kept, in days: the vault bucket's Object Lock retention (the longest of the enabled pulled kinds), after which the daily pruner deletes versions superseded longer ago than this, beyond the newest minCopies of each resource.",
    ),
    pullEveryMinutes: z
      .number({ error: 'expected a whole number of minutes' })
      .int({ error: 'expected a whole number of minutes' })
      .min(min, {
        error:
          kind === 'dynamodb'
            ? `expected at least ${min} minutes: incremental exports cover at least 15 minutes`
            : `expected at least ${min} minutes`,
      })
      .max(MAX_PULL_EVERY_MINUTES, { error: `expected at most ${MAX_PULL_EVERY_MINUTES} minutes (a day)` })
      .optional()
      .describe(
        `Pull every this many minutes (${min} to ${MAX_PULL_EVERY_MINUTES}). Default: half of rpoHours, so one failed run still leaves a pull within the RPO.`,
      ),
  };
}

const NamePrefixesSchema = z
  .array(z.string().min(1, { error: 'expected a non-empty secret name prefix' }))
  .min(1, { error: 'expected at least one secret name prefix, or no key at all' })
  .refine((items) => new Set(items).size === items.length, { error: 'expected each secret name prefix once' })
  .optional();

const SsmPolicySchema = ArtifactPolicySchema.extend({
  ...pulledPolicyFields('ssm'),
  paths: z
    .array(z.string().regex(/^\//, { error: 'expected a parameter path prefix starting with "/"' }))
    .min(1, { error: 'expected at least one parameter path prefix, or no key at all' })
    .refine((items) => new Set(items).size === items.length, { error: 'expected each parameter path prefix once' })
    .optional()
    .describe(
      'Only parameters under one of these path prefixes ("/app/"); with a tag scope, a parameter must match both. Without it, every parameter.',
    ),
})
  .strict()
  .describe('SSM parameters (String, StringList, SecureString), pulled with every version.');

const SecretsPolicySchema = ArtifactPolicySchema.extend({
  ...pulledPolicyFields('secrets'),
  namePrefixes: NamePrefixesSchema.describe(
    'Only secrets whose name starts with one of these ("prod/"); with a tag scope, a secret must match both. Without it, every secret.',
  ),
})
  .strict()
  .describe('Secrets Manager secrets, pulled with every version and its staging labels.');

const DynamoPolicySchema = ArtifactPolicySchema.extend({
  ...pulledPolicyFields('dynamodb'),
  scanReadShare: z
    .number({ error: 'expected a number greater than 0 and at most 1' })
    .gt(0, { error: 'expected a share greater than 0' })
    .max(1, { error: 'expected a share of at most 1' })
    .default(0.25)
    .describe(
      "Share of a provisioned table's read capacity a scan dump may use (a table without point-in-time recovery).",
    ),
  scanReadUnitsPerSecond: z
    .number({ error: 'expected a whole number of read units per second' })
    .int({ error: 'expected a whole number of read units per second' })
    .min(1, { error: 'expected at least 1 read unit per second' })
    .max(40000, { error: 'expected at most 40000 read units per second (the default table quota)' })
    .default(100)
    .describe('Read units per second a scan dump of an on-demand table may use.'),
  scanSegments: z
    .number({ error: 'expected a whole number of segments' })
    .int({ error: 'expected a whole number of segments' })
    .min(1, { error: 'expected at least 1 segment' })
    .max(64, { error: 'expected at most 64 segments' })
    .default(4)
    .describe('Parallel scan segments of a scan dump.'),
  fullExportEveryHours: z
    .number({ error: 'expected a whole number of hours' })
    .int({ error: 'expected a whole number of hours' })
    .min(1, { error: 'expected at least 1 hour' })
    .max(24 * 366, { error: 'expected at most 8784 hours (a year)' })
    .default(168)
    .describe(
      'A full export of a table with point-in-time recovery at least this often; incremental exports chain from it in between.',
    ),
})
  .strict()
  .describe('DynamoDB tables: exported (point-in-time recovery on) or dumped by a throttled scan.');

const PULLED_POLICY_SCHEMAS = { ssm: SsmPolicySchema, secrets: SecretsPolicySchema, dynamodb: DynamoPolicySchema };
export type SsmPolicy = z.infer<typeof SsmPolicySchema>;
export type SecretsPolicy = z.infer<typeof SecretsPolicySchema>;
export type DynamoPolicy = z.infer<typeof DynamoPolicySchema>;
export type PulledPolicies = { ssm: SsmPolicy; secrets: SecretsPolicy; dynamodb: DynamoPolicy };

type ArtifactPolicies = { [K in Exclude<ArtifactKind, PulledKindKey>]: ArtifactPolicy } & PulledPolicies;

const isPulled = (key: string): key is PulledKindKey => (PULLED_KINDS as readonly string[]).includes(key);

const disabledPolicy = (key: ArtifactKind) =>
  isPulled(key) ? PULLED_POLICY_SCHEMAS[key].parse({}) : ArtifactPolicySchema.parse({});

/** One policy per kind, disabled by default; a snapshot kind's key comes from the kind registry. */
const artifactPolicies = {
  ...Object.fromEntries(
    ALL_KINDS.map((kind) => [kind.configKey, ArtifactPolicySchema.default(() => ArtifactPolicySchema.parse({}))]),
  ),
  ssm: SsmPolicySchema.default(() => SsmPolicySchema.parse({})),
  secrets: SecretsPolicySchema.default(() => SecretsPolicySchema.parse({})),
  dynamodb: DynamoPolicySchema.default(() => DynamoPolicySchema.parse({})),
} as unknown as { [K in Exclude<ArtifactKind, PulledKindKey>]: ReturnType<typeof ArtifactPolicySchema.default> } & {
  ssm: ReturnType<typeof SsmPolicySchema.default>;
  secrets: ReturnType<typeof SecretsPolicySchema.default>;
  dynamodb: ReturnType<typeof DynamoPolicySchema.default>;
};

/** A copies-in-progress limit of one kind, defaulting to AWS's quota. */
function copyLimit(aws: number, what: string, quota: string) {
  return z
    .number({ error: 'expected a whole number' })
    .int({ error: 'expected a whole number' })
    .min(1, { error: 'expected at least 1' })
    .max(1000, { error: 'expected at most 1000' })
    .default(aws)
    .describe(`${what} the vault keeps in progress at once per Region (${quota}; raise it only with a raised quota).`);
}

/** The `limits` key of a kind. */
type CopyLimitKey = `${KindConfigKey}CopiesInProgress`;

/** One copies-in-progress limit per registered kind, each defaulting to AWS's quota for it. */
const copyLimits = Object.fromEntries(
  ALL_KINDS.map((kind) => [
    `${kind.configKey}CopiesInProgress`,
    copyLimit(kind.defaultCopyLimit, `${kind.label} copies`, `AWS allows ${kind.defaultCopyLimit} per Region`),
  ]),
) as { [K in CopyLimitKey]: ReturnType<typeof copyLimit> };

function defaultCopyLimits(): { [K in CopyLimitKey]: number } {
  return Object.fromEntries(ALL_KINDS.map((kind) => [`${kind.configKey}CopiesInProgress`, kind.defaultCopyLimit])) as {
    [K in CopyLimitKey]: number;
  };
}

/**
 * How the copies are kept from early deletion. Compliance by default: a
 * governance lock yields to any principal allowed `ec2:UnlockSnapshot` or
 * `s3:BypassGovernanceRetention`, and an administrator of the backup
 * account, the principal a ransomware or insider attack takes over, is
 * one. The cool-off is the price's remedy: a compliance lock on a new copy
 * can still be lifted for that long, after which nobody can shorten it.
 */
export const ImmutabilitySchema = z
  .object({
    mode: z
      .enum(['governance', 'compliance'], { error: 'expected "governance" or "compliance"' })
      .default('compliance')
      .describe(
        "Lock mode of EBS snapshot copies and of the vault bucket's Object Lock. compliance: nobody, root included, can shorten or lift a lock once its cool-off is over; governance: principals allowed to unlock may (the SCP from bunker scp denies that).",
      ),
    coolOffHours: z
      .number({ error: 'expected a whole number of hours' })
      .int({ error: 'expected a whole number of hours' })
      .min(0, { error: 'expected 0 hours or more' })
      .max(72, { error: 'expected at most 72 hours (the EBS snapshot lock maximum)' })
      .default(24)
      .describe(
        "Compliance mode: how long a new EBS copy's lock can still be lifted (0: none). Ignored in governance mode.",
      ),
    recycleBinDays: z
      .number({ error: 'expected a whole number of days' })
      .int({ error: 'expected a whole number of days' })
      .min(7, { error: 'expected at least 7 days' })
      .max(365, { error: 'expected at most 365 days (the Recycle Bin maximum)' })
      .default(7)
      .describe(
        "A deleted EBS copy or AMI copy stays this long in the backup account's Recycle Bin, from where it can be restored.",
      ),
    recycleBinUnlockDelayDays: z
      .number({ error: 'expected a whole number of days' })
      .int({ error: 'expected a whole number of days' })
      .min(7, { error: 'expected at least 7 days (the Recycle Bin minimum)' })
      .max(30, { error: 'expected at most 30 days (the Recycle Bin maximum)' })
      .default(7)
      .describe(
        'The Recycle Bin rules are locked: changing or deleting one takes effect only this many days after it is unlocked.',
      ),
  })
  .strict()
  .describe(
    'Backups nobody can delete early: EBS snapshot locks, AMI deregistration protection, Object Lock and Recycle Bin.',
  );
export type Immutability = z.infer<typeof ImmutabilitySchema>;

/** `alerts.trail`: Bunker deploys the trail its tampering alarms need, or one exists already. */
export const TRAIL_MODES = ['create', 'existing'] as const;

export const SourceSchema = z
  .object({
    account: AccountIdSchema,
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, {
        error: 'expected a short label of letters, digits, spaces, dots, dashes or underscores',
      })
      .optional()
      .describe('A label for people, shown by the CLI.'),
    regions: z
      .array(RegionSchema)
      .min(1, { error: 'expected at least one Region' })
      .refine((regions) => new Set(regions).size === regions.length, {
        error: 'expected each Region once',
      })
      .describe('Regions of this account to back up; the first one also holds the account-wide reader role.'),
  })
  .strict()
  .describe('A production account Bunker backs up.');
export type SourceConfig = z.infer<typeof SourceSchema>;

/** An organizational unit (`ou-…`) or the organization's root (`r-…`) whose accounts Bunker covers. */
export const OrganizationUnitSchema = z
  .object({
    id: z
      .string({ error: 'expected an organizational unit id ("ou-…") or the root id ("r-…")' })
      .regex(/^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$/, {
        error: 'expected an organizational unit id such as "ou-ab12-cd34ef56" or a root id such as "r-ab12"',
      })
      .describe('The unit; its child units are covered too, at any depth.'),
    regions: z
      .array(RegionSchema)
      .min(1, { error: 'expected at least one Region' })
      .refine((regions) => new Set(regions).size === regions.length, { error: 'expected each Region once' })
      .describe(
        'Regions the source stack is deployed to in every account of the unit; the first one also holds the account-wide reader and puller roles.',
      ),
  })
  .strict()
  .describe('An organizational unit whose accounts are backed up like listed sources, with the same kinds.');
export type OrganizationUnit = z.infer<typeof OrganizationUnitSchema>;

/**
 * Whole organizational units instead of (or besides) listed accounts: a
 * service-managed StackSet deploys the source stack to every account of
 * the units, and the vault's enrolment function gives each new account its
 * intake topic, so an account created in a unit is covered without editing
 * this file.
 */
export const OrganizationSchema = z
  .object({
    id: z
      .string({ error: 'expected the organization id ("o-…")' })
      .regex(/^o-[a-z0-9]{10,32}$/, { error: 'expected an organization id such as "o-a1b2c3d4e5"' })
      .describe(
        "The organization's id: the intake key admits Bunker's source agents of this organization only (aws:PrincipalOrgID).",
      ),
    managementAccount: AccountIdSchema.describe(
      "The account that deploys the StackSet and holds the org-reader role: the organization's management account or a delegated administrator for CloudFormation StackSets.",
    ),
    delegatedAdmin: z
      .boolean({ error: 'expected true or false' })
      .default(false)
      .describe(
        'managementAccount is a delegated administrator, not the management account: the StackSet is created with CallAs DELEGATED_ADMIN.',
      ),
    units: z
      .array(OrganizationUnitSchema)
      .min(1, { error: 'expected at least one organizational unit' })
      .refine((units) => new Set(units.map((unit) => unit.id)).size === units.length, {
        error: 'expected each organizational unit once',
      })
      .describe('The units covered; an account in two of them gets the Regions of both.'),
    stackSetName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, {
        error: 'expected a StackSet name of letters, digits and dashes, starting with a letter',
      })
      .optional()
      .describe('Name of the StackSet. Default: <name>-source.'),
  })
  .strict()
  .describe('Organizational units whose accounts Bunker covers, current and future, without listing them.');
export type OrganizationConfig = z.infer<typeof OrganizationSchema>;

/** The kinds a drill restores: every snapshot kind and every pulled kind, by config key. */
export const DRILL_KIND_KEYS = ARTIFACT_KINDS;

/** Restore time each kind's drill must meet by default, in minutes (a slower drill fails). */
export const DEFAULT_RESTORE_TARGET_MINUTES: Readonly<Record<ArtifactKind, number>> = {
  rds: 60,
  aurora: 90,
  ebs: 30,
  ami: 30,
  ssm: 10,
  secrets: 10,
  dynamodb: 60,
};

export const DrillsSchema = z
  .object({
    enabled: z
      .boolean({ error: 'expected true or false' })
      .default(true)
      .describe('Whether the vault runs scheduled restore drills of every enabled kind.'),
    schedule: z
      .string({ error: 'expected an EventBridge schedule expression' })
      .regex(/^(rate|cron)\(.+\)$/, { error: 'expected rate(...) or cron(...)' })
      .default('rate(7 days)')
      .describe('When scheduled drills run (EventBridge schedule expression).'),
    olderCopies: z
      .boolean({ error: 'expected true or false' })
      .default(true)
      .describe(
        'Scheduled drills also restore a random older copy within retention, besides the newest, so an old copy that no longer restores is found before it is needed.',
      ),
    maxAgeDays: z
      .number({ error: 'expected a number of days' })
      .int({ error: 'expected a whole number of days' })
      .min(1, { error: 'expected at least 1 day' })
      .max(365, { error: 'expected at most 365 days' })
      .default(30)
      .describe('Alarm when a kind or source account has gone longer than this without a successful drill.'),
    concurrency: z
      .number({ error: 'expected a whole number' })
      .int({ error: 'expected a whole number' })
      .min(1, { error: 'expected at least 1' })
      .max(20, { error: 'expected at most 20' })
      .default(2)
      .describe('Drills a scheduled run restores at once.'),
    maxPerRun: z
      .number({ error: 'expected a whole number' })
      .int({ error: 'expected a whole number' })
      .min(1, { error: 'expected at least 1' })
      .max(50, { error: 'expected at most 50' })
      .default(50)
      .describe(
        'Drills in one run at most, the resources drilled longest ago first, so successive runs go round every resource. A run is one state machine execution whose state is its plan (256 KB at most); each drill runs as a child execution of its distributed Map, with its own history.',
      ),
    restoreTargetMinutes: z
      .object(
        Object.fromEntries(
          DRILL_KIND_KEYS.map((key) => [
            key,
            z
              .number({ error: 'expected a number of minutes' })
              .positive({ error: 'expected more than 0 minutes' })
              // A drill polls until twice its target: past 1,079 minutes one drill's execution could
              // record more than 20,000 of its 25,000 history events (`maxTargetMinutes` in lib/constructs/drills.ts).
              .max(1079, {
                error: "expected at most 1079 minutes (18 hours): a longer drill could outgrow its execution's history",
              })
              .default(DEFAULT_RESTORE_TARGET_MINUTES[key])
              .describe(`Restore time a ${key} drill must meet, in minutes; a slower drill is a failed drill.`),
          ]),
        ) as Record<ArtifactKind, z.ZodDefault<z.ZodNumber>>,
      )
      .strict()
      .default(() => ({ ...DEFAULT_RESTORE_TARGET_MINUTES }))
      .describe('Restore-time target per kind.'),
  })
  .strict()
  .describe(
    'Restore drills: the newest copy (and a random older one) of each resource is restored in an isolated place in the backup account, validated, timed and torn down.',
  );

export const BunkerConfigSchema = z
  .object({
    $schema: z.string().optional(),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, {
        error: 'expected a lower-case name of at most 20 letters, digits or dashes, starting with a letter',
      })
      .default('bunker')
      .describe('Prefix of every resource name; lets two Bunker deployments share accounts.'),
    backup: z
      .object({
        account: AccountIdSchema,
        region: RegionSchema,
        secondRegion: RegionSchema.optional().describe(
          "Also copy every artifact into this Region of the backup account: a second hop of the vault's own copy, under a backup-data key of that Region (the stack bunker-vault-<region>), tracked in the inventory as a record of its own.",
        ),
      })
      .strict()
      .describe('The locked-down backup account and its home Region, where the vault stack lives.'),
    sources: z
      .array(SourceSchema)
      .min(1, { error: 'expected at least one source account' })
      .describe('The production accounts, each with its Regions.'),
    organization: OrganizationSchema.optional(),
    artifacts: z
      .object(artifactPolicies)
      .strict()
      .default(() => Object.fromEntries(ARTIFACT_KINDS.map((key) => [key, disabledPolicy(key)])) as ArtifactPolicies),
    alerts: z
      .object({
        emails: z.array(z.email({ error: 'expected an e-mail address' })).default([]),
        allowNoEmail: z
          .boolean({ error: 'expected true or false' })
          .default(false)
          .describe(
            'Deploy without an alert address: nobody is e-mailed when a backup is missing (subscribe to the alerts topic another way). Without it, the vault refuses to synthesize with no alerts.emails.',
          ),
        trail: z
          .enum(TRAIL_MODES, { error: 'expected "create" or "existing"' })
          .default('create')
          .describe(
            "Where the tampering alarms' CloudTrail events come from: EventBridge receives the backup account's API calls only while a trail logs its management events. " +
              '"create" (the default): the vault deploys a multi-Region trail of management events in the backup account, to a bucket of its own under Object Lock, encrypted with a key of its own, with log file validation. ' +
              '"existing": an organization trail (or another multi-Region trail with management events) already logs the backup account, so Bunker creates none; a second trail would only add a charged copy of the same events.',
          ),
      })
      .strict()
      .default({ emails: [], allowNoEmail: false, trail: 'create' })
      .describe('Who is told when a copy is missing, late or failed.'),
    immutability: ImmutabilitySchema.default(() => ImmutabilitySchema.parse({})),
    limits: z
      .object(copyLimits)
      .strict()
      .default(() => defaultCopyLimits())
      .describe(
        'Back-pressure limits: copies in progress per kind and destination Region. Work beyond them waits, it is never dropped. The defaults are the AWS quotas.',
      ),
    sourceAgent: z
      .object({
        intermediateRetentionHours: z
          .number({ error: 'expected a number of hours' })
          .int({ error: 'expected a whole number of hours' })
          .min(0, { error: 'expected 0 hours or more' })
          .max(24 * 35, { error: 'expected at most 840 hours' })
          .default(1)
          .describe(
            "How long the source agent keeps a re-keyed intermediate after the vault's receipt says the backup account holds its copy.",
          ),
        intermediateHorizonHours: z
          .number({ error: 'expected a number of hours' })
          .int({ error: 'expected a whole number of hours' })
          .min(24, { error: 'expected at least 24 hours' })
          .max(24 * 35, { error: 'expected at most 840 hours' })
          .default(24 * 14)
          .describe(
            'The hard horizon: an intermediate with no receipt is deleted this long after it was made, with an alarm, and production snapshots older than this are no longer picked up.',
          ),
        maxIntermediateSnapshots: z
          .number({ error: 'expected a whole number' })
          .int({ error: 'expected a whole number' })
          .min(1, { error: 'expected at least 1' })
          .max(90, { error: 'expected at most 90 (RDS allows 100 manual snapshots per Region)' })
          .default(20)
          .describe(
            "At most this many intermediates per account, Region and kind awaiting the vault's receipt; beyond it the agent waits, and a receipt starts the next.",
          ),
      })
      .strict()
      .default({ intermediateRetentionHours: 1, intermediateHorizonHours: 24 * 14, maxIntermediateSnapshots: 20 })
      .describe('Behaviour of the source agent in each production account and Region.'),
    drills: DrillsSchema.default(() => DrillsSchema.parse({})),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const kind of PULLED_KINDS) {
      const policy = config.artifacts[kind];
      if (!policy.enabled) continue;
      const every = policy.pullEveryMinutes ?? defaultPullEveryMinutes(kind, policy.rpoHours);
      if (every > policy.rpoHours * 60) {
        ctx.addIssue({
          code: 'custom',
          path: ['artifacts', kind, policy.pullEveryMinutes === undefined ? 'rpoHours' : 'pullEveryMinutes'],
          message: `expected a pull at least once per rpoHours (${policy.rpoHours * 60} minutes), but ${kind} is pulled every ${every} minutes`,
        });
      }
    }
    if (config.backup.secondRegion === config.backup.region) {
      ctx.addIssue({
        code: 'custom',
        path: ['backup', 'secondRegion'],
        message: 'expected a Region other than backup.region: the second hop copies into another Region',
      });
    }
    const seen = new Set<string>();
    config.sources.forEach((source, index) => {
      if (source.account === config.backup.account) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', index, 'account'],
          message: 'expected an account other than the backup account: the backup account cannot be its own source',
        });
      }
      if (seen.has(source.account)) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', index, 'account'],
          message: `expected each source account once; ${source.account} is listed again`,
        });
      }
      seen.add(source.account);
    });
    const organization = config.organization;
    const roles = organization?.units[0].regions[0];
    organization?.units.forEach((unit, index) => {
      if (roles && !unit.regions.includes(roles)) {
        ctx.addIssue({
          code: 'custom',
          path: ['organization', 'units', index, 'regions'],
          message: `expected ${roles} among the Regions: the first unit's first Region holds every enrolled account's account-wide roles (IAM is global, and one StackSet template serves every unit)`,
        });
      }
    });
    if (organization?.managementAccount === config.backup.account) {
      ctx.addIssue({
        code: 'custom',
        path: ['organization', 'managementAccount'],
        message:
          'expected an account other than the backup account: the account that deploys the StackSet can change every source account',
      });
    }
  });

/** A validated configuration, defaults applied. */
export type BunkerConfig = z.infer<typeof BunkerConfigSchema>;
/**
 * Settings a configuration enables that Bunker does not act on yet, or
 * only in part, each with its key path: `config validate` says so, so
 * nobody relies on them.
 */
export function inactiveSettings(config: BunkerConfig): string[] {
  const notes: string[] = [];
  for (const key of ['rds', 'aurora'] as const) {
    if (!config.artifacts[key].enabled) continue;
    // rpoHours (the auditor) and retentionDays (the pruner) are acted on; a lock is not: RDS has none.
    notes.push(
      `immutability.mode (${config.immutability.mode}) for artifacts.${key}: RDS and Aurora copies have no lock of their own; attach the service control policy of \`bunker scp\` to the backup account`,
    );
  }
  return notes;
}

/**
 * What `config validate` says of `organization`, one line; undefined
 * without one. The StackSet's default name is `<name>-source`.
 */
export function describeOrganization(config: BunkerConfig): string | undefined {
  const organization = config.organization;
  if (!organization) return undefined;
  const units = organization.units.map((unit) => `${unit.id} (${unit.regions.join(', ')})`).join(', ');
  const admin = organization.delegatedAdmin ? 'delegated administrator' : 'management account';
  return (
    `organization ${organization.id}: StackSet ${organization.stackSetName ?? `${config.name}-source`} from ${admin} ` +
    `${organization.managementAccount} to ${organization.units.length} unit(s) and their child units: ${units}; ` +
    `account-wide roles in ${organization.units[0].regions[0]}; the vault enrols their accounts every hour.`
  );
}

/**
 * Why the vault would refuse to synthesize for want of an alert address, or
 * undefined: one text for the synth (`requireAlertAddress`) and `config
 * validate`, so an operator hears it before a deployment, not during one.
 */
export function alertAddressProblem(config: BunkerConfig): string | undefined {
  if (config.alerts.emails.length > 0 || config.alerts.allowNoEmail) return undefined;
  return 'alerts.emails: expected at least one e-mail address to tell when a backup is missing, late or failed; or set "alerts": { "allowNoEmail": true } to deploy with nobody e-mailed';
}

/**
 * What `config validate` says about the trail the tampering alarms rely on:
 * with `existing`, Bunker creates none, and the alarms are only as good as
 * the trail the operator vouches for.
 */
export function trailNote(config: BunkerConfig): string {
  const regions = [config.backup.region, ...(config.backup.secondRegion ? [config.backup.secondRegion] : [])];
  if (config.alerts.trail === 'create') {
    return `alerts.trail: the vault deploys the CloudTrail trail ${config.name}-tamper (multi-Region, management events) that the tampering alarms read.`;
  }
  return (
    `alerts.trail is "existing": Bunker creates no CloudTrail trail. The tampering alarms fire only while a trail logs ` +
    `the management events of account ${config.backup.account} in ${regions.join(' and ')} (an organization trail, say); ` +
    `check with \`aws cloudtrail describe-trails --include-shadow-trails\` and \`aws cloudtrail get-trail-status\` in that account.`
  );
}

/** What an operator may write: defaults not yet applied. */
export type BunkerConfigInput = z.input<typeof BunkerConfigSchema>;

/** The JSON Schema for editors, generated from the zod schema so the two never disagree. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(BunkerConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    title: 'Bunker configuration',
    description: 'bunker.config.json: the accounts, Regions and artifact policies of one Bunker deployment.',
  };
}
