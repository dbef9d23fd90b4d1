/**
 * What the enrolment function needs, passed as environment variables by the
 * vault stack and validated once at cold start.
 */
import * as z from 'zod/mini';
import '../zod-messages';
import { Json, parseEnv } from '../settings';

const AccountId = z.string().check(z.regex(/^\d{12}$/));

export const EnrolmentUnitSchema = z.object({
  id: z.string().check(z.regex(/^(ou-[0-9a-z]+-[0-9a-z]+|r-[0-9a-z]+)$/)),
  regions: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
});
export type EnrolmentUnit = z.infer<typeof EnrolmentUnitSchema>;

export interface EnrolmentSettings {
  readonly prefix: string;
  readonly partition: string;
  readonly backupAccount: string;
  readonly backupRegion: string;
  readonly inventoryTable: string;
  /** Where the org-reader role is. */
  readonly managementAccount: string;
  readonly units: readonly EnrolmentUnit[];
  /** Accounts the configuration lists: their topics are the vault stack's, never enrolled. */
  readonly listedAccounts: readonly string[];
  /** The intake topics' key, queue and dead-letter queue: the same as the listed accounts' topics use. */
  readonly intakeKeyArn: string;
  readonly intakeQueueArn: string;
  readonly deadLetterQueueArn: string;
}

const EnrolmentEnvSchema = z.object({
  BUNKER_PREFIX: z.string().check(z.minLength(1)),
  BUNKER_PARTITION: z.enum(['aws', 'aws-cn', 'aws-us-gov']),
  BUNKER_BACKUP_ACCOUNT: AccountId,
  BUNKER_BACKUP_REGION: z.string().check(z.minLength(1)),
  BUNKER_INVENTORY_TABLE: z.string().check(z.minLength(1)),
  BUNKER_MANAGEMENT_ACCOUNT: AccountId,
  BUNKER_UNITS: Json(z.array(EnrolmentUnitSchema).check(z.minLength(1))),
  BUNKER_LISTED_ACCOUNTS: z.pipe(
    z.string(),
    z.transform((text: string) => text.split(',').filter((account) => account !== '')),
  ),
  BUNKER_INTAKE_KEY_ARN: z.string().check(z.startsWith('arn:')),
  BUNKER_INTAKE_QUEUE_ARN: z.string().check(z.startsWith('arn:')),
  BUNKER_DEAD_LETTER_QUEUE_ARN: z.string().check(z.startsWith('arn:')),
});

export function enrolmentSettingsFromEnv(env: Record<string, string | undefined> = process.env): EnrolmentSettings {
  const e = parseEnv(EnrolmentEnvSchema, env, 'enrolment');
  return {
    prefix: e.BUNKER_PREFIX,
    partition: e.BUNKER_PARTITION,
    backupAccount: e.BUNKER_BACKUP_ACCOUNT,
    backupRegion: e.BUNKER_BACKUP_REGION,
    inventoryTable: e.BUNKER_INVENTORY_TABLE,
    managementAccount: e.BUNKER_MANAGEMENT_ACCOUNT,
    units: e.BUNKER_UNITS,
    listedAccounts: e.BUNKER_LISTED_ACCOUNTS,
    intakeKeyArn: e.BUNKER_INTAKE_KEY_ARN,
    intakeQueueArn: e.BUNKER_INTAKE_QUEUE_ARN,
    deadLetterQueueArn: e.BUNKER_DEAD_LETTER_QUEUE_ARN,
  };
}

export function enrolmentSettingsToEnv(s: EnrolmentSettings): Record<string, string> {
  return {
    BUNKER_PREFIX: s.prefix,
    BUNKER_PARTITION: s.partition,
    BUNKER_BACKUP_ACCOUNT: s.backupAccount,
    BUNKER_BACKUP_REGION: s.backupRegion,
    BUNKER_INVENTORY_TABLE: s.inventoryTable,
    BUNKER_MANAGEMENT_ACCOUNT: s.managementAccount,
    BUNKER_UNITS: JSON.stringify(s.units),
    BUNKER_LISTED_ACCOUNTS: s.listedAccounts.join(','),
    BUNKER_INTAKE_KEY_ARN: s.intakeKeyArn,
    BUNKER_INTAKE_QUEUE_ARN: s.intakeQueueArn,
    BUNKER_DEAD_LETTER_QUEUE_ARN: s.deadLetterQueueArn,
  };
}
