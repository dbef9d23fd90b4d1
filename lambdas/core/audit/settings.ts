/**
 * What the audit function needs, from its environment: the audit settings
 * (sources, enabled kinds with their RPO and scope) and where the inventory
 * and the alerts topic are.
 */
import * as z from 'zod/mini';
import '../zod-messages';
import { SettingsError } from '../errors';
import { type AuditSettings, AuditSettingsSchema } from './types';

export interface AuditHandlerSettings {
  readonly audit: AuditSettings;
  readonly partition: string;
  readonly backupRegion: string;
  readonly inventoryTable: string;
  /** The inventory's index by `pullScope` (pulled records of one run). */
  readonly pullScopeIndex: string;
  /** The inventory's index by `status`. */
  readonly statusIndex: string;
  readonly alertsTopicArn: string;
}

const EnvSchema = z.lazy(() =>
  z.object({
    BUNKER_AUDIT: z.pipe(
      z.string(),
      z.transform((text: string, ctx) => {
        try {
          return AuditSettingsSchema.parse(JSON.parse(text));
        } catch (error) {
          ctx.issues.push({
            code: 'custom',
            message: `expected audit settings as JSON: ${(error as Error).message}`,
            input: text,
          });
          return z.NEVER;
        }
      }),
    ),
    BUNKER_PARTITION: z.enum(['aws', 'aws-cn', 'aws-us-gov']),
    BUNKER_BACKUP_REGION: z.string().check(z.minLength(1)),
    BUNKER_INVENTORY_TABLE: z.string().check(z.minLength(1)),
    BUNKER_PULL_SCOPE_INDEX: z.string().check(z.minLength(1)),
    BUNKER_STATUS_INDEX: z.string().check(z.minLength(1)),
    BUNKER_ALERTS_TOPIC_ARN: z.string().check(z.startsWith('arn:')),
  }),
);

export function auditSettingsFromEnv(env: Record<string, string | undefined> = process.env): AuditHandlerSettings {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(`invalid audit settings: ${problems.join('; ')}`);
  }
  const e = result.data;
  return {
    audit: e.BUNKER_AUDIT,
    partition: e.BUNKER_PARTITION,
    backupRegion: e.BUNKER_BACKUP_REGION,
    inventoryTable: e.BUNKER_INVENTORY_TABLE,
    pullScopeIndex: e.BUNKER_PULL_SCOPE_INDEX,
    statusIndex: e.BUNKER_STATUS_INDEX,
    alertsTopicArn: e.BUNKER_ALERTS_TOPIC_ARN,
  };
}

export function auditSettingsToEnv(s: AuditHandlerSettings): Record<string, string> {
  return {
    BUNKER_AUDIT: JSON.stringify(s.audit),
    BUNKER_PARTITION: s.partition,
    BUNKER_BACKUP_REGION: s.backupRegion,
    BUNKER_INVENTORY_TABLE: s.inventoryTable,
    BUNKER_PULL_SCOPE_INDEX: s.pullScopeIndex,
    BUNKER_STATUS_INDEX: s.statusIndex,
    BUNKER_ALERTS_TOPIC_ARN: s.alertsTopicArn,
  };
}
