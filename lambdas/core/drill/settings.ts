/**
 * The drill handler's runtime settings: where drills restore (the isolated
 * place the vault stack builds), what they are judged against, and where
 * results and alerts go. Built from the config by `drillSettings` in
 * `lib/config/runtime.ts`, passed as environment variables.
 */
import * as z from 'zod/mini';
import '../zod-messages';
import { Json, parseEnv } from '../settings';
import type { DrillKind } from './types';

const NonEmpty = z.string().check(z.minLength(1));
const Arn = z.string().check(z.startsWith('arn:'));

/**
 * The isolated place in the backup account a drill restores into: a VPC
 * with no route out (no internet or NAT gateway), the security groups of
 * what is restored in it, the subnet groups RDS needs, and the probe that
 * asks a restored database's engine for its greeting.
 */
export const DrillPlaceSchema = z.object({
  vpcId: NonEmpty,
  subnetIds: z.array(NonEmpty).check(z.minLength(1)),
  /**
   * The restored databases' group: sends nothing, and admits only the
   * probe's group on the engines' default ports (`DRILL_ENGINE_PORTS`).
   */
  securityGroupId: NonEmpty,
  /** RDS DB subnet group over the isolated subnets (RDS DB instances and Aurora clusters). */
  dbSubnetGroup: NonEmpty,
  /**
   * The restored AMI instances' group: admits nothing and sends nothing.
   * Absent in a place made before the probe, which had one group for all;
   * the AMI drill then uses `securityGroupId` and its isolation check fails
   * if that group admits anything.
   */
  instanceSecurityGroupId: z.optional(NonEmpty),
  /**
   * The probe function in the drill network (AWS). Absent in the local mode,
   * which probes in-process over TCP.
   */
  probeFunction: z.optional(NonEmpty),
});
export type DrillPlace = z.infer<typeof DrillPlaceSchema>;

export interface DrillSettings {
  readonly prefix: string;
  readonly partition: string;
  readonly backupAccount: string;
  readonly backupRegion: string;
  /**
   * The backup account's second Region (`backup.secondRegion`): its
   * second-hop copies are drilled there, in the place the Region's stack
   * builds with the same names as the vault Region's, under that Region's
   * backup-data key (same alias), both found by name when first needed.
   */
  readonly secondRegion?: string;
  readonly inventoryTable: string;
  readonly backupKeyArn: string;
  /** The vault bucket of pulled kinds (SSM, secrets, DynamoDB dumps). */
  readonly vaultBucket: string;
  readonly place: DrillPlace;
  /** Restore-time target per kind, in seconds. */
  readonly targetSeconds: Readonly<Record<DrillKind, number>>;
  /** Scheduled drills also restore a random older copy within retention. */
  readonly olderCopies: boolean;
  /** A kind or source account with no passed drill for longer than this is stale (alarmed). */
  readonly maxAgeDays: number;
  /** The kinds the configuration enables. */
  readonly kinds: readonly DrillKind[];
  /** At most this many drills in one run's plan (`drills.maxPerRun`), stalest first; unset: no cap. */
  readonly maxPerRun?: number;
  /** Where a failed or stale drill is announced. */
  readonly alertsTopicArn: string;
}

const DRILL_KINDS = ['rds', 'aurora', 'ebs', 'ami', 'ssm', 'secrets', 'dynamodb'] as const;

const DrillEnvSchema = z.object({
  BUNKER_PREFIX: NonEmpty,
  BUNKER_PARTITION: z.enum(['aws', 'aws-cn', 'aws-us-gov']),
  BUNKER_BACKUP_ACCOUNT: z.string().check(z.regex(/^\d{12}$/)),
  BUNKER_BACKUP_REGION: NonEmpty,
  BUNKER_SECOND_REGION: z.optional(NonEmpty),
  BUNKER_INVENTORY_TABLE: NonEmpty,
  BUNKER_BACKUP_KEY_ARN: Arn,
  BUNKER_VAULT_BUCKET: NonEmpty,
  BUNKER_DRILL_PLACE: Json(DrillPlaceSchema),
  BUNKER_DRILL_TARGET_SECONDS: Json(z.record(z.enum(DRILL_KINDS), z.number().check(z.positive()))),
  BUNKER_DRILL_OLDER_COPIES: z.enum(['true', 'false']),
  BUNKER_DRILL_MAX_AGE_DAYS: z.pipe(z.string(), z.transform(Number)),
  BUNKER_DRILL_KINDS: Json(z.array(z.enum(DRILL_KINDS))),
  BUNKER_ALERTS_TOPIC_ARN: Arn,
  BUNKER_DRILL_MAX_PER_RUN: z.optional(z.pipe(z.string(), z.transform(Number))),
});

export function drillSettingsFromEnv(env: Record<string, string | undefined> = process.env): DrillSettings {
  const e = parseEnv(DrillEnvSchema, env, 'drill');
  return {
    prefix: e.BUNKER_PREFIX,
    partition: e.BUNKER_PARTITION,
    backupAccount: e.BUNKER_BACKUP_ACCOUNT,
    backupRegion: e.BUNKER_BACKUP_REGION,
    ...(e.BUNKER_SECOND_REGION ? { secondRegion: e.BUNKER_SECOND_REGION } : {}),
    inventoryTable: e.BUNKER_INVENTORY_TABLE,
    backupKeyArn: e.BUNKER_BACKUP_KEY_ARN,
    vaultBucket: e.BUNKER_VAULT_BUCKET,
    place: e.BUNKER_DRILL_PLACE,
    targetSeconds: e.BUNKER_DRILL_TARGET_SECONDS,
    olderCopies: e.BUNKER_DRILL_OLDER_COPIES === 'true',
    maxAgeDays: e.BUNKER_DRILL_MAX_AGE_DAYS,
    kinds: e.BUNKER_DRILL_KINDS,
    alertsTopicArn: e.BUNKER_ALERTS_TOPIC_ARN,
    ...(e.BUNKER_DRILL_MAX_PER_RUN !== undefined ? { maxPerRun: e.BUNKER_DRILL_MAX_PER_RUN } : {}),
  };
}

export function drillSettingsToEnv(s: DrillSettings): Record<string, string> {
  return {
    BUNKER_PREFIX: s.prefix,
    BUNKER_PARTITION: s.partition,
    BUNKER_BACKUP_ACCOUNT: s.backupAccount,
    BUNKER_BACKUP_REGION: s.backupRegion,
    ...(s.secondRegion ? { BUNKER_SECOND_REGION: s.secondRegion } : {}),
    BUNKER_INVENTORY_TABLE: s.inventoryTable,
    BUNKER_BACKUP_KEY_ARN: s.backupKeyArn,
    BUNKER_VAULT_BUCKET: s.vaultBucket,
    BUNKER_DRILL_PLACE: JSON.stringify(s.place),
    BUNKER_DRILL_TARGET_SECONDS: JSON.stringify(s.targetSeconds),
    BUNKER_DRILL_OLDER_COPIES: String(s.olderCopies),
    BUNKER_DRILL_MAX_AGE_DAYS: String(s.maxAgeDays),
    BUNKER_DRILL_KINDS: JSON.stringify(s.kinds),
    BUNKER_ALERTS_TOPIC_ARN: s.alertsTopicArn,
    ...(s.maxPerRun !== undefined ? { BUNKER_DRILL_MAX_PER_RUN: String(s.maxPerRun) } : {}),
  };
}
