/**
 * The one schema of `bunker.config.json`, shared by the CDK app, the CLI and
 * the local mode. Every message says what was expected so that, together
 * with the key path added by {@link formatConfigIssues}, an operator can fix
 * the file without reading this code.
 */
import { z } from 'zod';
import { ALL_KINDS } from '../../lambdas/kinds/registry';
import type { KindConfigKey } from '../../lambdas/kinds/types';

/** The pulled kinds, configured already, not acted on yet. */
const PULLED_KINDS = ['ssm', 'secrets', 'dynamodb'] as const;
const PULLED_DESCRIPTIONS: Record<(typeof PULLED_KINDS)[number], string> = {
  ssm: 'SSM parameters. Not acted on yet: nothing is pulled.',
  secrets: 'Secrets Manager secrets. Not acted on yet: nothing is pulled.',
  dynamodb: 'DynamoDB tables. Not acted on yet: nothing is pulled.',
};

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
        'Recovery point objective: the newest copy may be at most this old, in hours. Not acted on yet: no alarm fires on a late or missing copy.',
      ),
    retentionDays: z
      .number({ error: 'expected a whole number of days' })
      .int({ error: 'expected a whole number of days' })
      .min(1, { error: 'expected at least 1 day' })
      .max(3650, { error: 'expected at most 3650 days' })
      .default(35)
      .describe('How long backup copies are kept, in days. Not acted on yet: copies are never expired.'),
  })
  .strict()
  .describe('Policy of one artifact kind.');
export type ArtifactPolicy = z.infer<typeof ArtifactPolicySchema>;

const disabled = (): ArtifactPolicy => ArtifactPolicySchema.parse({});

type ArtifactPolicies = { [K in ArtifactKind]: ArtifactPolicy };

/** One policy per kind, disabled by default; a snapshot kind's key comes from the kind registry. */
const artifactPolicies = Object.fromEntries(
  ARTIFACT_KINDS.map((key) => {
    const policy = ArtifactPolicySchema.default(disabled);
    const pulled = PULLED_DESCRIPTIONS[key as (typeof PULLED_KINDS)[number]];
    return [key, pulled ? policy.describe(pulled) : policy];
  }),
) as { [K in ArtifactKind]: ReturnType<typeof ArtifactPolicySchema.default> };

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
    artifacts: z
      .object(artifactPolicies)
      .strict()
      .default(() => Object.fromEntries(ARTIFACT_KINDS.map((key) => [key, disabled()])) as ArtifactPolicies),
    alerts: z
      .object({
        emails: z.array(z.email({ error: 'expected an e-mail address' })).default([]),
      })
      .strict()
      .default({ emails: [] })
      .describe('Who is told when a copy is missing, late or failed.'),
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
          .describe('At most this many intermediates per account, Region and kind; beyond it the agent waits.'),
      })
      .strict()
      .default({ intermediateRetentionHours: 1, intermediateHorizonHours: 24 * 14, maxIntermediateSnapshots: 20 })
      .describe('Behaviour of the source agent in each production account and Region.'),
  })
  .strict()
  .superRefine((config, ctx) => {
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
  });

/** A validated configuration, defaults applied. */
export type BunkerConfig = z.infer<typeof BunkerConfigSchema>;
/**
 * Settings a configuration enables that Bunker does not act on yet, each
 * with its key path: `config validate` says so, so nobody relies on them.
 */
export function inactiveSettings(config: BunkerConfig): string[] {
  const notes: string[] = [];
  for (const [key, policy] of Object.entries(config.artifacts)) {
    if (!policy.enabled) continue;
    if (key === 'ssm' || key === 'secrets' || key === 'dynamodb') {
      notes.push(`artifacts.${key}: not acted on yet; nothing is pulled`);
      continue;
    }
    notes.push(`artifacts.${key}.rpoHours (${policy.rpoHours}): not acted on yet; no alarm fires on a late copy`);
    notes.push(`artifacts.${key}.retentionDays (${policy.retentionDays}): not acted on yet; copies are never expired`);
  }
  return notes;
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
