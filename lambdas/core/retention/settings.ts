/**
 * The pruner's settings beside the vault's: each enabled kind's retention
 * and, when a pulled kind is enabled, the vault bucket. The CDK stack and
 * the local mode build them from `bunker.config.json`; the handler reads
 * them once, at cold start.
 */
import * as z from 'zod/mini';
import '../zod-messages';
import { KIND_NAMES } from '../../kinds/types';
import { SettingsError } from '../errors';
import type { RetentionPolicies } from './prune';

const PolicySchema = z.lazy(() =>
  z.object({
    retentionDays: z.int().check(z.minimum(1)),
    minCopies: z.int().check(z.minimum(1)),
  }),
);

const RetentionSchema = z.lazy(() =>
  z.object({
    copies: z.partialRecord(z.enum(KIND_NAMES), PolicySchema),
    values: z.partialRecord(z.enum(['ssm', 'secrets']), PolicySchema),
    tables: z.optional(PolicySchema),
    vaultBucket: z.optional(z.string().check(z.minLength(3))),
  }),
);

export interface RetentionSettings {
  readonly policies: RetentionPolicies;
  /** The vault bucket, when a pulled kind is enabled. */
  readonly vaultBucket?: string;
}

const ENV = 'BUNKER_RETENTION';

export function retentionSettingsToEnv(settings: RetentionSettings): Record<string, string> {
  return {
    [ENV]: JSON.stringify({
      copies: settings.policies.copies,
      values: settings.policies.values,
      ...(settings.policies.tables ? { tables: settings.policies.tables } : {}),
      ...(settings.vaultBucket ? { vaultBucket: settings.vaultBucket } : {}),
    }),
  };
}

export function retentionSettingsFromEnv(env: Record<string, string | undefined> = process.env): RetentionSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(env[ENV] ?? '');
  } catch {
    throw new SettingsError(`invalid retention settings: ${ENV}: expected JSON`);
  }
  const result = RetentionSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(`invalid retention settings: ${problems.join('; ')}`);
  }
  const { copies, values, tables, vaultBucket } = result.data;
  return { policies: { copies, values, ...(tables ? { tables } : {}) }, ...(vaultBucket ? { vaultBucket } : {}) };
}
